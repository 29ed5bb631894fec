package gpu

import (
	"fmt"
	"strconv"
	"strings"

	"gwd/agent"
	"gwd/sflow"
)

// PassthroughSourceName is the source name of the pollers that put GPUs
// passed through to a VM on that VM's data source.
const PassthroughSourceName = "nvml-passthrough"

// DeviceOwners is how the source learns which GPUs are passed through to
// a virtual machine: *agent.Agent implements it (the VM module calls
// agent.SetDeviceOwner with the GPU's PCI address). A registrar without it
// has no passthrough: every GPU is the host's.
type DeviceOwners interface {
	DeviceOwner(pci string) (agent.DataSource, bool)
}

// normalizePCI writes a PCI bus id as 0000:bb:dd.f in lower case, the form
// of agent.SetDeviceOwner's keys: NVML's "00000000:3B:00.0" becomes
// "0000:3b:00.0". It returns "" for something that is not a bus id.
func normalizePCI(id string) string {
	id = strings.TrimSpace(id)
	parts := strings.Split(id, ":")
	if len(parts) == 2 { // bb:dd.f, domain 0
		parts = append([]string{"0"}, parts...)
	}
	if len(parts) != 3 {
		return ""
	}
	slot, fn, ok := strings.Cut(parts[2], ".")
	if !ok {
		return ""
	}
	var v [4]uint64
	limits := [4]uint64{0xffff, 0xff, 0x1f, 0x7}
	for i, s := range []string{parts[0], parts[1], slot, fn} {
		n, err := strconv.ParseUint(s, 16, 32)
		if err != nil || n > limits[i] {
			return ""
		}
		v[i] = n
	}
	return fmt.Sprintf("%04x:%02x:%02x.%x", v[0], v[1], v[2], v[3])
}

// assignOwners looks up the owner of every GPU (each sample, so that a VM
// that starts or stops moves its GPU within a second) and keeps one poller
// on each owner's data source: a GPU with an owner leaves the host's
// aggregate and counts on its VM's sample instead.
func (s *Source) assignOwners(reg agent.Registrar) {
	if s.owners == nil {
		return
	}
	want := map[agent.DataSource]bool{}
	s.mu.Lock()
	for _, g := range s.gpus {
		var o agent.DataSource
		if g.pci != "" {
			o, _ = s.owners.DeviceOwner(g.pci)
		}
		if o != g.owner {
			if o == (agent.DataSource{}) {
				s.log.Info("GPU back to the host", "index", g.index, "uuid", g.uuid, "pci", g.pci, "was", g.owner.String())
			} else {
				s.log.Info("GPU passed through", "index", g.index, "uuid", g.uuid, "pci", g.pci, "data_source", o.String())
			}
			g.owner = o
		}
		if o != (agent.DataSource{}) {
			want[o] = true
		}
	}
	s.mu.Unlock()
	for ds := range s.passthrough {
		if !want[ds] {
			reg.Unregister(PassthroughSourceName, ds)
			delete(s.passthrough, ds)
		}
	}
	for ds := range want {
		if !s.passthrough[ds] {
			reg.Register(PassthroughSourceName, ds, &ownerPoller{s: s, ds: ds})
			s.passthrough[ds] = true
		}
	}
}

// ownerPoller is the poller of a VM's data source with passed-through
// GPUs: one 5703:1 over them (device_count: how many).
type ownerPoller struct {
	s   *Source
	ds  agent.DataSource
	rec sflow.NVIDIAGPU
}

func (p *ownerPoller) Poll(recs []sflow.Record) ([]sflow.Record, error) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	p.rec = sflow.NVIDIAGPU{}
	n := 0
	for _, g := range p.s.gpus {
		if g.owner != p.ds {
			continue
		}
		n++
		p.rec.GPUTime += g.acc.gpuTime
		p.rec.MemTime += g.acc.memTime
		p.rec.Energy += g.acc.energy
		p.rec.ECCErrors += g.acc.ecc
		g.addGauges(&p.rec)
	}
	if n == 0 {
		return recs, nil
	}
	return append(recs, &p.rec), nil
}

//go:build cgo

package gpu

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"gwd/agent"
	"gwd/internal/testutil/fakeagent"
)

// ownersReg is the fake registrar plus device owners, as the VM module
// sets them on the real agent.
type ownersReg struct {
	*fakeagent.Registrar
	mu     sync.Mutex
	owners map[string]agent.DataSource
}

func (r *ownersReg) DeviceOwner(pci string) (agent.DataSource, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ds, ok := r.owners[pci]
	return ds, ok
}

func (r *ownersReg) set(pci string, ds agent.DataSource) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ds == (agent.DataSource{}) {
		delete(r.owners, pci)
		return
	}
	r.owners[pci] = ds
}

func TestNormalizePCI(t *testing.T) {
	for in, want := range map[string]string{
		"00000000:3B:00.0": "0000:3b:00.0",
		"0000:af:1f.7":     "0000:af:1f.7",
		"3b:00.1":          "0000:3b:00.1",
		"00000001:07:00.0": "0001:07:00.0",
		"0000:3b:00":       "",
		"0000:3b:20.0":     "",
		"":                 "",
		"zz:00.0":          "",
	} {
		if got := normalizePCI(in); got != want {
			t.Errorf("normalizePCI(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPassthroughOwner: a GPU whose PCI address (NVML's upper-case,
// 8-digit-domain form) is owned by a VM leaves the host aggregate and
// shows on the VM's data source; when the owner goes it comes back.
func TestPassthroughOwner(t *testing.T) {
	b := newBox(dgxSims()...)
	for _, d := range b.devs {
		busID := strings.ToUpper("0000" + d.PciBusID) // 00000000:07:00.0
		d.GetPciInfoFunc = func() (nvml.PciInfo, nvml.Return) {
			var p nvml.PciInfo
			for i, c := range busID {
				p.BusId[i] = int8(c)
			}
			return p, nvml.SUCCESS
		}
	}
	vm := agent.DataSource{Type: 3, Index: 123456}
	fr := fakeagent.New()
	fr.Check = func(source string, ds agent.DataSource) string {
		if ds.Type == 3 && source != PassthroughSourceName || ds == agent.HostSource && source != SourceName {
			return fmt.Sprintf("%v registered as %s", ds, source)
		}
		return ""
	}
	reg := &ownersReg{Registrar: fr, owners: map[string]agent.DataSource{}}
	pci := normalizePCI(b.devs[2].PciBusID)
	reg.set(pci, vm) // the VM module announced GPU 2 before NVML started

	s := newWith(fromNVML(b), Config{}, nil)
	c := newClock()
	if err := s.open(reg, c.t); err != nil {
		t.Fatal(err)
	}
	tick := func() { s.assignOwners(reg); s.sample(c.tick(time.Second)) }
	tick()
	h, _ := host(t, reg.Registrar)
	v, _ := poll(t, reg.Registrar, vm)
	if v == nil {
		t.Fatalf("no 5703:1 on the VM's %v; sources %v", vm, reg.Sources())
	}
	if h.DeviceCount != 7 || v.DeviceCount != 1 {
		t.Errorf("device_count host %d, VM %d: want 7 and 1", h.DeviceCount, v.DeviceCount)
	}
	// GPU 2 runs at 20 %, 3 GiB free, 42 C: the VM's; the others the host's.
	if v.GPUTime != 200 || v.MemFree != 3*gib || v.Temperature != 34 {
		t.Errorf("VM's GPU record %+v", v)
	}
	if h.GPUTime != (0+10+30+40+50+60+70)*10 || h.MemFree != (1+2+4+5+6+7+8)*gib {
		t.Errorf("host aggregate %+v includes the passed-through GPU", h)
	}

	// The VM stops: GPU 2 is the host's again, the VM's poller goes.
	reg.set(pci, agent.DataSource{})
	tick()
	for _, ds := range reg.Sources() {
		if ds == vm {
			t.Errorf("VM's data source %v still registered", vm)
		}
	}
	h2, _ := host(t, reg.Registrar)
	if h2.DeviceCount != 8 {
		t.Errorf("host device_count %d after the VM stopped, want 8", h2.DeviceCount)
	}
	if h2.GPUTime < h.GPUTime {
		t.Errorf("host gpu_time went backwards: %d after %d", h2.GPUTime, h.GPUTime)
	}
	s.close(reg)
	if got := reg.Sources(); len(got) != 0 {
		t.Errorf("sources after close: %v", got)
	}
}

package kvm

import (
	"context"
	"net"
	"os"
	"strings"

	"gwd/agent"
	"gwd/ovs"
	"gwd/sflow"
)

// portMap maps the kernel ifIndex of a VM's host-side port (a tap such as
// vnet0, or an OVS port named in external_ids) to the VM's data-source
// index. It is replaced whole on every refresh and read without a lock by
// the enricher.
type portMap map[uint32]uint32

// ovsPort is one OVS Interface row (see ovs.InterfaceIDs).
type ovsPort = ovs.InterfaceIDs

// The external_ids keys that name a port's VM: Nutanix AHV and OpenStack
// (os-vif, nova) set them on the OVS Interface of a VM's vif.
const (
	extVMUUID      = "vm-uuid"
	extVMID        = "vm-id"
	extIfaceID     = "iface-id"
	extAttachedMAC = "attached-mac"
)

// readOVSPorts reads the Interface table of the OVSDB server at ep; a unix
// socket that does not exist means no OVS, and no error.
func readOVSPorts(ctx context.Context, ep string) ([]ovsPort, error) {
	if path, ok := strings.CutPrefix(ep, "unix:"); ok {
		if _, err := os.Stat(path); os.IsNotExist(err) {
			return nil, nil
		}
	}
	return ovs.ReadInterfaceIDs(ctx, ep)
}

// kernelIfIndex is the ifIndex of the interface called name in gwd's
// network namespace.
func kernelIfIndex(name string) (uint32, bool) {
	ifi, err := net.InterfaceByName(name)
	if err != nil || ifi.Index <= 0 {
		return 0, false
	}
	return uint32(ifi.Index), true
}

// rebuildPorts recomputes the port map from the domains' interfaces and
// OVS's external_ids.
func (s *Source) rebuildPorts(ctx context.Context) {
	var rows []ovsPort
	if s.cfg.OVSDB != "" {
		var err error
		rows, err = s.cfg.ovsPorts(ctx, s.cfg.OVSDB)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if msg != s.ovsErr {
			if err != nil {
				s.log.Warn("OVS interface ids unreadable: VM ports known from libvirt only", "err", err)
			} else {
				s.log.Info("OVS interface ids readable again")
			}
			s.ovsErr = msg
		}
	}
	s.ports.Store(s.portsOf(rows))
}

// portsOf builds the port map of the known domains (running or in their
// grace period) from their interfaces' host-side devices and from the OVS
// rows whose external_ids name the domain (vm-uuid, vm-id), one of its
// MACs (attached-mac) or one of its port ids (iface-id).
func (s *Source) portsOf(rows []ovsPort) *portMap {
	m := portMap{}
	byUUID := map[string]uint32{}
	byMAC := map[string]uint32{}
	byIface := map[string]uint32{}
	s.mu.Lock()
	for _, v := range s.vms {
		idx := v.ds.Index
		byUUID[strings.ReplaceAll(v.key, "-", "")] = idx
		for _, n := range v.spec.NICs {
			if n.Dev != "" {
				if i, ok := s.cfg.ifIndex(n.Dev); ok {
					m[i] = idx
				}
			}
			if n.MAC != "" {
				byMAC[n.MAC] = idx
			}
			if n.IfaceID != "" {
				byIface[n.IfaceID] = idx
			}
		}
	}
	s.mu.Unlock()
	for _, r := range rows {
		if r.IfIndex == 0 {
			continue
		}
		if idx, ok := vmOfPort(r.ExternalIDs, byUUID, byMAC, byIface); ok {
			m[r.IfIndex] = idx
		}
	}
	return &m
}

// vmOfPort finds the VM an OVS port's external_ids name.
func vmOfPort(ext map[string]string, byUUID, byMAC, byIface map[string]uint32) (uint32, bool) {
	for _, k := range []string{extVMUUID, extVMID} {
		if u, ok := ext[k]; ok {
			if idx, ok := byUUID[strings.ReplaceAll(strings.ToLower(strings.TrimSpace(u)), "-", "")]; ok {
				return idx, true
			}
		}
	}
	if id, ok := ext[extIfaceID]; ok {
		if idx, ok := byIface[strings.ToLower(strings.TrimSpace(id))]; ok {
			return idx, true
		}
	}
	if mac, ok := ext[extAttachedMAC]; ok {
		if hw, err := net.ParseMAC(strings.TrimSpace(mac)); err == nil {
			if idx, ok := byMAC[hw.String()]; ok {
				return idx, true
			}
		}
	}
	return 0, false
}

// EnrichFlow implements agent.FlowEnricher: a flow sample that entered
// through a VM's port (input) comes from that VM, one that leaves through
// one (output) goes to it; such samples get extended_entities (2210)
// naming the VMs' data sources (class 3), 0:0 for a side that is no VM.
// A sample that already carries 2210 (another module's) gets its empty
// sides filled.
func (s *Source) EnrichFlow(_ agent.DataSource, smp *sflow.Sample) {
	p := s.ports.Load()
	if p == nil || len(*p) == 0 {
		return
	}
	m := *p
	var src, dst uint32
	if smp.Input.Format == 0 {
		src = m[smp.Input.Value]
	}
	if smp.Output.Format == 0 {
		dst = m[smp.Output.Value]
	}
	if src == 0 && dst == 0 {
		return
	}
	for _, r := range smp.Records {
		if e, ok := r.(*sflow.ExtendedEntities); ok {
			if src != 0 && e.SrcDSIndex == 0 && e.SrcDSClass == 0 {
				e.SrcDSClass, e.SrcDSIndex = 3, src
			}
			if dst != 0 && e.DstDSIndex == 0 && e.DstDSClass == 0 {
				e.DstDSClass, e.DstDSIndex = 3, dst
			}
			return
		}
	}
	e := &sflow.ExtendedEntities{}
	if src != 0 {
		e.SrcDSClass, e.SrcDSIndex = 3, src
	}
	if dst != 0 {
		e.DstDSClass, e.DstDSIndex = 3, dst
	}
	smp.Records = append(smp.Records, e)
}

package kvm

import (
	"fmt"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
)

// hypervisor is the libvirt edge: what the module asks of libvirtd. The
// real one is go-libvirt over the unix socket; unit tests use a fake.
// Methods are called from the module's one goroutine.
type hypervisor interface {
	// Domains lists the running (active) domains.
	Domains() ([]domainRef, error)
	// XML is a domain's XML description (not the secure one: a read-only
	// connection may not ask for it).
	XML(d domainRef) (string, error)
	Info(d domainRef) (domainInfo, error)
	// BlockStats and BlockInfo are one disk's, by its target device (vda).
	BlockStats(d domainRef, dev string) (blockStats, error)
	BlockInfo(d domainRef, dev string) (blockInfo, error)
	// InterfaceStats is one interface's, by its host-side device (vnet0).
	InterfaceStats(d domainRef, dev string) (ifStats, error)
	// Node is the host: CPU MHz, CPUs, memory (KiB), and free memory (bytes).
	Node() (nodeInfo, error)
	// Disconnected is closed when the connection is lost.
	Disconnected() <-chan struct{}
	Close() error
}

// domainRef names a domain.
type domainRef struct {
	Name string
	UUID [16]byte
	ID   int32
}

// domainInfo is virDomainGetInfo's answer.
type domainInfo struct {
	State     uint8  // virDomainState: 1 running ... 5 shut off
	MaxMemKiB uint64 // KiB
	MemoryKiB uint64 // KiB
	NrVirtCPU uint16
	CPUTimeNs uint64 // ns
}

// blockStats is virDomainBlockStats' answer; -1 means unknown.
type blockStats struct {
	RdReq, RdBytes, WrReq, WrBytes, Errs int64
}

// blockInfo is virDomainGetBlockInfo's answer, bytes.
type blockInfo struct {
	Capacity, Allocation, Physical uint64
}

// ifStats is virDomainInterfaceStats' answer; -1 means unknown.
type ifStats struct {
	RxBytes, RxPackets, RxErrs, RxDrop int64
	TxBytes, TxPackets, TxErrs, TxDrop int64
}

// nodeInfo is virNodeGetInfo's answer and virNodeGetFreeMemory's.
type nodeInfo struct {
	MHz       uint32
	CPUs      uint32
	MemoryKiB uint64
	FreeBytes uint64
	FreeErr   error // free memory could not be read
}

// dialTimeout bounds connecting to libvirtd's socket.
const dialTimeout = 5 * time.Second

// goLibvirt is the hypervisor over github.com/digitalocean/go-libvirt.
type goLibvirt struct{ l *libvirt.Libvirt }

// dialLibvirt connects to libvirtd's unix socket and opens uri ("" is
// libvirtd's default driver). On the read-only socket libvirtd makes the
// connection read-only whatever it is asked.
func dialLibvirt(socket, uri string) (hypervisor, error) {
	l := libvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(socket), dialers.WithLocalTimeout(dialTimeout)))
	if err := l.ConnectToURI(libvirt.ConnectURI(uri)); err != nil {
		return nil, fmt.Errorf("libvirt %s at %s: %w", uri, socket, err)
	}
	return &goLibvirt{l: l}, nil
}

func dom(d domainRef) libvirt.Domain {
	return libvirt.Domain{Name: d.Name, UUID: libvirt.UUID(d.UUID), ID: d.ID}
}

func (g *goLibvirt) Domains() ([]domainRef, error) {
	ds, _, err := g.l.ConnectListAllDomains(1, libvirt.ConnectListDomainsActive)
	if err != nil {
		return nil, fmt.Errorf("virConnectListAllDomains: %w", err)
	}
	out := make([]domainRef, 0, len(ds))
	for _, d := range ds {
		out = append(out, domainRef{Name: d.Name, UUID: [16]byte(d.UUID), ID: d.ID})
	}
	return out, nil
}

func (g *goLibvirt) XML(d domainRef) (string, error) {
	x, err := g.l.DomainGetXMLDesc(dom(d), 0)
	if err != nil {
		return "", fmt.Errorf("virDomainGetXMLDesc(%s): %w", d.Name, err)
	}
	return x, nil
}

func (g *goLibvirt) Info(d domainRef) (domainInfo, error) {
	st, maxMem, mem, n, cpu, err := g.l.DomainGetInfo(dom(d))
	if err != nil {
		return domainInfo{}, fmt.Errorf("virDomainGetInfo(%s): %w", d.Name, err)
	}
	return domainInfo{State: st, MaxMemKiB: maxMem, MemoryKiB: mem, NrVirtCPU: n, CPUTimeNs: cpu}, nil
}

func (g *goLibvirt) BlockStats(d domainRef, dev string) (blockStats, error) {
	rr, rb, wr, wb, e, err := g.l.DomainBlockStats(dom(d), dev)
	if err != nil {
		return blockStats{}, fmt.Errorf("virDomainBlockStats(%s, %s): %w", d.Name, dev, err)
	}
	return blockStats{rr, rb, wr, wb, e}, nil
}

func (g *goLibvirt) BlockInfo(d domainRef, dev string) (blockInfo, error) {
	alloc, capa, phys, err := g.l.DomainGetBlockInfo(dom(d), dev, 0)
	if err != nil {
		return blockInfo{}, fmt.Errorf("virDomainGetBlockInfo(%s, %s): %w", d.Name, dev, err)
	}
	return blockInfo{Capacity: capa, Allocation: alloc, Physical: phys}, nil
}

func (g *goLibvirt) InterfaceStats(d domainRef, dev string) (ifStats, error) {
	rb, rp, re, rd, tb, tp, te, td, err := g.l.DomainInterfaceStats(dom(d), dev)
	if err != nil {
		return ifStats{}, fmt.Errorf("virDomainInterfaceStats(%s, %s): %w", d.Name, dev, err)
	}
	return ifStats{rb, rp, re, rd, tb, tp, te, td}, nil
}

func (g *goLibvirt) Node() (nodeInfo, error) {
	_, mem, cpus, mhz, _, _, _, _, err := g.l.NodeGetInfo()
	if err != nil {
		return nodeInfo{}, fmt.Errorf("virNodeGetInfo: %w", err)
	}
	n := nodeInfo{MHz: uint32(max(mhz, 0)), CPUs: uint32(max(cpus, 0)), MemoryKiB: mem}
	if n.FreeBytes, err = g.l.NodeGetFreeMemory(); err != nil {
		n.FreeErr = fmt.Errorf("virNodeGetFreeMemory: %w", err)
	}
	return n, nil
}

func (g *goLibvirt) Disconnected() <-chan struct{} { return g.l.Disconnected() }

func (g *goLibvirt) Close() error { return g.l.Disconnect() }

package kvm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"gwd/agent"
	"gwd/sflow"
)

// SourceName is the module's source name: its pollers (the VMs' data
// sources and its part of the host's 2:1) and its health entry.
const SourceName = "kvm"

// Defaults, as hsflowd's (refreshVMs 60 s, forgetVMs 180 s).
const (
	DefaultSocket  = "/var/run/libvirt/libvirt-sock-ro"
	DefaultURI     = "qemu:///system"
	DefaultRefresh = 60 * time.Second
	DefaultForget  = 180 * time.Second
)

// Backoff bounds of reconnecting to libvirtd.
const (
	minBackoff = time.Second
	maxBackoff = time.Minute
)

// virDomainState values used here.
const (
	stateShutoff = 5
)

// Registrar is what the module needs of the agent (*agent.Agent has it
// all): pollers and health, virtual-entity data sources, device owners,
// and a flow enricher.
type Registrar interface {
	agent.Registrar
	ClaimEntity(key string) (agent.DataSource, error)
	ReleaseEntity(key string)
	SetDeviceOwner(pci string, ds agent.DataSource)
	AddFlowEnricher(name string, e agent.FlowEnricher) (remove func())
}

var _ Registrar = (*agent.Agent)(nil)

// Config configures the VM source.
type Config struct {
	Socket string // libvirtd's unix socket
	URI    string // the driver to open, qemu:///system
	// Refresh is how often the domain list (and each domain's XML) is read.
	Refresh time.Duration
	// Forget is how long a domain that stopped keeps its data source.
	Forget time.Duration
	// Sample is how often the domains' statistics are read (the agent's
	// polling interval).
	Sample time.Duration
	// OVSDB is the OVSDB endpoint whose Interface external_ids map OVS
	// ports to VMs; "" reads none.
	OVSDB string

	dial     func() (hypervisor, error)                              // tests; nil: dialLibvirt
	ovsPorts func(ctx context.Context, ep string) ([]ovsPort, error) // tests; nil: readOVSPorts
	ifIndex  func(name string) (uint32, bool)                        // tests; nil: kernel lookup
}

// Source follows the domains of one libvirtd.
type Source struct {
	cfg Config
	log *slog.Logger
	reg Registrar

	// Owned by the run goroutine.
	hv          hypervisor
	vms         map[[16]byte]*vm
	lastRefresh time.Time
	refreshNow  bool
	ovsErr      string
	healthMsg   string // what setHealth last reported
	claimErr    error  // a VM without a data source at the last refresh
	connected   atomic.Bool
	count       atomic.Int32

	mu       sync.Mutex // guards what the pollers read
	node     sflow.VirtNode
	nodeOK   bool
	nodeOut  sflow.VirtNode
	ports    atomic.Pointer[portMap]
	done     chan struct{}
	unEnrich func()
}

// vm is one domain's state.
type vm struct {
	ref      domainRef
	key      string // UUID, canonical form
	ds       agent.DataSource
	spec     domainSpec
	goneAt   time.Time // zero while running
	errShown string

	// Under Source.mu: what the last sample read, and the poller's copy.
	cur, out records
}

// records are one VM's counter records.
type records struct {
	descr  sflow.HostDescr
	parent sflow.HostParent
	cpu    sflow.VirtCPU
	mem    sflow.VirtMemory
	disk   sflow.VirtDiskIO
	net    sflow.VirtNetIO
	stats  bool // cpu, mem, disk and net are valid
}

// New returns the VM source; Start runs it.
func New(cfg Config, log *slog.Logger) *Source {
	if cfg.Socket == "" {
		cfg.Socket = DefaultSocket
	}
	if cfg.URI == "" {
		cfg.URI = DefaultURI
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultRefresh
	}
	if cfg.Forget <= 0 {
		cfg.Forget = DefaultForget
	}
	if cfg.Sample <= 0 {
		cfg.Sample = 10 * time.Second
	}
	if cfg.dial == nil {
		cfg.dial = func() (hypervisor, error) { return dialLibvirt(cfg.Socket, cfg.URI) }
	}
	if cfg.ovsPorts == nil {
		cfg.ovsPorts = readOVSPorts
	}
	if cfg.ifIndex == nil {
		cfg.ifIndex = kernelIfIndex
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{cfg: cfg, log: log, vms: map[[16]byte]*vm{}, done: make(chan struct{})}
}

// Start registers the host's virt_node poller and the flow enricher, and
// runs the source until ctx ends: it connects to libvirtd (retrying with
// backoff while it cannot, with the reason in the health of SourceName),
// reads the domain list every Refresh and their statistics every Sample.
// When ctx ends it unregisters everything it registered and Done closes.
func (s *Source) Start(ctx context.Context, reg Registrar) {
	s.reg = reg
	reg.Register(SourceName, agent.HostSource, agent.PollerFunc(s.pollNode))
	s.unEnrich = reg.AddFlowEnricher(SourceName, s)
	go s.run(ctx)
}

// Done is closed once the source has stopped.
func (s *Source) Done() <-chan struct{} { return s.done }

// Connected reports whether libvirtd answers.
func (s *Source) Connected() bool { return s.connected.Load() }

// Count is the number of domains with a data source.
func (s *Source) Count() int { return int(s.count.Load()) }

// Domains names the data source of every domain known (for labels).
func (s *Source) Domains() map[agent.DataSource]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[agent.DataSource]string{}
	for _, v := range s.vms {
		out[v.ds] = "VM " + v.ref.Name
	}
	return out
}

func (s *Source) run(ctx context.Context) {
	defer close(s.done)
	defer s.stop()
	backoff := minBackoff
	// Statistics every Sample; the list every Refresh, checked each tick.
	tick := time.NewTicker(min(s.cfg.Sample, s.cfg.Refresh))
	defer tick.Stop()
	for {
		if s.hv == nil {
			hv, err := s.cfg.dial()
			if err == nil {
				s.hv, s.refreshNow = hv, true
				if s.cycle(ctx, time.Now()) {
					backoff = minBackoff
					continue
				}
			} else {
				s.setHealth(fmt.Errorf("libvirt unreachable (retrying): %w", err))
				s.forget(time.Now())
			}
			// Not answering, or answering but failing: wait, longer
			// each time, so a broken libvirtd is not hammered.
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-s.hv.Disconnected():
			s.lost(errors.New("connection closed by libvirtd"))
		case now := <-tick.C:
			s.cycle(ctx, now)
		}
	}
}

// setHealth reports the source's state to the agent (which logs a change
// between healthy and not once).
func (s *Source) setHealth(err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if msg == s.healthMsg {
		return
	}
	s.healthMsg = msg
	s.reg.SetHealth(SourceName, err)
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// lost drops the connection: every domain starts its grace period (it is
// kept if libvirtd comes back and still runs it).
func (s *Source) lost(err error) {
	s.setHealth(fmt.Errorf("libvirt connection lost (reconnecting): %w", err))
	s.connected.Store(false)
	s.hv.Close()
	s.hv = nil
	now := time.Now()
	s.mu.Lock()
	s.nodeOK = false
	for _, v := range s.vms {
		s.markGoneLocked(v, now)
	}
	s.mu.Unlock()
}

// cycle refreshes the list when due and samples every domain.
// It reports whether libvirt answered; when it did not, the connection
// is dropped.
func (s *Source) cycle(ctx context.Context, now time.Time) bool {
	if s.refreshNow || now.Sub(s.lastRefresh) >= s.cfg.Refresh {
		if err := s.refresh(ctx, now); err != nil {
			s.lost(err)
			return false
		}
		if !s.connected.Load() {
			s.connected.Store(true)
			s.log.Info("libvirt connected", "socket", s.cfg.Socket, "uri", s.cfg.URI, "vms", s.Count())
		}
		s.setHealth(s.claimErr)
	}
	s.sample(now)
	return true
}

// refresh reads the domain list and each running domain's XML, adds new
// domains, starts the grace period of those gone, forgets those past it,
// and rebuilds the port map.
func (s *Source) refresh(ctx context.Context, now time.Time) error {
	s.lastRefresh, s.refreshNow = now, false
	list, err := s.hv.Domains()
	if err != nil {
		return err
	}
	if n, err := s.hv.Node(); err == nil {
		s.mu.Lock()
		s.node = sflow.VirtNode{MHz: n.MHz, CPUs: n.CPUs, Memory: n.MemoryKiB * 1024, MemoryFree: n.FreeBytes, NumDomains: uint32(len(list))}
		s.nodeOK = true
		s.mu.Unlock()
		if n.FreeErr != nil {
			s.log.Debug("node free memory", "err", n.FreeErr)
		}
	} else {
		s.log.Debug("node info", "err", err)
	}
	seen := make(map[[16]byte]bool, len(list))
	var claimErr error
	defer func() { s.claimErr = claimErr }()
	for _, d := range list {
		seen[d.UUID] = true
		spec := domainSpec{Name: d.Name, UUID: d.UUID}
		x, err := s.hv.XML(d)
		if err == nil {
			var p domainSpec
			if p, err = parseDomainXML([]byte(x)); err == nil && p.UUID != d.UUID {
				err = errNotDomain
			} else if err == nil {
				spec = p
			}
		}
		if v := s.vms[d.UUID]; v != nil {
			s.update(v, d, spec, err)
		} else if _, err := s.add(d, spec, err); err != nil {
			claimErr = err
		}
	}
	s.mu.Lock()
	for u, v := range s.vms {
		if !seen[u] {
			s.markGoneLocked(v, now)
		}
	}
	s.mu.Unlock()
	s.forget(now)
	s.rebuildPorts(ctx)
	return nil
}

// add starts following a new domain: claims its data source, registers its
// poller, announces its passed-through devices.
func (s *Source) add(d domainRef, spec domainSpec, xmlErr error) (*vm, error) {
	key := formatUUID(d.UUID)
	ds, err := s.reg.ClaimEntity(key)
	if err != nil {
		return nil, fmt.Errorf("VM %s (%s): %w", d.Name, key, err)
	}
	v := &vm{ref: d, key: key, ds: ds, spec: spec}
	s.mu.Lock()
	s.vms[d.UUID] = v
	v.cur.descr = descrOf(spec)
	v.cur.parent = sflow.HostParent{ContainerType: agent.HostSource.Type, ContainerIndex: agent.HostSource.Index}
	s.count.Store(int32(len(s.vms)))
	s.mu.Unlock()
	for _, pci := range spec.PCI {
		s.reg.SetDeviceOwner(pci, ds)
	}
	s.reg.Register(SourceName, ds, &vmPoller{s: s, v: v})
	s.log.Info("VM found", "name", d.Name, "uuid", key, "data_source", ds.String(), "disks", len(spec.Disks), "nics", len(spec.NICs), "pci", spec.PCI)
	if xmlErr != nil {
		s.log.Warn("VM description unreadable: no disks, interfaces or devices", "name", d.Name, "uuid", key, "err", xmlErr)
		v.errShown = xmlErr.Error()
	}
	return v, nil
}

// update follows a known domain's new description (devices may be hot
// plugged; a domain back within its grace period runs again).
func (s *Source) update(v *vm, d domainRef, spec domainSpec, xmlErr error) {
	if xmlErr != nil {
		if msg := xmlErr.Error(); msg != v.errShown {
			s.log.Warn("VM description unreadable: keeping the last one", "name", d.Name, "uuid", v.key, "err", xmlErr)
			v.errShown = msg
		}
		spec = v.spec
	} else {
		v.errShown = ""
	}
	old := v.spec.PCI
	s.mu.Lock()
	if !v.goneAt.IsZero() {
		s.log.Info("VM running again", "name", d.Name, "uuid", v.key)
	}
	v.ref, v.spec, v.goneAt = d, spec, time.Time{}
	v.cur.descr = descrOf(spec)
	s.mu.Unlock()
	for _, pci := range old {
		if !contains(spec.PCI, pci) {
			s.reg.SetDeviceOwner(pci, agent.DataSource{})
		}
	}
	for _, pci := range spec.PCI {
		s.reg.SetDeviceOwner(pci, v.ds)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// markGoneLocked starts v's grace period: its sample says "shut off" with
// its last counters, and its devices go back to the host. Callers hold mu.
func (s *Source) markGoneLocked(v *vm, now time.Time) {
	if !v.goneAt.IsZero() {
		return
	}
	v.goneAt = now
	v.cur.cpu.State = stateShutoff
	s.log.Info("VM stopped", "name", v.ref.Name, "uuid", v.key, "forget_after", s.cfg.Forget)
	for _, pci := range v.spec.PCI {
		s.reg.SetDeviceOwner(pci, agent.DataSource{})
	}
}

// forget drops the domains whose grace period is over.
func (s *Source) forget(now time.Time) {
	var gone []*vm
	s.mu.Lock()
	for u, v := range s.vms {
		if !v.goneAt.IsZero() && now.Sub(v.goneAt) >= s.cfg.Forget {
			delete(s.vms, u)
			gone = append(gone, v)
		}
	}
	s.count.Store(int32(len(s.vms)))
	s.mu.Unlock()
	for _, v := range gone {
		s.reg.Unregister(SourceName, v.ds)
		s.reg.ReleaseEntity(v.key)
		s.log.Info("VM forgotten", "name", v.ref.Name, "uuid", v.key, "data_source", v.ds.String())
	}
	if len(gone) > 0 && s.hv == nil {
		s.ports.Store(s.portsOf(nil))
	}
}

// stop unregisters everything (the module is stopping).
func (s *Source) stop() {
	if s.unEnrich != nil {
		s.unEnrich()
	}
	s.reg.Unregister(SourceName, agent.HostSource)
	s.mu.Lock()
	vms := s.vms
	s.vms = map[[16]byte]*vm{}
	s.mu.Unlock()
	for _, v := range vms {
		for _, pci := range v.spec.PCI {
			s.reg.SetDeviceOwner(pci, agent.DataSource{})
		}
		s.reg.Unregister(SourceName, v.ds)
		s.reg.ReleaseEntity(v.key)
	}
	s.ports.Store(nil)
	if s.hv != nil {
		s.hv.Close()
		s.hv = nil
	}
	s.connected.Store(false)
}

// descrOf is a domain's host_descr: its name (libvirt does not know the
// guest's own hostname without a guest agent), UUID, machine and OS.
func descrOf(spec domainSpec) sflow.HostDescr {
	name := spec.Name
	if len(name) > 64 {
		name = name[:64]
	}
	rel := spec.OSRelease
	if len(rel) > 32 {
		rel = rel[:32]
	}
	return sflow.HostDescr{Hostname: []byte(name), UUID: spec.UUID, MachineType: spec.MachineType, OSName: spec.OSName, OSRelease: []byte(rel)}
}

// sample reads the statistics of every running domain.
func (s *Source) sample(now time.Time) {
	if s.hv == nil {
		return
	}
	for _, v := range s.vms {
		if !v.goneAt.IsZero() {
			continue
		}
		var r records
		info, err := s.hv.Info(v.ref)
		if err != nil {
			// Most likely the domain stopped between two refreshes.
			s.log.Debug("VM statistics", "name", v.ref.Name, "err", err)
			s.refreshNow = true
			continue
		}
		if info.State == stateShutoff {
			s.refreshNow = true // stopped: the next refresh starts its grace period
		}
		r.cpu = sflow.VirtCPU{State: uint32(info.State), CPUTime: uint32(info.CPUTimeNs / 1_000_000), NrVirtCPU: uint32(info.NrVirtCPU)}
		r.mem = sflow.VirtMemory{Memory: info.MemoryKiB * 1024, MaxMemory: info.MaxMemKiB * 1024}
		for _, dev := range v.spec.Disks {
			if bi, err := s.hv.BlockInfo(v.ref, dev); err == nil {
				r.disk.Capacity += bi.Capacity
				r.disk.Allocation += bi.Allocation
				if bi.Capacity > bi.Allocation {
					r.disk.Physical += bi.Capacity - bi.Allocation
				}
			} else {
				s.log.Debug("VM disk info", "name", v.ref.Name, "disk", dev, "err", err)
			}
			if bs, err := s.hv.BlockStats(v.ref, dev); err == nil {
				r.disk.RdReq += uint32(known(bs.RdReq))
				r.disk.RdBytes += known(bs.RdBytes)
				r.disk.WrReq += uint32(known(bs.WrReq))
				r.disk.WrBytes += known(bs.WrBytes)
				r.disk.Errs += uint32(known(bs.Errs))
			} else {
				s.log.Debug("VM disk statistics", "name", v.ref.Name, "disk", dev, "err", err)
			}
		}
		for _, n := range v.spec.NICs {
			if n.Dev == "" {
				continue
			}
			st, err := s.hv.InterfaceStats(v.ref, n.Dev)
			if err != nil {
				s.log.Debug("VM interface statistics", "name", v.ref.Name, "interface", n.Dev, "err", err)
				continue
			}
			r.net.RxBytes += known(st.RxBytes)
			r.net.RxPackets += uint32(known(st.RxPackets))
			r.net.RxErrs += uint32(known(st.RxErrs))
			r.net.RxDrop += uint32(known(st.RxDrop))
			r.net.TxBytes += known(st.TxBytes)
			r.net.TxPackets += uint32(known(st.TxPackets))
			r.net.TxErrs += uint32(known(st.TxErrs))
			r.net.TxDrop += uint32(known(st.TxDrop))
		}
		s.mu.Lock()
		if v.goneAt.IsZero() {
			r.descr, r.parent, r.stats = v.cur.descr, v.cur.parent, true
			v.cur = r
		}
		s.mu.Unlock()
	}
}

// known is a libvirt statistic, 0 when unknown (-1).
func known(v int64) uint64 {
	if v < 0 {
		return 0
	}
	return uint64(v)
}

// pollNode is the module's part of the host sample: virt_node.
func (s *Source) pollNode(recs []sflow.Record) ([]sflow.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.nodeOK {
		return recs, nil
	}
	s.nodeOut = s.node
	return append(recs, &s.nodeOut), nil
}

// vmPoller is the poller of one VM's data source.
type vmPoller struct {
	s *Source
	v *vm
}

func (p *vmPoller) Poll(recs []sflow.Record) ([]sflow.Record, error) {
	s, v := p.s, p.v
	s.mu.Lock()
	defer s.mu.Unlock()
	v.out = v.cur
	o := &v.out
	recs = append(recs, &o.descr, &o.parent)
	if !o.stats {
		return recs, nil
	}
	return append(recs, &o.cpu, &o.mem, &o.disk, &o.net), nil
}

// Package asic exports the hardware-table and buffer utilization of a
// white-box switch ASIC as Broadcom's sFlow structures 4413:3 hw_tables,
// 4413:1 bst_device_buffers and 4413:2 bst_port_buffers, in the same sFlow
// stream as the port counters and sampled packets.
//
// One backend per kind of switch image reads what that image offers:
//
//	sonic    SONiC's redis databases: CRM counters, buffer pool, priority
//	         group and queue watermarks (all three structures)
//	snmp     vendor MIBs through an OID map file (any of the three)
//	devlink  devlink hardware resources (4413:3)
//	cumulus  Cumulus Linux switchd files (4413:3), as hsflowd reads them
//
// The Source reads every backend in its own goroutine, merges what they
// report into the three records (Unknown where no backend knows a field)
// and registers them with the agent: 4413:3 and 4413:1 on the host's
// sample 2:1, 4413:2 on the sample 0:ifIndex of each front-panel port,
// next to that port's other counter records. Buffer figures are peaks
// since the last export of the sample that carries them; table figures
// are the latest reading. A backend's failure is its own: its fields turn
// Unknown, its health (source "asic/<backend>") says why, and the other
// backends keep exporting. docs/asic.md has the mapping tables.
package asic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"gwd/agent"
	"gwd/config"
	"gwd/sflow"
)

// Backend names, as in Config.Backends.
const (
	BackendAuto    = "auto"
	BackendSONiC   = "sonic"
	BackendSNMP    = "snmp"
	BackendDevlink = "devlink"
	BackendCumulus = "cumulus"
)

// SourceName is the source name the pollers register under; each backend
// reports its health as SourceName + "/" + backend.
const SourceName = "asic"

// ErrNotAvailable says a backend's data source does not exist on this
// machine (no devlink, no SONiC database configuration, ...).
var ErrNotAvailable = errors.New("not available")

// Config is the asic part of gwd's configuration.
type Config struct {
	// Enabled is the module's mode (gwd's configuration).
	Enabled config.Mode `key:"enabled" default:"auto" hsdefault:"false" doc:"switch ASIC tables (4413:3) and buffers (4413:1, 4413:2); auto: when a backend's source is present (asic.md)"`
	// Backends lists the backends to read, in priority order (when two
	// know the same field, the first wins): "auto" (the default when
	// empty), "sonic", "snmp", "devlink", "cumulus". "auto" selects the
	// backends whose data source is present (SONiC database configuration,
	// Cumulus switchd directory, devlink devices, an SNMP OID map being
	// configured) and may be combined with explicit names.
	Backends []string `key:"backends" default:"auto" enum:"auto|sonic|snmp|devlink|cumulus" doc:"backends in priority order (the first that knows a field wins)"`
	// Interval is how often each backend is read (default 5s). Buffer
	// figures are the peak of the reads since the last export.
	Interval time.Duration `key:"interval" default:"5s" min:"100ms" max:"1h" doc:"how often each backend is read; buffer figures are the peak since the last export"`
	// SONiC configures the sonic backend.
	SONiC SONiCConfig `key:"sonic"`
	// SNMP configures the snmp backend.
	SNMP SNMPConfig `key:"snmp"`
	// Devlink configures the devlink backend.
	Devlink DevlinkConfig
	// CumulusDir is Cumulus switchd's run directory (default
	// /cumulus/switchd/run).
	CumulusDir string `key:"cumulus_dir" default:"/cumulus/switchd/run" type:"path" doc:"Cumulus switchd's files"`
	// SysRoot is where sysfs is mounted (default /sys); port names are
	// turned into kernel ifIndexes through SysRoot/class/net/<name>/ifindex.
	SysRoot string `key:"sys_root" default:"/sys" type:"path" doc:"sysfs, to turn port names into kernel ifIndexes"`
}

// LogValue implements slog.LogValuer; the SNMP secrets are left out.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("backends", c.Backends), slog.Duration("interval", c.Interval),
		slog.String("sonic_db_config", c.SONiC.DBConfig), slog.Any("snmp", c.SNMP),
		slog.String("cumulus_dir", c.CumulusDir), slog.String("sys_root", c.SysRoot))
}

func (c *Config) normalize() error {
	config.FillZero(c)
	if c.Interval < 0 {
		return fmt.Errorf("asic: interval %v is negative", c.Interval)
	}
	seen := map[string]bool{}
	for _, b := range c.Backends {
		switch b {
		case BackendAuto, BackendSONiC, BackendSNMP, BackendDevlink, BackendCumulus:
		default:
			return fmt.Errorf("asic: unknown backend %q (want auto, sonic, snmp, devlink or cumulus)", b)
		}
		if seen[b] {
			return fmt.Errorf("asic: backend %q listed twice", b)
		}
		seen[b] = true
	}
	if err := c.SONiC.normalize(); err != nil {
		return err
	}
	if seen[BackendSNMP] || c.SNMP.Map != "" {
		if err := c.SNMP.normalize(); err != nil {
			return err
		}
	}
	return c.Devlink.normalize()
}

// backend is one way of reading the ASIC.
type backend interface {
	name() string
	// read returns what the backend knows now. A read that fails returns
	// what it could read (nil parts are unknown) and the error.
	read(ctx context.Context) (reading, error)
	close() error
}

// reading is one read of one backend. A nil part is one the backend did
// not read.
type reading struct {
	tables *Tables
	device *DeviceBuffers
	ports  map[uint32]*PortBuffers // by kernel ifIndex
}

// Source merges the backends' readings into 4413:1-3 records and registers
// them with the agent. Create it with New, then Start it.
type Source struct {
	cfg Config
	log *slog.Logger

	// detection hooks (tests replace them)
	newBackend func(name string) (backend, error)
	detect     func(name string) (bool, string)

	regMu sync.Mutex // serializes registration changes (never taken by pollers)
	mu    sync.Mutex
	reg   agent.Registrar
	st    []*backendState
	host  bool                        // host poller registered
	ports map[uint32]agent.DataSource // port pollers registered
	wg    sync.WaitGroup
	start bool
}

// backendState is what the Source keeps of one backend.
type backendState struct {
	b      backend
	tables *Tables // latest; nil until the backend first read tables
	device *devicePeak
	ports  map[uint32]*portPeak
}

// New checks cfg and returns a Source; it reads nothing yet. The SNMP OID
// map, when configured, is loaded here so that a bad map fails early.
func New(cfg Config, log *slog.Logger) (*Source, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	s := &Source{cfg: cfg, log: log, ports: map[uint32]agent.DataSource{}}
	var m *OIDMap
	if cfg.SNMP.Map != "" {
		var err error
		if m, err = LoadOIDMap(cfg.SNMP.Map); err != nil {
			return nil, fmt.Errorf("asic: snmp: %w", err)
		}
	}
	idx := ifIndexer{root: cfg.SysRoot}
	s.newBackend = func(name string) (backend, error) {
		switch name {
		case BackendSONiC:
			return newSONiC(cfg.SONiC, idx, log), nil
		case BackendSNMP:
			if m == nil {
				return nil, errors.New("asic: snmp backend needs an OID map (snmp.map)")
			}
			return newSNMP(cfg.SNMP, m, idx), nil
		case BackendDevlink:
			return newDevlink(cfg.Devlink, netlinkDevlink{}), nil
		case BackendCumulus:
			return newCumulus(cfg.CumulusDir), nil
		}
		return nil, fmt.Errorf("asic: unknown backend %q", name)
	}
	s.detect = func(name string) (bool, string) { return detect(name, &cfg) }
	if slices.Contains(cfg.Backends, BackendSNMP) && m == nil {
		return nil, errors.New("asic: snmp backend needs an OID map (snmp.map)")
	}
	return s, nil
}

// selectBackends returns the backend names to run, in priority order, with
// the reason for each.
func (s *Source) selectBackends() (names, reasons []string) {
	add := func(n, why string) {
		if !slices.Contains(names, n) {
			names = append(names, n)
			reasons = append(reasons, why)
		}
	}
	for _, b := range s.cfg.Backends {
		if b != BackendAuto {
			add(b, "configured")
			continue
		}
		for _, n := range []string{BackendSONiC, BackendCumulus, BackendDevlink, BackendSNMP} {
			if ok, why := s.detect(n); ok {
				add(n, why)
			}
		}
	}
	return names, reasons
}

// Start selects the backends, starts reading them and registers the
// records with reg as the backends first produce them. It returns at once;
// reading stops when ctx ends, after which the Source unregisters its data
// sources (Wait waits for that).
func (s *Source) Start(ctx context.Context, reg agent.Registrar) error {
	s.mu.Lock()
	if s.start {
		s.mu.Unlock()
		return errors.New("asic: source already started")
	}
	s.start = true
	s.reg = reg
	s.mu.Unlock()

	names, reasons := s.selectBackends()
	if len(names) == 0 {
		s.log.Info("asic: no switch ASIC backend detected")
		return nil
	}
	var started []string
	var states []*backendState
	for i, n := range names {
		b, err := s.newBackend(n)
		if err != nil {
			for _, st := range states {
				st.b.close()
			}
			return err
		}
		states = append(states, &backendState{b: b, ports: map[uint32]*portPeak{}})
		started = append(started, n+" ("+reasons[i]+")")
	}
	s.mu.Lock()
	s.st = states
	s.mu.Unlock()
	s.log.Info("asic: backends selected", "backends", started, "interval", s.cfg.Interval)
	var loops sync.WaitGroup
	for _, st := range s.st {
		loops.Add(1)
		go func() {
			defer loops.Done()
			s.loop(ctx, st)
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		loops.Wait()
		s.unregisterAll()
		for _, st := range s.st {
			st.b.close()
		}
	}()
	return nil
}

// Backends returns the names of the backends Start selected, in priority
// order (empty before Start or when none was detected).
func (s *Source) Backends() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.st))
	for _, st := range s.st {
		out = append(out, st.b.name())
	}
	return out
}

// Wait blocks until the Source has stopped after its context ended.
func (s *Source) Wait() { s.wg.Wait() }

// loop reads one backend every interval until ctx ends.
func (s *Source) loop(ctx context.Context, st *backendState) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		s.readOnce(ctx, st)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// readTimeout bounds one read of one backend.
func (s *Source) readTimeout() time.Duration { return max(s.cfg.Interval, 10*time.Second) }

// readOnce reads st's backend once, folds the reading in, reports the
// backend's health and brings the registrations up to date.
func (s *Source) readOnce(ctx context.Context, st *backendState) {
	rctx, cancel := context.WithTimeout(ctx, s.readTimeout())
	r, err := st.b.read(rctx)
	cancel()
	if ctx.Err() != nil {
		return // stopping: a read cut short is not a failure
	}
	s.mu.Lock()
	st.fold(r, err == nil)
	s.mu.Unlock()
	s.reg.SetHealth(SourceName+"/"+st.b.name(), err)
	s.syncRegistrations()
}

// fold merges a reading into the backend's state. ok says the read
// succeeded: only then do ports missing from the reading go away.
func (st *backendState) fold(r reading, ok bool) {
	switch {
	case r.tables != nil:
		t := *r.tables
		st.tables = &t
	case st.tables != nil:
		t := unknownTables()
		st.tables = &t
	}
	switch {
	case r.device != nil:
		if st.device == nil {
			st.device = newDevicePeak()
		}
		st.device.observe(*r.device)
	case st.device != nil:
		st.device.observe(DeviceBuffers{UC: Unknown, MC: Unknown})
	}
	for idx, p := range st.ports {
		if nb, found := r.ports[idx]; found {
			p.observe(nb)
		} else if ok && r.ports != nil {
			delete(st.ports, idx)
		} else {
			p.observeUnknown()
		}
	}
	for idx, nb := range r.ports {
		if st.ports[idx] == nil {
			p := newPortPeak()
			p.observe(nb)
			st.ports[idx] = p
		}
	}
}

// syncRegistrations registers the host poller and the port pollers the
// backends need, and unregisters the ports no backend reports any more.
// The Registrar is called without s.mu held: the agent calls the pollers
// (which take s.mu) with its own lock held.
func (s *Source) syncRegistrations() {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	s.mu.Lock()
	wantHost := false
	want := map[uint32]bool{}
	for _, st := range s.st {
		if st.tables != nil || st.device != nil {
			wantHost = true
		}
		for idx := range st.ports {
			want[idx] = true
		}
	}
	addHost := wantHost && !s.host
	s.host = s.host || wantHost
	var add, del []uint32
	for idx := range want {
		if _, ok := s.ports[idx]; !ok {
			add = append(add, idx)
			s.ports[idx] = agent.InterfaceSource(idx)
		}
	}
	for idx := range s.ports {
		if !want[idx] {
			del = append(del, idx)
			delete(s.ports, idx)
		}
	}
	reg := s.reg
	s.mu.Unlock()

	if addHost {
		reg.Register(SourceName, agent.HostSource, agent.PollerFunc(s.pollHost))
	}
	slices.Sort(add)
	for _, idx := range add {
		reg.Register(SourceName, agent.InterfaceSource(idx), s.portPoller(idx))
	}
	for _, idx := range del {
		reg.Unregister(SourceName, agent.InterfaceSource(idx))
	}
}

// unregisterAll removes every registration (the Source stopped).
func (s *Source) unregisterAll() {
	s.regMu.Lock()
	defer s.regMu.Unlock()
	s.mu.Lock()
	host := s.host
	var ports []uint32
	for idx := range s.ports {
		ports = append(ports, idx)
	}
	s.host = false
	clear(s.ports)
	reg := s.reg
	s.mu.Unlock()
	if reg == nil {
		return
	}
	if host {
		reg.Unregister(SourceName, agent.HostSource)
	}
	for _, idx := range ports {
		reg.Unregister(SourceName, agent.InterfaceSource(idx))
	}
}

// pollHost appends 4413:3 and 4413:1 for the host sample 2:1. Backend
// failures are reported through health, not here: the records go out with
// Unknown fields.
func (s *Source) pollHost(recs []sflow.Record) ([]sflow.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var tables *Tables
	for _, st := range s.st {
		if st.tables == nil {
			continue
		}
		if tables == nil {
			t := unknownTables()
			tables = &t
		}
		for i, v := range st.tables {
			if tables[i] < 0 && v >= 0 {
				tables[i] = v
			}
		}
	}
	if tables != nil {
		recs = append(recs, tables.record())
	}
	var dev *DeviceBuffers
	for _, st := range s.st {
		if st.device == nil {
			continue
		}
		d := st.device.take() // every backend's peak restarts at an export
		if dev == nil {
			dev = &DeviceBuffers{UC: Unknown, MC: Unknown}
		}
		if dev.UC < 0 {
			dev.UC = d.UC
		}
		if dev.MC < 0 {
			dev.MC = d.MC
		}
	}
	if dev != nil {
		recs = append(recs, &sflow.BSTDeviceBuffers{UCPct: dev.UC, MCPct: dev.MC})
	}
	return recs, nil
}

// portPoller returns the poller of the port with kernel ifIndex idx.
func (s *Source) portPoller(idx uint32) agent.Poller {
	return agent.PollerFunc(func(recs []sflow.Record) ([]sflow.Record, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		var out *PortBuffers
		for _, st := range s.st {
			p := st.ports[idx]
			if p == nil {
				continue
			}
			b := p.take()
			if out == nil {
				out = &b
				continue
			}
			mergePort(out, &b)
		}
		if out == nil {
			return recs, nil
		}
		return append(recs, &sflow.BSTPortBuffers{
			IngressUCPct: out.IngressUC, IngressMCPct: out.IngressMC,
			EgressUCPct: out.EgressUC, EgressMCPct: out.EgressMC,
			EgressQueueUCPct: out.QueueUC, EgressQueueMCPct: out.QueueMC,
		}), nil
	})
}

// mergePort fills the Unknown figures of dst from src (a lower-priority
// backend).
func mergePort(dst, src *PortBuffers) {
	fill := func(d *int32, v int32) {
		if *d < 0 {
			*d = v
		}
	}
	fill(&dst.IngressUC, src.IngressUC)
	fill(&dst.IngressMC, src.IngressMC)
	fill(&dst.EgressUC, src.EgressUC)
	fill(&dst.EgressMC, src.EgressMC)
	dst.QueueUC = mergeQueues(dst.QueueUC, src.QueueUC)
	dst.QueueMC = mergeQueues(dst.QueueMC, src.QueueMC)
}

func mergeQueues(dst, src []int32) []int32 {
	for i, v := range src {
		if i < len(dst) {
			if dst[i] < 0 {
				dst[i] = v
			}
			continue
		}
		dst = append(dst, v)
	}
	return dst
}

// peak is one buffer figure: the largest value read since the last export
// and the last value read.
type peak struct{ max, last int32 }

func newPeak() peak { return peak{max: Unknown, last: Unknown} }

func (p *peak) observe(v int32) {
	if v >= 0 && v > p.max {
		p.max = v
	}
	p.last = v
}

// take returns the peak since the last take (the last value read when
// nothing was read since) and starts a new period.
func (p *peak) take() int32 {
	v := p.max
	if v < 0 {
		v = p.last
	}
	p.max = Unknown
	return v
}

type devicePeak struct{ uc, mc peak }

func newDevicePeak() *devicePeak { return &devicePeak{uc: newPeak(), mc: newPeak()} }

func (d *devicePeak) observe(b DeviceBuffers) {
	d.uc.observe(b.UC)
	d.mc.observe(b.MC)
}

func (d *devicePeak) take() DeviceBuffers { return DeviceBuffers{UC: d.uc.take(), MC: d.mc.take()} }

type portPeak struct {
	inUC, inMC, outUC, outMC peak
	qUC, qMC                 []peak
}

func newPortPeak() *portPeak {
	return &portPeak{inUC: newPeak(), inMC: newPeak(), outUC: newPeak(), outMC: newPeak()}
}

func (p *portPeak) observe(b *PortBuffers) {
	p.inUC.observe(b.IngressUC)
	p.inMC.observe(b.IngressMC)
	p.outUC.observe(b.EgressUC)
	p.outMC.observe(b.EgressMC)
	p.qUC = observeQueues(p.qUC, b.QueueUC)
	p.qMC = observeQueues(p.qMC, b.QueueMC)
}

// observeUnknown records a failed read: every figure is Unknown now, the
// queues keep their number.
func (p *portPeak) observeUnknown() {
	for _, q := range []*peak{&p.inUC, &p.inMC, &p.outUC, &p.outMC} {
		q.observe(Unknown)
	}
	for i := range p.qUC {
		p.qUC[i].observe(Unknown)
	}
	for i := range p.qMC {
		p.qMC[i].observe(Unknown)
	}
}

// observeQueues folds one reading of a queue list in; the reading decides
// how many queues there are.
func observeQueues(ps []peak, vs []int32) []peak {
	if len(vs) > MaxQueues {
		vs = vs[:MaxQueues]
	}
	for len(ps) < len(vs) {
		ps = append(ps, newPeak())
	}
	ps = ps[:len(vs)]
	for i, v := range vs {
		ps[i].observe(v)
	}
	return ps
}

func (p *portPeak) take() PortBuffers {
	b := PortBuffers{IngressUC: p.inUC.take(), IngressMC: p.inMC.take(), EgressUC: p.outUC.take(), EgressMC: p.outMC.take()}
	for i := range p.qUC {
		b.QueueUC = append(b.QueueUC, p.qUC[i].take())
	}
	for i := range p.qMC {
		b.QueueMC = append(b.QueueMC, p.qMC[i].take())
	}
	return b
}

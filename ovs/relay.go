package ovs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"gwd/agent"
	"gwd/sflow"
)

// SourceName is the name the relay registers its data sources under.
const SourceName = "ovs"

// mergePriority makes OVS's port records win over the host source's records
// of the same type (0:1, 0:2, 1005) on a merged 0:ifIndex sample; the host
// still adds what OVS lacks (optics).
const mergePriority = 10

// RelayConfig configures the intake of OVS's datagrams.
type RelayConfig struct {
	// Listen is the intake address (default 127.0.0.1 on a port the
	// kernel picks at random from its ephemeral range, so another on
	// every start).
	Listen netip.AddrPort
	// Allow lists the senders accepted (default: loopback only).
	Allow []netip.Prefix
	// Polling is gwd's counter interval; OVS counters older than three
	// intervals are no longer relayed. Required: the configuration's polling key
	// holds the default.
	Polling time.Duration
}

// Sink is what the relay needs of the agent.
type Sink interface {
	RegisterPriority(source string, ds agent.DataSource, p agent.Poller, priority int)
	Unregister(source string, ds agent.DataSource)
	SubmitFlow(ds agent.DataSource, s *sflow.Sample) error
}

// bridgeState is one bridge: its data source slot, the sample_pool and
// drops gwd sends for it (sums of what the accepted samples grew by, so
// they never go backwards, whatever OVS restarts or whatever comes in),
// its cached counters.
type bridgeState struct {
	slot        uint32
	pool, drops uint32
	holdUntil   time.Time // no new OVS agent instance before (see ReplayHoldoff)
	lastNew     time.Time // when the bridge last took a new OVS agent instance
	counters    cached
	registered  bool
}

// cached is the last counter sample OVS sent for a data source, kept as a
// one-sample datagram so that it can be decoded again at poll time.
type cached struct {
	raw []byte
	at  time.Time
}

// portState is one OVS port (kernel interface) with its cached counters.
type portState struct {
	counters   cached
	registered bool
}

// Relay receives OVS's datagrams on loopback and hands their samples to
// the agent under the box's identity: flow samples at once, re-sequenced,
// with monotonic sample pools; counter samples on the agent's schedule,
// merged with gwd's own records for the same data source.
//
// Only what OVS can have sent goes on: a datagram from a sender not
// allowed, with an agent address OVS was not given, or that does not
// decode completely is dropped whole; samples are judged
// against the OVS agent instance that sent them (see relay_agents.go), and
// those of no known bridge, or that do not move forward as OVS's do, are
// dropped. Everything dropped is counted (Stats), logged at most once per
// LogEvery, and shown by Health.
type Relay struct {
	cfg  RelayConfig
	sink Sink
	log  *slog.Logger
	conn *net.UDPConn
	t0   time.Time // the relay's clock starts here

	dec     sflow.Decoder // read goroutine only
	scratch []byte        // re-encoding for the completeness check, under mu

	mu         sync.Mutex
	portBridge map[uint32]string // kernel ifIndex -> bridge, from OVSDB
	bridges    map[string]*bridgeState
	ports      map[uint32]*portState
	insts      []*instance          // OVS agent instances, oldest first
	retired    map[uint32][2]uint32 // slot -> pool and drops last sent, of bridges gone
	agentAddr  [2]netip.Addr
	stats      RelayStats
	health     healthState
	rejectLog  limiter
	dropLog    limiter
	pollDec    sflow.Decoder // used by pollers, under mu
	now        func() time.Time

	// actions collected under mu and carried out after it is released
	// (the agent's lock must never be taken while holding mu).
	applyMu sync.Mutex
	reg     []registration
	flows   []flowOut // read goroutine only
}

type registration struct {
	ds     agent.DataSource
	poller agent.Poller
	remove bool
}

type flowOut struct {
	ds agent.DataSource
	s  *sflow.Sample
}

// NewRelay binds the intake socket. Bind before programming OVS: OVS loses
// every other datagram while nothing listens on its target.
func NewRelay(cfg RelayConfig, sink Sink, log *slog.Logger) (*Relay, error) {
	if !cfg.Listen.IsValid() {
		cfg.Listen = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0)
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(cfg.Listen))
	if err != nil {
		return nil, fmt.Errorf("ovs relay: listen on %s: %w", cfg.Listen, err)
	}
	_ = conn.SetReadBuffer(4 << 20)
	r := newRelay(cfg, sink, log)
	r.conn = conn
	return r, nil
}

// newRelay is a relay without its socket (handle feeds it).
func newRelay(cfg RelayConfig, sink Sink, log *slog.Logger) *Relay {
	if len(cfg.Allow) == 0 {
		cfg.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Relay{
		cfg: cfg, sink: sink, log: log, t0: time.Now(),
		portBridge: map[uint32]string{}, bridges: map[string]*bridgeState{},
		ports: map[uint32]*portState{}, retired: map[uint32][2]uint32{}, now: time.Now,
		rejectLog: limiter{msg: "ovs relay: datagrams rejected"},
		dropLog:   limiter{msg: "ovs relay: samples dropped"},
	}
}

// Addr is the intake address to put in OVS's sFlow targets.
func (r *Relay) Addr() netip.AddrPort {
	return r.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// SetPolling changes the interval the relay's counter staleness is based on.
func (r *Relay) SetPolling(d time.Duration) {
	if d <= 0 {
		return
	}
	r.mu.Lock()
	r.cfg.Polling = d
	r.mu.Unlock()
}

// SetAgentAddress tells the relay the agent address gwd gave OVS (the
// sFlow row's agent); datagrams with another are rejected by sender. The
// address given before stays accepted too, for the datagrams OVS sends
// until it has applied the change. The invalid Addr turns the check off
// (OVS then picks an address itself).
func (r *Relay) SetAgentAddress(a netip.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a = a.Unmap()
	if a != r.agentAddr[0] {
		r.agentAddr = [2]netip.Addr{a, r.agentAddr[0]}
	}
}

// Log is the relay's logger.
func (r *Relay) Log() *slog.Logger { return r.log }

// Run reads datagrams until ctx ends, then unregisters what it registered.
func (r *Relay) Run(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		r.conn.Close()
	}()
	b := make([]byte, 65536)
	for {
		n, src, err := r.conn.ReadFromUDPAddrPort(b)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				r.shutdown()
				return nil
			}
			return fmt.Errorf("ovs relay: read: %w", err)
		}
		r.handle(b[:n], src)
	}
}

func (r *Relay) shutdown() {
	r.mu.Lock()
	for ifIndex, p := range r.ports {
		if p.registered {
			r.reg = append(r.reg, registration{ds: agent.InterfaceSource(ifIndex), remove: true})
		}
	}
	for _, b := range r.bridges {
		if b.registered {
			r.reg = append(r.reg, registration{ds: agent.BridgeSource(b.slot), remove: true})
		}
	}
	r.ports, r.bridges, r.insts = map[uint32]*portState{}, map[string]*bridgeState{}, nil
	r.mu.Unlock()
	r.apply()
}

// SetBridges gives the relay OVSDB's view of the bridges and their ports:
// which kernel ifIndex belongs to which bridge. Ports and bridges that are
// gone stop being relayed.
func (r *Relay) SetBridges(bridges []Bridge) {
	r.mu.Lock()
	r.portBridge = map[uint32]string{}
	names := map[string]bool{}
	for _, b := range bridges {
		names[b.Name] = true
		for _, p := range b.Ports {
			if p.IfIndex != 0 {
				r.portBridge[p.IfIndex] = b.Name
			}
		}
	}
	var gonePorts []uint32
	var goneBridges []string
	for ifIndex, p := range r.ports {
		if _, ok := r.portBridge[ifIndex]; !ok {
			if p.registered {
				r.reg = append(r.reg, registration{ds: agent.InterfaceSource(ifIndex), remove: true})
				gonePorts = append(gonePorts, ifIndex)
			}
			delete(r.ports, ifIndex)
		}
	}
	for name, b := range r.bridges {
		if !names[name] {
			if b.registered {
				r.reg = append(r.reg, registration{ds: agent.BridgeSource(b.slot), remove: true})
			}
			r.retired[b.slot] = [2]uint32{b.pool, b.drops}
			delete(r.bridges, name)
			goneBridges = append(goneBridges, name)
		}
	}
	r.forgetBridges(names)
	r.mu.Unlock()
	r.apply()
	if len(gonePorts)+len(goneBridges) > 0 {
		slices.Sort(gonePorts)
		slices.Sort(goneBridges)
		r.log.Info("ovs relay: no longer relayed", "bridges", goneBridges, "ports", gonePorts)
	}
}

// handle processes one datagram from src.
func (r *Relay) handle(b []byte, src netip.AddrPort) {
	r.mu.Lock()
	r.stats.Received++
	now := r.now()
	if !r.allowed(src.Addr()) {
		r.stats.Foreign++
		r.rejected(now, src, errSender)
		r.mu.Unlock()
		return
	}
	dg, err := r.dec.Decode(b)
	if err == nil {
		err = r.complete(dg, b)
	}
	if err != nil {
		r.stats.Bad++
		r.rejected(now, src, err)
		r.mu.Unlock()
		return
	}
	if a, got := r.agentAddr, dg.AgentAddress.Unmap(); a[0].IsValid() && got != a[0] && (!a[1].IsValid() || got != a[1]) {
		r.stats.Foreign++
		r.rejected(now, src, fmt.Errorf("agent address %v, OVS was given %v", dg.AgentAddress, a[0]))
		r.mu.Unlock()
		return
	}
	r.stats.Datagrams++
	t := r.ms(now)
	if in := r.instanceFor(dg, now, t, src); in != nil {
		for i := range dg.Samples {
			s := &dg.Samples[i]
			switch s.Tag {
			case sflow.SampleFlow, sflow.SampleFlowExpanded:
				r.flowLocked(in, dg, s, now, t, src)
			case sflow.SampleCounters, sflow.SampleCountersExpanded:
				r.countersLocked(in, dg, s, now, t, src)
			}
		}
	}
	needApply := len(r.reg) > 0
	r.mu.Unlock()
	r.submit()
	if needApply {
		r.apply()
	}
}

var errSender = errors.New("sender not allowed")

func (r *Relay) allowed(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.cfg.Allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// bridge returns the state of a bridge, made on first use.
func (r *Relay) bridge(name string) *bridgeState {
	b := r.bridges[name]
	if b == nil {
		b = &bridgeState{slot: r.slotFor(name)}
		// A bridge that comes back (or a new one on a slot used before)
		// goes on from what its data source last sent.
		t := r.retired[b.slot]
		b.pool, b.drops = t[0], t[1]
		r.bridges[name] = b
	}
	return b
}

// slotFor gives a bridge its data source slot n (2:(1000+n)), stable by
// name: a hash of the name, moved to the next free slot on a collision.
func (r *Relay) slotFor(name string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(name))
	taken := map[uint32]bool{}
	for _, b := range r.bridges {
		taken[b.slot] = true
	}
	n := h.Sum32() % 1000
	for taken[n] {
		n = (n + 1) % 1000
	}
	return n
}

// flowLocked relays a flow sample of instance in: its ports must not be
// another bridge's, and it must move forward; the pool and drops sent are
// the bridge's totals.
func (r *Relay) flowLocked(in *instance, dg *sflow.Datagram, s *sflow.Sample, now time.Time, t int64, src netip.AddrPort) {
	if !r.portOK(s.Input, in.bridge) || !r.portOK(s.Output, in.bridge) {
		r.stats.Unmapped++
		r.dropped(now, src, fmt.Errorf("sub-agent %d (%s), ports %d/%d: %w", dg.SubAgentID, in.bridge, s.Input.Value, s.Output.Value, errPorts))
		return
	}
	dPool, dDrops, ok := in.acceptFlow(s)
	if !ok {
		r.stats.Backwards++
		r.dropped(now, src, fmt.Errorf("sub-agent %d (%s), sequence %d, pool %d, drops %d after %d, %d, %d: %w",
			dg.SubAgentID, in.bridge, s.SequenceNumber, s.SamplePool, s.Drops, in.seq, in.pool, in.drops, errBackwards))
		return
	}
	r.heard(in, dg.SequenceNumber, now, t)
	b := in.b
	b.pool += dPool
	b.drops += dDrops
	s.SamplePool, s.Drops = b.pool, b.drops
	// The relay changes none of the sample's records: the agent copies
	// their bytes as OVS sent them (enrichers may still append records).
	s.KeepRecordBytes()
	r.stats.FlowSamples++
	r.flows = append(r.flows, flowOut{ds: agent.BridgeSource(b.slot), s: s})
}

// countersLocked caches a counter sample of instance in for the agent's
// schedule: a port of its bridge (0:ifIndex) or the bridge itself
// (2:(1000+n)), with a sequence number that moved forward.
func (r *Relay) countersLocked(in *instance, dg *sflow.Datagram, s *sflow.Sample, now time.Time, t int64, src netip.AddrPort) {
	port := s.SourceIDType == 0
	if !port && (s.SourceIDType != 2 || s.SourceIDIndex < 1000) {
		return // not a data source OVS sends
	}
	if port && r.portBridge[s.SourceIDIndex] != in.bridge {
		r.stats.Unmapped++
		r.dropped(now, src, fmt.Errorf("sub-agent %d (%s), counters of %d:%d: %w", dg.SubAgentID, in.bridge, s.SourceIDType, s.SourceIDIndex, errPorts))
		return
	}
	if !in.acceptCounters(s, dg.Uptime, r.cfg.Polling) {
		r.stats.Backwards++
		r.dropped(now, src, fmt.Errorf("sub-agent %d (%s), counters of %d:%d, sequence %d: %w", dg.SubAgentID, in.bridge, s.SourceIDType, s.SourceIDIndex, s.SequenceNumber, errBackwards))
		return
	}
	r.heard(in, dg.SequenceNumber, now, t)
	r.stats.Counters++
	if !port {
		b := in.b
		b.counters.store(s, now)
		if !b.registered {
			b.registered = true
			slot := b.slot
			r.reg = append(r.reg, registration{ds: agent.BridgeSource(slot), poller: r.poller(func() *cached {
				for _, b := range r.bridges {
					if b.slot == slot {
						return &b.counters
					}
				}
				return nil
			})})
		}
		return
	}
	ifIndex := s.SourceIDIndex
	p := r.ports[ifIndex]
	if p == nil {
		p = &portState{}
		r.ports[ifIndex] = p
	}
	p.counters.store(s, now)
	if !p.registered {
		p.registered = true
		r.reg = append(r.reg, registration{ds: agent.InterfaceSource(ifIndex), poller: r.poller(func() *cached {
			if p := r.ports[ifIndex]; p != nil {
				return &p.counters
			}
			return nil
		})})
	}
}

// store keeps s as a one-sample datagram made of its bytes as received.
func (c *cached) store(s *sflow.Sample, now time.Time) {
	hdr := sflow.Datagram{}
	raw := sflow.AppendDatagramHeader(c.raw[:0], &hdr, 1)
	raw = binary.BigEndian.AppendUint32(raw, uint32(s.Tag))
	raw = binary.BigEndian.AppendUint32(raw, uint32(len(s.Raw)))
	c.raw, c.at = append(raw, s.Raw...), now
}

// poller serves the cached counters that find returns on the agent's
// schedule; counters older than three intervals are not sent.
func (r *Relay) poller(find func() *cached) agent.Poller {
	return agent.PollerFunc(func(recs []sflow.Record) ([]sflow.Record, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		c := find()
		if c == nil || len(c.raw) == 0 || r.now().Sub(c.at) > 3*r.cfg.Polling {
			return recs, nil
		}
		dg, err := r.pollDec.Decode(c.raw)
		if err != nil || len(dg.Samples) != 1 {
			return recs, fmt.Errorf("cached OVS counters: %v", err)
		}
		return append(recs, dg.Samples[0].Records...), nil
	})
}

// apply carries out the registrations collected under mu, without holding
// it (the agent's lock must not be taken inside mu), in the order they were
// collected: applyMu keeps a later batch from overtaking an earlier one.
func (r *Relay) apply() {
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	r.mu.Lock()
	reg := r.reg
	r.reg = nil
	r.mu.Unlock()
	for _, g := range reg {
		if g.remove {
			r.sink.Unregister(SourceName, g.ds)
		} else {
			r.sink.RegisterPriority(SourceName, g.ds, g.poller, mergePriority)
		}
	}
}

// submit hands the flow samples of the last datagram to the agent. Only the
// read goroutine uses r.flows, so it needs no lock.
func (r *Relay) submit() {
	for i, f := range r.flows {
		if err := r.sink.SubmitFlow(f.ds, f.s); err != nil {
			r.log.Debug("flow sample not relayed", "err", err)
		}
		r.flows[i] = flowOut{}
	}
	r.flows = r.flows[:0]
}

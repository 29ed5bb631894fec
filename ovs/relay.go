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
	// Listen is the intake address (default 127.0.0.1 on a free port).
	Listen netip.AddrPort
	// Allow lists the senders accepted (default: loopback only).
	Allow []netip.Prefix
	// Polling is gwd's counter interval; OVS counters older than three
	// intervals are no longer relayed.
	Polling time.Duration
}

// Sink is what the relay needs of the agent.
type Sink interface {
	RegisterPriority(source string, ds agent.DataSource, p agent.Poller, priority int)
	Unregister(source string, ds agent.DataSource)
	SubmitFlow(ds agent.DataSource, s *sflow.Sample) error
}

// RelayStats counts what the relay received.
type RelayStats struct {
	Datagrams   uint64 // accepted datagrams
	FlowSamples uint64 // flow samples relayed
	Counters    uint64 // counter samples cached for the agent's schedule
	Foreign     uint64 // datagrams from senders not allowed, dropped
	Unmapped    uint64 // samples whose bridge is not known yet, dropped
	Bad         uint64 // datagrams that did not decode
}

// ovsAgent is what the relay remembers of one OVS sub-agent (one bridge).
type ovsAgent struct {
	uptime uint32
	bridge string // learned from the ports its samples name
}

// bridgeState is one bridge: its data source slot, the offsets that keep
// sample_pool and drops monotonic across OVS restarts, its cached counters.
type bridgeState struct {
	slot                uint32
	poolOff, dropsOff   uint32
	lastPool, lastDrops uint32
	counters            cached
	registered          bool
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
type Relay struct {
	cfg  RelayConfig
	sink Sink
	log  *slog.Logger
	conn *net.UDPConn

	dec sflow.Decoder // read goroutine only

	mu         sync.Mutex
	portBridge map[uint32]string // kernel ifIndex -> bridge, from OVSDB
	bridges    map[string]*bridgeState
	ports      map[uint32]*portState
	subs       map[uint32]*ovsAgent
	stats      RelayStats
	pollDec    sflow.Decoder // used by pollers, under mu
	now        func() time.Time

	// actions collected under mu and carried out after it is released
	// (the agent's lock must never be taken while holding mu).
	reg   []registration
	flows []flowOut // read goroutine only
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
	if len(cfg.Allow) == 0 {
		cfg.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	if cfg.Polling <= 0 {
		cfg.Polling = 20 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(cfg.Listen))
	if err != nil {
		return nil, fmt.Errorf("ovs relay: listen on %s: %w", cfg.Listen, err)
	}
	_ = conn.SetReadBuffer(4 << 20)
	return &Relay{
		cfg: cfg, sink: sink, log: log, conn: conn,
		portBridge: map[uint32]string{}, bridges: map[string]*bridgeState{},
		ports: map[uint32]*portState{}, subs: map[uint32]*ovsAgent{}, now: time.Now,
	}, nil
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

// Log is the relay's logger.
func (r *Relay) Log() *slog.Logger { return r.log }

// Stats returns the relay's counters.
func (r *Relay) Stats() RelayStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

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
		r.handle(b[:n], src.Addr())
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
	r.ports, r.bridges = map[uint32]*portState{}, map[string]*bridgeState{}
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
	for ifIndex, p := range r.ports {
		if _, ok := r.portBridge[ifIndex]; !ok {
			if p.registered {
				r.reg = append(r.reg, registration{ds: agent.InterfaceSource(ifIndex), remove: true})
			}
			delete(r.ports, ifIndex)
		}
	}
	for name, b := range r.bridges {
		if !names[name] {
			if b.registered {
				r.reg = append(r.reg, registration{ds: agent.BridgeSource(b.slot), remove: true})
			}
			delete(r.bridges, name)
		}
	}
	for _, s := range r.subs {
		if !names[s.bridge] {
			s.bridge = ""
		}
	}
	r.mu.Unlock()
	r.apply()
}

// handle processes one datagram from src.
func (r *Relay) handle(b []byte, src netip.Addr) {
	r.mu.Lock()
	if !r.allowed(src) {
		r.stats.Foreign++
		r.mu.Unlock()
		return
	}
	dg, err := r.dec.Decode(b)
	if err != nil && dg == nil {
		r.stats.Bad++
		r.mu.Unlock()
		return
	}
	if err != nil {
		r.stats.Bad++
	}
	r.stats.Datagrams++
	sub := r.subs[dg.SubAgentID]
	if sub == nil {
		sub = &ovsAgent{}
		r.subs[dg.SubAgentID] = sub
	}
	if dg.Uptime < sub.uptime {
		// OVS restarted this agent (its sFlow row changed, or vswitchd
		// restarted): its numbering of bridges may have changed, and its
		// pools start again from zero.
		if b := r.bridges[sub.bridge]; b != nil {
			b.restart()
		}
		sub.bridge = ""
	}
	sub.uptime = dg.Uptime
	var now time.Time
	for i := range dg.Samples {
		s := &dg.Samples[i]
		switch s.Tag {
		case sflow.SampleFlow, sflow.SampleFlowExpanded:
			r.flowLocked(sub, s)
		case sflow.SampleCounters, sflow.SampleCountersExpanded:
			if now.IsZero() {
				now = r.now()
			}
			r.countersLocked(sub, s, now)
		}
	}
	needApply := len(r.reg) > 0
	r.mu.Unlock()
	r.submit()
	if needApply {
		r.apply()
	}
}

func (r *Relay) allowed(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.cfg.Allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// learn maps an OVS sub-agent to the bridge of a port its sample names.
func (r *Relay) learn(sub *ovsAgent, ifIndex uint32) {
	if br, ok := r.portBridge[ifIndex]; ok {
		sub.bridge = br
	}
}

// bridgeOf returns the state of the sub-agent's bridge, or nil when it is
// not known yet (then the only bridge, if there is just one).
func (r *Relay) bridgeOf(sub *ovsAgent) *bridgeState {
	name := sub.bridge
	if name == "" {
		seen := map[string]bool{}
		for _, b := range r.portBridge {
			seen[b] = true
		}
		if len(seen) != 1 {
			return nil
		}
		for b := range seen {
			name = b
		}
	}
	b := r.bridges[name]
	if b == nil {
		b = &bridgeState{slot: r.slotFor(name)}
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

// restart folds the last pool and drops into the offsets, so the values
// sent keep growing after OVS starts counting again from zero.
func (b *bridgeState) restart() {
	b.poolOff += b.lastPool
	b.dropsOff += b.lastDrops
	b.lastPool, b.lastDrops = 0, 0
}

func (r *Relay) flowLocked(sub *ovsAgent, s *sflow.Sample) {
	if s.Input.Format == 0 {
		r.learn(sub, s.Input.Value)
	}
	if sub.bridge == "" && s.Output.Format == 0 {
		r.learn(sub, s.Output.Value)
	}
	b := r.bridgeOf(sub)
	if b == nil {
		r.stats.Unmapped++
		return
	}
	if s.SamplePool < b.lastPool && b.lastPool-s.SamplePool < 1<<31 {
		b.restart() // went backwards by less than a wrap: a restart
	}
	b.lastPool, b.lastDrops = s.SamplePool, s.Drops
	s.SamplePool += b.poolOff
	s.Drops += b.dropsOff
	r.stats.FlowSamples++
	r.flows = append(r.flows, flowOut{ds: agent.BridgeSource(b.slot), s: s})
}

func (r *Relay) countersLocked(sub *ovsAgent, s *sflow.Sample, now time.Time) {
	switch {
	case s.SourceIDType == 0:
		ifIndex := s.SourceIDIndex
		r.learn(sub, ifIndex)
		if _, ok := r.portBridge[ifIndex]; !ok {
			r.stats.Unmapped++
			return
		}
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
	case s.SourceIDType == 2 && s.SourceIDIndex >= 1000:
		b := r.bridgeOf(sub)
		if b == nil {
			r.stats.Unmapped++
			return
		}
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
	default:
		return
	}
	r.stats.Counters++
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
// it (the agent's lock must not be taken inside mu).
func (r *Relay) apply() {
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

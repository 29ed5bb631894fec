package sample

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"

	nflog "github.com/florianl/go-nflog/v2"
	"github.com/mdlayher/netlink"
	vnl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// NFLOGConfig says which group to read and how it was sampled.
type NFLOGConfig struct {
	Group       uint16
	Probability float64 // of the user's rule, 0 < p <= 1
	Rate        uint32  // the wanted 1-in-N rate
	HeaderBytes int
	// InstallRule: gwd adds the sampling rule itself (nftables table inet
	// gwd_sample, 1 in round(1/Probability) at random) and deletes it
	// when it stops; on Interfaces only when given.
	InstallRule bool
	Interfaces  []string
}

// NFLOGSource reads one NFLOG group. Open it in the network namespace
// whose rules log to the group (NFLOG is per namespace): its sockets stay
// there whatever goroutine runs it afterwards.
type NFLOGSource struct {
	cfg      NFLOGConfig
	log      *slog.Logger
	nf       *nflog.Nflog
	sampler  *nflogSampler
	counters *linkCounters
	rule     *nflogRule
}

// OpenNFLOG opens the NFLOG socket and a netlink socket for interface
// counters in the calling thread's network namespace.
func OpenNFLOG(cfg NFLOGConfig, log *slog.Logger) (*NFLOGSource, error) {
	if cfg.Probability <= 0 || cfg.Probability > 1 {
		return nil, fmt.Errorf("modules.nflog: probability %v outside (0, 1]", cfg.Probability)
	}
	nf, err := nflog.Open(&nflog.Config{Group: cfg.Group, Copymode: nflog.CopyPacket,
		Bufsize: uint32(cfg.HeaderBytes) + 64, Logger: quietNflog{}})
	if err != nil {
		if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EAFNOSUPPORT) {
			return nil, absent("NFLOG (nfnetlink_log)", err)
		}
		return nil, fmt.Errorf("modules.nflog: opening NFLOG group %d: %w", cfg.Group, err)
	}
	var rule *nflogRule
	if cfg.InstallRule {
		if rule, err = installNFLOGRule(cfg.Group, ruleModulus(cfg.Probability), uint32(cfg.HeaderBytes), cfg.Interfaces); err != nil {
			nf.Close()
			return nil, err
		}
	}
	// A burst larger than the buffer is counted as drops, not fatal.
	_ = nf.SetOption(netlink.NoENOBUFS, false)
	_ = nf.Con.SetReadBuffer(2 << 20)
	h, err := vnl.NewHandle()
	if err != nil {
		log.Warn("no interface counters for sample_pool; it grows by the rate per sample", "err", err)
	}
	s := &NFLOGSource{cfg: cfg, log: log, nf: nf, counters: newLinkCounters(h), rule: rule}
	s.sampler = newNFLOGSampler(cfg, s.counters)
	return s, nil
}

// Rate is the sampling rate the samples carry: the wanted rate rounded up
// to a multiple of the rule's 1/probability.
func (s *NFLOGSource) Rate() uint32 { return s.sampler.actual }

// Run binds the group and hands samples to to until ctx ends; done is
// closed once the socket is closed. A group another process holds is an
// error here.
func (s *NFLOGSource) Run(ctx context.Context, to Submitter, done chan struct{}) error {
	ctx, cancel := context.WithCancel(ctx)
	var lastErr atomic.Value
	hook := func(a nflog.Attribute) int {
		if err := s.sampler.handle(&a, to); err != nil {
			if prev, _ := lastErr.Load().(string); prev != err.Error() {
				lastErr.Store(err.Error())
				s.log.Warn("nflog sample", "err", err)
			}
		}
		return 0
	}
	onErr := func(err error) int {
		if ctx.Err() != nil {
			return 1
		}
		if errors.Is(err, unix.ENOBUFS) {
			s.sampler.drops.Add(1)
			return 0
		}
		var ne netTimeout
		if errors.As(err, &ne) && ne.Timeout() {
			return 0
		}
		s.log.Warn("nflog receive", "err", err)
		time.Sleep(100 * time.Millisecond)
		return 0
	}
	if err := s.nf.RegisterWithErrorFunc(ctx, hook, onErr); err != nil {
		cancel()
		s.close()
		return fmt.Errorf("modules.nflog: binding NFLOG group %d: %w", s.cfg.Group, err)
	}
	s.log.Info("nflog sampling", "group", s.cfg.Group, "probability", s.cfg.Probability,
		"rate", s.sampler.actual, "sub_sampling", s.sampler.sub)
	go func() {
		<-ctx.Done()
		cancel()
		s.close()
		close(done)
	}()
	return nil
}

// close closes the sockets and removes the rule gwd installed.
func (s *NFLOGSource) close() {
	s.nf.Close()
	s.counters.close()
	if err := s.rule.remove(); err != nil {
		s.log.Warn("nflog", "err", err)
	}
}

type netTimeout interface{ Timeout() bool }

// quietNflog keeps the library silent: gwd logs what matters itself.
type quietNflog struct{}

func (quietNflog) Debugf(string, ...any) {}
func (quietNflog) Errorf(string, ...any) {}

// nflogSampler turns NFLOG messages into flow samples: sub-sampling,
// header, interfaces, pool. handle runs on one goroutine.
type nflogSampler struct {
	sub, actual uint32
	skip        uint32
	counters    *linkCounters
	b           *builder
	frame       []byte // Ethernet header + payload scratch
	pools       map[uint32]*poolState
	drops       atomic.Uint32
	rnd         *rand.PCG
	taken       uint64
}

type poolState struct {
	base   uint64 // counter when first seen
	pool   uint32
	inited bool
}

func newNFLOGSampler(cfg NFLOGConfig, counters *linkCounters) *nflogSampler {
	// The rule forwards 1 in round(1/p); gwd takes 1 in sub of those.
	ruleN := uint32(max(1, math.Round(1/cfg.Probability)))
	sub := (max(cfg.Rate, 1) + ruleN - 1) / ruleN
	return &nflogSampler{sub: sub, actual: sub * ruleN, skip: 1, counters: counters,
		b: newBuilder(cfg.HeaderBytes), pools: map[uint32]*poolState{}, rnd: rand.NewPCG(rand.Uint64(), rand.Uint64())}
}

// nextSkip draws the number of messages to the next sample: uniform in
// 1..2*sub-1, mean sub.
func (n *nflogSampler) nextSkip() uint32 {
	if n.sub <= 1 {
		return 1
	}
	return 1 + uint32(n.rnd.Uint64()%uint64(2*n.sub-1))
}

// handle takes one NFLOG message.
func (n *nflogSampler) handle(a *nflog.Attribute, to Submitter) error {
	if a.Payload == nil || len(*a.Payload) == 0 {
		return errors.New("NFLOG message without a packet (NFULA_PAYLOAD): is the rule's copy range 0?")
	}
	if n.skip--; n.skip > 0 {
		return nil
	}
	n.skip = n.nextSkip()
	p, err := n.packet(a)
	if err != nil {
		return err
	}
	n.taken++
	return n.b.submit(to, &p)
}

// packet builds the sampled packet of an NFLOG message (after sampling).
func (n *nflogSampler) packet(a *nflog.Attribute) (packet, error) {
	payload := *a.Payload
	proto := ipProtocol(payload)
	var p packet
	// A bridge port (physindev/physoutdev) is more precise than the
	// bridge itself, as in hsflowd.
	switch {
	case a.PhysInDev != nil && *a.PhysInDev != 0:
		p.in = *a.PhysInDev
	case a.InDev != nil:
		p.in = *a.InDev
	}
	switch {
	case a.PhysOutDev != nil && *a.PhysOutDev != 0:
		p.out = *a.PhysOutDev
	case a.OutDev != nil:
		p.out = *a.OutDev
	}
	if p.in == 0 && p.out == 0 {
		return p, errors.New("NFLOG message with neither input nor output interface")
	}
	p.frameLen = ipLength(payload)
	switch {
	case a.HwHeader != nil && len(*a.HwHeader) == 14 && proto != 0:
		// Rebuild the Ethernet frame as it was received.
		n.frame = append(append(n.frame[:0], *a.HwHeader...), payload...)
		p.header, p.protocol = n.frame, protoEthernet
		if p.frameLen != 0 {
			p.frameLen += 14
		}
	case proto != 0:
		p.header, p.protocol = payload, proto
	default:
		return p, fmt.Errorf("NFLOG packet is neither IPv4 nor IPv6 (first byte %#x)", payload[0])
	}
	if a.Timestamp != nil {
		p.nanos = uint64(a.Timestamp.UnixNano())
	}
	p.rate = n.actual
	p.drops = n.drops.Load()
	ds, rx := p.in, true
	if ds == 0 {
		ds, rx = p.out, false
	}
	p.pool = n.pool(ds, rx)
	return p, nil
}

// pool returns the sample pool of data source ifIndex ds: it grows by the
// rate with every sample, and catches up with the interface's packet
// counter (rx: received, else sent; counted from when gwd first sampled on
// it) whenever that says more.
func (n *nflogSampler) pool(ds uint32, rx bool) uint32 {
	st := n.pools[ds]
	if st == nil {
		st = &poolState{}
		n.pools[ds] = st
	}
	st.pool += n.actual
	if c, ok := n.counters.packets(ds, rx); ok {
		if !st.inited {
			st.base, st.inited = c, true
		}
		st.pool = max(st.pool, uint32(c-st.base))
	}
	return st.pool
}

// linkCounters reads interface packet counters through netlink, at most
// once a second per interface.
type linkCounters struct {
	h     *vnl.Handle
	cache map[uint32]counterEntry
	now   func() time.Time
}

type counterEntry struct {
	at     time.Time
	rx, tx uint64
	ok     bool
}

func newLinkCounters(h *vnl.Handle) *linkCounters {
	return &linkCounters{h: h, cache: map[uint32]counterEntry{}, now: time.Now}
}

func (l *linkCounters) packets(ifIndex uint32, rx bool) (uint64, bool) {
	if l == nil || l.h == nil {
		return 0, false
	}
	now := l.now()
	e, hit := l.cache[ifIndex]
	if !hit || now.Sub(e.at) >= time.Second {
		e = counterEntry{at: now}
		if link, err := l.h.LinkByIndex(int(ifIndex)); err == nil && link.Attrs().Statistics != nil {
			st := link.Attrs().Statistics
			e.rx, e.tx, e.ok = st.RxPackets, st.TxPackets, true
		}
		l.cache[ifIndex] = e
	}
	if rx {
		return e.rx, e.ok
	}
	return e.tx, e.ok
}

func (l *linkCounters) close() {
	if l != nil && l.h != nil {
		l.h.Close()
	}
}

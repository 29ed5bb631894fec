package ovs

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"gwd/sflow"
)

// How the relay tells OVS's agent instances apart.
//
// OVS runs one sFlow agent per bridge, numbered as a sub-agent, and starts
// it again (new uptime, sequence numbers and pools from zero, maybe a new
// sub-agent number) whenever its sFlow row changes, a bridge comes or goes,
// or vswitchd restarts. Its datagrams carry the agent's uptime in whole
// seconds (times 1000), so arrival time minus uptime estimates when the
// instance started, to within a second plus the datagram's delay. The relay
// keeps a small table of instances, each bound to the bridge its ports
// name, and judges every sample against its own instance:
//
//   - flow samples move forward as OVS's do: sequence number up, sample_pool
//     up by the (constant) sampling rate per sample, drops never down;
//   - counter samples' sequence numbers move forward, by at most what the
//     polling interval allows;
//   - a datagram that fits no instance claims a restart: it is followed only
//     when the new instance started after the bridge's last datagram, and
//     not sooner than RestartEvery after the bridge's last restart;
//   - an older instance of a bridge that goes on after a newer one appeared
//     shows the newer one to be a replay: it is forgotten, and the bridge
//     takes no new instance for ReplayHoldoff.
//
// Every accepted flow sample adds what its pool and drops grew by to the
// bridge's totals, which are what gwd sends: they never go backwards.
const (
	// matchSlack is how far apart the start estimates of one instance's
	// datagrams may lie: uptimes in whole seconds make them wobble by up
	// to 2 s, delays add to it.
	matchSlack = 2500 // ms
	// restartSlack is how much earlier than the bridge's last datagram a
	// new instance may seem to have started (rounding plus a difference in
	// delays).
	restartSlack = 1250 // ms
	// ReplayHoldoff is how long a bridge takes no new OVS agent instance
	// after one was found to be a replay.
	ReplayHoldoff = 10 * time.Second
	// RestartEvery is how often a bridge takes a new OVS agent instance
	// at most while it has a live one: in its first seconds an instance's
	// datagrams cannot be told from replays of another's first seconds, so
	// this bounds what such replays can repeat.
	RestartEvery = 5 * time.Second
	// maxInstances bounds the table; the least recently heard goes first.
	maxInstances = 32
	// poolFactor bounds how far a pool may grow per sample, in sampling
	// rates (OVS adds exactly one rate per sample).
	poolFactor = 16
)

// Reasons samples are dropped.
var (
	errUnmapped  = errors.New("OVS sub-agent maps to no known bridge")
	errPorts     = errors.New("sample names ports of another bridge")
	errBackwards = errors.New("sample_pool, drops or sequence number did not move forward as OVS's do")
	errStale     = errors.New("datagram claims an OVS agent restart before the bridge's last datagram (a replay)")
	errHoldoff   = errors.New("bridge takes no new OVS agent instance for a while after a replayed one")
	errTooSoon   = errors.New("OVS agent restart too soon after the last one")
)

// instance is one life of one OVS sub-agent (one bridge's sFlow agent).
type instance struct {
	sub      uint32
	bootLo   int64 // estimated start, ms on the relay's clock: the lowest and
	bootHi   int64 // the highest estimate of its datagrams (within matchSlack)
	created  int64 // ms
	lastSeen int64 // ms, last sample accepted (or creation)
	bridge   string
	b        *bridgeState // bridge's state (instances go with their bridge)
	dgSeq    uint32       // OVS's datagram sequence number, of the last datagram with a sample accepted

	flowStarted bool
	seq, pool   uint32 // OVS's, of the last accepted flow sample
	drops, rate uint32

	counters map[uint64]counterSeq // by data source (type<<32 | index)
}

// counterSeq is the last accepted counter sample of one data source.
type counterSeq struct {
	seq    uint32
	uptime uint32
}

// ms is the relay's clock in milliseconds.
func (r *Relay) ms(now time.Time) int64 { return now.Sub(r.t0).Milliseconds() }

// instanceFor finds the instance dg belongs to, or makes one when dg can
// be a restart. Without one, every sample of dg is dropped and counted
// (nil result). A datagram belongs to a live instance of its sub-agent
// whose datagram sequence number it continues and whose start estimates,
// its own included, all lie within matchSlack; the oldest such instance
// is taken, so that copies of OVS's datagrams are judged against the
// instance that sent them.
func (r *Relay) instanceFor(dg *sflow.Datagram, now time.Time, t int64, from netip.AddrPort) *instance {
	est := t - int64(dg.Uptime)
	limit := r.liveFor()
	for _, in := range r.insts {
		if d := dg.SequenceNumber - in.dgSeq; in.sub == dg.SubAgentID && d != 0 && d < 1<<31 &&
			est >= in.bootHi-matchSlack && est <= in.bootLo+matchSlack && t-in.lastSeen <= limit {
			in.bootLo, in.bootHi = min(in.bootLo, est), max(in.bootHi, est)
			return in
		}
	}
	name := r.bridgeNamed(dg)
	if name == "" {
		r.dropAll(dg, &r.stats.Unmapped, now, from, errUnmapped)
		return nil
	}
	b := r.bridge(name)
	if now.Before(b.holdUntil) {
		r.dropAll(dg, &r.stats.Stale, now, from, errHoldoff)
		return nil
	}
	r.expire(t)
	live := false
	for _, in := range r.insts {
		if in.bridge != name {
			continue
		}
		live = true
		if est < in.lastSeen-restartSlack {
			r.dropAll(dg, &r.stats.Stale, now, from, errStale)
			return nil
		}
	}
	if live {
		if now.Sub(b.lastNew) < RestartEvery {
			r.dropAll(dg, &r.stats.Stale, now, from, errTooSoon)
			return nil
		}
		r.stats.Restarts++
	}
	b.lastNew = now
	in := &instance{sub: dg.SubAgentID, bootLo: est, bootHi: est, created: t, lastSeen: t, bridge: name, b: b, dgSeq: dg.SequenceNumber - 1}
	if len(r.insts) >= maxInstances {
		oldest := 0
		for i, x := range r.insts {
			if x.lastSeen < r.insts[oldest].lastSeen {
				oldest = i
			}
		}
		r.insts = append(r.insts[:oldest], r.insts[oldest+1:]...)
	}
	r.insts = append(r.insts, in)
	return in
}

// bridgeNamed is the bridge of the first port that dg's samples name.
func (r *Relay) bridgeNamed(dg *sflow.Datagram) string {
	for i := range dg.Samples {
		s := &dg.Samples[i]
		switch s.Tag {
		case sflow.SampleFlow, sflow.SampleFlowExpanded:
			for _, p := range [2]sflow.Interface{s.Input, s.Output} {
				if br, ok := r.portBridge[p.Value]; ok && p.Format == 0 {
					return br
				}
			}
		case sflow.SampleCounters, sflow.SampleCountersExpanded:
			if br, ok := r.portBridge[s.SourceIDIndex]; ok && s.SourceIDType == 0 {
				return br
			}
		}
	}
	return ""
}

// expire forgets the instances not heard from for three polling intervals
// (OVS sends counters every interval while it runs).
func (r *Relay) expire(t int64) {
	limit := r.liveFor()
	keep := r.insts[:0]
	for _, in := range r.insts {
		if t-in.lastSeen <= limit {
			keep = append(keep, in)
		}
	}
	clear(r.insts[len(keep):])
	r.insts = keep
}

// liveFor is how long (ms) an instance lives without a sample accepted.
func (r *Relay) liveFor() int64 { return 3*r.cfg.Polling.Milliseconds() + matchSlack }

// forgetBridges removes the instances bound to bridges that are gone.
func (r *Relay) forgetBridges(names map[string]bool) {
	keep := r.insts[:0]
	for _, in := range r.insts {
		if names[in.bridge] {
			keep = append(keep, in)
		}
	}
	clear(r.insts[len(keep):])
	r.insts = keep
}

// heard notes that in had a sample of datagram dgSeq accepted at t: an instance of the same
// bridge that appeared after in did is a replay (OVS never runs two for
// one bridge), so it is forgotten and the bridge held off new ones.
func (r *Relay) heard(in *instance, dgSeq uint32, now time.Time, t int64) {
	in.lastSeen, in.dgSeq = t, dgSeq
	for i := 0; i < len(r.insts); i++ {
		x := r.insts[i]
		if x == in || x.bridge != in.bridge || x.created <= in.created {
			continue
		}
		r.stats.Replays++
		in.b.holdUntil = now.Add(ReplayHoldoff)
		r.insts = append(r.insts[:i], r.insts[i+1:]...)
		i--
	}
}

// portOK checks a flow sample's port: unknown (0), internal (0x3fffffff),
// a format other than a single ifIndex, or a port not in OVSDB are fine; a
// port of another bridge is not.
func (r *Relay) portOK(p sflow.Interface, bridge string) bool {
	if p.Format != 0 {
		return true
	}
	br, ok := r.portBridge[p.Value]
	return !ok || br == bridge
}

// acceptFlow checks a flow sample against its instance and returns by how
// much the pool and drops grew since the instance's last accepted sample.
// Sequence number and pool grow together, by one sampling rate per sample
// in OVS (a margin allows for counting real packets); drops never grow
// more than the pool; the sampling rate stays. A value that went back
// shows as a huge (wrapped) difference.
func (in *instance) acceptFlow(s *sflow.Sample) (dPool, dDrops uint32, ok bool) {
	rate := uint64(max(s.SamplingRate, 1))
	if !in.flowStarted {
		// The instance's first: counted from zero when it looks like
		// OVS's own count from the instance's start; otherwise (pools of
		// a long-running OVS wrap) it only sets where the next ones are
		// counted from.
		dSeq, dp, dd := uint64(s.SequenceNumber), uint64(s.SamplePool), uint64(s.Drops)
		if dSeq == 0 || 2*dp < rate*dSeq || dp > poolFactor*rate*dSeq || dd > dp {
			dp, dd = rate, 0
		}
		in.flowStarted = true
		in.seq, in.pool, in.drops, in.rate = s.SequenceNumber, s.SamplePool, s.Drops, s.SamplingRate
		return uint32(dp), uint32(dd), true
	}
	dSeq := uint64(s.SequenceNumber - in.seq)
	dp := uint64(s.SamplePool - in.pool)
	dd := uint64(s.Drops - in.drops)
	if s.SamplingRate != in.rate || dSeq == 0 || dSeq >= 1<<31 || dp == 0 || dp >= 1<<31 ||
		2*dp < rate*dSeq || dp > poolFactor*rate*dSeq || dd > dp {
		return 0, 0, false
	}
	in.seq, in.pool, in.drops = s.SequenceNumber, s.SamplePool, s.Drops
	return uint32(dp), uint32(dd), true
}

// acceptCounters checks a counter sample's sequence number: forward, and
// by no more than the polling interval allows since the last one.
func (in *instance) acceptCounters(s *sflow.Sample, uptime uint32, polling time.Duration) bool {
	key := uint64(s.SourceIDType)<<32 | uint64(s.SourceIDIndex)
	last, seen := in.counters[key]
	if seen {
		d := s.SequenceNumber - last.seq
		elapsed := int64(uptime) - int64(last.uptime)
		if d == 0 || d >= 1<<31 || elapsed < 0 || int64(d) > elapsed/max(polling.Milliseconds(), 1000)+2 {
			return false
		}
	}
	if in.counters == nil {
		in.counters = map[uint64]counterSeq{}
	}
	in.counters[key] = counterSeq{seq: s.SequenceNumber, uptime: uptime}
	return true
}

// dropAll counts every flow and counter sample of dg in *n.
func (r *Relay) dropAll(dg *sflow.Datagram, n *uint64, now time.Time, from netip.AddrPort, err error) {
	k := uint64(0)
	for i := range dg.Samples {
		switch dg.Samples[i].Tag {
		case sflow.SampleFlow, sflow.SampleFlowExpanded, sflow.SampleCounters, sflow.SampleCountersExpanded:
			k++
		}
	}
	if k == 0 {
		return
	}
	*n += k
	r.dropped(now, from, fmt.Errorf("sub-agent %d, uptime %d ms: %w", dg.SubAgentID, dg.Uptime, err))
}

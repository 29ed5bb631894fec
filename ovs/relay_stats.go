package ovs

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"
)

// RelayStats counts what the relay received and what became of it. The
// counts only grow.
type RelayStats struct {
	Received    uint64 // datagrams read from the intake socket
	Datagrams   uint64 // datagrams accepted: allowed sender, decoded completely
	FlowSamples uint64 // flow samples relayed
	Counters    uint64 // counter samples cached for the agent's schedule
	Foreign     uint64 // datagrams rejected by sender: address not allowed, or an agent address OVS was not given
	Bad         uint64 // datagrams rejected as malformed: not decoded completely
	Unmapped    uint64 // samples dropped: their OVS sub-agent or ports map to no known bridge
	Backwards   uint64 // samples dropped: sample_pool, drops or OVS's sequence number not moving forward as OVS's do
	Stale       uint64 // samples dropped: their datagram claims an OVS agent restart that cannot be one (a replay)
	Restarts    uint64 // OVS agent restarts followed (pools and drops carried on from where they were)
	Replays     uint64 // OVS agent instances found to be replays after the fact, and forgotten
}

// rejections is the sum of what was rejected or dropped.
func (s RelayStats) rejections() uint64 {
	return s.Foreign + s.Bad + s.Unmapped + s.Backwards + s.Stale + s.Replays
}

func (s RelayStats) sub(o RelayStats) RelayStats {
	return RelayStats{
		Received: s.Received - o.Received, Datagrams: s.Datagrams - o.Datagrams,
		FlowSamples: s.FlowSamples - o.FlowSamples, Counters: s.Counters - o.Counters,
		Foreign: s.Foreign - o.Foreign, Bad: s.Bad - o.Bad, Unmapped: s.Unmapped - o.Unmapped,
		Backwards: s.Backwards - o.Backwards, Stale: s.Stale - o.Stale,
		Restarts: s.Restarts - o.Restarts, Replays: s.Replays - o.Replays,
	}
}

// describe lists the non-zero rejection counts, e.g. "12 malformed, 3
// foreign".
func (s RelayStats) describe() string {
	var parts []string
	for _, c := range []struct {
		n    uint64
		what string
	}{
		{s.Bad, "malformed"}, {s.Foreign, "foreign"}, {s.Unmapped, "unmapped"},
		{s.Backwards, "backwards"}, {s.Stale, "stale"}, {s.Replays, "replayed agents"},
	} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	return strings.Join(parts, ", ")
}

// LogEvery is the shortest time between two log lines about rejected
// datagrams (and between two about dropped samples).
const LogEvery = 10 * time.Second

// HealthWindow is how long rejections keep the relay unhealthy: Health
// reports what was rejected in the current window and the one before.
const HealthWindow = 10 * time.Second

// limiter logs one line per LogEvery at most for one kind of trouble,
// with the count since its last line and the latest sender and error.
type limiter struct {
	msg    string
	logged time.Time // when the last line was written
	n      uint64    // occurrences since that line
	err    error
	from   netip.AddrPort
}

// note records one occurrence and logs when the last line is old enough.
func (l *limiter) note(log *slog.Logger, now time.Time, from netip.AddrPort, err error) {
	l.n++
	l.err, l.from = err, from
	l.flush(log, now)
}

// flush logs the occurrences not logged yet, at most once per LogEvery.
func (l *limiter) flush(log *slog.Logger, now time.Time) {
	if l.n == 0 || (!l.logged.IsZero() && now.Sub(l.logged) < LogEvery) {
		return
	}
	log.Warn(l.msg, "count", l.n, "from", l.from.String(), "err", l.err)
	l.logged, l.n = now, 0
}

// healthState remembers the counts at the start of the current health
// window and the rejections of the window before it.
type healthState struct {
	start     time.Time
	base      RelayStats // totals at start
	prevStart time.Time  // start of the window before
	previous  RelayStats // what the window before start saw
	lastErr   error
	lastFrom  netip.AddrPort
}

// Stats returns the relay's counts so far.
func (r *Relay) Stats() RelayStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Health reports nil while the intake is clean, or an error that counts
// what was rejected or dropped in the current HealthWindow and the one
// before, and names the latest sender and reason. The wiring joins it to the OVS
// source's health; calling it also writes any log line about rejections
// still held back by LogEvery.
func (r *Relay) Health() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	r.rejectLog.flush(r.log, now)
	r.dropLog.flush(r.log, now)
	h := &r.health
	if h.start.IsZero() {
		h.start, h.prevStart = now, now
	}
	if now.Sub(h.start) >= HealthWindow {
		h.previous = r.stats.sub(h.base)
		h.base, h.prevStart, h.start = r.stats, h.start, now
	}
	cur := r.stats.sub(h.base)
	if cur.rejections()+h.previous.rejections() == 0 {
		return nil
	}
	sum := cur
	sum.Foreign += h.previous.Foreign
	sum.Bad += h.previous.Bad
	sum.Unmapped += h.previous.Unmapped
	sum.Backwards += h.previous.Backwards
	sum.Stale += h.previous.Stale
	sum.Replays += h.previous.Replays
	return fmt.Errorf("ovs relay: rejected in the last %v: %s; latest from %s: %w",
		max(now.Sub(h.prevStart), HealthWindow).Round(time.Second), sum.describe(), h.lastFrom, h.lastErr)
}

// LogTotals logs the relay's counts (gwd calls it at exit).
func (r *Relay) LogTotals() {
	s := r.Stats()
	r.log.Info("ovs relay totals", "received", s.Received, "accepted", s.Datagrams,
		"flow_samples", s.FlowSamples, "counter_samples", s.Counters,
		"malformed", s.Bad, "foreign", s.Foreign, "unmapped", s.Unmapped,
		"backwards", s.Backwards, "stale", s.Stale, "restarts", s.Restarts, "replays", s.Replays)
}

// rejected counts nothing itself: it logs (rate-limited) and remembers a
// rejected datagram for Health. Called under mu.
func (r *Relay) rejected(now time.Time, from netip.AddrPort, err error) {
	r.health.lastErr, r.health.lastFrom = err, from
	r.rejectLog.note(r.log, now, from, err)
}

// dropped does the same for dropped samples. Called under mu.
func (r *Relay) dropped(now time.Time, from netip.AddrPort, err error) {
	r.health.lastErr, r.health.lastFrom = err, from
	r.dropLog.note(r.log, now, from, err)
}

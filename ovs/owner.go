package ovs

import (
	"cmp"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Who owns gwd's sFlow row, and what the programmer does when somebody
// else changes it.
//
// Every write of the row stamps the writer's Identity into external_ids
// (next to gwd-owner=gwd, which stays the mark that finds the row). After
// each converge the programmer remembers what it left ("settled"): the
// row's content and identity, and which bridges point at it. A later
// converge that would have to write although gwd's wish is unchanged, to
// undo a change to something that was settled (the row's content, a
// bridge that pointed at the row and no longer does, or one that now
// points at it and must not), is a correction of somebody else's write:
//
//   - When the identity in the row changed since the settle to another gwd
//     that started earlier (two gwd processes on one OVSDB), this one
//     yields: it leaves the row alone while it carries that identity, and
//     Status says so. It takes over again once that row is gone or carries
//     another identity. The older gwd keeps correcting.
//   - Otherwise (a younger gwd, a human with ovs-vsctl, another tool) the
//     programmer corrects, at most once per correction interval after its
//     own last write: 10 s, doubling per correction up to a minute while the
//     changes go on. One WARN opens such an episode, naming the other owner
//     when the row carries its identity; an INFO closes it after a minute
//     without foreign changes. Corrections themselves log at debug level.
//
// A first write (nothing settled yet, as after a start or a restart that
// finds a crashed gwd's row) and writes for a changed wish (Set, a new
// bridge, a faster port) are not corrections: they go out at once.

// Identity keys in the sFlow row's external_ids.
const (
	HostKey  = "gwd-host"  // host name of the gwd that last wrote the row
	PIDKey   = "gwd-pid"   // its process id
	StartKey = "gwd-start" // when it started, RFC 3339 with nanoseconds
)

// Correction pacing.
const (
	minCorrection = 10 * time.Second // first correction interval of an episode
	maxCorrection = time.Minute      // the interval stops doubling here; an episode ends after this long without foreign change
	awaitEcho     = 2 * time.Second  // how long a converge waits for the cache to show gwd's own last write
)

// processStart is when this process started (package initialization).
var processStart = time.Now()

// Identity names one gwd process. It goes into external_ids of the sFlow
// row at each write.
type Identity struct {
	Host  string    // host name
	PID   int       // process id
	Start time.Time // process start time
}

// DefaultIdentity is this process: os.Hostname, os.Getpid and the time the
// process started.
func DefaultIdentity() Identity {
	h, _ := os.Hostname()
	return Identity{Host: h, PID: os.Getpid(), Start: processStart}
}

// withDefaults fills the zero fields from DefaultIdentity and drops the
// monotonic clock reading and location of Start (as a round trip through
// external_ids would).
func (id Identity) withDefaults() Identity {
	d := DefaultIdentity()
	if id.Host == "" {
		id.Host = d.Host
	}
	if id.PID == 0 {
		id.PID = d.PID
	}
	if id.Start.IsZero() {
		id.Start = d.Start
	}
	id.Start = id.Start.Round(0).UTC()
	return id
}

// valid reports whether the identity names a process (all keys present
// and well-formed).
func (id Identity) valid() bool { return id.Host != "" && id.PID > 0 && !id.Start.IsZero() }

func (id Identity) equal(o Identity) bool {
	return id.Host == o.Host && id.PID == o.PID && id.Start.Equal(o.Start)
}

// older reports whether id started before o (ties broken by host, then
// pid, so that of two gwd processes exactly one is older).
func (id Identity) older(o Identity) bool {
	if c := id.Start.Compare(o.Start); c != 0 {
		return c < 0
	}
	return cmp.Or(cmp.Compare(id.Host, o.Host), cmp.Compare(id.PID, o.PID)) < 0
}

func (id Identity) String() string {
	if !id.valid() {
		return "unknown"
	}
	return fmt.Sprintf("gwd pid %d on %s, started %s", id.PID, id.Host, id.Start.Format(time.RFC3339))
}

// ids are the identity's external_ids entries.
func (id Identity) ids() map[string]string {
	return map[string]string{HostKey: id.Host, PIDKey: strconv.Itoa(id.PID), StartKey: id.Start.Format(time.RFC3339Nano)}
}

// identityOf reads the identity in an sFlow row's external_ids (invalid
// when missing or malformed).
func identityOf(ext map[string]string) Identity {
	var id Identity
	id.Host = ext[HostKey]
	id.PID, _ = strconv.Atoi(ext[PIDKey])
	id.Start, _ = time.Parse(time.RFC3339Nano, ext[StartKey])
	if !id.valid() {
		return Identity{}
	}
	return id
}

// mergeIDs is the external_ids gwd writes: the row's current entries with
// its mark and identity replaced.
func mergeIDs(cur map[string]string, id Identity) map[string]string {
	out := maps.Clone(cur)
	if out == nil {
		out = map[string]string{}
	}
	out[OwnerKey] = OwnerValue
	maps.Copy(out, id.ids())
	return out
}

// YieldError is the programmer's state while another gwd, started
// earlier, keeps the sFlow row: this one leaves it alone.
type YieldError struct{ Other Identity }

func (e *YieldError) Error() string {
	return fmt.Sprintf("OVS's sFlow row belongs to another gwd (%s): this one leaves it alone; stop one of them", e.Other)
}

// settledState is what the programmer left at its last converge.
type settledState struct {
	row    desiredRow
	ids    Identity        // identity in gwd's row then
	ours   map[string]bool // bridges pointing at an owned row
	others map[string]bool // the other bridges
}

// owner keeps the row's ownership state for converge (one goroutine).
type owner struct {
	me        Identity
	log       *slog.Logger
	settled   *settledState
	lastWrite time.Time
	await     struct {
		until  time.Time
		before string // fingerprint of the snapshot gwd wrote over
	}
	episode struct {
		active      bool
		interval    time.Duration
		lastForeign time.Time
	}
	yield *Identity
}

// decision is what converge does with a non-empty plan.
type decision struct {
	write      bool
	correction bool      // the write undoes somebody else's
	retry      time.Time // no write now: converge again at retry (zero: on the next event)
	err        error     // the state to report (a *YieldError)
}

// yielded reports, before anything else is decided, whether the
// programmer still leaves the row to the gwd it yielded to: while the
// row named by keeper carries that gwd's identity. Otherwise it resumes.
func (o *owner) yielded(sn *snapshot, keeper string) *YieldError {
	if o.yield == nil {
		return nil
	}
	if keeper != "" && identityOf(sn.sflows[keeper].ExternalIDs).equal(*o.yield) {
		return &YieldError{Other: *o.yield}
	}
	o.log.Info("the other gwd no longer holds OVS's sFlow row: taking it over", "other", o.yield.String())
	o.yield, o.settled = nil, nil
	return nil
}

// settle records a converged snapshot (plan empty) and closes a quiet
// episode.
func (o *owner) settle(sn *snapshot, pl plan, now time.Time) {
	st := &settledState{row: pl.row, ours: map[string]bool{}, others: map[string]bool{}}
	if pl.keeper != "" {
		st.ids = identityOf(sn.sflows[pl.keeper].ExternalIDs)
	}
	for u, b := range sn.bridges {
		if b.SFlow != nil && owned(sn.sflows[*b.SFlow]) {
			st.ours[u] = true
		} else {
			st.others[u] = true
		}
	}
	o.settled = st
	o.await.until = time.Time{}
	if o.episode.active && now.Sub(o.episode.lastForeign) >= maxCorrection {
		o.episode.active = false
		o.log.Info("OVS's sFlow row no longer changed by others", "quiet_for", now.Sub(o.episode.lastForeign).Round(time.Second))
	}
}

// decide classifies a non-empty plan: a write for a changed wish goes out
// at once; a correction of somebody else's change is paced, or abandoned
// to an older gwd.
func (o *owner) decide(sn *snapshot, pl plan, now time.Time) decision {
	if now.Before(o.await.until) && sn.fingerprint() == o.await.before {
		// The cache does not show gwd's last write yet: not a change.
		return decision{retry: o.await.until}
	}
	o.await.until = time.Time{}
	if !o.foreign(sn, pl) {
		return decision{write: true}
	}
	var cur Identity
	if pl.keeper != "" {
		cur = identityOf(sn.sflows[pl.keeper].ExternalIDs)
	}
	var other Identity // the writer, when the row carries a new identity
	if cur.valid() && !cur.equal(o.me) && !cur.equal(o.settled.ids) {
		other = cur
	}
	if other.valid() && other.older(o.me) {
		o.yield = &other
		o.settled = nil
		o.episode.active = false
		return decision{err: &YieldError{Other: other}}
	}
	if !o.episode.active {
		o.episode.active = true
		o.episode.interval = minCorrection
		args := []any{"min_interval", minCorrection, "max_interval", maxCorrection}
		if other.valid() {
			args = append(args, "other_host", other.Host, "other_pid", other.PID, "other_start", other.Start.Format(time.RFC3339))
		} else {
			args = append(args, "other", "unknown (no gwd identity in the row: ovs-vsctl or another tool?)")
		}
		o.log.Warn("OVS's sFlow row was changed by somebody else: correcting it at a slowing pace", args...)
	}
	o.episode.lastForeign = now
	if at := o.lastWrite.Add(o.episode.interval); now.Before(at) {
		return decision{retry: at}
	}
	return decision{write: true, correction: true}
}

// foreign reports whether the plan undoes a change made since the settle
// by somebody else while gwd's wish stayed the same.
func (o *owner) foreign(sn *snapshot, pl plan) bool {
	st := o.settled
	if st == nil {
		return false
	}
	sameWish := pl.row.same(st.row)
	if sameWish && (pl.update || pl.create && len(st.ours) > 0) {
		return true // the row's content changed, or the row went away
	}
	for _, u := range pl.attach {
		if st.ours[u] {
			return true // a bridge no longer points at gwd's row
		}
	}
	for _, u := range pl.detach {
		if st.others[u] {
			return true // somebody attached gwd's row where it must not be
		}
	}
	return false
}

// wrote records a successful write of plan pl over snapshot sn.
func (o *owner) wrote(sn *snapshot, pl plan, now time.Time, correction bool) {
	st := &settledState{row: pl.row, ids: o.me, ours: map[string]bool{}, others: map[string]bool{}}
	for u, b := range sn.bridges {
		if b.SFlow != nil && owned(sn.sflows[*b.SFlow]) {
			st.ours[u] = true
		}
	}
	for _, u := range pl.detach {
		delete(st.ours, u)
	}
	for _, u := range pl.attach {
		st.ours[u] = true
	}
	for u := range sn.bridges {
		if !st.ours[u] {
			st.others[u] = true
		}
	}
	o.settled = st
	o.lastWrite = now
	o.await.until, o.await.before = now.Add(awaitEcho), sn.fingerprint()
	if correction {
		o.episode.interval = min(2*o.episode.interval, maxCorrection)
	}
}

// fingerprint summarizes what the programmer writes in a snapshot: every
// bridge's sflow reference and every owned row.
func (sn *snapshot) fingerprint() string {
	var b strings.Builder
	for _, u := range slices.Sorted(maps.Keys(sn.bridges)) {
		fmt.Fprintf(&b, "%s=%s;", u, deref(sn.bridges[u].SFlow))
	}
	for _, u := range slices.Sorted(maps.Keys(sn.sflows)) {
		r := sn.sflows[u]
		if owned(r) {
			fmt.Fprintf(&b, "%s:%q|%d|%d|%d|%q|%v;", u, deref(r.Agent), deref(r.Header), deref(r.Polling),
				deref(r.Sampling), sortedCopy(r.Targets), r.ExternalIDs)
		}
	}
	return b.String()
}

// same reports whether two wishes are equal.
func (d desiredRow) same(o desiredRow) bool {
	return eqPtr(d.agent, o.agent) && eqPtr(d.header, o.header) && eqPtr(d.polling, o.polling) &&
		eqPtr(d.sampling, o.sampling) && slices.Equal(d.targets, o.targets)
}

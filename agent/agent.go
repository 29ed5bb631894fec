package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	"gwd/sflow"
)

// Poller fills the counter records of one data source.
type Poller interface {
	// Poll appends the data source's current counter records to recs and
	// returns the result. The poller may reuse the records it returned last
	// time: the agent has encoded them before it calls Poll again.
	Poll(recs []sflow.Record) ([]sflow.Record, error)
}

// PollerFunc adapts a function to Poller.
type PollerFunc func(recs []sflow.Record) ([]sflow.Record, error)

// Poll implements Poller.
func (f PollerFunc) Poll(recs []sflow.Record) ([]sflow.Record, error) { return f(recs) }

// Registrar is what a source sees of the agent: it registers pollers for
// its data sources and reports its own health. *Agent implements it; tests
// use fakes.
type Registrar interface {
	Register(source string, ds DataSource, p Poller)
	Unregister(source string, ds DataSource)
	// SetHealth records a source-wide state (nil = healthy), such as
	// "NVML not available"; a change is logged once.
	SetHealth(source string, err error)
}

var _ Registrar = (*Agent)(nil)

// Config is the agent's part of gwd's configuration.
type Config struct {
	// SubAgent is the sub-agent id of every datagram (see plan.go).
	SubAgent uint32
	// Polling is the counter polling interval (whole seconds, at least 1 s).
	Polling time.Duration
	// DatagramBytes bounds the size of a datagram (default 1400).
	DatagramBytes int
	// Address says how the agent address is chosen.
	Address AddressConfig
	// Collectors receive every datagram.
	Collectors []CollectorConfig
	// ForgetAfter is the grace period of a data source whose last
	// contributor unregistered: during it the data source keeps its slot
	// (polling phase and sequence number) and nothing is sent for it; a
	// registration within it resumes as if nothing happened. After it only
	// the sequence number is kept (see seqbook.go): sequence numbers never
	// go backwards either way. 0 means DefaultForgetPolls x Polling.
	ForgetAfter time.Duration
}

// DefaultDatagramBytes is the datagram size limit unless configured.
const DefaultDatagramBytes = 1400

// DefaultForgetPolls is the grace period of an unregistered data source,
// in polling intervals, unless Config.ForgetAfter says otherwise.
const DefaultForgetPolls = 3

func (c *Config) normalize() error {
	if c.Polling == 0 {
		c.Polling = 20 * time.Second
	}
	if c.Polling < time.Second {
		return fmt.Errorf("agent: polling interval %v is below 1s", c.Polling)
	}
	if c.DatagramBytes == 0 {
		c.DatagramBytes = DefaultDatagramBytes
	}
	if c.DatagramBytes < 200 || c.DatagramBytes > 65000 {
		return fmt.Errorf("agent: datagram size %d outside 200..65000 bytes", c.DatagramBytes)
	}
	if c.ForgetAfter < 0 {
		return fmt.Errorf("agent: negative grace period %v for unregistered data sources", c.ForgetAfter)
	}
	if c.ForgetAfter == 0 {
		c.ForgetAfter = DefaultForgetPolls * c.Polling
	}
	return nil
}

// contributor is one registered poller of a data source.
type contributor struct {
	source   string
	poller   Poller
	priority int
	err      error // of its last poll
}

// dataSource is the agent's state for one data source: its slot.
type dataSource struct {
	ds       DataSource
	phase    int64 // seconds, in [0, interval)
	seq      uint32
	contribs []contributor
	idle     time.Time // when the last contributor left (grace period); zero while it has one
}

// Agent is the one sFlow agent of the box. Create it with New, register
// pollers, then Run it.
type Agent struct {
	log   *slog.Logger
	addrs AddressWatcher
	start time.Time
	now   func() time.Time // the clock of grace periods

	mu          sync.Mutex
	cfg         Config
	sources     map[DataSource]*dataSource // with contributors, or in their grace period
	idle        int                        // sources in their grace period
	counterSeqs seqBook                    // last counter sequence of freed slots
	health      map[string]string          // source -> effective state ("" healthy)
	reported    map[string]string          // source -> what the source said with SetHealth
	address     Election
	exporter    *exporterSet
	dgSeq       uint32
	flow        flowState
	wake        chan struct{}
	elected     chan struct{} // signalled when the election result changes
	onSend      func([]byte)  // tests: sees every datagram sent
	taps        []*tapFn      // see Tap
	enrich      enrichers     // see AddFlowEnricher; not under mu
	entities    entityTable   // see ClaimEntity, SetDeviceOwner; not under mu

	oversize uint64            // records left out of samples too big for a datagram
	pollErrs map[string]uint64 // source -> polls that returned an error

	// scratch, used only by the scheduler goroutine
	owners  []int  // contributor index of each of recs
	scratch []byte // one record encoded alone (fitLocked)
	recs    []sflow.Record
	samples [][]byte
	buf     []byte
	out     []byte // datagram scratch
}

// New creates an agent. addrs lists the box's addresses and reports changes
// (NewSystemAddresses on Linux); log receives state changes only.
func New(cfg Config, addrs AddressWatcher, log *slog.Logger) (*Agent, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ex, err := newExporterSet(cfg.Collectors, log)
	if err != nil {
		return nil, err
	}
	return &Agent{
		log: log, addrs: addrs, start: time.Now(), now: time.Now, cfg: cfg,
		sources: map[DataSource]*dataSource{}, health: map[string]string{}, reported: map[string]string{}, exporter: ex,
		pollErrs: map[string]uint64{},
		wake:     make(chan struct{}, 1), elected: make(chan struct{}, 1),
	}, nil
}

// Register adds a poller for data source ds on behalf of source (a name
// such as "host" or "ovs"). Several sources may contribute to one data
// source: their records go out together in one counter sample.
func (a *Agent) Register(source string, ds DataSource, p Poller) {
	a.RegisterPriority(source, ds, p, 0)
}

// RegisterPriority is Register with a merge priority: when contributors to
// one data source send a record of the same type (two 0:1 if_counters for
// one port), the record of the contributor with the highest priority is
// kept and the others are dropped, so a sample never carries a record type
// twice. Equal priorities keep the source that sorts first by name.
func (a *Agent) RegisterPriority(source string, ds DataSource, p Poller, priority int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	d := a.sources[ds]
	switch {
	case d == nil:
		// A new slot continues the sequence the data source had when its
		// last slot was freed, if it ever had one.
		iv := int64(a.cfg.Polling / time.Second)
		d = &dataSource{ds: ds, phase: rand.Int64N(iv), seq: a.counterSeqs.take(ds)}
		a.sources[ds] = d
	case len(d.contribs) == 0:
		// Back within its grace period: same slot, phase and sequence.
		d.idle = time.Time{}
		a.idle--
	}
	d.contribs = slices.DeleteFunc(d.contribs, func(c contributor) bool { return c.source == source })
	d.contribs = append(d.contribs, contributor{source: source, poller: p, priority: priority})
	sort.Slice(d.contribs, func(i, j int) bool {
		if d.contribs[i].priority != d.contribs[j].priority {
			return d.contribs[i].priority > d.contribs[j].priority
		}
		return d.contribs[i].source < d.contribs[j].source
	})
	a.poke()
}

// Unregister removes source's poller for ds. When it was the last
// contributor, the data source is sent no more; it keeps its slot for the
// grace period (Config.ForgetAfter) and its sequence number for the life of
// the process, so that a registration again, by any source, continues the
// sequence (see seqbook.go).
func (a *Agent) Unregister(source string, ds DataSource) {
	a.mu.Lock()
	defer a.mu.Unlock()
	d := a.sources[ds]
	if d == nil || len(d.contribs) == 0 {
		return
	}
	d.contribs = slices.DeleteFunc(d.contribs, func(c contributor) bool { return c.source == source })
	if len(d.contribs) == 0 {
		d.idle = a.now()
		a.idle++
		a.forgetLocked()
	}
}

// forgetLocked frees the slots whose grace period is over, keeping their
// sequence numbers in the book.
func (a *Agent) forgetLocked() {
	if a.idle == 0 {
		return
	}
	now := a.now()
	for ds, d := range a.sources {
		if len(d.contribs) == 0 && now.Sub(d.idle) >= a.cfg.ForgetAfter {
			a.counterSeqs.put(ds, d.seq)
			delete(a.sources, ds)
			a.idle--
		}
	}
}

// DataSources lists the registered data sources with their contributors
// (not those in their grace period).
func (a *Agent) DataSources() map[DataSource][]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[DataSource][]string, len(a.sources)-a.idle)
	for ds, d := range a.sources {
		for _, c := range d.contribs {
			out[ds] = append(out[ds], c.source)
		}
	}
	return out
}

// SetHealth records a source-wide state (nil = healthy). A source's health
// is what it said here, else the last error of any of its pollers; the
// change between healthy and unhealthy is logged once.
func (a *Agent) SetHealth(source string, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err == nil {
		delete(a.reported, source)
	} else {
		a.reported[source] = err.Error()
	}
	a.updateHealthLocked(source)
}

// updateHealthLocked recomputes a source's health: its own report, else
// the first error among its contributors' last polls (over all its data
// sources, so data sources polled at different seconds do not flap it).
func (a *Agent) updateHealthLocked(source string) {
	msg := a.reported[source]
	if msg == "" {
		for _, d := range a.sources {
			for _, c := range d.contribs {
				if c.source == source && c.err != nil {
					msg = fmt.Sprintf("poll %s: %v", d.ds, c.err)
					break
				}
			}
			if msg != "" {
				break
			}
		}
	}
	old, seen := a.health[source]
	a.health[source] = msg
	switch {
	case msg != "" && old == "":
		a.log.Warn("source unhealthy", "source", source, "err", msg)
	case msg == "" && seen && old != "":
		a.log.Info("source healthy again", "source", source)
	}
}

// Health returns each source's last error ("" when healthy).
func (a *Agent) Health() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]string, len(a.health))
	for k, v := range a.health {
		out[k] = v
	}
	return out
}

// Reconfigure applies a new configuration: collectors, polling, address
// rules. Sequence numbers and data sources carry over.
func (a *Agent) Reconfigure(cfg Config) error {
	if err := cfg.normalize(); err != nil {
		return err
	}
	ex, err := newExporterSet(cfg.Collectors, a.log)
	if err != nil {
		return err
	}
	a.mu.Lock()
	old := a.exporter
	if cfg.Polling != a.cfg.Polling {
		iv := int64(cfg.Polling / time.Second)
		for _, d := range a.sources {
			d.phase = rand.Int64N(iv)
		}
	}
	a.cfg = cfg
	a.exporter = ex
	old.close()
	a.mu.Unlock()
	a.Elect() // takes the lock itself, after listing the addresses
	a.poke()
	return nil
}

// AddressChanges signals (coalesced) after the agent address changed, for
// sources that hand the address on (OVS's sFlow row carries it).
func (a *Agent) AddressChanges() <-chan struct{} { return a.elected }

// Address is the current election result.
func (a *Agent) Address() Election {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.address
}

// Collectors reports per-collector counters.
func (a *Agent) Collectors() []CollectorStats {
	a.mu.Lock()
	ex := a.exporter
	a.mu.Unlock()
	return ex.stats()
}

// Elect re-runs the agent address election now.
func (a *Agent) Elect() Election {
	a.mu.Lock()
	cfg := a.cfg.Address
	a.mu.Unlock()
	// List the box's addresses (a netlink dump, slow with thousands of
	// links) without holding the lock the polls need; none is needed when
	// the address is configured.
	var addrs []IfAddr
	var err error
	if a.addrs != nil && !cfg.IP.IsValid() {
		addrs, err = a.addrs.Addresses()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	e := elect(a.cfg.Address, addrs, err)
	if e != a.address {
		select {
		case a.elected <- struct{}{}:
		default:
		}
		if e.Addr.IsValid() {
			a.log.Info("agent address elected", "address", e.Addr, "interface", e.Interface, "reason", e.Reason)
		} else {
			a.log.Warn("no usable agent address: nothing is sent", "reason", e.Reason)
		}
	}
	a.address = e
	return e
}

// Run polls and exports until ctx ends. Polls happen on whole seconds; each
// data source is polled once per interval at its own random phase.
func (a *Agent) Run(ctx context.Context) error {
	a.Elect()
	var changes <-chan struct{}
	if a.addrs != nil {
		changes = a.addrs.Changes(ctx)
	}
	sec := a.nextDue(time.Now().Unix())
	timer := time.NewTimer(time.Until(time.Unix(sec, 0)))
	defer timer.Stop()
	for {
		fired := false
		select {
		case <-ctx.Done():
			a.mu.Lock()
			a.exporter.close()
			a.mu.Unlock()
			return nil
		case <-changes:
			a.Elect()
		case <-a.wake:
			// Sources or the interval changed: the next due second may be
			// sooner than the one the timer waits for.
		case <-timer.C:
			fired = true
			a.tick(sec)
		}
		// Sleep until the next second at which some data source is due,
		// never catching up on seconds missed (suspend, a slow poll).
		if due := a.nextDue(time.Now().Unix()); fired || due != sec {
			sec = due
			timer.Reset(time.Until(time.Unix(sec, 0)))
		}
	}
}

// nextDue is the first whole second after now at which a data source is
// due; with no data source, a second in an hour (a registration wakes Run).
// Slots in their grace period count: the tick at their phase frees them
// once it is over.
func (a *Agent) nextDue(now int64) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	iv := int64(a.cfg.Polling / time.Second)
	best := now + 3600
	for _, d := range a.sources {
		// smallest t > now with (t - phase) % iv == 0
		t := now + 1 + ((d.phase-(now+1))%iv+iv)%iv
		if t < best {
			best = t
		}
	}
	return best
}

// poke wakes Run to recompute its next due second.
func (a *Agent) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// tick polls the data sources due at second now and sends their samples.
func (a *Agent) tick(now int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.forgetLocked()
	if !a.address.Addr.IsValid() {
		return
	}
	iv := int64(a.cfg.Polling / time.Second)
	due := make([]*dataSource, 0, 16)
	for _, d := range a.sources {
		if len(d.contribs) > 0 && (now-d.phase)%iv == 0 {
			due = append(due, d)
		}
	}
	if len(due) == 0 {
		return
	}
	sort.Slice(due, func(i, j int) bool {
		if due[i].ds.Type != due[j].ds.Type {
			return due[i].ds.Type > due[j].ds.Type // host first, then interfaces
		}
		return due[i].ds.Index < due[j].ds.Index
	})
	a.samples = a.samples[:0]
	a.buf = a.buf[:0]
	polled := map[string]bool{}
	for _, d := range due {
		a.pollLocked(d, polled)
	}
	for src := range polled {
		a.updateHealthLocked(src)
	}
	a.sendLocked()
}

// pollLocked polls every contributor of d and encodes one counter sample
// with all their records. A contributor that returns an error keeps the
// records it could read (a host poller without /proc/net/snmp still sends
// its other records); the error goes to health.
func (a *Agent) pollLocked(d *dataSource, polled map[string]bool) {
	recs, owners := a.recs[:0], a.owners[:0]
	for i := range d.contribs {
		c := &d.contribs[i]
		polled[c.source] = true
		n := len(recs)
		recs, c.err = pollSafely(c.poller, recs)
		if c.err != nil {
			a.pollErrs[c.source]++
		}
		for range recs[n:] {
			owners = append(owners, i)
		}
	}
	recs, owners = dedupTags(recs, owners)
	a.recs, a.owners = recs[:0], owners[:0]
	if len(recs) == 0 {
		return
	}
	d.seq++
	s := sflow.Sample{Tag: sflow.SampleCounters, SequenceNumber: d.seq, SourceIDType: d.ds.Type, SourceIDIndex: d.ds.Index, Records: recs}
	if d.ds.Type > 0xff || d.ds.Index > 0xffffff || d.ds == HostSource {
		s.Tag = sflow.SampleCountersExpanded
	}
	start := len(a.buf)
	b, err := sflow.AppendSample(a.buf, &s)
	if err == nil && len(b)-start > a.cfg.DatagramBytes-a.headerLenLocked() {
		b, err = a.fitLocked(d, &s, owners, start)
		if err == nil && len(s.Records) == 0 {
			d.seq-- // nothing of it fits: health says what was left out
			a.buf = b
			return
		}
	}
	if err != nil {
		d.seq--
		d.contribs[0].err = fmt.Errorf("encode: %w", err)
		return
	}
	a.buf = b
	a.samples = append(a.samples, a.buf[start:len(a.buf):len(a.buf)])
}

// fitLocked makes a counter sample that is larger than a datagram can
// carry fit, by this rule: its largest records are left out, one at a
// time, until it fits; each one left out is counted and named in the
// health of the source that contributed it. No datagram is ever sent over
// datagram_bytes, and nothing is dropped silently.
func (a *Agent) fitLocked(d *dataSource, s *sflow.Sample, owners []int, start int) ([]byte, error) {
	limit := a.cfg.DatagramBytes - a.headerLenLocked()
	for len(s.Records) > 0 {
		big, bigSize := 0, -1
		for i, r := range s.Records {
			one := sflow.Sample{Tag: s.Tag, Records: []sflow.Record{r}}
			enc, err := sflow.AppendSample(a.scratch[:0], &one)
			if err != nil {
				return nil, err
			}
			a.scratch = enc[:0]
			if len(enc) > bigSize {
				big, bigSize = i, len(enc)
			}
		}
		r := s.Records[big]
		a.oversize++
		c := &d.contribs[owners[big]]
		c.err = errors.Join(c.err, fmt.Errorf("record %v (%d bytes) left out: the sample would exceed datagram_bytes %d",
			r.Tag(), bigSize, a.cfg.DatagramBytes))
		s.Records = append(s.Records[:big], s.Records[big+1:]...)
		owners = append(owners[:big], owners[big+1:]...)
		if len(s.Records) == 0 {
			return a.buf[:start], nil
		}
		b, err := sflow.AppendSample(a.buf[:start], s)
		if err != nil || len(b)-start <= limit {
			return b, err
		}
	}
	return a.buf[:start], nil
}

// RecordsLeftOut counts the records left out of counter samples that would
// not fit a datagram (see fitLocked).
func (a *Agent) RecordsLeftOut() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.oversize
}

// PollErrors counts, per source, the polls of its pollers that returned an
// error (for the web module's metrics).
func (a *Agent) PollErrors() map[string]uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]uint64, len(a.pollErrs))
	for k, v := range a.pollErrs {
		out[k] = v
	}
	return out
}

// dedupTags keeps the first record of each tag (contributors are polled in
// priority order), preserving order, in place; owners follows recs.
func dedupTags(recs []sflow.Record, owners []int) ([]sflow.Record, []int) {
	out, own := recs[:0], owners[:0]
next:
	for i, r := range recs {
		for _, k := range out {
			if k.Tag() == r.Tag() {
				continue next
			}
		}
		out = append(out, r)
		own = append(own, owners[i])
	}
	return out, own
}

// pollSafely turns a poller's panic into an error: one broken source must
// not stop the others.
func pollSafely(p Poller, recs []sflow.Record) (out []sflow.Record, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = recs, fmt.Errorf("poller panicked: %v", r)
		}
	}()
	return p.Poll(recs)
}

// sendLocked packs a.samples into datagrams of at most DatagramBytes and
// sends each to every collector.
func (a *Agent) sendLocked() {
	for i := 0; i < len(a.samples); {
		n, size := 0, a.headerLenLocked()
		for j := i; j < len(a.samples); j++ {
			if n > 0 && size+len(a.samples[j]) > a.cfg.DatagramBytes {
				break
			}
			size += len(a.samples[j])
			n++
		}
		a.out = a.emitLocked(a.out, n, a.samples[i:i+n]...)
		i += n
	}
}

// headerLenLocked is the size of a datagram header with the current agent
// address (28 bytes for IPv4, 40 for IPv6).
func (a *Agent) headerLenLocked() int {
	if a.address.Addr.Is6() {
		return 40
	}
	return 28
}

// emitLocked sends one datagram of n encoded samples, given as byte runs
// to concatenate, with the next datagram sequence number, to every
// collector. buf is scratch space, returned for reuse.
func (a *Agent) emitLocked(buf []byte, n int, samples ...[]byte) []byte {
	a.dgSeq++
	hdr := sflow.Datagram{AgentAddress: a.address.Addr, SubAgentID: a.cfg.SubAgent, SequenceNumber: a.dgSeq,
		Uptime: uint32(time.Since(a.start).Milliseconds())}
	out := sflow.AppendDatagramHeader(buf[:0], &hdr, n)
	for _, s := range samples {
		out = append(out, s...)
	}
	a.exporter.send(out)
	if a.onSend != nil {
		a.onSend(out)
	}
	for _, t := range a.taps {
		t.fn(out)
	}
	return out[:0]
}

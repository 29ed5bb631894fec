package agent

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gwd/sflow"
)

// fakeClock is the agent's clock in tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *fakeClock                   { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }
func (c *fakeClock) install(a *Agent) *Agent { a.now = c.now; return a }
func sampleKey(s sflow.Sample) string        { return fmt.Sprintf("%d:%d", s.SourceIDType, s.SourceIDIndex) }
func seqsOf(dgs []*sflow.Datagram) []string {
	return keyed(dgs, func(s sflow.Sample) bool { return true })
}
func onlyFlows(s sflow.Sample) bool {
	return s.Tag == sflow.SampleFlow || s.Tag == sflow.SampleFlowExpanded
}

// keyed lists "type:index#seq" for every sample that keep selects.
func keyed(dgs []*sflow.Datagram, keep func(sflow.Sample) bool) []string {
	var out []string
	for _, dg := range dgs {
		for _, s := range dg.Samples {
			if keep(s) {
				out = append(out, fmt.Sprintf("%s#%d", sampleKey(s), s.SequenceNumber))
			}
		}
	}
	return out
}

// tapped records every datagram the agent sends, decoded.
type tapped struct {
	t   *testing.T
	dgs []*sflow.Datagram
}

func tap(t *testing.T, a *Agent) *tapped {
	tp := &tapped{t: t}
	a.onSend = func(b []byte) {
		var d sflow.Decoder
		dg, err := d.Decode(b)
		if err != nil {
			t.Errorf("decode: %v", err)
			return
		}
		tp.dgs = append(tp.dgs, dg)
	}
	return tp
}

// take returns the datagrams recorded since the last take.
func (tp *tapped) take() []*sflow.Datagram {
	d := tp.dgs
	tp.dgs = nil
	return d
}

// TestCounterSequenceSurvivesReRegistration: a data source that is
// unregistered and registered again, by the same or another source, at once,
// within the grace period or long after it, continues its sample sequence;
// while it has no contributor nothing is sent for it.
func TestCounterSequenceSurvivesReRegistration(t *testing.T) {
	port := InterfaceSource(5)
	tests := []struct {
		name  string
		gap   time.Duration // between Unregister and Register
		ticks int           // ticks while unregistered
		again string        // who registers it again
	}{
		{name: "immediately", again: "ovs"},
		{name: "within grace", gap: 2 * time.Second, ticks: 2, again: "ovs"},
		{name: "just before grace ends", gap: 3*time.Second - time.Nanosecond, ticks: 2, again: "ovs"},
		{name: "after grace", gap: 3 * time.Second, ticks: 3, again: "ovs"},
		{name: "long after grace", gap: time.Hour, ticks: 5, again: "ovs"},
		{name: "another source takes over", gap: time.Minute, ticks: 1, again: "host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			a := clk.install(newTestAgent(t, Config{Polling: time.Second}, nil))
			tp := tap(t, a)
			a.Register("host", HostSource, portName("h"))
			a.Register("ovs", port, portName("p"))
			sec := int64(0)
			tick := func() {
				a.tick(sec)
				sec++
				clk.advance(time.Second)
			}
			for range 3 {
				tick()
			}
			want := []string{"2:1#1", "0:5#1", "2:1#2", "0:5#2", "2:1#3", "0:5#3"}
			if diff := cmp.Diff(want, seqsOf(tp.take())); diff != "" {
				t.Fatalf("before (-want +got):\n%s", diff)
			}

			a.Unregister("ovs", port)
			for range tt.ticks {
				tick()
			}
			clk.advance(tt.gap - time.Duration(tt.ticks)*time.Second)
			want = nil
			for i := range tt.ticks {
				want = append(want, fmt.Sprintf("2:1#%d", 4+i))
			}
			if diff := cmp.Diff(want, seqsOf(tp.take())); diff != "" {
				t.Errorf("unregistered: only the host is sent (-want +got):\n%s", diff)
			}

			a.Register(tt.again, port, portName("p"))
			tick()
			got := seqsOf(tp.take())
			want = []string{fmt.Sprintf("2:1#%d", 4+tt.ticks), "0:5#4"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("registered again (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGracePeriodKeepsSlot: within the grace period the data source keeps
// its polling phase; after it, the slot is freed and only the sequence
// number is remembered.
func TestGracePeriodKeepsSlot(t *testing.T) {
	clk := newClock()
	a := clk.install(newTestAgent(t, Config{Polling: 10 * time.Second}, nil))
	if a.cfg.ForgetAfter != 30*time.Second {
		t.Fatalf("default ForgetAfter = %v, want 3 x polling = 30s", a.cfg.ForgetAfter)
	}
	ds := InterfaceSource(9)
	a.Register("ovs", ds, portName("p"))
	slot := a.sources[ds]
	slot.phase, slot.seq = 7, 41
	a.Unregister("ovs", ds)
	if n := len(a.DataSources()); n != 0 {
		t.Errorf("DataSources lists %d sources in their grace period", n)
	}
	clk.advance(29 * time.Second)
	a.tick(100)
	a.Register("host", ds, portName("p"))
	if d := a.sources[ds]; d != slot || d.phase != 7 || d.seq != 41 {
		t.Errorf("within grace: a new slot (%v), phase %d seq %d; want the same slot, 7 and 41", d != slot, d.phase, d.seq)
	}

	a.Unregister("host", ds)
	clk.advance(30 * time.Second)
	a.tick(200) // sweeps
	if _, ok := a.sources[ds]; ok {
		t.Errorf("slot kept after the grace period")
	}
	if got := a.counterSeqs.get(ds); got != 41 {
		t.Errorf("remembered sequence %d, want 41", got)
	}
	a.Register("host", ds, portName("p"))
	if d := a.sources[ds]; d.seq != 41 {
		t.Errorf("after grace: seq %d, want 41", d.seq)
	}
	if n := a.counterSeqs.len(); n != 0 {
		t.Errorf("book keeps %d entries for active sources", n)
	}
}

// TestForgetAfterConfig: 0 is 3 x polling (also after Reconfigure changes
// the interval); an explicit value is kept; a negative one is refused.
func TestForgetAfterConfig(t *testing.T) {
	for _, tt := range []struct {
		cfg  Config
		want time.Duration
		err  bool
	}{
		{cfg: Config{}, want: 60 * time.Second},
		{cfg: Config{Polling: 5 * time.Second}, want: 15 * time.Second},
		{cfg: Config{Polling: 5 * time.Second, ForgetAfter: time.Minute}, want: time.Minute},
		{cfg: Config{Polling: 5 * time.Second, ForgetAfter: -time.Second}, err: true},
	} {
		c := tt.cfg
		err := c.normalize()
		if (err != nil) != tt.err || (!tt.err && c.ForgetAfter != tt.want) {
			t.Errorf("normalize(%+v): ForgetAfter %v, err %v; want %v, error %v", tt.cfg, c.ForgetAfter, err, tt.want, tt.err)
		}
	}
	a := newTestAgent(t, Config{Polling: 10 * time.Second}, nil)
	if err := a.Reconfigure(Config{Polling: 20 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if a.cfg.ForgetAfter != time.Minute {
		t.Errorf("after Reconfigure: ForgetAfter %v, want 1m", a.cfg.ForgetAfter)
	}
}

// TestFlowSequenceSurvivesReRegistration: flow sample sequences are kept
// per data source whatever happens to its counter registration.
func TestFlowSequenceSurvivesReRegistration(t *testing.T) {
	clk := newClock()
	a := clk.install(newTestAgent(t, Config{Polling: time.Second}, nil))
	tp := tap(t, a)
	br := BridgeSource(0)
	submit := func(n int) {
		for range n {
			if err := a.SubmitFlow(br, flowSample(5, 64)); err != nil {
				t.Fatal(err)
			}
		}
		a.flushFlows()
	}
	a.Register("ovs", br, portName("br0"))
	submit(3)
	a.Unregister("ovs", br)
	clk.advance(time.Hour)
	a.tick(0)
	submit(1)
	a.Register("ovs", br, portName("br0"))
	submit(1)
	want := []string{"2:1000#1", "2:1000#2", "2:1000#3", "2:1000#4", "2:1000#5"}
	if diff := cmp.Diff(want, keyed(tp.take(), onlyFlows)); diff != "" {
		t.Errorf("flow sequence (-want +got):\n%s", diff)
	}
}

// TestSeqBookBounded: the book forgets the least recently touched entries
// beyond its limit, never the recent ones.
func TestSeqBookBounded(t *testing.T) {
	b := seqBook{limit: 64}
	for i := range uint32(1000) {
		b.put(InterfaceSource(i), i+1)
		if b.len() > 64 {
			t.Fatalf("after %d puts: %d entries, limit 64", i+1, b.len())
		}
	}
	for i := uint32(1000 - 56); i < 1000; i++ {
		if got := b.get(InterfaceSource(i)); got != i+1 {
			t.Errorf("recent entry %d: seq %d, want %d", i, got, i+1)
		}
	}
	if got := b.get(InterfaceSource(0)); got != 0 {
		t.Errorf("oldest entry kept: %d", got)
	}
	// Touching an old entry keeps it.
	b = seqBook{limit: 8}
	for i := range uint32(8) {
		b.put(InterfaceSource(i), 100+i)
	}
	for i := uint32(8); i < 20; i++ {
		b.put(InterfaceSource(0), b.get(InterfaceSource(0))+1)
		b.put(InterfaceSource(i), 1)
	}
	if got := b.get(InterfaceSource(0)); got != 112 {
		t.Errorf("touched entry: seq %d, want 112", got)
	}
	if got := b.take(InterfaceSource(0)); got != 112 || b.get(InterfaceSource(0)) != 0 {
		t.Errorf("take: %d, then %d", got, b.get(InterfaceSource(0)))
	}
}

// TestSequenceStateIsSmall: thousands of data sources that came and went
// leave a bounded, small amount of state.
func TestSequenceStateIsSmall(t *testing.T) {
	clk := newClock()
	a := clk.install(newTestAgent(t, Config{Polling: time.Second}, nil))
	for i := range uint32(5000) {
		ds := InterfaceSource(1000 + i)
		a.Register("host", ds, portName("x"))
		a.sources[ds].seq = 7
		a.Unregister("host", ds)
	}
	clk.advance(time.Minute)
	a.tick(0)
	if len(a.sources) != 0 || a.counterSeqs.len() != 5000 {
		t.Errorf("%d slots, %d remembered sequences; want 0 and 5000", len(a.sources), a.counterSeqs.len())
	}
	a.Register("host", InterfaceSource(1000), portName("x"))
	if got := a.sources[InterfaceSource(1000)].seq; got != 7 {
		t.Errorf("seq %d, want 7", got)
	}
}

package host

import (
	"os"
	"testing"

	"gwd/sflow"
)

// BenchmarkHostPoll polls the host data source of the fixture root (about
// 20 file reads: proc files plus 4 interfaces x 8 statistics files).
func BenchmarkHostPoll(b *testing.B) {
	h, sf, _ := newTestHost(b, rootConfig(b, fixture))
	sf.noRecord = true
	benchPoll(b, h.hostPoller)
}

// BenchmarkHostPollReal polls the host data source of this machine
// (/proc, /sys, /etc; real statfs): what every polling interval costs a
// running gwd for 2:1.
func BenchmarkHostPollReal(b *testing.B) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		b.Skipf("no procfs: %v", err)
	}
	cfg := rootConfig(b, "/")
	h, err := New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	benchPoll(b, h.hostPoller)
	b.StopTimer()
	h.hostPoller.rd.closeKept()
}

// BenchmarkInterfacePoll polls eth0 of the fixture root (if_counters,
// ethernet_counters, port_name; no module).
func BenchmarkInterfacePoll(b *testing.B) {
	h, _, _ := newTestHost(b, rootConfig(b, fixture))
	p := h.pollerFor(b, 2)
	benchPoll(b, p)
}

// BenchmarkInterfacePollSFP adds a QSFP28 module EEPROM (fake reader) to swp1.
func BenchmarkInterfacePollSFP(b *testing.B) {
	h, _, ee := newTestHost(b, rootConfig(b, fixture))
	ee.data["swp1"] = sff8636Fixture(true)
	p := h.pollerFor(b, 5)
	benchPoll(b, p)
}

// poller is what the host and interface pollers have in common.
type poller interface {
	Poll([]sflow.Record) ([]sflow.Record, error)
}

// benchPoll polls p once (warm-up), then once per iteration, reusing
// the record slice.
func benchPoll(b *testing.B, p poller) {
	recs, err := p.Poll(make([]sflow.Record, 0, 16))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if recs, err = p.Poll(recs[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPollAllocations pins the steady-state allocations of the pollers on
// the fixture root (with the faked statfs: the real one allocates the
// C string of each mount point).
func TestPollAllocations(t *testing.T) {
	h, sf, _ := newTestHost(t, rootConfig(t, fixture))
	sf.noRecord = true
	recs := make([]sflow.Record, 0, 16)
	pollers := map[string]poller{"host": h.hostPoller}
	for _, inf := range h.Interfaces() {
		pollers[inf.Name] = h.pollerFor(t, inf.IfIndex)
	}
	for name, p := range pollers {
		recs, _ = p.Poll(recs[:0])
		if n := testing.AllocsPerRun(50, func() { recs, _ = p.Poll(recs[:0]) }); n != 0 {
			t.Errorf("%s: %.1f allocations per poll, want 0", name, n)
		}
	}
}

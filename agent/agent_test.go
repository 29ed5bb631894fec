package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gwd/internal/testutil"
	"gwd/sflow"
)

// fakeAddrs is an AddressWatcher with a fixed list.
type fakeAddrs struct {
	mu    sync.Mutex
	addrs []IfAddr
	err   error
	ch    chan struct{}
}

func (f *fakeAddrs) Addresses() ([]IfAddr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]IfAddr(nil), f.addrs...), f.err
}

func (f *fakeAddrs) Changes(context.Context) <-chan struct{} { return f.ch }

func (f *fakeAddrs) set(a []IfAddr) {
	f.mu.Lock()
	f.addrs = a
	f.mu.Unlock()
}

func ifa(name string, idx int, addr string) IfAddr {
	return IfAddr{Interface: name, Index: idx, Addr: netip.MustParseAddr(addr), Up: true, Loopback: name == "lo"}
}

func TestElection(t *testing.T) {
	box := []IfAddr{
		ifa("lo", 1, "127.0.0.1"), ifa("lo", 1, "::1"),
		ifa("eth0", 2, "fe80::1"), ifa("eth0", 2, "10.1.2.3"), ifa("eth0", 2, "fd00::5"),
		ifa("eth1", 3, "2001:db8::7"), ifa("eth1", 3, "198.51.100.9"),
	}
	down := IfAddr{Interface: "eth9", Index: 9, Addr: netip.MustParseAddr("203.0.113.1")}
	tests := []struct {
		name  string
		cfg   AddressConfig
		addrs []IfAddr
		err   error
		want  string
	}{
		{"class: global v4 wins", AddressConfig{}, box, nil, "198.51.100.9"},
		{"down interface ignored", AddressConfig{}, append([]IfAddr{down}, box[:5]...), nil, "10.1.2.3"},
		{"private v4 before global v6", AddressConfig{}, box[:5], nil, "10.1.2.3"},
		{"global v6 before ULA", AddressConfig{}, []IfAddr{box[4], box[5]}, nil, "2001:db8::7"},
		{"ULA before link-local", AddressConfig{}, []IfAddr{box[2], box[4]}, nil, "fd00::5"},
		{"link-local before loopback", AddressConfig{}, []IfAddr{box[0], box[2]}, nil, "fe80::1"},
		{"loopback last", AddressConfig{}, box[:2], nil, "127.0.0.1"},
		{"explicit address", AddressConfig{IP: netip.MustParseAddr("192.0.2.1")}, box, nil, "192.0.2.1"},
		{"explicit interface", AddressConfig{Interface: "eth0"}, box, nil, "10.1.2.3"},
		{"interface without address", AddressConfig{Interface: "eth7"}, box, nil, ""},
		{"cidr preference", AddressConfig{CIDRs: []netip.Prefix{netip.MustParsePrefix("fd00::/8")}}, box, nil, "fd00::5"},
		{"second cidr", AddressConfig{CIDRs: []netip.Prefix{netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("10.0.0.0/8")}}, box, nil, "10.1.2.3"},
		{"cidr without match falls back to class", AddressConfig{CIDRs: []netip.Prefix{netip.MustParsePrefix("172.16.0.0/12")}}, box, nil, "198.51.100.9"},
		{"nothing", AddressConfig{}, nil, nil, ""},
		{"list error", AddressConfig{}, box, errors.New("boom"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := elect(tt.cfg, tt.addrs, tt.err)
			got := ""
			if e.Addr.IsValid() {
				got = e.Addr.String()
			}
			if got != tt.want {
				t.Fatalf("elected %q (%s), want %q", got, e.Reason, tt.want)
			}
			if e.Reason == "" {
				t.Fatal("no reason given")
			}
		})
	}
}

func newTestAgent(t *testing.T, cfg Config, log *slog.Logger) *Agent {
	t.Helper()
	if cfg.Polling == 0 {
		cfg.Polling = time.Second
	}
	a, err := New(cfg, &fakeAddrs{addrs: []IfAddr{ifa("eth0", 2, "10.0.0.7")}}, log)
	if err != nil {
		t.Fatal(err)
	}
	a.Elect()
	return a
}

func portName(name string) PollerFunc {
	return func(recs []sflow.Record) ([]sflow.Record, error) {
		return append(recs, &sflow.PortName{Name: []byte(name)}), nil
	}
}

func TestTickSendsOneSamplePerSourceWithMergedRecords(t *testing.T) {
	c := testutil.NewCollector(t)
	a := newTestAgent(t, Config{Collectors: []CollectorConfig{{Addr: c.Addr}}}, nil)
	a.Register("host", InterfaceSource(3), portName("eth0"))
	a.Register("optics", InterfaceSource(3), PollerFunc(func(recs []sflow.Record) ([]sflow.Record, error) {
		return append(recs, &sflow.SFP{ModuleID: 3}), nil
	}))
	a.Register("host", HostSource, PollerFunc(func(recs []sflow.Record) ([]sflow.Record, error) {
		return append(recs, &sflow.HostDescr{Hostname: []byte("box")}), nil
	}))
	for i := int64(0); i < 3; i++ {
		a.tick(i)
		var d sflow.Decoder
		dg, err := d.Decode(c.Next(t, 5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if dg.AgentAddress != netip.MustParseAddr("10.0.0.7") || dg.SequenceNumber != uint32(i+1) {
			t.Fatalf("datagram %d: agent %v seq %d", i, dg.AgentAddress, dg.SequenceNumber)
		}
		if len(dg.Samples) != 2 {
			t.Fatalf("datagram %d: %d samples, want 2", i, len(dg.Samples))
		}
		host, port := dg.Samples[0], dg.Samples[1]
		if host.Tag != sflow.SampleCountersExpanded || host.SourceIDType != 2 || host.SourceIDIndex != 1 || host.SequenceNumber != uint32(i+1) {
			t.Errorf("host sample %+v", host)
		}
		if port.Tag != sflow.SampleCounters || port.SourceIDIndex != 3 || port.SequenceNumber != uint32(i+1) || len(port.Records) != 2 {
			t.Errorf("port sample %+v", port)
		}
	}
}

func TestPackingRespectsDatagramBytes(t *testing.T) {
	c := testutil.NewCollector(t)
	a := newTestAgent(t, Config{DatagramBytes: 300, Collectors: []CollectorConfig{{Addr: c.Addr}}}, nil)
	for i := uint32(1); i <= 40; i++ {
		a.Register("host", InterfaceSource(i), portName(strings.Repeat("x", 20)))
	}
	a.tick(0)
	seen := map[uint32]bool{}
	var d sflow.Decoder
	for dgSeq := uint32(1); len(seen) < 40; dgSeq++ {
		b := c.Next(t, 5*time.Second)
		if len(b) > 300 {
			t.Fatalf("datagram of %d bytes > 300", len(b))
		}
		dg, err := d.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if dg.SequenceNumber != dgSeq {
			t.Fatalf("datagram sequence %d, want %d", dg.SequenceNumber, dgSeq)
		}
		for _, s := range dg.Samples {
			if seen[s.SourceIDIndex] {
				t.Fatalf("source %d twice", s.SourceIDIndex)
			}
			seen[s.SourceIDIndex] = true
		}
	}
}

func TestFailingPollerIsIsolatedAndLoggedOnce(t *testing.T) {
	c := testutil.NewCollector(t)
	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	a := newTestAgent(t, Config{Collectors: []CollectorConfig{{Addr: c.Addr}}}, log)
	fail := true
	a.Register("gpu", HostSource, PollerFunc(func(recs []sflow.Record) ([]sflow.Record, error) {
		if fail {
			return recs, errors.New("NVML gone")
		}
		return append(recs, &sflow.NVIDIAGPU{DeviceCount: 1}), nil
	}))
	a.Register("host", HostSource, portName("h"))
	a.Register("partial", InterfaceSource(8), PollerFunc(func(recs []sflow.Record) ([]sflow.Record, error) {
		return append(recs, &sflow.PortName{Name: []byte("p")}), errors.New("one file missing")
	}))
	a.Register("panicky", InterfaceSource(9), PollerFunc(func([]sflow.Record) ([]sflow.Record, error) { panic("bug") }))
	var d sflow.Decoder
	for i := int64(0); i < 3; i++ {
		a.tick(i)
		dg, err := d.Decode(c.Next(t, 5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if len(dg.Samples) != 2 || len(dg.Samples[0].Records) != 1 || sflow.RecordName(dg.Samples[0].Records[0]) != "port_name" {
			t.Fatalf("tick %d: want the healthy host record, got %+v", i, dg.Samples)
		}
		if p := dg.Samples[1]; p.SourceIDIndex != 8 || len(p.Records) != 1 {
			t.Fatalf("tick %d: the partial poller's record is missing: %+v", i, p)
		}
	}
	if n := strings.Count(logBuf.String(), "NVML gone"); n != 1 {
		t.Errorf("failure logged %d times, want once:\n%s", n, logBuf.String())
	}
	if h := a.Health(); !strings.Contains(h["panicky"], "panicked") || h["host"] != "" || !strings.Contains(h["partial"], "one file missing") {
		t.Errorf("health %v", h)
	}
	fail = false
	a.tick(3)
	c.Next(t, 5*time.Second)
	if h := a.Health(); h["gpu"] != "" || !strings.Contains(logBuf.String(), "healthy again") {
		t.Errorf("gpu not healthy again: %v\n%s", h, logBuf.String())
	}
}

func TestNothingSentWithoutAddress(t *testing.T) {
	c := testutil.NewCollector(t)
	f := &fakeAddrs{}
	a, err := New(Config{Polling: time.Second, Collectors: []CollectorConfig{{Addr: c.Addr}}}, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.Register("host", HostSource, portName("x"))
	if e := a.Elect(); e.Addr.IsValid() || e.Reason == "" {
		t.Fatalf("election without addresses: %+v", e)
	}
	a.tick(0)
	if _, err := c.Read(200 * time.Millisecond); err == nil {
		t.Fatal("datagram sent without an agent address")
	}
	f.set([]IfAddr{ifa("eth0", 2, "192.0.2.50")})
	a.Elect()
	a.tick(1)
	var d sflow.Decoder
	dg, err := d.Decode(c.Next(t, 5*time.Second))
	if err != nil || dg.AgentAddress.String() != "192.0.2.50" || dg.SequenceNumber != 1 || dg.Samples[0].SequenceNumber != 1 {
		t.Fatalf("after address came: %v %+v", err, dg)
	}
}

func TestDeadCollectorDoesNotDisturbOthers(t *testing.T) {
	good := testutil.NewCollector(t)
	dead := testutil.NewCollector(t)
	dead.Close() // port closed: ICMP port unreachable for every datagram
	var logBuf bytes.Buffer
	a := newTestAgent(t, Config{Collectors: []CollectorConfig{{Addr: dead.Addr}, {Addr: good.Addr}}}, slog.New(slog.NewTextHandler(&logBuf, nil)))
	a.Register("host", HostSource, portName("x"))
	for i := int64(0); i < 10; i++ {
		a.tick(i)
		good.Next(t, 5*time.Second)
	}
	st := a.Collectors()
	if st[1].Datagrams != 10 || st[1].Errors != 0 {
		t.Errorf("good collector %+v", st[1])
	}
	if st[0].Errors == 0 || st[0].Datagrams+st[0].Errors != 10 {
		t.Errorf("dead collector %+v", st[0])
	}
	if n := strings.Count(logBuf.String(), "collector unreachable"); n != 1 {
		t.Errorf("unreachable logged %d times, want 1:\n%s", n, logBuf.String())
	}
}

func TestPhaseSpreadsPolls(t *testing.T) {
	a := newTestAgent(t, Config{Polling: 10 * time.Second}, nil)
	for i := uint32(1); i <= 200; i++ {
		a.Register("host", InterfaceSource(i), portName("x"))
	}
	counts := map[int64]int{}
	for _, d := range a.sources {
		if d.phase < 0 || d.phase >= 10 {
			t.Fatalf("phase %d outside [0,10)", d.phase)
		}
		counts[d.phase]++
	}
	if len(counts) < 8 {
		t.Errorf("200 sources fell in only %d of 10 phases", len(counts))
	}
}

func TestUnregisterKeepsOtherContributor(t *testing.T) {
	a := newTestAgent(t, Config{}, nil)
	a.Register("host", InterfaceSource(4), portName("a"))
	a.Register("ovs", InterfaceSource(4), portName("b"))
	a.Unregister("host", InterfaceSource(4))
	if diff := cmp.Diff(map[DataSource][]string{InterfaceSource(4): {"ovs"}}, a.DataSources()); diff != "" {
		t.Error(diff)
	}
	a.Unregister("ovs", InterfaceSource(4))
	if n := len(a.DataSources()); n != 0 {
		t.Errorf("%d data sources left", n)
	}
}

func flowSample(in uint32, hdrLen int) *sflow.Sample {
	return &sflow.Sample{Tag: sflow.SampleFlow, SamplingRate: 10, SamplePool: 100, Input: Interface(in), Output: Interface(2),
		Records: []sflow.Record{&sflow.SampledHeader{Protocol: 1, FrameLength: 100, Header: make([]byte, hdrLen)}}}
}

// Interface is a plain ifIndex interface for test samples.
func Interface(i uint32) sflow.Interface { return sflow.Interface{Value: i} }

func TestSubmitFlowBatchesWithinDelayAndSequences(t *testing.T) {
	c := testutil.NewCollector(t)
	a := newTestAgent(t, Config{DatagramBytes: 600, Collectors: []CollectorConfig{{Addr: c.Addr}}}, nil)
	start := time.Now()
	for i := 0; i < 3; i++ {
		if err := a.SubmitFlow(BridgeSource(0), flowSample(5, 64)); err != nil {
			t.Fatal(err)
		}
	}
	b := c.Next(t, 5*time.Second)
	t.Logf("flow datagram %v after the samples were submitted (FlowDelay %v)", time.Since(start), FlowDelay)
	var dec sflow.Decoder
	dg, err := dec.Decode(b)
	if err != nil || len(dg.Samples) != 3 {
		t.Fatalf("%v, %d samples", err, len(dg.Samples))
	}
	for i, s := range dg.Samples {
		if s.SequenceNumber != uint32(i+1) || s.SourceIDType != 2 || s.SourceIDIndex != 1000 || s.Tag != sflow.SampleFlow {
			t.Errorf("sample %d: %+v", i, s)
		}
	}
	// Big samples: a full datagram goes at once, never over the size.
	for i := 0; i < 5; i++ {
		a.SubmitFlow(BridgeSource(0), flowSample(5, 200))
	}
	seq := uint32(3)
	got := 0
	for got < 5 {
		b := c.Next(t, 5*time.Second)
		if len(b) > 600 {
			t.Fatalf("datagram %d bytes", len(b))
		}
		dg, err := dec.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range dg.Samples {
			seq++
			got++
			if s.SequenceNumber != seq {
				t.Fatalf("flow sequence %d, want %d", s.SequenceNumber, seq)
			}
		}
	}
}

func TestMergeKeepsHighestPriorityRecordType(t *testing.T) {
	c := testutil.NewCollector(t)
	a := newTestAgent(t, Config{Collectors: []CollectorConfig{{Addr: c.Addr}}}, nil)
	a.Register("host", InterfaceSource(7), PollerFunc(func(recs []sflow.Record) ([]sflow.Record, error) {
		return append(recs, &sflow.IfCounters{IfIndex: 1}, &sflow.PortName{Name: []byte("host")}, &sflow.SFP{ModuleID: 3}), nil
	}))
	a.RegisterPriority("ovs", InterfaceSource(7), PollerFunc(func(recs []sflow.Record) ([]sflow.Record, error) {
		return append(recs, &sflow.IfCounters{IfIndex: 2}, &sflow.OFPort{PortNo: 9}, &sflow.PortName{Name: []byte("ovs")}), nil
	}), 10)
	a.tick(0)
	var d sflow.Decoder
	dg, err := d.Decode(c.Next(t, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range dg.Samples[0].Records {
		switch r := r.(type) {
		case *sflow.IfCounters:
			got = append(got, fmt.Sprintf("if_counters %d", r.IfIndex))
		case *sflow.PortName:
			got = append(got, "port_name "+string(r.Name))
		default:
			got = append(got, sflow.RecordName(r))
		}
	}
	want := []string{"if_counters 2", "of_port", "port_name ovs", "sfp"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("merged records (-want +got):\n%s", diff)
	}
}

func TestNextDue(t *testing.T) {
	a := newTestAgent(t, Config{Polling: 10 * time.Second}, nil)
	if got := a.nextDue(100); got != 100+3600 {
		t.Errorf("no sources: next %d", got)
	}
	a.Register("host", HostSource, portName("x"))
	a.Register("host", InterfaceSource(1), portName("y"))
	a.sources[HostSource].phase = 3
	a.sources[InterfaceSource(1)].phase = 7
	for _, tc := range []struct{ now, want int64 }{{100, 103}, {103, 107}, {107, 113}, {99, 103}, {102, 103}} {
		if got := a.nextDue(tc.now); got != tc.want {
			t.Errorf("nextDue(%d) = %d, want %d", tc.now, got, tc.want)
		}
	}
}

// TestHealthDoesNotFlapAcrossDataSources: a source whose data sources are
// polled at different seconds, one failing, is unhealthy once, not every
// other second; a source's own SetHealth report wins over its polls.
func TestHealthDoesNotFlapAcrossDataSources(t *testing.T) {
	c := testutil.NewCollector(t)
	var logBuf bytes.Buffer
	a := newTestAgent(t, Config{Polling: 2 * time.Second, Collectors: []CollectorConfig{{Addr: c.Addr}}}, slog.New(slog.NewTextHandler(&logBuf, nil)))
	a.Register("host", InterfaceSource(1), portName("ok"))
	a.Register("host", InterfaceSource(2), PollerFunc(func(recs []sflow.Record) ([]sflow.Record, error) {
		return recs, errors.New("eth2 statistics unreadable")
	}))
	a.sources[InterfaceSource(1)].phase = 0
	a.sources[InterfaceSource(2)].phase = 1
	for i := int64(0); i < 8; i++ {
		a.tick(i)
	}
	_ = c
	if n := strings.Count(logBuf.String(), "source unhealthy"); n != 1 {
		t.Errorf("unhealthy logged %d times, want 1:\n%s", n, logBuf.String())
	}
	if strings.Contains(logBuf.String(), "healthy again") {
		t.Errorf("flapped:\n%s", logBuf.String())
	}
	a.SetHealth("host", errors.New("explicit"))
	if h := a.Health()["host"]; h != "explicit" {
		t.Errorf("health %q, want the explicit report", h)
	}
}

// TestTap: a tap sees every datagram sent, after the send, and no more
// once untapped.
func TestTap(t *testing.T) {
	a, err := New(Config{Polling: time.Second}, &fakeAddrs{addrs: []IfAddr{ifa("eth0", 2, "10.0.0.7")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.Elect()
	a.Register("host", InterfaceSource(1), PollerFunc(func(recs []sflow.Record) ([]sflow.Record, error) {
		return append(recs, &sflow.IfCounters{IfIndex: 1}), nil
	}))
	var got [][]byte
	untap := a.Tap(func(b []byte) { got = append(got, append([]byte(nil), b...)) })
	for sec := int64(0); sec < 3; sec++ {
		a.tick(sec)
	}
	if len(got) != 3 {
		t.Fatalf("tap saw %d datagrams, want 3", len(got))
	}
	var dec sflow.Decoder
	dg, err := dec.Decode(got[2])
	if err != nil || dg.SequenceNumber != 3 || len(dg.Samples) != 1 {
		t.Fatalf("third datagram: %+v, %v", dg, err)
	}
	untap()
	a.tick(3)
	if len(got) != 3 {
		t.Errorf("tap saw %d datagrams after untap, want 3", len(got))
	}
}

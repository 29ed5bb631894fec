package agent

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"gwd/sflow"
)

// sizeTap checks every datagram the agent sends against limit and decodes
// it; it returns the samples seen per data source.
func sizeTap(t *testing.T, a *Agent, limit int) map[DataSource][]sflow.Sample {
	seen := map[DataSource][]sflow.Sample{}
	a.onSend = func(b []byte) {
		if len(b) > limit {
			t.Errorf("datagram of %d bytes, over datagram_bytes %d", len(b), limit)
		}
		var d sflow.Decoder
		dg, err := d.Decode(b)
		if err != nil {
			t.Errorf("decode: %v", err)
			return
		}
		for _, s := range dg.Samples {
			ds := DataSource{s.SourceIDType, s.SourceIDIndex}
			s.Records = nil // the decoder reuses them
			seen[ds] = append(seen[ds], s)
		}
	}
	return seen
}

// TestThousandsOfAdapters: a host_adapters record of 5,000 adapters (far
// more than a datagram holds) next to 4,096 interface sources: every
// datagram stays within datagram_bytes, the host sample still goes out
// with its other records, and the record left out is counted and named in
// health.
func TestThousandsOfAdapters(t *testing.T) {
	a := newTestAgent(t, Config{Polling: time.Second, DatagramBytes: 1400}, nil)
	seen := sizeTap(t, a, 1400)
	big := &sflow.HostAdapters{}
	for i := range 5000 {
		big.Adapters = append(big.Adapters, sflow.HostAdapter{IfIndex: uint32(i + 1), MACs: [][6]byte{{2, 0, 0, 0, byte(i >> 8), byte(i)}}})
	}
	a.Register("host", HostSource, PollerFunc(func(recs []sflow.Record) ([]sflow.Record, error) {
		return append(recs, &sflow.HostCPU{LoadOne: 1}, big), nil
	}))
	for i := range 4096 {
		a.Register("host", InterfaceSource(uint32(i+1)), portName("veth"))
	}
	for sec := range int64(3) {
		a.tick(sec)
	}
	if n := len(seen[HostSource]); n != 3 {
		t.Errorf("host samples %d, want one per tick (3)", n)
	}
	for i := range 4096 {
		if n := len(seen[InterfaceSource(uint32(i+1))]); n != 3 {
			t.Fatalf("0:%d: %d samples, want 3", i+1, n)
		}
	}
	if got := a.RecordsLeftOut(); got != 3 {
		t.Errorf("RecordsLeftOut = %d, want 3", got)
	}
	if h := a.Health()["host"]; !strings.Contains(h, "record 0:2001") || !strings.Contains(h, "datagram_bytes 1400") {
		t.Errorf("health = %q, want the record left out named", h)
	}
}

// TestSampleSizesNeverOverflow is the fuzz-style check of the same rule:
// random datagram sizes, random numbers of sources and records of random
// sizes; no datagram exceeds the limit, and every source whose smallest
// record fits gets its sample.
func TestSampleSizesNeverOverflow(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		limit := 200 + rng.IntN(9000)
		a := newTestAgent(t, Config{Polling: time.Second, DatagramBytes: limit}, nil)
		seen := sizeTap(t, a, limit)
		n := 1 + rng.IntN(40)
		fits := map[DataSource]bool{}
		sizes := map[DataSource][]int{}
		for i := range n {
			ds := InterfaceSource(uint32(i + 1))
			var recs []sflow.Record
			smallest := 1 << 30
			for j := range 1 + rng.IntN(4) {
				size := rng.IntN(limit + limit/2)
				recs = append(recs, &sflow.OpaqueRecord{Format: sflow.MakeTag(0, uint32(9000+j)), Data: make([]byte, size)})
				smallest = min(smallest, size)
				sizes[ds] = append(sizes[ds], size)
			}
			// datagram header 28 + sample header 20 + record header 8 + data
			fits[ds] = 28+20+8+smallest <= limit // opaque data is written as given
			a.Register("src", ds, PollerFunc(func(out []sflow.Record) ([]sflow.Record, error) { return append(out, recs...), nil }))
		}
		a.tick(0)
		for ds, ok := range fits {
			if got := len(seen[ds]) == 1; got != ok {
				t.Fatalf("round %d (limit %d): %v sent %v, want %v (sizes %v)", round, limit, ds, got, ok, sizes[ds])
			}
		}
	}
}

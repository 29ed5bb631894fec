package bgp

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gwd/agent"
	"gwd/sflow"
)

func sampleFor(src, dst string, extra ...sflow.Record) *sflow.Sample {
	h := packet(src, dst)
	recs := make([]sflow.Record, 0, 8)
	recs = append(recs, &sflow.SampledHeader{Protocol: protoEthernet, FrameLength: 64, Header: h})
	return &sflow.Sample{Tag: sflow.SampleFlow, Records: append(recs, extra...)}
}

func enrichTable(t testing.TB) *Table {
	tb := NewTable()
	for _, r := range []Route{
		{Prefix: netip.MustParsePrefix("203.0.113.0/24"), NextHop: netip.MustParseAddr("192.0.2.1"),
			Path: seq(65001, 64500), Communities: []uint32{1<<16 | 2}, LocalPref: 120, LocalAS: 65002},
		{Prefix: netip.MustParsePrefix("198.51.100.0/22"), NextHop: netip.MustParseAddr("192.0.2.1"),
			Path: seq(65001, 64510, 64511), LocalPref: 100, LocalAS: 65002},
		{Prefix: netip.MustParsePrefix("10.0.0.0/8"), NextHop: netip.MustParseAddr("192.0.2.9"), LocalPref: 100, LocalAS: 65002},
		{Prefix: netip.MustParsePrefix("2001:db8::/32"), NextHop: netip.MustParseAddr("2001:db8:ffff::1"),
			Path: seq(65003), LocalPref: 100, LocalAS: 65002},
	} {
		if err := tb.Set(r); err != nil {
			t.Fatal(err)
		}
	}
	return tb
}

func records(s *sflow.Sample) (r *sflow.ExtendedRouter, g *sflow.ExtendedGateway, n int) {
	for _, x := range s.Records {
		switch x := x.(type) {
		case *sflow.ExtendedRouter:
			r = x
			n++
		case *sflow.ExtendedGateway:
			g = x
			n++
		}
	}
	return r, g, n
}

func TestEnricher(t *testing.T) {
	tb := enrichTable(t)
	e := NewEnricher(tb, true, true)
	nh := netip.MustParseAddr("192.0.2.1")

	s := sampleFor("198.51.101.1", "203.0.113.5")
	e.EnrichFlow(agent.BridgeSource(0), s)
	r, g, _ := records(s)
	if diff := cmp.Diff(&sflow.ExtendedRouter{NextHop: nh, SrcMaskLen: 22, DstMaskLen: 24}, r, recOpts...); diff != "" {
		t.Errorf("router (-want +got):\n%s", diff)
	}
	wantG := &sflow.ExtendedGateway{NextHop: nh, AS: 65002, SrcAS: 64511, SrcPeerAS: 65001,
		DstASPath: seq(65001, 64500), Communities: []uint32{1<<16 | 2}, LocalPref: 120}
	if diff := cmp.Diff(wantG, g, recOpts...); diff != "" {
		t.Errorf("gateway (-want +got):\n%s", diff)
	}

	// A source inside the local AS (empty path): the local AS both times.
	s = sampleFor("2001:db9::1", "2001:db8::1")
	e.EnrichFlow(agent.BridgeSource(0), s)
	if r, g, _ := records(s); r == nil || r.DstMaskLen != 32 || g == nil || g.SrcAS != 0 || g.DstASPath[0].ASNs[0] != 65003 {
		t.Errorf("IPv6: %+v %+v", r, g)
	}
	s = sampleFor("10.1.1.1", "192.168.1.1")
	e.EnrichFlow(agent.BridgeSource(0), s)
	if _, g, _ := records(s); g == nil || g.SrcAS != 65002 || g.SrcPeerAS != 65002 || g.NextHop.IsValid() {
		t.Errorf("local source: gateway %+v", g)
	}

	// Records already present are not duplicated.
	own := &sflow.ExtendedRouter{SrcMaskLen: 1}
	s = sampleFor("198.51.101.1", "203.0.113.5", own)
	e.EnrichFlow(agent.BridgeSource(0), s)
	if r, g, n := records(s); n != 2 || r != own || g == nil {
		t.Errorf("with an extended_router already: %d records, router %+v", n, r)
	}

	// Per-record switches.
	for _, c := range []struct{ router, gw bool }{{true, false}, {false, true}, {false, false}} {
		s = sampleFor("198.51.101.1", "203.0.113.5")
		NewEnricher(tb, c.router, c.gw).EnrichFlow(agent.BridgeSource(0), s)
		if r, g, _ := records(s); (r != nil) != c.router || (g != nil) != c.gw {
			t.Errorf("router %v gateway %v: got %v %v", c.router, c.gw, r, g)
		}
	}

	// Without a sampled header, or with a non-IP one, nothing is added.
	s = &sflow.Sample{Tag: sflow.SampleFlow, Records: []sflow.Record{&sflow.ExtendedSwitch{}}}
	e.EnrichFlow(agent.BridgeSource(0), s)
	if len(s.Records) != 1 {
		t.Error("records added without a sampled header")
	}

	// A changed route gives new records, a withdrawn one none: the cache
	// never serves what the table no longer holds.
	tb.Set(Route{Prefix: netip.MustParsePrefix("203.0.113.0/24"), NextHop: nh, Path: seq(65009), LocalPref: 80, LocalAS: 65002})
	s = sampleFor("198.51.101.1", "203.0.113.5")
	e.EnrichFlow(agent.BridgeSource(0), s)
	if _, g, _ := records(s); g == nil || g.LocalPref != 80 || g.DstASPath[0].ASNs[0] != 65009 {
		t.Errorf("after a replace: %+v", g)
	}
	tb.Delete(netip.MustParsePrefix("203.0.113.0/24"))
	tb.Delete(netip.MustParsePrefix("198.51.100.0/22"))
	s = sampleFor("198.51.101.1", "203.0.113.5")
	e.EnrichFlow(agent.BridgeSource(0), s)
	if _, _, n := records(s); n != 0 {
		t.Errorf("after withdrawal: %d records", n)
	}
}

// TestEnricherNoAllocs: in steady state an enriched sample costs no
// allocation.
func TestEnricherNoAllocs(t *testing.T) {
	e := NewEnricher(enrichTable(t), true, true)
	s := sampleFor("198.51.101.1", "203.0.113.5")
	base := s.Records
	allocs := testing.AllocsPerRun(1000, func() {
		s.Records = base[:1]
		e.EnrichFlow(agent.BridgeSource(0), s)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per enriched sample", allocs)
	}
	if _, _, n := records(s); n != 2 {
		t.Fatalf("%d records", n)
	}
}

// TestEnrichConcurrent: samples are enriched on several goroutines while
// the table changes under them (run with -race): readers never lock, and
// every record they add is whole.
func TestEnrichConcurrent(t *testing.T) {
	tb := enrichTable(t)
	e := NewEnricher(tb, true, true)
	write := func(i int) error {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i % 4 * 64)}), 26)
		if i%3 == 0 {
			tb.Delete(p)
			return nil
		}
		// Valid routes: Set fails only on a bad prefix.
		_ = tb.Set(Route{Prefix: p, NextHop: netip.MustParseAddr("192.0.2.3"), Path: seq(uint32(i % 50)), LocalPref: uint32(i % 7), LocalAS: 65002})
		return nil
	}
	underChurn(t, write, func() string {
		s := sampleFor("198.51.101.1", "203.0.113.70")
		base := s.Records
		for i := 0; i < 20000; i++ {
			s.Records = base[:1]
			e.EnrichFlow(agent.BridgeSource(0), s)
			r, gw, n := records(s)
			if n != 2 || (r.DstMaskLen != 24 && r.DstMaskLen != 26) || gw.SrcAS != 64511 {
				return fmt.Sprintf("sample %d: %d records, router %+v, gateway %+v", i, n, r, gw)
			}
		}
		return ""
	})
}

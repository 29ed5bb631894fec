package bgp

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"testing"

	"gwd/agent"
	"gwd/sflow"
)

// The full-table fixture: about 1M IPv4 and 200k IPv6 prefixes, drawn
// deterministically with a length mix close to today's DFZ (IPv4: 60% /24,
// then /22, /23, /21, /20 ..., 1.5% /16, a few shorter; IPv6: half /48,
// then /32, /44, /40, /36, /29 ..., inside some 30k allocations), and AS
// paths of 2 to 6 hops toward about 75k origin ASes through two upstreams
// (two next hops), 0 to 3 communities.
const (
	fixtureV4 = 1_000_000
	fixtureV6 = 200_000
)

var (
	v4Lengths = []struct{ len, weight int }{{24, 600}, {23, 95}, {22, 120}, {21, 40}, {20, 40}, {19, 30},
		{18, 15}, {17, 10}, {16, 15}, {15, 4}, {14, 3}, {13, 2}, {12, 1}, {11, 1}, {10, 1}, {8, 1}}
	v6Lengths = []struct{ len, weight int }{{48, 500}, {32, 120}, {44, 80}, {40, 60}, {36, 50}, {29, 40},
		{46, 25}, {47, 20}, {45, 15}, {42, 15}, {33, 15}, {34, 10}, {35, 10}, {38, 10}, {64, 20}, {56, 10}}
)

func pickLen(r *rand.Rand, ls []struct{ len, weight int }) int {
	total := 0
	for _, l := range ls {
		total += l.weight
	}
	x := r.IntN(total)
	for _, l := range ls {
		if x < l.weight {
			return l.len
		}
		x -= l.weight
	}
	return ls[0].len
}

type fixture struct {
	routes []Route
	v4, v6 []netip.Addr // addresses inside the table's prefixes, for lookups
}

var (
	fixOnce sync.Once
	fix     fixture
)

func fullTable() *fixture {
	fixOnce.Do(func() {
		r := rand.New(rand.NewPCG(2026, 12))
		seen := map[netip.Prefix]bool{}
		nh := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")}
		nh6 := []netip.Addr{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")}
		// A single peer's full table: an origin AS reaches us by one AS
		// path (one in ten by a second one, through the other upstream
		// and next hop), and its prefixes carry the same communities.
		attrsFor := func(rt *Route, _ int) {
			origin := uint32(1 + r.IntN(75_000))
			up := origin % 2
			if r.IntN(10) == 0 {
				up = 1 - up
			}
			hops := 2 + int(origin%5)
			asns := make([]uint32, 0, hops)
			asns = append(asns, 65001, 174+up*3182+origin%13)
			for len(asns) < hops-1 {
				asns = append(asns, 1000+origin%997+uint32(len(asns)))
			}
			asns = append(asns, origin)
			rt.Path = []sflow.ASPathSegment{{Type: 2, ASNs: asns}}
			for c := uint32(0); c < origin%4; c++ {
				rt.Communities = append(rt.Communities, 65001<<16|(100+c*10+up))
			}
			rt.LocalPref, rt.LocalAS = 100, 65002
			if rt.Prefix.Addr().Is4() {
				rt.NextHop = nh[up]
			} else {
				rt.NextHop = nh6[up]
			}
		}
		for len(fix.routes) < fixtureV4 {
			var b [4]byte
			b[0] = byte(1 + r.IntN(223))
			b[1], b[2], b[3] = byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))
			p := netip.PrefixFrom(netip.AddrFrom4(b), pickLen(r, v4Lengths)).Masked()
			if seen[p] {
				continue
			}
			seen[p] = true
			rt := Route{Prefix: p, NextHop: nh[r.IntN(2)]}
			attrsFor(&rt, len(fix.routes))
			fix.routes = append(fix.routes, rt)
		}
		allocs := make([][4]byte, 30_000)
		for i := range allocs {
			allocs[i] = [4]byte{0x20 | byte(r.IntN(16)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))}
		}
		for n := 0; n < fixtureV6; {
			var b [16]byte
			a := allocs[r.IntN(len(allocs))]
			copy(b[:4], a[:])
			for i := 4; i < 8; i++ {
				b[i] = byte(r.IntN(256))
			}
			p := netip.PrefixFrom(netip.AddrFrom16(b), pickLen(r, v6Lengths)).Masked()
			if seen[p] {
				continue
			}
			seen[p] = true
			rt := Route{Prefix: p, NextHop: nh6[r.IntN(2)]}
			attrsFor(&rt, n)
			fix.routes = append(fix.routes, rt)
			n++
		}
		host := func(p netip.Prefix) netip.Addr {
			b := p.Addr().AsSlice()
			for i := range b {
				if i*8 >= p.Bits() {
					b[i] = byte(r.IntN(256))
				} else if rem := p.Bits() - i*8; rem < 8 {
					b[i] |= byte(r.IntN(256)) & (0xff >> rem)
				}
			}
			a, _ := netip.AddrFromSlice(b)
			return a
		}
		for i := 0; i < 1<<16; i++ {
			fix.v4 = append(fix.v4, host(fix.routes[r.IntN(fixtureV4)].Prefix))
			fix.v6 = append(fix.v6, host(fix.routes[fixtureV4+r.IntN(fixtureV6)].Prefix))
		}
	})
	return &fix
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

var (
	tableOnce sync.Once
	fullTbl   *Table
	fullBytes uint64
)

// loadedTable is the fixture in a table, and the heap it took.
func loadedTable(b testing.TB) *Table {
	f := fullTable()
	tableOnce.Do(func() {
		before := heapAlloc()
		t := NewTable()
		for _, rt := range f.routes {
			if err := t.Set(rt); err != nil {
				b.Fatal(err)
			}
		}
		fullBytes = heapAlloc() - before
		fullTbl = t
	})
	return fullTbl
}

// BenchmarkTableMemory builds the full table once and reports the heap it
// holds (HeapAlloc after GC, before and after), per route and in total.
func BenchmarkTableMemory(b *testing.B) {
	t := loadedTable(b)
	for b.Loop() {
	}
	n4, n6 := t.Counts()
	b.ReportMetric(float64(fullBytes)/float64(n4+n6), "bytes/route")
	b.ReportMetric(float64(fullBytes)/(1<<20), "MiB")
	b.ReportMetric(float64(len(t.byKey)), "attr-sets")
	b.ReportMetric(float64(len(t.paths)), "as-paths")
}

func BenchmarkLookupV4(b *testing.B)    { benchLookup(b, true, 1<<16) }
func BenchmarkLookupV6(b *testing.B)    { benchLookup(b, false, 1<<16) }
func BenchmarkLookupV4Hot(b *testing.B) { benchLookup(b, true, 4096) }
func BenchmarkLookupV6Hot(b *testing.B) { benchLookup(b, false, 4096) }

// benchLookup looks up n addresses of the full table in turn (n a power
// of two): 65,536 miss the caches nearly every time; 4,096 (the Hot
// benchmarks) are closer to real traffic, whose active destinations are
// a few thousand.
func benchLookup(b *testing.B, v4 bool, n int) {
	t := loadedTable(b)
	f, src := t.v6, fix.v6
	if v4 {
		f, src = t.v4, fix.v4
	}
	addrs := make([]addrBits, n)
	for i := range addrs {
		addrs[i] = toBits(src[i])
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if v := f.lookup(addrs[i&(n-1)]); v == 0 {
			b.Fatal("miss")
		}
		i++
	}
}

// BenchmarkEnrichFlow is the cost the enricher adds to one relayed flow
// sample (sampled header of an Ethernet/VLAN/IPv4 packet, both ends in
// the full table), over 4096 distinct flows, so the record cache misses
// often.
func BenchmarkEnrichFlow(b *testing.B) {
	t := loadedTable(b)
	e := NewEnricher(t, true, true)
	samples := make([]*sflow.Sample, 4096)
	for i := range samples {
		samples[i] = sampleFor(fix.v4[2*i].String(), fix.v4[2*i+1].String())
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s := samples[i&(len(samples)-1)]
		s.Records = s.Records[:1]
		e.EnrichFlow(agent.BridgeSource(0), s)
		i++
	}
}

// BenchmarkEnrichFlowSteady: the same flow again and again (the record
// cache hits): what a long flow costs per sample.
func BenchmarkEnrichFlowSteady(b *testing.B) {
	t := loadedTable(b)
	e := NewEnricher(t, true, true)
	s := sampleFor(fix.v4[0].String(), fix.v4[1].String())
	b.ReportAllocs()
	for b.Loop() {
		s.Records = s.Records[:1]
		e.EnrichFlow(agent.BridgeSource(0), s)
	}
}

// BenchmarkRandomRead is the reference for the lookups: dependent reads
// (each address comes from the read before) of random cache lines of a
// 256 MiB array, one cycle through all of them (Sattolo's shuffle), so
// every read misses the caches: what one DRAM and TLB miss costs on the
// machine that runs the benchmarks. A lookup's reads are dependent the
// same way; consecutive lookups are not, and overlap.
func BenchmarkRandomRead(b *testing.B) {
	const lines = 4 << 20 // 64 B each
	next := make([]uint64, lines*8)
	r := rand.New(rand.NewPCG(1, 2))
	perm := make([]uint32, lines)
	for i := range perm {
		perm[i] = uint32(i)
	}
	for i := lines - 1; i > 0; i-- {
		j := r.IntN(i)
		perm[i], perm[j] = perm[j], perm[i]
	}
	for i := range perm {
		next[i*8] = uint64(perm[i]) * 8
	}
	var x uint64
	for b.Loop() {
		x = next[x]
	}
	if x == 1 {
		b.Log(x)
	}
}

// BenchmarkTableUpdate is the writer's cost of one route change in the
// full table (outside a batch): a route's local preference flips, so
// its value changes and its root slot's block is compiled again.
func BenchmarkTableUpdateV4(b *testing.B) { benchUpdate(b, 0, fixtureV4) }
func BenchmarkTableUpdateV6(b *testing.B) { benchUpdate(b, fixtureV4, fixtureV6) }

func benchUpdate(b *testing.B, first, n int) {
	t := loadedTable(b)
	b.Cleanup(func() { tableOnce = sync.Once{} }) // the table is changed
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		rt := fix.routes[first+i*7919%n]
		rt.LocalPref = 100 + uint32(i&1)
		if err := t.Set(rt); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

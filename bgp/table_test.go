package bgp

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"gwd/sflow"
)

// naive is the reference: a linear scan for the longest covering prefix.
type naive map[netip.Prefix]uint32

func (n naive) lookup(a netip.Addr) (netip.Prefix, uint32, bool) {
	var best netip.Prefix
	var v uint32
	found := false
	for p, x := range n {
		if p.Contains(a) && (!found || p.Bits() > best.Bits()) {
			best, v, found = p, x, true
		}
	}
	return best, v, found
}

// set stores p with local preference lp (next hop 192.0.2.1) in tb and
// in the reference.
func (n naive) set(t *testing.T, tb *Table, p netip.Prefix, lp uint32) {
	t.Helper()
	if err := tb.Set(Route{Prefix: p, LocalPref: lp, NextHop: netip.MustParseAddr("192.0.2.1")}); err != nil {
		t.Fatal(err)
	}
	n[p] = lp
}

// differs reports how tb's lookup of a differs from the reference's
// (prefix length and local preference, the route's identity here), or ""
// when they agree.
func (n naive) differs(tb *Table, a netip.Addr) string {
	wp, wv, wok := n.lookup(a)
	at, plen := tb.Lookup(a)
	if (at != nil) != wok || (wok && (plen != wp.Bits() || at.localPref != wv)) {
		return fmt.Sprintf("Lookup(%v) = (%v, /%d), want (%v, %v, lp %d)", a, at, plen, wok, wp, wv)
	}
	return ""
}

// randPrefix draws a prefix inside a small part of the space so that
// prefixes nest and overlap often.
func randPrefix(r *rand.Rand, v4 bool) netip.Prefix {
	if v4 {
		b := [4]byte{10, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))}
		if r.IntN(8) == 0 {
			b[0] = byte(r.IntN(256))
		}
		return netip.PrefixFrom(netip.AddrFrom4(b), r.IntN(33)).Masked()
	}
	var b [16]byte
	b[0], b[1], b[2] = 0x20, 0x01, byte(r.IntN(4))
	for i := 3; i < 16; i++ {
		b[i] = byte(r.IntN(4)) << 6
	}
	if r.IntN(8) == 0 {
		b[0] = byte(r.IntN(256))
	}
	return netip.PrefixFrom(netip.AddrFrom16(b), r.IntN(129)).Masked()
}

func randAddr(r *rand.Rand, ps []netip.Prefix, v4 bool) netip.Addr {
	if len(ps) > 0 && r.IntN(2) == 0 {
		// inside a known prefix, random host bits
		p := ps[r.IntN(len(ps))]
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
	return randPrefix(r, v4).Addr()
}

// TestTableAgainstNaive is a property test: after every random insert,
// replace or delete, lookups of random addresses agree with a linear scan
// over the same prefixes (prefix length and the route's local preference,
// used as its identity).
func TestTableAgainstNaive(t *testing.T) {
	for _, c := range []struct{ v4, dir bool }{{true, false}, {true, true}, {false, false}} {
		v4 := c.v4
		r := rand.New(rand.NewPCG(7, map[bool]uint64{true: 4, false: 6}[v4]))
		tb := NewTable()
		if c.dir { // the IPv4 direct table from the first prefix on
			tb.v4.dirMin = 0
		}
		ref := naive{}
		var known []netip.Prefix
		for step := 0; step < 4000; step++ {
			var p netip.Prefix
			if len(known) > 0 && r.IntN(3) == 0 {
				p = known[r.IntN(len(known))]
			} else {
				p = randPrefix(r, v4)
				known = append(known, p)
			}
			if r.IntN(4) == 0 {
				_, had := ref[p]
				if got := tb.Delete(p); got != had {
					t.Fatalf("step %d: Delete(%v) = %v, want %v", step, p, got, had)
				}
				delete(ref, p)
			} else {
				ref.set(t, tb, p, uint32(r.IntN(50))) // few distinct values: shared attribute sets
			}
			for q := 0; q < 20; q++ {
				a := randAddr(r, known, v4)
				if msg := ref.differs(tb, a); msg != "" {
					t.Fatalf("step %d: %s", step, msg)
				}
			}
		}
		n4, n6 := tb.Counts()
		if got := map[bool]int{true: n4, false: n6}[v4]; got != len(ref) {
			t.Fatalf("Counts = %d, %d, want %d prefixes", n4, n6, len(ref))
		}
		// Every prefix is found by walking.
		seen := 0
		f := tb.v6
		if v4 {
			f = tb.v4
		}
		f.walk(func(b addrBits, plen int, v value) {
			p := b.prefix(plen, v4)
			if _, ok := ref[p]; !ok {
				t.Errorf("walk found %v, not in the reference", p)
			}
			seen++
		})
		if seen != len(ref) {
			t.Fatalf("walk saw %d prefixes, want %d", seen, len(ref))
		}
		// Deleting everything leaves an empty table and no interned data.
		for p := range ref {
			tb.Delete(p)
		}
		if n4, n6 := tb.Counts(); n4+n6 != 0 || len(tb.byKey) != 0 || len(tb.paths) != 0 || len(tb.comms) != 0 {
			t.Fatalf("after deleting all: counts %d/%d, %d attribute sets, %d paths, %d community lists",
				n4, n6, len(tb.byKey), len(tb.paths), len(tb.comms))
		}
		for i := range f.kids {
			if f.kids[i] != nil || f.blob[i].Load() != nil || f.val[i].Load() != 0 {
				t.Fatalf("root slot %d not empty after deleting all", i)
			}
		}
	}
}

// TestTableInterning: prefixes with the same attributes share one set, and
// AS paths are shared between sets that differ elsewhere.
func TestTableInterning(t *testing.T) {
	tb := NewTable()
	path := []sflow.ASPathSegment{{Type: 2, ASNs: []uint32{65001, 64500}}}
	for i := 0; i < 100; i++ {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, byte(i), 0}), 24)
		if err := tb.Set(Route{Prefix: p, NextHop: netip.MustParseAddr("192.0.2.1"), Path: path, LocalPref: uint32(100 + i%2)}); err != nil {
			t.Fatal(err)
		}
	}
	if len(tb.byKey) != 2 || len(tb.paths) != 1 {
		t.Fatalf("%d attribute sets, %d paths; want 2 and 1", len(tb.byKey), len(tb.paths))
	}
	a, plen := tb.Lookup(netip.MustParseAddr("198.51.7.9"))
	if a == nil || plen != 24 || a.path.origin != 64500 || a.path.first != 65001 || a.localPref != 101 {
		t.Fatalf("Lookup = %+v /%d", a, plen)
	}
	path[0].ASNs[0] = 1 // the caller's slice is not kept
	if a.path.segs[0].ASNs[0] != 65001 {
		t.Fatal("the table kept the caller's AS path slice")
	}
	if n := tb.DeletePeer(0); n != 100 {
		t.Fatalf("DeletePeer removed %d, want 100", n)
	}
	if a, _ := tb.Lookup(netip.MustParseAddr("198.51.7.9")); a != nil {
		t.Fatal("route still found after DeletePeer")
	}
}

// TestTableBatch: changes made in batches of random size give, once each
// batch is over, the lookups of the reference.
func TestTableBatch(t *testing.T) {
	for _, v4 := range []bool{true, false} {
		r := rand.New(rand.NewPCG(9, 3))
		tb := NewTable()
		tb.v4.dirMin = 0
		ref := naive{}
		var known []netip.Prefix
		for batch := 0; batch < 150; batch++ {
			tb.Batch(func() {
				for n := 1 + r.IntN(40); n > 0; n-- {
					p := randPrefix(r, v4)
					if len(known) > 0 && r.IntN(3) == 0 {
						p = known[r.IntN(len(known))]
					}
					known = append(known, p)
					if r.IntN(4) == 0 {
						tb.Delete(p)
						delete(ref, p)
						continue
					}
					ref.set(t, tb, p, uint32(r.IntN(50)))
				}
			})
			for q := 0; q < 50; q++ {
				a := randAddr(r, known, v4)
				if msg := ref.differs(tb, a); msg != "" {
					t.Fatalf("after batch %d: %s", batch, msg)
				}
			}
		}
	}
}

// TestTableConcurrentChurn: readers looking up addresses whose answer
// never changes keep getting it while a writer rewrites the blocks and
// direct-table words around them, and the slabs are compacted under them
// (run with -race).
func TestTableConcurrentChurn(t *testing.T) {
	defer func(n int) { slabWords = n }(slabWords)
	slabWords = 256 // many slabs: compaction runs often
	tb := NewTable()
	tb.v4.dirMin = 0
	nh := netip.MustParseAddr("192.0.2.1")
	const n = 32 // root slots, each with one stable prefix per family
	for x := 0; x < n; x++ {
		for _, p := range []string{fmt.Sprintf("10.%d.1.0/24", x), fmt.Sprintf("%x:db8:1::/48", 0x2000+x)} {
			if err := tb.Set(Route{Prefix: netip.MustParsePrefix(p), LocalPref: uint32(100 + x), NextHop: nh}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Churn in the odd slots only (the even slots' blocks stay put in
	// older slabs until compaction moves them): prefixes that never cover
	// the probed addresses (.200 and :ffff::1), or cover them less
	// specifically.
	churn := func(i int) netip.Prefix {
		x := i%n | 1
		switch i % 4 {
		case 0:
			return netip.MustParsePrefix(fmt.Sprintf("10.%d.1.0/25", x))
		case 1:
			return netip.MustParsePrefix(fmt.Sprintf("%x:db8:1:%x::/64", 0x2000+x, i%0x7fff))
		case 2:
			return netip.MustParsePrefix(fmt.Sprintf("10.%d.0.0/17", x))
		default:
			return netip.MustParsePrefix(fmt.Sprintf("%x:db8::/44", 0x2000+x))
		}
	}
	write := func(i int) error {
		if p := churn(i); i%3 == 0 {
			tb.Delete(p)
		} else if err := tb.Set(Route{Prefix: p, LocalPref: 7, NextHop: nh}); err != nil {
			return err
		}
		return nil
	}
	underChurn(t, write, func() string {
		for i := 0; i < 50000; i++ {
			x := i % n
			a4 := netip.MustParseAddr(fmt.Sprintf("10.%d.1.200", x))
			a6 := netip.MustParseAddr(fmt.Sprintf("%x:db8:1:ffff::1", 0x2000+x))
			for _, a := range []netip.Addr{a4, a6} {
				at, plen := tb.Lookup(a)
				if at == nil || at.localPref != uint32(100+x) || (plen != 24 && plen != 48) {
					return fmt.Sprintf("lookup %d of %v: %+v /%d", i, a, at, plen)
				}
			}
		}
		return ""
	})
}

// underChurn runs write(0), write(1), ... on one goroutine while two
// others run read, until both readers return; a reader returns what went
// wrong, or "". A write error fails the test and ends the writes.
func underChurn(t *testing.T, write func(i int) error, read func() string) {
	t.Helper()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := write(i); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	errs := make(chan string, 2)
	for g := 0; g < 2; g++ {
		go func() { errs <- read() }()
	}
	for g := 0; g < 2; g++ {
		if msg := <-errs; msg != "" {
			t.Error(msg)
		}
	}
	close(stop)
	<-done
}

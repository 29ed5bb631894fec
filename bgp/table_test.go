package bgp

import (
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
	for _, v4 := range []bool{true, false} {
		r := rand.New(rand.NewPCG(7, map[bool]uint64{true: 4, false: 6}[v4]))
		tb := NewTable()
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
				lp := uint32(r.IntN(50)) // few distinct values: shared attribute sets
				if err := tb.Set(Route{Prefix: p, LocalPref: lp, NextHop: netip.MustParseAddr("192.0.2.1")}); err != nil {
					t.Fatal(err)
				}
				ref[p] = lp
			}
			for q := 0; q < 20; q++ {
				a := randAddr(r, known, v4)
				wp, wv, wok := ref.lookup(a)
				at, plen := tb.Lookup(a)
				if (at != nil) != wok || (wok && (plen != wp.Bits() || at.localPref != wv)) {
					t.Fatalf("step %d: Lookup(%v) = (%v, /%d), want (%v, %v, lp %d)", step, a, at, plen, wok, wp, wv)
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
		for i := range f.root {
			if f.root[i].kid.Load() != nil || f.root[i].val.Load() != 0 {
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

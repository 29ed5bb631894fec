package bgp

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"unsafe"
)

func TestBits32(t *testing.T) {
	a := toBits(netip.MustParseAddr("0102:0304:0506:0708:090a:0b0c:0d0e:0f10"))
	for _, c := range []struct {
		off  int
		want uint32
	}{
		{0, 0x01020304}, {8, 0x02030405}, {16, 0x03040506}, {32, 0x05060708}, {40, 0x0607_0809},
		{56, 0x08090a0b}, {64, 0x090a0b0c}, {96, 0x0d0e0f10}, {104, 0x0e0f1000}, {120, 0x10000000},
	} {
		if got := a.bits32(c.off); got != c.want {
			t.Errorf("bits32(%d) = %#x, want %#x", c.off, got, c.want)
		}
	}
	if got := toBits(netip.MustParseAddr("10.1.2.3")).bits32(16); got != 0x02030000 {
		t.Errorf("IPv4 bits32(16) = %#x, want 0x02030000", got)
	}
}

// topKind says how the block of a's root slot starts: "range", "sparse",
// "dense" or "none".
func topKind(f *family, a netip.Addr) string {
	p := f.blob[toBits(a).top16()].Load()
	if p == nil {
		return "none"
	}
	h := unsafe.Slice(p, *p)[1]
	switch {
	case h&sparseNode != 0 && h&rangeNode != 0:
		return "range"
	case h&sparseNode != 0:
		return "sparse"
	}
	return "dense"
}

// disjoint returns n prefixes of length plen under base, every other one
// (so that each leaves a gap after it: 2n+1 runs).
func disjoint(base string, plen, n int) []string {
	b := netip.MustParsePrefix(base)
	var out []string
	for i := 0; i < n; i++ {
		a := b.Addr().As16()
		if b.Addr().Is4() {
			a4 := b.Addr().As4()
			x := uint32(a4[0])<<24 | uint32(a4[1])<<16 | uint32(a4[2])<<8 | uint32(a4[3])
			x += uint32(2*i) << (32 - plen)
			out = append(out, fmt.Sprintf("%d.%d.%d.%d/%d", byte(x>>24), byte(x>>16), byte(x>>8), byte(x), plen))
			continue
		}
		hi := uint64(a[0])<<56 | uint64(a[1])<<48 | uint64(a[2])<<40 | uint64(a[3])<<32 |
			uint64(a[4])<<24 | uint64(a[5])<<16 | uint64(a[6])<<8 | uint64(a[7])
		hi += uint64(2*i) << (64 - plen)
		out = append(out, addrBits{hi: hi}.prefix(plen, false).String())
	}
	return out
}

// TestRangeNodes checks the cases at a range node's edges: lookups at
// every prefix's first and last address and just outside them agree with
// a linear scan, and the slot's block starts with the node kind expected
// (so the test fails if range nodes stop being made, or are made where
// they cannot hold the prefixes).
func TestRangeNodes(t *testing.T) {
	cases := []struct {
		name     string
		prefixes []string
		kind     string // of the block of the first prefix's root slot
	}{
		{"one /48", []string{"2001:db8:1::/48"}, "range"},
		{"nested /20 /32 /48", []string{"2001:d00::/24", "2001:db8::/32", "2001:db8:1::/48"}, "range"},
		{"window's last address", []string{"2001:ffff:ffff::/48", "2001:ffff:ff00::/40", "2001:ff00::/24"}, "range"},
		{"ends past the window", []string{"2001:db8:1::/48", "2001:db8:1:1::/64"}, "sparse"},
		{"/49 under a /17", []string{"2001:8000::/17", "2001:8000:0:8000::/49"}, "sparse"},
		{"as many runs as fit", disjoint("2001:db8::/32", 40, (rangeMax-1)/2), "range"},
		{"two runs too many", disjoint("2001:db8::/32", 40, rangeMax/2), "sparse"},
		{"adjacent, same value", []string{"2001:db8::/48", "2001:db8:1::/48", "2001:db8:2::/48", "2001:db8:3::/48",
			"2001:db8:4::/48", "2001:db8:5::/48", "2001:db8:6::/48", "2001:db8:7::/48", "2001:db8:8::/48",
			"2001:db8:9::/48", "2001:db8:a::/48", "2001:db8:b::/48", "2001:db8:c::/48", "2001:db8:d::/48",
			"2001:db8:e::/48", "2001:db8:f::/48", "2001:db8:10::/48", "2001:db8:11::/48"}, "range"},
		{"IPv4 slot", []string{"10.1.0.0/17", "10.1.2.0/24", "10.1.2.128/25", "10.1.255.255/32"}, "range"},
		{"IPv4 /32 at the window's end", []string{"10.2.255.255/32"}, "range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tb := NewTable()
			ref := naive{}
			var probes []netip.Addr
			for i, s := range c.prefixes {
				p := netip.MustParsePrefix(s)
				lp := uint32(100 + i)
				if c.name == "adjacent, same value" {
					lp = 100
				}
				ref.set(t, tb, p, lp)
				first, last := p.Addr(), lastAddr(p)
				probes = append(probes, first, last, first.Prev(), last.Next())
			}
			f := tb.v6
			first := netip.MustParsePrefix(c.prefixes[0]).Addr()
			if first.Is4() {
				f = tb.v4
			}
			if got := topKind(f, first); got != c.kind {
				t.Errorf("block starts with a %s node, want %s", got, c.kind)
			}
			for _, a := range probes {
				if !a.IsValid() {
					continue
				}
				if msg := ref.differs(tb, a); msg != "" {
					t.Error(msg)
				}
			}
		})
	}
}

// lastAddr is the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := range b {
		if rem := p.Bits() - i*8; rem <= 0 {
			b[i] = 0xff
		} else if rem < 8 {
			b[i] |= 0xff >> rem
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// TestRangeNodesRandom is a property test aimed at range nodes: small
// random sets of /33-/64 prefixes (and sometimes covering /20-/32 ones)
// under one /32, with few distinct attribute sets so that runs merge, set
// and deleted at random; after each change, lookups at every prefix's
// edges and at random addresses agree with a linear scan. It also counts
// the range nodes made, so that it fails if none are.
func TestRangeNodesRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(22, 12))
	ranges := 0
	for round := 0; round < 150; round++ {
		tb := NewTable()
		ref := naive{}
		var known []netip.Prefix
		for step := 0; step < 40; step++ {
			var p netip.Prefix
			if len(known) > 0 && r.IntN(4) == 0 {
				p = known[r.IntN(len(known))]
				tb.Delete(p)
				delete(ref, p)
			} else {
				var b [16]byte
				copy(b[:], netip.MustParseAddr("2001:db8::").AsSlice())
				for i := 4; i < 8; i++ {
					b[i] = byte(r.IntN(256))
				}
				plen := 33 + r.IntN(32)
				if r.IntN(10) == 0 {
					plen = 20 + r.IntN(13)
				}
				p = netip.PrefixFrom(netip.AddrFrom16(b), plen).Masked()
				ref.set(t, tb, p, uint32(r.IntN(3)))
				known = append(known, p)
			}
			var probes []netip.Addr
			for q := range ref {
				probes = append(probes, q.Addr(), lastAddr(q), q.Addr().Prev(), lastAddr(q).Next())
			}
			for q := 0; q < 10; q++ {
				probes = append(probes, randAddr(r, known, false))
			}
			for _, a := range probes {
				if msg := ref.differs(tb, a); msg != "" {
					t.Fatalf("round %d step %d: %s", round, step, msg)
				}
			}
		}
		ranges += countRangeNodes(tb.v6)
	}
	if ranges == 0 {
		t.Fatal("no range node was made: the test no longer covers them")
	}
	t.Logf("%d range nodes in the final tables", ranges)
}

// countRangeNodes walks every block of f and counts its range nodes.
func countRangeNodes(f *family) int {
	n := 0
	var walk func(w []uint32, o uint32)
	walk = func(w []uint32, o uint32) {
		h := w[o]
		switch {
		case h&sparseNode != 0 && h&rangeNode != 0:
			n++
		case h&sparseNode != 0:
			nr, nk := h&15, h>>4&15
			at := o + 1
			if nk > 0 {
				at += 2
			}
			if nr > 1 {
				at += 2
			}
			for k := uint32(0); k < nk; k++ {
				walk(w, w[at+k])
			}
		default:
			for k := uint32(0); k < h; k++ {
				walk(w, w[o+hdrWords+k])
			}
		}
	}
	for i := range f.blob {
		if p := f.blob[i].Load(); p != nil {
			walk(unsafe.Slice(p, *p), 1)
		}
	}
	return n
}

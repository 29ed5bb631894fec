package bgp

import (
	"math/bits"
	"slices"
)

// Range nodes: a subtree whose prefixes all end within the 32 bits from
// its node's offset, and that splits those 32 bits into at most rangeMax
// runs of equal value, is compiled into one node that lists the runs
// instead of a chain of stride-8 nodes:
//
//	header: sparseNode | rangeNode | nr (1..rangeMax, bits 0-5)
//	1 word:     the first run's value
//	nr-1 pairs: where run r starts (the 32 address bits from the node's
//	            offset; ascending), run r's value
//
// Values are leaf-pushed (0: the short prefix answers). A lookup there
// reads the 32 bits once and steps through the starts while they are at
// or below them; the value it wants sits beside the last start it read,
// so the node's cache lines are read in order, not one after another's
// result. In a full IPv6 table an allocation (/32) holds a few
// prefixes of /33 to /64, which before took a node per 8 bits down to
// the longest of them (a /48 four dependent reads below the root slot),
// now one.

const (
	rangeNode = 1 << 30
	rangeMax  = 32 // at most 63: the header's 6 bits
)

// span is a prefix inside a range node's 32-bit window.
type span struct {
	first, last uint32
	plen        int // relative to the window
	val         value
}

// collectSpans appends the prefixes of n's subtree to s, n's own
// prefixes starting depth bits into the window and below path (the
// window bits above n). It reports false when one ends past the window
// or there are more than 2*rangeMax of them (they could not fit).
func collectSpans(s []span, n *node, path uint32, depth int) ([]span, bool) {
	for _, o := range n.own {
		rl := depth + int(o.len) // <= 32: depth is at most 24 (below)
		if len(s) == 2*rangeMax {
			return s, false
		}
		first := (path<<o.len | uint32(o.bits)) << (32 - rl)
		s = append(s, span{first: first, last: first | (1<<(32-rl) - 1), plen: rl, val: o.val})
	}
	if len(n.kids) == 0 {
		return s, true
	}
	if depth+stride >= 32 {
		return s, false // a child's prefixes would end past the window
	}
	k := 0
	for x := range n.kidBits {
		for m := n.kidBits[x]; m != 0; m &= m - 1 {
			slot := uint32(x*64 + bits.TrailingZeros64(m))
			var ok bool
			if s, ok = collectSpans(s, n.kids[k], path<<stride|slot, depth+stride); !ok {
				return s, false
			}
			k++
		}
	}
	return s, true
}

// appendRangeNode appends n's subtree as a range node, its runs painted
// over up, when it qualifies; else it returns w unchanged and false.
// scratch is reused between calls.
func appendRangeNode(w []uint32, n *node, up value, scratch *[]span) ([]uint32, bool) {
	s, ok := collectSpans((*scratch)[:0], n, 0, 0)
	*scratch = s
	if !ok {
		return w, false
	}
	// Every run starts at 0 or where a prefix starts or ends; the
	// longest prefix covering a start holds the run.
	var starts [4*rangeMax + 1]uint32
	ns := 1 // starts[0] = 0
	for _, p := range s {
		starts[ns] = p.first
		ns++
		if p.last != ^uint32(0) {
			starts[ns] = p.last + 1
			ns++
		}
	}
	st := starts[:ns]
	slices.Sort(st)
	st = slices.Compact(st)
	var keys [rangeMax]uint32
	var vals [rangeMax]value
	nr := 0
	for _, at := range st {
		v, best := up, -1
		for _, p := range s {
			if p.first <= at && at <= p.last && p.plen > best {
				v, best = p.val, p.plen
			}
		}
		if nr > 0 && vals[nr-1] == v {
			continue
		}
		if nr == rangeMax {
			return w, false
		}
		keys[nr], vals[nr] = at, v
		nr++
	}
	w = append(w, sparseNode|rangeNode|uint32(nr), uint32(vals[0]))
	for r := 1; r < nr; r++ {
		w = append(w, keys[r], uint32(vals[r]))
	}
	return w, true
}

// rangeLookup reads the value of a range node at o for the window bits
// key.
func rangeLookup(w []uint32, o, h, key uint32) value {
	nr := h & 63
	at := o + 1
	r := uint32(0)
	for r+1 < nr && w[at+2*r+1] <= key {
		r++
	}
	return value(w[at+2*r])
}

// bits32 is the 32 bits of a from bit offset off (bits past the end of
// the address read as 0).
func (a addrBits) bits32(off int) uint32 {
	if off < 64 {
		return uint32((a.hi<<off | a.lo>>(64-off)) >> 32)
	}
	return uint32(a.lo << (off - 64) >> 32)
}

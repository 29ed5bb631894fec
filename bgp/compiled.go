package bgp

import (
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// The readers' form of a root slot's subtree: one block of uint32 words.
//
// Word 0 is the block's length in words; the top node starts at word 1,
// its subtrees follow depth first. A node at word o starts with a header
// word; most nodes are small and sparse or range nodes, a few are dense.
//
// Range (header bits 31 and 30 set): a whole subtree as runs, ranges.go.
//
// Sparse (header bit 31 set, bit 30 clear; bits 0-3: runs nr, 1..8; bits 4-7: children
// nk, 0..8):
//
//	2 words, when nk > 0: the children's slots, one byte each
//	2 words, when nr > 1: where runs 2..nr start, one byte each, ascending
//	nk words: the children's offsets, then nr words: the runs' values
//
// Dense (bit 31 clear; bits 0-8: children nk):
//
//	o+1  .. o+8   kid map: bit s of the 256 is set when slot s has a child
//	o+9  .. o+10  kid ranks: byte x = set bits in map words 0 .. x-1
//	o+11 .. o+18  leaf map: bit s is set where a run of equal values starts
//	o+19 .. o+20  leaf ranks, as for the kids
//	o+21 ..       nk children's offsets in map order, then the runs' values
//
// Leaves are pushed down: a node's values already include the prefixes
// of its ancestors in the block, so a lookup descends while the slot has
// a child and reads one value, at the last node. A value of 0 there
// means no prefix longer than /16 covers the address: the slot's short
// prefix answers. In a full IPv6 table nearly every node is sparse (a
// few prefixes, a child or two) or, below it, a range node (ranges.go)
// holding a whole allocation: a lookup's path through a block is two
// nodes on a few cache lines.

const (
	sparseNode  = 1 << 31
	sparseMax   = 8
	hdrKids     = 1
	hdrKidRank  = 9
	hdrLeaves   = 11
	hdrLeafRank = 19
	hdrWords    = 21
	bytesOnes   = 0x0101010101010101
	bytesHigh   = 0x8080808080808080
)

// rank is byte x&3 of a rank word.
func rank(word uint32, x uint) uint32 { return word >> (8 * (x & 3)) & 0xff }

// lookup returns the longest prefix covering a, or 0. It takes no lock:
// the blocks are immutable and swapped in whole, direct-table words are
// atomics.
func (f *family) lookup(a addrBits) value {
	if d := f.dir.Load(); d != nil {
		e := d[a.hi>>40].Load()
		short := value(f.val[a.top16()].Load())
		if e&dirLong == 0 {
			if e != 0 {
				return value(e)
			}
			return short
		}
	}
	return f.lookupBlock(a)
}

// lookupBlock is the lookup through the root slot's block.
func (f *family) lookupBlock(a addrBits) value {
	i := a.top16()
	p := f.blob[i].Load()
	short := value(f.val[i].Load())
	if p == nil {
		return short
	}
	w := unsafe.Slice(p, *p)
	o, off := uint32(1), rootBits
	for {
		idx := uint32(a.chunk(off))
		h := w[o]
		if h&sparseNode != 0 {
			if h&rangeNode != 0 {
				if v := rangeLookup(w, o, h, a.bits32(off)); v != 0 {
					return v
				}
				return short
			}
			nr, nk := h&15, h>>4&15
			at := o + 1
			if nk > 0 {
				x := (uint64(w[at]) | uint64(w[at+1])<<32) ^ uint64(idx)*bytesOnes
				m := (x - bytesOnes) &^ x & bytesHigh & (1<<(8*nk) - 1)
				at += 2
				if m != 0 { // the lowest zero byte is exact
					if nr > 1 {
						at += 2
					}
					o = w[at+uint32(bits.TrailingZeros64(m)>>3)]
					off += stride
					continue
				}
			}
			r := uint32(0)
			if nr > 1 {
				starts := uint64(w[at]) | uint64(w[at+1])<<32
				for r+1 < nr && uint32(byte(starts>>(8*r))) <= idx {
					r++
				}
				at += 2
			}
			if v := value(w[at+nk+r]); v != 0 {
				return v
			}
			return short
		}
		x, b := idx>>5, idx&31
		if kb := w[o+hdrKids+x]; kb&(1<<b) != 0 {
			r := rank(w[o+hdrKidRank+x>>2], uint(x)) + uint32(bits.OnesCount32(kb&(1<<b-1)))
			o = w[o+hdrWords+r]
			off += stride
			continue
		}
		lb := w[o+hdrLeaves+x]
		r := rank(w[o+hdrLeafRank+x>>2], uint(x)) + uint32(bits.OnesCount32(lb&(2<<b-1)))
		if v := value(w[o+hdrWords+h+r-1]); v != 0 {
			return v
		}
		return short
	}
}

// changed notes that root slot i's subtree changed: its block is
// rebuilt now, or at flush while a batch is open.
func (f *family) changed(i uint32) {
	if f.deferred > 0 {
		f.dirty[i] = struct{}{}
		return
	}
	f.compileSlot(i)
}

// flush rebuilds the blocks of the slots changed during a batch.
func (f *family) flush() {
	for i := range f.dirty {
		f.compileSlot(i)
	}
	clear(f.dirty)
}

// compileSlot builds and publishes the block of root slot i.
func (f *family) compileSlot(i uint32) {
	n := f.kids[i]
	if n == nil || (f.dir.Load() != nil && len(n.kids) == 0) {
		// The direct table answers for all of the slot, or nothing does.
		f.fillDir(i, n)
		f.publish(i, nil, nil)
		return
	}
	w := append(f.scratch[:0], 0)
	w = compileNode(w, n, 0, &f.spans)
	w[0] = uint32(len(w))
	f.scratch = w
	blk, s := f.mem.alloc(len(w))
	copy(blk, w)
	f.publish(i, blk, s)
	f.fillDir(i, n) // after the block: a reader sent to it finds it
}

// publish makes blk, in slab s, slot i's block (nil: none) and frees
// the one before.
func (f *family) publish(i uint32, blk []uint32, s *slab) {
	var p *uint32
	if blk != nil {
		p = &blk[0]
	}
	oldBlk := f.blob[i].Swap(p)
	m := &f.mem
	old := m.owner[i]
	m.owner[i] = s
	if old == nil {
		return
	}
	oldLen := int(*oldBlk) // a block's word 0 is its length
	old.live -= oldLen
	if old != m.cur && !old.moving && old.live > 0 && old.live*2 < old.used {
		f.compact(old)
	}
}

// compact moves the live blocks of s into the current slab, after which
// nothing the writer knows points into s: the garbage collector frees it
// once no reader is still inside one of its blocks.
func (f *family) compact(s *slab) {
	s.moving = true
	for i, o := range f.mem.owner {
		if o != s {
			continue
		}
		p := f.blob[i].Load()
		old := unsafe.Slice(p, *p)
		blk, ns := f.mem.alloc(len(old))
		copy(blk, old)
		f.publish(uint32(i), blk, ns)
	}
}

// compileNode appends node n, whose slots inherit value up from the
// nodes above it, and its subtree to w.
func compileNode(w []uint32, n *node, up value, sc *[]span) []uint32 {
	if w, ok := appendRangeNode(w, n, up, sc); ok {
		return w
	}
	var slot [1 << stride]value
	fillSlots(&slot, n.own, up)
	var starts [1 << stride]uint8 // where runs 2.. start
	ns := 0
	for s := 1; s < len(slot); s++ {
		if slot[s] != slot[s-1] {
			starts[ns] = uint8(s)
			ns++
		}
	}
	nr, nk := ns+1, len(n.kids)
	var kidSlots []int
	for x := range n.kidBits {
		for m := n.kidBits[x]; m != 0; m &= m - 1 {
			kidSlots = append(kidSlots, x*64+bits.TrailingZeros64(m))
		}
	}
	o := len(w)
	var kidsAt int
	if nr <= sparseMax && nk <= sparseMax {
		w = append(w, sparseNode|uint32(nk)<<4|uint32(nr))
		if nk > 0 {
			var b uint64
			for k, s := range kidSlots {
				b |= uint64(s) << (8 * k)
			}
			w = append(w, uint32(b), uint32(b>>32))
		}
		if nr > 1 {
			var b uint64
			for k := 0; k < ns; k++ {
				b |= uint64(starts[k]) << (8 * k)
			}
			w = append(w, uint32(b), uint32(b>>32))
		}
		kidsAt = len(w)
		w = append(w, make([]uint32, nk)...)
		w = append(w, uint32(slot[0]))
		for k := 0; k < ns; k++ {
			w = append(w, uint32(slot[starts[k]]))
		}
	} else {
		w = append(w, make([]uint32, hdrWords+nk+nr)...)
		w[o] = uint32(nk)
		var kr, lr uint32
		for x := uint32(0); x < 8; x++ {
			kw := uint32(n.kidBits[x>>1] >> (32 * (x & 1)))
			w[o+hdrKids+int(x)] = kw
			w[o+hdrKidRank+int(x>>2)] |= kr << (8 * (x & 3))
			kr += uint32(bits.OnesCount32(kw))
		}
		leafAt := o + hdrWords + nk
		w[o+hdrLeaves] |= 1
		w[leafAt] = uint32(slot[0])
		for k := 0; k < ns; k++ {
			s := int(starts[k])
			w[o+hdrLeaves+s>>5] |= 1 << (s & 31)
			w[leafAt+1+k] = uint32(slot[s])
		}
		for x := uint32(0); x < 8; x++ {
			w[o+hdrLeafRank+int(x>>2)] |= lr << (8 * (x & 3))
			lr += uint32(bits.OnesCount32(w[o+hdrLeaves+int(x)]))
		}
		kidsAt = o + hdrWords
	}
	for k, s := range kidSlots {
		w[kidsAt+k] = uint32(len(w))
		w = compileNode(w, n.kids[k], slot[s], sc)
	}
	return w
}

// fillSlots sets the 256 slots of a node: its own prefixes over the
// value inherited from above.
func fillSlots(slot *[1 << stride]value, own []ownPrefix, up value) {
	for s := range slot {
		slot[s] = up
	}
	for _, o := range own { // shortest first: longer ones overwrite
		span := 1 << (stride - int(o.len))
		first := int(o.bits) * span
		for s := first; s < first+span; s++ {
			slot[s] = o.val
		}
	}
}

// The direct table (IPv4, once the family holds dirMin prefixes): one
// word per /24, the longest prefix of /17 to /24 covering it (0: none,
// the root slot's short prefix answers), or dirLong when longer
// prefixes lie inside it and the block must be walked. A full table has
// almost none longer than /24: a lookup is one load from it and one
// from the root words. The words of /16s without prefixes are never
// written, so the kernel backs only the parts in use.
const (
	dirLong   = 1 << 31 // above any IPv4 value (prefix length <= 32)
	dirMinV4  = 10_000
	dirLenV4  = 1 << 24
	dirSlotV4 = 1 << 8 // words per root slot
)

// fillDir rewrites root slot i's words of the direct table from its
// subtree n.
func (f *family) fillDir(i uint32, n *node) {
	if dt := f.dir.Load(); dt != nil {
		fillDir(dt, i, n)
	}
}

func fillDir(dt *dirTable, i uint32, n *node) {
	d := dt[i*dirSlotV4 : (i+1)*dirSlotV4]
	var slot [1 << stride]value
	if n != nil {
		fillSlots(&slot, n.own, 0)
		for x := range n.kidBits {
			for m := n.kidBits[x]; m != 0; m &= m - 1 {
				slot[x*64+bits.TrailingZeros64(m)] = dirLong
			}
		}
	}
	for c := range d {
		if d[c].Load() != uint32(slot[c]) {
			d[c].Store(uint32(slot[c]))
		}
	}
}

// maybeDir builds the direct table once an IPv4 family grows to dirMin
// prefixes.
func (f *family) maybeDir() {
	if f.dir.Load() != nil || f.maxLen != 32 || int(f.prefixes.Load()) < f.dirMin {
		return
	}
	dt := new(dirTable)
	for i, n := range f.kids {
		if n != nil {
			fillDir(dt, uint32(i), n)
		}
	}
	f.dir.Store(dt)
	for i, n := range f.kids { // drop the blocks the table made useless
		if n != nil && len(n.kids) == 0 {
			f.compileSlot(uint32(i))
		}
	}
}

type dirTable [dirLenV4]atomic.Uint32

// The blocks of a family live in slabs of slabWords words, filled in
// order: the blocks a lookup may touch sit together in a few MB instead
// of among the writer's objects all over the heap (fewer cache and TLB
// misses). A replaced block is garbage inside its slab; a slab whose
// live words fall under half is emptied by moving its blocks to the
// current slab. At most about twice the live blocks are held.
var slabWords = 1 << 18 // 1 MiB; tests make it small

type slab struct {
	w          []uint32
	used, live int
	moving     bool // being emptied by compact
}

type slabs struct {
	cur   *slab
	owner []*slab // per root slot: the slab holding its block
}

func newSlabs() slabs {
	return slabs{owner: make([]*slab, 1<<rootBits)}
}

// alloc returns n words and the slab they are in. A block larger than
// a slab gets one of its own.
func (m *slabs) alloc(n int) ([]uint32, *slab) {
	if n > slabWords {
		s := &slab{w: make([]uint32, n), used: n, live: n}
		return s.w, s
	}
	if m.cur == nil || m.cur.used+n > len(m.cur.w) {
		m.cur = &slab{w: make([]uint32, slabWords)}
	}
	s := m.cur
	blk := s.w[s.used : s.used+n : s.used+n]
	s.used += n
	s.live += n
	return blk, s
}

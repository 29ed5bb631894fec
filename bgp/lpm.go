package bgp

import (
	"math/bits"
	"net/netip"
	"slices"
	"sync/atomic"
)

// The longest-prefix-match table.
//
// Each address family keeps two forms of the same prefixes:
//
//   - the writer's trie: a root of 2^16 slots for the first 16 bits
//     (prefixes /0 to /16 are kept in a map and expanded over the slots
//     they cover), then nodes of stride 8 (a node at bit offset off holds
//     its own prefixes of length off+1 .. off+8 below one slot of its
//     parent, and its children). Only the writer reads it.
//   - the readers' form (compiled.go): per root slot, the longest short
//     prefix covering it (an atomic word) and one immutable, contiguous
//     block of words encoding the whole subtree below it, leaf-pushed and
//     popcount-compressed, rebuilt by the writer whenever a prefix under
//     that slot changes and published with one atomic pointer store.
//
// A lookup so reads one root word and one small block (a few cache
// lines; the blocks of the full-table fixture take 3.7 MB), and never chases
// the writer's pointers.
//
// A value is a prefix length and an attribute-set id packed into 32 bits;
// 0 is "no route".

const (
	rootBits = 16
	stride   = 8
)

// value packs a route: prefix length (top 8 bits) and attribute-set id.
type value uint32

const idBits = 24

func mkValue(plen int, id uint32) value { return value(uint32(plen)<<idBits | id) }
func (v value) plen() int               { return int(v >> idBits) }
func (v value) id() uint32              { return uint32(v) & (1<<idBits - 1) }

// ownPrefix is a prefix stored in a node: its relative bits (right
// aligned) and relative length 1..8.
type ownPrefix struct {
	bits, len uint8
	val       value
}

// node is a node of the writer's trie. Nodes are treated as immutable
// (a change copies the path to it), which keeps the update code simple.
type node struct {
	kidBits [4]uint64
	kidBase [4]uint16
	kids    []*node
	own     []ownPrefix // sorted by (len, bits)
}

// family is one address family.
type family struct {
	maxLen int

	// Read side: what lookups load.
	val  []atomic.Uint32          // per root slot: longest prefix <= /16 covering it
	blob []atomic.Pointer[uint32] // per root slot: compiled subtree, nil when none

	// Write side.
	kids     []*node             // per root slot: the writer's subtree
	short    map[uint32]value    // top16<<8 | len -> value, len <= 16
	prefixes atomic.Int64        // written by the writer only; Counts reads it
	deferred int                 // > 0: a batch is open: compile at flush
	dirty    map[uint32]struct{} // root slots whose block is out of date
	scratch  []uint32
	spans    []span // appendRangeNode's
	mem      slabs
	dir      atomic.Pointer[dirTable] // IPv4 direct table (compiled.go), nil until dirMin prefixes
	dirMin   int
}

func newFamily(maxLen int) *family {
	return &family{
		maxLen: maxLen,
		val:    make([]atomic.Uint32, 1<<rootBits),
		blob:   make([]atomic.Pointer[uint32], 1<<rootBits),
		kids:   make([]*node, 1<<rootBits),
		short:  map[uint32]value{},
		dirty:  map[uint32]struct{}{},
		mem:    newSlabs(),
		dirMin: dirMinV4,
	}
}

// addrBits is an address as 128 bits, IPv4 in the top 32.
type addrBits struct{ hi, lo uint64 }

func toBits(a netip.Addr) addrBits {
	if a.Is4() {
		b := a.As4()
		return addrBits{hi: uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32}
	}
	b := a.As16()
	var x addrBits
	for i := 0; i < 8; i++ {
		x.hi = x.hi<<8 | uint64(b[i])
		x.lo = x.lo<<8 | uint64(b[8+i])
	}
	return x
}

// chunk is the 8 bits at bit offset off (a multiple of 8).
func (a addrBits) chunk(off int) uint {
	if off < 64 {
		return uint(a.hi>>(56-off)) & 0xff
	}
	return uint(a.lo>>(120-off)) & 0xff
}

func (a addrBits) top16() uint32 { return uint32(a.hi >> 48) }

// set stores v for prefix p (masked, length <= maxLen) and returns the
// value it replaced (0 if none).
func (f *family) set(p addrBits, plen int, v value) value {
	if plen <= rootBits {
		return f.setShort(p, plen, v)
	}
	i := p.top16()
	old := f.kids[i]
	n, prev := updateNode(old, p, plen, rootBits, v)
	if n != old {
		f.kids[i] = n
		f.changed(i)
	}
	if prev == 0 && v != 0 {
		f.prefixes.Add(1)
		f.maybeDir()
	} else if prev != 0 && v == 0 {
		f.prefixes.Add(-1)
	}
	return prev
}

// setShort handles prefixes of the root (v == 0 deletes).
func (f *family) setShort(p addrBits, plen int, v value) value {
	top := p.top16()
	key := top<<8 | uint32(plen)
	prev := f.short[key]
	span := uint32(1) << (rootBits - plen)
	first := top &^ (span - 1)
	if v == 0 {
		if prev == 0 {
			return 0
		}
		delete(f.short, key)
		f.prefixes.Add(-1)
		// The slots this prefix held go to its longest ancestor.
		var anc value
		for l := plen - 1; l >= 0 && anc == 0; l-- {
			anc = f.short[(top&^(uint32(1)<<(rootBits-l)-1))<<8|uint32(l)]
		}
		for s := first; s < first+span; s++ {
			if value(f.val[s].Load()) == prev {
				f.val[s].Store(uint32(anc))
			}
		}
		return prev
	}
	if prev == 0 {
		f.prefixes.Add(1)
	}
	f.short[key] = v
	for s := first; s < first+span; s++ {
		if cur := value(f.val[s].Load()); cur == 0 || cur.plen() <= plen {
			f.val[s].Store(uint32(v))
		}
	}
	return prev
}

// updateNode returns n with prefix p/plen set to v (deleted when v == 0),
// n itself when nothing changes, nil when the result is empty; and the
// value the prefix had.
func updateNode(n *node, p addrBits, plen, off int, v value) (*node, value) {
	if plen <= off+stride {
		r := plen - off
		op := ownPrefix{bits: uint8(p.chunk(off) >> (stride - r)), len: uint8(r), val: v}
		var own []ownPrefix
		var kids []*node
		var kidBits [4]uint64
		if n != nil {
			own, kids, kidBits = n.own, n.kids, n.kidBits
		}
		at, found := slices.BinarySearchFunc(own, op, cmpOwn)
		var prev value
		if found {
			prev = own[at].val
		}
		switch {
		case v == 0 && !found:
			return n, 0
		case v == 0:
			own = slices.Delete(slices.Clone(own), at, at+1)
		case found && prev == v:
			return n, prev
		case found:
			own = slices.Clone(own)
			own[at].val = v
		default:
			own = slices.Insert(slices.Clone(own), at, op)
		}
		return build(own, kids, kidBits), prev
	}
	idx := p.chunk(off)
	var child *node
	if n != nil {
		child = n.kid(idx)
	}
	nc, prev := updateNode(child, p, plen, off+stride, v)
	if nc == child {
		return n, prev
	}
	var own []ownPrefix
	var kids []*node
	var kidBits [4]uint64
	if n != nil {
		own, kids, kidBits = n.own, n.kids, n.kidBits
	}
	w, b := idx>>6, idx&63
	at := 0
	for i := uint(0); i < w; i++ {
		at += bits.OnesCount64(kidBits[i])
	}
	at += bits.OnesCount64(kidBits[w] & (1<<b - 1))
	switch {
	case child == nil:
		kids = slices.Insert(slices.Clone(kids), at, nc)
		kidBits[w] |= 1 << b
	case nc == nil:
		kids = slices.Delete(slices.Clone(kids), at, at+1)
		kidBits[w] &^= 1 << b
	default:
		kids = slices.Clone(kids)
		kids[at] = nc
	}
	if len(own) == 0 && len(kids) == 0 {
		return nil, prev
	}
	return &node{kidBits: kidBits, kids: kids, own: own, kidBase: kidBase(kidBits)}, prev
}

func cmpOwn(a, b ownPrefix) int {
	if a.len != b.len {
		return int(a.len) - int(b.len)
	}
	return int(a.bits) - int(b.bits)
}

func (n *node) kid(idx uint) *node {
	w, b := idx>>6, idx&63
	if n.kidBits[w]&(1<<b) == 0 {
		return nil
	}
	return n.kids[int(n.kidBase[w])+bits.OnesCount64(n.kidBits[w]&(1<<b-1))]
}

func kidBase(kb [4]uint64) (base [4]uint16) {
	var c uint16
	for w := range kb {
		base[w] = c
		c += uint16(bits.OnesCount64(kb[w]))
	}
	return base
}

// build makes a node from its own prefixes and children (nil if empty).
func build(own []ownPrefix, kids []*node, kidBits [4]uint64) *node {
	if len(own) == 0 && len(kids) == 0 {
		return nil
	}
	return &node{own: own, kids: kids, kidBits: kidBits, kidBase: kidBase(kidBits)}
}

// walk calls fn for every stored prefix (writer side).
func (f *family) walk(fn func(p addrBits, plen int, v value)) {
	for k, v := range f.short {
		fn(addrBits{hi: uint64(k>>8) << 48}, int(k&0xff), v)
	}
	for i, n := range f.kids {
		if n != nil {
			walkNode(n, addrBits{hi: uint64(i) << 48}, rootBits, fn)
		}
	}
}

func walkNode(n *node, base addrBits, off int, fn func(p addrBits, plen int, v value)) {
	for _, o := range n.own {
		fn(base.with(off, uint(o.bits)<<(stride-int(o.len))), off+int(o.len), o.val)
	}
	for w := range n.kidBits {
		for m := n.kidBits[w]; m != 0; m &= m - 1 {
			idx := uint(w)*64 + uint(bits.TrailingZeros64(m))
			walkNode(n.kid(idx), base.with(off, idx), off+stride, fn)
		}
	}
}

// with returns a with the 8 bits at off set to c.
func (a addrBits) with(off int, c uint) addrBits {
	if off < 64 {
		a.hi |= uint64(c) << (56 - off)
	} else {
		a.lo |= uint64(c) << (120 - off)
	}
	return a
}

// prefixOf converts bits back to a netip.Prefix.
func (a addrBits) prefix(plen int, v4 bool) netip.Prefix {
	if v4 {
		x := uint32(a.hi >> 32)
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)}), plen)
	}
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(a.hi >> (56 - 8*i))
		b[8+i] = byte(a.lo >> (56 - 8*i))
	}
	return netip.PrefixFrom(netip.AddrFrom16(b), plen)
}

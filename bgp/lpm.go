package bgp

import (
	"math/bits"
	"net/netip"
	"slices"
	"sync/atomic"
)

// The longest-prefix-match table.
//
// Each address family is a multibit trie: a direct-indexed root of 2^16
// slots for the first 16 bits (prefixes /0 to /16, expanded over the slots
// they cover), then nodes of stride 8 (a node at bit offset off holds the
// prefixes of length off+1 .. off+8 below one slot of its parent). A node
// is stored compressed, poptrie style: a 256-bit map of where the value
// changes from one slot to the next and the run values in order (leaves),
// and a 256-bit map of the slots with a child and the children in order;
// a popcount turns a slot into an index. A value is a prefix length and an
// attribute-set id packed into 32 bits; 0 is "no route".
//
// Values are not pushed down: a node only knows its own prefixes, and a
// lookup keeps the last value it met on its way down. So changing a short
// prefix never rewrites the nodes below it.
//
// Concurrency: one writer (the caller serialises Set and Delete), any
// number of lock-free readers. Root slots are atomics; nodes are immutable
// once published: the writer builds a new node for every node on the path
// it changes (path copying) and swaps it into its parent, the root slot
// last, so a reader sees either the old or the new version of a subtree.
//
// The writer's own record of what it stored is inside the structure: the
// root keeps a map of its short prefixes, each node the list of its own
// prefixes (own), from which it is rebuilt.

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

type node struct {
	leafBits, kidBits [4]uint64
	leafBase, kidBase [4]uint16
	leaves            []value // inside the same allocation when short (see build)
	kids              []*node
	only              *node       // the child, when there is exactly one (saves a load)
	own               []ownPrefix // sorted by (len, bits)
}

// rootSlot is one of the 2^16 root slots: the longest prefix of length
// <= 16 covering it and the node below, side by side (one cache line).
type rootSlot struct {
	kid atomic.Pointer[node]
	val atomic.Uint32
}

// family is the trie of one address family.
type family struct {
	maxLen   int
	root     []rootSlot
	short    map[uint32]value // writer only: top16<<8 | len -> value, len <= 16
	prefixes int              // writer only
}

func newFamily(maxLen int) *family {
	return &family{
		maxLen: maxLen,
		root:   make([]rootSlot, 1<<rootBits),
		short:  map[uint32]value{},
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

// lookup returns the longest prefix covering a, or 0.
func (f *family) lookup(a addrBits) value {
	i := a.top16()
	best := value(f.root[i].val.Load())
	n := f.root[i].kid.Load()
	off := rootBits
	for n != nil {
		idx := a.chunk(off)
		w, b := idx>>6, idx&63
		if n.leaves != nil {
			r := int(n.leafBase[w]) + bits.OnesCount64(n.leafBits[w]&(2<<b-1))
			if v := n.leaves[r-1]; v != 0 {
				best = v
			}
		}
		if n.kidBits[w]&(1<<b) == 0 {
			break
		}
		if n.only != nil {
			n = n.only
		} else {
			n = n.kids[int(n.kidBase[w])+bits.OnesCount64(n.kidBits[w]&(1<<b-1))]
		}
		off += stride
	}
	return best
}

// set stores v for prefix p (masked, length <= maxLen) and returns the
// value it replaced (0 if none).
func (f *family) set(p addrBits, plen int, v value) value {
	if plen <= rootBits {
		return f.setShort(p, plen, v)
	}
	i := p.top16()
	old := f.root[i].kid.Load()
	n, prev := updateNode(old, p, plen, rootBits, v)
	if n != old {
		f.root[i].kid.Store(n)
	}
	if prev == 0 && v != 0 {
		f.prefixes++
	} else if prev != 0 && v == 0 {
		f.prefixes--
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
		f.prefixes--
		// The slots this prefix held go to its longest ancestor.
		var anc value
		for l := plen - 1; l >= 0 && anc == 0; l-- {
			anc = f.short[(top&^(uint32(1)<<(rootBits-l)-1))<<8|uint32(l)]
		}
		for s := first; s < first+span; s++ {
			if value(f.root[s].val.Load()) == prev {
				f.root[s].val.Store(uint32(anc))
			}
		}
		return prev
	}
	if prev == 0 {
		f.prefixes++
	}
	f.short[key] = v
	for s := first; s < first+span; s++ {
		if cur := value(f.root[s].val.Load()); cur == 0 || cur.plen() <= plen {
			f.root[s].val.Store(uint32(v))
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
	// The leaves are copied, not shared: sharing would keep the old
	// node (and through it the old subtree) alive.
	var nn *node
	if n != nil && n.leaves != nil {
		nn = newNode(len(n.leaves))
		nn.leafBits, nn.leafBase = n.leafBits, n.leafBase
		nn.leaves = append(nn.leaves, n.leaves...)
	} else {
		nn = newNode(0)
	}
	nn.kidBits, nn.kids, nn.own = kidBits, kids, own
	nn.setKidBase()
	return nn, prev
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

func (n *node) setKidBase() {
	n.only = nil
	if len(n.kids) == 1 {
		n.only = n.kids[0]
	}
	var c uint16
	for w := range n.kidBits {
		n.kidBase[w] = c
		c += uint16(bits.OnesCount64(n.kidBits[w]))
	}
}

// build makes a node from its own prefixes and children (nil if empty).
func build(own []ownPrefix, kids []*node, kidBits [4]uint64) *node {
	if len(own) == 0 && len(kids) == 0 {
		return nil
	}
	var slot [1 << stride]value
	for _, o := range own { // shortest first: longer ones overwrite
		span := 1 << (stride - int(o.len))
		first := int(o.bits) * span
		for s := first; s < first+span; s++ {
			slot[s] = o.val
		}
	}
	runs := 0
	for s := range slot {
		if s == 0 || slot[s] != slot[s-1] {
			runs++
		}
	}
	if len(own) == 0 {
		runs = 0
	}
	n := newNode(runs)
	n.own, n.kids, n.kidBits = own, kids, kidBits
	n.setKidBase()
	if len(own) == 0 {
		return n
	}
	for s := range slot {
		if s == 0 || slot[s] != slot[s-1] {
			n.leafBits[s>>6] |= 1 << (s & 63)
			n.leaves = append(n.leaves, slot[s])
		}
	}
	var c uint16
	for w := range n.leafBits {
		n.leafBase[w] = c
		c += uint16(bits.OnesCount64(n.leafBits[w]))
	}
	return n
}

// newNode allocates a node with room for runs leaves in the same
// allocation, so that a lookup finds a node's leaves next to its bitmaps
// (one cache miss fewer); leaves has length 0.
func newNode(runs int) *node {
	switch {
	case runs == 0:
		return &node{}
	case runs <= 2:
		x := &struct {
			node
			inl [2]value
		}{}
		x.leaves = x.inl[:0]
		return &x.node
	case runs <= 4:
		x := &struct {
			node
			inl [4]value
		}{}
		x.leaves = x.inl[:0]
		return &x.node
	case runs <= 8:
		x := &struct {
			node
			inl [8]value
		}{}
		x.leaves = x.inl[:0]
		return &x.node
	case runs <= 16:
		x := &struct {
			node
			inl [16]value
		}{}
		x.leaves = x.inl[:0]
		return &x.node
	case runs <= 32:
		x := &struct {
			node
			inl [32]value
		}{}
		x.leaves = x.inl[:0]
		return &x.node
	case runs <= 64:
		x := &struct {
			node
			inl [64]value
		}{}
		x.leaves = x.inl[:0]
		return &x.node
	}
	n := &node{}
	n.leaves = make([]value, 0, runs)
	return n
}

// walk calls fn for every stored prefix (writer side).
func (f *family) walk(fn func(p addrBits, plen int, v value)) {
	for k, v := range f.short {
		fn(addrBits{hi: uint64(k>>8) << 48}, int(k&0xff), v)
	}
	for i := range f.root {
		if n := f.root[i].kid.Load(); n != nil {
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

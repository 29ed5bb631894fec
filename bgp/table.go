package bgp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"gwd/sflow"
)

// Route is one best path as the table stores it, free of gobgp's types.
type Route struct {
	Prefix      netip.Prefix
	NextHop     netip.Addr
	Path        []sflow.ASPathSegment // AS_SEQUENCE (2) and AS_SET (1) segments
	Communities []uint32              // standard communities
	LocalPref   uint32
	LocalAS     uint32 // the AS of the session it was learned on
	Peer        int    // index of that session
}

// attrs is an interned attribute set: every prefix with the same next hop,
// AS path, communities, local preference and session shares one. Readers
// see it immutable; refs is the writer's.
type attrs struct {
	attrKey
	refs int
}

// asPath is an interned AS path. segs is shared by every record that
// carries it and is never written after interning.
type asPath struct {
	segs   []sflow.ASPathSegment
	origin uint32 // last AS of the path (0 if empty)
	first  uint32 // first AS, the neighbour's (0 if empty)
	key    string
	refs   int
}

type commList struct {
	vals []uint32
	key  string
	refs int
}

type attrKey struct {
	nextHop   netip.Addr
	path      *asPath
	comms     *commList
	localPref uint32
	localAS   uint32
	peer      int
}

// idTable maps attribute-set ids to their attrs for lock-free readers:
// two levels of atomic pointers, 4096 x 4096 ids.
type idTable struct {
	top [1 << 12]atomic.Pointer[[1 << 12]atomic.Pointer[attrs]]
}

func (t *idTable) get(id uint32) *attrs {
	c := t.top[id>>12].Load()
	if c == nil {
		return nil
	}
	return c[id&0xfff].Load()
}

func (t *idTable) put(id uint32, a *attrs) {
	c := t.top[id>>12].Load()
	if c == nil {
		c = new([1 << 12]atomic.Pointer[attrs])
		t.top[id>>12].Store(c)
	}
	c[id&0xfff].Store(a)
}

// idGrace is how long a freed attribute-set id rests before it is reused,
// so that a reader that found the id in a node just before the change
// cannot see another route's attributes under it.
const idGrace = 10 * time.Second

type freedID struct {
	id uint32
	at time.Time
}

// ErrTableFull is returned when the table runs out of attribute-set ids.
var ErrTableFull = errors.New("bgp: more than 16M distinct attribute sets")

// Table is the prefix table: longest-prefix match for IPv4 and IPv6 over
// the best paths, with interned attributes. Set and Delete may be called
// from one goroutine at a time (they lock); Lookup from any number at
// once, without locking.
type Table struct {
	v4, v6 *family
	ids    idTable

	mu      sync.Mutex // the writer's
	byKey   map[attrKey]uint32
	paths   map[string]*asPath
	comms   map[string]*commList
	free    []freedID
	nextID  uint32
	perPeer map[int]int
	now     func() time.Time
	scratch []byte
}

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{
		v4: newFamily(32), v6: newFamily(128),
		byKey: map[attrKey]uint32{}, paths: map[string]*asPath{}, comms: map[string]*commList{},
		nextID: 1, perPeer: map[int]int{}, now: time.Now,
	}
}

func (t *Table) fam(p netip.Prefix) *family {
	if p.Addr().Is4() {
		return t.v4
	}
	return t.v6
}

// Set stores r as the best path for r.Prefix, replacing the one before.
func (t *Table) Set(r Route) error {
	p := r.Prefix.Masked()
	if !p.IsValid() {
		return fmt.Errorf("bgp: invalid prefix %v", r.Prefix)
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	id, err := t.intern(r)
	if err != nil {
		return err
	}
	prev := t.fam(p).set(toBits(p.Addr()), p.Bits(), mkValue(p.Bits(), id))
	if prev != 0 {
		t.release(prev.id())
	}
	t.perPeer[r.Peer]++
	return nil
}

// Delete removes the route for p; it reports whether there was one.
func (t *Table) Delete(p netip.Prefix) bool {
	p = p.Masked()
	if !p.IsValid() {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	prev := t.fam(p).set(toBits(p.Addr()), p.Bits(), 0)
	if prev == 0 {
		return false
	}
	t.release(prev.id())
	return true
}

// Batch runs fn, which calls Set and Delete, and rebuilds the readers'
// form of each part of the table it changed once, at the end, rather than
// after every change: a full table arriving in bursts costs a rebuild per
// burst. Lookups during fn see some of its changes.
func (t *Table) Batch(fn func()) {
	t.mu.Lock()
	t.v4.deferred++
	t.v6.deferred++
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		for _, f := range []*family{t.v4, t.v6} {
			if f.deferred--; f.deferred == 0 {
				f.flush()
			}
		}
		t.mu.Unlock()
	}()
	fn()
}

// DeletePeer removes every route learned from session peer and returns
// how many there were.
func (t *Table) DeletePeer(peer int) int {
	t.mu.Lock()
	var drop []netip.Prefix
	for _, f := range []*family{t.v4, t.v6} {
		f.walk(func(b addrBits, plen int, v value) {
			if a := t.ids.get(v.id()); a != nil && a.peer == peer {
				drop = append(drop, b.prefix(plen, f == t.v4))
			}
		})
	}
	t.mu.Unlock()
	t.Batch(func() {
		for _, p := range drop {
			t.Delete(p)
		}
	})
	return len(drop)
}

// Counts returns the number of IPv4 and IPv6 prefixes.
func (t *Table) Counts() (v4, v6 int) { return int(t.v4.prefixes.Load()), int(t.v6.prefixes.Load()) }

// PeerRoutes returns the number of prefixes whose best path came from
// session peer.
func (t *Table) PeerRoutes(peer int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.perPeer[peer]
}

// Lookup returns the attributes and prefix length of the longest prefix
// covering a, or nil.
func (t *Table) Lookup(a netip.Addr) (*attrs, int) {
	f := t.v6
	if a.Is4() || a.Is4In6() {
		a = a.Unmap()
		f = t.v4
	}
	return t.lookup(f, toBits(a))
}

func (t *Table) lookup(f *family, b addrBits) (*attrs, int) {
	v := f.lookup(b)
	if v == 0 {
		return nil, 0
	}
	return t.ids.get(v.id()), v.plen()
}

// intern returns the id of r's attribute set, taking a reference.
func (t *Table) intern(r Route) (uint32, error) {
	k := attrKey{nextHop: r.NextHop, localPref: r.LocalPref, localAS: r.LocalAS, peer: r.Peer}
	k.path = t.internPath(r.Path)
	k.comms = t.internComms(r.Communities)
	if id, ok := t.byKey[k]; ok {
		t.ids.get(id).refs++
		// The path and community references taken above belong to the
		// existing set already.
		k.path.refs--
		k.comms.refs--
		return id, nil
	}
	id, err := t.newID()
	if err != nil {
		k.path.refs--
		k.comms.refs--
		return 0, err
	}
	a := &attrs{attrKey: k, refs: 1}
	t.byKey[k] = id
	t.ids.put(id, a)
	return id, nil
}

func (t *Table) newID() (uint32, error) {
	if len(t.free) > 0 && t.now().Sub(t.free[0].at) >= idGrace {
		id := t.free[0].id
		t.free = t.free[1:]
		return id, nil
	}
	if t.nextID >= 1<<idBits {
		return 0, ErrTableFull
	}
	t.nextID++
	return t.nextID - 1, nil
}

// release drops a reference to attribute set id.
func (t *Table) release(id uint32) {
	a := t.ids.get(id)
	t.perPeer[a.peer]--
	if t.perPeer[a.peer] == 0 {
		delete(t.perPeer, a.peer)
	}
	if a.refs--; a.refs > 0 {
		return
	}
	delete(t.byKey, a.attrKey)
	if a.path.refs--; a.path.refs == 0 {
		delete(t.paths, a.path.key)
	}
	if a.comms.refs--; a.comms.refs == 0 {
		delete(t.comms, a.comms.key)
	}
	// The attrs stays in the id table until the id is reused, for readers
	// that are still on their way to it.
	t.free = append(t.free, freedID{id: id, at: t.now()})
}

func (t *Table) internPath(segs []sflow.ASPathSegment) *asPath {
	b := t.scratch[:0]
	for _, s := range segs {
		b = binary.BigEndian.AppendUint32(b, s.Type)
		b = binary.BigEndian.AppendUint32(b, uint32(len(s.ASNs)))
		for _, as := range s.ASNs {
			b = binary.BigEndian.AppendUint32(b, as)
		}
	}
	t.scratch = b
	if p, ok := t.paths[string(b)]; ok {
		p.refs++
		return p
	}
	p := &asPath{key: string(b), refs: 1}
	// One backing array for all ASNs of the path.
	n := 0
	for _, s := range segs {
		n += len(s.ASNs)
	}
	all := make([]uint32, 0, n)
	p.segs = make([]sflow.ASPathSegment, len(segs))
	for i, s := range segs {
		start := len(all)
		all = append(all, s.ASNs...)
		p.segs[i] = sflow.ASPathSegment{Type: s.Type, ASNs: all[start:len(all):len(all)]}
	}
	if len(all) > 0 {
		p.first, p.origin = all[0], all[len(all)-1]
	}
	t.paths[p.key] = p
	return p
}

func (t *Table) internComms(c []uint32) *commList {
	b := t.scratch[:0]
	for _, v := range c {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	t.scratch = b
	if l, ok := t.comms[string(b)]; ok {
		l.refs++
		return l
	}
	l := &commList{vals: append([]uint32(nil), c...), key: string(b), refs: 1}
	t.comms[l.key] = l
	return l
}

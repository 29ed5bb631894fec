package bgp

import (
	"sync/atomic"

	"gwd/agent"
	"gwd/sflow"
)

// Enricher adds extended_router (0:1002) and extended_gateway (0:1003) to
// flow samples whose sampled header holds an IPv4 or IPv6 packet with a
// source or destination covered by the table.
//
// Record memory: the records appended to a sample are shared, immutable
// values. Each (destination route, source route) pair that was looked up
// recently has one recPair holding both records, kept in a direct-mapped
// cache of atomic pointers; a sample points at the pair's records, nothing
// ever writes them after publication, and the garbage collector keeps a
// pair alive for as long as any sample (or the cache) refers to it. So
// nothing is allocated per sample in steady state (a cache miss allocates
// one recPair), no lock is taken, and a record handed to SubmitFlow stays
// valid however long the agent takes to encode it. The AS path and
// community slices inside are the table's interned ones, also never
// written. Whoever receives these records must not modify them.
type Enricher struct {
	t       *Table
	router  bool
	gateway bool
	cache   [cacheSize]atomic.Pointer[recPair]

	enriched atomic.Uint64
}

const cacheBits = 12
const cacheSize = 1 << cacheBits

type recPair struct {
	dst, src       *attrs
	dstLen, srcLen int
	router         sflow.ExtendedRouter
	gw             sflow.ExtendedGateway
}

// NewEnricher returns an enricher over t that adds the records chosen.
func NewEnricher(t *Table, router, gateway bool) *Enricher {
	return &Enricher{t: t, router: router, gateway: gateway}
}

var _ agent.FlowEnricher = (*Enricher)(nil)

// Enriched is how many samples got records.
func (e *Enricher) Enriched() uint64 { return e.enriched.Load() }

// EnrichFlow implements agent.FlowEnricher.
func (e *Enricher) EnrichFlow(_ agent.DataSource, s *sflow.Sample) {
	var hdr *sflow.SampledHeader
	wantRouter, wantGW := e.router, e.gateway
	for _, r := range s.Records {
		switch x := r.(type) {
		case *sflow.SampledHeader:
			if hdr == nil {
				hdr = x
			}
		case *sflow.ExtendedRouter:
			wantRouter = false
		case *sflow.ExtendedGateway:
			wantGW = false
		}
	}
	if hdr == nil || !(wantRouter || wantGW) {
		return
	}
	src, dst, v4, ok := parseHeader(hdr.Protocol, hdr.Header)
	if !ok {
		return
	}
	f := e.t.v6
	if v4 {
		f = e.t.v4
	}
	dv, sv := f.lookup(dst), f.lookup(src)
	if dv == 0 && sv == 0 {
		return
	}
	p := e.pair(dv, sv)
	if p == nil {
		return
	}
	if wantRouter {
		s.Records = append(s.Records, &p.router)
	}
	if wantGW {
		s.Records = append(s.Records, &p.gw)
	}
	e.enriched.Add(1)
}

// pair returns the records for a destination and source route.
func (e *Enricher) pair(dv, sv value) *recPair {
	var da, sa *attrs
	if dv != 0 {
		if da = e.t.ids.get(dv.id()); da == nil {
			return nil
		}
	}
	if sv != 0 {
		if sa = e.t.ids.get(sv.id()); sa == nil {
			return nil
		}
	}
	h := (uint32(dv)*0x9e3779b1 ^ uint32(sv)*0x85ebca77) >> (32 - cacheBits)
	slot := &e.cache[h]
	if p := slot.Load(); p != nil && p.dst == da && p.src == sa && p.dstLen == dv.plen() && p.srcLen == sv.plen() {
		return p
	}
	p := newPair(da, sa, dv.plen(), sv.plen())
	slot.Store(p)
	return p
}

// newPair builds the records for a flow from a source covered by sa (nil:
// none) to a destination covered by da (nil: none).
//
// extended_router: the destination's next hop and both mask lengths.
// extended_gateway: the destination's next hop, AS path, communities and
// local preference; as is the local AS of the session; src_as is the
// source route's origin (the last AS of its path) and src_peer_as its
// first AS; a source route with an empty AS path is inside the local AS,
// which then stands for both.
func newPair(da, sa *attrs, dstLen, srcLen int) *recPair {
	p := &recPair{dst: da, src: sa, dstLen: dstLen, srcLen: srcLen}
	p.router.SrcMaskLen, p.router.DstMaskLen = uint32(srcLen), uint32(dstLen)
	if da != nil {
		p.router.NextHop = da.nextHop
		p.gw.NextHop = da.nextHop
		p.gw.AS = da.localAS
		p.gw.DstASPath = da.path.segs
		p.gw.Communities = da.comms.vals
		p.gw.LocalPref = da.localPref
	}
	if sa != nil {
		if p.gw.AS == 0 {
			p.gw.AS = sa.localAS
		}
		p.gw.SrcAS, p.gw.SrcPeerAS = sa.path.origin, sa.path.first
		if len(sa.path.segs) == 0 {
			p.gw.SrcAS, p.gw.SrcPeerAS = sa.localAS, sa.localAS
		}
	}
	return p
}

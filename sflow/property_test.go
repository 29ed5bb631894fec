package sflow

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// valueGen makes random field values for the property test.
type valueGen struct {
	r     *rand.Rand
	depth int
}

func (g *valueGen) intn(n int) int { return g.r.IntN(n) }
func (g *valueGen) u32() uint32 {
	switch g.r.IntN(4) {
	case 0:
		return 0
	case 1:
		return 0xffffffff
	}
	return g.r.Uint32()
}
func (g *valueGen) i32() int32   { return int32(g.u32()) }
func (g *valueGen) u64() uint64  { return g.r.Uint64() }
func (g *valueGen) f32() float32 { return float32(g.r.NormFloat64() * 100) }

func (g *valueGen) f64() float64 { return g.r.NormFloat64() * 1e6 }
func (g *valueGen) ip4() netip.Addr {
	return netip.AddrFrom4([4]byte{byte(g.r.Uint32()), 2, 3, byte(g.r.Uint32())})
}
func (g *valueGen) ip6() netip.Addr {
	var a [16]byte
	for i := range a {
		a[i] = byte(g.r.Uint32())
	}
	return netip.AddrFrom16(a)
}
func (g *valueGen) addr() netip.Addr {
	switch g.r.IntN(3) {
	case 0:
		return netip.Addr{}
	case 1:
		return g.ip4()
	}
	a := g.ip6()
	if a.Is4In6() {
		return netip.IPv6Loopback()
	}
	return a
}
func (g *valueGen) mac() (m [6]byte) {
	for i := range m {
		m[i] = byte(g.r.Uint32())
	}
	return m
}
func (g *valueGen) uuid() (u [16]byte) {
	for i := range u {
		u[i] = byte(g.r.Uint32())
	}
	return u
}
func (g *valueGen) uuidvar() [16]byte { return g.uuid() }
func (g *valueGen) b4() (v [4]byte) {
	for i := range v {
		v[i] = byte(g.r.Uint32())
	}
	return v
}
func (g *valueGen) bytes(max int) []byte {
	if max == 0 || max > 300 {
		max = 300
	}
	b := make([]byte, g.r.IntN(max+1))
	for i := range b {
		b[i] = byte('a' + g.r.IntN(26))
	}
	return b
}
func (g *valueGen) count(max int) int {
	if max == 0 || max > 10 {
		max = 10
	}
	return g.r.IntN(max + 1)
}
func (g *valueGen) flowRecords() []Record {
	if g.depth >= maxDepth-1 {
		return nil
	}
	g.depth++
	defer func() { g.depth-- }()
	var recs []Record
	tags := FlowRecordTags()
	for range g.r.IntN(3) {
		recs = append(recs, fillRecord(g, true, tags[g.r.IntN(len(tags))]))
	}
	return recs
}

// Raw is what the decoder saw, not a value: comparisons leave it out.
var cmpOpts = []cmp.Option{cmpopts.EquateComparable(netip.Addr{}), cmpopts.EquateEmpty(), cmpopts.IgnoreFields(Sample{}, "Raw")}

// TestRecordRoundTrip encodes random values of every structure and decodes
// them again: the values must come back unchanged. 40 values each, 5 under
// -short.
func TestRecordRoundTrip(t *testing.T) {
	iters := 40
	if testing.Short() {
		iters = 5
	}
	g := &valueGen{r: rand.New(rand.NewPCG(1, 2))}
	var d Decoder
	for _, flow := range []bool{true, false} {
		tags := CounterRecordTags()
		st := SampleCountersExpanded
		if flow {
			tags, st = FlowRecordTags(), SampleFlowExpanded
		}
		for _, tag := range tags {
			for iter := range iters {
				rec := fillRecord(g, flow, tag)
				in := &Datagram{AgentAddress: g.ip4(), SequenceNumber: uint32(iter), Samples: []Sample{{
					Tag: st, SequenceNumber: 7, SourceIDType: 2, SourceIDIndex: 1, Records: []Record{rec},
				}}}
				b, err := AppendDatagram(nil, in)
				if err != nil {
					t.Fatalf("%s %s: encode: %v", tag, RecordName(rec), err)
				}
				out, err := d.Decode(b)
				if err != nil {
					t.Fatalf("%s %s: decode: %v", tag, RecordName(rec), err)
				}
				if diff := cmp.Diff(in, out, cmpOpts...); diff != "" {
					t.Fatalf("%s %s: round trip differs (-want +got):\n%s", tag, RecordName(rec), diff)
				}
			}
		}
	}
}

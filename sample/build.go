package sample

import (
	"gwd/agent"
	"gwd/sflow"
)

// Submitter is where samples go: *agent.Agent.
type Submitter interface {
	SubmitFlow(ds agent.DataSource, s *sflow.Sample) error
}

// sFlow header_protocol values used here.
const (
	protoEthernet = 1
	protoIPv4     = 11
	protoIPv6     = 12
)

// packet is one sampled packet, whatever method took it.
type packet struct {
	header   []byte // the packet from its first header, possibly truncated
	protocol uint32 // sFlow header_protocol of header
	frameLen uint32 // the packet's length on the wire (0: len(header))
	in, out  uint32 // ifIndex, 0 when unknown
	rate     uint32 // 1-in-N
	pool     uint32
	drops    uint32
	nanos    uint64 // time of the sample, 0 when unknown

	// psample extras (has* false: no record)
	hasQueue, hasDepth, hasTransit bool
	queue, depth, transit          uint32
}

// source returns the flow sample's data source: 0:input, else 0:output.
func (p *packet) source() agent.DataSource {
	if p.in != 0 {
		return agent.DataSource{Type: 0, Index: p.in}
	}
	return agent.DataSource{Type: 0, Index: p.out}
}

// builder turns packets into flow samples; it keeps its records between
// calls so that sampling allocates nothing per packet. Not safe for
// concurrent use.
type builder struct {
	maxHeader int
	s         sflow.Sample
	hdr       sflow.SampledHeader
	ts        sflow.ExtendedTimestamp
	eq        sflow.ExtendedEgressQueue
	qd        sflow.ExtendedQueue
	tr        sflow.ExtendedTransit
	recs      []sflow.Record
}

func newBuilder(maxHeader int) *builder {
	return &builder{maxHeader: maxHeader, recs: make([]sflow.Record, 0, 8)}
}

// flow fills the builder's sample from p and returns it.
func (b *builder) flow(p *packet) *sflow.Sample {
	h := p.header
	frame := p.frameLen
	if frame < uint32(len(h)) {
		frame = uint32(len(h))
	}
	if len(h) > b.maxHeader {
		h = h[:b.maxHeader]
	}
	// the header is padded to 4 bytes on the wire; frame length counts
	// the FCS for Ethernet the way hsflowd does not: keep it as given.
	b.hdr = sflow.SampledHeader{Protocol: p.protocol, FrameLength: frame, Stripped: 0, Header: h}
	b.recs = append(b.recs[:0], &b.hdr)
	if p.hasQueue {
		b.eq.Queue = p.queue
		b.recs = append(b.recs, &b.eq)
	}
	if p.hasTransit {
		b.tr.DelayNanos = p.transit
		b.recs = append(b.recs, &b.tr)
	}
	if p.hasDepth {
		b.qd.DepthBytes = p.depth
		b.recs = append(b.recs, &b.qd)
	}
	if p.nanos != 0 {
		b.ts.Nanos = p.nanos
		b.recs = append(b.recs, &b.ts)
	}
	b.s = sflow.Sample{
		Tag:          sflow.SampleFlow,
		SamplingRate: p.rate,
		SamplePool:   p.pool,
		Drops:        p.drops,
		Input:        sflow.Interface{Value: p.in},
		Output:       sflow.Interface{Value: p.out},
		Records:      b.recs,
	}
	return &b.s
}

// submit builds p's flow sample and hands it to the agent.
func (b *builder) submit(to Submitter, p *packet) error {
	return to.SubmitFlow(p.source(), b.flow(p))
}

// ipProtocol is the sFlow header protocol of a packet that starts at its IP
// header, by the version nibble; 0 when it is neither IPv4 nor IPv6.
func ipProtocol(b []byte) uint32 {
	if len(b) == 0 {
		return 0
	}
	switch b[0] >> 4 {
	case 4:
		return protoIPv4
	case 6:
		return protoIPv6
	}
	return 0
}

// ipLength is the length an IP packet declares (IPv4 total length, IPv6
// payload length + 40), 0 when b is too short to say.
func ipLength(b []byte) uint32 {
	switch ipProtocol(b) {
	case protoIPv4:
		if len(b) >= 4 {
			return uint32(b[2])<<8 | uint32(b[3])
		}
	case protoIPv6:
		if len(b) >= 6 {
			return uint32(b[4])<<8 | uint32(b[5]) + 40
		}
	}
	return 0
}

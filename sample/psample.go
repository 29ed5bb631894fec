package sample

import (
	"fmt"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
)

// psample generic netlink family (include/uapi/linux/psample.h).
const (
	psampleFamily     = "psample"
	psampleMcastGroup = "packets"
	psampleCmdSample  = 0 // PSAMPLE_CMD_SAMPLE
)

// psample attributes, numbered as in enum psample_attr.
const (
	psampleAttrIIfIndex    = 0  // u16
	psampleAttrOIfIndex    = 1  // u16
	psampleAttrOrigSize    = 2  // u32
	psampleAttrSampleGroup = 3  // u32
	psampleAttrGroupSeq    = 4  // u32
	psampleAttrSampleRate  = 5  // u32
	psampleAttrData        = 6  // binary
	psampleAttrOutTC       = 10 // u16, egress queue
	psampleAttrOutTCOcc    = 11 // u64, queue depth in bytes
	psampleAttrLatency     = 12 // u64, transit delay in ns
	psampleAttrTimestamp   = 13 // u64, ns
	psampleAttrProto       = 14 // u16, the packet's ethertype
	psampleAttrProbability = 16 // flag: SAMPLE_RATE is a probability
)

// psampleMsg is one decoded PSAMPLE_CMD_SAMPLE message.
type psampleMsg struct {
	in, out     uint16
	origSize    uint32
	group       uint32
	seq         uint32
	rate        uint32
	data        []byte
	proto       uint16
	probability bool

	hasOutTC, hasOcc, hasLatency, hasTime bool
	outTC                                 uint16
	occ, latency, timestamp               uint64
}

// decodePsample decodes the attributes of a psample message. data aliases
// b.
func decodePsample(b []byte, m *psampleMsg) error {
	*m = psampleMsg{}
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return fmt.Errorf("psample: %w", err)
	}
	var hasGroup, hasRate bool
	for ad.Next() {
		switch ad.Type() {
		case psampleAttrIIfIndex:
			m.in = ad.Uint16()
		case psampleAttrOIfIndex:
			m.out = ad.Uint16()
		case psampleAttrOrigSize:
			m.origSize = ad.Uint32()
		case psampleAttrSampleGroup:
			m.group, hasGroup = ad.Uint32(), true
		case psampleAttrGroupSeq:
			m.seq = ad.Uint32()
		case psampleAttrSampleRate:
			m.rate, hasRate = ad.Uint32(), true
		case psampleAttrData:
			m.data = ad.Bytes()
		case psampleAttrOutTC:
			m.outTC, m.hasOutTC = ad.Uint16(), true
		case psampleAttrOutTCOcc:
			m.occ, m.hasOcc = ad.Uint64(), true
		case psampleAttrLatency:
			m.latency, m.hasLatency = ad.Uint64(), true
		case psampleAttrTimestamp:
			m.timestamp, m.hasTime = ad.Uint64(), true
		case psampleAttrProto:
			m.proto = ad.Uint16()
		case psampleAttrProbability:
			m.probability = true
		}
	}
	if err := ad.Err(); err != nil {
		return fmt.Errorf("psample: %w", err)
	}
	switch {
	case !hasGroup:
		return fmt.Errorf("psample: no PSAMPLE_ATTR_SAMPLE_GROUP")
	case !hasRate || m.rate == 0:
		return fmt.Errorf("psample: no sampling rate (PSAMPLE_ATTR_SAMPLE_RATE)")
	case len(m.data) == 0:
		return fmt.Errorf("psample: no packet (PSAMPLE_ATTR_DATA)")
	}
	return nil
}

// psampleReader turns psample messages of one group into flow samples.
type psampleReader struct {
	opts  PsampleOptions
	to    Submitter
	b     *builder
	msg   psampleMsg
	pool  map[uint32]uint32 // by data source ifIndex
	seq   uint32
	seen  bool
	drops uint32
	// counted for tests and health
	taken, skipped uint64
}

func newPsampleReader(o PsampleOptions, headerBytes int, to Submitter) *psampleReader {
	return &psampleReader{opts: o, to: to, b: newBuilder(headerBytes), pool: map[uint32]uint32{}}
}

// handle is called for each message received on the group.
func (r *psampleReader) handle(gm genetlink.Message) error {
	if gm.Header.Command != psampleCmdSample {
		return nil
	}
	m := &r.msg
	if err := decodePsample(gm.Data, m); err != nil {
		return err
	}
	if m.group != r.opts.Group {
		return nil
	}
	if m.probability {
		// The rate is a probability out of 2^32: sFlow needs 1-in-N.
		return fmt.Errorf("psample: group %d samples by probability, which sFlow cannot express", m.group)
	}
	if r.seen && m.seq != r.seq+1 && m.seq > r.seq {
		r.drops += m.seq - r.seq - 1
	}
	r.seq, r.seen = m.seq, true
	if (m.in != 0 && !r.opts.Ingress) || (m.in == 0 && !r.opts.Egress) {
		r.skipped++
		return nil
	}
	p := packet{header: m.data, protocol: protoEthernet, frameLen: m.origSize,
		in: uint32(m.in), out: uint32(m.out), rate: m.rate, drops: r.drops}
	ds := p.source().Index
	r.pool[ds] += m.rate
	p.pool = r.pool[ds]
	if m.hasOutTC {
		p.hasQueue, p.queue = true, uint32(m.outTC)
	}
	if m.hasOcc {
		p.hasDepth, p.depth = true, uint32(min(m.occ, 0xffffffff))
	}
	if m.hasLatency {
		p.hasTransit, p.transit = true, uint32(min(m.latency, 0xffffffff))
	}
	if m.hasTime {
		p.nanos = m.timestamp
	}
	r.taken++
	return r.b.submit(r.to, &p)
}

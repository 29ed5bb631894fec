package sample

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"

	"gwd/agent"
	"gwd/sflow"
)

// NET_DM generic netlink family (include/uapi/linux/net_dropmon.h).
const (
	dropmonFamily     = "NET_DM"
	dropmonMcastGroup = "events"

	dmCmdConfig      = 2
	dmCmdStart       = 3
	dmCmdStop        = 4
	dmCmdPacketAlert = 5

	dmAttrAlertMode  = 1  // u8
	dmAttrPC         = 2  // u64
	dmAttrSymbol     = 3  // string
	dmAttrInPort     = 4  // nested
	dmAttrTimestamp  = 5  // u64, ns
	dmAttrProto      = 6  // u16
	dmAttrPayload    = 7  // binary
	dmAttrTruncLen   = 9  // u32
	dmAttrOrigLen    = 10 // u32
	dmAttrQueueLen   = 11 // u32
	dmAttrOrigin     = 14 // u16: 0 software, 1 hardware
	dmAttrTrapGroup  = 15 // string
	dmAttrTrapName   = 16 // string
	dmAttrSWDrops    = 20 // flag
	dmAttrHWDrops    = 21 // flag
	dmAttrReason     = 23 // string
	dmAttrPortIfIdx  = 0  // u32, inside IN_PORT
	dmAlertModePkt   = 1
	dmOriginHardware = 1
)

// dropMsg is one decoded NET_DM_CMD_PACKET_ALERT message. Strings and
// payload alias the message.
type dropMsg struct {
	symbol    string
	reason    string
	trapGroup string
	trapName  string
	inIfIndex uint32
	timestamp uint64
	proto     uint16
	payload   []byte
	origLen   uint32
	hardware  bool
}

// decodeDrop decodes the attributes of a packet alert.
func decodeDrop(b []byte, m *dropMsg) error {
	*m = dropMsg{}
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return fmt.Errorf("NET_DM: %w", err)
	}
	for ad.Next() {
		switch ad.Type() {
		case dmAttrSymbol:
			m.symbol = ad.String()
		case dmAttrReason:
			m.reason = ad.String()
		case dmAttrTrapGroup:
			m.trapGroup = ad.String()
		case dmAttrTrapName:
			m.trapName = ad.String()
		case dmAttrInPort:
			ad.Nested(func(nd *netlink.AttributeDecoder) error {
				for nd.Next() {
					if nd.Type() == dmAttrPortIfIdx {
						m.inIfIndex = nd.Uint32()
					}
				}
				return nil
			})
		case dmAttrTimestamp:
			m.timestamp = ad.Uint64()
		case dmAttrProto:
			m.proto = ad.Uint16()
		case dmAttrPayload:
			m.payload = ad.Bytes()
		case dmAttrOrigLen:
			m.origLen = ad.Uint32()
		case dmAttrOrigin:
			m.hardware = ad.Uint16() == dmOriginHardware
		}
	}
	if err := ad.Err(); err != nil {
		return fmt.Errorf("NET_DM: %w", err)
	}
	if m.hardware && m.trapName == "" {
		return fmt.Errorf("NET_DM: hardware drop without NET_DM_ATTR_HW_TRAP_NAME")
	}
	if !m.hardware && m.symbol == "" && m.reason == "" {
		return fmt.Errorf("NET_DM: software drop with neither symbol nor reason")
	}
	return nil
}

// dropReader turns packet alerts into discard samples, at most Limit a
// second.
type dropReader struct {
	opts DropmonOptions
	hide *regexp.Regexp
	to   Submitter
	max  int
	now  func() time.Time

	msg  dropMsg
	s    sflow.Sample
	hdr  sflow.SampledHeader
	fn   sflow.ExtendedFunction
	trap sflow.ExtendedHWTrap
	rsn  sflow.ExtendedLinuxDropReason
	ts   sflow.ExtendedTimestamp
	recs []sflow.Record

	second  int64  // the second being counted
	inSec   uint32 // samples sent in it
	limited uint32 // events skipped by the limit, for the drops field
	taken   uint64
}

func newDropReader(o DropmonOptions, hide *regexp.Regexp, headerBytes int, to Submitter) *dropReader {
	return &dropReader{opts: o, hide: hide, to: to, max: headerBytes, now: time.Now, recs: make([]sflow.Record, 0, 6)}
}

func (r *dropReader) handle(gm genetlink.Message) error {
	if gm.Header.Command != dmCmdPacketAlert {
		return nil
	}
	m := &r.msg
	if err := decodeDrop(gm.Data, m); err != nil {
		return err
	}
	var reason int
	if m.hardware {
		if !r.opts.HW {
			return nil
		}
		var ok bool
		reason, ok = hardwareReason(m.trapGroup, m.trapName)
		if !ok && !r.opts.HWUnknown {
			return nil
		}
	} else {
		if !r.opts.SW {
			return nil
		}
		reason = softwareReason(m.reason, m.symbol, r.opts.RN)
	}
	if reason == reasonIgnore {
		return nil
	}
	if r.hide != nil && (r.hide.MatchString(m.symbol) || r.hide.MatchString(m.trapName) || (m.reason != "" && r.hide.MatchString(m.reason))) {
		return nil
	}
	if sec := r.now().Unix(); sec != r.second {
		r.second, r.inSec = sec, 0
	}
	if r.inSec >= r.opts.Limit {
		r.limited++
		return nil
	}
	r.inSec++
	r.taken++
	return r.to.SubmitFlow(r.source(m), r.build(m, reason))
}

func (r *dropReader) source(m *dropMsg) agent.DataSource {
	if m.inIfIndex != 0 {
		return agent.DataSource{Type: 0, Index: m.inIfIndex}
	}
	return agent.HostSource
}

// build fills the reader's discard sample.
func (r *dropReader) build(m *dropMsg, reason int) *sflow.Sample {
	h := m.payload
	if len(h) > r.max {
		h = h[:r.max]
	}
	frame := max(m.origLen, uint32(len(m.payload)))
	// NET_DM payloads start at the network header for software drops
	// (the MAC header is gone by then) and at the MAC header for traps.
	proto := uint32(protoEthernet)
	if !m.hardware {
		if p := ipProtocol(h); p != 0 && m.proto != 0x0806 {
			proto = p
		}
	}
	r.recs = r.recs[:0]
	if len(h) > 0 {
		r.hdr = sflow.SampledHeader{Protocol: proto, FrameLength: frame, Header: h}
		r.recs = append(r.recs, &r.hdr)
	}
	if m.hardware {
		r.trap = sflow.ExtendedHWTrap{Group: []byte(m.trapGroup), Trap: []byte(m.trapName)}
		r.recs = append(r.recs, &r.trap)
	} else {
		if m.symbol != "" {
			sym := m.symbol
			if i := strings.IndexByte(sym, '+'); i >= 0 {
				sym = sym[:i]
			}
			r.fn = sflow.ExtendedFunction{Symbol: []byte(sym)}
			r.recs = append(r.recs, &r.fn)
		}
		if m.reason != "" {
			r.rsn = sflow.ExtendedLinuxDropReason{Reason: []byte(m.reason)}
			r.recs = append(r.recs, &r.rsn)
		}
	}
	if m.timestamp != 0 {
		r.ts.Nanos = m.timestamp
		r.recs = append(r.recs, &r.ts)
	}
	r.s = sflow.Sample{Tag: sflow.SampleDiscard, Drops: r.limited, Reason: uint32(reason),
		Input: sflow.Interface{Value: m.inIfIndex}, Records: r.recs}
	return &r.s
}

// dropmonStart sets packet alert mode and starts the monitor for the
// chosen drop kinds.
func (g *genlConn) dropmonStart(sw, hw bool, packets bool) error {
	if packets {
		if err := g.execute(dmCmdConfig, func(ae *netlink.AttributeEncoder) {
			ae.Uint8(dmAttrAlertMode, dmAlertModePkt)
		}); err != nil {
			return fmt.Errorf("setting packet alert mode: %w", err)
		}
	}
	return g.execute(dmCmdStart, func(ae *netlink.AttributeEncoder) {
		if sw {
			ae.Flag(dmAttrSWDrops, true)
		}
		if hw {
			ae.Flag(dmAttrHWDrops, true)
		}
	})
}

// dropmonStop stops the monitor.
func (g *genlConn) dropmonStop() error {
	return g.execute(dmCmdStop, func(ae *netlink.AttributeEncoder) {
		ae.Flag(dmAttrSWDrops, true)
		ae.Flag(dmAttrHWDrops, true)
	})
}

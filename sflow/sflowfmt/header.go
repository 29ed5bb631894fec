package sflowfmt

import "strconv"

// This file prints the lines sflowtool (6.x, the reference decoder) writes
// while it decodes the bytes of a sampled_header flow record (0:1): the
// lines that follow "headerBytes ..." in its text output.
//
// sflowtool prints every one of these lines on the spot, while it decodes
// the record; none is held back to the end of the sample. What does cross
// record boundaries is some decode state (see headerState), and the lines
// depend on two other fields of the record (frame_length and stripped, for
// IPSize) and on the field-name prefix in force ("discarded_" inside a
// discard sample).

// sampledHeader is the input: one sampled_header record.
type sampledHeader struct {
	// Protocol is header_protocol (1 Ethernet, 11 IPv4, 12 IPv6, 15 802.11, ...).
	Protocol uint32
	// FrameLength is frame_length (what sflowtool calls sampledPacketSize).
	FrameLength uint32
	// Stripped is the stripped count; 0 for v2/v4 datagrams, which lack it.
	Stripped uint32
	// Header is the sampled header bytes.
	Header []byte
	// Trailer optionally holds the datagram bytes that follow Header. For a
	// truncated header sflowtool reads a few bytes past its end (the TCP flags,
	// an 802.2 SNAP header, the fourth 802.11 address, ...); those reads are
	// served from Trailer and read as 0 past its end. Nil is fine.
	Trailer []byte
	// Prefix is the field-name prefix sflowtool has in force, "" except
	// inside a discard sample (0:5), where it is "discarded_". Lines printed
	// with the plain formatter (NO_DECODE, UNKNOWN, header decode error) never
	// carry it, as in sflowtool.
	Prefix string
}

// headerState is the decode state sflowtool keeps per sample (it clears it at
// each startSample) and that a sampled_header record can inherit from an
// earlier one in the same sample: whether an IPv4 or IPv6 header was found and
// at what offset. Header protocols that do not reset it (11 sets only the IPv4
// flag, 12 only the IPv6 flag, the NO_DECODE and unknown ones touch neither)
// make sflowtool decode the new header bytes at the offset found in the
// previous record. Use one zero headerState per sample, pass it to every
// sampled_header record of that sample in order.
type headerState struct {
	gotIPv4 bool
	gotIPv6 bool
	offIPv4 int
	offIPv6 int
}

// Ethernet types and sizes the link-layer decode tests against.
const (
	hdrEtherLen      = 14
	hdrIPv4Min       = 20
	hdrIPv6Fixed     = 40
	hdr8023MaxLen    = 1500
	hdrIPXHeaderLen  = 30
	hdrIPXMaxData    = 546
	hdrWifiMin       = 24
	hdrEtherTypeIPv4 = 0x0800
	hdrEtherTypeIPv6 = 0x86DD
)

// appendHeaderDecode appends to dst the "key value\n" lines sflowtool prints
// after headerBytes for the record h, updating st (nil means a fresh sample).
// It never panics, whatever the bytes, and its output is bounded: a few lines
// per 4 header bytes at most (see maxHeaderDecodeLen).
func appendHeaderDecode(dst []byte, st *headerState, h sampledHeader) []byte {
	d := headerDecoder{out: dst, h: h.Header, tail: h.Trailer, prefix: h.Prefix}
	if st != nil {
		d.st = *st
	}
	d.run(h)
	if st != nil {
		*st = d.st
	}
	return d.out
}

// run does the work of appendHeaderDecode on d.st and d.out.
func (d *headerDecoder) run(h sampledHeader) {
	st := &d.st

	switch h.Protocol {
	case 1:
		d.linkLayer()
	case 11:
		st.gotIPv4, st.offIPv4 = true, 0
	case 12:
		st.gotIPv6, st.offIPv6 = true, 0
	case 15:
		d.wifiMAC()
	case 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 14, 16, 17, 18:
		d.plainInt("NO_DECODE headerProtocol=", int32(h.Protocol))
	default:
		d.plainInt("UNKNOWN headerProtocol=", int32(h.Protocol))
	}

	switch {
	case st.gotIPv4:
		d.key("IPSize")
		d.out = strconv.AppendInt(d.out, int64(int32(h.FrameLength-h.Stripped-uint32(st.offIPv4))), 10)
		d.out = append(d.out, '\n')
		d.ipv4(st.offIPv4)
	case st.gotIPv6:
		d.key("IPSize")
		d.out = strconv.AppendInt(d.out, int64(int32(h.FrameLength-h.Stripped-uint32(st.offIPv6))), 10)
		d.out = append(d.out, '\n')
		d.ipv6(st.offIPv6)
	}
}

// maxHeaderDecodeLen bounds what appendHeaderDecode appends for a header of
// n bytes with a prefix of p bytes: the fixed lines, plus one VLAN pair per 4
// bytes or one IPv6 extension line per 8 bytes. Generous on purpose.
func maxHeaderDecodeLen(n, p int) int {
	return (40 + n/4*2) * (p + 64)
}

// headerDecoder walks one header; out is the output being built.
type headerDecoder struct {
	out    []byte
	st     headerState
	h      []byte
	tail   []byte
	prefix string
}

// at reads the byte at offset i, reading past the header into the trailer as
// sflowtool would, and 0 past that.
func (d *headerDecoder) at(i int) byte {
	if i < 0 {
		return 0
	}
	if i < len(d.h) {
		return d.h[i]
	}
	i -= len(d.h)
	if i < len(d.tail) {
		return d.tail[i]
	}
	return 0
}

func (d *headerDecoder) be16(i int) uint32 {
	return uint32(d.at(i))<<8 | uint32(d.at(i+1))
}

// key starts a field line: prefix, name, space.
func (d *headerDecoder) key(name string) {
	d.out = append(d.out, d.prefix...)
	d.out = append(d.out, name...)
	d.out = append(d.out, ' ')
}

func (d *headerDecoder) uint(name string, v uint32) {
	d.key(name)
	d.out = strconv.AppendUint(d.out, uint64(v), 10)
	d.out = append(d.out, '\n')
}

// plainInt writes an unprefixed "textN\n" line (sflowtool's printf-style log).
func (d *headerDecoder) plainInt(text string, v int32) {
	d.out = append(d.out, text...)
	d.out = strconv.AppendInt(d.out, int64(v), 10)
	d.out = append(d.out, '\n')
}

const hdrHexLower = "0123456789abcdef"
const hdrHexUpper = "0123456789ABCDEF"

// mac writes six bytes from offset i as 12 lowercase hex digits.
func (d *headerDecoder) mac(name string, i int) {
	d.key(name)
	for j := range 6 {
		b := d.at(i + j)
		d.out = append(d.out, hdrHexLower[b>>4], hdrHexLower[b&15])
	}
	d.out = append(d.out, '\n')
}

// linkLayer decodes an Ethernet / 802.3 frame: MACs, 802.1Q / 802.1ad tags,
// IPX and 802.2 / SNAP encapsulations, and finds the IPv4 or IPv6 header.
func (d *headerDecoder) linkLayer() {
	d.st.gotIPv4, d.st.gotIPv6 = false, false
	n := len(d.h)
	if n < hdrEtherLen {
		return
	}
	d.mac("dstMAC", 0)
	d.mac("srcMAC", 6)
	etype := d.be16(12)
	p := hdrEtherLen

	// Each tag takes 4 bytes and is only read when 4 bytes remain, so this
	// runs at most n/4 times.
	for depth := 0; hdrIsVLANTPID(etype); depth++ {
		if n-p < 4 {
			return
		}
		tci := d.be16(p)
		p += 2
		if depth == 0 {
			d.uint("decodedVLAN", tci&0x0fff)
			d.uint("decodedPriority", tci>>13)
		} else {
			d.dotted("decodedVLAN.", depth, tci&0x0fff)
			d.dotted("decodedPriority.", depth, tci>>13)
		}
		etype = d.be16(p)
		p += 2
	}

	// sflowtool compares the whole header (not what is left) with the size
	// of an IPv4 header here.
	if n < hdrIPv4Min {
		return
	}
	if etype == 0x0200 || etype == 0x0201 || etype == 0x0600 {
		ipxLen := d.be16(p + 2)
		if d.at(p) == 0xff && d.at(p+1) == 0xff &&
			ipxLen >= hdrIPXHeaderLen && ipxLen <= hdrIPXHeaderLen+hdrIPXMaxData {
			return
		}
	}
	if etype <= hdr8023MaxLen {
		switch {
		case d.at(p) == 0xAA && d.at(p+1) == 0xAA && d.at(p+2) == 0x03:
			p += 3
			if d.at(p) != 0 || d.at(p+1) != 0 || d.at(p+2) != 0 {
				d.key("VSNAP_OUI")
				for j := range 3 {
					if j > 0 {
						d.out = append(d.out, '-')
					}
					b := d.at(p + j)
					d.out = append(d.out, hdrHexUpper[b>>4], hdrHexUpper[b&15])
				}
				d.out = append(d.out, '\n')
				return
			}
			p += 3
			etype = d.be16(p)
			p += 2
		case d.at(p) == 0x06 && d.at(p+1) == 0x06 && d.at(p+2)&1 != 0:
			p += 3
			etype = hdrEtherTypeIPv4
		default:
			return
		}
	}
	d.uint("ethernet_type", etype)

	switch etype {
	case hdrEtherTypeIPv4:
		// sflowtool's test is an unsigned one: a position already past the
		// end (SNAP on a short frame) passes it.
		if rem := n - p; rem >= 0 && rem < hdrIPv4Min {
			return
		}
		if b := d.at(p); b>>4 != 4 || b&15 < 5 {
			return
		}
		d.st.gotIPv4, d.st.offIPv4 = true, p
	case hdrEtherTypeIPv6:
		if d.at(p)>>4 != 6 {
			return
		}
		d.st.gotIPv6, d.st.offIPv6 = true, p
	}
}

func hdrIsVLANTPID(t uint32) bool {
	return t == 0x8100 || t == 0x88A8 || t == 0x9100 || t == 0x9200 || t == 0x9300
}

// dotted writes "<name><depth> <v>" for the inner tags of a Q-in-Q stack.
func (d *headerDecoder) dotted(name string, depth int, v uint32) {
	d.out = append(d.out, d.prefix...)
	d.out = append(d.out, name...)
	d.out = strconv.AppendUint(d.out, uint64(depth), 10)
	d.out = append(d.out, ' ')
	d.out = strconv.AppendUint(d.out, uint64(v), 10)
	d.out = append(d.out, '\n')
}

// wifiMAC decodes an 802.11 MAC header. Only data frames print anything, and
// sflowtool never goes on to the IP layer from here.
func (d *headerDecoder) wifiMAC() {
	d.st.gotIPv4, d.st.gotIPv6 = false, false
	if len(d.h) < hdrWifiMin {
		return
	}
	fc := uint32(d.h[1])<<8 | uint32(d.h[0])
	if (fc>>2)&3 != 2 {
		return
	}
	toDS, fromDS := fc>>8&1 == 1, fc>>9&1 == 1
	const addr1, addr2, addr3, addr4 = 4, 10, 16, 24
	var src, dst int
	switch {
	case toDS && fromDS:
		src, dst = addr4, addr3
	case toDS:
		src, dst = addr2, addr3
	case fromDS:
		src, dst = addr3, addr1
	default:
		src, dst = addr2, addr1
	}
	d.mac("srcMAC", src)
	d.mac("dstMAC", dst)
	d.mac("txMAC", addr2)
	d.mac("rxMAC", addr1)
}

// ipv4 decodes the IPv4 header at offset off.
func (d *headerDecoder) ipv4(off int) {
	rem := len(d.h) - off
	if rem >= 0 && rem < hdrIPv4Min {
		return
	}
	proto := uint32(d.at(off + 9))
	d.uint("ip.tot_len", d.be16(off+2))
	d.key("srcIP")
	d.dottedQuad(off + 12)
	d.key("dstIP")
	d.dottedQuad(off + 16)
	d.uint("IPProtocol", proto)
	d.uint("IPTOS", uint32(d.at(off+1)))
	d.uint("IPTTL", uint32(d.at(off+8)))
	// sflowtool prints the identification field in host (little-endian)
	// byte order.
	d.uint("IPID", uint32(d.at(off+4))|uint32(d.at(off+5))<<8)
	if frag := d.be16(off+6) & 0x1fff; frag > 0 {
		d.uint("IPFragmentOffset", frag)
		return
	}
	hl := int(d.at(off)&0x0f) * 4
	if rem < hl {
		return
	}
	d.layer4(off+hl, proto)
}

func (d *headerDecoder) dottedQuad(i int) {
	for j := range 4 {
		if j > 0 {
			d.out = append(d.out, '.')
		}
		d.out = strconv.AppendUint(d.out, uint64(d.at(i+j)), 10)
	}
	d.out = append(d.out, '\n')
}

// ipv6 decodes the IPv6 header at offset off and skips the extension headers
// sflowtool knows.
func (d *headerDecoder) ipv6(off int) {
	n := len(d.h)
	if rem := n - off; rem >= 0 && rem < hdrIPv6Fixed {
		return
	}
	if v := d.at(off) >> 4; v != 6 {
		d.out = append(d.out, "header decode error: unexpected IP version: "...)
		d.out = strconv.AppendUint(d.out, uint64(v), 10)
		d.out = append(d.out, '\n')
		return
	}
	d.uint("IPTOS", uint32(d.at(off)&15)<<4|uint32(d.at(off+1)>>4))
	d.key("IP6_label")
	d.out = append(d.out, "0x"...)
	label := uint32(d.at(off+1)&15)<<16 | d.be16(off+2)
	d.out = strconv.AppendUint(d.out, uint64(label), 16)
	d.out = append(d.out, '\n')
	if plen := d.be16(off + 4); plen == 0 {
		d.key("IPV6_payloadLen")
		d.out = append(d.out, "<jumbo>\n"...)
	} else {
		d.uint("IPV6_payloadLen", plen)
	}
	next := uint32(d.at(off + 6))
	d.uint("IPTTL", uint32(d.at(off+7)))
	d.key("srcIP6")
	d.ipv6Addr(off + 8)
	d.key("dstIP6")
	d.ipv6Addr(off + 24)

	// Every extension header moves p on by at least 8 bytes and the loop
	// stops once p passes the end, so it runs at most n/8+1 times.
	p := off + hdrIPv6Fixed
	for next == 0 || next == 43 || next == 44 || next == 51 || next == 60 {
		d.uint("IP6HeaderExtension", next)
		if p+8 > n {
			return
		}
		next = uint32(d.h[p])
		p += 8 * (int(d.h[p+1]) + 1)
		if p > n {
			return
		}
	}
	d.uint("IPProtocol", next)
	d.layer4(p, next)
}

// ipv6Addr writes 16 bytes from offset i as eight 4-digit hex groups.
func (d *headerDecoder) ipv6Addr(i int) {
	for j := 0; j < 16; j += 2 {
		if j > 0 {
			d.out = append(d.out, ':')
		}
		a, b := d.at(i+j), d.at(i+j+1)
		d.out = append(d.out, hdrHexLower[a>>4], hdrHexLower[a&15], hdrHexLower[b>>4], hdrHexLower[b&15])
	}
	d.out = append(d.out, '\n')
}

// layer4 decodes the ICMP, TCP or UDP header at offset p; sflowtool needs 8
// bytes there and prints nothing for other protocols.
func (d *headerDecoder) layer4(p int, proto uint32) {
	if p+8 > len(d.h) {
		return
	}
	switch proto {
	case 1:
		d.uint("ICMPType", uint32(d.at(p)))
		d.uint("ICMPCode", uint32(d.at(p+1)))
	case 6:
		d.uint("TCPSrcPort", d.be16(p))
		d.uint("TCPDstPort", d.be16(p+2))
		d.uint("TCPFlags", uint32(d.at(p+13)))
	case 17:
		d.uint("UDPSrcPort", d.be16(p))
		d.uint("UDPDstPort", d.be16(p+2))
		d.uint("UDPBytes", d.be16(p+4))
	}
}

package bgp

import "encoding/binary"

// Header protocols of sampled_header (sFlow v5 header_protocol).
const (
	protoEthernet = 1
	protoIPv4     = 11
	protoIPv6     = 12
)

// maxVLANTags bounds the 802.1Q / 802.1ad tags skipped before the IP
// header.
const maxVLANTags = 4

// parseHeader finds the source and destination addresses of the IP packet
// at the start of a sampled header (Ethernet with up to four VLAN tags, or
// a bare IPv4 / IPv6 header). ok is false when the header is not an IP
// packet or is cut before both addresses. It does not allocate.
func parseHeader(proto uint32, h []byte) (src, dst addrBits, v4, ok bool) {
	var et uint16
	switch proto {
	case protoEthernet:
		if len(h) < 14 {
			return src, dst, false, false
		}
		et = binary.BigEndian.Uint16(h[12:])
		h = h[14:]
		for i := 0; i < maxVLANTags && (et == 0x8100 || et == 0x88a8 || et == 0x9100); i++ {
			if len(h) < 4 {
				return src, dst, false, false
			}
			et = binary.BigEndian.Uint16(h[2:])
			h = h[4:]
		}
	case protoIPv4:
		et = 0x0800
	case protoIPv6:
		et = 0x86dd
	default:
		return src, dst, false, false
	}
	switch et {
	case 0x0800:
		if len(h) < 20 || h[0]>>4 != 4 {
			return src, dst, false, false
		}
		src.hi = uint64(binary.BigEndian.Uint32(h[12:])) << 32
		dst.hi = uint64(binary.BigEndian.Uint32(h[16:])) << 32
		return src, dst, true, true
	case 0x86dd:
		if len(h) < 40 || h[0]>>4 != 6 {
			return src, dst, false, false
		}
		src = addrBits{binary.BigEndian.Uint64(h[8:]), binary.BigEndian.Uint64(h[16:])}
		dst = addrBits{binary.BigEndian.Uint64(h[24:]), binary.BigEndian.Uint64(h[32:])}
		return src, dst, false, true
	}
	return src, dst, false, false
}

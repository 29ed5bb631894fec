package bgp

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

func TestParseHeader(t *testing.T) {
	v4 := packet("198.51.100.7", "203.0.113.9")
	v6 := packet("2001:db8::1", "2001:db8:1::2")
	arp := append([]byte{}, v4...)
	arp[16], arp[17] = 0x08, 0x06
	qinq := append([]byte{}, v4[:12]...)
	qinq = append(qinq, 0x88, 0xa8, 0, 20) // outer S-tag, then the packet's own C-tag
	qinq = append(qinq, v4[12:]...)
	for _, c := range []struct {
		name     string
		proto    uint32
		h        []byte
		src, dst string
	}{
		{"ethernet vlan ipv4", protoEthernet, v4, "198.51.100.7", "203.0.113.9"},
		{"ethernet vlan ipv6", protoEthernet, v6, "2001:db8::1", "2001:db8:1::2"},
		{"q-in-q ipv4", protoEthernet, qinq, "198.51.100.7", "203.0.113.9"},
		{"bare ipv4", protoIPv4, v4[18:], "198.51.100.7", "203.0.113.9"},
		{"bare ipv6", protoIPv6, v6[18:], "2001:db8::1", "2001:db8:1::2"},
		{"arp", protoEthernet, arp, "", ""},
		{"cut ipv4", protoEthernet, v4[:18+19], "", ""},
		{"cut ipv6", protoEthernet, v6[:18+39], "", ""},
		{"ipv4 ethertype, version 6", protoIPv4, v6[18:], "", ""},
		{"other protocol", 2, v4, "", ""},
		{"empty", protoEthernet, nil, "", ""},
	} {
		src, dst, is4, ok := parseHeader(c.proto, c.h)
		if ok != (c.src != "") {
			t.Errorf("%s: ok = %v", c.name, ok)
			continue
		}
		if !ok {
			continue
		}
		ws, wd := netip.MustParseAddr(c.src), netip.MustParseAddr(c.dst)
		if is4 != ws.Is4() || src != toBits(ws) || dst != toBits(wd) {
			t.Errorf("%s: got %v %v v4=%v, want %v %v", c.name, src.prefix(128, false), dst.prefix(128, false), is4, ws, wd)
		}
	}
}

// FuzzParseHeader: any bytes under any protocol neither panic nor read
// outside the header; what is found is the addresses at the IP header's
// fixed offsets after the Ethernet and VLAN headers.
func FuzzParseHeader(f *testing.F) {
	f.Add(uint32(protoEthernet), packet("198.51.100.7", "203.0.113.9"))
	f.Add(uint32(protoEthernet), packet("2001:db8::1", "2001:db8:1::2"))
	f.Add(uint32(protoIPv4), packet("10.0.0.1", "10.0.0.2")[18:])
	f.Add(uint32(protoEthernet), []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x81, 0, 0, 1, 0x81, 0, 0, 1, 0x81, 0, 0, 1, 0x81, 0, 0, 1, 0x81, 0})
	f.Fuzz(func(t *testing.T, proto uint32, h []byte) {
		src, dst, is4, ok := parseHeader(proto, h)
		if !ok {
			return
		}
		ip := h
		if proto == protoEthernet {
			et := binary.BigEndian.Uint16(h[12:])
			ip = h[14:]
			for n := 0; n < maxVLANTags && (et == 0x8100 || et == 0x88a8 || et == 0x9100); n++ {
				et = binary.BigEndian.Uint16(ip[2:])
				ip = ip[4:]
			}
		}
		if is4 {
			s, _ := netip.AddrFromSlice(ip[12:16])
			d, _ := netip.AddrFromSlice(ip[16:20])
			if ip[0]>>4 != 4 || src != toBits(s) || dst != toBits(d) {
				t.Fatalf("IPv4 addresses do not match the header bytes")
			}
			return
		}
		s, _ := netip.AddrFromSlice(ip[8:24])
		d, _ := netip.AddrFromSlice(ip[24:40])
		if ip[0]>>4 != 6 || src != toBits(s) || dst != toBits(d) {
			t.Fatalf("IPv6 addresses do not match the header bytes")
		}
	})
}

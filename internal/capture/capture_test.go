package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gwd/internal/testutil"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// got is what a test keeps of a Packet: a copy of the payload.
type got struct {
	Payload   string
	Src, Dst  netip.AddrPort
	Timestamp time.Time
	Frame     int
	Truncated bool
}

// readAll reads every datagram of the capture at path.
func readAll(t testing.TB, path string) ([]got, *Reader, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := NewReader(f)
	if err != nil {
		return nil, nil, err
	}
	var out []got
	for {
		p, err := r.Next()
		if err == io.EOF {
			return out, r, nil
		}
		if err != nil {
			return out, r, err
		}
		out = append(out, got{string(p.Payload), p.Src, p.Dst, p.Timestamp, p.Frame, p.Truncated})
	}
}

// sflowtoolDatagram is what sflowtool printed for one datagram.
type sflowtoolDatagram struct {
	size  int
	agent string
	ts    time.Time
}

// readSflowtool reads the reference output of `sflowtool -r` for a capture.
func readSflowtool(t *testing.T, capture string) []sflowtoolDatagram {
	t.Helper()
	base := testutil.SflowtoolText(t, capture)
	var (
		out []sflowtoolDatagram
		sec time.Time
		err error
	)
	for _, line := range testutil.ReadLines(t, base) {
		key, val, _ := strings.Cut(line, " ")
		switch key {
		case "startDatagram":
			out = append(out, sflowtoolDatagram{})
		case "datagramSize":
			out[len(out)-1].size, err = strconv.Atoi(val)
		case "agent":
			out[len(out)-1].agent = val
		case "pcapTimestamp":
			sec, err = time.Parse("2006-01-02T15:04:05-0700", val)
		case "pcapTimestamp_uS":
			var us int
			us, err = strconv.Atoi(val)
			out[len(out)-1].ts = sec.Add(time.Duration(us) * time.Microsecond).UTC()
		}
		if err != nil {
			t.Fatalf("%s: %q: %v", base, line, err)
		}
	}
	return out
}

// TestRealCaptures reads every capture of testdata/captures: as many
// datagrams as sflowtool found, with its sizes, agents and timestamps.
func TestRealCaptures(t *testing.T) {
	telegrafSrc := netip.MustParseAddrPort("192.0.2.1:40000")
	telegrafDst := netip.MustParseAddrPort("192.0.2.2:6343")
	// Datagram counts are those of SOURCES.md (tshark -Y sflow); for the two
	// captures made on a test host it gives sample counts, so the count is
	// that of sflowtool's output, and every UDP packet in them is sFlow.
	tests := []struct {
		file      string
		datagrams int
		src, dst  netip.AddrPort // checked where valid
	}{
		{file: "hp-procurve-2011.pcap", datagrams: 1000,
			src: netip.MustParseAddrPort("192.168.1.1:54321"), dst: netip.MustParseAddrPort("192.168.1.2:6343")},
		{file: "expanded-flow-gateway-aspath.pcap", datagrams: 1},
		{file: "akvorado-router-gateway-1140.pcap", datagrams: 1},
		{file: "akvorado-discard-interface.pcap", datagrams: 1},
		{file: "akvorado-multiple-interfaces.pcap", datagrams: 1},
		{file: "akvorado-qinq-expanded.pcap", datagrams: 1},
		{file: "akvorado-raw-ipv4-header.pcap", datagrams: 1},
		{file: "akvorado-sampled-ipv4-ethernet.pcap", datagrams: 1},
		{file: "telegraf-discard-event-1036.pcap", datagrams: 1, src: telegrafSrc, dst: telegrafDst},
		{file: "telegraf-counters-portname-1005.pcap", datagrams: 1, src: telegrafSrc, dst: telegrafDst},
		{file: "telegraf-expanded-counters-issue18876.pcap", datagrams: 1, src: telegrafSrc, dst: telegrafDst},
		// 11 datagrams, all from hsflowd (agent 192.0.2.2): none from OVS.
		{file: "hsflowd-2.1.25-hostcounters-poll5.pcap", datagrams: 11,
			dst: netip.MustParseAddrPort("127.0.0.1:6343")},
		{file: "ovs-3.1-userspace-netdev.pcap", datagrams: 11,
			dst: netip.MustParseAddrPort("127.0.0.1:16343")},
		// synthetic (see SOURCES.md): hsflowd's json module, 192.0.2.2 -> 192.0.2.1:6343
		{file: "hsflowd-json-rtmetric-rtflow.pcap", datagrams: 3,
			src: netip.MustParseAddrPort("192.0.2.2:50000"), dst: netip.MustParseAddrPort("192.0.2.1:6343")},
	}

	// Every capture in the folder has a row.
	files := testutil.CaptureFiles(t)
	listed := map[string]bool{}
	for _, tt := range tests {
		listed[tt.file] = true
	}
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("%s has no row in this test", f)
		}
	}

	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			pkts, r, err := readAll(t, testutil.Capture(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if len(pkts) != tt.datagrams {
				t.Errorf("got %d datagrams, want %d", len(pkts), tt.datagrams)
			}
			if r.Skipped() != 0 {
				t.Errorf("Skipped() = %d (%v), want 0", r.Skipped(), r.skipped)
			}
			ref := readSflowtool(t, tt.file)
			if len(ref) != len(pkts) {
				t.Errorf("sflowtool printed %d datagrams, the reader found %d", len(ref), len(pkts))
			}
			for i, p := range pkts {
				if !strings.HasPrefix(p.Payload, "\x00\x00\x00\x05") {
					t.Errorf("datagram %d starts % x, want sFlow v5", i, p.Payload[:min(4, len(p.Payload))])
				}
				if p.Truncated {
					t.Errorf("datagram %d: Truncated", i)
				}
				if p.Frame != i+1 {
					t.Errorf("datagram %d: Frame %d, want %d", i, p.Frame, i+1)
				}
				if tt.src.IsValid() && p.Src != tt.src {
					t.Errorf("datagram %d: Src %v, want %v", i, p.Src, tt.src)
				}
				if tt.dst.IsValid() && p.Dst != tt.dst {
					t.Errorf("datagram %d: Dst %v, want %v", i, p.Dst, tt.dst)
				}
				if i >= len(ref) {
					continue
				}
				if len(p.Payload) != ref[i].size {
					t.Errorf("datagram %d: %d bytes, sflowtool says %d", i, len(p.Payload), ref[i].size)
				}
				if !p.Timestamp.Equal(ref[i].ts) {
					t.Errorf("datagram %d: time %v, sflowtool says %v", i, p.Timestamp, ref[i].ts)
				}
				// Agent address of an IPv4 agent: type 1, then 4 bytes.
				if len(p.Payload) >= 12 && p.Payload[7] == 1 {
					agent := netip.AddrFrom4([4]byte([]byte(p.Payload[8:12]))).String()
					if agent != ref[i].agent {
						t.Errorf("datagram %d: agent %s, sflowtool says %s", i, agent, ref[i].agent)
					}
				}
			}
		})
	}
}

// Frame builders. Lengths and checksums are filled in; checksums are left 0.

func udp(sport, dport uint16, payload string) []byte {
	return udpLen(sport, dport, payload, 8+len(payload))
}

// udpLen builds a UDP datagram whose length field says ulen.
func udpLen(sport, dport uint16, payload string, ulen int) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(ulen))
	return append(b, payload...)
}

type v4 struct {
	src, dst string
	proto    byte   // 17 if 0
	frag     uint16 // flags and fragment offset field
	options  []byte // a multiple of 4 bytes
	total    int    // total length field, if not 0; -1 writes 0
}

func (h v4) build(body []byte) []byte {
	ihl := 20 + len(h.options)
	b := make([]byte, ihl, ihl+len(body))
	b[0] = 0x40 | byte(ihl/4)
	total := ihl + len(body)
	switch {
	case h.total > 0:
		total = h.total
	case h.total < 0:
		total = 0
	}
	binary.BigEndian.PutUint16(b[2:], uint16(total))
	binary.BigEndian.PutUint16(b[6:], h.frag)
	b[8] = 64
	b[9] = h.proto
	if b[9] == 0 {
		b[9] = 17
	}
	src, dst := netip.MustParseAddr(h.src).As4(), netip.MustParseAddr(h.dst).As4()
	copy(b[12:], src[:])
	copy(b[16:], dst[:])
	copy(b[20:], h.options)
	return append(b, body...)
}

// ipv6 builds an IPv6 packet; body starts with the extension headers, if any,
// the first of which is next.
func ipv6(src, dst string, next byte, body []byte) []byte {
	b := make([]byte, 40, 40+len(body))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(len(body)))
	b[6] = next
	b[7] = 64
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	return append(b, body...)
}

// ext6 builds an IPv6 extension header of units*8 bytes followed by rest.
func ext6(next byte, units int, rest []byte) []byte {
	b := make([]byte, units*8, units*8+len(rest))
	b[0] = next
	b[1] = byte(units - 1)
	return append(b, rest...)
}

// eth builds an Ethernet frame: tags are TPIDs of VLAN tags, outermost first.
func eth(etherType uint16, body []byte, tags ...uint16) []byte {
	b := []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1}
	for i, tpid := range tags {
		b = binary.BigEndian.AppendUint16(b, tpid)
		b = binary.BigEndian.AppendUint16(b, uint16(100+i)) // TCI
	}
	b = binary.BigEndian.AppendUint16(b, etherType)
	return append(b, body...)
}

func sll(proto uint16, body []byte) []byte {
	b := make([]byte, 16, 16+len(body))
	binary.BigEndian.PutUint16(b[2:], 1) // ARPHRD_ETHER
	binary.BigEndian.PutUint16(b[4:], 6)
	binary.BigEndian.PutUint16(b[14:], proto)
	return append(b, body...)
}

func sll2(proto uint16, body []byte) []byte {
	b := make([]byte, 20, 20+len(body))
	binary.BigEndian.PutUint16(b[0:], proto)
	binary.BigEndian.PutUint32(b[4:], 3) // ifindex
	binary.BigEndian.PutUint16(b[8:], 1) // ARPHRD_ETHER
	b[11] = 6
	return append(b, body...)
}

func null(order binary.AppendByteOrder, family uint32, body []byte) []byte {
	return append(order.AppendUint32(nil, family), body...)
}

func pad(b []byte, n int) []byte {
	for len(b) < n {
		b = append(b, 0)
	}
	return b
}

// A frame to put into a capture: data as captured, orig the length on the
// wire (len(data) if 0), iface the pcapng interface.
type frame struct {
	data  []byte
	orig  int
	iface int
}

var t0 = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)

// ts is the time given to frame i.
func ts(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }

func (f frame) ci(i int) gopacket.CaptureInfo {
	orig := f.orig
	if orig == 0 {
		orig = len(f.data)
	}
	return gopacket.CaptureInfo{Timestamp: ts(i), CaptureLength: len(f.data), Length: orig, InterfaceIndex: f.iface}
}

// pcapFile writes frames as a little-endian pcap with pcapgo.
func pcapFile(t testing.TB, link layers.LinkType, nanos bool, frames ...frame) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if nanos {
		w = pcapgo.NewWriterNanos(&buf)
	}
	if err := w.WriteFileHeader(65535, link); err != nil {
		t.Fatal(err)
	}
	for i, f := range frames {
		if err := w.WritePacket(f.ci(i), f.data); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// pcapFileBE writes frames as a big-endian pcap, which pcapgo cannot write.
func pcapFileBE(link uint32, nanos bool, frames ...frame) []byte {
	be := binary.BigEndian
	magic := uint32(magicPcapMicro)
	if nanos {
		magic = magicPcapNano
	}
	b := be.AppendUint32(nil, magic)
	b = be.AppendUint16(b, 2)
	b = be.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = be.AppendUint32(b, 65535)
	b = be.AppendUint32(b, link)
	for i, f := range frames {
		ci := f.ci(i)
		frac := ci.Timestamp.Nanosecond()
		if !nanos {
			frac /= 1000
		}
		b = be.AppendUint32(b, uint32(ci.Timestamp.Unix()))
		b = be.AppendUint32(b, uint32(frac))
		b = be.AppendUint32(b, uint32(ci.CaptureLength))
		b = be.AppendUint32(b, uint32(ci.Length))
		b = append(b, f.data...)
	}
	return b
}

// pcapngFile writes frames as pcapng with one interface per link type.
func pcapngFile(t testing.TB, links []layers.LinkType, frames ...frame) []byte {
	t.Helper()
	var buf bytes.Buffer
	intf := pcapgo.DefaultNgInterface
	intf.LinkType = links[0]
	w, err := pcapgo.NewNgWriterInterface(&buf, intf, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links[1:] {
		intf.LinkType = l
		if _, err := w.AddInterface(intf); err != nil {
			t.Fatal(err)
		}
	}
	for i, f := range frames {
		if err := w.WritePacket(f.ci(i), f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipped(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeTemp writes a capture into a file of its own.
func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "capture")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var (
	v4a = netip.MustParseAddr("192.0.2.1")
	v4b = netip.MustParseAddr("198.51.100.2")
	v6a = netip.MustParseAddr("2001:db8::1")
	v6b = netip.MustParseAddr("2001:db8:ffff::2")
)

func ap(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a, port) }

// Common frames.
var (
	ip4UDP  = v4{src: "192.0.2.1", dst: "198.51.100.2"}.build(udp(1111, 6343, "hello v4"))
	ip6UDP  = ipv6("2001:db8::1", "2001:db8:ffff::2", 17, udp(2222, 6343, "hello v6"))
	want4   = got{Payload: "hello v4", Src: ap(v4a, 1111), Dst: ap(v4b, 6343)}
	want6   = got{Payload: "hello v6", Src: ap(v6a, 2222), Dst: ap(v6b, 6343)}
	ip4TCP  = v4{src: "192.0.2.1", dst: "198.51.100.2", proto: 6}.build(make([]byte, 20))
	arpBody = make([]byte, 28)
)

// at returns want as packet number frame (1-based) of the capture.
func at(want got, frame int) got {
	want.Frame = frame
	want.Timestamp = ts(frame - 1)
	return want
}

func TestSynthetic(t *testing.T) {
	le, be := binary.LittleEndian, binary.BigEndian
	tests := []struct {
		name  string
		micro bool // timestamps have microsecond resolution
		file  func(t *testing.T) []byte
		want  []got
		// skipped by reason; a missing reason must count 0
		skipped map[skipReason]int
	}{
		{
			name: "pcapng ethernet vlan ipv6",
			file: func(t *testing.T) []byte {
				exts := ext6(ipv6DestOpts, 1, ext6(ipv6Routing, 2, ext6(17, 1, udp(2222, 6343, "hello v6"))))
				return pcapngFile(t, []layers.LinkType{linkEthernet, linkRaw, 105},
					frame{data: eth(etherIPv6, ip6UDP, etherVLAN)},
					// QinQ, then hop-by-hop, destination options and routing headers
					frame{data: eth(etherIPv6, ipv6("2001:db8::1", "2001:db8:ffff::2", ipv6HopByHop, exts), etherQinQ, etherVLAN)},
					frame{data: eth(etherIPv4, ip4UDP, etherQinQv1, etherVLAN, etherVLAN)},
					// IPv6 fragment
					frame{data: eth(etherIPv6, ipv6("2001:db8::1", "2001:db8:ffff::2", ipv6HopByHop,
						ext6(ipv6Fragment, 1, ext6(17, 1, udp(1, 2, "frag")))), etherVLAN)},
					// no next header
					frame{data: eth(etherIPv6, ipv6("2001:db8::1", "2001:db8:ffff::2", 59, nil))},
					// extension header cut by the capture
					frame{data: eth(etherIPv6, ipv6("2001:db8::1", "2001:db8:ffff::2", ipv6DestOpts, ext6(17, 4, udp(1, 2, "x"))))[:14+40+16], orig: 100},
					// VLAN tag cut
					frame{data: eth(etherIPv6, nil, etherVLAN)[:16], orig: 100},
					// raw IP interface
					frame{data: ip6UDP, iface: 1},
					frame{data: ip4UDP, iface: 1},
					// 802.11 interface
					frame{data: make([]byte, 40), iface: 2},
				)
			},
			want:    []got{at(want6, 1), at(want6, 2), at(want4, 3), at(want6, 8), at(want4, 9)},
			skipped: map[skipReason]int{skipFragment: 1, skipNotUDP: 1, skipTruncated: 2, skipLinkType: 1},
		},
		{
			name:  "sll",
			micro: true,
			file: func(t *testing.T) []byte {
				return pcapFile(t, linkSLL, false,
					frame{data: sll(etherIPv4, ip4UDP)},
					frame{data: sll(0x0806, arpBody)},
					frame{data: sll(etherVLAN, append([]byte{0, 5, 0x86, 0xdd}, ip6UDP...))},
					frame{data: sll(etherIPv4, nil)[:10], orig: 100},
				)
			},
			want:    []got{at(want4, 1), at(want6, 3)},
			skipped: map[skipReason]int{skipNotUDP: 1, skipTruncated: 1},
		},
		{
			name: "sll2",
			file: func(t *testing.T) []byte {
				return pcapFile(t, linkSLL2, true,
					frame{data: sll2(etherIPv6, ip6UDP)},
					frame{data: sll2(etherIPv4, ip4TCP)},
					frame{data: sll2(etherIPv4, ip4UDP)},
				)
			},
			want:    []got{at(want6, 1), at(want4, 3)},
			skipped: map[skipReason]int{skipNotUDP: 1},
		},
		{
			name:  "raw ip 101",
			micro: true,
			file: func(t *testing.T) []byte {
				return pcapFile(t, linkRaw, false,
					frame{data: ip4UDP},
					frame{data: ip6UDP},
					// IPv4 options: IHL 7
					frame{data: v4{src: "192.0.2.1", dst: "198.51.100.2", options: []byte{1, 1, 1, 1, 0x44, 4, 5, 0}}.build(udp(1111, 6343, "hello v4"))},
					frame{data: []byte{0x50, 0, 0, 0}},
					frame{data: nil},
				)
			},
			want:    []got{at(want4, 1), at(want6, 2), at(want4, 3)},
			skipped: map[skipReason]int{skipNotUDP: 1, skipTruncated: 1},
		},
		{
			name:  "raw ip 12, big-endian",
			micro: true,
			file: func(t *testing.T) []byte {
				return pcapFileBE(linkRawBSD, false, frame{data: ip4UDP}, frame{data: ip6UDP})
			},
			want: []got{at(want4, 1), at(want6, 2)},
		},
		{
			name: "raw ip 14, big-endian nanoseconds",
			file: func(t *testing.T) []byte {
				return pcapFileBE(linkRawOBSD, true, frame{data: ip6UDP}, frame{data: ip4TCP}, frame{data: ip4UDP})
			},
			want:    []got{at(want6, 1), at(want4, 3)},
			skipped: map[skipReason]int{skipNotUDP: 1},
		},
		{
			name: "ipv4 228 and ipv6 229 in pcapng",
			file: func(t *testing.T) []byte {
				return pcapngFile(t, []layers.LinkType{linkIPv4, linkIPv6},
					frame{data: ip4UDP}, frame{data: ip6UDP, iface: 1}, frame{data: ip6UDP})
			},
			want:    []got{at(want4, 1), at(want6, 2)},
			skipped: map[skipReason]int{skipMalformed: 1},
		},
		{
			name:  "null",
			micro: true,
			file: func(t *testing.T) []byte {
				return pcapFile(t, linkNull, false,
					frame{data: null(le, afInet, ip4UDP)},
					frame{data: null(be, afInet, ip4UDP)},
					frame{data: null(le, afInet6Darwin, ip6UDP)},
					frame{data: null(be, afInet6FBSD, ip6UDP)},
					frame{data: null(le, afInet6BSD, ip6UDP)},
					frame{data: null(le, 7, ip4UDP)},
					frame{data: []byte{2, 0}, orig: 40},
				)
			},
			want:    []got{at(want4, 1), at(want4, 2), at(want6, 3), at(want6, 4), at(want6, 5)},
			skipped: map[skipReason]int{skipNotUDP: 1, skipTruncated: 1},
		},
		{
			name:  "loop",
			micro: true,
			file: func(t *testing.T) []byte {
				return pcapFile(t, linkLoop, false,
					frame{data: null(be, afInet, ip4UDP)},
					frame{data: null(be, afInet6BSD, ip6UDP)},
				)
			},
			want: []got{at(want4, 1), at(want6, 2)},
		},
		{
			name:  "ethernet, skipped and cut packets",
			micro: true,
			file: func(t *testing.T) []byte {
				cut := eth(etherIPv4, v4{src: "192.0.2.1", dst: "198.51.100.2"}.build(udp(1111, 6343, "a long payload of which the capture kept a part")))
				return pcapFile(t, linkEthernet, false,
					/* 1 */ frame{data: eth(etherIPv4, ip4UDP)},
					/* 2 */ frame{data: eth(etherIPv4, ip4TCP)},
					/* 3 */ frame{data: eth(0x0806, arpBody)},
					// 4: 802.3 length field with LLC
					frame{data: eth(46, make([]byte, 46))},
					// 5: non-first fragment (offset 185*8)
					frame{data: eth(etherIPv4, v4{src: "192.0.2.1", dst: "198.51.100.2", frag: 185}.build(udp(1, 2, "more")))},
					// 6: first fragment (more fragments bit) of a 2000-byte datagram
					frame{data: eth(etherIPv4, v4{src: "192.0.2.1", dst: "198.51.100.2", frag: 0x2000}.build(udpLen(1111, 6343, "first part", 2000)))},
					// 7: capture ends inside the UDP header
					frame{data: eth(etherIPv4, ip4UDP)[:14+20+6], orig: 14 + len(ip4UDP)},
					// 8: and inside the IPv4 header
					frame{data: eth(etherIPv4, ip4UDP)[:14+12], orig: 14 + len(ip4UDP)},
					// 9: and inside the Ethernet header
					frame{data: eth(etherIPv4, ip4UDP)[:10], orig: 14 + len(ip4UDP)},
					// 10: payload cut by the snap length
					frame{data: cut[:len(cut)-20], orig: len(cut)},
					// 11: Ethernet padding after a short datagram
					frame{data: pad(eth(etherIPv4, v4{src: "192.0.2.1", dst: "198.51.100.2"}.build(udp(1111, 6343, "hi"))), 60)},
					// 12: UDP length shorter than the IP payload
					frame{data: eth(etherIPv4, v4{src: "192.0.2.1", dst: "198.51.100.2"}.build(udpLen(1111, 6343, "hello v4 and trailing junk", 16)))},
					// 13: UDP length below 8
					frame{data: eth(etherIPv4, v4{src: "192.0.2.1", dst: "198.51.100.2"}.build(udpLen(1111, 6343, "x", 7)))},
					// 14: IPv4 header length 4 words
					frame{data: eth(etherIPv4, append([]byte{0x44}, ip4UDP[1:]...))},
					// 15: IPv4 total length below the header length
					frame{data: eth(etherIPv4, v4{src: "192.0.2.1", dst: "198.51.100.2", total: 19}.build(udp(1, 2, "x")))},
					// 16: IPv4 total length 0 (segmentation offload): take what is there
					frame{data: eth(etherIPv4, v4{src: "192.0.2.1", dst: "198.51.100.2", total: -1}.build(udp(1111, 6343, "hello v4")))},
					// 17: IPv4 total length beyond the capture
					frame{data: eth(etherIPv4, v4{src: "192.0.2.1", dst: "198.51.100.2", total: 1500}.build(udp(1111, 6343, "hello v4")))},
					// 18: version 6 in an IPv4 EtherType
					frame{data: eth(etherIPv4, ip6UDP)},
					// 19: IPv6 payload length 0 (jumbogram), UDP length 0
					frame{data: eth(etherIPv6, func() []byte {
						b := ipv6("2001:db8::1", "2001:db8:ffff::2", 17, udpLen(2222, 6343, "hello v6", 0))
						b[4], b[5] = 0, 0
						return b
					}())},
					// 20: IPv6 with trailer after its payload
					frame{data: append(eth(etherIPv6, ip6UDP), "trailer"...)},
					// 21: IPv4 header cut after its fixed part, options claimed
					frame{data: eth(etherIPv4, append([]byte{0x4f}, ip4UDP[1:20]...)), orig: 200},
				)
			},
			want: []got{
				at(want4, 1),
				at(got{Payload: "first part", Src: ap(v4a, 1111), Dst: ap(v4b, 6343), Truncated: true}, 6),
				at(got{Payload: "a long payload of which the", Src: ap(v4a, 1111), Dst: ap(v4b, 6343), Truncated: true}, 10),
				at(got{Payload: "hi", Src: ap(v4a, 1111), Dst: ap(v4b, 6343)}, 11),
				at(want4, 12),
				at(want4, 16),
				at(want4, 17),
				at(want6, 19),
				at(want6, 20),
			},
			skipped: map[skipReason]int{skipNotUDP: 3, skipFragment: 1, skipTruncated: 4, skipMalformed: 4},
		},
		{
			name: "gzip",
			file: func(t *testing.T) []byte {
				return gzipped(t, pcapFile(t, linkEthernet, true, frame{data: eth(etherIPv4, ip4UDP)}, frame{data: eth(etherIPv6, ip6UDP)}))
			},
			want: []got{at(want4, 1), at(want6, 2)},
		},
		{
			name: "gzip pcapng",
			file: func(t *testing.T) []byte {
				return gzipped(t, pcapngFile(t, []layers.LinkType{linkEthernet}, frame{data: eth(etherIPv4, ip4UDP)}))
			},
			want: []got{at(want4, 1)},
		},
		{
			name: "no packets",
			file: func(t *testing.T) []byte { return pcapFile(t, linkEthernet, false) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkts, r, err := readAll(t, writeTemp(t, tt.file(t)))
			if err != nil {
				t.Fatal(err)
			}
			for i := range pkts {
				if i >= len(tt.want) {
					break
				}
				want := tt.want[i]
				if tt.micro {
					want.Timestamp = want.Timestamp.Truncate(time.Microsecond)
				}
				if pkts[i] != want {
					t.Errorf("packet %d:\n got %+v\nwant %+v", i, pkts[i], want)
				}
			}
			if len(pkts) != len(tt.want) {
				t.Errorf("got %d packets, want %d: %+v", len(pkts), len(tt.want), pkts)
			}
			total := 0
			for why := accepted + 1; why < numReasons; why++ {
				total += tt.skipped[why]
				if r.skipped[why] != tt.skipped[why] {
					t.Errorf("skipped for reason %d: %d, want %d", why, r.skipped[why], tt.skipped[why])
				}
			}
			if r.Skipped() != total {
				t.Errorf("Skipped() = %d, want %d", r.Skipped(), total)
			}
			if _, err := r.Next(); err != io.EOF {
				t.Errorf("Next after the end: %v, want io.EOF", err)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	one := frame{data: eth(etherIPv4, ip4UDP)}
	good := pcapFile(t, linkEthernet, false, one, one)
	ng := pcapngFile(t, []layers.LinkType{linkEthernet}, one, one)
	second := 24 + 16 + len(one.data) // offset of the second record
	tests := []struct {
		name    string
		file    []byte
		newErr  error  // from NewReader
		packets int    // read before the error
		nextErr error  // from Next, after packets
		msg     string // in the error text
	}{
		{name: "empty", file: nil, newErr: io.ErrUnexpectedEOF, msg: "offset 0"},
		{name: "short", file: []byte{0xd4, 0xc3}, newErr: io.ErrUnexpectedEOF},
		{name: "text", file: []byte("hello, world\n"), newErr: ErrFormat, msg: "68656c6c"},
		{name: "pcap header cut", file: good[:20], newErr: io.ErrUnexpectedEOF},
		{name: "pcapng header cut", file: ng[:20], newErr: io.ErrUnexpectedEOF},
		{name: "bad gzip", file: []byte{0x1f, 0x8b, 1}, newErr: io.ErrUnexpectedEOF, msg: "gzip"},
		{name: "gzip of text", file: gzipped(t, []byte("hello")), newErr: ErrFormat},
		{name: "link type 105", file: pcapFile(t, 105, false, one), newErr: ErrLinkType, msg: "105"},
		{name: "record body cut", file: good[:len(good)-5], packets: 1, nextErr: io.ErrUnexpectedEOF,
			msg: fmt.Sprintf("packet 2 at file offset %d", second)},
		{name: "cut after record header", file: good[:second+16], packets: 1, nextErr: io.ErrUnexpectedEOF,
			msg: fmt.Sprintf("packet 2 at file offset %d", second)},
		{name: "record header cut", file: good[:second+3], packets: 1, nextErr: io.ErrUnexpectedEOF},
		{name: "pcapng block cut", file: ng[:len(ng)-10], packets: 1, nextErr: io.ErrUnexpectedEOF, msg: "packet 2 at file offset"},
		{name: "caplen beyond the maximum", packets: 1, msg: "packet 2",
			file: func() []byte {
				b := bytes.Clone(good)
				binary.LittleEndian.PutUint32(b[second+8:], 1<<30)
				binary.LittleEndian.PutUint32(b[second+12:], 1<<30)
				return b
			}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tt.file))
			if err != nil {
				t.Log(err)
			}
			if tt.newErr != nil {
				if !errors.Is(err, tt.newErr) {
					t.Fatalf("NewReader: %v, want %v", err, tt.newErr)
				}
				if !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("NewReader: %q does not say %q", err, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < tt.packets; i++ {
				if _, err := r.Next(); err != nil {
					t.Fatalf("packet %d: %v", i+1, err)
				}
			}
			_, err = r.Next()
			t.Log(err)
			if err == nil || err == io.EOF {
				t.Fatalf("Next: %v, want an error", err)
			}
			if tt.nextErr != nil && !errors.Is(err, tt.nextErr) {
				t.Errorf("Next: %v, want %v", err, tt.nextErr)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Next: %q does not say %q", err, tt.msg)
			}
			if _, again := r.Next(); again != err {
				t.Errorf("Next after an error: %v, want %v again", again, err)
			}
		})
	}
}

// fuzzSeeds are small captures of every format and link type.
func fuzzSeeds(t testing.TB) [][]byte {
	eth4 := frame{data: eth(etherIPv4, ip4UDP, etherVLAN)}
	eth6 := frame{data: eth(etherIPv6, ipv6("2001:db8::1", "2001:db8:ffff::2", ipv6HopByHop, ext6(17, 1, udp(2222, 6343, "hello v6"))))}
	seeds := [][]byte{
		pcapFile(t, linkEthernet, false, eth4, eth6, frame{data: eth(etherIPv4, ip4TCP)}),
		pcapFile(t, linkSLL, true, frame{data: sll(etherIPv4, ip4UDP)}),
		pcapFile(t, linkSLL2, false, frame{data: sll2(etherIPv6, ip6UDP)}),
		pcapFile(t, linkNull, false, frame{data: null(binary.LittleEndian, afInet, ip4UDP)}),
		pcapFileBE(linkRaw, false, frame{data: ip4UDP}, frame{data: ip6UDP}),
		pcapFileBE(linkLoop, true, frame{data: null(binary.BigEndian, afInet6BSD, ip6UDP)}),
		pcapngFile(t, []layers.LinkType{linkEthernet, linkRaw}, eth4, frame{data: ip6UDP, iface: 1}),
		gzipped(t, pcapFile(t, linkEthernet, false, eth4)),
	}
	// The small real captures too.
	files := testutil.CaptureFiles(t)
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil && fi.Size() <= 2048 {
			if b, err := os.ReadFile(f); err == nil {
				seeds = append(seeds, b)
			}
		}
	}
	return seeds
}

func FuzzReader(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		n := 0
		for {
			p, err := r.Next()
			// Every record costs at least 8 bytes of (uncompressed) input,
			// so the loop ends.
			if int64(r.frame)*8 > r.offset() {
				t.Fatalf("%d records out of %d bytes", r.frame, r.offset())
			}
			if err != nil {
				if again, againErr := r.Next(); againErr != err || again.Payload != nil {
					t.Fatalf("after %v, Next gave %+v, %v", err, again, againErr)
				}
				break
			}
			n++
			if p.Frame != r.frame || !p.Src.IsValid() || !p.Dst.IsValid() || p.Src.Addr().Is4() != p.Dst.Addr().Is4() {
				t.Fatalf("bad packet %+v (record %d)", p, r.frame)
			}
		}
		if n+r.Skipped() != r.frame {
			t.Fatalf("%d packets + %d skipped != %d records", n, r.Skipped(), r.frame)
		}
	})
}

func BenchmarkReader(b *testing.B) {
	data, err := os.ReadFile(testutil.Capture(b, "hp-procurve-2011.pcap"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := r.Next(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
	}
}

// TestReadFile: ReadFile returns what Next returns, with payloads that
// stay valid after the file is read; errors name the file.
func TestReadFile(t *testing.T) {
	path := testutil.Capture(t, "hsflowd-2.1.25-hostcounters-poll5.pcap")
	want, _, err := readAll(t, path)
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) != len(want) {
		t.Fatalf("%d datagrams, want %d", len(pkts), len(want))
	}
	for i, p := range pkts {
		if string(p.Payload) != want[i].Payload || p.Src != want[i].Src || p.Frame != want[i].Frame {
			t.Errorf("datagram %d differs from Next's", i)
		}
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "none.pcap")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.pcap")
	os.WriteFile(bad, []byte("not a capture at all"), 0o644)
	if _, err := ReadFile(bad); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad file: %v", err)
	}
}

// Package capture reads UDP payloads out of packet capture files.
//
// A Reader takes a classic pcap file (either byte order, microsecond or
// nanosecond timestamps) or a pcapng file, gzip-compressed or not, and tells
// the format from the first bytes. The container format is read with
// github.com/gopacket/gopacket/pcapgo; the link, network and transport
// headers are parsed here, without allocating, for these link types:
//
//   - Ethernet (1), with any number of 802.1Q / 802.1ad VLAN tags
//     (EtherTypes 0x8100, 0x88a8 and 0x9100);
//   - raw IP (101, and 12 and 14, which older files carry for it), IPv4 (228)
//     and IPv6 (229);
//   - Linux cooked capture SLL (113) and SLL2 (276), VLAN tags included;
//   - BSD loopback: null (0, host byte order) and loop (108, network order).
//
// Over IPv4 (options skipped by the header length) and IPv6 (hop-by-hop,
// routing and destination options headers walked), every UDP datagram is
// returned, whatever its ports: callers pick what they want by port or by
// content. Everything else is skipped and counted (see Reader.Skipped): other
// link or network protocols, TCP and the like, packets whose headers the
// capture cut short, malformed headers, IPv4 fragments after the first and
// IPv6 packets with a fragment header. Fragments are not reassembled.
package capture

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Packet is one UDP datagram taken from a capture.
type Packet struct {
	// Payload is the UDP payload: the bytes after the UDP header, cut to the
	// UDP length field when the frame holds more (Ethernet padding), or all
	// the captured bytes when it holds less (see Truncated). It points into
	// the Reader's buffer and is valid only until the next call to Next:
	// copy it to keep it.
	Payload []byte
	// Src and Dst are the IP addresses and UDP ports of the datagram.
	Src, Dst netip.AddrPort
	// Timestamp is the capture time, in UTC. It is the zero Time for a
	// pcapng simple packet block, which has none.
	Timestamp time.Time
	// Frame is the 1-based number of the packet record in the file, counting
	// the skipped ones too: the number Wireshark shows as the frame number.
	Frame int
	// Truncated reports that Payload is shorter than the UDP length field
	// says: the capture's snap length cut it, or the packet is the first
	// fragment of a fragmented IPv4 datagram.
	Truncated bool
}

var (
	// ErrFormat is returned by NewReader for input that is neither pcap
	// nor pcapng.
	ErrFormat = errors.New("not a pcap or pcapng file")
	// ErrLinkType is returned by NewReader for a pcap file whose link type
	// this package does not parse. (In a pcapng file, packets of interfaces
	// with such a link type are skipped instead.)
	ErrLinkType = errors.New("unsupported link type")
)

// skipReason says why a packet was not returned.
type skipReason int

const (
	accepted      skipReason = iota
	skipNotUDP               // another link, network or transport protocol
	skipTruncated            // the capture ends inside a header
	skipMalformed            // a header field that cannot be right
	skipFragment             // IPv4 non-first fragment, IPv6 fragment header
	skipLinkType             // pcapng interface with a link type not parsed here
	numReasons
)

// Link types, as numbered in capture files (LINKTYPE_*).
const (
	linkNull     = 0
	linkEthernet = 1
	linkRawBSD   = 12 // DLT_RAW on most systems; libpcap reads it as raw IP
	linkRawOBSD  = 14 // DLT_RAW on OpenBSD
	linkRaw      = 101
	linkLoop     = 108
	linkSLL      = 113
	linkIPv4     = 228
	linkIPv6     = 229
	linkSLL2     = 276

	linkUnknown = 0xffff // not a link type in use; stands for "none given"
)

func linkSupported(lt layers.LinkType) bool {
	switch lt {
	case linkNull, linkEthernet, linkRawBSD, linkRawOBSD, linkRaw, linkLoop,
		linkSLL, linkIPv4, linkIPv6, linkSLL2:
		return true
	}
	return false
}

// File magic numbers, as the first four bytes read little-endian.
const (
	magicPcapMicro   = 0xa1b2c3d4
	magicPcapMicroBE = 0xd4c3b2a1
	magicPcapNano    = 0xa1b23c4d
	magicPcapNanoBE  = 0x4d3cb2a1
	magicPcapng      = 0x0a0d0d0a // section header block type, a palindrome
)

// Reader reads the UDP datagrams of a capture file, one at a time. It is not
// safe for concurrent use.
type Reader struct {
	// Exactly one of pcap and ng is set.
	pcap *pcapgo.Reader
	ng   *pcapgo.NgReader
	link layers.LinkType // of the pcap file

	cr *countingReader // under br; with br, tells the file offset
	br *bufio.Reader   // the one buffer pcapgo reads through

	frame   int // packet records read so far
	skipped [numReasons]int
	err     error // sticky: returned by every call after the first
}

// NewReader reads the file header of the capture in r (pcap or pcapng,
// optionally gzip-compressed) and returns a Reader for its packets.
func NewReader(r io.Reader) (*Reader, error) {
	rd := &Reader{cr: &countingReader{r: r}}
	rd.br = bufio.NewReaderSize(rd.cr, bufSize)
	magic, err := rd.br.Peek(4)
	if len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, gzErr := gzip.NewReader(rd.br)
		if gzErr != nil {
			return nil, fmt.Errorf("capture: reading gzip header: %w", eofIsUnexpected(gzErr))
		}
		// From here on, offsets count uncompressed bytes.
		rd.cr = &countingReader{r: gz}
		rd.br = bufio.NewReaderSize(rd.cr, bufSize)
		magic, err = rd.br.Peek(4)
	}
	if err != nil {
		return nil, fmt.Errorf("capture: reading file header at offset 0: %w", eofIsUnexpected(err))
	}
	// pcapgo wraps its input in bufio.NewReader, which hands back rd.br
	// itself (it is larger than the default size), so rd.br is the only
	// buffer and rd.offset() is exact.
	switch binary.LittleEndian.Uint32(magic) {
	case magicPcapMicro, magicPcapMicroBE, magicPcapNano, magicPcapNanoBE:
		rd.pcap, err = pcapgo.NewReader(rd.br)
		if err != nil {
			return nil, fmt.Errorf("capture: reading pcap file header at offset 0: %w", eofIsUnexpected(err))
		}
		rd.link = rd.pcap.LinkType()
		if !linkSupported(rd.link) {
			return nil, fmt.Errorf("capture: pcap link type %d: %w", rd.link, ErrLinkType)
		}
	case magicPcapng:
		rd.ng, err = pcapgo.NewNgReader(rd.br, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return nil, fmt.Errorf("capture: reading pcapng section header at offset 0: %w", eofIsUnexpected(err))
		}
	default:
		return nil, fmt.Errorf("capture: file magic %x: %w", magic, ErrFormat)
	}
	return rd, nil
}

// Next returns the next UDP datagram of the capture, skipping (and counting)
// the packets that are not one. At the end of the file it returns io.EOF. A
// file that is cut short or damaged gives an error that names the packet
// number and the file offset where reading it began (in the uncompressed
// stream, for a gzip file) and wraps the cause, io.ErrUnexpectedEOF for a
// cut. After an error Next keeps returning that error.
func (r *Reader) Next() (Packet, error) {
	if r.err != nil {
		return Packet{}, r.err
	}
	for {
		off := r.offset()
		var (
			data []byte
			ci   gopacket.CaptureInfo
			link layers.LinkType
			err  error
		)
		if r.pcap != nil {
			data, ci, err = r.pcap.ZeroCopyReadPacketData()
			link = r.link
			// pcapgo reads the record body with io.ReadFull, which says
			// io.EOF when the file ends right after a record header.
			if err == io.EOF && ci.CaptureLength > 0 {
				err = io.ErrUnexpectedEOF
			}
		} else {
			data, ci, err = r.ng.ZeroCopyReadPacketData()
			// With WantMixedLinkType, pcapgo gives each packet's link type
			// (that of its interface) as ci.AncillaryData[0].
			link = linkUnknown
			if err == nil && len(ci.AncillaryData) > 0 {
				if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok {
					link = lt
				}
			}
		}
		if err != nil {
			if err != io.EOF {
				err = fmt.Errorf("capture: reading packet %d at file offset %d: %w", r.frame+1, off, err)
			}
			r.err = err
			return Packet{}, err
		}
		r.frame++
		p, why := parse(link, data)
		if why != accepted {
			r.skipped[why]++
			continue
		}
		p.Timestamp = ci.Timestamp
		p.Frame = r.frame
		return p, nil
	}
}

// Skipped returns how many packet records read so far were not returned by
// Next: not UDP over IP, IP fragments, headers cut short by the capture,
// malformed headers, or (pcapng) an interface with an unsupported link type.
func (r *Reader) Skipped() int {
	n := 0
	for _, c := range r.skipped[1:] {
		n += c
	}
	return n
}

// offset returns how many bytes of the (uncompressed) file pcapgo has used.
func (r *Reader) offset() int64 {
	return r.cr.n - int64(r.br.Buffered())
}

// bufSize is the size of the Reader's buffer. It must be at least
// bufio's default size, so that pcapgo's bufio.NewReader keeps it as is.
const bufSize = 64 << 10

func eofIsUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// EtherTypes.
const (
	etherIPv4   = 0x0800
	etherIPv6   = 0x86dd
	etherVLAN   = 0x8100 // 802.1Q
	etherQinQ   = 0x88a8 // 802.1ad
	etherQinQv1 = 0x9100 // pre-standard QinQ
)

// Address families a null/loop link header may carry.
const (
	afInet        = 2
	afInet6Linux  = 10
	afInet6BSD    = 24 // NetBSD, OpenBSD, BSD/OS
	afInet6FBSD   = 28 // FreeBSD, DragonFly
	afInet6Darwin = 30 // macOS, iOS
)

// parse finds the UDP datagram in a frame of the given link type.
func parse(link layers.LinkType, b []byte) (Packet, skipReason) {
	be := binary.BigEndian
	switch link {
	case linkEthernet:
		if len(b) < 14 {
			return Packet{}, skipTruncated
		}
		return parseEtherType(be.Uint16(b[12:14]), b[14:])
	case linkSLL:
		if len(b) < 16 {
			return Packet{}, skipTruncated
		}
		return parseEtherType(be.Uint16(b[14:16]), b[16:])
	case linkSLL2:
		if len(b) < 20 {
			return Packet{}, skipTruncated
		}
		return parseEtherType(be.Uint16(b[0:2]), b[20:])
	case linkRaw, linkRawBSD, linkRawOBSD:
		if len(b) < 1 {
			return Packet{}, skipTruncated
		}
		switch b[0] >> 4 {
		case 4:
			return parseIPv4(b)
		case 6:
			return parseIPv6(b)
		}
		return Packet{}, skipNotUDP
	case linkIPv4:
		return parseIPv4(b)
	case linkIPv6:
		return parseIPv6(b)
	case linkNull, linkLoop:
		if len(b) < 4 {
			return Packet{}, skipTruncated
		}
		var family uint32
		if link == linkLoop {
			family = be.Uint32(b)
		} else {
			// Host byte order of the machine that wrote the file:
			// families are small, so the non-zero half tells.
			family = binary.LittleEndian.Uint32(b)
			if family > 0xffff {
				family = be.Uint32(b)
			}
		}
		switch family {
		case afInet:
			return parseIPv4(b[4:])
		case afInet6Linux, afInet6BSD, afInet6FBSD, afInet6Darwin:
			return parseIPv6(b[4:])
		}
		return Packet{}, skipNotUDP
	}
	return Packet{}, skipLinkType
}

// parseEtherType follows VLAN tags from EtherType et, whose payload is b.
func parseEtherType(et uint16, b []byte) (Packet, skipReason) {
	for {
		switch et {
		case etherIPv4:
			return parseIPv4(b)
		case etherIPv6:
			return parseIPv6(b)
		case etherVLAN, etherQinQ, etherQinQv1:
			if len(b) < 4 {
				return Packet{}, skipTruncated
			}
			et = binary.BigEndian.Uint16(b[2:4])
			b = b[4:]
		default:
			return Packet{}, skipNotUDP
		}
	}
}

const protoUDP = 17

func parseIPv4(b []byte) (Packet, skipReason) {
	be := binary.BigEndian
	if len(b) < 20 {
		return Packet{}, skipTruncated
	}
	if b[0]>>4 != 4 {
		return Packet{}, skipMalformed
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 {
		return Packet{}, skipMalformed
	}
	if len(b) < ihl {
		return Packet{}, skipTruncated
	}
	// A total length of 0 is what captures of TCP segmentation offload
	// show; then the captured bytes are all there is to go by.
	if total := int(be.Uint16(b[2:4])); total != 0 {
		if total < ihl {
			return Packet{}, skipMalformed
		}
		if total < len(b) {
			b = b[:total] // drop link-layer padding and trailers
		}
	}
	if be.Uint16(b[6:8])&0x1fff != 0 {
		return Packet{}, skipFragment
	}
	if b[9] != protoUDP {
		return Packet{}, skipNotUDP
	}
	src := netip.AddrFrom4([4]byte(b[12:16]))
	dst := netip.AddrFrom4([4]byte(b[16:20]))
	return parseUDP(src, dst, b[ihl:])
}

// IPv6 next-header values.
const (
	ipv6HopByHop = 0
	ipv6Routing  = 43
	ipv6Fragment = 44
	ipv6DestOpts = 60
)

func parseIPv6(b []byte) (Packet, skipReason) {
	if len(b) < 40 {
		return Packet{}, skipTruncated
	}
	if b[0]>>4 != 6 {
		return Packet{}, skipMalformed
	}
	// A payload length of 0 means a jumbogram (or offload): go by the
	// captured bytes.
	if plen := int(binary.BigEndian.Uint16(b[4:6])); plen != 0 && 40+plen < len(b) {
		b = b[:40+plen]
	}
	next := b[6]
	src := netip.AddrFrom16([16]byte(b[8:24]))
	dst := netip.AddrFrom16([16]byte(b[24:40]))
	b = b[40:]
	for {
		switch next {
		case protoUDP:
			return parseUDP(src, dst, b)
		case ipv6HopByHop, ipv6Routing, ipv6DestOpts:
			if len(b) < 8 {
				return Packet{}, skipTruncated
			}
			n := (int(b[1]) + 1) * 8
			if len(b) < n {
				return Packet{}, skipTruncated
			}
			next = b[0]
			b = b[n:]
		case ipv6Fragment:
			return Packet{}, skipFragment
		default:
			return Packet{}, skipNotUDP
		}
	}
}

func parseUDP(src, dst netip.Addr, b []byte) (Packet, skipReason) {
	be := binary.BigEndian
	if len(b) < 8 {
		return Packet{}, skipTruncated
	}
	p := Packet{
		Src:     netip.AddrPortFrom(src, be.Uint16(b[0:2])),
		Dst:     netip.AddrPortFrom(dst, be.Uint16(b[2:4])),
		Payload: b[8:],
	}
	// A length of 0 is an IPv6 jumbogram (RFC 2675) or offload: use the
	// captured bytes.
	switch ulen := int(be.Uint16(b[4:6])); {
	case ulen == 0:
	case ulen < 8:
		return Packet{}, skipMalformed
	case ulen-8 <= len(p.Payload):
		p.Payload = p.Payload[:ulen-8]
	default:
		p.Truncated = true
	}
	return p, accepted
}

// ReadFile reads every UDP datagram of the capture file at path (pcap or
// pcapng, gzip-compressed or not). Unlike Next, the Payloads it returns are
// copies that stay valid. On an error it returns the datagrams read before
// it.
func ReadFile(path string) ([]Packet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []Packet
	for {
		p, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("%s: %w", path, err)
		}
		p.Payload = bytes.Clone(p.Payload)
		out = append(out, p)
	}
}

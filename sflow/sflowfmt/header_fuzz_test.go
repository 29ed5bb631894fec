package sflowfmt

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"gwd/internal/testutil"
)

// FuzzHeaderDecode feeds arbitrary header bytes, trailers, protocols and
// inherited state to the decode: it must not panic, must only append, must
// stay within maxHeaderDecodeLen, and must print whole "key value" lines.
func FuzzHeaderDecode(f *testing.F) {
	// A few records of each output shape (protocol and key sequence),
	// so every kind of header in the captures is a seed.
	perShape := map[string]int{}
	for _, c := range hdrLoadCases(f, testutil.SflowtoolDir(f)) {
		shape := strconv.FormatUint(uint64(c.rec.Protocol), 10)
		for line := range strings.Lines(c.want) {
			k, _, _ := strings.Cut(line, " ")
			shape += " " + k
		}
		if perShape[shape] >= 3 {
			continue
		}
		perShape[shape]++
		f.Add(c.rec.Protocol, c.rec.FrameLength, c.rec.Stripped, c.rec.Header, []byte(nil), uint8(0), uint16(0))
	}
	for _, p := range []uint32{1, 11, 12, 13, 15, 18, 99} {
		f.Add(p, uint32(64), uint32(4), []byte{}, []byte{0x08, 0x00}, uint8(3), uint16(14))
	}

	f.Fuzz(func(t *testing.T, proto, frameLen, stripped uint32, header, trailer []byte, flags uint8, off uint16) {
		st := headerState{
			gotIPv4: flags&1 != 0,
			gotIPv6: flags&2 != 0,
			offIPv4: int(off),
			offIPv6: int(off >> 1),
		}
		prefix := ""
		if flags&4 != 0 {
			prefix = "discarded_"
		}
		head := []byte("head\n")
		out := appendHeaderDecode(head, &st, sampledHeader{
			Protocol: proto, FrameLength: frameLen, Stripped: stripped,
			Header: header, Trailer: trailer, Prefix: prefix,
		})
		if !bytes.HasPrefix(out, []byte("head\n")) {
			t.Fatalf("dst was not kept: %q", out)
		}
		body := out[len(head):]
		// The inherited offset can point past the header; sflowtool then
		// reads a fixed-size IP header from there, never more.
		if limit := maxHeaderDecodeLen(len(header), len(prefix)); len(body) > limit {
			t.Fatalf("%d bytes of output for a %d-byte header (limit %d)", len(body), len(header), limit)
		}
		if len(body) > 0 && body[len(body)-1] != '\n' {
			t.Fatalf("output does not end a line: %q", body)
		}
		for line := range bytes.Lines(body) {
			if bytes.IndexByte(line, ' ') <= 0 && !bytes.HasPrefix(line, []byte("NO_DECODE headerProtocol=")) &&
				!bytes.HasPrefix(line, []byte("UNKNOWN headerProtocol=")) {
				t.Fatalf("malformed line %q", line)
			}
		}
		if st.offIPv4 < 0 || st.offIPv6 < 0 {
			t.Fatalf("negative offset in state: %+v", st)
		}
	})
}

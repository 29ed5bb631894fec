package sflow

import (
	"bytes"
	"path/filepath"
	"strconv"
	"testing"

	"gwd/internal/capture"
	"gwd/internal/testutil"
)

type capturedDatagram struct {
	name    string // file#index
	payload []byte
}

// loadCaptures returns the UDP payloads of every capture in the
// repository's testdata/captures, by file.
func loadCaptures(t testing.TB) map[string][]capturedDatagram {
	t.Helper()
	out := map[string][]capturedDatagram{}
	for _, f := range testutil.CaptureFiles(t) {
		pkts, err := capture.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(f)
		for i, p := range pkts {
			out[base] = append(out[base], capturedDatagram{name: base + "#" + strconv.Itoa(i), payload: p.Payload})
		}
	}
	return out
}

// Captured datagrams whose bytes are not what a careful encoder writes. The
// round trip of these is checked up to the named difference.
const (
	// The sender put packet bytes, not zeros, into the XDR padding after a
	// sampled_header's header bytes (OVS copies the frame past the header
	// length; the tcpdump test file has one such byte).
	nonZeroPadding = "non-zero XDR padding after the sampled_header bytes"
	// The file was cut down from a larger datagram: the header announces
	// fewer samples than the bytes hold, and the rest trails the last sample.
	trailingBytes = "bytes after the last announced sample"
)

var nonCanonical = map[string]string{
	"expanded-flow-gateway-aspath.pcap#0": nonZeroPadding,
	"ovs-3.1-userspace-netdev.pcap#0":     nonZeroPadding,
	"ovs-3.1-userspace-netdev.pcap#1":     nonZeroPadding,
	"ovs-3.1-userspace-netdev.pcap#3":     nonZeroPadding,
	"ovs-3.1-userspace-netdev.pcap#5":     nonZeroPadding,
	"ovs-3.1-userspace-netdev.pcap#7":     nonZeroPadding,
	"akvorado-discard-interface.pcap#0":   trailingBytes,
	"akvorado-multiple-interfaces.pcap#0": trailingBytes,
}

// onlyPadding reports whether out differs from in only in runs of at most 3
// bytes that out has as zeros (XDR padding).
func onlyPadding(out, in []byte) bool {
	if len(out) != len(in) {
		return false
	}
	run := 0
	for i := range out {
		if out[i] == in[i] {
			run = 0
			continue
		}
		if out[i] != 0 {
			return false
		}
		if run++; run > 3 {
			return false
		}
	}
	return true
}

// TestCaptureRoundTrip decodes every datagram of every capture and
// encodes it again: the bytes must be the same.
func TestCaptureRoundTrip(t *testing.T) {
	var d Decoder
	total := 0
	for file, dgs := range loadCaptures(t) {
		for _, c := range dgs {
			total++
			dg, err := d.Decode(c.payload)
			if err != nil {
				t.Errorf("%s: decode: %v", c.name, err)
				continue
			}
			out, err := AppendDatagram(nil, dg)
			if err != nil {
				t.Errorf("%s: encode: %v", c.name, err)
				continue
			}
			switch why := nonCanonical[c.name]; {
			case bytes.Equal(out, c.payload):
				if why != "" {
					t.Errorf("%s: listed as non-canonical (%s) but round-trips exactly", c.name, why)
				}
			case why == nonZeroPadding && onlyPadding(out, c.payload):
			case why == trailingBytes && bytes.HasPrefix(c.payload, out):
			default:
				at := 0
				for at < len(out) && at < len(c.payload) && out[at] == c.payload[at] {
					at++
				}
				t.Errorf("%s (%s): re-encoded %d bytes differ from the %d captured, first at byte %d", c.name, file, len(out), len(c.payload), at)
			}
		}
	}
	if total < 1000 {
		t.Fatalf("only %d datagrams read from the captures", total)
	}
}

package sflow

// goflow2 (github.com/netsampler/goflow2/v2, a test-only dependency) is the
// reference point for the decode benchmarks: BenchmarkGoflow2Decode decodes
// the same captures (testdata/captures) with its sFlow decoder, and
// TestGoflow2AgreesOnCaptures checks that both decoders read the same
// datagrams the same way, so that the comparison is apples to apples.

import (
	"bytes"
	"net/netip"
	"testing"

	g2sflow "github.com/netsampler/goflow2/v2/decoders/sflow"
)

// goflow2Fails lists the captured datagrams (file#index) that goflow2 v2.2.6
// cannot decode, with the reason. They are left out of both decode
// benchmarks. goflow2 decodes every datagram of the real captures; it has no
// decoder for the sFlow-RT sample types of the synthetic one. TestGoflow2AgreesOnCaptures fails when a capture added to
// testdata/captures makes goflow2 fail, and the datagram must then be listed here.
// (goflow2 rejects, for example, agent address type 0 and sample types other
// than 0:1 to 0:5, which gwd decodes.)
var goflow2Fails = map[string]string{
	"hsflowd-json-rtmetric-rtflow.pcap#0": "sample types 4300:1002 and 4300:1003 (rtmetric, rtflow)",
	"hsflowd-json-rtmetric-rtflow.pcap#1": "sample types 4300:1002 and 4300:1003 (rtmetric, rtflow)",
	"hsflowd-json-rtmetric-rtflow.pcap#2": "sample types 4300:1002 and 4300:1003 (rtmetric, rtflow)",
}

// goflow2Decoder decodes payloads the way goflow2's own pipeline does
// (utils.SFlowPipe.DecodeFlow: bytes.NewBuffer(payload), then
// sflow.DecodeMessageVersion into an sflow.Packet), reusing what its API lets
// a caller reuse: the bytes.Buffer value and the Packet, which
// DecodeMessageVersion overwrites field by field. The pipeline itself makes
// both anew for every datagram, so this is goflow2 at its best. Everything
// below the Packet (the samples slice, each sample, record and address) is
// allocated by goflow2 on every call; its API offers no way to reuse it.
type goflow2Decoder struct {
	buf    bytes.Buffer
	packet g2sflow.Packet
}

func (g *goflow2Decoder) decode(payload []byte) (*g2sflow.Packet, error) {
	g.buf = *bytes.NewBuffer(payload)
	err := g2sflow.DecodeMessageVersion(&g.buf, &g.packet)
	return &g.packet, err
}

// goflow2Sample returns the sequence number and the number of records of a
// sample as goflow2 decoded it; ok is false for a type it has no struct for.
func goflow2Sample(s any) (seq uint32, records int, ok bool) {
	switch s := s.(type) {
	case g2sflow.FlowSample:
		return s.Header.SampleSequenceNumber, len(s.Records), true
	case g2sflow.ExpandedFlowSample:
		return s.Header.SampleSequenceNumber, len(s.Records), true
	case g2sflow.CounterSample:
		return s.Header.SampleSequenceNumber, len(s.Records), true
	case g2sflow.DropSample:
		return s.Header.SampleSequenceNumber, len(s.Records), true
	}
	return 0, 0, false
}

// TestGoflow2AgreesOnCaptures decodes every captured datagram with gwd and with
// goflow2: both must succeed and agree on the agent address, the sequence
// number, the number of samples and, per sample, its sequence number and
// number of records.
func TestGoflow2AgreesOnCaptures(t *testing.T) {
	var d Decoder
	var g goflow2Decoder
	total, samples, records := 0, 0, 0
	for _, dgs := range loadCaptures(t) {
		for _, c := range dgs {
			total++
			dg, err := d.Decode(c.payload)
			if err != nil {
				t.Errorf("%s: gwd: %v", c.name, err)
				continue
			}
			p, gerr := g.decode(c.payload)
			if why, listed := goflow2Fails[c.name]; listed {
				if gerr == nil {
					t.Errorf("%s: listed in goflow2Fails (%s) but goflow2 decodes it", c.name, why)
				}
				continue
			}
			if gerr != nil {
				t.Errorf("%s: goflow2: %v (list it in goflow2Fails if that is goflow2's limit)", c.name, gerr)
				continue
			}
			agent, _ := netip.AddrFromSlice(p.AgentIP)
			if agent != dg.AgentAddress {
				t.Errorf("%s: agent: goflow2 %v, gwd %v", c.name, agent, dg.AgentAddress)
			}
			if p.SequenceNumber != dg.SequenceNumber {
				t.Errorf("%s: sequence: goflow2 %d, gwd %d", c.name, p.SequenceNumber, dg.SequenceNumber)
			}
			if len(p.Samples) != len(dg.Samples) {
				t.Errorf("%s: samples: goflow2 %d, gwd %d", c.name, len(p.Samples), len(dg.Samples))
				continue
			}
			for i, gs := range p.Samples {
				s := &dg.Samples[i]
				seq, n, ok := goflow2Sample(gs)
				if !ok {
					t.Errorf("%s sample %d: goflow2 gave %T", c.name, i, gs)
					continue
				}
				if seq != s.SequenceNumber || n != len(s.Records) {
					t.Errorf("%s sample %d (%s): goflow2 seq %d with %d records, gwd seq %d with %d records",
						c.name, i, s.Tag, seq, n, s.SequenceNumber, len(s.Records))
				}
				samples++
				records += len(s.Records)
			}
		}
	}
	if total < 1000 {
		t.Fatalf("only %d datagrams read from the captures", total)
	}
	t.Logf("%d datagrams, %d samples, %d records compared (%d datagrams excluded)", total, samples, records, len(goflow2Fails))
}

// BenchmarkGoflow2Decode is BenchmarkDecode with goflow2's decoder.
func BenchmarkGoflow2Decode(b *testing.B) {
	benchDecoder(b, func() func([]byte) error {
		var g goflow2Decoder
		return func(p []byte) error { _, err := g.decode(p); return err }
	})
}

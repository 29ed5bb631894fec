package sample

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"

	"gwd/sflow"
)

// ethFrame is a 98-byte Ethernet + IPv4 + ICMP frame.
var ethFrame = func() []byte {
	b := make([]byte, 98)
	copy(b, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00})
	ip := b[14:]
	ip[0], ip[3], ip[8], ip[9] = 0x45, 84, 64, 1
	copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	ip[20] = 8
	return b
}()

type psampleAttrs struct {
	in, out     uint16
	group, seq  uint32
	rate        uint32
	withExtras  bool
	probability bool
}

func psampleMessage(t testing.TB, a psampleAttrs) genetlink.Message {
	return genetlink.Message{Header: genetlink.Header{Command: psampleCmdSample, Version: 1},
		Data: encode(t, func(ae *netlink.AttributeEncoder) {
			if a.in != 0 {
				ae.Uint16(psampleAttrIIfIndex, a.in)
			}
			if a.out != 0 {
				ae.Uint16(psampleAttrOIfIndex, a.out)
			}
			ae.Uint32(psampleAttrOrigSize, 1514)
			ae.Uint32(psampleAttrSampleGroup, a.group)
			ae.Uint32(psampleAttrGroupSeq, a.seq)
			ae.Uint32(psampleAttrSampleRate, a.rate)
			ae.Bytes(psampleAttrData, ethFrame)
			ae.Uint16(psampleAttrProto, 0x0800)
			if a.withExtras {
				ae.Uint16(psampleAttrOutTC, 3)
				ae.Uint64(psampleAttrOutTCOcc, 12345)
				ae.Uint64(psampleAttrLatency, 6789)
				ae.Uint64(psampleAttrTimestamp, 1_700_000_000_123_456_789)
			}
			if a.probability {
				ae.Flag(psampleAttrProbability, true)
			}
		})}
}

// TestPsampleToCollector: psample messages, received through a generic
// netlink connection, reach a collector as 0:1 flow samples with the
// header, 1036 egress queue, 1039 transit, 1040 queue depth and 1043
// timestamp records; other groups, egress samples (egress off) and
// malformed messages are left out, and a gap in the group sequence counts
// as drops.
func TestPsampleToCollector(t *testing.T) {
	ag, col := testAgent(t)
	msgs := []genetlink.Message{
		psampleMessage(t, psampleAttrs{in: 7, out: 9, group: 4, seq: 10, rate: 1000, withExtras: true}),
		psampleMessage(t, psampleAttrs{in: 7, group: 5, seq: 1, rate: 1000}),         // another group
		psampleMessage(t, psampleAttrs{out: 9, group: 4, seq: 11, rate: 1000}),       // egress only: off
		{Header: genetlink.Header{Command: psampleCmdSample}, Data: []byte{4, 0, 3}}, // malformed
		psampleMessage(t, psampleAttrs{in: 7, group: 4, seq: 14, rate: 1000}),        // 12, 13 lost
		psampleMessage(t, psampleAttrs{in: 7, group: 4, seq: 15, rate: 500, probability: true}),
	}
	g := genlTestConn(t, psampleFamily, psampleMcastGroup, msgs)
	r := newPsampleReader(PsampleOptions{Group: 4, Ingress: true}, 64, ag)
	var errs []error
	if _, err := g.receiveOnce(r.handle, func(err error) { errs = append(errs, err) }); err != nil {
		t.Fatal(err)
	}
	if len(errs) != 2 {
		t.Errorf("errors %v, want the malformed message's and the probability one's", errs)
	}
	got := collect(t, col, 2, 5*time.Second)
	if len(got) != 2 {
		t.Fatalf("%d samples, want 2", len(got))
	}
	first, second := got[0], got[1]
	if diff := cmp.Diff([]sflow.Tag{sflow.TagSampledHeader, sflow.TagExtendedEgressQueue, sflow.TagExtendedTransit,
		sflow.TagExtendedQueue, sflow.TagExtendedTimestamp}, first.recs); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if first.SourceIDIndex != 7 || first.Input.Value != 7 || first.Output.Value != 9 || first.SamplingRate != 1000 || first.SamplePool != 1000 || first.Drops != 0 {
		t.Errorf("first sample %+v", first.Sample)
	}
	if h := first.header; h.Protocol != protoEthernet || h.FrameLength != 1514 || !bytes.Equal(h.Header, ethFrame[:64]) {
		t.Errorf("header %+v", h)
	}
	if second.Drops != 2 || second.SamplePool != 2000 || len(second.recs) != 1 {
		t.Errorf("second sample: drops %d pool %d records %v", second.Drops, second.SamplePool, second.recs)
	}
	if r.skipped != 1 {
		t.Errorf("skipped %d, want 1 (egress)", r.skipped)
	}
}

// TestDecodePsampleValues checks each attribute's decoding.
func TestDecodePsampleValues(t *testing.T) {
	m := psampleMessage(t, psampleAttrs{in: 7, out: 9, group: 4, seq: 10, rate: 1000, withExtras: true})
	var got psampleMsg
	if err := decodePsample(m.Data, &got); err != nil {
		t.Fatal(err)
	}
	want := psampleMsg{in: 7, out: 9, origSize: 1514, group: 4, seq: 10, rate: 1000, data: ethFrame, proto: 0x0800,
		hasOutTC: true, hasOcc: true, hasLatency: true, hasTime: true, outTC: 3, occ: 12345, latency: 6789, timestamp: 1_700_000_000_123_456_789}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(psampleMsg{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []psampleAttrs{{in: 1, group: 1, seq: 1}} { // no rate
		if err := decodePsample(psampleMessage(t, bad).Data, &got); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

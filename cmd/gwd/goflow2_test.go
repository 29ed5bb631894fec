package main

import (
	"bytes"
	"net/netip"
	"testing"

	g2sflow "github.com/netsampler/goflow2/v2/decoders/sflow"

	"gwd/sflow"
)

// checkGoflow2 decodes b independently with goflow2's decoder and checks
// that it reads the same agent, sequence numbers and sample sources as gwd.
func checkGoflow2(t *testing.T, b []byte, dg *sflow.Datagram) {
	t.Helper()
	var p g2sflow.Packet
	if err := g2sflow.DecodeMessageVersion(bytes.NewBuffer(b), &p); err != nil {
		t.Fatalf("goflow2 cannot decode gwd's datagram %d: %v", dg.SequenceNumber, err)
	}
	agent, _ := netip.AddrFromSlice(p.AgentIP)
	if agent.Unmap() != dg.AgentAddress || p.SequenceNumber != dg.SequenceNumber || p.SubAgentId != dg.SubAgentID || len(p.Samples) != len(dg.Samples) {
		t.Fatalf("goflow2 reads agent %v seq %d sub %d samples %d; gwd %v %d %d %d",
			agent, p.SequenceNumber, p.SubAgentId, len(p.Samples), dg.AgentAddress, dg.SequenceNumber, dg.SubAgentID, len(dg.Samples))
	}
	for i, s := range p.Samples {
		cs, ok := s.(g2sflow.CounterSample)
		if !ok {
			continue
		}
		want := dg.Samples[i]
		if cs.Header.SampleSequenceNumber != want.SequenceNumber || cs.Header.SourceIdValue != want.SourceIDIndex || len(cs.Records) != len(want.Records) {
			t.Errorf("goflow2 sample %d: seq %d source %d records %d; gwd %d %d %d", i,
				cs.Header.SampleSequenceNumber, cs.Header.SourceIdValue, len(cs.Records), want.SequenceNumber, want.SourceIDIndex, len(want.Records))
		}
	}
}

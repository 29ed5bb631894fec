package agent

import (
	"testing"

	"gwd/sflow"
)

// TestFlowEnrichers: every flow and discard sample given to SubmitFlow
// passes through the enrichers in the order they were added, before it is
// encoded; counter-type samples do not; a removed enricher no longer runs.
func TestFlowEnrichers(t *testing.T) {
	a := newTestAgent(t, Config{}, nil)
	tp := tap(t, a)
	var order []string
	gw := a.AddFlowEnricher("bgp", FlowEnricherFunc(func(ds DataSource, s *sflow.Sample) {
		order = append(order, "bgp")
		s.Records = append(s.Records, &sflow.ExtendedRouter{SrcMaskLen: 24, DstMaskLen: 16})
	}))
	a.AddFlowEnricher("vms", FlowEnricherFunc(func(ds DataSource, s *sflow.Sample) {
		order = append(order, "vms")
		if ds != BridgeSource(0) {
			t.Errorf("enricher saw data source %v, want %v", ds, BridgeSource(0))
		}
	}))
	if got := a.FlowEnrichers(); len(got) != 2 || got[0] != "bgp" || got[1] != "vms" {
		t.Fatalf("FlowEnrichers() = %v, want [bgp vms]", got)
	}
	if err := a.SubmitFlow(BridgeSource(0), flowSample(5, 64)); err != nil {
		t.Fatal(err)
	}
	discard := flowSample(5, 64)
	discard.Tag = sflow.SampleDiscard
	if err := a.SubmitFlow(BridgeSource(0), discard); err != nil {
		t.Fatal(err)
	}
	a.flushFlows()
	if len(order) != 4 || order[0] != "bgp" || order[1] != "vms" {
		t.Fatalf("enrichers ran %v, want bgp, vms for each of two samples", order)
	}
	dgs := tp.take()
	if len(dgs) != 1 || len(dgs[0].Samples) != 2 {
		t.Fatalf("got %d datagrams, want one with two samples", len(dgs))
	}
	for _, s := range dgs[0].Samples {
		var found bool
		for _, r := range s.Records {
			if er, ok := r.(*sflow.ExtendedRouter); ok && er.SrcMaskLen == 24 && er.DstMaskLen == 16 {
				found = true
			}
		}
		if !found {
			t.Errorf("sample %v#%d lacks the enricher's extended_router record", s.Tag, s.SequenceNumber)
		}
	}

	gw()
	gw() // twice is harmless
	order = nil
	if err := a.SubmitFlow(BridgeSource(0), flowSample(5, 64)); err != nil {
		t.Fatal(err)
	}
	a.flushFlows()
	if len(order) != 1 || order[0] != "vms" {
		t.Fatalf("after removal enrichers ran %v, want [vms]", order)
	}
	if got := a.FlowEnrichers(); len(got) != 1 || got[0] != "vms" {
		t.Fatalf("FlowEnrichers() = %v after removal, want [vms]", got)
	}
	for _, s := range tp.take()[0].Samples {
		for _, r := range s.Records {
			if _, ok := r.(*sflow.ExtendedRouter); ok {
				t.Fatal("removed enricher's record still sent")
			}
		}
	}
}

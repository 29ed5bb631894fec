package sample

import (
	"bytes"
	"testing"
	"time"

	nflog "github.com/florianl/go-nflog/v2"

	"gwd/agent"
	"gwd/sflow"
)

// TestNFLOGRate: the rate is the wanted one rounded up to a multiple of
// the rule's 1/probability, as hsflowd does.
func TestNFLOGRate(t *testing.T) {
	for _, c := range []struct {
		p               float64
		rate, sub, want uint32
	}{
		{1, 400, 400, 400},
		{0.01, 400, 4, 400},
		{0.01, 250, 3, 300},
		{0.5, 2, 1, 2},
		{0.5, 1, 1, 2}, // the rule already samples more sparsely than asked
		{0.0025, 1000, 3, 1200},
	} {
		s := newNFLOGSampler(NFLOGConfig{Probability: c.p, Rate: c.rate, HeaderBytes: 128}, nil)
		if s.sub != c.sub || s.actual != c.want {
			t.Errorf("p=%v rate=%d: sub %d actual %d, want %d %d", c.p, c.rate, s.sub, s.actual, c.sub, c.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestNFLOGAttributes: an NFLOG message with a MAC header becomes an
// Ethernet header sample; without, an IPv4 one; the data source is the
// input interface, else the output; errors name what is missing.
func TestNFLOGAttributes(t *testing.T) {
	f := &fakeAgent{}
	s := newNFLOGSampler(NFLOGConfig{Probability: 1, Rate: 1, HeaderBytes: 64}, nil)
	ip := ethFrame[14:]
	ts := time.Unix(1700000000, 5)
	msgs := []nflog.Attribute{
		{InDev: ptr[uint32](4), HwHeader: ptr(ethFrame[:14]), Payload: ptr(ip), Timestamp: &ts},
		{OutDev: ptr[uint32](5), PhysOutDev: ptr[uint32](6), Payload: ptr(ip)}, // bridge 5, port 6
	}
	for i := range msgs {
		if err := s.handle(&msgs[i], f); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.samples) != 2 {
		t.Fatalf("%d samples", len(f.samples))
	}
	h0 := f.samples[0].Records[0].(*sflow.SampledHeader)
	if f.ds[0] != (agent.DataSource{Index: 4}) || f.samples[0].Input.Value != 4 || h0.Protocol != protoEthernet ||
		h0.FrameLength != 98 || !bytes.Equal(h0.Header, ethFrame[:64]) || len(f.samples[0].Records) != 2 {
		t.Errorf("first: %v %+v %+v", f.ds[0], f.samples[0], h0)
	}
	if f.samples[0].SamplePool != 1 || f.samples[1].SamplePool != 1 {
		t.Errorf("pools %d %d, want 1 each (per data source, no counters)", f.samples[0].SamplePool, f.samples[1].SamplePool)
	}
	h1 := f.samples[1].Records[0].(*sflow.SampledHeader)
	if f.ds[1] != (agent.DataSource{Index: 6}) || f.samples[1].Output.Value != 6 || h1.Protocol != protoIPv4 || h1.FrameLength != 84 {
		t.Errorf("second: %v %+v %+v", f.ds[1], f.samples[1], h1)
	}
	for _, bad := range []nflog.Attribute{
		{InDev: ptr[uint32](4)}, // no payload
		{Payload: ptr(ip)},      // no interface
		{InDev: ptr[uint32](4), Payload: ptr([]byte{0x11, 0, 0})}, // not IP
	} {
		if err := s.handle(&bad, f); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// TestNFLOGSubSampling: with sub-sampling 1 in 4 gwd keeps about a
// quarter of what the rule sends (bounded loop, wide bounds).
func TestNFLOGSubSampling(t *testing.T) {
	f := &fakeAgent{}
	s := newNFLOGSampler(NFLOGConfig{Probability: 0.25, Rate: 16, HeaderBytes: 64}, nil)
	a := nflog.Attribute{InDev: ptr[uint32](2), Payload: ptr(ethFrame[14:])}
	const n = 8000
	for i := 0; i < n; i++ {
		if err := s.handle(&a, f); err != nil {
			t.Fatal(err)
		}
	}
	// mean 2000; the skip is uniform in 1..7, so the count is tightly
	// bound around n/4.
	if got := len(f.samples); got < 1800 || got > 2200 {
		t.Errorf("%d samples of %d at 1 in 4", got, n)
	}
	if s.actual != 16 || f.samples[0].SamplingRate != 16 {
		t.Errorf("rate %d", s.actual)
	}
}

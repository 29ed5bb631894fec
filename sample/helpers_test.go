package sample

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"gwd/agent"
	"gwd/internal/testutil"
	"gwd/sflow"
)

// testAgent is a real agent sending to a UDP collector on a free loopback
// port; it stops when the test ends.
func testAgent(t *testing.T) (*agent.Agent, *testutil.Collector) {
	t.Helper()
	c := testutil.NewCollector(t)
	a, err := agent.New(agent.Config{
		Polling:    time.Second,
		Address:    agent.AddressConfig{IP: netip.MustParseAddr("192.0.2.7")},
		Collectors: []agent.CollectorConfig{{Addr: c.Addr}},
	}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	// Samples submitted before the address is elected are dropped.
	a.Elect()
	if !a.Address().Addr.IsValid() {
		t.Fatal("agent has no address")
	}
	return a, c
}

// gotSample is a decoded flow or discard sample, copied out of the
// decoder's buffers.
type gotSample struct {
	sflow.Sample
	header *sflow.SampledHeader
	recs   []sflow.Tag
}

// collect reads datagrams until n flow/discard samples came or timeout
// passed, and returns what came.
func collect(t *testing.T, c *testutil.Collector, n int, timeout time.Duration) []gotSample {
	t.Helper()
	var d sflow.Decoder
	var out []gotSample
	deadline := time.Now().Add(timeout)
	for len(out) < n && time.Now().Before(deadline) {
		b, err := c.Read(time.Until(deadline))
		if err != nil {
			break
		}
		dg, err := d.Decode(b)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		for _, s := range dg.Samples {
			if s.Tag != sflow.SampleFlow && s.Tag != sflow.SampleFlowExpanded && s.Tag != sflow.SampleDiscard {
				continue
			}
			g := gotSample{Sample: s}
			g.Records, g.Raw = nil, nil
			for _, r := range s.Records {
				g.recs = append(g.recs, r.Tag())
				if h, ok := r.(*sflow.SampledHeader); ok {
					hc := *h
					hc.Header = append([]byte(nil), h.Header...)
					g.header = &hc
				}
			}
			out = append(out, g)
		}
	}
	return out
}

// fakeAgent records what is submitted (unit tests beneath the agent).
type fakeAgent struct {
	mu      sync.Mutex
	ds      []agent.DataSource
	samples []sflow.Sample
	encoded [][]byte
}

func (f *fakeAgent) SubmitFlow(ds agent.DataSource, s *sflow.Sample) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := sflow.AppendSample(nil, s)
	if err != nil {
		return err
	}
	f.ds = append(f.ds, ds)
	f.encoded = append(f.encoded, b)
	c := *s
	c.Records = nil
	for _, r := range s.Records { // the caller reuses its records: copy
		if h, ok := r.(*sflow.SampledHeader); ok {
			hc := *h
			hc.Header = append([]byte(nil), h.Header...)
			r = &hc
		}
		c.Records = append(c.Records, r)
	}
	f.samples = append(f.samples, c)
	return nil
}

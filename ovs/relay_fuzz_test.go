package ovs

import (
	"sync"
	"testing"
	"time"

	"gwd/agent"
	"gwd/sflow"
)

// checkSink stands in for the agent: it numbers flow samples per data
// source as the agent does, encodes each into a datagram, and checks that
// gwd's decoder reads it back cleanly and that sequence numbers and
// sample_pool (and drops) never go back per data source.
type checkSink struct {
	t       *testing.T
	mu      sync.Mutex
	dec     sflow.Decoder
	seq     map[agent.DataSource]uint32
	pool    map[agent.DataSource][2]uint32
	pollers map[agent.DataSource]agent.Poller
	flows   int
}

func newCheckSink(t *testing.T) *checkSink {
	return &checkSink{t: t, seq: map[agent.DataSource]uint32{}, pool: map[agent.DataSource][2]uint32{},
		pollers: map[agent.DataSource]agent.Poller{}}
}

func (c *checkSink) RegisterPriority(_ string, ds agent.DataSource, p agent.Poller, _ int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pollers[ds] = p
}

func (c *checkSink) Unregister(_ string, ds agent.DataSource) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.pollers, ds)
}

func (c *checkSink) SubmitFlow(ds agent.DataSource, s *sflow.Sample) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flows++
	c.seq[ds]++
	s.SequenceNumber = c.seq[ds]
	s.SourceIDType, s.SourceIDIndex = ds.Type, ds.Index
	s.Tag = sflow.SampleFlow
	if s.Input.Value > 0x3fffffff || s.Output.Value > 0x3fffffff || s.Input.Format > 3 || s.Output.Format > 3 {
		s.Tag = sflow.SampleFlowExpanded
	}
	b, err := sflow.AppendDatagram(nil, &sflow.Datagram{AgentAddress: loopback, Samples: []sflow.Sample{*s}})
	if err != nil {
		c.t.Fatalf("relayed flow sample does not encode: %v (%+v)", err, s)
	}
	dg, err := c.dec.Decode(b)
	if err != nil {
		c.t.Fatalf("gwd's decoder rejects a relayed flow sample: %v", err)
	}
	got := dg.Samples[0]
	if got.SequenceNumber != s.SequenceNumber || got.SamplePool != s.SamplePool || got.Drops != s.Drops || len(got.Records) != len(s.Records) {
		c.t.Fatalf("relayed flow sample decodes to %+v, was %+v", got, *s)
	}
	if err := understood(got.Records); err != nil {
		c.t.Fatalf("relayed flow sample: %v", err)
	}
	if last, ok := c.pool[ds]; ok && (s.SamplePool < last[0] || s.Drops < last[1]) {
		c.t.Fatalf("%v: pool %d, drops %d after %d, %d", ds, s.SamplePool, s.Drops, last[0], last[1])
	}
	c.pool[ds] = [2]uint32{s.SamplePool, s.Drops}
	return nil
}

// pollAll encodes every registered poller's records as a counter sample and
// checks that it decodes cleanly.
func (c *checkSink) pollAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for ds, p := range c.pollers {
		recs, err := p.Poll(nil)
		if err != nil {
			c.t.Fatalf("poll %v: %v", ds, err)
		}
		if len(recs) == 0 {
			continue
		}
		s := sflow.Sample{Tag: sflow.SampleCountersExpanded, SequenceNumber: 1, SourceIDType: ds.Type, SourceIDIndex: ds.Index, Records: recs}
		b, err := sflow.AppendDatagram(nil, &sflow.Datagram{AgentAddress: loopback, Samples: []sflow.Sample{s}})
		if err != nil {
			c.t.Fatalf("cached counters of %v do not encode: %v", ds, err)
		}
		dg, err := c.dec.Decode(b)
		if err != nil {
			c.t.Fatalf("gwd's decoder rejects relayed counters of %v: %v", ds, err)
		}
		if err := understood(dg.Samples[0].Records); err != nil {
			c.t.Fatalf("relayed counters of %v: %v", ds, err)
		}
	}
}

// FuzzRelay: whatever datagram comes in among OVS's real ones, and
// whenever, every flow sample handed out re-encodes and decodes cleanly
// with gwd's decoder, sequence numbers and sample_pool per data source are
// monotonic, and OVS's cached counters decode cleanly too.
func FuzzRelay(f *testing.F) {
	pkts := loadOVSPackets(f)
	for i, p := range pkts {
		f.Add(p.b, uint8(i), uint16(0))
		f.Add(p.b, uint8(i+1), uint16(500))
		for _, n := range []int{len(p.b) / 2, len(p.b) - 1, 28, 100} {
			f.Add(p.b[:n], uint8(i+1), uint16(10))
		}
		for _, off := range []int{3, 7, 15, 19, 23, 27, 35, 43, 47, 51, 64, 200, len(p.b) - 1} {
			c := append([]byte(nil), p.b...)
			c[off] ^= 0x41
			f.Add(c, uint8(i+1), uint16(300))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, pos uint8, delay uint16) {
		sink := newCheckSink(t)
		r := newRelay(RelayConfig{Polling: time.Second}, sink, nil)
		r.SetBridges(br0)
		at := int(pos) % (len(pkts) + 1)
		feed(r, pkts[:at]...)
		when := pkts[0].at
		if at > 0 {
			when = pkts[at-1].at
		}
		hostile := ovsPacket{data, when.Add(time.Duration(delay) * time.Millisecond)}
		feed(r, hostile)
		sink.pollAll()
		feed(r, pkts[at:]...)
		feed(r, hostile)
		sink.pollAll()
		st := r.Stats()
		if st.Received != uint64(len(pkts)+2) || st.Datagrams+st.Bad+st.Foreign != st.Received {
			t.Fatalf("stats do not add up: %+v", st)
		}
		if st.FlowSamples != uint64(sink.flows) {
			t.Fatalf("stats say %d flow samples, %d handed out", st.FlowSamples, sink.flows)
		}
		_ = r.Health()
	})
}

package ovs

import (
	"testing"
	"time"

	"gwd/sflow"
)

// ovsStream makes the datagrams of one OVS agent instance for br0 (ports
// veth1 = 10 and veth2 = 12) the way OVS does: uptime in whole seconds,
// datagram and sample sequence numbers +1, the pool +rate per sample.
// Times are milliseconds from the stream's base.
type ovsStream struct {
	t     testing.TB
	r     *Relay
	base  time.Time
	sub   uint32
	boot  int64 // ms, when the instance started
	dgSeq uint32
	seq   uint32
	pool  uint32
	drops uint32
	rate  uint32
}

// newOVSStream starts a stream for sub-agent sub whose instance has run
// for a minute (1000 samples sent) at time 0.
func newOVSStream(t testing.TB, r *Relay, sub, rate uint32) *ovsStream {
	return &ovsStream{t: t, r: r, base: time.Unix(1_800_000_000, 0), sub: sub, boot: -60_000,
		dgSeq: 500, seq: 1000, pool: 1000 * rate, rate: rate}
}

// restart is OVS starting the instance again at time at.
func (o *ovsStream) restart(at int64) {
	o.boot, o.dgSeq, o.seq, o.pool, o.drops = at, 0, 0, 0, 0
}

// next is the instance's next flow sample.
func (o *ovsStream) next() sflow.Sample {
	o.seq++
	o.pool += o.rate
	return sflow.Sample{
		Tag: sflow.SampleFlow, SequenceNumber: o.seq, SourceIDType: 2, SourceIDIndex: 1000,
		SamplingRate: o.rate, SamplePool: o.pool, Drops: o.drops, Input: sflow.Interface{Value: 10}, Output: sflow.Interface{Value: 12},
		Records: []sflow.Record{&sflow.ExtendedSwitch{}, &sflow.SampledHeader{Protocol: 1, FrameLength: 64, Header: make([]byte, 60)}},
	}
}

// counters is a counter sample of port ifIndex with OVS sequence seq.
func counters(ifIndex, seq uint32) sflow.Sample {
	return sflow.Sample{Tag: sflow.SampleCounters, SequenceNumber: seq, SourceIDIndex: ifIndex,
		Records: []sflow.Record{&sflow.IfCounters{IfIndex: ifIndex, IfType: 6, IfSpeed: 1e10, InOctets: uint64(seq) * 1000}}}
}

// datagram encodes the instance's next datagram at time at.
func (o *ovsStream) datagram(at int64, samples ...sflow.Sample) []byte {
	o.t.Helper()
	o.dgSeq++
	uptime := uint32((at - o.boot) / 1000 * 1000)
	b, err := sflow.AppendDatagram(nil, &sflow.Datagram{AgentAddress: loopback, SubAgentID: o.sub,
		SequenceNumber: o.dgSeq, Uptime: uptime, Samples: samples})
	if err != nil {
		o.t.Fatal(err)
	}
	return b
}

// send hands the instance's next datagram to the relay at time at.
func (o *ovsStream) send(at int64, samples ...sflow.Sample) []byte {
	o.t.Helper()
	b := o.datagram(at, samples...)
	o.deliver(at, b)
	return b
}

// deliver hands b to the relay at time at.
func (o *ovsStream) deliver(at int64, b []byte) {
	now := o.base.Add(time.Duration(at) * time.Millisecond)
	o.r.now = func() time.Time { return now }
	o.r.handle(b, loopbackSender)
}

package ovs

import (
	"encoding/binary"
	"testing"
	"time"

	"gwd/agent"
	"gwd/sflow"
)

// BenchmarkRelay measures the relay's path for OVS flow samples: decode the
// datagram, check it, map its bridge, rewrite pool and source, re-sequence,
// pack into gwd's datagram and encode it (the send itself goes to no
// collector). One op is one OVS datagram; samples/s is the relayed flow
// samples per second.
//
// The capture's flow datagrams are made into one stream of a single OVS
// agent instance: a fixed uptime and clock, only the flow samples, and
// OVS's datagram and sample sequence numbers and pools patched in place to
// keep growing as OVS's would.
func BenchmarkRelay(b *testing.B) {
	a, err := agent.New(agent.Config{Polling: time.Second}, staticAddrs{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	a.Elect()
	r := newTestRelay(b, a)
	r.SetBridges(br0)
	t0 := time.Now()
	r.now = func() time.Time { return t0 }
	var dgs [][]byte
	var bodies [][]int // per datagram, the offsets of its flow samples' bodies
	samples := 0
	var d sflow.Decoder
	for _, raw := range loadOVS(b) {
		dg, err := d.Decode(raw)
		if err != nil {
			b.Fatal(err)
		}
		flows := dg.Samples[:0]
		for _, s := range dg.Samples {
			if s.Tag == sflow.SampleFlow {
				flows = append(flows, s)
			}
		}
		n := len(flows)
		if n == 0 {
			continue
		}
		dg.Samples = flows
		dg.Uptime = 60000
		out, err := sflow.AppendDatagram(nil, dg)
		if err != nil {
			b.Fatal(err)
		}
		dgs = append(dgs, out)
		bodies = append(bodies, flowBodies(out))
		samples += n
	}
	perDatagram := float64(samples) / float64(len(dgs))
	var dgSeq, seq, pool uint32
	next := func(i int) []byte {
		dg := dgs[i%len(dgs)]
		dgSeq++
		binary.BigEndian.PutUint32(dg[16:], dgSeq)
		for _, off := range bodies[i%len(dgs)] {
			seq++
			pool++ // the capture's sampling rate is 1
			binary.BigEndian.PutUint32(dg[off:], seq)
			binary.BigEndian.PutUint32(dg[off+12:], pool)
		}
		return dg
	}
	for i := range dgs { // warm up the pools
		r.handle(next(i), loopbackSender)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		r.handle(next(i), loopbackSender)
	}
	b.StopTimer()
	el := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)*perDatagram/el, "samples/s")
	b.ReportMetric(el*1e9/(float64(b.N)*perDatagram), "ns/sample")
	if st := r.Stats(); st.FlowSamples < uint64(b.N) {
		b.Fatalf("samples not relayed: %+v", st)
	}
}

// flowBodies returns the offsets of the bodies of the compact flow samples
// (0:1) of an encoded IPv4-agent datagram.
func flowBodies(dg []byte) []int {
	var out []int
	n := int(binary.BigEndian.Uint32(dg[24:]))
	off := 28
	for range n {
		tag := sflow.Tag(binary.BigEndian.Uint32(dg[off:]))
		size := int(binary.BigEndian.Uint32(dg[off+4:]))
		if tag == sflow.SampleFlow {
			out = append(out, off+8)
		}
		off += 8 + size
	}
	return out
}

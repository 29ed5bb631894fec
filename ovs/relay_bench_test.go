package ovs

import (
	"testing"
	"time"

	"gwd/agent"
	"gwd/sflow"
)

// BenchmarkRelay measures the relay's path for OVS flow samples: decode the
// datagram, map its bridge, rewrite pool and source, re-sequence, pack into
// gwd's datagram and encode it (the send itself goes to no collector). One
// op is one OVS datagram; samples/s is the relayed flow samples per second.
func BenchmarkRelay(b *testing.B) {
	a, err := agent.New(agent.Config{Polling: time.Second}, staticAddrs{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	a.Elect()
	r := newTestRelay(b, a)
	r.SetBridges(br0)
	// The flow datagrams of the capture, made into one stream whose uptime
	// keeps growing so that the loop does not look like OVS restarting.
	var dgs [][]byte
	samples := 0
	var d sflow.Decoder
	for _, raw := range loadOVS(b) {
		dg, err := d.Decode(raw)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, s := range dg.Samples {
			if s.Tag == sflow.SampleFlow {
				n++
			}
		}
		if n == 0 {
			continue
		}
		dg.Uptime = 0
		out, err := sflow.AppendDatagram(nil, dg)
		if err != nil {
			b.Fatal(err)
		}
		dgs = append(dgs, out)
		samples += n
	}
	perDatagram := float64(samples) / float64(len(dgs))
	for _, dg := range dgs { // warm up the pools
		r.handle(dg, loopback)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		r.handle(dgs[i%len(dgs)], loopback)
	}
	b.StopTimer()
	el := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)*perDatagram/el, "samples/s")
	b.ReportMetric(el*1e9/(float64(b.N)*perDatagram), "ns/sample")
	if r.Stats().Unmapped != 0 {
		b.Fatalf("unmapped samples: %+v", r.Stats())
	}
}

package agent

import (
	"fmt"
	"testing"
	"time"

	"gwd/sflow"
)

// BenchmarkTick is one polling interval of N interface data sources (and
// the host), each with the records of a real interface sample, at 1 s
// polling: scheduling, polling, encoding and packing into datagrams (sent
// to no collector). ns/ifsample is the agent's cost per interface sample.
//
//	go test -run '^$' -bench Tick -benchmem ./agent/
func BenchmarkTick(b *testing.B) {
	for _, n := range []int{64, 1024, 4096} {
		b.Run(fmt.Sprintf("sources=%d", n), func(b *testing.B) {
			a, err := New(Config{Polling: time.Second}, &fakeAddrs{addrs: []IfAddr{ifa("eth0", 2, "10.0.0.7")}}, nil)
			if err != nil {
				b.Fatal(err)
			}
			a.Elect()
			sent := 0
			a.onSend = func([]byte) { sent++ }
			for i := range n {
				ifc := &sflow.IfCounters{IfIndex: uint32(i + 1), IfType: 6, IfSpeed: 10e9, InOctets: 1 << 40}
				eth := &sflow.EthernetCounters{}
				pn := &sflow.PortName{Name: []byte(fmt.Sprintf("veth%d", i))}
				a.Register("host", InterfaceSource(uint32(i+1)), PollerFunc(func(recs []sflow.Record) ([]sflow.Record, error) {
					ifc.InOctets++
					return append(recs, ifc, eth, pn), nil
				}))
			}
			b.ReportAllocs()
			b.ResetTimer()
			sec := int64(0)
			for b.Loop() {
				a.tick(sec)
				sec++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/ifsample")
			b.ReportMetric(float64(sent)/float64(b.N), "datagrams/op")
		})
	}
}

package agent

import (
	"fmt"
	"sync"
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

// BenchmarkTickTap is BenchmarkTick's 64 interfaces with a tap on and off:
// the tap does what the web module's does (web/tap.go: append a copy of the
// datagram to a bounded pending buffer under a short lock, drop and count
// when full), and the reader's swap of the buffers runs after each tick, so
// that every datagram takes the copy path (the web module's reader swaps
// every 100 ms in its own goroutine and decodes there). The figure
// to watch is ns/ifsample: the tap must not slow the export path down.
//
//	go test -run '^$' -bench TickTap -benchmem ./agent/
func BenchmarkTickTap(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("tap=%v", on), func(b *testing.B) {
			const n = 64
			a, err := New(Config{Polling: time.Second}, &fakeAddrs{addrs: []IfAddr{ifa("eth0", 2, "10.0.0.7")}}, nil)
			if err != nil {
				b.Fatal(err)
			}
			a.Elect()
			for i := range n {
				ifc := &sflow.IfCounters{IfIndex: uint32(i + 1), IfType: 6, IfSpeed: 10e9, InOctets: 1 << 40}
				eth := &sflow.EthernetCounters{}
				pn := &sflow.PortName{Name: []byte(fmt.Sprintf("veth%d", i))}
				a.Register("host", InterfaceSource(uint32(i+1)), PollerFunc(func(recs []sflow.Record) ([]sflow.Record, error) {
					ifc.InOctets++
					return append(recs, ifc, eth, pn), nil
				}))
			}
			var dropped int
			var mu sync.Mutex
			var pending, spare []byte
			if on {
				untap := a.Tap(func(d []byte) {
					mu.Lock()
					if len(pending)+len(d) > 512<<10 {
						mu.Unlock()
						dropped++
						return
					}
					pending = append(pending, d...)
					mu.Unlock()
				})
				defer untap()
			}
			b.ReportAllocs()
			b.ResetTimer()
			sec := int64(0)
			for b.Loop() {
				a.tick(sec)
				sec++
				if on { // the reader's swap, here once per tick: every datagram is copied, none dropped
					mu.Lock()
					spare, pending = pending, spare[:0]
					mu.Unlock()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/ifsample")
			b.ReportMetric(float64(dropped)/float64(b.N), "dropped/op")
		})
	}
}

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

// BenchmarkTickTap is BenchmarkTick's 64 interfaces with a tap on and off:
// the tap does what the web module's does (copy the datagram into a buffer
// of a free list and hand it to a bounded channel without blocking, dropping
// when full), with a reader draining the channel as the web module's
// goroutine does. The figure to watch is ns/ifsample: the tap must not
// slow the export path down.
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
			if on {
				ch := make(chan []byte, 256)
				free := make(chan []byte, 256)
				done := make(chan struct{})
				go func() {
					for d := range ch {
						select {
						case free <- d[:0]:
						default:
						}
					}
					close(done)
				}()
				untap := a.Tap(func(d []byte) {
					var buf []byte
					select {
					case buf = <-free:
					default:
					}
					select {
					case ch <- append(buf, d...):
					default:
						dropped++
					}
				})
				defer func() { untap(); close(ch); <-done }()
			}
			b.ReportAllocs()
			b.ResetTimer()
			sec := int64(0)
			for b.Loop() {
				a.tick(sec)
				sec++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/ifsample")
			b.ReportMetric(float64(dropped)/float64(b.N), "dropped/op")
		})
	}
}

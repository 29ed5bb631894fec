package sflow

// Codec benchmarks. docs/performance.md records their figures and the
// command that produces them. One b.N iteration decodes (or encodes) one
// datagram, so ns/op is ns/datagram and allocs/op is allocs/datagram.
// cpu-ns/op is the CPU time the process spent per datagram: on a shared
// machine a benchmark that loses its core keeps counting wall-clock time but
// not CPU time, so it is the steadier figure there.

import (
	"bytes"
	"net/netip"
	"sort"
	"strings"
	"testing"
)

// cpuMeter starts measuring the process's CPU time; the function it returns
// reports it per iteration as cpu-ns/op. Call it just before the b.Loop loop
// and the returned function just after.
func cpuMeter(b *testing.B) (stop func()) {
	start, ok := processCPU()
	return func() {
		end, ok2 := processCPU()
		if ok && ok2 && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

// benchCapture is one capture as the decode benchmarks use it.
type benchCapture struct {
	name     string // file name without .pcap
	payloads [][]byte
	avgSize  int64 // mean datagram size, for b.SetBytes
}

// benchCaptures returns the captures in name order, without the
// datagrams goflow2 cannot decode (goflow2Fails), so that BenchmarkDecode and
// BenchmarkGoflow2Decode decode exactly the same bytes.
func benchCaptures(b *testing.B) []benchCapture {
	var out []benchCapture
	for file, dgs := range loadCaptures(b) {
		c := benchCapture{name: strings.TrimSuffix(file, ".pcap")}
		size := 0
		for _, dg := range dgs {
			if _, skip := goflow2Fails[dg.name]; skip {
				continue
			}
			c.payloads = append(c.payloads, dg.payload)
			size += len(dg.payload)
		}
		if len(c.payloads) == 0 {
			continue
		}
		c.avgSize = int64(size / len(c.payloads))
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// BenchmarkDecode decodes the datagrams of each capture round-robin
// with one Decoder, one datagram per iteration. The Decoder first decodes
// each datagram once, so the figures are its steady state.
func BenchmarkDecode(b *testing.B) {
	benchDecoder(b, func() func([]byte) error {
		var d Decoder
		return func(p []byte) error { _, err := d.Decode(p); return err }
	})
}

// benchDecoder runs one sub-benchmark per capture: a decoder made by
// newDecode decodes each datagram once (warm-up), then the datagrams
// round-robin, one per iteration.
func benchDecoder(b *testing.B, newDecode func() func([]byte) error) {
	for _, c := range benchCaptures(b) {
		b.Run(c.name, func(b *testing.B) {
			decode := newDecode()
			for _, p := range c.payloads {
				if err := decode(p); err != nil {
					b.Fatalf("%s: %v", c.name, err)
				}
			}
			b.ReportAllocs()
			b.SetBytes(c.avgSize)
			i := 0
			stop := cpuMeter(b)
			for b.Loop() {
				if err := decode(c.payloads[i]); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(c.payloads) {
					i = 0
				}
			}
			stop()
		})
	}
}

// hostCounters is a typical hsflowd host counter datagram: one expanded
// counter sample (0:4) from source 2:1 with the records hsflowd 2.1.25 sends
// without modules, in its order. The values are those of the first datagram
// of hsflowd-2.1.25-hostcounters-poll5.pcap.
func hostCounters() *Datagram {
	return &Datagram{
		AgentAddress:   netip.MustParseAddr("192.0.2.2"),
		SubAgentID:     100001,
		SequenceNumber: 1,
		Uptime:         6000,
		Samples: []Sample{{
			Tag:            SampleCountersExpanded,
			SequenceNumber: 1,
			SourceIDType:   2,
			SourceIDIndex:  1,
			Records: []Record{
				&HostAdapters{Adapters: []HostAdapter{
					{IfIndex: 4, MACs: [][6]byte{{0x02, 0xfc, 0, 0, 0, 0x01}}},
				}},
				&MIB2UDPGroup{InDatagrams: 145, NoPorts: 6, OutDatagrams: 152},
				&MIB2TCPGroup{
					RtoAlgorithm: 1, RtoMin: 200, RtoMax: 120000, MaxConn: 4294967295,
					ActiveOpens: 99, PassiveOpens: 3, AttemptFails: 20, CurrEstab: 1,
					InSegs: 4625, OutSegs: 3659, OutRsts: 22,
				},
				&MIB2ICMPGroup{InMsgs: 7, InTimeExcds: 7, OutDestUnreachs: 6, OutRedirects: 6},
				&MIB2IPGroup{
					Forwarding: 2, DefaultTTL: 64, InReceives: 4783, InDelivers: 4783,
					OutRequests: 3763, OutDiscards: 6,
				},
				&HostDiskIO{
					DiskTotal: 270553174016, DiskFree: 85114245120, PartMaxUsed: 6854,
					Reads: 35253, BytesRead: 986149888, ReadTime: 17863,
					Writes: 13060, BytesWritten: 672112640, WriteTime: 16686,
				},
				&HostMemory{
					MemTotal: 25276510208, MemFree: 23497568256, MemBuffers: 41070592,
					MemCached: 1283178496, PageIn: 963037, PageOut: 656360,
				},
				&HostCPU{
					LoadOne: 1.98, LoadFive: 0.67, LoadFifteen: 0.24, ProcRun: 3, ProcTotal: 131,
					CPUNum: 2, CPUSpeed: 2445, Uptime: 269, User: 94830, System: 50380,
					Idle: 377600, Wio: 4900, SoftIntr: 1980, Interrupts: 257635,
					Contexts: 472547, Steal: 8910,
				},
				&HostNetIO{},
				&HostDescr{
					Hostname: []byte("vm"),
					UUID: [16]byte{0x65, 0x71, 0xe1, 0x9b, 0x65, 0x71, 0x51, 0x9b,
						0xa5, 0x71, 0xe1, 0x9b, 0x65, 0x71, 0xe1, 0x9b},
					MachineType: 3, // x86_64
					OSName:      2, // linux
					OSRelease:   []byte("6.18.44-fc-v657"),
				},
			},
		}},
	}
}

// BenchmarkEncodeHostCounters encodes hostCounters into a reused buffer.
func BenchmarkEncodeHostCounters(b *testing.B) {
	dg := hostCounters()
	buf, err := AppendDatagram(nil, dg)
	if err != nil {
		b.Fatal(err)
	}
	// The datagram is hsflowd's own: the encoding must be its bytes.
	if hs := loadCaptures(b)["hsflowd-2.1.25-hostcounters-poll5.pcap"]; len(hs) > 0 && !bytes.Equal(buf, hs[0].payload) {
		b.Fatalf("encoded %d bytes differ from the %d hsflowd sent", len(buf), len(hs[0].payload))
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	stop := cpuMeter(b)
	for b.Loop() {
		if buf, err = AppendDatagram(buf[:0], dg); err != nil {
			b.Fatal(err)
		}
	}
	stop()
}

// TestDecodeAllocs holds the Decoder to its steady state of no allocation,
// outside the benchmarks: over every captured datagram, over a synthetic one
// with 802.11 aggregation records nested two deep, and over one with the
// rtmetric and rtflow samples hsflowd's json module sends.
func TestDecodeAllocs(t *testing.T) {
	var payloads [][]byte
	for _, dgs := range loadCaptures(t) {
		for _, c := range dgs {
			payloads = append(payloads, c.payload)
		}
	}
	nested, err := AppendDatagram(nil, nestedAggregation())
	if err != nil {
		t.Fatal(err)
	}
	payloads = append(payloads, nested)
	rt, err := AppendDatagram(nil, &Datagram{AgentAddress: netip.MustParseAddr("192.0.2.2"), Samples: rtSeedSamples()})
	if err != nil {
		t.Fatal(err)
	}
	payloads = append(payloads, rt)

	var d Decoder
	decodeAll := func() {
		for _, p := range payloads {
			if _, err := d.Decode(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	decodeAll()
	if n := testing.AllocsPerRun(5, decodeAll); n != 0 {
		t.Errorf("%v allocations decoding %d datagrams, want 0", n, len(payloads))
	}
	// The nested lists share the Decoder's memory: each must still decode
	// to what was encoded.
	dg, err := d.Decode(nested)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := AppendDatagram(nil, dg); err != nil || !bytes.Equal(again, nested) {
		t.Errorf("nested aggregation: re-encoded %d bytes (err %v) differ from the %d encoded", len(again), err, len(nested))
	}
}

// nestedAggregation is a flow sample whose 802.11 aggregation records hold
// record lists, one of them another aggregation.
func nestedAggregation() *Datagram {
	inner := &Extended80211Aggregation{PDUs: []AggregationPDU{
		{Records: []Record{&ExtendedSwitch{SrcVLAN: 7}, &ExtendedSwitch{SrcVLAN: 8}, &ExtendedSwitch{SrcVLAN: 9}}},
		{Records: []Record{&SampledHeader{Protocol: 1, FrameLength: 64, Header: []byte{1, 2, 3}}}},
	}}
	return &Datagram{
		AgentAddress: netip.MustParseAddr("192.0.2.1"),
		Samples: []Sample{{
			Tag:            SampleFlowExpanded,
			SequenceNumber: 1,
			SamplingRate:   1024,
			Records: []Record{
				&Extended80211Aggregation{PDUs: []AggregationPDU{
					{Records: []Record{&ExtendedSwitch{SrcVLAN: 1}, inner, &ExtendedSwitch{SrcVLAN: 3}}},
					{},
					{Records: []Record{inner, &ExtendedSwitch{SrcVLAN: 2}}},
				}},
				&Extended80211Aggregation{PDUs: []AggregationPDU{{Records: []Record{inner}}}},
			},
		}},
	}
}

// BenchmarkDecodeSampledIPv4 decodes the kind of datagram the Rust decoder
// nxthdr/sflow-parser states its speed for (~150 ns per datagram, README,
// benches/parser_benchmark.rs): one compact flow sample (0:1) holding one
// sampled_ipv4 record (0:3), 108 bytes. The datagram is built here with the
// same values (byte for byte the datagram of its tests/data/sflow.bin), so
// that the two figures are of the same work.
func BenchmarkDecodeSampledIPv4(b *testing.B) {
	buf, err := AppendDatagram(nil, &Datagram{
		AgentAddress: netip.MustParseAddr("1.1.1.1"), SequenceNumber: 264476700, Uptime: 1991243781,
		Samples: []Sample{{
			Tag: SampleFlow, SequenceNumber: 264476700, SourceIDIndex: 1, SamplingRate: 1000, SamplePool: 1,
			Records: []Record{&SampledIPv4{
				Length: 40, Protocol: 6, SrcIP: netip.MustParseAddr("3.3.3.3"), DstIP: netip.MustParseAddr("4.4.4.4"),
				SrcPort: 53032, DstPort: 25562, TCPFlags: 16, TOS: 112,
			}},
		}},
	})
	if err != nil {
		b.Fatal(err)
	}
	if len(buf) != 108 {
		b.Fatalf("%d bytes, want 108", len(buf))
	}
	var d Decoder
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	stop := cpuMeter(b)
	for b.Loop() {
		if _, err := d.Decode(buf); err != nil {
			b.Fatal(err)
		}
	}
	stop()
}

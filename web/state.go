package web

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"

	"gwd/agent"
	"gwd/sflow"
)

// Bounds of what the module keeps in memory.
const (
	sparkLen     = 60 // rates kept per interface (one per counter sample)
	recentFlows  = 50 // most recent flow samples
	talkerWindow = time.Minute
	talkerCap    = 20000 // flow samples kept for the top talkers
	maxSources   = 4096  // data sources tracked (and interface metric series)
)

// dsState is what the page knows of one data source from the samples sent.
type dsState struct {
	ds      agent.DataSource
	last    time.Time
	samples uint64
	records []string
	ifc     *sflow.IfCounters
	cpu     *sflow.HostCPU
	mem     *sflow.HostMemory
	net     *sflow.HostNetIO
	gpu     *sflow.NVIDIAGPU
	flows   uint64 // flow samples from this data source

	prevT         time.Time
	prevIn, prevO uint64
	in, out       []float64 // bits/s between consecutive samples, oldest first
}

// Flow is one decoded flow sample (JSON: docs/api.md).
type Flow struct {
	Time         time.Time `json:"time"`
	DataSource   string    `json:"data_source"`
	Input        uint32    `json:"input"`
	Output       uint32    `json:"output"`
	SamplingRate uint32    `json:"sampling_rate"`
	FrameLength  uint32    `json:"frame_length"`
	Src          string    `json:"src,omitempty"`
	Dst          string    `json:"dst,omitempty"`
	Protocol     uint8     `json:"protocol"`
	SrcPort      uint16    `json:"src_port,omitempty"`
	DstPort      uint16    `json:"dst_port,omitempty"`
}

// Talker is one source/destination pair over the last minute.
type Talker struct {
	Src            string `json:"src"`
	Dst            string `json:"dst"`
	Samples        uint64 `json:"samples"`
	SampledBytes   uint64 `json:"sampled_bytes"`
	EstimatedBytes uint64 `json:"estimated_bytes"`
}

type talk struct {
	t        time.Time
	src, dst netip.Addr
	bytes    uint64
	rate     uint64
}

// state is the module's decoded view of what the agent sends.
type state struct {
	mu           sync.Mutex
	sources      map[agent.DataSource]*dsState
	sourcesLeft  uint64 // data sources not tracked (over maxSources)
	recent       []Flow // ring, newest last
	talks        []talk // oldest first
	datagrams    uint64
	decodeErrors uint64
	hostname     string // from the last host_descr (0:2000) sent
	uuid         string
	now          func() time.Time
}

func newState() *state {
	return &state{sources: map[agent.DataSource]*dsState{}, now: time.Now}
}

// run decodes the tap's datagrams until ctx ends.
func (s *state) run(ctx context.Context, q *tapQueue) {
	var dec sflow.Decoder
	var buf []byte
	var sizes []int
	t := time.NewTimer(tapEvery)
	t.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.ready:
		}
		// The first datagram after a quiet spell is taken at once (with
		// one processor this goroutine runs right after the sender, in
		// the same wake-up); within tapEvery of the last batch, the rest
		// of tapEvery is waited for, so a stream is taken in batches.
		if wait := tapEvery - time.Since(last); wait > 0 {
			t.Reset(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		last = time.Now()
		buf, sizes = q.take(buf, sizes)
		off := 0
		for _, n := range sizes {
			dg, err := dec.Decode(buf[off : off+n])
			s.add(dg, err)
			off += n
		}
	}
}

// add takes in one decoded datagram.
func (s *state) add(dg *sflow.Datagram, err error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.decodeErrors++
	}
	if dg == nil {
		return
	}
	s.datagrams++
	for i := range dg.Samples {
		sm := &dg.Samples[i]
		ds := agent.DataSource{Type: sm.SourceIDType, Index: sm.SourceIDIndex}
		switch sm.Tag {
		case sflow.SampleCounters, sflow.SampleCountersExpanded:
			if d := s.sourceLocked(ds); d != nil {
				d.counters(now, sm.Records)
			}
			for _, r := range sm.Records {
				if h, ok := r.(*sflow.HostDescr); ok && ds == agent.HostSource {
					s.hostname, s.uuid = string(h.Hostname), formatUUID(h.UUID)
				}
			}
		case sflow.SampleFlow, sflow.SampleFlowExpanded:
			if d := s.sourceLocked(ds); d != nil {
				d.flows++
			}
			s.flowLocked(now, ds, sm)
		}
	}
	s.trimLocked(now)
}

func (s *state) sourceLocked(ds agent.DataSource) *dsState {
	d := s.sources[ds]
	if d == nil {
		if len(s.sources) >= maxSources {
			s.sourcesLeft++
			return nil
		}
		d = &dsState{ds: ds}
		s.sources[ds] = d
	}
	return d
}

// counters keeps the latest records of a counter sample and the interface
// rates since the previous one.
func (d *dsState) counters(now time.Time, recs []sflow.Record) {
	d.last = now
	d.samples++
	d.records = d.records[:0]
	for _, r := range recs {
		d.records = append(d.records, r.Tag().String())
		switch r := r.(type) {
		case *sflow.IfCounters:
			c := *r
			d.ifc = &c
		case *sflow.HostCPU:
			c := *r
			d.cpu = &c
		case *sflow.HostMemory:
			c := *r
			d.mem = &c
		case *sflow.HostNetIO:
			c := *r
			d.net = &c
		case *sflow.NVIDIAGPU:
			c := *r
			d.gpu = &c
		}
	}
	var in, out uint64
	switch {
	case d.ifc != nil:
		in, out = d.ifc.InOctets, d.ifc.OutOctets
	case d.net != nil:
		in, out = d.net.BytesIn, d.net.BytesOut
	default:
		return
	}
	if !d.prevT.IsZero() {
		if dt := now.Sub(d.prevT).Seconds(); dt > 0 && in >= d.prevIn && out >= d.prevO {
			d.in = pushRing(d.in, float64(in-d.prevIn)*8/dt)
			d.out = pushRing(d.out, float64(out-d.prevO)*8/dt)
		}
	}
	d.prevT, d.prevIn, d.prevO = now, in, out
}

func pushRing(r []float64, v float64) []float64 {
	if len(r) == sparkLen {
		copy(r, r[1:])
		r = r[:sparkLen-1]
	}
	return append(r, v)
}

// flowLocked decodes a flow sample's addresses and ports.
func (s *state) flowLocked(now time.Time, ds agent.DataSource, sm *sflow.Sample) {
	f := Flow{Time: now, DataSource: ds.String(), Input: sm.Input.Value, Output: sm.Output.Value, SamplingRate: sm.SamplingRate}
	var src, dst netip.Addr
	for _, r := range sm.Records {
		switch r := r.(type) {
		case *sflow.SampledHeader:
			f.FrameLength = r.FrameLength
			if r.Protocol == 1 { // ethernet
				src, dst, f.Protocol, f.SrcPort, f.DstPort = parseEthernet(r.Header)
			}
		case *sflow.SampledIPv4:
			if !src.IsValid() {
				src, dst, f.Protocol = r.SrcIP, r.DstIP, uint8(r.Protocol)
				f.SrcPort, f.DstPort = uint16(r.SrcPort), uint16(r.DstPort)
			}
		case *sflow.SampledIPv6:
			if !src.IsValid() {
				src, dst, f.Protocol = r.SrcIP, r.DstIP, uint8(r.Protocol)
				f.SrcPort, f.DstPort = uint16(r.SrcPort), uint16(r.DstPort)
			}
		}
	}
	if src.IsValid() {
		f.Src, f.Dst = src.String(), dst.String()
		if len(s.talks) < talkerCap {
			s.talks = append(s.talks, talk{t: now, src: src, dst: dst, bytes: uint64(f.FrameLength), rate: uint64(max(sm.SamplingRate, 1))})
		}
	}
	if len(s.recent) == recentFlows {
		copy(s.recent, s.recent[1:])
		s.recent = s.recent[:recentFlows-1]
	}
	s.recent = append(s.recent, f)
}

// trimLocked forgets the flow samples older than the talker window.
func (s *state) trimLocked(now time.Time) {
	i := 0
	for i < len(s.talks) && now.Sub(s.talks[i].t) > talkerWindow {
		i++
	}
	if i > 0 {
		s.talks = append(s.talks[:0], s.talks[i:]...)
	}
}

// topTalkers sums the last minute's flow samples per address pair, largest
// first, at most n.
func (s *state) topTalkers(n int) []Talker {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trimLocked(s.now())
	type key struct{ src, dst netip.Addr }
	sum := map[key]*Talker{}
	for _, t := range s.talks {
		k := key{t.src, t.dst}
		v := sum[k]
		if v == nil {
			v = &Talker{Src: t.src.String(), Dst: t.dst.String()}
			sum[k] = v
		}
		v.Samples++
		v.SampledBytes += t.bytes
		v.EstimatedBytes += t.bytes * t.rate
	}
	out := make([]Talker, 0, len(sum))
	for _, v := range sum {
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].SampledBytes != out[j].SampledBytes {
			return out[i].SampledBytes > out[j].SampledBytes
		}
		return out[i].Src+out[i].Dst < out[j].Src+out[j].Dst
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// parseEthernet reads the addresses, protocol and ports of a sampled
// Ethernet header (VLAN tags skipped; IPv4 and IPv6 without extension
// headers; ports of TCP, UDP and SCTP).
func parseEthernet(h []byte) (src, dst netip.Addr, proto uint8, sport, dport uint16) {
	if len(h) < 14 {
		return
	}
	et, off := binary.BigEndian.Uint16(h[12:]), 14
	for (et == 0x8100 || et == 0x88a8) && len(h) >= off+4 {
		et, off = binary.BigEndian.Uint16(h[off+2:]), off+4
	}
	p := h[off:]
	var l4 []byte
	switch et {
	case 0x0800:
		if len(p) < 20 || p[0]>>4 != 4 {
			return
		}
		ihl := int(p[0]&0xf) * 4
		src, dst, proto = netip.AddrFrom4([4]byte(p[12:16])), netip.AddrFrom4([4]byte(p[16:20])), p[9]
		if ihl >= 20 && len(p) >= ihl && binary.BigEndian.Uint16(p[6:])&0x1fff == 0 {
			l4 = p[ihl:]
		}
	case 0x86dd:
		if len(p) < 40 {
			return
		}
		src, dst, proto = netip.AddrFrom16([16]byte(p[8:24])), netip.AddrFrom16([16]byte(p[24:40])), p[6]
		l4 = p[40:]
	default:
		return
	}
	switch proto {
	case 6, 17, 132:
		if len(l4) >= 4 {
			sport, dport = binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
		}
	}
	return
}

// formatUUID writes a UUID in its usual text form; "" for the nil UUID.
func formatUUID(u [16]byte) string {
	if u == [16]byte{} {
		return ""
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

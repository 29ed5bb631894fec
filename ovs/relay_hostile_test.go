package ovs

import (
	"bytes"
	"encoding/binary"
	"gwd/internal/testutil/fakeagent"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"gwd/agent"
	"gwd/sflow"
)

// corrupt returns a truncated or byte-flipped copy of b.
func corrupt(rng *rand.Rand, b []byte) []byte {
	c := append([]byte(nil), b...)
	if rng.IntN(2) == 0 {
		return c[:rng.IntN(len(c))]
	}
	for range 1 + rng.IntN(3) {
		c[rng.IntN(len(c))] ^= byte(1 + rng.IntN(255))
	}
	return c
}

// checkOut fails unless every flow sample the sink got encodes and decodes
// cleanly with gwd's decoder and sample_pool and drops never went back per
// data source.
func checkOut(t testing.TB, sink *fakeagent.Registrar) {
	t.Helper()
	flows := sink.Flows()
	type last struct{ pool, drops uint32 }
	seen := map[agent.DataSource]last{}
	var d sflow.Decoder
	for i := range flows {
		s := flows[i].Sample
		ds := flows[i].DS
		s.SourceIDType, s.SourceIDIndex = ds.Type, ds.Index
		b, err := sflow.AppendDatagram(nil, &sflow.Datagram{AgentAddress: loopback, Samples: []sflow.Sample{s}})
		if err != nil {
			t.Fatalf("flow %d does not encode: %v", i, err)
		}
		dg, err := d.Decode(b)
		if err != nil {
			t.Fatalf("flow %d does not decode: %v", i, err)
		}
		if len(dg.Samples) != 1 || dg.Samples[0].SamplePool != s.SamplePool || dg.Samples[0].Drops != s.Drops || len(dg.Samples[0].Records) != len(s.Records) {
			t.Fatalf("flow %d decodes to %+v, was %+v", i, dg.Samples, s)
		}
		for _, rec := range dg.Samples[0].Records {
			if _, ok := rec.(*sflow.OpaqueRecord); ok {
				t.Fatalf("flow %d relays an opaque record %v", i, rec.Tag())
			}
		}
		if l, ok := seen[ds]; ok && (s.SamplePool < l.pool || s.Drops < l.drops) {
			t.Fatalf("flow %d of %v: pool %d, drops %d after %d, %d", i, ds, s.SamplePool, s.Drops, l.pool, l.drops)
		}
		seen[ds] = last{s.SamplePool, s.Drops}
	}
}

// TestRelayRejectsCorruptedCopies (issue 17, defect 1): truncated and
// byte-flipped copies of OVS's real datagrams, sent after the real ones,
// put nothing undecodable out, never move a pool back, relay at most twice
// OVS's samples and leave the real ones flowing.
func TestRelayRejectsCorruptedCopies(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 17))
		sink := fakeagent.New()
		r := newTestRelay(t, sink)
		r.SetBridges(br0)
		pkts := loadOVSPackets(t)
		genuine := 0
		for i, p := range pkts {
			before := len(sink.Flows())
			feed(r, p)
			genuine += len(sink.Flows()) - before
			if i == len(pkts)-1 {
				break
			}
			gap := pkts[i+1].at.Sub(p.at)
			for range 500 {
				c := pkts[rng.IntN(i+1)]
				c.b = corrupt(rng, c.b)
				c.at = p.at.Add(time.Duration(rng.Int64N(int64(gap) + 1)))
				feed(r, c)
			}
		}
		checkOut(t, sink)
		st := r.Stats()
		if st.FlowSamples > 2*16 {
			t.Errorf("seed %d: %d flow samples relayed, OVS sent 16 (%+v)", seed, st.FlowSamples, st)
		}
		if genuine != 16 {
			t.Errorf("seed %d: the real datagrams relayed %d flow samples, want 16 (%+v)", seed, genuine, st)
		}
		if st.Bad == 0 || r.Health() == nil {
			t.Errorf("seed %d: stats %+v, health %v", seed, st, r.Health())
		}
		t.Logf("seed %d: %+v", seed, st)
	}
}

// TestRelayExactReplays: unchanged copies of OVS's datagrams, sent again
// later, are never relayed twice, except those of an instance's first
// seconds (see TestRelayReplayedRestart): the capture's first datagram
// (uptime 2000) is one of those.
func TestRelayExactReplays(t *testing.T) {
	sink := fakeagent.New()
	r := newTestRelay(t, sink)
	r.SetBridges(br0)
	pkts := loadOVSPackets(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for i, p := range pkts {
		feed(r, p)
		if i == 0 {
			continue
		}
		for range 200 {
			c := pkts[1+rng.IntN(i)]
			c.at = p.at.Add(time.Duration(rng.IntN(900)) * time.Millisecond)
			feed(r, c)
		}
	}
	checkOut(t, sink)
	if st := r.Stats(); st.FlowSamples != 16 || st.Restarts != 0 {
		t.Errorf("%d flow samples relayed, OVS sent 16: %+v", st.FlowSamples, st)
	}
}

// TestRelayPoolBackwardsSameUptime (defect 1): a flow sample whose pool
// (or drops) goes back while the uptime did not is dropped and counted, not
// taken for an OVS restart.
func TestRelayPoolBackwardsSameUptime(t *testing.T) {
	sink := fakeagent.New()
	r := newTestRelay(t, sink)
	r.SetBridges(br0)
	o := newOVSStream(t, r, 0, 10)
	o.send(1000, o.next(), o.next())
	back := o.next()
	back.SamplePool -= 500
	o.send(1100, back) // same uptime, pool back
	o.pool -= 10
	o.seq--
	o.drops = 3
	o.send(1200, o.next())
	o.drops = 1
	dropsBack := o.next()
	o.send(1300, dropsBack) // drops back
	o.drops = 3
	o.send(2100, o.next())
	checkOut(t, sink)
	var pools []uint32
	for _, f := range sink.Flows() {
		pools = append(pools, f.Sample.SamplePool)
	}
	if want := []uint32{10010, 10020, 10030, 10050}; !equal(pools, want) {
		t.Errorf("pools %v, want %v", pools, want)
	}
	if st := r.Stats(); st.Backwards != 2 || st.Restarts != 0 || st.FlowSamples != 4 {
		t.Errorf("stats %+v", st)
	}
	if err := r.Health(); err == nil || !strings.Contains(err.Error(), "2 backwards") {
		t.Errorf("Health() = %v", err)
	}
}

// TestRelayUnknownSubAgent (defect 1): samples of an OVS sub-agent whose
// ports belong to no known bridge are dropped, even when OVSDB knows only
// one bridge; so are those naming ports of another bridge.
func TestRelayUnknownSubAgent(t *testing.T) {
	sink := fakeagent.New()
	r := newTestRelay(t, sink)
	r.SetBridges([]Bridge{{Name: "br0", Ports: []Port{{Name: "a", IfIndex: 20}, {Name: "b", IfIndex: 22}}}})
	feed(r, loadOVSPackets(t)...) // ports 8, 10, 12
	if st := r.Stats(); st.FlowSamples != 0 || st.Counters != 0 || st.Unmapped != 16+36 {
		t.Fatalf("samples of unknown ports relayed: %+v", st)
	}
	if len(sink.Flows()) != 0 || len(sink.Sources()) != 0 {
		t.Fatalf("%d flows, pollers %v", len(sink.Flows()), sink.Sources())
	}

	// Two bridges: an instance learnt on br0 naming br1's port.
	sink = fakeagent.New()
	r = newTestRelay(t, sink)
	r.SetBridges([]Bridge{br0[0], {Name: "br1", Ports: []Port{{Name: "x", IfIndex: 30}}}})
	o := newOVSStream(t, r, 0, 1)
	o.send(1000, o.next())
	s := o.next()
	s.Output.Value = 30
	o.send(1100, s, counters(30, 1))
	if st := r.Stats(); st.FlowSamples != 1 || st.Unmapped != 2 || st.Counters != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestRelayReplayedRestart: in its first seconds an OVS instance's
// datagrams cannot be told from a restart; replayed while it runs, they
// are taken for one at most once per RestartEvery, until the real stream
// going on shows them to be a replay; the bridge then takes no new
// instance for ReplayHoldoff. A real restart after that is followed.
func TestRelayReplayedRestart(t *testing.T) {
	sink := fakeagent.New()
	r := newTestRelay(t, sink)
	r.SetBridges(br0)
	o := newOVSStream(t, r, 0, 1)
	o.restart(0)
	early := o.send(200, o.next(), o.next()) // uptime 0
	for at := int64(1200); at < 6000; at += 1000 {
		o.send(at, o.next())
	}
	// Another OVS instance's first datagram (sub-agent 0, uptime 0).
	other := newOVSStream(t, r, 0, 1)
	other.restart(0)
	fake := other.datagram(0, other.next(), other.next(), other.next())
	for i := range 100 {
		at := int64(6000 + 100*i)
		o.deliver(at, early)
		o.deliver(at+50, fake)
		if i%10 == 9 {
			o.send(at+60, o.next())
		}
	}
	checkOut(t, sink)
	st := r.Stats()
	// 7 + 10 real ones, the replay's 2 once (the other fake's are then
	// too soon), none in the holdoff.
	if st.FlowSamples != 19 || st.Replays != 1 || st.Restarts != 1 {
		t.Errorf("stats %+v", st)
	}
	// A real restart after the holdoff is followed.
	o.restart(17_000)
	o.send(17_100, o.next())
	o.send(18_100, o.next())
	if st2 := r.Stats(); st2.FlowSamples != st.FlowSamples+2 || st2.Restarts != st.Restarts+1 {
		t.Errorf("restart after the holdoff: %+v", st2)
	}
	checkOut(t, sink)
}

// TestRelayRejectsIncomplete: a datagram that does not decode completely
// is dropped whole, counted, logged at most once per LogEvery, and shown
// in Health.
func TestRelayRejectsIncomplete(t *testing.T) {
	good := loadOVS(t)[0]
	var d sflow.Decoder
	enc := func(f func(dg *sflow.Datagram)) []byte {
		dg, _ := d.Decode(good)
		f(dg)
		b, err := sflow.AppendDatagram(nil, dg)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// The first flow sample's extended_switch record, 16 bytes, made 20.
	longRecord := append([]byte(nil), good...)
	if i := bytes.Index(longRecord, []byte{0, 0, 3, 0xe9, 0, 0, 0, 16}); i < 0 {
		t.Fatal("no extended_switch record in the capture")
	} else {
		longRecord = append(longRecord[:i+24:i+24], append([]byte{0, 0, 0, 0}, longRecord[i+24:]...)...)
		binary.BigEndian.PutUint32(longRecord[i+4:], 20)
		// and the lengths of the sample around it
		binary.BigEndian.PutUint32(longRecord[32:], binary.BigEndian.Uint32(longRecord[32:])+4)
	}
	version := append([]byte(nil), good...)
	version[3] = 4
	cases := map[string][]byte{
		"trailing":    append(append([]byte(nil), good...), 0, 0, 0, 0),
		"truncated":   good[:len(good)-3],
		"version":     version,
		"long record": longRecord,
		"opaque record": enc(func(dg *sflow.Datagram) {
			dg.Samples[0].Records = append(dg.Samples[0].Records, &sflow.OpaqueRecord{Format: sflow.MakeTag(9999, 1), Data: []byte{1, 2, 3, 4}})
		}),
		"unknown sample": enc(func(dg *sflow.Datagram) {
			dg.Samples = append(dg.Samples, sflow.Sample{Tag: sflow.MakeTag(0, 77), Data: []byte{1, 2, 3, 4}})
		}),
	}
	var logs bytes.Buffer
	sink := fakeagent.New()
	r, err := NewRelay(RelayConfig{Polling: time.Second}, sink, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer r.conn.Close()
	r.SetBridges(br0)
	now := time.Unix(1_800_000_000, 0)
	r.now = func() time.Time { return now }
	for name, b := range cases {
		before := r.Stats().Bad
		for range 10 {
			r.handle(b, loopbackSender)
		}
		if got := r.Stats().Bad - before; got != 10 {
			t.Errorf("%s: %d of 10 rejected as malformed", name, got)
		}
	}
	if st := r.Stats(); st.FlowSamples != 0 || st.Counters != 0 || st.Datagrams != 0 || len(sink.Flows()) != 0 {
		t.Errorf("stats %+v", st)
	}
	if n := strings.Count(logs.String(), "datagrams rejected"); n != 1 {
		t.Errorf("%d log lines for %d rejections at once, want 1:\n%s", n, len(cases)*10, logs.String())
	}
	herr := r.Health()
	if herr == nil || !strings.Contains(herr.Error(), "60 malformed") || !strings.Contains(herr.Error(), "127.0.0.1:40000") {
		t.Errorf("Health() = %v", herr)
	}
	now = now.Add(LogEvery)
	if err := r.Health(); err == nil {
		t.Errorf("Health() = nil one window after the rejections")
	}
	if !strings.Contains(logs.String(), "count=59") {
		t.Errorf("held-back rejections not logged with their count:\n%s", logs.String())
	}
	now = now.Add(HealthWindow)
	if err := r.Health(); err != nil {
		t.Errorf("Health() = %v two windows after the rejections", err)
	}
	for name, b := range cases {
		_, err := (&sflow.Decoder{}).Decode(b)
		if err == nil {
			var d sflow.Decoder
			dg, _ := d.Decode(b)
			err = r.complete(dg, b)
		}
		t.Logf("%s: %v", name, err)
		if err == nil {
			t.Errorf("%s: complete", name)
		}
	}
	r.LogTotals()
	if !strings.Contains(logs.String(), "ovs relay totals") || !strings.Contains(logs.String(), "malformed=60") {
		t.Errorf("totals not logged:\n%s", logs.String())
	}
}

// TestRelayAgentAddress: once told the agent address OVS was given, the
// relay rejects datagrams with another (the previous one still passes).
func TestRelayAgentAddress(t *testing.T) {
	sink := fakeagent.New()
	r := newTestRelay(t, sink)
	r.SetBridges(br0)
	pkts := loadOVSPackets(t)
	r.SetAgentAddress(netip.MustParseAddr("192.0.2.10"))
	feed(r, pkts[0])
	if st := r.Stats(); st.Foreign != 1 || st.Datagrams != 0 {
		t.Fatalf("stats %+v", st)
	}
	if err := r.Health(); err == nil || !strings.Contains(err.Error(), "192.0.2.10") {
		t.Errorf("Health() = %v", err)
	}
	r.SetAgentAddress(loopback)
	feed(r, pkts[1])
	r.SetAgentAddress(netip.MustParseAddr("192.0.2.11"))
	feed(r, pkts[2]) // the previous address, still applied by OVS
	r.SetAgentAddress(netip.MustParseAddr("192.0.2.12"))
	feed(r, pkts[3])
	if st := r.Stats(); st.Foreign != 2 || st.Datagrams != 2 {
		t.Errorf("stats %+v", st)
	}
	var d sflow.Decoder
	dg, _ := d.Decode(pkts[4].b)
	dg.AgentAddress = netip.Addr{} // address type 0
	noAddr, err := sflow.AppendDatagram(nil, dg)
	if err != nil {
		t.Fatal(err)
	}
	feed(r, ovsPacket{noAddr, pkts[4].at})
	if st := r.Stats(); st.Foreign != 3 {
		t.Errorf("agent address type 0 accepted: %+v", st)
	}
	r.SetAgentAddress(netip.Addr{})
	feed(r, pkts[4])
	if st := r.Stats(); st.Datagrams != 3 {
		t.Errorf("check still on: %+v", st)
	}
}

// TestRelayBridgeBackKeepsPool: a bridge deleted and added again goes on
// from the pool its data source last sent.
func TestRelayBridgeBackKeepsPool(t *testing.T) {
	sink := fakeagent.New()
	r := newTestRelay(t, sink)
	r.SetBridges(br0)
	o := newOVSStream(t, r, 0, 10)
	o.send(1000, o.next())
	r.SetBridges(nil)
	o.send(2000, o.next())
	r.SetBridges(br0)
	o.restart(3000)
	o.send(3500, o.next())
	checkOut(t, sink)
	if n := len(sink.Flows()); n != 2 || sink.Flows()[1].Sample.SamplePool != 10020 || sink.Flows()[0].DS != sink.Flows()[1].DS {
		t.Errorf("flows %d: %+v", n, sink.Flows())
	}
	if st := r.Stats(); st.Unmapped != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestRelayCounterReplays: counter samples whose OVS sequence number does
// not move forward, or jumps further than the polling interval allows,
// are not cached.
func TestRelayCounterReplays(t *testing.T) {
	sink := fakeagent.New()
	r := newTestRelay(t, sink)
	r.SetBridges(br0)
	o := newOVSStream(t, r, 0, 1)
	o.send(1000, counters(10, 40))
	o.send(2000, counters(10, 41))
	o.send(2100, counters(10, 41))  // again
	o.send(2200, counters(10, 40))  // back
	o.send(3000, counters(10, 400)) // flipped forward
	o.send(3000, counters(10, 42))
	if st := r.Stats(); st.Counters != 3 || st.Backwards != 3 {
		t.Errorf("stats %+v", st)
	}
	recs, err := sink.Poller(agent.InterfaceSource(10)).Poll(nil)
	if err != nil || len(recs) != 1 || recs[0].(*sflow.IfCounters).InOctets != 42000 {
		t.Errorf("cached %v, %v", recs, err)
	}
}

// TestRelayFlowLen: the hot path's length of a flow sample is the one its
// encoding has, for OVS's samples and samples with other records.
func TestRelayFlowLen(t *testing.T) {
	o := newOVSStream(t, nil, 0, 1)
	extra := o.next()
	extra.Records = append(extra.Records, &sflow.ExtendedRouter{NextHop: loopback})
	expanded := o.next()
	expanded.Tag = sflow.SampleFlowExpanded
	odd := o.next()
	odd.Records[1].(*sflow.SampledHeader).Header = make([]byte, 61)
	samples := []sflow.Sample{extra, expanded, odd}
	for _, b := range loadOVS(t) {
		var d sflow.Decoder // each its own: samples point into its memory
		dg, err := d.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		samples = append(samples, dg.Samples...)
	}
	fast := 0
	for i := range samples {
		s := &samples[i]
		enc, err := sflow.AppendSample(nil, s)
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := flowLen(s); ok {
			fast++
			if n != len(enc)-8 {
				t.Errorf("sample %d (%s): flowLen %d, encoded %d", i, s.Tag, n, len(enc)-8)
			}
		}
	}
	if fast != 2+16 {
		t.Errorf("%d samples measured without encoding, want 18", fast)
	}
}

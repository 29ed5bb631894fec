package ovs

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"gwd/agent"
	"gwd/internal/capture"
	"gwd/internal/testutil"
	"gwd/internal/testutil/fakeagent"
	"gwd/sflow"
)

// ovsCapture holds the datagrams OVS 3.1 sent for bridge br0 with ports
// veth1 (ifIndex 10) and veth2 (12); br0 itself is ifIndex 8.
const ovsCapture = "ovs-3.1-userspace-netdev.pcap"

var br0 = []Bridge{{Name: "br0", Ports: []Port{{Name: "br0", IfIndex: 8, Type: "internal"}, {Name: "veth1", IfIndex: 10}, {Name: "veth2", IfIndex: 12}}}}

// ovsPacket is one datagram of the capture and when it arrived.
type ovsPacket struct {
	b  []byte
	at time.Time
}

// loadOVS returns the UDP payloads of ovsCapture.
func loadOVS(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for _, p := range loadOVSPackets(t) {
		out = append(out, p.b)
	}
	return out
}

// loadOVSPackets returns the datagrams of ovsCapture with their times.
func loadOVSPackets(t testing.TB) []ovsPacket {
	t.Helper()
	pkts, err := capture.ReadFile(testutil.Capture(t, ovsCapture))
	if err != nil {
		t.Fatal(err)
	}
	var out []ovsPacket
	for _, p := range pkts {
		out = append(out, ovsPacket{p.Payload, p.Timestamp})
	}
	return out
}

// feed hands datagrams to the relay as if they arrived at their times.
func feed(r *Relay, pkts ...ovsPacket) {
	for _, p := range pkts {
		at := p.at
		r.now = func() time.Time { return at }
		r.handle(p.b, loopbackSender)
	}
}

func newTestRelay(t testing.TB, sink Sink) *Relay {
	t.Helper()
	r, err := NewRelay(RelayConfig{Polling: time.Second}, sink, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.conn.Close() })
	return r
}

var (
	loopback       = netip.MustParseAddr("127.0.0.1")
	loopbackSender = netip.AddrPortFrom(loopback, 40000)
)

func TestRelayCaptureFlowsAndCounters(t *testing.T) {
	sink := fakeagent.New()
	r := newTestRelay(t, sink)
	r.SetBridges(br0)
	feed(r, loadOVSPackets(t)...)
	st := r.Stats()
	if st.Received != 11 || st.Datagrams != 11 || st.FlowSamples != 16 || st.Counters != 36 || st.rejections() != 0 || st.Restarts != 0 {
		t.Fatalf("stats %+v", st)
	}
	want := agent.BridgeSource(r.bridges["br0"].slot)
	flows := sink.Flows()
	for i, f := range flows {
		if f.DS != want {
			t.Errorf("flow %d relayed for %v, want %v", i, f.DS, want)
		}
		if s := f.Sample; s.Input.Value != 10 && s.Input.Value != 12 {
			t.Errorf("flow %d input %d", i, s.Input.Value)
		}
		if i > 0 && f.Sample.SamplePool <= flows[i-1].Sample.SamplePool {
			t.Errorf("sample pool went %d -> %d", flows[i-1].Sample.SamplePool, f.Sample.SamplePool)
		}
	}
	// Counters: one poller per port and one for the bridge, each giving
	// OVS's records.
	for _, ds := range []agent.DataSource{agent.InterfaceSource(8), agent.InterfaceSource(10), agent.InterfaceSource(12), want} {
		p := sink.Poller(ds)
		if p == nil {
			t.Fatalf("no poller for %v (have %v)", ds, sink.Sources())
		}
		recs, err := p.Poll(nil)
		if err != nil || len(recs) == 0 {
			t.Fatalf("%v: %v %d records", ds, err, len(recs))
		}
		names := map[string]bool{}
		for _, rec := range recs {
			names[sflow.RecordName(rec)] = true
		}
		if ds.Type == 0 && (!names["if_counters"] || !names["of_port"] || !names["port_name"]) {
			t.Errorf("%v records %v", ds, names)
		}
		if ds.Type == 2 && (!names["ovs_dp_stats"] || !names["app_resources"]) {
			t.Errorf("%v records %v", ds, names)
		}
	}
	if err := r.Health(); err != nil {
		t.Errorf("Health() = %v after OVS's own datagrams", err)
	}
	// Stale counters are not sent.
	last := r.now()
	r.now = func() time.Time { return last.Add(time.Minute) }
	if recs, _ := sink.Poller(agent.InterfaceSource(10)).Poll(nil); len(recs) != 0 {
		t.Errorf("stale counters relayed: %d records", len(recs))
	}
	// A port that leaves OVS is unregistered.
	r.SetBridges([]Bridge{{Name: "br0", Ports: br0[0].Ports[:2]}})
	if sink.Poller(agent.InterfaceSource(12)) != nil {
		t.Error("veth2 still registered after it left the bridge")
	}
}

func TestRelayPoolMonotonicAcrossRestart(t *testing.T) {
	sink := fakeagent.New()
	r := newTestRelay(t, sink)
	r.SetBridges(br0)
	o := newOVSStream(t, r, 0, 10) // OVS runs since long before gwd
	o.send(1000, o.next(), o.next())
	o.send(2000, o.next())
	o.restart(6600) // the row changed: OVS restarted its agent
	o.send(7100, o.next())
	o.drops++ // one sample lost in OVS
	o.send(8100, o.next(), o.next())
	var pools, drops []uint32
	for _, f := range sink.Flows() {
		pools = append(pools, f.Sample.SamplePool)
		drops = append(drops, f.Sample.Drops)
	}
	// From OVS's pool at first, then growing by what OVS's grew by.
	if want := []uint32{10010, 10020, 10030, 10040, 10050, 10060}; !equal(pools, want) {
		t.Errorf("pools %v, want %v", pools, want)
	}
	if want := []uint32{0, 0, 0, 0, 1, 1}; !equal(drops, want) {
		t.Errorf("drops %v, want %v", drops, want)
	}
	if st := r.Stats(); st.Restarts != 1 || st.rejections() != 0 {
		t.Errorf("stats %+v", st)
	}
}

func equal(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRelayDropsForeignSenders(t *testing.T) {
	sink := fakeagent.New()
	r := newTestRelay(t, sink)
	r.SetBridges(br0)
	dgs := loadOVS(t)
	r.handle(dgs[0], netip.MustParseAddrPort("192.0.2.7:6343"))
	if st := r.Stats(); st.Foreign != 1 || st.Datagrams != 0 || len(sink.Flows()) != 0 {
		t.Fatalf("stats %+v, %d flows", st, len(sink.Flows()))
	}
}

func TestRelayUnmappedWithTwoBridges(t *testing.T) {
	sink := fakeagent.New()
	r := newTestRelay(t, sink)
	r.SetBridges([]Bridge{{Name: "br0", Ports: []Port{{Name: "x", IfIndex: 90}}}, {Name: "br1", Ports: []Port{{Name: "y", IfIndex: 91}}}})
	feed(r, loadOVSPackets(t)...)
	if st := r.Stats(); st.FlowSamples != 0 || st.Unmapped == 0 {
		t.Fatalf("samples of unknown ports relayed: %+v", st)
	}
}

// staticAddrs gives the agent one address.
type staticAddrs struct{}

func (staticAddrs) Addresses() ([]agent.IfAddr, error) {
	return []agent.IfAddr{{Interface: "eth0", Index: 2, Addr: netip.MustParseAddr("192.0.2.10"), Up: true}}, nil
}
func (staticAddrs) Changes(context.Context) <-chan struct{} { return nil }

// TestRelayEndToEnd sends the capture through the relay's socket into a real
// agent and reads the relayed flow samples at a collector.
func TestRelayEndToEnd(t *testing.T) {
	col := testutil.NewCollector(t)
	a, err := agent.New(agent.Config{Polling: time.Second, Collectors: []agent.CollectorConfig{{Addr: col.Addr}}}, staticAddrs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.Elect()
	r := newTestRelay(t, a)
	r.SetBridges(br0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	out, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(r.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	start := time.Now()
	for _, b := range loadOVS(t)[:3] {
		out.Write(b)
	}
	var d sflow.Decoder
	b := col.Next(t, 5*time.Second)
	t.Logf("first relayed datagram %v after the OVS datagrams were sent", time.Since(start))
	dg, err := d.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if dg.AgentAddress != netip.MustParseAddr("192.0.2.10") || dg.SubAgentID != 0 {
		t.Errorf("relayed under agent %v sub %d", dg.AgentAddress, dg.SubAgentID)
	}
	for i, s := range dg.Samples {
		if s.Tag != sflow.SampleFlow || s.SequenceNumber != uint32(i+1) || s.SourceIDType != 2 || s.SourceIDIndex != 1000+r.bridges["br0"].slot {
			t.Errorf("sample %d: %+v", i, s)
		}
	}
}

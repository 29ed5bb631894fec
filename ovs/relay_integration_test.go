package ovs

import (
	"gwd/internal/testutil"

	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os/exec"
	"sync"
	"testing"
	"time"

	"gwd/agent"
	"gwd/internal/testbed"
	"gwd/sflow"
)

// received is a datagram and when it arrived.
type received struct {
	at time.Time
	b  []byte
}

// recorder keeps every datagram a UDP socket receives until it is closed.
type recorder struct {
	conn *net.UDPConn
	mu   sync.Mutex
	dgs  []received
	done chan struct{}
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadBuffer(4 << 20)
	r := &recorder{conn: c, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		b := make([]byte, 65536)
		for {
			n, err := c.Read(b)
			if err != nil {
				return
			}
			r.mu.Lock()
			r.dgs = append(r.dgs, received{time.Now(), append([]byte(nil), b[:n]...)})
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.Close(); <-r.done })
	return r
}

func (r *recorder) addr() netip.AddrPort { return r.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (r *recorder) snapshot() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.dgs...)
}

// flowsIn counts the flow samples of the datagrams that arrived in
// [from, to) (to zero: no end).
func flowsIn(t *testing.T, dgs []received, from, to time.Time) int {
	t.Helper()
	var d sflow.Decoder
	n := 0
	for _, r := range dgs {
		if r.at.Before(from) || (!to.IsZero() && !r.at.Before(to)) {
			continue
		}
		dg, err := d.Decode(r.b)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		for _, s := range dg.Samples {
			if s.Tag == sflow.SampleFlow || s.Tag == sflow.SampleFlowExpanded {
				n++
			}
		}
	}
	return n
}

// TestIntegrationRelayHostileIntake (issue 17, defect 1): with ping
// traffic crossing a userspace bridge, 6,000 truncated and byte-flipped
// copies of the datagrams OVS really sent, thrown at the relay's intake
// from a loopback socket, leave what a collector receives clean: every
// datagram decodes, no sequence number or sample_pool goes back per data
// source, no more than twice OVS's flow samples of that window are
// relayed, and OVS's samples keep coming through afterwards.
func TestIntegrationRelayHostileIntake(t *testing.T) {
	testbed.Integration(t)
	o := testbed.StartOVS(t, true)
	o.AddBridge(t, "gwdrb0")
	o.AddNamespacePort(t, "gwdrb0", "gwdrv1", "rh1", "10.79.0.1/24")
	o.AddNamespacePort(t, "gwdrb0", "gwdrv2", "rh2", "10.79.0.2/24")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// gwd's side, wired as cmd/gwd wires it: an agent sending to a
	// collector, the relay's intake bound before OVS is programmed.
	collector := newRecorder(t)
	copies := newRecorder(t) // a second target: what OVS really sends
	lb := &testutil.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := agent.New(agent.Config{Polling: time.Second, Collectors: []agent.CollectorConfig{{Addr: collector.addr()}}}, staticAddrs{}, log)
	if err != nil {
		t.Fatal(err)
	}
	a.Elect()
	go a.Run(ctx)
	relay, err := NewRelay(RelayConfig{Polling: time.Second}, a, log)
	if err != nil {
		t.Fatal(err)
	}
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); relay.Run(ctx) }()
	defer func() { cancel(); <-relayDone }()
	relay.SetAgentAddress(netip.MustParseAddr("127.0.0.1"))
	s := Settings{Targets: []string{relay.Addr().String(), copies.addr().String()}, Agent: "127.0.0.1", Sampling: 1, Polling: 1, Header: 128}
	p := start(t, Config{Endpoint: o.Endpoint()}, &s)
	waitFor(t, 10*time.Second, "gwdrb0 attached with its ports", func() bool {
		b, ok := p.bridge("gwdrb0")
		return ok && b.Attached && len(b.Ports) == 3 && b.Ports[1].IfIndex != 0 && b.Ports[2].IfIndex != 0
	})
	relay.SetBridges(p.Bridges())
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-p.Changed():
				relay.SetBridges(p.Bridges())
			}
		}
	}()

	// Ping traffic, 20 a second, for the whole test.
	o.Ping(t, "rh1", "10.79.0.2", 1) // neighbours resolved
	ping := exec.CommandContext(ctx, "ip", "netns", "exec", o.Netns("rh1"), "ping", "-n", "-q", "-i", "0.05", "10.79.0.2")
	if err := ping.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); ping.Wait() }()
	waitFor(t, 15*time.Second, "relayed flow samples at the collector", func() bool {
		return flowsIn(t, collector.snapshot(), time.Time{}, time.Time{}) >= 20
	})
	time.Sleep(2 * time.Second) // more of OVS's datagrams to copy

	// The attack.
	material := copies.snapshot()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 17))
	out, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(relay.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	const hostile = 6000
	before := relay.Stats()
	t.Logf("relay before the attack: %+v", before)
	if before.rejections() != 0 {
		t.Errorf("OVS's own datagrams rejected: %+v\n%s", before, lb)
	}
	attack := time.Now()
	for i := range hostile {
		c := append([]byte(nil), material[rng.IntN(len(material))].b...)
		if rng.IntN(2) == 0 {
			c = c[:rng.IntN(len(c))]
		} else {
			for range 1 + rng.IntN(3) {
				c[rng.IntN(len(c))] ^= byte(1 + rng.IntN(255))
			}
		}
		if _, err := out.Write(c); err != nil {
			t.Fatal(err)
		}
		if i%200 == 199 {
			time.Sleep(100 * time.Millisecond) // 6000 in about 3 s
		}
	}
	sent := time.Now()
	t.Logf("%d hostile datagrams sent in %v (%d real ones to copy from)", hostile, sent.Sub(attack).Round(time.Millisecond), len(material))

	// The relay has read them all, and OVS's next samples come through.
	waitFor(t, 20*time.Second, "the relay to read the hostile datagrams", func() bool {
		return relay.Stats().Received-before.Received >= hostile
	})
	caught := relay.Stats()
	waitFor(t, 20*time.Second, "OVS's samples relayed after the attack", func() bool {
		return relay.Stats().FlowSamples >= caught.FlowSamples+20
	})
	time.Sleep(2 * agent.FlowDelay)
	end := time.Now()
	cancel()
	<-relayDone
	st := relay.Stats()
	t.Logf("relay: %+v", st)
	if st.Bad-before.Bad < hostile/3 {
		t.Errorf("only %d malformed datagrams rejected of %d", st.Bad-before.Bad, hostile)
	}
	if relay.Health() == nil {
		t.Errorf("Health() = nil after the attack")
	}

	// What the collector received.
	col := collector.snapshot()
	var d sflow.Decoder
	seq := map[string]uint32{}
	pool := map[string]uint32{}
	dgSeq := map[uint32]uint32{}
	for i, r := range col {
		dg, err := d.Decode(r.b)
		if err != nil {
			t.Fatalf("collector datagram %d: gwd's decoder rejects it: %v", i, err)
		}
		if last, ok := dgSeq[dg.SubAgentID]; ok && dg.SequenceNumber <= last {
			t.Errorf("datagram sequence %d after %d", dg.SequenceNumber, last)
		}
		dgSeq[dg.SubAgentID] = dg.SequenceNumber
		for _, s := range dg.Samples {
			if err := understood(s.Records); err != nil {
				t.Errorf("collector datagram %d: %v", i, err)
			}
			key := fmt.Sprintf("%s/%d:%d", s.Tag, s.SourceIDType, s.SourceIDIndex)
			if last, ok := seq[key]; ok && s.SequenceNumber <= last {
				t.Errorf("%s: sequence %d after %d", key, s.SequenceNumber, last)
			}
			seq[key] = s.SequenceNumber
			if s.Tag == sflow.SampleFlow || s.Tag == sflow.SampleFlowExpanded {
				if last, ok := pool[key]; ok && s.SamplePool < last {
					t.Errorf("%s: sample_pool %d after %d", key, s.SamplePool, last)
				}
				pool[key] = s.SamplePool
			}
		}
	}
	relayed := flowsIn(t, col, attack, end)
	produced := flowsIn(t, copies.snapshot(), attack, end)
	t.Logf("from the attack on (%v): OVS sent %d flow samples, the collector got %d", end.Sub(attack).Round(time.Millisecond), produced, relayed)
	if relayed > 2*produced {
		t.Errorf("%d flow samples relayed while OVS sent %d", relayed, produced)
	}
	if relayed == 0 {
		t.Errorf("no flow sample relayed from the attack on")
	}
	relay.LogTotals()
	if t.Failed() {
		t.Logf("log:\n%s", lb)
	}
}

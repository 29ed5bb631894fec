package bgp

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"gwd/agent"
	"gwd/internal/testbed"
	"gwd/internal/testutil"
	"gwd/sflow"
)

// birdWithRoutes is the peer of the integration tests: on Addr:Port an
// eBGP session (AS 65001) exporting 203.0.113.0/24 with AS path
// 65001 64501 64500 and two communities, 198.51.100.0/25 (static protocol
// s4b, so it can be withdrawn alone) with path 65001 64510, and
// 2001:db8:100::/48 with path 65001 64520; on 127.0.0.3:ibgpPort an iBGP
// session (AS 65002, with gwd at 127.0.0.4: bird takes one session per
// neighbour address) exporting 100.64.0.0/16 with local preference 250.
func birdWithRoutes(ibgpPort *int, t *testing.T) func(*testbed.Bird) string {
	return func(b *testbed.Bird) string {
		*ibgpPort = testutil.FreeTCPPort(t, "127.0.0.3")
		return fmt.Sprintf(`log "%s" all;
router id 10.255.0.1;
protocol device {}
protocol static s4 { ipv4; route 203.0.113.0/24 blackhole; }
protocol static s4b { ipv4; route 198.51.100.0/25 blackhole; }
protocol static s6 { ipv6; route 2001:db8:100::/48 blackhole; }
protocol static s4i { ipv4; route 100.64.0.0/16 blackhole; }
protocol bgp gwd {
  local %s port %d as 65001; neighbor 127.0.0.1 as 65002;
  multihop; strict bind on; passive on;
  ipv4 { import none; export filter {
    if net = 100.64.0.0/16 then reject;
    if net = 203.0.113.0/24 then { bgp_path.prepend(64500); bgp_path.prepend(64501); bgp_community.add((65001,100)); bgp_community.add((65001,200)); }
    if net = 198.51.100.0/25 then { bgp_path.prepend(64510); }
    accept; }; next hop address 192.0.2.1; };
  ipv6 { import none; export filter { bgp_path.prepend(64520); accept; }; next hop address 2001:db8::1; };
}
protocol bgp gwdi {
  local 127.0.0.3 port %d as 65002; neighbor 127.0.0.4 as 65002;
  multihop; strict bind on; passive on;
  ipv4 { import none; export filter { if net = 100.64.0.0/16 then { bgp_local_pref = 250; bgp_community.add((65002,7)); accept; } reject; }; next hop address 192.0.2.2; };
}
`, filepath.Join(b.Dir, "bird.log"), b.Addr, b.Port, *ibgpPort)
	}
}

// e2e is a real agent sending to a collector, with the bgp speaker.
type e2e struct {
	t    *testing.T
	a    *agent.Agent
	c    *testutil.Collector
	sp   *Speaker
	logs *testutil.SyncBuffer
	dec  sflow.Decoder
	buf  []byte
}

func startE2E(t *testing.T, o Options) *e2e {
	t.Helper()
	c := testutil.NewCollector(t)
	log, logs := testutil.Logger(slog.LevelDebug)
	a, err := agent.New(agent.Config{
		Address:    agent.AddressConfig{IP: netip.MustParseAddr("192.0.2.7")},
		Collectors: []agent.CollectorConfig{{Addr: c.Addr}},
	}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { a.Run(ctx); close(runDone) }()
	sp, err := Start(ctx, o, a, log.With("module", "bgp"))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		<-sp.Done()
		<-runDone
		if t.Failed() {
			t.Log(logs.String())
		}
	})
	return &e2e{t: t, a: a, c: c, sp: sp, logs: logs, buf: make([]byte, 65536)}
}

// packet is an Ethernet + IPv4/IPv6 + UDP header from src to dst.
func packet(src, dst string) []byte {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	h := []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x81, 0x00, 0, 10} // VLAN 10
	if s.Is4() {
		h = append(h, 0x08, 0x00)
		ip := make([]byte, 20)
		ip[0], ip[9] = 0x45, 17
		binary.BigEndian.PutUint16(ip[2:], 28)
		copy(ip[12:], s.AsSlice())
		copy(ip[16:], d.AsSlice())
		h = append(h, ip...)
	} else {
		h = append(h, 0x86, 0xdd)
		ip := make([]byte, 40)
		ip[0], ip[6], ip[7] = 0x60, 17, 64
		copy(ip[8:], s.AsSlice())
		copy(ip[24:], d.AsSlice())
		h = append(h, ip...)
	}
	return append(h, 0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0)
}

// flow submits a flow sample for a packet from src to dst and returns the
// extended_router and extended_gateway records the collector gets for it
// (nil when absent).
func (e *e2e) flow(src, dst string) (*sflow.ExtendedRouter, *sflow.ExtendedGateway) {
	e.t.Helper()
	h := packet(src, dst)
	pool := uint32(time.Now().UnixNano()) // marks this sample
	s := &sflow.Sample{Tag: sflow.SampleFlow, SamplingRate: 100, SamplePool: pool,
		Records: []sflow.Record{&sflow.SampledHeader{Protocol: 1, FrameLength: uint32(len(h) + 4), Header: h}}}
	if err := e.a.SubmitFlow(agent.BridgeSource(0), s); err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		e.c.Conn.SetReadDeadline(deadline)
		n, _, err := e.c.Conn.ReadFromUDPAddrPort(e.buf)
		if err != nil {
			e.t.Fatalf("no flow sample %s -> %s at the collector: %v", src, dst, err)
		}
		dg, err := e.dec.Decode(e.buf[:n])
		if err != nil {
			e.t.Fatalf("decode: %v", err)
		}
		for _, got := range dg.Samples {
			if got.SamplePool != pool {
				continue
			}
			var r *sflow.ExtendedRouter
			var g *sflow.ExtendedGateway
			for _, rec := range got.Records {
				switch x := rec.(type) {
				case *sflow.ExtendedRouter:
					if r != nil {
						e.t.Fatal("two extended_router records in one sample")
					}
					c := *x
					r = &c
				case *sflow.ExtendedGateway:
					if g != nil {
						e.t.Fatal("two extended_gateway records in one sample")
					}
					c := *x
					c.DstASPath = slices.Clone(x.DstASPath)
					for i := range c.DstASPath {
						c.DstASPath[i].ASNs = slices.Clone(c.DstASPath[i].ASNs)
					}
					c.Communities = slices.Clone(x.Communities)
					g = &c
				}
			}
			return r, g
		}
	}
}

func testOptions(bird *testbed.Bird, ibgpPort int) Options {
	return Options{
		LocalAS: 65002, ExtendedRouter: true, ExtendedGateway: true,
		ListenPort: 179, ConnectRetry: time.Second, HoldTime: 9 * time.Second,
		Sessions: []Session{
			{Address: netip.MustParseAddr(bird.Addr), Port: uint16(bird.Port), PeerAS: 65001,
				LocalAddress: netip.MustParseAddr("127.0.0.1"), Multihop: 2, IPv4: true, IPv6: true},
			{Address: netip.MustParseAddr("127.0.0.3"), Port: uint16(ibgpPort), PeerAS: 65002,
				LocalAddress: netip.MustParseAddr("127.0.0.4"), IPv4: true},
		},
	}
}

// waitRoutes waits until the table has v4 and v6 prefixes and every
// session is in state.
func (e *e2e) waitRoutes(v4, v6 int, state string) {
	e.t.Helper()
	testutil.Eventually(e.t, 30*time.Second, func() error {
		st := e.sp.Status()
		if st.IPv4Routes != v4 || st.IPv6Routes != v6 {
			return fmt.Errorf("%d IPv4 and %d IPv6 routes, want %d and %d; status %+v", st.IPv4Routes, st.IPv6Routes, v4, v6, st)
		}
		for _, s := range st.Sessions {
			if state != "" && s.State != state {
				return fmt.Errorf("session %s is %s, want %s", s.Neighbor, s.State, state)
			}
		}
		return nil
	})
}

// recOpts compare records: addresses by value, nil and empty lists alike.
var recOpts = []cmp.Option{cmpopts.EquateComparable(netip.Addr{}), cmpopts.EquateEmpty()}

func seq(asns ...uint32) []sflow.ASPathSegment {
	return []sflow.ASPathSegment{{Type: 2, ASNs: asns}}
}

// TestIntegrationEnrichment peers with a real bird2 over eBGP and iBGP and
// checks the extended_router and extended_gateway records a collector
// receives for packets to and from the announced prefixes; then the peer
// withdraws a prefix, and its eBGP session goes down and comes back.
func TestIntegrationEnrichment(t *testing.T) {
	testbed.Integration(t)
	var ibgpPort int
	bird := testbed.StartBird(t, birdWithRoutes(&ibgpPort, t))
	e := startE2E(t, testOptions(bird, ibgpPort))
	e.waitRoutes(3, 1, "established")

	nh1, nh2 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	comm := func(as, v uint32) uint32 { return as<<16 | v }
	check := func(name, src, dst string, wantR *sflow.ExtendedRouter, wantG *sflow.ExtendedGateway) {
		t.Helper()
		r, g := e.flow(src, dst)
		if diff := cmp.Diff(wantR, r, recOpts...); diff != "" {
			t.Errorf("%s: extended_router (-want +got):\n%s", name, diff)
		}
		if diff := cmp.Diff(wantG, g, recOpts...); diff != "" {
			t.Errorf("%s: extended_gateway (-want +got):\n%s", name, diff)
		}
	}
	check("eBGP to eBGP", "198.51.100.7", "203.0.113.9",
		&sflow.ExtendedRouter{NextHop: nh1, SrcMaskLen: 25, DstMaskLen: 24},
		&sflow.ExtendedGateway{NextHop: nh1, AS: 65002, SrcAS: 64510, SrcPeerAS: 65001,
			DstASPath: seq(65001, 64501, 64500), Communities: []uint32{comm(65001, 100), comm(65001, 200)}, LocalPref: 100})
	check("unknown source to iBGP", "10.1.2.3", "100.64.3.4",
		&sflow.ExtendedRouter{NextHop: nh2, SrcMaskLen: 0, DstMaskLen: 16},
		&sflow.ExtendedGateway{NextHop: nh2, AS: 65002, DstASPath: []sflow.ASPathSegment{},
			Communities: []uint32{comm(65002, 7)}, LocalPref: 250})
	check("IPv6 from a prefix to an unknown destination", "2001:db8:100::5", "2001:db8:ffff::1",
		&sflow.ExtendedRouter{SrcMaskLen: 48},
		&sflow.ExtendedGateway{AS: 65002, SrcAS: 64520, SrcPeerAS: 65001, DstASPath: []sflow.ASPathSegment{}, Communities: []uint32{}})
	check("no route either way", "10.1.2.3", "10.3.2.1", nil, nil)
	if t.Failed() {
		return
	}

	// The peer withdraws 198.51.100.0/25: samples to it lose their records.
	bird.Birdc(t, "disable", "s4b")
	e.waitRoutes(2, 1, "")
	check("withdrawn destination", "10.1.2.3", "198.51.100.7", nil, nil)

	// The eBGP session goes down: its routes go, the iBGP ones stay.
	bird.Birdc(t, "disable", "gwd")
	e.waitRoutes(1, 0, "")
	check("destination of a closed session", "10.1.2.3", "203.0.113.9", nil, nil)
	// gobgp withdraws a closed session's best paths itself; the speaker's
	// own sweep (DeletePeer) only catches what it left.
	t.Logf("routes the speaker's sweep removed after the session closed: %d (0: gobgp withdrew them all first)", e.sp.purged.Load())
	if st := e.sp.Status(); st.Sessions[0].State == "established" || st.Sessions[0].Routes != 0 || st.Sessions[1].Routes != 1 {
		t.Fatalf("after the eBGP session closed: %+v", st)
	}
	if h := e.a.Health()[SourceName]; !strings.Contains(h, "neighbor 127.0.0.2") {
		t.Errorf("health = %q, want the closed session named", h)
	}

	// It comes back: so do its routes.
	bird.Birdc(t, "enable", "gwd")
	e.waitRoutes(2, 1, "established")
	check("after the session came back", "198.51.100.200", "203.0.113.9",
		&sflow.ExtendedRouter{NextHop: nh1, SrcMaskLen: 0, DstMaskLen: 24},
		&sflow.ExtendedGateway{NextHop: nh1, AS: 65002, DstASPath: seq(65001, 64501, 64500),
			Communities: []uint32{comm(65001, 100), comm(65001, 200)}, LocalPref: 100})
	if h, ok := e.a.Health()[SourceName]; ok && h != "" {
		t.Errorf("health = %q with every session established", h)
	}
}

// TestIntegrationWrongPeerAS: a session configured with the wrong peer AS
// is refused with an error naming the neighbour and both ASes, in health
// and in the log, and flow samples keep flowing, unenriched.
func TestIntegrationWrongPeerAS(t *testing.T) {
	testbed.Integration(t)
	bird := testbed.StartBird(t, nil) // AS 65001
	o := Options{LocalAS: 65002, ExtendedRouter: true, ExtendedGateway: true, ListenPort: 179,
		ConnectRetry: time.Second, HoldTime: 9 * time.Second,
		Sessions: []Session{{Address: netip.MustParseAddr(bird.Addr), Port: uint16(bird.Port), PeerAS: 65099,
			LocalAddress: netip.MustParseAddr("127.0.0.1"), Multihop: 2, IPv4: true}}}
	e := startE2E(t, o)
	want := "neighbor 127.0.0.2 (peer AS 65099) "
	testutil.Eventually(t, 20*time.Second, func() error {
		h := e.a.Health()[SourceName]
		if !strings.Contains(h, want) || !strings.Contains(h, "as number mismatch expected 65099, received 65001") {
			return fmt.Errorf("health = %q, want it to name the neighbor and the AS mismatch", h)
		}
		return nil
	})
	if !strings.Contains(e.logs.String(), "as number mismatch expected 65099, received 65001") ||
		!strings.Contains(e.logs.String(), "neighbor=127.0.0.2") {
		t.Errorf("the log does not name the neighbor and the mismatch:\n%s", e.logs.String())
	}
	// gobgp retries every second: the refusal is logged once, not per try.
	time.Sleep(2500 * time.Millisecond)
	if n := e.logs.Count("bgp session refused"); n != 1 {
		t.Errorf("the refusal was logged %d times, want once", n)
	}
	if r, g := e.flow("10.1.2.3", "203.0.113.9"); r != nil || g != nil {
		t.Errorf("records from a refused session: %+v %+v", r, g)
	}
	if st := e.sp.Status(); st.IPv4Routes != 0 || st.Sessions[0].State == "established" || st.Sessions[0].Error == "" {
		t.Errorf("status = %+v", st)
	}
}

// birdActive is a peer that connects to gwd's listener on 127.0.0.1:port
// (gwd passive) from Addr, AS 65001, exporting 203.0.113.0/24 (path
// 65001 64500) and 2001:db8:100::/48, retrying every second.
func birdActive(port int) func(*testbed.Bird) string {
	return func(b *testbed.Bird) string {
		return fmt.Sprintf(`log "%s" all;
router id 10.255.0.1;
protocol device {}
protocol static s4 { ipv4; route 203.0.113.0/24 blackhole; }
protocol static s6 { ipv6; route 2001:db8:100::/48 blackhole; }
protocol bgp gwd {
  local %s as 65001; neighbor 127.0.0.1 port %d as 65002;
  multihop; strict bind on;
  connect delay time 1; connect retry time 1; error wait time 1, 2;
  ipv4 { import none; export filter { bgp_path.prepend(64500); accept; }; next hop address 192.0.2.1; };
  ipv6 { import none; export all; next hop address 2001:db8::1; };
}
`, filepath.Join(b.Dir, "bird.log"), b.Addr, port)
	}
}

// garbage opens n connections from local address from to to and writes
// what no BGP speaker should accept: random bytes, a header with a valid
// marker and an impossible length, a message of an unknown type, and a
// connection that sends nothing and closes. Each is read until the other
// end closes it or 2 s pass.
func garbage(t *testing.T, from, to string, n int, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	marker := bytes.Repeat([]byte{0xff}, 16)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 2 * time.Second}
	for i := 0; i < n; i++ {
		c, err := d.Dial("tcp", to)
		if err != nil {
			t.Fatalf("garbage connection %d from %s to %s: %v", i, from, to, err)
		}
		var msg []byte
		switch i % 4 {
		case 0:
			msg = make([]byte, 1+r.IntN(4096))
			for j := range msg {
				msg[j] = byte(r.Uint32())
			}
		case 1:
			msg = append(slices.Clone(marker), 0xff, 0xff, 1)
		case 2:
			msg = append(slices.Clone(marker), 0, 19, 9)
		}
		c.SetDeadline(time.Now().Add(2 * time.Second))
		c.Write(msg) // the other end may already have closed: fine
		io.Copy(io.Discard, c)
		c.Close()
	}
}

// TestIntegrationPassive: with a passive session gwd listens and the
// router connects. Garbage on the listener, from an unknown address and
// from the neighbour's own address, before the session is up and from the
// unknown address after, neither stops the real peer from establishing
// nor drops it: its routes arrive and stay, and samples carry them.
func TestIntegrationPassive(t *testing.T) {
	testbed.Integration(t)
	port := testutil.FreeTCPPort(t, "127.0.0.1")
	listen := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
	o := Options{LocalAS: 65002, ExtendedRouter: true, ExtendedGateway: true,
		RouterID: netip.MustParseAddr("10.255.0.2"), ListenAddress: netip.MustParseAddr("127.0.0.1"), ListenPort: uint16(port),
		ConnectRetry: time.Second, HoldTime: 9 * time.Second,
		Sessions: []Session{{Address: netip.MustParseAddr("127.0.0.2"), PeerAS: 65001, Passive: true,
			Multihop: 2, IPv4: true, IPv6: true}}}
	e := startE2E(t, o)
	testutil.Eventually(t, 10*time.Second, func() error {
		c, err := net.DialTimeout("tcp", listen, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
	garbage(t, "127.0.0.1", listen, 12, 1)
	garbage(t, "127.0.0.2", listen, 12, 2) // the neighbour's address, before bird runs
	bird := testbed.StartBird(t, birdActive(port))
	e.waitRoutes(1, 1, "established")

	want := &sflow.ExtendedGateway{NextHop: netip.MustParseAddr("192.0.2.1"), AS: 65002, SrcAS: 0, SrcPeerAS: 0,
		DstASPath: seq(65001, 64500), Communities: []uint32{}, LocalPref: 100}
	check := func(when string) {
		t.Helper()
		_, g := e.flow("10.1.2.3", "203.0.113.9")
		if diff := cmp.Diff(want, g, recOpts...); diff != "" {
			t.Errorf("%s: extended_gateway (-want +got):\n%s", when, diff)
		}
	}
	check("established")
	up := bird.Birdc(t, "show", "protocols", "gwd")
	garbage(t, "127.0.0.1", listen, 40, 3)
	e.waitRoutes(1, 1, "established")
	check("after garbage")
	// The session bird has is the one it had before: not reset.
	if after := bird.Birdc(t, "show", "protocols", "gwd"); after != up {
		t.Errorf("bird's session changed during the garbage:\nbefore %s\nafter  %s", up, after)
	}
}

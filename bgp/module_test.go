package bgp

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"gwd/config"
)

func TestOptionsYAML(t *testing.T) {
	yaml := `
modules:
  bgp:
    enabled: auto
    local_as: 65002
    sessions:
      - {address: 192.0.2.254, peer_as: 65001, local_address: 192.0.2.10}
      - {address: "2001:db8::fe", port: 1179, peer_as: 65003, passive: true, ipv4: false, multihop: 3}
`
	cfg, err := config.Parse("x.yaml", []byte(yaml), Module{}.Section())
	if err != nil {
		t.Fatal(err)
	}
	o := config.Get[Options](cfg)
	if o.Enabled != config.Auto || o.LocalAS != 65002 || len(o.Sessions) != 2 || !o.ExtendedRouter || !o.ExtendedGateway ||
		o.ConnectRetry != 10*time.Second || o.ListenPort != 179 {
		t.Fatalf("options %+v", o)
	}
	s0, s1 := o.Sessions[0], o.Sessions[1]
	if s0.Port != 179 || !s0.IPv4 || !s0.IPv6 || s0.Passive || s1.Port != 1179 || s1.IPv4 || !s1.Passive || s1.Multihop != 3 {
		t.Fatalf("sessions %+v", o.Sessions)
	}
	if got := o.routerID(); got != netip.MustParseAddr("192.0.2.10") {
		t.Fatalf("router id %v, want the IPv4 local address", got)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, c := range []struct {
		yaml, want string
	}{
		{`{sessions: [{peer_as: 1}]}`, "sessions[0]: address is required"},
		{`{sessions: [{address: 192.0.2.1, local_address: 192.0.2.2}]}`, "sessions[0]: peer_as is required"},
		{`{local_as: 1, sessions: [{address: 192.0.2.1, peer_as: 2}]}`, "router_id is required"},
		{`{router_id: 192.0.2.9, sessions: [{address: 192.0.2.1, peer_as: 2}]}`, "sessions[0]: local_as is required"},
		{`{local_as: 1, router_id: "2001:db8::1", sessions: [{address: 192.0.2.1, peer_as: 2}]}`, "router_id must be an IPv4 address"},
		{`{local_as: 1, router_id: 192.0.2.9, sessions: [{address: 192.0.2.1, peer_as: 2}, {address: 192.0.2.1, peer_as: 3}]}`, "neighbor 192.0.2.1 configured twice"},
	} {
		_, err := config.Parse("x.yaml", []byte("modules:\n  bgp: "+c.yaml+"\n"), Module{}.Section())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.yaml, err, c.want)
		}
	}
}

// TestBurstRelease: a burst of route changes releases memory once, after
// it has been quiet for the settle time; small changes never do.
func TestBurstRelease(t *testing.T) {
	released := make(chan time.Time, 4)
	b := &burst{min: 100, settle: 50 * time.Millisecond, release: func() { released <- time.Now() }}
	b.add(99)
	select {
	case <-released:
		t.Fatal("released after fewer changes than the minimum")
	case <-time.After(150 * time.Millisecond):
	}
	start := time.Now()
	b.add(1) // 100: armed
	for i := 0; i < 5; i++ {
		time.Sleep(20 * time.Millisecond) // still arriving: postpones
		b.add(10)
	}
	last := time.Now()
	select {
	case at := <-released:
		if at.Sub(last) < 40*time.Millisecond {
			t.Errorf("released %v after the last change, %v after the burst began; want the settle time after the last", at.Sub(last), at.Sub(start))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("never released")
	}
	select {
	case <-released:
		t.Fatal("released twice for one burst")
	case <-time.After(150 * time.Millisecond):
	}
}

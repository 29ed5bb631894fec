package testbed

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
)

// TestIntegrationRedis starts redis-server, stops it and starts it again
// on the same port.
func TestIntegrationRedis(t *testing.T) {
	Integration(t)
	r := StartRedis(t)
	if err := r.ping(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(r.Sock); err != nil {
		t.Errorf("unix socket: %v", err)
	}
	r.Stop(t)
	if err := r.ping(); err == nil {
		t.Fatal("redis still answers after Stop")
	}
	r.Start(t)
	if err := r.ping(); err != nil {
		t.Fatalf("after a restart: %v", err)
	}
}

// TestIntegrationSNMPD starts snmpd with a pass script from the test that
// serves one OID from the environment the test gave.
func TestIntegrationSNMPD(t *testing.T) {
	Integration(t)
	script := filepath.Join(t.TempDir(), "pass.sh")
	os.WriteFile(script, []byte(`#!/bin/sh
if [ "$1" = "-g" ] && [ "$2" = ".1.3.6.1.4.1.32473.9.1.0" ]; then
  echo .1.3.6.1.4.1.32473.9.1.0; echo integer; echo "$GWD_TESTBED_VALUE"
fi
`), 0o755)
	s := StartSNMPD(t, SNMPDConfig{
		Community: "gwd-testbed",
		Lines:     []string{"pass .1.3.6.1.4.1.32473.9 " + script},
		Env:       []string{"GWD_TESTBED_VALUE=42"},
	})
	g := &gosnmp.GoSNMP{Target: "127.0.0.1", Port: uint16(s.Port), Community: "gwd-testbed",
		Version: gosnmp.Version2c, Timeout: time.Second, Retries: 1}
	if err := g.Connect(); err != nil {
		t.Fatal(err)
	}
	defer g.Conn.Close()
	res, err := g.Get([]string{".1.3.6.1.4.1.32473.9.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	if v := res.Variables; len(v) != 1 || gosnmp.ToBigInt(v[0].Value).Int64() != 42 {
		t.Fatalf("pass OID: %+v, want 42", v)
	}
	g.Community = "not-it"
	g.Timeout, g.Retries = 200*time.Millisecond, 0
	if _, err := g.Get([]string{".1.3.6.1.2.1.1.3.0"}); err == nil {
		t.Error("answered another community")
	}
}

// TestIntegrationNetns links two namespaces with a veth pair, pings across
// it and opens a socket inside one of them.
func TestIntegrationNetns(t *testing.T) {
	Integration(t)
	a, b := NewNetns(t), NewNetns(t)
	a.VethTo(t, "gwva", b, "gwvb")
	a.IP(t, "addr", "add", "10.79.0.1/24", "dev", "gwva")
	b.IP(t, "addr", "add", "10.79.0.2/24", "dev", "gwvb")
	a.Exec(t, "ping", "-n", "-q", "-c", "2", "-i", "0.2", "-W", "1", "10.79.0.2")
	if a.IfIndex(t, "gwva") == 0 || b.IfIndex(t, "lo") != 1 {
		t.Errorf("ifindex: gwva %d, lo %d", a.IfIndex(t, "gwva"), b.IfIndex(t, "lo"))
	}
	a.Veth(t, "gwx0", "gwx1")
	if out := a.IP(t, "-o", "link", "show", "gwx1"); !strings.Contains(out, "state UP") && !strings.Contains(out, "LOWER_UP") {
		t.Errorf("gwx1 not up: %s", out)
	}
	if out, err := a.Command("ip", "-o", "addr", "show", "gwva").Output(); err != nil || !strings.Contains(string(out), "10.79.0.1/24") {
		t.Errorf("ip addr inside the namespace: %s %v", out, err)
	}
	var (
		l   net.PacketConn
		c   net.Conn
		err error
	)
	b.Do(t, func() error { l, err = net.ListenPacket("udp4", "10.79.0.2:0"); return err })
	defer l.Close()
	a.Do(t, func() error { c, err = net.Dial("udp4", l.LocalAddr().String()); return err })
	defer c.Close()
	c.Write([]byte("hi\n"))
	l.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 16)
	n, from, err := l.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "hi\n" || !strings.HasPrefix(from.String(), "10.79.0.1:") {
		t.Fatalf("UDP across namespaces: %q from %v, %v", buf[:n], from, err)
	}
}

// TestIntegrationBird starts BIRD as a passive BGP peer and checks that it
// answers birdc and listens on its BGP port.
func TestIntegrationBird(t *testing.T) {
	Integration(t)
	b := StartBird(t, nil)
	if out := b.Birdc(t, "show", "protocols"); !strings.Contains(out, "gwd") || !strings.Contains(out, "BGP") {
		t.Errorf("show protocols:\n%s", out)
	}
	if out := b.Birdc(t, "show", "route"); !strings.Contains(out, "203.0.113.0/24") {
		t.Errorf("show route:\n%s", out)
	}
	c, err := net.DialTimeout("tcp", b.Endpoint(), 2*time.Second)
	if err != nil {
		t.Fatalf("BGP port: %v", err)
	}
	c.Close()
}

// TestIntegrationLibvirtd starts libvirtd and lists the test driver's
// running domain through its socket.
func TestIntegrationLibvirtd(t *testing.T) {
	Integration(t)
	l := StartLibvirtd(t)
	out := l.Virsh(t, "list", "--all")
	if !strings.Contains(out, "test") || !strings.Contains(out, "running") {
		t.Fatalf("virsh list:\n%s", out)
	}
}

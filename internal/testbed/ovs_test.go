package testbed

import (
	"net"
	"strings"
	"testing"
	"time"
)

// TestIntegrationOVSHarness starts OVS with the userspace datapath, adds a
// bridge with two namespace ports, pings and sends UDP across it, and
// restarts both daemons.
func TestIntegrationOVSHarness(t *testing.T) {
	Integration(t)
	o := StartOVS(t, true)
	o.AddBridge(t, "gwdbr0")
	o.AddNamespacePort(t, "gwdbr0", "gwdh1", "a", "10.77.0.1/24")
	o.AddNamespacePort(t, "gwdbr0", "gwdh2", "b", "10.77.0.2/24")
	o.Ping(t, "a", "10.77.0.2", 3)
	o.Ping(t, "b", "10.77.0.1", 3)
	if got := o.Vsctl(t, "list-ports", "gwdbr0"); got != "gwdh1\ngwdh2" {
		t.Errorf("list-ports = %q, want gwdh1 and gwdh2", got)
	}
	if ifindex := o.Vsctl(t, "get", "Interface", "gwdh1", "ifindex"); ifindex == "" || ifindex == "0" {
		t.Errorf("ifindex of gwdh1 = %q, want the kernel's", ifindex)
	}
	udp(t, o)

	o.RestartVswitchd(t)
	o.Ping(t, "a", "10.77.0.2", 5)
	o.RestartOVSDB(t)
	if got := o.Vsctl(t, "list-br"); got != "gwdbr0" {
		t.Errorf("after ovsdb-server restart, list-br = %q", got)
	}
	o.Ping(t, "b", "10.77.0.1", 5)
	if log := o.tail("ovs-vswitchd.log", 1000); strings.Contains(log, "|WARN|dpif") {
		t.Errorf("dpif warnings not silenced:\n%s", log)
	}
}

// udp sends a UDP datagram from namespace a to namespace b across the
// bridge (checksums must survive the userspace datapath).
func udp(t *testing.T, o *OVS) {
	t.Helper()
	var (
		l   net.PacketConn
		c   net.Conn
		err error
	)
	o.InNetns(t, "b", func() error { l, err = net.ListenPacket("udp4", "10.77.0.2:0"); return err })
	defer l.Close()
	o.InNetns(t, "a", func() error { c, err = net.Dial("udp4", l.LocalAddr().String()); return err })
	defer c.Close()
	buf := make([]byte, 64)
	l.SetReadDeadline(time.Now().Add(3 * time.Second))
	for range 3 {
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
	}
	n, from, err := l.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "hello" || !strings.HasPrefix(from.String(), "10.77.0.1:") {
		t.Fatalf("UDP across the bridge: %q from %v, %v", buf[:n], from, err)
	}
}

package testutil

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// Collector is a UDP socket on a free loopback port (127.0.0.1) that
// receives the datagrams of an agent under test. It is closed when the test
// ends.
type Collector struct {
	Conn *net.UDPConn
	Addr netip.AddrPort // where to send to
}

// NewCollector listens on 127.0.0.1 at a port the kernel picks.
func NewCollector(t testing.TB) *Collector {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &Collector{Conn: c, Addr: c.LocalAddr().(*net.UDPAddr).AddrPort()}
}

// Port is the collector's UDP port.
func (c *Collector) Port() int { return int(c.Addr.Port()) }

// Close closes the socket: datagrams sent to the port afterwards draw ICMP
// port unreachable (a dead collector).
func (c *Collector) Close() { c.Conn.Close() }

// Read returns the next datagram, or the read error (a timeout when none
// came within timeout).
func (c *Collector) Read(timeout time.Duration) ([]byte, error) {
	b := make([]byte, 65536)
	c.Conn.SetReadDeadline(time.Now().Add(timeout))
	n, err := c.Conn.Read(b)
	if err != nil {
		return nil, err
	}
	return b[:n], nil
}

// Next returns the next datagram, failing the test when none comes within
// timeout.
func (c *Collector) Next(t testing.TB, timeout time.Duration) []byte {
	t.Helper()
	b, err := c.Read(timeout)
	if err != nil {
		t.Fatalf("collector %v: no datagram within %v: %v", c.Addr, timeout, err)
	}
	return b
}

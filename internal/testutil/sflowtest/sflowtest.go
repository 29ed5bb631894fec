// Package sflowtest helps tests that read an agent's output: it decodes
// what a testutil.Collector receives. (It is apart from testutil so that
// the sflow package's own tests, which use testutil, do not import sflow
// twice.)
package sflowtest

import (
	"testing"
	"time"

	"gwd/internal/testutil"
	"gwd/sflow"
)

// Each decodes the datagrams c receives and hands each to fn until fn
// returns false or d has passed; it reports whether fn stopped it. A
// datagram that does not decode fails the test: an agent never sends one.
func Each(t testing.TB, c *testutil.Collector, d time.Duration, fn func(dg *sflow.Datagram) (more bool)) (stopped bool) {
	t.Helper()
	var dec sflow.Decoder
	b := make([]byte, 65536)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		c.Conn.SetReadDeadline(deadline)
		n, err := c.Conn.Read(b)
		if err != nil {
			return false
		}
		dg, err := dec.Decode(b[:n])
		if err != nil {
			t.Fatalf("collector %v: undecodable datagram: %v", c.Addr, err)
		}
		if !fn(dg) {
			return true
		}
	}
	return false
}

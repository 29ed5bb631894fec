package main

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"gwd/internal/testbed"
)

// newNetns is a network namespace of the testbed, without IPv6: an
// interface without its IPv4 address must have no address at all (no
// link-local fallback) for the "no usable address" case.
func newNetns(t *testing.T) *testbed.Netns {
	t.Helper()
	ns := testbed.NewNetns(t)
	ns.Exec(t, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	return ns
}

// datagram is what the test reads of `gwd decode --format json`.
type datagram struct {
	agent   string
	seq     uint32
	sources map[string]bool
}

func toDatagram(m map[string]any) datagram {
	d := datagram{sources: map[string]bool{}}
	d.agent, _ = m["agent"].(string)
	if f, ok := m["sequence_number"].(float64); ok {
		d.seq = uint32(f)
	}
	samples, _ := m["samples"].([]any)
	for _, s := range samples {
		sm, _ := s.(map[string]any)
		t, _ := sm["source_id_type"].(float64)
		i, _ := sm["source_id_index"].(float64)
		d.sources[fmt.Sprintf("%d:%d", int(t), int(i))] = true
	}
	return d
}

// waitFor reads datagrams until ok says yes, failing after timeout.
func waitFor(t *testing.T, ch <-chan map[string]any, timeout time.Duration, what string, ok func(datagram) bool) datagram {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m, open := <-ch:
			if !open {
				t.Fatalf("decoder stopped while waiting for %s", what)
			}
			if d := toDatagram(m); ok(d) {
				return d
			}
		case <-deadline:
			t.Fatalf("no datagram with %s within %v", what, timeout)
		}
	}
}

// TestIntegrationInterfacesAndAddressChange runs gwd inside a network
// namespace of the test's own: interfaces deleted and re-created while it
// runs come and go as data sources, and removing the agent address stops
// the export until the address is back, with no jump in sequence numbers.
func TestIntegrationInterfacesAndAddressChange(t *testing.T) {
	testbed.Integration(t)
	bin := gwdBinary(t)
	ns := newNetns(t)
	ns.Veth(t, "gwa0", "gwa1")
	ns.IP(t, "addr", "add", "10.77.0.1/24", "dev", "gwa0")
	ns.Veth(t, "gwb0", "gwb1")
	b0 := ns.IfIndex(t, "gwb0")

	cfg := writeFile(t, t.TempDir(), "gwd.yaml", `polling: 1s
agent:
  interface: gwa0
host:
  interfaces:
    include: "^gw[ab]"
collectors:
  - address: 127.0.0.1
    port: 6343
`)
	ch := startDecoder(t, "ip", "netns", "exec", ns.Name, bin, "decode", "-b", "127.0.0.1", "-p", "6343", "--format", "json")
	time.Sleep(300 * time.Millisecond) // let the decoder bind before gwd sends
	p := start(t, "ip", "netns", "exec", ns.Name, bin, "run", "--config", cfg)

	both := "0:" + strconv.Itoa(int(b0))
	first := waitFor(t, ch, 15*time.Second, "gwb0's counters", func(d datagram) bool { return d.sources[both] })
	if first.agent != "10.77.0.1" {
		t.Fatalf("agent address %q, want 10.77.0.1 (gwa0's)\n%s", first.agent, p.output())
	}

	// Delete gwb0 (and its peer): its data source disappears.
	ns.IP(t, "link", "del", "gwb0")
	gone := time.Now()
	waitFor(t, ch, 15*time.Second, "gwb0 gone", func(d datagram) bool {
		return !d.sources[both] && time.Since(gone) > 2*time.Second
	})
	// Re-create it: it comes back under its new ifIndex.
	ns.Veth(t, "gwb0", "gwb1")
	again := "0:" + strconv.Itoa(int(ns.IfIndex(t, "gwb0")))
	last := waitFor(t, ch, 15*time.Second, "re-created gwb0", func(d datagram) bool { return d.sources[again] })

	// Remove the agent address: nothing is sent while gwa0 has none.
	ns.IP(t, "addr", "del", "10.77.0.1/24", "dev", "gwa0")
	removed := time.Now()
	quietUntil := removed.Add(6 * time.Second)
	for wait := time.Until(quietUntil); wait > 0; wait = time.Until(quietUntil) {
		select {
		case m := <-ch:
			d := toDatagram(m)
			// Datagrams already on their way may still arrive; after a
			// grace period nothing may come while there is no address.
			if time.Since(removed) > 3*time.Second {
				t.Fatalf("datagram %+v sent %v after the agent address was removed\n%s", d, time.Since(removed), p.output())
			}
			last = d
		case <-time.After(wait):
		}
	}
	if !strings.Contains(p.output(), "no usable agent address") {
		t.Errorf("the missing address was not logged:\n%s", p.output())
	}
	ns.IP(t, "addr", "add", "10.77.0.1/24", "dev", "gwa0")
	back := waitFor(t, ch, 15*time.Second, "the address back", func(d datagram) bool { return d.agent == "10.77.0.1" })
	if back.seq != last.seq+1 {
		t.Errorf("datagram sequence went %d -> %d across the address change, want +1", last.seq, back.seq)
	}
}

// startDecoder runs `gwd decode --format json` (as args) and streams its
// datagrams; it is stopped when the test ends.
func startDecoder(t *testing.T, name string, args ...string) <-chan map[string]any {
	t.Helper()
	cmd := exec.Command(name, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	ch := make(chan map[string]any, 1024)
	go jsonLines(out, ch)
	return ch
}

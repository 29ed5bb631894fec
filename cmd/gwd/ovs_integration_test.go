package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"gwd/internal/testbed"
	"gwd/internal/testutil"
	"gwd/internal/testutil/sflowtest"
	"gwd/sflow"
)

// seenSample is what the OVS tests keep of a sample (the decoder reuses its
// memory).
type seenSample struct {
	tag         sflow.Tag
	src         string
	seq, pool   uint32
	input, out  uint32
	records     map[string]int
	icmp        bool
	datagramSeq uint32
	agent       netip.Addr
}

// gather decodes what c receives for d and returns the samples.
func gather(t *testing.T, c *testutil.Collector, d time.Duration) []seenSample {
	t.Helper()
	var out []seenSample
	sflowtest.Each(t, c, d, func(dg *sflow.Datagram) bool {
		seen := map[string]bool{}
		for _, s := range dg.Samples {
			key := fmt.Sprintf("%s/%d:%d", s.Tag, s.SourceIDType, s.SourceIDIndex)
			counters := s.Tag == sflow.SampleCounters || s.Tag == sflow.SampleCountersExpanded
			if counters && seen[key] {
				t.Errorf("datagram %d carries two %s samples", dg.SequenceNumber, key)
			}
			seen[key] = true
			ss := seenSample{tag: s.Tag, src: fmt.Sprintf("%d:%d", s.SourceIDType, s.SourceIDIndex), seq: s.SequenceNumber,
				pool: s.SamplePool, input: s.Input.Value, out: s.Output.Value, records: map[string]int{},
				datagramSeq: dg.SequenceNumber, agent: dg.AgentAddress}
			for _, r := range s.Records {
				ss.records[sflow.RecordName(r)]++
				if h, ok := r.(*sflow.SampledHeader); ok && len(h.Header) > 23 && h.Header[12] == 8 && h.Header[13] == 0 && h.Header[23] == 1 {
					ss.icmp = true
				}
			}
			out = append(out, ss)
		}
		return true
	})
	return out
}

func ifIndexOf(t *testing.T, name string) uint32 {
	t.Helper()
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(ifc.Index)
}

func ovsConfig(t *testing.T, o *testbed.OVS, port int, extra string) string {
	return writeFile(t, t.TempDir(), "gwd.yaml", fmt.Sprintf(`polling: 1s
sampling:
  rate: 1
  bps_ratio: 0
host:
  interfaces:
    include: "^gwv"
modules:
  ovs:
    enabled: true
    ovsdb: %s
collectors:
  - address: 127.0.0.1
    port: %d
%s`, o.Endpoint(), port, extra))
}

// TestIntegrationOVS: with a real ovsdb-server and ovs-vswitchd, gwd
// programs one sFlow row on the bridge and relays OVS's samples under its
// own identity, merged with its interface counters; bridges come and go at
// run time; restarts of vswitchd, ovsdb-server and gwd keep everything
// monotonic and leave one row.
func TestIntegrationOVS(t *testing.T) {
	testbed.Integration(t)
	bin := gwdBinary(t)
	o := testbed.StartOVS(t, true)
	o.AddBridge(t, "br0")
	o.AddNamespacePort(t, "br0", "gwva", "nsa", "10.91.0.1/24")
	o.AddNamespacePort(t, "br0", "gwvb", "nsb", "10.91.0.2/24")
	va, vb := ifIndexOf(t, "gwva"), ifIndexOf(t, "gwvb")
	c := testutil.NewCollector(t)
	cfg := ovsConfig(t, o, c.Port(), "")
	p := start(t, bin, "run", "--config", cfg)

	// The row: one, owned by gwd, pointing at its intake, on br0.
	waitRow := func(what string) string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if ref := strings.TrimSpace(o.Vsctl(t, "get", "bridge", "br0", "sflow")); ref != "[]" {
				return ref
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("%s: br0 has no sFlow row\n%s", what, p.output())
		return ""
	}
	row := waitRow("start")
	list := o.Vsctl(t, "--columns=_uuid,targets,sampling,polling,header,external_ids", "list", "sflow")
	if n := strings.Count(list, "_uuid"); n != 1 {
		t.Fatalf("%d sFlow rows:\n%s", n, list)
	}
	for _, want := range []string{`targets\s*: \["127\.0\.0\.1:\d+"\]`, `sampling\s*: 1\n`, `polling\s*: 1\n`, `header\s*: 128\n`, `external_ids\s*: \{[^}]*gwd-owner=gwd[^}]*\}`, `gwd-pid="\d+"`} {
		if !regexp.MustCompile(want).MatchString(list) {
			t.Errorf("sFlow row does not match %s:\n%s", want, list)
		}
	}

	o.Ping(t, "nsa", "10.91.0.2", 5)
	samples := gather(t, c, 4*time.Second)
	var flows, icmp int
	portSamples := map[string]int{}
	lastSeq := map[string]uint32{}
	var bridgeSrc string
	for _, s := range samples {
		if s.agent == netip.MustParseAddr("127.0.0.1") || !s.agent.IsValid() {
			t.Fatalf("sample relayed under agent %v, not the box's address", s.agent)
		}
		key := s.tag.String() + "/" + s.src
		if prev, ok := lastSeq[key]; ok && s.seq != prev+1 {
			t.Errorf("%s sequence %d after %d", key, s.seq, prev)
		}
		lastSeq[key] = s.seq
		switch s.tag {
		case sflow.SampleFlow, sflow.SampleFlowExpanded:
			flows++
			bridgeSrc = s.src
			if s.icmp {
				icmp++
				if !(s.input == va && s.out == vb || s.input == vb && s.out == va) {
					t.Errorf("ICMP flow sample in/out %d/%d, want the veths %d/%d", s.input, s.out, va, vb)
				}
			}
		case sflow.SampleCounters, sflow.SampleCountersExpanded:
			if s.src == fmt.Sprintf("0:%d", va) || s.src == fmt.Sprintf("0:%d", vb) {
				// gwd's own counters come first; once OVS has sent its
				// counters for the port they are merged in: one sample
				// with OVS's of_port and one record of each type.
				if s.records["of_port"] == 1 {
					portSamples[s.src]++
				}
				if s.records["if_counters"] != 1 || s.records["port_name"] != 1 {
					t.Errorf("port sample %s records %v: want one if_counters and one port_name", s.src, s.records)
				}
			}
		}
	}
	if icmp < 5 || !strings.HasPrefix(bridgeSrc, "2:1") {
		t.Fatalf("%d flow samples, %d ICMP, bridge source %q\n%s", flows, icmp, bridgeSrc, p.output())
	}
	if len(portSamples) != 2 {
		t.Fatalf("merged OVS port counters for %v, want both veths\n%s", portSamples, p.output())
	}

	// A bridge added at run time is attached within a second.
	o.AddBridge(t, "br1")
	added := time.Now()
	for strings.TrimSpace(o.Vsctl(t, "get", "bridge", "br1", "sflow")) == "[]" {
		if time.Since(added) > 10*time.Second {
			t.Fatalf("br1 not attached after 10s\n%s", p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("br1 attached %v after add-br (ovs-vsctl round trips included)", time.Since(added))
	if ref := strings.TrimSpace(o.Vsctl(t, "get", "bridge", "br1", "sflow")); ref != row {
		t.Errorf("br1 got row %s, br0 has %s: want one shared row", ref, row)
	}
	// ...and relayed: its internal port's OVS counters arrive; once the
	// bridge is deleted they stop.
	br1 := fmt.Sprintf("0:%d", ifIndexOf(t, "br1"))
	relayed := func(ss []seenSample) bool {
		for _, s := range ss {
			if s.src == br1 && s.records["of_port"] == 1 {
				return true
			}
		}
		return false
	}
	if !relayed(gather(t, c, 4*time.Second)) {
		t.Fatalf("no OVS counters relayed for br1 (%s)\n%s", br1, p.output())
	}
	// Judge only what gwd sent once it had applied the deletion: it logs
	// that after unregistering br1's data sources, and every datagram
	// sent before is in the collector's queue by then (loopback delivery
	// is synchronous), so draining the queue leaves only later ones.
	o.Vsctl(t, "del-br", "br1")
	gone := regexp.MustCompile(`no longer relayed.*bridges=\S*br1`)
	deadline := time.Now().Add(10 * time.Second)
	for !gone.MatchString(p.output()) {
		if time.Now().After(deadline) {
			t.Fatalf("gwd did not stop relaying br1 within 10 s of del-br\n%s", p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	drain(c)
	if relayed(gather(t, c, 3*time.Second)) {
		t.Errorf("br1's counters still relayed after del-br")
	}

	// Restarting vswitchd restarts OVS's sequence numbers and pools; gwd's
	// stay monotonic.
	before := maxPool(samples)
	o.RestartVswitchd(t)
	waitRow("vswitchd restart")
	o.Ping(t, "nsa", "10.91.0.2", 3)
	after := gather(t, c, 4*time.Second)
	checkMonotonic(t, lastSeq, after)
	if p2 := minFlowPool(after); p2 != 0 && p2 <= before {
		t.Errorf("sample_pool went back from %d to %d across the vswitchd restart", before, p2)
	}

	// Restarting ovsdb-server: reconverged, still one row.
	o.RestartOVSDB(t)
	time.Sleep(3 * time.Second)
	waitRow("ovsdb-server restart")
	if n := strings.Count(o.Vsctl(t, "--columns=_uuid", "list", "sflow"), "_uuid"); n != 1 {
		t.Errorf("%d sFlow rows after the ovsdb-server restart", n)
	}

	// kill -9 and a new gwd: the row is found and reused.
	row = waitRow("before kill")
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p2 := start(t, bin, "run", "--config", cfg)
	// Connected to OVSDB (not a fixed sleep: on a loaded machine gwd may
	// take longer, and a stop before it connects cannot remove the row).
	waitOutput(t, p2, "ovsdb connected", 20*time.Second)
	if got := waitRow("after kill -9"); got != row {
		t.Errorf("row %s after restart, was %s\n%s", got, row, p2.output())
	}
	if n := strings.Count(o.Vsctl(t, "--columns=_uuid", "list", "sflow"), "_uuid"); n != 1 {
		t.Errorf("%d sFlow rows after kill -9 and restart", n)
	}
	// A clean stop removes the row.
	p2.stop(t)
	if ref := strings.TrimSpace(o.Vsctl(t, "get", "bridge", "br0", "sflow")); ref != "[]" {
		t.Errorf("row still attached after a clean stop: %s\n%s", ref, p2.output())
	}
}

func maxPool(ss []seenSample) uint32 {
	m := uint32(0)
	for _, s := range ss {
		if s.tag == sflow.SampleFlow && s.pool > m {
			m = s.pool
		}
	}
	return m
}

func minFlowPool(ss []seenSample) uint32 {
	m := uint32(0)
	for _, s := range ss {
		if s.tag == sflow.SampleFlow && (m == 0 || s.pool < m) {
			m = s.pool
		}
	}
	return m
}

// checkMonotonic: every sequence continues from where it was.
func checkMonotonic(t *testing.T, last map[string]uint32, ss []seenSample) {
	t.Helper()
	for _, s := range ss {
		key := s.tag.String() + "/" + s.src
		if prev, ok := last[key]; ok && s.seq <= prev {
			t.Errorf("%s sequence went back from %d to %d", key, prev, s.seq)
		}
		last[key] = s.seq
	}
}

// TestIntegrationOVSDBMissing: with enabled: auto, an OVSDB that does not
// exist is said once, naming the socket, and gwd keeps exporting host
// counters; with enabled: true it is an error at start-up (exit 1) that
// names the module and the socket.
func TestIntegrationOVSDBMissing(t *testing.T) {
	testbed.Integration(t)
	bin := gwdBinary(t)
	c := testutil.NewCollector(t)
	sock := filepath.Join(t.TempDir(), "nope.sock")
	conf := func(mode string) string {
		return writeFile(t, t.TempDir(), "gwd.yaml", fmt.Sprintf(`polling: 1s
modules:
  ovs:
    enabled: %s
    ovsdb: unix:%s
collectors:
  - address: 127.0.0.1
    port: %d
`, mode, sock, c.Port()))
	}
	p := start(t, bin, "run", "--config", conf("auto"))
	var d sflow.Decoder
	host := 0
	for i := 0; i < 4; i++ {
		dg, err := d.Decode(c.Next(t, 10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range dg.Samples {
			if s.SourceIDType == 2 && s.SourceIDIndex == 1 {
				host++
			}
		}
	}
	if host < 2 {
		t.Errorf("host samples %d while OVSDB is missing", host)
	}
	out := p.output()
	if strings.Count(out, "module not started") < 1 || !strings.Contains(out, sock) || !strings.Contains(out, "module=ovs") {
		t.Errorf("auto: no line naming the module and the OVSDB socket:\n%s", out)
	}
	p.stop(t)

	q := start(t, bin, "run", "--config", conf("true"))
	select {
	case <-q.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("enabled: true with no OVSDB did not exit:\n%s", q.output())
	}
	var exit *exec.ExitError
	if !errors.As(q.status, &exit) || exit.ExitCode() != 1 {
		t.Errorf("exit status %v, want 1", q.status)
	}
	want := "gwd run: module ovs: enabled: true, but not present on this box: OVSDB socket: stat " + sock
	if out := q.output(); !strings.Contains(out, want) {
		t.Errorf("enabled: true: want %q in:\n%s", want, out)
	}
	if _, err := os.Stat(sock); err == nil {
		t.Error("socket appeared")
	}
}

// drain discards the datagrams waiting in the collector's queue (a read
// whose deadline has passed already would not look at the queue: the
// deadline is a little ahead; what arrives meanwhile goes too).
func drain(c *testutil.Collector) {
	b := make([]byte, 65536)
	for {
		c.Conn.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		if _, err := c.Conn.Read(b); err != nil {
			return
		}
	}
}

// waitOutput waits until p's output contains s, failing after d.
func waitOutput(t *testing.T, p *proc, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(p.output(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in gwd's output within %v\n%s", s, d, p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

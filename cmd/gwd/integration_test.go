package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gwd/internal/testbed"
	"gwd/internal/testutil"
	"gwd/sflow"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// gwdBinary builds cmd/gwd once per test run and returns its path.
func gwdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gwd-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "gwd")
		out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// proc is a started command whose stdout and stderr are captured.
type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	done   chan struct{}
	status error
}

type lockedWriter struct {
	p *proc
}

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.out.Write(b)
}

// start runs name args..., stopping it (by PID) when the test ends.
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	if gwdRun := slices.Index(args, "run"); gwdRun >= 0 && (gwdRun == 0 || strings.HasSuffix(args[gwdRun-1], "gwd")) && !slices.Contains(args, "--run-dir") {
		args = append(args, "--run-dir", t.TempDir()) // tests run side by side
	}
	p := &proc{cmd: exec.Command(name, args...), done: make(chan struct{})}
	p.cmd.Stdout = lockedWriter{p}
	p.cmd.Stderr = lockedWriter{p}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.status = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *proc) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// hostRecords are the records gwd's host sample must carry.
var hostRecords = []sflow.Tag{sflow.TagHostDescr, sflow.TagHostAdapters, sflow.TagHostCPU, sflow.TagHostMemory,
	sflow.TagHostDiskIO, sflow.TagHostNetIO, sflow.TagMIB2IPGroup, sflow.TagMIB2ICMPGroup, sflow.TagMIB2TCPGroup, sflow.TagMIB2UDPGroup}

// TestIntegrationAgentExports runs the built binary with a config file and
// three collectors, one of them unreachable, and checks what arrives.
func TestIntegrationAgentExports(t *testing.T) {
	testbed.Integration(t)
	bin := gwdBinary(t)
	c1, c2, dead := testutil.NewCollector(t), testutil.NewCollector(t), testutil.NewCollector(t)
	dead.Close() // a closed port: ICMP port unreachable
	dir := t.TempDir()
	cfg := writeFile(t, dir, "gwd.yaml", fmt.Sprintf(`polling: 1s
collectors:
  - address: 127.0.0.1
    port: %d
  - address: 127.0.0.1
    port: %d
  - address: 127.0.0.1
    port: %d
`, dead.Port(), c1.Port(), c2.Port()))
	p := start(t, bin, "run", "--config", cfg)

	var d1, d2 sflow.Decoder
	hostname, _ := os.ReadFile("/proc/sys/kernel/hostname")
	lastDg := uint32(0)
	lastSample := map[[2]uint32]uint32{}
	sawHost := 0
	for i := 0; i < 6; i++ {
		b1 := c1.Next(t, 10*time.Second)
		b2 := c2.Next(t, 10*time.Second)
		if !bytes.Equal(b1, b2) {
			t.Fatalf("datagram %d differs between the two collectors", i)
		}
		dg, err := d1.Decode(b1)
		if err != nil {
			t.Fatalf("datagram %d: %v\n%s", i, err, p.output())
		}
		if _, err := d2.Decode(b2); err != nil {
			t.Fatal(err)
		}
		checkGoflow2(t, b1, dg)
		if lastDg != 0 && dg.SequenceNumber != lastDg+1 {
			t.Errorf("datagram sequence jumped %d -> %d", lastDg, dg.SequenceNumber)
		}
		lastDg = dg.SequenceNumber
		if !dg.AgentAddress.IsValid() {
			t.Errorf("no agent address")
		}
		for _, s := range dg.Samples {
			key := [2]uint32{s.SourceIDType, s.SourceIDIndex}
			if prev, ok := lastSample[key]; ok && s.SequenceNumber != prev+1 {
				t.Errorf("source %d:%d sample sequence jumped %d -> %d", key[0], key[1], prev, s.SequenceNumber)
			}
			lastSample[key] = s.SequenceNumber
			if key == [2]uint32{2, 1} {
				sawHost++
				checkHostSample(t, &s, strings.TrimSpace(string(hostname)))
			}
		}
	}
	if sawHost < 3 {
		t.Errorf("host sample seen %d times in 6 datagrams at polling 1s", sawHost)
	}
	out := p.output()
	for _, want := range []string{"agent address", "data sources", "collectors      3"} {
		if !strings.Contains(out, want) {
			t.Errorf("startup summary lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "collector unreachable"); n != 1 {
		t.Errorf("unreachable collector logged %d times, want once:\n%s", n, out)
	}
}

func checkHostSample(t *testing.T, s *sflow.Sample, hostname string) {
	t.Helper()
	got := map[sflow.Tag]sflow.Record{}
	for _, r := range s.Records {
		got[r.Tag()] = r
	}
	for _, tag := range hostRecords {
		if got[tag] == nil {
			t.Errorf("host sample lacks record %s", tag)
		}
	}
	if r, ok := got[sflow.TagHostDescr].(*sflow.HostDescr); ok {
		if string(r.Hostname) != hostname || r.UUID == [16]byte{} || r.OSName != 2 {
			t.Errorf("host_descr: hostname %q (want %q) uuid %x os %d", r.Hostname, hostname, r.UUID, r.OSName)
		}
	}
	if r, ok := got[sflow.TagHostCPU].(*sflow.HostCPU); ok && (r.CPUNum == 0 || r.ProcTotal == 0 || r.Uptime == 0) {
		t.Errorf("host_cpu implausible: %+v", r)
	}
	if r, ok := got[sflow.TagHostMemory].(*sflow.HostMemory); ok && (r.MemTotal == 0 || r.MemFree > r.MemTotal) {
		t.Errorf("host_memory implausible: %+v", r)
	}
	if r, ok := got[sflow.TagMIB2IPGroup].(*sflow.MIB2IPGroup); ok && r.DefaultTTL == 0 {
		t.Errorf("mib2_ip_group implausible: %+v", r)
	}
}

// TestIntegrationSighupBrokenConfig: a broken file on SIGHUP keeps the
// running configuration, says why, and the export goes on.
func TestIntegrationSighupBrokenConfig(t *testing.T) {
	testbed.Integration(t)
	bin := gwdBinary(t)
	c := testutil.NewCollector(t)
	dir := t.TempDir()
	cfg := writeFile(t, dir, "gwd.yaml", fmt.Sprintf("polling: 1s\ncollectors:\n  - address: 127.0.0.1\n    port: %d\n", c.Port()))
	p := start(t, bin, "run", "--config", cfg)
	c.Next(t, 10*time.Second)
	writeFile(t, dir, "gwd.yaml", "polling: 1s\ncollectors:\n  - adress: 127.0.0.1\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.output(), "reload failed") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if out := p.output(); !strings.Contains(out, "reload failed") || !strings.Contains(out, "gwd.yaml:3") {
		t.Fatalf("no reload error naming the line:\n%s", out)
	}
	var d sflow.Decoder
	seq := uint32(0)
	for i := 0; i < 3; i++ {
		dg, err := d.Decode(c.Next(t, 10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if seq != 0 && dg.SequenceNumber != seq+1 {
			t.Errorf("sequence jumped after the failed reload: %d -> %d", seq, dg.SequenceNumber)
		}
		seq = dg.SequenceNumber
	}
	select {
	case <-p.done:
		t.Fatalf("gwd exited after a bad reload:\n%s", p.output())
	default:
	}
}

// jsonLines reads `gwd decode --format json` output as it arrives.
func jsonLines(r io.Reader, ch chan<- map[string]any) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			ch <- m
		}
	}
	close(ch)
}

// TestIntegrationHsflowdConf: a user switching from hsflowd keeps their
// file: `gwd run --config hsflowd.conf` sends to its collector at its
// polling interval, with its sub-agent id, and reports the module blocks
// gwd does not have instead of failing.
func TestIntegrationHsflowdConf(t *testing.T) {
	testbed.Integration(t)
	bin := gwdBinary(t)
	c := testutil.NewCollector(t)
	cfg := writeFile(t, t.TempDir(), "hsflowd.conf", fmt.Sprintf(`# hsflowd configuration
sflow {
  polling = 1
  sampling = 400
  subAgentId = 7
  collector { ip = 127.0.0.1 udpport = %d }
  xen { }
}
`, c.Port()))
	p := start(t, bin, "run", "--config", cfg)
	var d sflow.Decoder
	dg, err := d.Decode(c.Next(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if dg.SubAgentID != 7 {
		t.Errorf("sub-agent %d, want hsflowd.conf's 7", dg.SubAgentID)
	}
	first := dg.SequenceNumber
	dg2, err := d.Decode(c.Next(t, 5*time.Second))
	if err != nil || dg2.SequenceNumber != first+1 {
		t.Fatalf("second datagram: %v seq %d after %d", err, dg2.SequenceNumber, first)
	}
	if out := p.output(); !strings.Contains(out, "xen") {
		t.Errorf("the unknown xen block was not reported:\n%s", out)
	}
}

// TestIntegrationSighupReload: a good new file takes effect on SIGHUP (here
// a new collector) and the datagram sequence carries on.
func TestIntegrationSighupReload(t *testing.T) {
	testbed.Integration(t)
	bin := gwdBinary(t)
	c1, c2 := testutil.NewCollector(t), testutil.NewCollector(t)
	dir := t.TempDir()
	cfg := writeFile(t, dir, "gwd.yaml", fmt.Sprintf("polling: 1s\ncollectors:\n  - address: 127.0.0.1\n    port: %d\n", c1.Port()))
	p := start(t, bin, "run", "--config", cfg)
	var d sflow.Decoder
	dg, err := d.Decode(c1.Next(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	before := dg.SequenceNumber
	writeFile(t, dir, "gwd.yaml", fmt.Sprintf("polling: 1s\ncollectors:\n  - address: 127.0.0.1\n    port: %d\nhost:\n  interfaces:\n    exclude: nothing\n", c2.Port()))
	p.cmd.Process.Signal(syscall.SIGHUP)
	dg, err = d.Decode(c2.Next(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if dg.SequenceNumber <= before {
		t.Errorf("sequence %d after reload, was %d", dg.SequenceNumber, before)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.output(), "need a restart") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if out := p.output(); !strings.Contains(out, "configuration reloaded") || !strings.Contains(out, "module=host") {
		t.Errorf("reload not reported, or the host change not flagged:\n%s", out)
	}
}

// TestIntegrationSecondInstance: a second gwd run on the same run
// directory refuses to start, naming the first one, and the first keeps
// exporting with its sequence going on.
func TestIntegrationSecondInstance(t *testing.T) {
	testbed.Integration(t)
	bin := gwdBinary(t)
	c := testutil.NewCollector(t)
	dir := t.TempDir()
	cfg := writeFile(t, dir, "gwd.yaml", fmt.Sprintf("polling: 1s\ncollectors: [\"127.0.0.1:%d\"]\n", c.Port()))
	first := start(t, bin, "run", "--config", cfg, "--run-dir", dir)
	var d sflow.Decoder
	dg, err := d.Decode(c.Next(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	before := dg.SequenceNumber
	second := start(t, bin, "run", "--config", cfg, "--run-dir", dir)
	select {
	case <-second.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("the second gwd did not exit:\n%s", second.output())
	}
	want := fmt.Sprintf("gwd run: another gwd is already running (pid %d", first.cmd.Process.Pid)
	if out := second.output(); !strings.Contains(out, want) {
		t.Errorf("second gwd: want %q in:\n%s", want, out)
	}
	if second.status == nil {
		t.Error("the second gwd exited 0")
	}
	dg, err = d.Decode(c.Next(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if dg.SequenceNumber <= before {
		t.Errorf("first gwd's sequence went %d -> %d", before, dg.SequenceNumber)
	}
}

package containers

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"gwd/agent"
	"gwd/config"
	"gwd/internal/app"
	"gwd/internal/testbed"
	"gwd/internal/testutil"
	"gwd/sflow"
)

// startSleep starts cmd (a sleep), moves it into cgroup dir and kills it
// by PID when the test ends (before the cgroup is removed).
func startSleep(t *testing.T, cg *testbed.Cgroup2, dir string, cmd *exec.Cmd) int {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	cg.Move(t, dir, pid)
	return pid
}

// readNum reads a cgroup file's number (ok false: absent or "max").
func readNum(dir, file, key string) (uint64, bool) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0, false
	}
	if key != "" {
		return keyValue(b, key)
	}
	v, limited, err := parseMemValue(b)
	return v, err == nil && limited
}

// TestIntegrationRealCgroup runs the docker module on this machine's real
// cgroup v2 hierarchy: a private subtree shaped like docker's systemd
// layout holds two sleeps, one in the host's network namespace (after a
// busy loop) and one in
// a namespace of the test's own whose veth carried pings to another. The
// samples must carry the kernel's own values.
func TestIntegrationRealCgroup(t *testing.T) {
	testbed.Integration(t)
	cg := testbed.NewCgroup2(t)
	ns, peer := testbed.NewNetns(t), testbed.NewNetns(t)
	for _, n := range []*testbed.Netns{ns, peer} { // no IPv6 chatter on the veth
		n.Exec(t, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	}
	ns.VethTo(t, "ga", peer, "gb")
	ns.IP(t, "addr", "add", "10.251.0.1/24", "dev", "ga")
	peer.IP(t, "addr", "add", "10.251.0.2/24", "dev", "gb")

	idHost, idNS := repeat("7e"), repeat("8f")
	dirHost := cg.Mkdir(t, "system.slice/docker-"+idHost+".scope")
	dirNS := cg.Mkdir(t, "system.slice/docker-"+idNS+".scope")
	// This one burns some CPU first (inside its cgroup), then sleeps.
	startSleep(t, cg, dirHost, exec.Command("sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; exec sleep 60"))
	pidNS := startSleep(t, cg, dirNS, ns.Command("sleep", "60"))
	hostNet, _ := os.Readlink("/proc/self/ns/net")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pidNS)); l != "" && l != hostNet {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the namespaced sleep never entered its namespace")
		}
	}
	ns.Exec(t, "ping", "-q", "-c", "3", "-i", "0.2", "-I", "ga", "10.251.0.2")

	col := testutil.NewCollector(t)
	a, err := agent.New(agent.Config{Polling: time.Second, Address: agent.AddressConfig{IP: netip.MustParseAddr("192.0.2.7")},
		Collectors: []agent.CollectorConfig{{Addr: col.Addr}}}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf("modules:\n  docker: {enabled: true, cgroup_root: %s, docker_root: \"\", refresh: 1s}\n", cg.Root)
	cfg, err := config.Parse("x.yaml", []byte(yaml), DockerModule{}.Section())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go a.Run(ctx)
	inst, err := DockerModule{}.Start(ctx, app.Env{Agent: a, Log: slog.New(slog.DiscardHandler), Config: cfg})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	defer func() { cancel(); inst.Wait() }()

	dsHost, _ := a.ClaimEntity(idHost)
	dsNS, _ := a.ClaimEntity(idNS)
	before := map[string]uint64{}
	for _, d := range []string{dirHost, dirNS} {
		before[d], _ = readNum(d, "cpu.stat", "usage_usec")
	}
	got := samplesOf(t, col, func(m map[agent.DataSource]sflow.Sample) bool {
		_, ok1 := m[dsHost]
		_, ok2 := m[dsNS]
		return ok1 && ok2
	})
	host := NewWatcher(Config{ProcRoot: "/proc"}, nil, nil).host.Load()
	for _, c := range []struct {
		dir string
		ds  agent.DataSource
		net bool
	}{{dirHost, dsHost, false}, {dirNS, dsNS, true}} {
		s := got[c.ds]
		recs := map[sflow.Tag]sflow.Record{}
		for _, r := range s.Records {
			recs[r.Tag()] = r
		}
		cpu, _ := recs[sflow.TagVirtCPU].(*sflow.VirtCPU)
		mem, _ := recs[sflow.TagVirtMemory].(*sflow.VirtMemory)
		if cpu == nil || mem == nil {
			t.Fatalf("%s: records %v", c.dir, s.Records)
		}
		after, _ := readNum(c.dir, "cpu.stat", "usage_usec")
		if c.dir == dirHost && after < 10000 {
			t.Errorf("%s: usage_usec %d: the busy loop did not run inside the cgroup", c.dir, after)
		}
		if ms := uint64(cpu.CPUTime); ms < before[c.dir]/1000 || ms > after/1000 || cpu.State != stateRunning {
			t.Errorf("%s: virt_cpu %+v; cpu.stat usage_usec %d..%d", c.dir, *cpu, before[c.dir], after)
		}
		if n, ok := readNum(c.dir, "cpu.max", ""); !ok && cpu.NrVirtCPU != host.cpus {
			t.Errorf("%s: nr_vcpu %d, want the host's %d (quota %d)", c.dir, cpu.NrVirtCPU, host.cpus, n)
		}
		if cur, ok := readNum(c.dir, "memory.current", ""); ok {
			if mem.Memory == 0 || mem.Memory > 2*cur+1<<20 || 2*mem.Memory+1<<20 < cur {
				t.Errorf("%s: memory %d, memory.current now %d", c.dir, mem.Memory, cur)
			}
		} else {
			t.Logf("no memory controller in %s (hybrid host): memory is 0", cg.Mount)
			if mem.Memory != 0 {
				t.Errorf("%s: memory %d without memory.current", c.dir, mem.Memory)
			}
		}
		if lim, ok := readNum(c.dir, "memory.max", ""); ok && mem.MaxMemory != lim || !ok && mem.MaxMemory != host.memory {
			t.Errorf("%s: max memory %d, host %d", c.dir, mem.MaxMemory, host.memory)
		}
		nio, has := recs[sflow.TagVirtNetIO].(*sflow.VirtNetIO)
		if has != c.net {
			t.Errorf("%s: virt_net_io present %v, want %v", c.dir, has, c.net)
		}
		if has {
			rx, tx := ipLinkStats(t, ns)
			if nio.RxBytes != rx || nio.TxBytes != tx || nio.RxPackets < 3 || nio.TxPackets < 3 {
				t.Errorf("virt_net_io %+v; ip -s link in the namespace: rx %d tx %d bytes", *nio, rx, tx)
			}
		}
	}
}

// ipLinkStats sums rx and tx bytes of the namespace's interfaces but lo,
// as `ip -j -s link` reports them.
func ipLinkStats(t *testing.T, ns *testbed.Netns) (rx, tx uint64) {
	var links []struct {
		Ifname string `json:"ifname"`
		Stats  struct {
			RX struct{ Bytes uint64 } `json:"rx"`
			TX struct{ Bytes uint64 } `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal([]byte(ns.IP(t, "-j", "-s", "link")), &links); err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if l.Ifname != "lo" {
			rx += l.Stats.RX.Bytes
			tx += l.Stats.TX.Bytes
		}
	}
	return rx, tx
}

package containers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gwd/agent"
	"gwd/config"
	"gwd/internal/app"
	"gwd/internal/testutil"
	"gwd/sflow"
)

// samplesOf reads datagrams until want says it has what it needs (or 15 s
// pass), and returns the last counter sample seen of each data source.
func samplesOf(t *testing.T, c *testutil.Collector, want func(map[agent.DataSource]sflow.Sample) bool) map[agent.DataSource]sflow.Sample {
	t.Helper()
	got := map[agent.DataSource]sflow.Sample{}
	var d sflow.Decoder
	deadline := time.Now().Add(15 * time.Second)
	for !want(got) {
		if time.Now().After(deadline) {
			t.Fatalf("no matching samples within 15 s; have %d data sources", len(got))
		}
		b, err := c.Read(time.Until(deadline))
		if err != nil {
			continue
		}
		dg, err := d.Decode(b)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		for _, s := range dg.Samples {
			if s.Tag == sflow.SampleCounters || s.Tag == sflow.SampleCountersExpanded {
				s.Raw = nil
				got[agent.DataSource{Type: s.SourceIDType, Index: s.SourceIDIndex}] = s
			}
		}
	}
	return got
}

// TestModuleEndToEnd runs the docker module over a copy of the fixture
// tree with a real agent sending to a UDP collector: the containers'
// samples decode to the expected records; a container that appears is
// reported, one that disappears stops being reported, and its data source
// is released after the grace period.
func TestModuleEndToEnd(t *testing.T) {
	root := copyTree(t, filepath.Join("testdata", "root"))
	col := testutil.NewCollector(t)
	a, err := agent.New(agent.Config{Polling: time.Second, Address: agent.AddressConfig{IP: netip.MustParseAddr("192.0.2.7")},
		Collectors: []agent.CollectorConfig{{Addr: col.Addr}}}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf("modules:\n  docker: {enabled: true, cgroup_root: %s, proc_root: %s, docker_root: %s, refresh: 1s, forget: 2s}\n",
		filepath.Join(root, "cgroup"), filepath.Join(root, "proc"), filepath.Join(root, "docker"))
	cfg, err := config.Parse("x.yaml", []byte(yaml), DockerModule{}.Section())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	inst, err := DockerModule{}.Start(ctx, app.Env{Agent: a, Log: slog.New(slog.DiscardHandler), Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := a.ClaimEntity(idD1) // the same slot the module claimed
	d2, _ := a.ClaimEntity(idD2)
	got := samplesOf(t, col, func(m map[agent.DataSource]sflow.Sample) bool { _, ok1 := m[d1]; _, ok2 := m[d2]; return ok1 && ok2 })
	want := fixtureRecords()
	for ds, id := range map[agent.DataSource]string{d1: idD1, d2: idD2} {
		if diff := cmp.Diff(want[id], got[ds].Records); diff != "" {
			t.Errorf("container %s: decoded records (-want +got):\n%s", id[:12], diff)
		}
	}
	if desc := inst.(app.Describer).Describe(); desc != "2 containers" {
		t.Errorf("Describe = %q", desc)
	}
	if err := inst.Reload(cfg); err != nil {
		t.Errorf("Reload with the same settings: %v", err)
	}
	changed, _ := config.Parse("x.yaml", []byte(strings.Replace(yaml, "forget: 2s}", "forget: 2s, hostname: true}", 1)), DockerModule{}.Section())
	if changed == nil || config.Get[DockerOptions](changed).Hostname != true {
		t.Fatalf("bad changed config")
	}
	if err := inst.Reload(changed); !errors.Is(err, app.ErrRestart) {
		t.Errorf("Reload with hostname changed: %v, want ErrRestart", err)
	}

	// A container appears.
	idNew := repeat("9a")
	writeCgroup(t, filepath.Join(root, "cgroup", "system.slice", "docker-"+idNew+".scope"), 5_000_000, 777, 0)
	dn, _ := a.ClaimEntity(idNew) // claims first here: the module gets the same slot
	samplesOf(t, col, func(m map[agent.DataSource]sflow.Sample) bool {
		s, ok := m[dn]
		if !ok || len(s.Records) < 4 {
			return false
		}
		cpu, ok1 := s.Records[2].(*sflow.VirtCPU)
		mem, ok2 := s.Records[3].(*sflow.VirtMemory)
		return ok1 && ok2 && cpu.CPUTime == 5000 && mem.Memory == 777
	})

	// It disappears: no more samples, and its slot is held for the grace
	// period, then released.
	removeAll(t, filepath.Join(root, "cgroup", "system.slice", "docker-"+idNew+".scope"))
	deadline := time.Now().Add(10 * time.Second)
	for inst.(app.Describer).Describe() != "2 containers" {
		if time.Now().After(deadline) {
			t.Fatal("the removed container is still reported")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, ok := claim(a, idNew, K8s); ok {
		t.Error("the removed container's entity was released before the grace period")
	}
	if _, ok := a.DataSources()[dn]; ok {
		t.Error("the removed container's data source is still registered")
	}
	for {
		if _, ok := claim(a, idNew, K8s); ok {
			unclaim(a, idNew, K8s)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the removed container's entity is never released")
		}
		time.Sleep(100 * time.Millisecond)
	}

	cancel()
	inst.Wait()
	for ds := range a.DataSources() {
		if ds.Type == 3 {
			t.Errorf("data source %v still registered after stop", ds)
		}
	}
}

// TestModuleAbsent: a cgroup v1 root (no cgroup.controllers) is
// app.ErrAbsent, naming what is missing.
func TestModuleAbsent(t *testing.T) {
	yaml := "modules:\n  k8s: {enabled: auto, cgroup_root: " + t.TempDir() + "}\n"
	cfg, err := config.Parse("x.yaml", []byte(yaml), K8sModule{}.Section())
	if err != nil {
		t.Fatal(err)
	}
	a, _ := agent.New(agent.Config{Polling: time.Second}, nil, slog.New(slog.DiscardHandler))
	_, err = K8sModule{}.Start(t.Context(), app.Env{Agent: a, Log: slog.New(slog.DiscardHandler), Config: cfg})
	if err == nil || !errorsIs(err, app.ErrAbsent) || !errorsIs(err, ErrNoCgroup2) {
		t.Errorf("Start error = %v", err)
	}
}

// TestResolveCgroup2: a v2 root is used as it is; systemd's hybrid layout
// (v1 under the root, the v2 tree at root/unified) is found; a v1-only root
// is ErrNoCgroup2.
func TestResolveCgroup2(t *testing.T) {
	v2, hybrid, v1 := t.TempDir(), t.TempDir(), t.TempDir()
	writeEmpty := func(p string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeEmpty(filepath.Join(v2, "cgroup.controllers"))
	writeEmpty(filepath.Join(hybrid, "unified", "cgroup.controllers"))
	writeEmpty(filepath.Join(v1, "memory", "memory.usage_in_bytes"))
	if dir, hy, err := ResolveCgroup2(v2); err != nil || dir != v2 || hy {
		t.Errorf("v2 root: %q, hybrid %v, %v", dir, hy, err)
	}
	if dir, hy, err := ResolveCgroup2(hybrid); err != nil || dir != filepath.Join(hybrid, "unified") || !hy {
		t.Errorf("hybrid root: %q, hybrid %v, %v", dir, hy, err)
	}
	if _, _, err := ResolveCgroup2(v1); !errors.Is(err, ErrNoCgroup2) {
		t.Errorf("v1 root: error %v, want ErrNoCgroup2", err)
	}
	// The module starts on a hybrid root instead of calling itself absent.
	yaml := "modules:\n  docker: {enabled: true, cgroup_root: " + hybrid + ", docker_root: \"\"}\n"
	cfg, err := config.Parse("x.yaml", []byte(yaml), DockerModule{}.Section())
	if err != nil {
		t.Fatal(err)
	}
	a, _ := agent.New(agent.Config{Polling: time.Second}, nil, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(t.Context())
	inst, err := DockerModule{}.Start(ctx, app.Env{Agent: a, Log: slog.New(slog.DiscardHandler), Config: cfg})
	if err != nil {
		cancel()
		t.Fatalf("Start on a hybrid root: %v", err)
	}
	cancel()
	inst.Wait()
}

// TestModuleRuntimeAbsent: under enabled: auto, a cgroup v2 host without
// the runtime installed is app.ErrAbsent naming what was looked for (no
// watcher scans for containers that cannot exist); its data directory
// appearing makes it present; enabled: true starts without it.
func TestModuleRuntimeAbsent(t *testing.T) {
	cg := t.TempDir()
	if err := os.WriteFile(filepath.Join(cg, "cgroup.controllers"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "docker")
	a, _ := agent.New(agent.Config{Polling: time.Second}, nil, slog.New(slog.DiscardHandler))
	startWith := func(mode string) (app.Instance, error) {
		t.Helper()
		yaml := fmt.Sprintf("modules:\n  docker: {enabled: %s, cgroup_root: %s, docker_root: %s}\n", mode, cg, missing)
		cfg, err := config.Parse("x.yaml", []byte(yaml), DockerModule{}.Section())
		if err != nil {
			t.Fatal(err)
		}
		return DockerModule{}.Start(t.Context(), app.Env{Agent: a, Log: slog.New(slog.DiscardHandler), Config: cfg})
	}
	for _, s := range dockerSigns {
		if _, err := os.Stat(s); err == nil {
			t.Skipf("docker is installed here (%s): the absent case cannot be shown", s)
		}
	}
	_, err := startWith("auto")
	if !errors.Is(err, app.ErrAbsent) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("auto without docker: %v, want ErrAbsent naming %s", err, missing)
	}
	for _, mode := range []string{"true", "auto"} {
		if mode == "auto" {
			if err := os.Mkdir(missing, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithCancel(t.Context())
		yaml := fmt.Sprintf("modules:\n  docker: {enabled: %s, cgroup_root: %s, docker_root: %s}\n", mode, cg, missing)
		cfg, _ := config.Parse("x.yaml", []byte(yaml), DockerModule{}.Section())
		inst, err := DockerModule{}.Start(ctx, app.Env{Agent: a, Log: slog.New(slog.DiscardHandler), Config: cfg})
		if err != nil {
			cancel()
			t.Fatalf("enabled: %s with docker_root %s: %v", mode, missing, err)
		}
		cancel()
		inst.Wait()
	}
	if _, ok := any(DockerModule{}).(app.Retrier); !ok {
		t.Error("docker module does not retry: a docker installed later would never be seen")
	}
}

package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"gwd/agent"
	"gwd/config"
)

// fakeOpts is a fake module's section.
type fakeOpts struct {
	Enabled config.Mode `key:"enabled" default:"auto" doc:"mode"`
	Value   int         `key:"value" doc:"a value"`
}

func (o *fakeOpts) ModuleMode() config.Mode { return o.Enabled }

// fake is a module whose presence the test decides.
type fake struct {
	name    string
	present func() bool
	log     *events
	every   time.Duration
}

// fakeOptsB is a second section type (config.Get finds a section by type).
type fakeOptsB struct {
	Enabled config.Mode `key:"enabled" default:"auto" doc:"mode"`
	Value   int         `key:"value" doc:"a value"`
}

func (o *fakeOptsB) ModuleMode() config.Mode { return o.Enabled }

type events struct {
	mu  sync.Mutex
	out []string
}

func (e *events) add(format string, a ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.out = append(e.out, fmt.Sprintf(format, a...))
}

func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.out...)
}

func (f *fake) Section() config.Section {
	var v any = &fakeOpts{}
	if f.name == "b" {
		v = &fakeOptsB{}
	}
	return config.Section{Name: f.name, Path: "modules." + f.name, Value: v}
}

func (f *fake) Start(ctx context.Context, env Env) (Instance, error) {
	if !f.present() {
		f.log.add("%s absent", f.name)
		return nil, fmt.Errorf("%w: no %s here", ErrAbsent, f.name)
	}
	f.log.add("%s start", f.name)
	return &fakeInst{f: f, ctx: ctx}, nil
}

type retrying struct{ *fake }

func (r retrying) RetryEvery() time.Duration { return r.every }

type fakeInst struct {
	f   *fake
	ctx context.Context
}

func (i *fakeInst) Reload(cfg *config.Config) error {
	i.f.log.add("%s reload", i.f.name)
	if i.f.name == "b" {
		return fmt.Errorf("b: %w", ErrRestart)
	}
	return nil
}

func (i *fakeInst) Wait() {
	<-i.ctx.Done()
	i.f.log.add("%s stopped", i.f.name)
}

func newAgent(t *testing.T) *agent.Agent {
	t.Helper()
	a, err := agent.New(agent.Config{Polling: time.Second}, staticAddrs{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

type staticAddrs struct{}

func (staticAddrs) Addresses() ([]agent.IfAddr, error)          { return nil, nil }
func (staticAddrs) Changes(ctx context.Context) <-chan struct{} { return nil }

func parse(t *testing.T, yaml string, mods []Module) *config.Config {
	t.Helper()
	c, err := config.Parse("x.yaml", []byte(yaml), Sections(mods)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestModes(t *testing.T) {
	ev := &events{}
	no := func() bool { return false }
	yes := func() bool { return true }
	tests := []struct {
		name    string
		yaml    string
		present func() bool
		wantErr string
		want    []string
	}{
		{"auto present", "modules: {a: {enabled: auto}}", yes, "", []string{"a start"}},
		{"auto absent", "modules: {a: {enabled: auto}}", no, "", []string{"a absent"}},
		{"true present", "modules: {a: {enabled: true}}", yes, "", []string{"a start"}},
		{"true absent", "modules: {a: {enabled: true}}", no, "module a: enabled: true, but not present on this box: no a here", []string{"a absent"}},
		{"false", "modules: {a: {enabled: false}}", yes, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev.out = nil
			mods := []Module{&fake{name: "a", present: tt.present, log: ev}}
			var logs bytes.Buffer
			rt := New(mods, newAgent(t), slog.New(slog.NewTextHandler(&logs, nil)))
			ctx, cancel := context.WithCancel(context.Background())
			err := rt.Start(ctx, parse(t, tt.yaml, mods))
			cancel()
			rt.Wait(time.Second)
			if got := fmt.Sprint(err); (tt.wantErr == "" && err != nil) || (tt.wantErr != "" && got != tt.wantErr) {
				t.Errorf("Start error = %v, want %q", err, tt.wantErr)
			}
			got := ev.list()
			if len(got) > 0 && strings.HasSuffix(got[len(got)-1], "stopped") {
				got = got[:len(got)-1]
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("events = %q, want %q", got, tt.want)
			}
			if tt.name == "auto absent" && strings.Count(logs.String(), "module not started") != 1 {
				t.Errorf("auto absent is not said once:\n%s", logs.String())
			}
		})
	}
}

func TestRetryUnderAuto(t *testing.T) {
	ev := &events{}
	var mu sync.Mutex
	here := false
	present := func() bool { mu.Lock(); defer mu.Unlock(); return here }
	mods := []Module{retrying{&fake{name: "a", present: present, log: ev, every: 10 * time.Millisecond}}}
	rt := New(mods, newAgent(t), slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := rt.Start(ctx, parse(t, "", mods)); err != nil {
		t.Fatal(err)
	}
	if st := rt.Status(); st[0].Running || !strings.Contains(st[0].Detail, "no a here") {
		t.Errorf("status before = %+v", st)
	}
	mu.Lock()
	here = true
	mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for !rt.Status()[0].Running {
		if time.Now().After(deadline) {
			t.Fatal("the module never started after it appeared")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	rt.Wait(time.Second)
	if got := ev.list(); got[len(got)-2] != "a start" || got[len(got)-1] != "a stopped" {
		t.Errorf("events = %q", got)
	}
}

func TestReloadRouting(t *testing.T) {
	ev := &events{}
	yes := func() bool { return true }
	mods := []Module{&fake{name: "a", present: yes, log: ev}, &fake{name: "b", present: yes, log: ev}}
	var logs bytes.Buffer
	rt := New(mods, newAgent(t), slog.New(slog.NewTextHandler(&logs, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	if err := rt.Start(ctx, parse(t, "", mods)); err != nil {
		t.Fatal(err)
	}
	reload := func(yaml string) {
		c := parse(t, yaml, mods)
		ac, err := AgentConfig(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := rt.Reload(c, ac); err != nil {
			t.Fatal(err)
		}
	}
	reload("modules: {a: {value: 1}}")                             // a's section changed
	reload("modules: {a: {value: 1}}")                             // nothing changed
	reload("modules: {a: {value: 1}, b: {value: 2}}")              // b's section changed: needs a restart
	reload("polling: 5s\nmodules: {a: {value: 1}, b: {value: 2}}") // core changed: both
	cancel()
	rt.Wait(time.Second)
	want := []string{"a start", "b start", "a reload", "b reload", "a reload", "b reload", "b stopped", "a stopped"}
	if got := ev.list(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events = %q\nwant     %q", got, want)
	}
	if n := strings.Count(logs.String(), "need a restart"); n != 2 {
		t.Errorf("restart warnings = %d, want 2:\n%s", n, logs.String())
	}
}

func TestAgentConfig(t *testing.T) {
	c := parse(t, "", nil)
	c.Identity = config.Identity{Interface: "eth0", SubAgent: 3}
	c.Collectors = []config.Collector{
		{Address: "192.0.2.1", Port: 6343},
		{Address: "sflow.example.net", Port: 7000, Interface: "mgmt0"},
	}
	resolve := func(host string) (a netipAddr, err error) { return resolveFake(host) }
	got, err := AgentConfig(c, resolve)
	if err != nil {
		t.Fatal(err)
	}
	if got.SubAgent != 3 || got.Address.Interface != "eth0" || len(got.Collectors) != 2 ||
		got.Collectors[1].Addr.String() != "198.51.100.2:7000" || got.Collectors[1].Interface != "mgmt0" {
		t.Errorf("AgentConfig = %+v", got)
	}
	c.Collectors = append(c.Collectors, config.Collector{Address: "gone.example.net", Port: 6343})
	if _, err := AgentConfig(c, resolve); err == nil || err.Error() != "config: collector 2 (gone.example.net): no such host" {
		t.Errorf("error = %v", err)
	}
	if _, err := AgentConfig(c, nil); err == nil || !errors.Is(err, err) || !strings.Contains(err.Error(), "host name given but no resolver") {
		t.Errorf("nil resolver error = %v", err)
	}
}

type netipAddr = netip.Addr

func resolveFake(host string) (netip.Addr, error) {
	if host == "sflow.example.net" {
		return netip.MustParseAddr("::ffff:198.51.100.2"), nil
	}
	return netip.Addr{}, errors.New("no such host")
}

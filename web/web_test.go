package web

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gwd/agent"
	"gwd/config"
	"gwd/internal/app"
	"gwd/internal/testutil"
	"gwd/sflow"
)

// fixture is an agent with a static address, one collector, a host data
// source, an interface whose octets grow, a flow sample every 100 ms, an
// unhealthy source, and the web module on a port the kernel picks.
type fixture struct {
	a       *agent.Agent
	rt      *app.Runtime
	url     string
	reloads atomic.Int32
	coll    *testutil.Collector
}

func startFixture(t *testing.T, webYAML string, reloadErr error) (*fixture, error) {
	t.Helper()
	f := &fixture{coll: testutil.NewCollector(t)}
	t.Cleanup(f.coll.Close)
	go func() { // drain
		for {
			if _, err := f.coll.Read(10 * time.Second); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
					return
				}
			}
		}
	}()
	a, err := agent.New(agent.Config{Polling: time.Second, Address: agent.AddressConfig{IP: netip.MustParseAddr("192.0.2.9")},
		Collectors: []agent.CollectorConfig{{Addr: f.coll.Addr}}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.a = a
	var octets atomic.Uint64
	a.Register("fixture", agent.HostSource, agent.PollerFunc(func(recs []sflow.Record) ([]sflow.Record, error) {
		return append(recs, &sflow.HostDescr{Hostname: []byte("box1"), UUID: [16]byte{0x12, 0x34, 15: 0xff}}, &sflow.HostCPU{LoadOne: 0.5, CPUNum: 4, User: 1500, Idle: 90000},
			&sflow.HostMemory{MemTotal: 8 << 30, MemFree: 2 << 30}, &sflow.HostNetIO{BytesIn: 100, BytesOut: 200}), nil
	}))
	a.Register("fixture", agent.InterfaceSource(7), agent.PollerFunc(func(recs []sflow.Record) ([]sflow.Record, error) {
		n := octets.Add(125000) // 1 Mbit/s at 1 s polling
		return append(recs, &sflow.IfCounters{IfIndex: 7, IfType: 6, IfSpeed: 1e9, IfStatus: 3, InOctets: n, OutOctets: 2 * n,
			InUcastPkts: 10, OutUcastPkts: 20, InMulticastPkts: 0xffffffff, InErrors: 0xffffffff}), nil // unknown: not summed, no series
	}))
	a.SetHealth("broken", errors.New("disk on fire"))

	cfg, err := config.Parse("x.yaml", []byte("polling: 1s\nmodules:\n  web: "+webYAML+"\n"), Module{}.Section())
	if err != nil {
		t.Fatal(err)
	}
	f.rt = app.New([]app.Module{Module{}}, a, slog.New(slog.DiscardHandler))
	f.rt.SetProcess(app.Process{Version: "v-test", Started: time.Now(), Reload: func() error {
		f.reloads.Add(1)
		return reloadErr
	}})
	ctx, cancel := context.WithCancel(context.Background())
	if err := f.rt.Start(ctx, cfg); err != nil {
		cancel()
		return nil, err
	}
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	go func() { // flow samples, as a sampling module would submit them
		s := sflow.Sample{Tag: sflow.SampleFlow, SamplingRate: 100, Input: sflow.Interface{Value: 7}, Output: sflow.Interface{Value: 9}}
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			s.Records = []sflow.Record{&sflow.SampledHeader{Protocol: 1, FrameLength: 1000, Header: udpFrame()}}
			a.SubmitFlow(agent.InterfaceSource(7), &s)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		f.rt.Wait(5 * time.Second)
	})
	st := f.rt.Status()
	if len(st) == 1 && st[0].Running {
		f.url = st[0].Detail
	}
	return f, nil
}

// udpFrame is Ethernet + IPv4 + UDP from 10.1.1.1:5353 to 10.2.2.2:53.
func udpFrame() []byte {
	b := make([]byte, 14+20+8)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0], ip[9] = 0x45, 17
	copy(ip[12:], []byte{10, 1, 1, 1})
	copy(ip[16:], []byte{10, 2, 2, 2})
	binary.BigEndian.PutUint16(ip[20:], 5353)
	binary.BigEndian.PutUint16(ip[22:], 53)
	return b
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, req)
}

func post(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	code, body := get(t, url, "")
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, body)
	}
}

// TestEndpoints reads every endpoint of a running agent with fixture
// sources, and checks what each says.
func TestEndpoints(t *testing.T) {
	f, err := startFixture(t, `{listen: "127.0.0.1:0"}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(f.url, "http://127.0.0.1:") {
		t.Fatalf("Describe = %q, want the page's URL", f.url)
	}
	// Two counter samples of the interface give a rate.
	var dss []DataSource
	deadline := time.Now().Add(10 * time.Second)
	for {
		getJSON(t, f.url+"api/v1/datasources", &dss)
		if len(dss) == 2 && len(dss[1].InBps) > 0 && dss[1].FlowSamples > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(dss) != 2 || dss[0].ID != "2:1" || dss[0].Kind != "host" || dss[1].ID != "0:7" || dss[1].Kind != "interface" {
		t.Fatalf("datasources = %+v", dss)
	}
	if in := dss[1].InBps; len(in) == 0 || in[len(in)-1] < 0.5e6 || in[len(in)-1] > 2e6 {
		t.Errorf("0:7 in_bps = %v, want about 1e6", in)
	}
	if c := dss[1].Counters; c["in_octets"] == 0 || c["out_octets"] != 2*c["in_octets"] || c["in_packets"] != 10 {
		t.Errorf("0:7 counters = %v", c)
	}
	if g := dss[0].Gauges; g["load_one"] != 0.5 || g["mem_total_bytes"] != 8<<30 {
		t.Errorf("2:1 gauges = %v", g)
	}
	if fmt.Sprint(dss[0].Contributors) != "[fixture]" {
		t.Errorf("2:1 contributors = %v", dss[0].Contributors)
	}

	var st Status
	getJSON(t, f.url+"api/v1/status", &st)
	if st.Version != "v-test" || st.Agent.Address != "192.0.2.9" || st.Agent.Reason != "configured address" ||
		st.Hostname != "box1" || st.UUID != "12340000-0000-0000-0000-0000000000ff" || len(st.Modules) != 1 || st.Modules[0].Name != "web" || !st.Modules[0].Running || st.Tap.Datagrams == 0 || st.Polling != 1 {
		t.Errorf("status = %+v", st)
	}

	var cols []Collector
	getJSON(t, f.url+"api/v1/collectors", &cols)
	if len(cols) != 1 || cols[0].Collector != f.coll.Addr.String() || cols[0].Datagrams == 0 || cols[0].Bytes == 0 {
		t.Errorf("collectors = %+v", cols)
	}

	var srcs Sources
	getJSON(t, f.url+"api/v1/sources", &srcs)
	if fmt.Sprintf("%+v", srcs.Sources) != "[{Name:broken Healthy:false LastError:disk on fire PollErrors:0} {Name:fixture Healthy:true LastError: PollErrors:0}]" {
		t.Errorf("sources = %+v", srcs.Sources)
	}

	var fl Flows
	getJSON(t, f.url+"api/v1/flows", &fl)
	if len(fl.Recent) == 0 || len(fl.TopTalkers) != 1 || fl.WindowSeconds != 60 {
		t.Fatalf("flows = %+v", fl)
	}
	if r := fl.Recent[0]; r.Src != "10.1.1.1" || r.Dst != "10.2.2.2" || r.Protocol != 17 || r.SrcPort != 5353 || r.DstPort != 53 ||
		r.Input != 7 || r.Output != 9 || r.SamplingRate != 100 || r.FrameLength != 1000 || r.DataSource != "0:7" {
		t.Errorf("recent flow = %+v", r)
	}
	if tt := fl.TopTalkers[0]; tt.Src != "10.1.1.1" || tt.SampledBytes != 1000*tt.Samples || tt.EstimatedBytes != 100*tt.SampledBytes {
		t.Errorf("top talker = %+v", tt)
	}

	for path, want := range map[string]string{"": "<title>gwd</title>", "app.js": "api/v1/", "style.css": "body"} {
		if code, body := get(t, f.url+path, ""); code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET /%s: %d, body without %q", path, code, want)
		}
	}
	code, body := get(t, f.url+"metrics", "")
	for _, want := range []string{
		`gwd_collector_datagrams_total{collector="` + f.coll.Addr.String() + `"}`,
		`gwd_interface_bytes_total{direction="in",ifindex="7",name=""}`,
		`gwd_host_cpu_seconds_total{mode="user"} 1.5`,
		`gwd_source_healthy{source="broken"} 0`,
		`gwd_module_running{mode="auto",module="web"} 1`,
		`gwd_records_left_out_total 0`,
		`gwd_web_tap_dropped_total 0`,
		`gwd_interface_errors_total{direction="out",ifindex="7",name=""} 0`,
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics (%d) lacks %s", code, want)
		}
	}
	if strings.Contains(body, `gwd_interface_errors_total{direction="in"`) {
		t.Error("/metrics has a series for an unknown (0xffffffff) counter")
	}
	if code, _ := get(t, f.url+"api/v1/nothing", ""); code != http.StatusNotFound {
		t.Errorf("GET unknown endpoint: %d", code)
	}
}

// TestAuthLoopback: on loopback reads need no token; POST /api/v1/reload
// always needs it, and runs the process's reload.
func TestAuthLoopback(t *testing.T) {
	f, err := startFixture(t, `{listen: "127.0.0.1:0", token: s3cret}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, f.url+"api/v1/status", ""); code != 200 {
		t.Errorf("GET without token on loopback: %d", code)
	}
	// DNS rebinding: another site's name pointing at 127.0.0.1.
	req, _ := http.NewRequest(http.MethodGet, f.url+"api/v1/status", nil)
	req.Host = "evil.example:8008"
	if code, body := do(t, req); code != http.StatusForbidden || !strings.Contains(body, "not a loopback name") {
		t.Errorf("GET with Host evil.example: %d %s", code, body)
	}
	req.Header.Set("Authorization", "Bearer s3cret")
	if code, _ := do(t, req); code != 200 {
		t.Errorf("GET with Host evil.example and the token: %d", code)
	}
	for _, h := range []string{"localhost:8008", "[::1]:8008", "127.0.0.1"} {
		req, _ := http.NewRequest(http.MethodGet, f.url+"api/v1/status", nil)
		req.Host = h
		if code, _ := do(t, req); code != 200 {
			t.Errorf("GET with Host %s: %d", h, code)
		}
	}
	for _, tok := range []string{"", "wrong"} {
		if code, _ := post(t, f.url+"api/v1/reload", tok); code != http.StatusUnauthorized {
			t.Errorf("POST reload with token %q: %d, want 401", tok, code)
		}
	}
	if f.reloads.Load() != 0 {
		t.Fatal("reload ran without the token")
	}
	if code, body := post(t, f.url+"api/v1/reload", "s3cret"); code != 200 || f.reloads.Load() != 1 {
		t.Errorf("POST reload with token: %d %s, reloads %d", code, body, f.reloads.Load())
	}
	if code, _ := get(t, f.url+"api/v1/reload", "s3cret"); code == 200 || f.reloads.Load() != 1 {
		t.Errorf("GET reload: %d, reloads %d", code, f.reloads.Load())
	}
}

// TestAuthNoToken: without a configured token POST is refused, saying why.
func TestAuthNoToken(t *testing.T) {
	f, err := startFixture(t, `{listen: "127.0.0.1:0"}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	code, body := post(t, f.url+"api/v1/reload", "anything")
	if code != http.StatusUnauthorized || !strings.Contains(body, "modules.web.token") || f.reloads.Load() != 0 {
		t.Errorf("POST reload without a configured token: %d %s", code, body)
	}
}

// TestReloadError: a reload that fails answers 422 with the error.
func TestReloadError(t *testing.T) {
	f, err := startFixture(t, `{listen: "127.0.0.1:0", token: s3cret}`, errors.New("x.yaml:3:1: bad key"))
	if err != nil {
		t.Fatal(err)
	}
	if code, body := post(t, f.url+"api/v1/reload", "s3cret"); code != http.StatusUnprocessableEntity || !strings.Contains(body, "bad key") {
		t.Errorf("POST reload that fails: %d %s", code, body)
	}
}

// TestNonLoopbackNeedsToken: binding beyond loopback without a token is
// refused at Start naming the key; with one, every request needs it.
func TestNonLoopbackNeedsToken(t *testing.T) {
	_, err := startFixture(t, `{listen: "0.0.0.0:0"}`, nil)
	if err == nil || !strings.Contains(err.Error(), "modules.web.token") || errors.Is(err, app.ErrAbsent) {
		t.Fatalf("Start on 0.0.0.0 without a token: %v", err)
	}
	f, err := startFixture(t, `{listen: "0.0.0.0:0", token: s3cret}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	u := strings.Replace(f.url, "0.0.0.0", "127.0.0.1", 1)
	u = strings.Replace(u, "[::]", "127.0.0.1", 1)
	if code, _ := get(t, u+"api/v1/status", ""); code != http.StatusUnauthorized {
		t.Errorf("GET without token on 0.0.0.0: %d, want 401", code)
	}
	if code, _ := get(t, u+"metrics", "s3cret"); code != 200 {
		t.Errorf("GET /metrics with token on 0.0.0.0: %d", code)
	}
}

// TestBusyPort: a port already taken makes the module absent (auto: gwd
// runs on without the page).
func TestBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = startFixture(t, `{enabled: true, listen: "`+ln.Addr().String()+`"}`, nil)
	if !errors.Is(err, app.ErrAbsent) && (err == nil || !strings.Contains(err.Error(), "not present")) {
		t.Fatalf("Start on a busy port: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, bad := range []string{"8008", "127.0.0.1", "127.0.0.1:x", "127.0.0.1:70000"} {
		if _, err := config.Parse("x.yaml", []byte("modules: {web: {listen: \""+bad+"\"}}"), Module{}.Section()); err == nil || !strings.Contains(err.Error(), "modules.web.listen") {
			t.Errorf("listen %q: %v", bad, err)
		}
	}
	for in, want := range map[string]bool{"127.0.0.1:1": true, "[::1]:1": true, "localhost:1": true, ":1": false, "0.0.0.0:1": false, "10.0.0.1:1": false, "example.org:1": false} {
		if loopback(in) != want {
			t.Errorf("loopback(%q) = %v", in, !want)
		}
	}
}

// TestTapNeverBlocks: a full queue drops and counts, and put returns at
// once; take empties it.
func TestTapNeverBlocks(t *testing.T) {
	q := newTapQueue(10)
	for range 5 {
		q.put([]byte{1, 2, 3})
	}
	if q.seen.Load() != 5 || q.dropped.Load() != 2 {
		t.Errorf("seen %d dropped %d", q.seen.Load(), q.dropped.Load())
	}
	buf, sizes := q.take(nil, nil)
	if len(buf) != 9 || fmt.Sprint(sizes) != "[3 3 3]" {
		t.Errorf("take = %v %v", buf, sizes)
	}
	q.put([]byte{4})
	if buf, sizes = q.take(buf, sizes); q.dropped.Load() != 2 || fmt.Sprint(buf, sizes) != "[4] [1]" {
		t.Errorf("after take: dropped %d, %v %v", q.dropped.Load(), buf, sizes)
	}
}

func TestParseEthernet(t *testing.T) {
	src, dst, proto, sp, dp := parseEthernet(udpFrame())
	if src.String() != "10.1.1.1" || dst.String() != "10.2.2.2" || proto != 17 || sp != 5353 || dp != 53 {
		t.Errorf("IPv4/UDP: %v %v %d %d %d", src, dst, proto, sp, dp)
	}
	// VLAN-tagged IPv6 TCP.
	b := make([]byte, 18+40+20)
	binary.BigEndian.PutUint16(b[12:], 0x8100)
	binary.BigEndian.PutUint16(b[16:], 0x86dd)
	ip := b[18:]
	ip[0], ip[6] = 0x60, 6
	ip[8], ip[23] = 0x20, 1
	ip[24], ip[39] = 0x20, 2
	binary.BigEndian.PutUint16(ip[40:], 443)
	binary.BigEndian.PutUint16(ip[42:], 50000)
	src, dst, proto, sp, dp = parseEthernet(b)
	if src.String() != "2000::1" || dst.String() != "2000::2" || proto != 6 || sp != 443 || dp != 50000 {
		t.Errorf("VLAN IPv6/TCP: %v %v %d %d %d", src, dst, proto, sp, dp)
	}
	for _, short := range [][]byte{nil, make([]byte, 13), udpFrame()[:20]} {
		if src, _, _, _, _ := parseEthernet(short); src.IsValid() {
			t.Errorf("short frame of %d bytes gave %v", len(short), src)
		}
	}
}

func TestKind(t *testing.T) {
	for ds, want := range map[agent.DataSource]string{
		agent.HostSource: "host", agent.InterfaceSource(3): "interface", agent.BridgeSource(0): "bridge",
		agent.GPUSource(1): "gpu", {Type: 3, Index: 100001}: "virtual", {Type: 1, Index: 5}: "other",
	} {
		if got := kind(ds); got != want {
			t.Errorf("kind(%v) = %q, want %q", ds, got, want)
		}
	}
}

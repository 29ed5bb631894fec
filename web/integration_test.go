package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gwd/internal/testbed"
	"gwd/internal/testutil"
)

// gwdProc is the built gwd binary running with the web page on a free
// port, polling every second, sending to a local collector.
type gwdProc struct {
	url string
	out testutil.SyncBuffer // what gwd writes
}

func (p *gwdProc) output() string { return p.out.String() }

var urlRE = regexp.MustCompile(`web +running \(enabled: auto\): (http://\S+/)`)

func startGwd(t *testing.T) *gwdProc {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "gwd")
	if out, err := exec.Command("go", "build", "-o", bin, "gwd/cmd/gwd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	coll := testutil.NewCollector(t)
	t.Cleanup(coll.Close)
	go func() {
		for {
			if _, err := coll.Read(time.Minute); err != nil && !strings.Contains(err.Error(), "timeout") {
				return
			}
		}
	}()
	port := testutil.FreeTCPPort(t, "127.0.0.1")
	cfg := filepath.Join(dir, "gwd.yaml")
	yaml := fmt.Sprintf("polling: 1s\ncollectors: [\"%s\"]\nmodules:\n  web: {listen: \"127.0.0.1:%d\", token: s3cret}\n", coll.Addr, port)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &gwdProc{}
	cmd := exec.Command(bin, "run", "--config", cfg, "--run-dir", dir)
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for p.url == "" {
		if m := urlRE.FindStringSubmatch(p.output()); m != nil {
			p.url = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no web line in gwd's summary:\n%s", p.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if p.url != fmt.Sprintf("http://127.0.0.1:%d/", port) {
		t.Fatalf("summary says %s, want port %d", p.url, port)
	}
	return p
}

// TestIntegrationWebPage loads the page in headless Chromium against the
// built gwd: no console errors, the agent address and a data source shown,
// updated within a few seconds; it writes a screenshot (GWD_WEB_SCREENSHOT
// names the file, else one in the test's temporary directory).
func TestIntegrationWebPage(t *testing.T) {
	testbed.Integration(t)
	chromium := testbed.NeedCommand(t, "chromium")
	p := startGwd(t)
	var st Status
	getJSON(t, p.url+"api/v1/status", &st)
	if st.Agent.Address == "" {
		t.Fatalf("no agent address on this box: %+v", st.Agent)
	}

	ctx, problems := browser(t, chromium)
	tctx, tcancel := context.WithTimeout(ctx, 60*time.Second)
	defer tcancel()

	if err := chromedp.Do(tctx, chromedp.Navigate(p.url)); err != nil {
		t.Fatalf("navigate: %v\ngwd:\n%s", err, p.output())
	}
	if _, err := chromedp.Run(tctx, chromedp.Poll[chromedp.Void](`document.getElementById("agent-address").textContent !== "—" && document.querySelector('#datasources tr[data-id="2:1"]') !== null`,
		chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("page did not show the agent and the host: %v\ngwd:\n%s", err, p.output())
	}
	addr, err := chromedp.Run(tctx, chromedp.Text("#agent-address"))
	if err != nil {
		t.Fatal(err)
	}
	hostRow, err := chromedp.Run(tctx, chromedp.Text(`#datasources tr[data-id="2:1"]`))
	if err != nil {
		t.Fatal(err)
	}
	u1, err := chromedp.Run(tctx, chromedp.AttributeValue("#updated", "data-updates"))
	if err != nil {
		t.Fatal(err)
	}
	if addr != st.Agent.Address {
		t.Errorf("page shows agent address %q, API %q", addr, st.Agent.Address)
	}
	if !strings.Contains(hostRow, "host") {
		t.Errorf("host data source row: %q", hostRow)
	}
	// Live: the page polls every 2 s, and the sparkline of an interface
	// gets its points as counter samples go out every second.
	if _, err := chromedp.Run(tctx, chromedp.Poll[chromedp.Void](fmt.Sprintf(`Number(document.getElementById("updated").dataset.updates) >= %s + 2 && document.querySelector("#datasources svg.spark polyline") !== null`, u1.Value),
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("page did not update: %v (updates %s)", err, u1.Value)
	}
	u2, err := chromedp.Run(tctx, chromedp.AttributeValue("#updated", "data-updates"))
	if err != nil {
		t.Fatal(err)
	}
	updates1, updates2 := u1.Value, u2.Value
	png, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shot := os.Getenv("GWD_WEB_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(t.TempDir(), "web.png")
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes); updates %s -> %s", shot, len(png), updates1, updates2)
	if p := problems(); len(p) > 0 {
		t.Errorf("browser reported:\n%s", strings.Join(p, "\n"))
	}
}

// browser starts headless Chromium for the test; problems stops it and
// returns every console error or warning, exception and browser log entry
// of warning or error level it saw (a 404, a script error).
func browser(t *testing.T, chromium string) (ctx context.Context, problems func() []string) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.Flag("disable-quic", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1000))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	var mu sync.Mutex
	var seen []string
	messages := chromedp.Console(ctx)
	consoleDone := make(chan struct{})
	go func() {
		defer close(consoleDone)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.IsException() {
				mu.Lock()
				seen = append(seen, m.String()+" "+m.URL)
				mu.Unlock()
			}
		}
	}()
	stop := func() {
		cancel() // ends the browser and the console's iterator
		acancel()
		<-consoleDone
	}
	t.Cleanup(stop)
	return ctx, func() []string {
		stop()
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
}

// TestIntegrationWebPageFlows loads the page against an in-process agent
// whose fixture submits flow samples: the recent flows and the top talkers
// show them, with no console errors.
func TestIntegrationWebPageFlows(t *testing.T) {
	testbed.Integration(t)
	chromium := testbed.NeedCommand(t, "chromium")
	f, err := startFixture(t, `{listen: "127.0.0.1:0"}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, problems := browser(t, chromium)
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, chromedp.Navigate(f.url)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(tctx, chromedp.Poll[chromedp.Void](`document.querySelector("#recent tbody").textContent.includes("10.1.1.1:5353") && document.querySelector("#talkers tbody").textContent.includes("10.2.2.2")`,
		chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("flows not shown: %v", err)
	}
	row, err := chromedp.Run(tctx, chromedp.Text("#recent tbody tr"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"0:7", "UDP", "10.1.1.1:5353", "10.2.2.2:53", "1000", "1:100"} {
		if !strings.Contains(row, want) {
			t.Errorf("recent flow row %q lacks %q", row, want)
		}
	}
	if p := problems(); len(p) > 0 {
		t.Errorf("browser reported:\n%s", strings.Join(p, "\n"))
	}
}

// TestIntegrationPromtool: promtool check metrics accepts /metrics of the
// built gwd; POST /api/v1/reload with the token reloads it as SIGHUP does.
func TestIntegrationPromtool(t *testing.T) {
	testbed.Integration(t)
	promtool := testbed.NeedCommand(t, "promtool")
	p := startGwd(t)
	time.Sleep(2500 * time.Millisecond) // counter samples out, so interface series exist
	code, body := get(t, p.url+"metrics", "")
	if code != 200 || !strings.Contains(body, "gwd_interface_bytes_total{") {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	if code, _ := post(t, p.url+"api/v1/reload", ""); code != 401 {
		t.Errorf("POST reload without token: %d", code)
	}
	code, body = post(t, p.url+"api/v1/reload", "s3cret")
	var res map[string]string
	json.Unmarshal([]byte(body), &res)
	if code != 200 || res["result"] != "reloaded" {
		t.Errorf("POST reload: %d %s", code, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.output(), "configuration reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload in gwd's log:\n%s", p.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

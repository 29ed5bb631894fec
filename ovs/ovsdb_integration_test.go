package ovs

import (
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gwd/internal/testbed"
	"gwd/internal/testutil"
)

var settings = Settings{Targets: []string{"127.0.0.1:41234"}, Agent: "lo", Sampling: 500, Polling: 10, Header: 64}

// TestIntegrationOVSDBAttach: one row, with the expected fields and mark,
// attached to every bridge in one transaction; a bridge added at run time
// is attached within 1 s.
func TestIntegrationOVSDBAttach(t *testing.T) {
	testbed.Integration(t)
	o := testbed.StartOVS(t, false)
	o.AddBridge(t, "br0")
	o.AddBridge(t, "br1")
	r := start(t, Config{Endpoint: o.Endpoint()}, &settings)
	waitFor(t, 5*time.Second, "br0 and br1 attached", func() bool { return r.attached("br0", "br1") })

	rows := sflowRows(t, o)
	if len(rows) != 1 {
		t.Fatalf("sFlow rows = %v, want one", rows)
	}
	row := rows[0]
	for col, want := range map[string]string{
		"targets": `["127.0.0.1:41234"]`, "agent": `lo`, "sampling": "500", "polling": "10", "header": "64",
		"external_ids:gwd-owner": "gwd", "external_ids:gwd-pid": strconv.Itoa(os.Getpid()),
		"external_ids:gwd-host": r.Identity().Host, "external_ids:gwd-start": r.Identity().Start.Format(time.RFC3339Nano),
	} {
		if got := o.Vsctl(t, "get", "sFlow", row, col); got != want && got != `"`+want+`"` {
			t.Errorf("sFlow %s = %s, want %s", col, got, want)
		}
	}
	for _, br := range []string{"br0", "br1"} {
		if got := bridgeSFlow(t, o, br); got != row {
			t.Errorf("%s sflow = %s, want %s", br, got, row)
		}
	}
	if n := r.settledTxns(); n != 1 {
		t.Errorf("transactions = %d, want 1", n)
	}
	if c, err := r.Status(); !c || err != nil {
		t.Errorf("Status() = %v, %v", c, err)
	}

	// A bridge added at run time.
	select {
	case <-r.Changed():
	default:
	}
	var lat []time.Duration
	for i := range 5 {
		name := "rt" + strconv.Itoa(i)
		o.AddBridge(t, name) // committed when ovs-vsctl returns
		lat = append(lat, waitFor(t, 5*time.Second, name+" attached", func() bool {
			b, ok := r.bridge(name)
			return ok && b.Attached
		}))
		if got := bridgeSFlow(t, o, name); got != row {
			t.Errorf("%s sflow = %s, want %s", name, got, row)
		}
	}
	slices.Sort(lat)
	t.Logf("attach latency of a bridge added at run time: min %v, median %v, max %v (5 bridges)", lat[0], lat[2], lat[4])
	select {
	case <-r.Changed():
	default:
		t.Errorf("Changed() did not signal after bridges were added")
	}
	if rows := sflowRows(t, o); len(rows) != 1 || rows[0] != row {
		t.Errorf("sFlow rows = %v, want [%s]", rows, row)
	}
}

// TestIntegrationOVSDBSettings: a settings change is one transaction
// updating the same row; converging with nothing changed writes nothing;
// no targets detach the row.
func TestIntegrationOVSDBSettings(t *testing.T) {
	testbed.Integration(t)
	o := testbed.StartOVS(t, false)
	o.AddBridge(t, "br0")
	o.AddBridge(t, "br1")
	r := start(t, Config{Endpoint: o.Endpoint()}, &settings)
	waitFor(t, 5*time.Second, "attached", func() bool { return r.attached("br0", "br1") })
	n := r.settledTxns()
	row := sflowRows(t, o)[0]

	// No-op converges: the same settings again, and unrelated changes that
	// wake converge (a port added, a foreign external_ids key on our row).
	r.Set(settings)
	o.Vsctl(t, "add-port", "br0", "p0", "--", "set", "Interface", "p0", "type=internal")
	o.Vsctl(t, "set", "sFlow", row, "external_ids:note=kept")
	if got := r.settledTxns(); got != n {
		t.Errorf("no-op converge made %d transactions, want 0", got-n)
	}

	s := settings
	s.Polling, s.Agent, s.Header = 20, "", 0
	s.Targets = []string{"127.0.0.1:41235", "127.0.0.1:41234"}
	r.Set(s)
	waitFor(t, 2*time.Second, "polling 20", func() bool { return o.Vsctl(t, "get", "sFlow", row, "polling") == "20" })
	if got := r.settledTxns(); got != n+1 {
		t.Errorf("settings change made %d transactions, want 1", got-n)
	}
	for col, want := range map[string]string{"agent": "[]", "header": "[]", "sampling": "500",
		"targets": `["127.0.0.1:41234", "127.0.0.1:41235"]`, "external_ids:gwd-owner": "gwd", "external_ids:note": "kept",
		"external_ids:gwd-pid": strconv.Itoa(os.Getpid())} {
		if got := o.Vsctl(t, "get", "sFlow", row, col); got != want && got != `"`+want+`"` {
			t.Errorf("sFlow %s = %s, want %s", col, got, want)
		}
	}
	if rows := sflowRows(t, o); len(rows) != 1 || rows[0] != row {
		t.Errorf("sFlow rows = %v, want the same row %s", rows, row)
	}

	r.Set(Settings{})
	waitFor(t, 2*time.Second, "row removed", func() bool { return len(sflowRows(t, o)) == 0 })
	if got := bridgeSFlow(t, o, "br0"); got != "[]" {
		t.Errorf("br0 sflow = %s after Set without targets", got)
	}
}

// TestIntegrationOVSDBPolicy: a foreign row is replaced (adopt) or left
// alone (leave).
func TestIntegrationOVSDBPolicy(t *testing.T) {
	testbed.Integration(t)
	t.Run("adopt", func(t *testing.T) {
		o := testbed.StartOVS(t, false)
		o.AddBridge(t, "br0")
		o.AddBridge(t, "br1")
		foreign := foreignRow(t, o, "br0")
		r := start(t, Config{Endpoint: o.Endpoint(), Policy: PolicyAdopt}, &settings)
		waitFor(t, 5*time.Second, "both attached", func() bool { return r.attached("br0", "br1") })
		rows := sflowRows(t, o)
		if len(rows) != 1 || rows[0] == foreign {
			t.Fatalf("sFlow rows = %v, want gwd's only (foreign %s collected)", rows, foreign)
		}
		if n := r.settledTxns(); n != 1 {
			t.Errorf("transactions = %d, want 1", n)
		}
	})
	t.Run("leave", func(t *testing.T) {
		o := testbed.StartOVS(t, false)
		o.AddBridge(t, "br0")
		o.AddBridge(t, "br1")
		foreign := foreignRow(t, o, "br0")
		r := start(t, Config{Endpoint: o.Endpoint(), Policy: PolicyLeave}, &settings)
		waitFor(t, 5*time.Second, "br1 attached", func() bool {
			b, _ := r.bridge("br1")
			return b.Attached
		})
		r.settledTxns()
		if b, ok := r.bridge("br0"); !ok || b.Attached {
			t.Errorf("br0 = %+v, want listed, not attached", b)
		}
		if got := bridgeSFlow(t, o, "br0"); got != foreign {
			t.Errorf("br0 sflow = %s, want the foreign %s", got, foreign)
		}
		if rows := sflowRows(t, o); len(rows) != 2 {
			t.Errorf("sFlow rows = %v, want foreign + gwd's", rows)
		}
		if r.log.Count("left alone") != 1 {
			t.Errorf("left-alone bridges not logged once:\n%s", r.log)
		}
		// Once its owner removes the foreign row, br0 is gwd's.
		o.Vsctl(t, "clear", "Bridge", "br0", "sflow")
		waitFor(t, 5*time.Second, "br0 attached", func() bool { return r.attached("br0", "br1") })
		if rows := sflowRows(t, o); len(rows) != 1 {
			t.Errorf("sFlow rows = %v, want one", rows)
		}
	})
}

// TestIntegrationOVSDBFilters: only included, not excluded bridges are
// managed, and a bridge that leaves the selection is detached.
func TestIntegrationOVSDBFilters(t *testing.T) {
	testbed.Integration(t)
	o := testbed.StartOVS(t, false)
	for _, br := range []string{"br0", "br1", "int0"} {
		o.AddBridge(t, br)
	}
	cfg := Config{Endpoint: o.Endpoint(), RemoveOnExit: true, Include: regexp.MustCompile(`^br`), Exclude: regexp.MustCompile(`^br1$`)}
	r := start(t, cfg, &settings)
	waitFor(t, 5*time.Second, "br0 attached", func() bool { return r.attached("br0") })
	r.settledTxns()
	for _, br := range []string{"br1", "int0"} {
		if got := bridgeSFlow(t, o, br); got != "[]" {
			t.Errorf("%s sflow = %s, want untouched", br, got)
		}
	}
	r.stop(t)

	// The same row, attached by hand to a bridge outside the selection, is
	// taken back.
	row := sflowRows(t, o)
	if len(row) != 0 {
		t.Fatalf("row not removed at exit: %v", row)
	}
	r = start(t, Config{Endpoint: o.Endpoint()}, &settings)
	waitFor(t, 5*time.Second, "all attached", func() bool { return r.attached("br0", "br1", "int0") })
	r.stop(t)
	r = start(t, cfg, &settings)
	waitFor(t, 5*time.Second, "br1 and int0 detached", func() bool {
		return bridgeSFlow(t, o, "br1") == "[]" && bridgeSFlow(t, o, "int0") == "[]"
	})
	if !r.attached("br0") {
		t.Errorf("Bridges() = %+v, want br0 attached only", r.Bridges())
	}
}

// TestIntegrationOVSDBRestart: after a crash (no cleanup), a new programmer
// finds its row by the mark and reuses it without writing; duplicate
// owned rows are reduced to one.
func TestIntegrationOVSDBRestart(t *testing.T) {
	testbed.Integration(t)
	o := testbed.StartOVS(t, false)
	o.AddBridge(t, "br0")
	o.AddBridge(t, "br1")
	crashed := start(t, Config{Endpoint: o.Endpoint(), RemoveOnExit: false}, &settings)
	waitFor(t, 5*time.Second, "attached", func() bool { return crashed.attached("br0", "br1") })
	crashed.settledTxns()
	if err := crashed.stop(t); err != nil { // like kill -9: nothing removed
		t.Fatalf("Run: %v", err)
	}
	rows := sflowRows(t, o)
	if len(rows) != 1 {
		t.Fatalf("sFlow rows after crash = %v", rows)
	}

	r := start(t, Config{Endpoint: o.Endpoint(), RemoveOnExit: true}, &settings)
	waitFor(t, 5*time.Second, "attached", func() bool { return r.attached("br0", "br1") })
	if n := r.settledTxns(); n != 0 {
		t.Errorf("restart with the same settings made %d transactions, want 0 (OVS would restart its sequence numbers)", n)
	}
	if got := sflowRows(t, o); !slices.Equal(got, rows) {
		t.Errorf("sFlow rows = %v, want the same row %v", got, rows)
	}
	r.stop(t)

	// Two owned rows, e.g. from an older bug or a hand edit.
	for _, br := range []string{"br0", "br1"} {
		o.Vsctl(t, "--", "--id=@s", "create", "sFlow", `targets="127.0.0.1:41234"`, "external_ids:gwd-owner=gwd",
			"--", "set", "Bridge", br, "sflow=@s")
	}
	if rows := sflowRows(t, o); len(rows) != 2 {
		t.Fatalf("setup: sFlow rows = %v, want 2", rows)
	}
	r = start(t, Config{Endpoint: o.Endpoint()}, &settings)
	waitFor(t, 5*time.Second, "one row", func() bool {
		return len(sflowRows(t, o)) == 1 && r.attached("br0", "br1")
	})
	if a, b := bridgeSFlow(t, o, "br0"), bridgeSFlow(t, o, "br1"); a != b {
		t.Errorf("br0 sflow %s != br1 sflow %s", a, b)
	}
}

// TestIntegrationOVSDBServerRestart: the programmer reconnects after
// ovsdb-server restarts and keeps converging, with one row.
func TestIntegrationOVSDBServerRestart(t *testing.T) {
	testbed.Integration(t)
	o := testbed.StartOVS(t, false)
	o.AddBridge(t, "br0")
	r := start(t, Config{Endpoint: o.Endpoint()}, &settings)
	waitFor(t, 5*time.Second, "attached", func() bool { return r.attached("br0") })
	r.settledTxns()

	t0 := time.Now()
	o.RestartOVSDB(t)
	d := waitFor(t, 10*time.Second, "reconnected", func() bool { return r.log.Count("ovsdb connected") == 2 })
	t.Logf("reconnected %v after ovsdb-server was back (%v after the restart began)", d, time.Since(t0))
	if c, err := r.Status(); !c || err != nil {
		t.Errorf("Status() = %v, %v after reconnect", c, err)
	}
	o.AddBridge(t, "br1")
	waitFor(t, time.Second, "br1 attached after reconnect", func() bool { return r.attached("br0", "br1") })
	s := settings
	s.Polling = 5
	r.Set(s)
	waitFor(t, 2*time.Second, "polling 5", func() bool {
		rows := sflowRows(t, o)
		return len(rows) == 1 && o.Vsctl(t, "get", "sFlow", rows[0], "polling") == "5"
	})
	if rows := sflowRows(t, o); len(rows) != 1 {
		t.Errorf("sFlow rows = %v, want one", rows)
	}
}

// TestIntegrationOVSDBShutdown: a clean exit detaches the row everywhere
// and OVSDB collects it; foreign rows on unmanaged bridges stay.
func TestIntegrationOVSDBShutdown(t *testing.T) {
	testbed.Integration(t)
	o := testbed.StartOVS(t, false)
	o.AddBridge(t, "br0")
	o.AddBridge(t, "br1")
	o.AddBridge(t, "other")
	foreign := foreignRow(t, o, "other")
	r := start(t, Config{Endpoint: o.Endpoint(), RemoveOnExit: true, Exclude: regexp.MustCompile("other")}, &settings)
	waitFor(t, 5*time.Second, "attached", func() bool { return r.attached("br0", "br1") })
	t0 := time.Now()
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("clean shutdown took %v", time.Since(t0))
	if rows := sflowRows(t, o); len(rows) != 1 || rows[0] != foreign {
		t.Errorf("sFlow rows after exit = %v, want only the foreign %s", rows, foreign)
	}
	for _, br := range []string{"br0", "br1"} {
		if got := bridgeSFlow(t, o, br); got != "[]" {
			t.Errorf("%s sflow = %s after exit", br, got)
		}
	}
	if c, _ := r.Status(); c {
		t.Errorf("Status() connected after Run returned")
	}
}

// TestIntegrationOVSDBBeforeSet: a programmer without settings only
// watches: an existing owned row is not touched.
func TestIntegrationOVSDBBeforeSet(t *testing.T) {
	testbed.Integration(t)
	o := testbed.StartOVS(t, false)
	o.AddBridge(t, "br0")
	o.Vsctl(t, "--", "--id=@s", "create", "sFlow", `targets="127.0.0.1:1"`, "external_ids:gwd-owner=gwd",
		"--", "set", "Bridge", "br0", "sflow=@s")
	r := start(t, Config{Endpoint: o.Endpoint(), RemoveOnExit: true}, nil)
	waitFor(t, 5*time.Second, "view", func() bool { return r.attached("br0") })
	if n := r.settledTxns(); n != 0 {
		t.Errorf("transactions before Set = %d", n)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if rows := sflowRows(t, o); len(rows) != 0 {
		t.Errorf("RemoveOnExit left %v", rows)
	}
}

// TestIntegrationOVSDBVswitchd: with ovs-vswitchd, the view carries kernel
// ifIndexes, OpenFlow ports, link speeds and datapath IDs, the default
// sampling rate follows the fastest port, and OVS sends sFlow to the
// target.
func TestIntegrationOVSDBVswitchd(t *testing.T) {
	testbed.Integration(t)
	o := testbed.StartOVS(t, true)
	o.AddBridge(t, "gwdsw0")
	o.AddNamespacePort(t, "gwdsw0", "gwdv1", "h1", "10.78.0.1/24")
	o.AddNamespacePort(t, "gwdsw0", "gwdv2", "h2", "10.78.0.2/24")
	intake := testutil.NewCollector(t)
	s := Settings{Targets: []string{intake.Addr.String()}, Polling: 1, Agent: "127.0.0.1"}
	r := start(t, Config{Endpoint: o.Endpoint()}, &s)
	waitFor(t, 5*time.Second, "attached with ports", func() bool {
		b, ok := r.bridge("gwdsw0")
		return ok && b.Attached && len(b.Ports) == 3 && b.Ports[0].IfIndex != 0
	})
	b, _ := r.bridge("gwdsw0")
	if b.DatapathID == 0 {
		t.Errorf("DatapathID = 0")
	}
	for _, p := range b.Ports {
		if p.Name == "gwdsw0" {
			if p.Type != "internal" || p.OFPort != 65534 {
				t.Errorf("local port = %+v", p)
			}
			continue
		}
		idx, err := os.ReadFile("/sys/class/net/" + p.Name + "/ifindex")
		if err != nil || strings.TrimSpace(string(idx)) != strconv.Itoa(int(p.IfIndex)) {
			t.Errorf("port %+v: kernel ifindex %s (%v)", p, idx, err)
		}
		if p.OFPort < 1 || p.Speed == 0 || p.Type != "" {
			t.Errorf("port %+v: want OpenFlow port, speed, system type", p)
		}
	}
	t.Logf("view: %+v", b)
	rows := sflowRows(t, o)
	if len(rows) != 1 {
		t.Fatalf("sFlow rows = %v", rows)
	}
	var fastest uint64
	for _, p := range b.Ports {
		if p.Type == "" {
			fastest = max(fastest, p.Speed)
		}
	}
	want := strconv.Itoa(DefaultSamplingFor(fastest))
	waitFor(t, 2*time.Second, "sampling "+want, func() bool { return o.Vsctl(t, "get", "sFlow", rows[0], "sampling") == want })

	o.Ping(t, "h1", "10.78.0.2", 3)
	buf, err := intake.Read(5 * time.Second)
	if err != nil {
		t.Fatalf("no sFlow datagram from OVS: %v", err)
	}
	if len(buf) < 28 || buf[3] != 5 {
		t.Errorf("datagram of %d bytes, version %d, want sFlow v5", len(buf), buf[3])
	}
}

// TestIntegrationOVSDBNoLeak: Run leaves no goroutine behind, whether it
// ends connected, after a reconnection or while OVSDB is unreachable.
func TestIntegrationOVSDBNoLeak(t *testing.T) {
	testbed.Integration(t)
	o := testbed.StartOVS(t, false)
	o.AddBridge(t, "br0")
	time.Sleep(50 * time.Millisecond)
	base := runtime.NumGoroutine()
	for i := range 2 {
		r := start(t, Config{Endpoint: o.Endpoint(), RemoveOnExit: true}, &settings)
		waitFor(t, 5*time.Second, "attached", func() bool { return r.attached("br0") })
		if i == 1 {
			o.RestartOVSDB(t)
			waitFor(t, 10*time.Second, "reconnected", func() bool { return r.log.Count("ovsdb connected") == 2 })
		}
		r.stop(t)
	}
	r := start(t, Config{Endpoint: "unix:" + o.Dir + "/none.sock"}, &settings)
	time.Sleep(600 * time.Millisecond) // a few failed attempts
	r.stop(t)
	t0 := time.Now()
	for runtime.NumGoroutine() > base {
		if time.Since(t0) > 2*time.Second {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

package ovs

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"gwd/internal/testbed"
	"gwd/internal/testutil"
)

// running is a programmer whose Run goroutine the test controls.
type running struct {
	*Programmer
	log    *testutil.SyncBuffer
	cancel context.CancelFunc
	done   chan struct{}
	err    error // Run's result, once done is closed
}

// start runs a programmer on cfg until stop (or the test's end).
func start(t *testing.T, cfg Config, s *Settings) *running {
	t.Helper()
	log, lb := testutil.Logger(slog.LevelInfo)
	p := NewProgrammer(cfg, log, nil)
	if s != nil {
		p.Set(*s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Programmer: p, log: lb, cancel: cancel, done: make(chan struct{})}
	go func() {
		r.err = p.Run(ctx)
		close(r.done)
	}()
	t.Cleanup(func() {
		r.stop(t)
		if t.Failed() {
			t.Logf("programmer log:\n%s", lb)
		}
	})
	return r
}

// stop cancels Run and returns its result.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		return r.err
	case <-time.After(10 * time.Second):
		t.Fatalf("Run did not return within 10 s of cancel")
		return nil
	}
}

// waitFor polls cond every 2 ms until it holds, failing after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	t0 := time.Now()
	for !cond() {
		if time.Since(t0) > d {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(t0)
}

// attached reports whether Bridges() lists exactly names, all attached.
func (r *running) attached(names ...string) bool {
	bs := r.Bridges()
	if len(bs) != len(names) {
		return false
	}
	for i, b := range bs {
		if b.Name != names[i] || !b.Attached {
			return false
		}
	}
	return true
}

func (r *running) bridge(name string) (Bridge, bool) {
	for _, b := range r.Bridges() {
		if b.Name == name {
			return b, true
		}
	}
	return Bridge{}, false
}

// sflowRows lists the UUIDs of the sFlow table's rows.
func sflowRows(t *testing.T, o *testbed.OVS) []string {
	t.Helper()
	return strings.Fields(o.Vsctl(t, "--bare", "--columns=_uuid", "list", "sFlow"))
}

// bridgeSFlow is the sflow column of a bridge ("[]" when empty).
func bridgeSFlow(t *testing.T, o *testbed.OVS, br string) string {
	t.Helper()
	return o.Vsctl(t, "get", "Bridge", br, "sflow")
}

// foreignRow makes somebody else's sFlow row on bridge br.
func foreignRow(t *testing.T, o *testbed.OVS, br string) string {
	t.Helper()
	return o.Vsctl(t, "--", "--id=@s", "create", "sFlow", `targets="192.0.2.9:6343"`, "sampling=7",
		"external_ids:owner=somebody", "--", "set", "Bridge", br, "sflow=@s")
}

// settledTxns waits until the programmer made no transaction for 300 ms
// and returns the count.
func (r *running) settledTxns() int64 {
	n := r.txns.Load()
	for {
		time.Sleep(300 * time.Millisecond)
		m := r.txns.Load()
		if m == n {
			return n
		}
		n = m
	}
}

package ovs

import (
	"errors"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestProgrammerNoServer: a missing or refusing OVSDB is a clear error in
// Status, logged once while Run keeps retrying; cancel ends Run at once.
func TestProgrammerNoServer(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "nope.sock")
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	for _, tt := range []struct {
		endpoint, want string
		errno          error
	}{
		{"unix:" + sock, "ovsdb unix:" + sock + ": connect: no such file or directory", syscall.ENOENT},
		{"tcp:" + closed, "ovsdb tcp:" + closed + ": connect: connection refused", syscall.ECONNREFUSED},
	} {
		t.Run(tt.endpoint, func(t *testing.T) {
			r := start(t, Config{Endpoint: tt.endpoint, RemoveOnExit: true}, &settings)
			waitFor(t, 2*time.Second, "an error", func() bool { _, err := r.Status(); return err != nil })
			c, err := r.Status()
			if c || err.Error() != tt.want {
				t.Errorf("Status() = %v, %q, want false, %q", c, err, tt.want)
			}
			if !errors.Is(err, tt.errno) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.errno)
			}
			time.Sleep(time.Second) // several retries: 250 ms, 500 ms, ...
			if n := r.log.Count("ovsdb unavailable"); n != 1 {
				t.Errorf("logged %d times, want once:\n%s", n, r.log)
			}
			t0 := time.Now()
			if err := r.stop(t); err != nil {
				t.Errorf("Run = %v", err)
			}
			// A hang guard, not a speed check (the figure is logged).
			if d := time.Since(t0); d > 5*time.Second {
				t.Errorf("Run took %v to return after cancel", d)
			} else {
				t.Logf("Run returned %v after cancel", d)
			}
		})
	}
}

// TestProgrammerBadPolicy: an unknown policy ends Run with an error.
func TestProgrammerBadPolicy(t *testing.T) {
	r := start(t, Config{Endpoint: "unix:/nonexistent", Policy: "grab"}, nil)
	select {
	case <-r.done:
	case <-time.After(time.Second):
		t.Fatal("Run did not return")
	}
	if r.err == nil || !strings.Contains(r.err.Error(), `policy "grab"`) {
		t.Errorf("Run = %v", r.err)
	}
	if _, err := r.Status(); err == nil {
		t.Errorf("Status() has no error")
	}
}

// TestSetCopies: Set keeps its own copy of the targets.
func TestSetCopies(t *testing.T) {
	p := NewProgrammer(Config{}, nil, nil)
	s := Settings{Targets: []string{"a:1"}}
	p.Set(s)
	s.Targets[0] = "b:2"
	if p.want.Targets[0] != "a:1" {
		t.Errorf("Set aliased the caller's slice")
	}
	if p.endpoint != DefaultEndpoint || p.cfg.Policy != PolicyAdopt {
		t.Errorf("defaults: endpoint %q, policy %q", p.endpoint, p.cfg.Policy)
	}
}

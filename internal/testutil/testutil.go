// Package testutil holds the helpers that tests of several packages share:
// where the repository's sFlow captures and sflowtool reference outputs are
// (testdata/captures), a UDP collector on a free loopback port, free ports,
// a buffer a logger in another goroutine may write to, and polling until a
// condition holds. Only _test.go files import it.
//
// It imports nothing of gwd, so that every package's own tests (sflow,
// agent, internal/capture included) can use it. The fake of the agent's
// registration API is in the sub-package fakeagent; reading a capture file
// is capture.ReadFile.
package testutil

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// RepoRoot returns the repository's root: the closest folder, from the
// test's working directory (its package) up, that holds go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.mod above %s", dir)
		}
	}
}

// Eventually calls f until it returns nil, every 50 ms, and fails the test
// with f's last error once timeout has passed.
func Eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

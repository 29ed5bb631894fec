// Package testbed starts real components for integration tests (see
// ../shared/TESTBED.md) and decides what a missing component means: a skip
// with the reason when developing, a failure when GWD_REQUIRE_INTEGRATION=1
// (as in CI), so CI can never be green by skipping.
package testbed

import (
	"os"
	"os/exec"
	"testing"
)

// Required reports whether integration tests must run (CI).
func Required() bool { return os.Getenv("GWD_REQUIRE_INTEGRATION") == "1" }

// Missing skips the test with reason, or fails it when integration is
// required.
func Missing(t testing.TB, reason string) {
	t.Helper()
	if Required() {
		t.Fatalf("integration component missing (GWD_REQUIRE_INTEGRATION=1): %s", reason)
	}
	t.Skipf("integration component missing: %s", reason)
}

// NeedCommand returns the path of a command the test needs, or calls
// Missing.
func NeedCommand(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name+" not installed")
	}
	return p
}

// NeedRoot calls Missing unless the test runs as root (network namespaces,
// interfaces).
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "needs root")
	}
}

// Package testbed starts real components for integration tests, each in a
// private directory, on ports chosen at run time, stopped by PID when the
// test ends (see ../shared/TESTBED.md for how each one runs on these
// machines): Open vSwitch (StartOVS), redis-server (StartRedis), snmpd
// (StartSNMPD), network namespaces with veth pairs (NewNetns), BIRD as a BGP
// peer (StartBird), libvirtd with its test driver (StartLibvirtd) and a
// private subtree of the host's cgroup v2 hierarchy (NewCgroup2).
//
// It also decides what a missing component means: a skip with the reason
// when developing, a failure when GWD_REQUIRE_INTEGRATION=1 (as in CI), so
// CI can never be green by skipping. Every TestIntegration* test starts
// with Integration(t), which skips it under `go test -short`.
package testbed

import (
	"os"
	"os/exec"
	"testing"
)

// RequireEnv is the environment variable that makes a missing component a
// failure instead of a skip when set to 1.
const RequireEnv = "GWD_REQUIRE_INTEGRATION"

// Required reports whether integration tests must run (CI).
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Integration marks t as an integration test: under `go test -short` it is
// skipped, unless integration is required, which makes -short a failure
// (CI must not pass by skipping). Every TestIntegration* test calls it
// first; the starters of this package call it too.
func Integration(t testing.TB) {
	t.Helper()
	if !testing.Short() {
		return
	}
	if Required() {
		t.Fatalf("integration test under -short, but %s=1 requires it to run", RequireEnv)
	}
	t.Skip("integration test: skipped with -short")
}

// Missing skips the test with reason, or fails it when integration is
// required.
func Missing(t testing.TB, reason string) {
	t.Helper()
	if Required() {
		t.Fatalf("integration component missing (%s=1): %s", RequireEnv, reason)
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

package images

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gwd/internal/testbed"
)

// sh runs a command and returns its combined output, failing the test on a
// non-zero exit.
func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// Paths the package or its maintainer scripts create: after a purge none
// of them may be left.
var (
	unit      = "/lib/systemd/system/gwd.service"
	wants     = "/etc/systemd/system/multi-user.target.wants/gwd.service"
	mask      = "/etc/systemd/system/gwd.service"
	dshState  = "/var/lib/systemd/deb-systemd-helper-enabled/gwd.service"
	dshAlso   = "/var/lib/systemd/deb-systemd-helper-enabled/gwd.service.dsh-also"
	dshMasked = "/var/lib/systemd/deb-systemd-helper-masked/gwd.service"
	purged    = []string{"/usr/sbin/gwd", "/etc/gwd", unit, wants, mask, dshState, dshAlso, dshMasked,
		"/usr/share/man/man8/gwd.8.gz", "/usr/share/doc/gwd"}
)

// TestIntegrationDeb builds the .deb with `make deb` and installs it with
// dpkg on this machine (root, Debian 12): /usr/sbin/gwd runs, the packaged
// /etc/gwd/gwd.yaml passes `gwd config check`, systemd-analyze verifies
// the unit (and finds gwd(8), its Documentation=), postinst enabled the
// unit without a running systemd, lintian reports no error; `dpkg -r`
// removes the files but keeps the conffile, `dpkg -P` leaves nothing. The
// package is purged when the test ends, whatever happened.
func TestIntegrationDeb(t *testing.T) {
	testbed.Integration(t)
	testbed.NeedRoot(t)
	for _, c := range []string{"make", "dpkg", "dpkg-deb", "objdump", "strip", "systemd-analyze", "lintian", "deb-systemd-helper"} {
		testbed.NeedCommand(t, c)
	}
	if exec.Command("dpkg-query", "-W", "gwd").Run() == nil {
		testbed.Missing(t, "a gwd package is installed on this machine already; the test will not replace it")
	}

	dir := t.TempDir()
	sh(t, "make", "-C", "..", "deb", "BIN="+filepath.Join(dir, "gwd"), "DEBDIR="+dir)
	debs, _ := filepath.Glob(filepath.Join(dir, "gwd_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("make deb wrote %v, want one gwd_*.deb", debs)
	}
	deb := debs[0]
	t.Logf("built %s", filepath.Base(deb))

	t.Cleanup(func() {
		if out, err := exec.Command("dpkg", "-P", "gwd").CombinedOutput(); err != nil {
			t.Errorf("cleanup: dpkg -P gwd: %v\n%s", err, out)
		}
		// systemd-analyze ran man, and man-db may keep a formatted copy.
		os.Remove("/var/cache/man/cat8/gwd.8.gz")
	})
	sh(t, "dpkg", "-i", deb)

	out := sh(t, "/usr/sbin/gwd", "version")
	if f := strings.Fields(out); len(f) != 6 || f[0] != "gwd" || f[1] == "dev" || f[3] == "unknown" || f[5] == "unknown" {
		t.Errorf("gwd version: %q, want the version, commit and date set by make", out)
	}
	cmd := exec.Command("/usr/sbin/gwd", "config", "check", "--config", "/etc/gwd/gwd.yaml")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Errorf("gwd config check --config /etc/gwd/gwd.yaml: %v\n%s", err, stderr.String())
	}
	if out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
	}
	if !exists(wants) {
		t.Errorf("postinst did not enable gwd.service (%s missing)", wants)
	}
	if !exists("/run/systemd/system") {
		// Other gwd processes (tests, other checkouts) may run here; only
		// the packaged binary counts.
		exes, _ := filepath.Glob("/proc/[0-9]*/exe")
		for _, e := range exes {
			if target, _ := os.Readlink(e); target == "/usr/sbin/gwd" {
				t.Errorf("postinst started /usr/sbin/gwd (%s) without a running systemd", e)
			}
		}
	}

	lint, _ := exec.Command("lintian", "--tag-display-limit", "0", deb).CombinedOutput()
	t.Logf("lintian:\n%s", lint)
	for _, l := range strings.Split(string(lint), "\n") {
		if strings.HasPrefix(l, "E: ") {
			t.Errorf("lintian error: %s", l)
		}
	}

	// Removal (not purge) keeps the conffile and, as debhelper's scripts do,
	// the enablement (masked until a purge or a reinstallation).
	sh(t, "dpkg", "-r", "gwd")
	for _, p := range []string{"/usr/sbin/gwd", unit, "/usr/share/doc/gwd"} {
		if exists(p) {
			t.Errorf("after dpkg -r: %s is still there", p)
		}
	}
	if !exists("/etc/gwd/gwd.yaml") {
		t.Errorf("dpkg -r removed the conffile /etc/gwd/gwd.yaml (only a purge may)")
	}
	sh(t, "dpkg", "-P", "gwd")
	for _, p := range purged {
		if exists(p) {
			t.Errorf("after dpkg -P: %s is still there", p)
		}
	}
	if exec.Command("dpkg-query", "-W", "gwd").Run() == nil {
		t.Errorf("dpkg-query still knows gwd after the purge")
	}
}

package testbed

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Libvirtd is a private libvirtd whose only hypervisor driver is the
// built-in test driver: the URI test:///default shows a fake running
// domain ("test") whose statistics grow on every call.
type Libvirtd struct {
	Dir    string // private directory: libvirtd.conf, run/ (sockets)
	Socket string // read-write unix socket
	URI    string // test+unix:///default?socket=<Socket>, for virsh -c
}

// StartLibvirtd starts libvirtd in the foreground with sockets in its
// directory, no authentication on them, and an empty driver directory (so
// that no qemu or other driver loads), and waits until its socket accepts
// connections. It is stopped when the test ends. A missing libvirtd or
// virsh, or no root, calls Missing.
func StartLibvirtd(t testing.TB) *Libvirtd {
	t.Helper()
	Integration(t)
	path := NeedCommand(t, "libvirtd")
	NeedCommand(t, "virsh")
	NeedRoot(t) // the system daemon (state in /run/libvirt): tried as root only
	dir := privateDir(t, "gwdvirt")
	for _, sub := range []string{"run", "drivers"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatalf("testbed: %v", err)
		}
	}
	l := &Libvirtd{Dir: dir, Socket: filepath.Join(dir, "run", "libvirt-sock")}
	l.URI = "test+unix:///default?socket=" + l.Socket
	conf := fmt.Sprintf("unix_sock_dir = %q\nauth_unix_rw = \"none\"\nauth_unix_ro = \"none\"\nlog_outputs = \"3:file:%s\"\n",
		filepath.Join(dir, "run"), filepath.Join(dir, "libvirtd.log"))
	confPath := filepath.Join(dir, "libvirtd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatalf("testbed: %v", err)
	}
	env := append(os.Environ(), "LIBVIRT_DRIVER_DIR="+filepath.Join(dir, "drivers"))
	d := spawn(t, dir, path, env, "-f", confPath, "-p", filepath.Join(dir, "libvirtd.pid"))
	d.stopAtCleanup(t, "libvirtd.log")
	d.waitReady(t, 20*time.Second, accepts(l.Socket), "libvirtd.log")
	return l
}

// Virsh runs `virsh -c URI args...` and returns its output, failing the
// test on an error.
func (l *Libvirtd) Virsh(t testing.TB, args ...string) string {
	t.Helper()
	return mustRun(t, "virsh", append([]string{"-c", l.URI}, args...)...)
}

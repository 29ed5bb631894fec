package testbed

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// daemon is one component process run in the foreground as a child of the
// test process: the kernel kills it if the test process dies (Pdeathsig),
// and stop ends it by its PID. Its stdout and stderr go to
// <dir>/<name>.stderr.
type daemon struct {
	name   string // command name, for messages and the stderr file
	dir    string
	pid    int
	exited chan struct{} // closed once the process has been waited for
}

// spawn starts path with args in the environment env (nil: the test
// process's). Starting failures fail the test.
func spawn(t testing.TB, dir, path string, env []string, args ...string) *daemon {
	t.Helper()
	name := filepath.Base(path)
	stderr, err := os.Create(filepath.Join(dir, name+".stderr"))
	if err != nil {
		t.Fatalf("testbed: %v", err)
	}
	defer stderr.Close()
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = stderr, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	d := &daemon{name: name, dir: dir, exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig follows the thread that forked the child: keep that
		// thread alive (locked, waiting) for as long as the child lives.
		runtime.LockOSThread()
		err := cmd.Start()
		started <- err
		if err == nil {
			cmd.Wait()
		}
		close(d.exited)
	}()
	if err := <-started; err != nil {
		t.Fatalf("testbed: start %s: %v", name, err)
	}
	d.pid = cmd.Process.Pid
	return d
}

// waitReady calls ready every 10 ms until it returns nil. It fails the test
// when the daemon exits first or timeout passes, quoting its stderr and
// the last lines of the files logs (names in the daemon's directory).
func (d *daemon) waitReady(t testing.TB, timeout time.Duration, ready func() error, logs ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return
		}
		select {
		case <-d.exited:
			t.Fatalf("testbed: %s exited at start: %v\n%s", d.name, err, d.tails(logs))
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("testbed: %s not ready within %v: %v\n%s", d.name, timeout, err, d.tails(logs))
		}
	}
}

// tails returns the last lines of the daemon's stderr and of logs.
func (d *daemon) tails(logs []string) string {
	var b strings.Builder
	for _, f := range append([]string{d.name + ".stderr"}, logs...) {
		if s := tail(filepath.Join(d.dir, f), 20); s != "" {
			fmt.Fprintf(&b, "last lines of %s:\n%s\n", f, s)
		}
	}
	return b.String()
}

// stop ends the daemon by its PID: SIGTERM, then SIGKILL after 5 s. It
// returns once the process is gone; calling it again does nothing.
func (d *daemon) stop() {
	select {
	case <-d.exited:
		return
	default:
	}
	_ = syscall.Kill(d.pid, syscall.SIGTERM)
	select {
	case <-d.exited:
		return
	case <-time.After(5 * time.Second):
	}
	_ = syscall.Kill(d.pid, syscall.SIGKILL)
	<-d.exited
}

// accepts returns a readiness check: the unix socket at path accepts a
// connection (its file appears at bind, before listen).
func accepts(path string) func() error {
	return func() error {
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}
}

// stopAtCleanup stops the daemon when the test ends, after logging the
// last lines of its stderr and of logs if the test failed.
func (d *daemon) stopAtCleanup(t testing.TB, logs ...string) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testbed: %s\n%s", d.name, d.tails(logs))
		}
		d.stop()
	})
}

// runEnv runs a command to its end (cmdTimeout at most) in the environment
// env (nil: the test process's) and returns its standard output; an error
// quotes the command and what it printed.
func runEnv(env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err,
			strings.TrimSpace(errb.String()+" "+out.String()))
	}
	return out.String(), nil
}

// tail returns the last n lines of the file at path ("" when unreadable).
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// privateDir returns a directory of the test's own, removed at its end,
// whose path is short enough for unix socket paths below it (108 bytes):
// t.TempDir(), or a shorter one under the system's temporary directory
// when a long test name makes that too long.
func privateDir(t testing.TB, prefix string) string {
	t.Helper()
	dir := t.TempDir()
	if len(dir) <= 70 {
		return dir
	}
	d, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatalf("testbed: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

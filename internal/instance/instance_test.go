package instance

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// helperEnv makes the test binary a lock holder (see TestMain).
const helperEnv = "GWD_INSTANCE_HELPER_DIR"

// TestMain: with helperEnv set, the binary takes the lock on that
// directory, says "locked <pid>" on stdout and holds the lock until its
// stdin closes, then exits without releasing (as a crash would).
func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		if _, err := Acquire(dir); err != nil {
			os.Stdout.WriteString("error " + err.Error() + "\n")
			os.Exit(3)
		}
		os.Stdout.WriteString("locked " + strconv.Itoa(os.Getpid()) + "\n")
		buf := make([]byte, 1)
		os.Stdin.Read(buf) // returns at EOF
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %q: %v", b, err)
	}
	return pid
}

func TestAcquireWritesPIDAndReleaseRemoves(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run", "gwd") // created by Acquire
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("run directory: %v", err)
	}
	if l.Path() != filepath.Join(dir, FileName) {
		t.Errorf("Path() = %s", l.Path())
	}
	if pid := readPID(t, l.Path()); pid != os.Getpid() {
		t.Errorf("pid file says %d, want %d", pid, os.Getpid())
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(l.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file after Release: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Errorf("second Release: %v", err)
	}
	l2, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l2.Release()
}

// TestAcquireTwiceInOneProcess: flock belongs to the open file
// description, so a second Acquire in the same process conflicts.
func TestAcquireTwiceInOneProcess(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir)
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("second Acquire: %v, want a *HeldError", err)
	}
	if held.PID != os.Getpid() || held.Path != filepath.Join(dir, FileName) || held.Started.IsZero() {
		t.Errorf("HeldError %+v, want pid %d", held, os.Getpid())
	}
	want := "another gwd is already running (pid " + strconv.Itoa(os.Getpid()) + ", started "
	if !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "lock "+held.Path+"); stop it or give this one another --run-dir") {
		t.Errorf("message %q", err)
	}
	if pid := readPID(t, l.Path()); pid != os.Getpid() {
		t.Errorf("the failed Acquire changed the pid file: %d", pid)
	}
	l.Release()
	l2, err := Acquire(dir)
	if err != nil {
		t.Fatalf("after Release: %v", err)
	}
	l2.Release()
}

// TestStaleFileDoesNotBlock: a pid file nobody locks (its gwd died) is
// taken over.
func TestStaleFileDoesNotBlock(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	if err := os.WriteFile(path, []byte("999999999\nleftover\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Acquire(dir)
	if err != nil {
		t.Fatalf("stale pid file blocked: %v", err)
	}
	defer l.Release()
	if b, _ := os.ReadFile(path); string(b) != strconv.Itoa(os.Getpid())+"\n" {
		t.Errorf("pid file %q", b)
	}
}

func TestAcquireBadDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Acquire(filepath.Join(file, "sub"))
	var held *HeldError
	if err == nil || errors.As(err, &held) || !strings.Contains(err.Error(), "run directory") {
		t.Errorf("Acquire under a file: %v", err)
	}
}

// TestAcquireHeldByAnotherProcess: a child process holds the lock; the
// error names its pid. Once it has died without releasing, the stale file
// is taken over.
func TestAcquireHeldByAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "locked ") {
		t.Fatalf("child: %q, %v", line, err)
	}
	go func() { waitErr = cmd.Wait(); close(exited) }()
	child := cmd.Process.Pid

	_, err = Acquire(dir)
	var held *HeldError
	if !errors.As(err, &held) || held.PID != child {
		t.Fatalf("Acquire = %v, want held by the child, pid %d", err, child)
	}
	if !strings.Contains(err.Error(), "(pid "+strconv.Itoa(child)+", started ") {
		t.Errorf("message does not name pid %d: %q", child, err)
	}
	t.Logf("message: %v", err)

	stdin.Close()
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("child: %v", waitErr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("child did not exit within 10 s")
	}
	if pid := readPID(t, filepath.Join(dir, FileName)); pid != child {
		t.Fatalf("setup: the dead child's pid file says %d, want %d", pid, child)
	}
	l, err := Acquire(dir)
	if err != nil {
		t.Fatalf("after the holder died: %v", err)
	}
	defer l.Release()
	if pid := readPID(t, l.Path()); pid != os.Getpid() {
		t.Errorf("pid file %d, want ours %d", pid, os.Getpid())
	}
}

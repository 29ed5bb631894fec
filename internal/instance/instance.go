// Package instance makes sure that one gwd runs per run directory: gwd
// run takes an exclusive lock on <dir>/gwd.pid at start and holds it until
// it exits. A second gwd on the same box (and so on the same OVSDB) fails
// at once with a message naming the first one, instead of fighting it over
// the sFlow row and the collectors' sequence numbers.
//
// The lock is flock(2) on the pid file: the kernel drops it when the
// holder exits, however it exits, so a pid file left behind by a crashed
// gwd never blocks the next one. flock locks belong to an open file
// description, so two Acquire calls conflict even within one process.
package instance

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultDir is the run directory when none is given.
const DefaultDir = "/run/gwd"

// FileName is the pid file's name in the run directory.
const FileName = "gwd.pid"

// HeldError says that another live process holds the lock.
type HeldError struct {
	Path    string    // the pid file
	PID     int       // the holder's pid, 0 when it could not be read
	Started time.Time // when the holder took the lock (the file's mtime), zero when unknown
}

func (e *HeldError) Error() string {
	pid, started := "unknown", "unknown"
	if e.PID > 0 {
		pid = strconv.Itoa(e.PID)
	}
	if !e.Started.IsZero() {
		started = e.Started.Format(time.RFC3339)
	}
	return fmt.Sprintf("another gwd is already running (pid %s, started %s, lock %s); stop it or give this one another --run-dir",
		pid, started, e.Path)
}

// Lock is a held instance lock. Release it when gwd exits (exiting
// without releasing is fine too: the kernel drops the lock).
type Lock struct {
	path string
	once sync.Once
	f    *os.File
}

// Path is the locked pid file.
func (l *Lock) Path() string { return l.path }

// Acquire creates dir (mode 0755, DefaultDir when "") if needed and takes
// an exclusive lock on dir/gwd.pid without waiting, then writes the
// caller's pid into it. When another process holds the lock, the error is
// a *HeldError naming it.
func Acquire(dir string) (*Lock, error) {
	if dir == "" {
		dir = DefaultDir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("instance lock: run directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	// A holder that releases unlinks the file; a contender may then lock
	// the unlinked inode. Lock, then check that the path still names the
	// locked file, and start over if not.
	for range 10 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("instance lock: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, holder(path)
			}
			return nil, fmt.Errorf("instance lock: flock %s: %w", path, err)
		}
		if !samePath(f, path) {
			f.Close()
			continue
		}
		if err := writePID(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("instance lock: write %s: %w", path, err)
		}
		return &Lock{path: path, f: f}, nil
	}
	return nil, fmt.Errorf("instance lock: %s keeps being replaced while locking it", path)
}

// Release removes the pid file and drops the lock. It is safe to call more
// than once.
func (l *Lock) Release() error {
	var err error
	l.once.Do(func() {
		// Unlink while still holding the lock: a contender that opened the
		// old file notices (samePath) and opens a new one.
		if e := os.Remove(l.path); e != nil && !errors.Is(e, os.ErrNotExist) {
			err = fmt.Errorf("instance lock: %w", e)
		}
		if e := l.f.Close(); e != nil && err == nil {
			err = fmt.Errorf("instance lock: close %s: %w", l.path, e)
		}
	})
	return err
}

// samePath reports whether path still names the open file f.
func samePath(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// writePID replaces the file's content with "<pid>\n".
func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return err
	}
	return f.Sync()
}

// holder describes the process that holds the lock on path. The holder
// writes its pid right after locking: a contender that comes in between
// reads an empty file, so it looks again a few times.
func holder(path string) *HeldError {
	e := &HeldError{Path: path}
	for i := range 20 {
		b, err := os.ReadFile(path)
		if err == nil {
			if pid, err := strconv.Atoi(string(bytes.TrimSpace(b))); err == nil && pid > 0 {
				e.PID = pid
				if st, err := os.Stat(path); err == nil {
					e.Started = st.ModTime()
				}
				return e
			}
		}
		if i < 19 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	return e
}

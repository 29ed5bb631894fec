package testbed

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Cgroup2 is a private cgroup v2 subtree for one test:
// <cgroup2 mount>/gwdtest-<random>. Every directory the test makes under
// it with Mkdir is removed at cleanup, deepest first.
type Cgroup2 struct {
	// Mount is where cgroup v2 is mounted (/sys/fs/cgroup, or
	// /sys/fs/cgroup/unified on a hybrid host); Root the test's subtree.
	Mount, Root string
	dirs        []string
}

// NewCgroup2 makes a private subtree in the host's cgroup v2 hierarchy,
// or calls Missing when there is none, it is not writable, or the test is
// not root. Processes moved in must be ended by the test (by PID) before
// cleanup, which removes the directories.
func NewCgroup2(t testing.TB) *Cgroup2 {
	t.Helper()
	Integration(t)
	NeedRoot(t)
	mount := cgroup2Mount()
	if mount == "" {
		Missing(t, "no cgroup2 file system in /proc/mounts")
	}
	var b [4]byte
	rand.Read(b[:])
	c := &Cgroup2{Mount: mount, Root: filepath.Join(mount, "gwdtest-"+hex.EncodeToString(b[:]))}
	if err := os.Mkdir(c.Root, 0o755); err != nil {
		Missing(t, "cgroup v2 at "+mount+" is not writable: "+err.Error())
	}
	c.dirs = append(c.dirs, c.Root)
	t.Cleanup(func() { c.remove(t) })
	return c
}

// Mkdir creates the cgroup rel (slash-separated, parents included) under
// Root and returns its path.
func (c *Cgroup2) Mkdir(t testing.TB, rel string) string {
	t.Helper()
	dir := c.Root
	for _, part := range strings.Split(rel, "/") {
		dir = filepath.Join(dir, part)
		if slices.Contains(c.dirs, dir) {
			continue
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatalf("cgroup %s: %v", dir, err)
		}
		c.dirs = append(c.dirs, dir)
	}
	return dir
}

// Move puts process pid into cgroup dir.
func (c *Cgroup2) Move(t testing.TB, dir string, pid int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		t.Fatalf("moving pid %d into %s: %v", pid, dir, err)
	}
}

// remove deletes the directories deepest first; a cgroup whose last
// process has just exited may stay busy for a moment (bounded retries).
func (c *Cgroup2) remove(t testing.TB) {
	for i := len(c.dirs) - 1; i >= 0; i-- {
		var err error
		for try := 0; try < 50; try++ {
			if err = os.Remove(c.dirs[i]); err == nil || errors.Is(err, os.ErrNotExist) {
				err = nil
				break
			}
			if !errors.Is(err, syscall.EBUSY) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Errorf("removing cgroup %s: %v", c.dirs[i], err)
		}
	}
}

// cgroup2Mount is the first cgroup2 mount point in /proc/mounts.
func cgroup2Mount() string {
	f, err := os.Open("/proc/mounts")
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if f := strings.Fields(s.Text()); len(f) >= 3 && f[2] == "cgroup2" {
			return f[1]
		}
	}
	return ""
}

package host

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"gwd/agent"
	"gwd/internal/testutil/fakeagent"
	"gwd/sflow"
)

const fixture = "testdata/root1"

// fakeStatfs serves statfs results by path and records the paths asked.
type fakeStatfs struct {
	mu       sync.Mutex
	fs       map[string]unix.Statfs_t
	asked    []string
	noRecord bool // benchmarks: do not grow asked
}

func (f *fakeStatfs) Statfs(path string, st *unix.Statfs_t) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.noRecord {
		f.asked = append(f.asked, path)
	}
	v, ok := f.fs[path]
	if !ok {
		return &fs.PathError{Op: "statfs", Path: path, Err: unix.ENOENT}
	}
	*st = v
	return nil
}

// fixtureStatfs is the filesystems of testdata/root1/proc/mounts.
func fixtureStatfs() *fakeStatfs {
	return &fakeStatfs{fs: map[string]unix.Statfs_t{
		"/":              {Bsize: 4096, Frsize: 4096, Blocks: 100000000, Bfree: 40000000, Bavail: 35000000},
		"/boot/efi":      {Bsize: 4096, Frsize: 4096, Blocks: 130812, Bfree: 120000, Bavail: 120000},
		"/srv/data set":  {Bsize: 4096, Frsize: 4096, Blocks: 976754646, Bfree: 100000000, Bavail: 100000000},
		"/media/ro-disk": {Bsize: 4096, Frsize: 4096, Blocks: 1, Bfree: 1, Bavail: 1}, // read-only: never asked
	}}
}

// fakeEEPROM serves module EEPROMs by interface name.
type fakeEEPROM struct {
	mu    sync.Mutex
	data  map[string][]byte
	calls int
}

func (f *fakeEEPROM) ReadModuleEEPROM(name string, buf []byte) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	d, ok := f.data[name]
	if !ok {
		return nil, fmt.Errorf("ethtool module info %s: %w", name, unix.EOPNOTSUPP)
	}
	return append(buf[:0], d...), nil
}

func (f *fakeEEPROM) Close() error { return nil }

// sourceNames lists the data sources registered on reg, as text, sorted.
func sourceNames(reg *fakeagent.Registrar) []string {
	var out []string
	for _, ds := range reg.Sources() {
		out = append(out, ds.String())
	}
	sort.Strings(out)
	return out
}

// rootConfig points a Config at a fixture root.
func rootConfig(t testing.TB, root string) Config {
	return Config{
		Proc:     filepath.Join(root, "proc"),
		Sys:      filepath.Join(root, "sys"),
		Etc:      filepath.Join(root, "etc"),
		StateDir: t.TempDir(),
	}
}

// newTestHost makes a Host on a fixture root with faked statfs and EEPROM
// and no netlink, and rescans so the fakes are in place for the pollers.
func newTestHost(t testing.TB, cfg Config) (*Host, *fakeStatfs, *fakeEEPROM) {
	t.Helper()
	h, err := New(cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	sf := fixtureStatfs()
	ee := &fakeEEPROM{data: map[string][]byte{}}
	h.statfs, h.eeprom, h.subscribe = sf, ee, nil
	return h, sf, ee
}

// copyRoot copies a fixture root into a temporary directory.
func copyRoot(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "root")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatalf("copy fixture: %v", err)
	}
	return dst
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// pollerFor returns the registered or snapshot poller of ifIndex.
func (h *Host) pollerFor(t testing.TB, ifIndex uint32) *ifPoller {
	t.Helper()
	for _, p := range h.snap.Load().ifaces {
		if p.ifIndex == ifIndex {
			return p
		}
	}
	t.Fatalf("no poller for ifIndex %d", ifIndex)
	return nil
}

// tags lists the tags of records.
func tags(recs []sflow.Record) []sflow.Tag {
	var out []sflow.Tag
	for _, r := range recs {
		out = append(out, r.Tag())
	}
	return out
}

// find returns the record with tag t, or nil.
func find(recs []sflow.Record, t sflow.Tag) sflow.Record {
	for _, r := range recs {
		if r.Tag() == t {
			return r
		}
	}
	return nil
}

func joinedErrs(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func agentIf(ifIndex uint32) agent.DataSource { return agent.InterfaceSource(ifIndex) }

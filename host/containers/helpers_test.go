package containers

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gwd/agent"
	"gwd/internal/testutil/fakeagent"
)

// The IDs of the fixture tree testdata/root.
var (
	idD1 = repeat("a1") // docker, systemd driver, named "web"
	idD2 = repeat("b2") // docker, cgroupfs driver, host network, frozen
	idK1 = repeat("c3") // k8s, systemd, cri-containerd, named by its log link
	idK2 = repeat("d4") // k8s, systemd, crio, guaranteed pod
	idK3 = repeat("e5") // k8s, cgroupfs, besteffort
	idN1 = repeat("f6") // nerdctl, systemd
)

func repeat(s string) string {
	out := ""
	for range 32 {
		out += s
	}
	return out
}

// fakeEntities is the fake registrar with the real agent's entity table.
type fakeEntities struct {
	*fakeagent.Registrar
	a *agent.Agent
}

func (f *fakeEntities) ClaimEntity(key string) (agent.DataSource, error) { return f.a.ClaimEntity(key) }
func (f *fakeEntities) ReleaseEntity(key string)                         { f.a.ReleaseEntity(key) }

func newFakeEntities(t testing.TB) *fakeEntities {
	a, err := agent.New(agent.Config{Polling: time.Second}, agent.SystemAddresses{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return &fakeEntities{Registrar: fakeagent.New(), a: a}
}

// fixtureConfig is a watcher configuration over root (testdata/root or a
// copy of it).
func fixtureConfig(root string, k Kind) Config {
	return Config{Kind: k, CgroupRoot: filepath.Join(root, "cgroup"), ProcRoot: filepath.Join(root, "proc"),
		DockerRoot: filepath.Join(root, "docker"), LogDir: filepath.Join(root, "logs"),
		Namespaces: []string{"default"}, Refresh: time.Second, Forget: time.Second}
}

// copyTree copies the fixture tree (files, directories, symlinks) to a
// temporary directory, for tests that change it.
func copyTree(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, to)
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(to, b, 0o644)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// writeCgroup creates a container cgroup directory with the files the
// poller reads.
func writeCgroup(t testing.TB, dir string, usageUsec, memory uint64, pid int) {
	t.Helper()
	files := map[string]string{
		"cpu.stat":       "usage_usec " + itoa(usageUsec) + "\nuser_usec 0\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n",
		"memory.current": itoa(memory) + "\n",
		"memory.max":     "max\n",
		"cpu.max":        "max 100000\n",
		"io.stat":        "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
		"cgroup.events":  "populated 1\nfrozen 0\n",
		"cgroup.procs":   "",
	}
	if pid > 0 {
		files["cgroup.procs"] = itoa(uint64(pid)) + "\n"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for n, s := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func itoa(v uint64) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + v%10)}, b...)
		v /= 10
		if v == 0 {
			return string(b)
		}
	}
}

func writeFile(t testing.TB, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func removeAll(t testing.TB, path string) {
	t.Helper()
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

package containers

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gwd/sflow"
)

// benchTree generates a cgroup tree of n docker containers (systemd
// layout) with the files a poll reads, each with a process whose network
// namespace has two interfaces besides lo.
func benchTree(b *testing.B, n int) string {
	root := b.TempDir()
	writeFile(b, filepath.Join(root, "cgroup", "cgroup.controllers"), "cpu io memory pids\n")
	writeFile(b, filepath.Join(root, "proc", "meminfo"), "MemTotal:        4000000 kB\n")
	os.MkdirAll(filepath.Join(root, "proc", "self", "ns"), 0o755)
	os.Symlink("net:[4026531840]", filepath.Join(root, "proc", "self", "ns", "net"))
	dev := "Inter-|   Receive |  Transmit\n face |bytes packets|bytes packets\n" +
		"    lo: 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n  eth0: 5000000 40000 1 2 0 0 0 0 3000000 30000 3 4 0 0 0 0\n" +
		"  eth1: 5000000 40000 1 2 0 0 0 0 3000000 30000 3 4 0 0 0 0\n"
	for i := range n {
		id := fmt.Sprintf("%064x", i+1)
		pid := 10000 + i
		writeCgroup(b, filepath.Join(root, "cgroup", "system.slice", "docker-"+id+".scope"), uint64(i)*1000, 1<<20, pid)
		p := filepath.Join(root, "proc", fmt.Sprint(pid))
		writeFile(b, filepath.Join(p, "net", "dev"), dev)
		os.MkdirAll(filepath.Join(p, "ns"), 0o755)
		os.Symlink(fmt.Sprintf("net:[%d]", 4026532000+i), filepath.Join(p, "ns", "net"))
	}
	return root
}

// BenchmarkScan is one discovery refresh over n known containers (the
// steady state: nothing new, nothing gone).
func BenchmarkScan(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			root := benchTree(b, n)
			e := newFakeEntities(b)
			w := NewWatcher(fixtureConfig(root, Docker), e, nil)
			w.Refresh(time.Now())
			if w.Count() != n {
				b.Fatalf("%d containers, want %d", w.Count(), n)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				w.Refresh(time.Now())
			}
		})
	}
}

// BenchmarkPoll polls every one of n containers once per op (what the
// agent does in one polling interval).
func BenchmarkPoll(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			root := benchTree(b, n)
			e := newFakeEntities(b)
			w := NewWatcher(fixtureConfig(root, Docker), e, nil)
			w.Refresh(time.Now())
			cs := make([]*container, 0, n)
			for _, c := range w.live {
				cs = append(cs, c)
			}
			recs := make([]sflow.Record, 0, 8)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for _, c := range cs {
					var err error
					if recs, err = c.Poll(recs[:0]); err != nil || len(recs) != 6 {
						b.Fatalf("poll: %d records, %v", len(recs), err)
					}
				}
			}
		})
	}
}

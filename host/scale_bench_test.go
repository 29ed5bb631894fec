package host

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// benchLinks creates n veth pairs: gwdb<i> in this network namespace, its
// peer in a namespace made for the benchmark (deleting that namespace at
// the end deletes the pairs). It skips without root or iproute2.
func benchLinks(b *testing.B, n int) {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root to create links")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		b.Skip("needs iproute2")
	}
	ns := fmt.Sprintf("gwdbench%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		b.Skipf("ip netns add: %v: %s", err, out)
	}
	b.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	var batch strings.Builder
	for i := range n {
		fmt.Fprintf(&batch, "link add gwdb%d type veth peer name p%d netns %s\nlink set gwdb%d up\n", i, i, ns, i)
	}
	cmd := exec.Command("ip", "-batch", "-")
	cmd.Stdin = strings.NewReader(batch.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("ip -batch: %v: %s", err, out)
	}
}

// BenchmarkRealLinksPoll polls every one of N real veth links once per
// op, as the agent does at each interval: the counters come from one
// netlink dump shared by the pollers ("netlink"), or from each link's
// sysfs files ("sysfs", the fallback). ns/ifsample is the CPU-side cost of
// one interface counter sample (records built, not yet encoded).
//
//	go test -run '^$' -bench RealLinksPoll -benchtime 20x ./host/
func BenchmarkRealLinksPoll(b *testing.B) {
	for _, n := range []int{64, 1024, 4096} {
		for _, mode := range []string{"netlink", "sysfs"} {
			b.Run(fmt.Sprintf("links=%d/%s", n, mode), func(b *testing.B) {
				benchLinks(b, n)
				h, err := New(Config{Proc: "/proc", Sys: "/sys", Etc: "/etc", StateDir: b.TempDir(),
					Include: regexp.MustCompile(`^gwdb[0-9]+$`)}, nil)
				if err != nil {
					b.Fatal(err)
				}
				if mode == "sysfs" && h.nlStats != nil {
					h.nlStats.close()
					h.nlStats = nil
				}
				if mode == "netlink" && h.nlStats == nil {
					b.Skip("no netlink stats dump here")
				}
				ifaces := h.snap.Load().ifaces
				if len(ifaces) != n {
					b.Fatalf("%d interfaces selected, want %d", len(ifaces), n)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if h.nlStats != nil {
						h.nlStats.at = time.Time{} // a new interval: a new dump
					}
					for _, p := range ifaces {
						if _, err := p.Poll(nil); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/ifsample")
			})
		}
	}
}

// BenchmarkRealLinksScan is one interface scan (start-up, link events, the
// 30 s refresh) over N real veth links: RTM_GETLINK dump with speed and
// duplex cached ("netlink"), or every link's sysfs files ("sysfs").
//
//	go test -run '^$' -bench RealLinksScan -benchtime 5x ./host/
func BenchmarkRealLinksScan(b *testing.B) {
	for _, n := range []int{1024, 4096} {
		for _, mode := range []string{"netlink", "sysfs"} {
			b.Run(fmt.Sprintf("links=%d/%s", n, mode), func(b *testing.B) {
				benchLinks(b, n)
				h, err := New(Config{Proc: "/proc", Sys: "/sys", Etc: "/etc", StateDir: b.TempDir(),
					Include: regexp.MustCompile(`^gwdb[0-9]+$`)}, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer h.nlStats.close()
				if mode == "sysfs" {
					h.linkFacts = nil
				}
				var rd fileReader
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					infos, err := h.scanInterfaces(&rd)
					if err != nil || len(infos) != n {
						b.Fatalf("scan: %d interfaces, %v", len(infos), err)
					}
				}
			})
		}
	}
}

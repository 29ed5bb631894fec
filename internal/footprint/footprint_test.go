package footprint

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// rssFile reads RssFile (kB) of this process.
func rssFile(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// TestReleaseStartupPages: the executable's read-only pages are released
// (RssFile drops) and the program goes on working, its code read back in.
func TestReleaseStartupPages(t *testing.T) {
	before := rssFile(t)
	n, err := ReleaseStartupPages()
	if err != nil {
		t.Skipf("madvise not supported here: %v", err)
	}
	if n == 0 {
		t.Fatal("no mapping of the executable was advised")
	}
	after := rssFile(t)
	t.Logf("RssFile %d kB -> %d kB after advising %d bytes", before, after, n)
	if after >= before {
		t.Errorf("RssFile did not drop: %d kB -> %d kB", before, after)
	}
	// code and constant data are read back in when used
	if s := strings.Repeat("ab", 3); s != "ababab" || strconv.Itoa(42) != "42" {
		t.Error("the program no longer works")
	}
}

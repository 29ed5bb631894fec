package testutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// CapturesDir is the repository's folder of real sFlow captures
// (testdata/captures, described in its SOURCES.md).
func CapturesDir(t testing.TB) string {
	t.Helper()
	return filepath.Join(RepoRoot(t), "testdata", "captures")
}

// Capture returns the path of the capture file name in CapturesDir, failing
// the test when it is not there.
func Capture(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(CapturesDir(t), name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("capture %s: %v", name, err)
	}
	return p
}

// CaptureFiles returns the paths of the captures (*.pcap) in CapturesDir,
// in name order; it fails the test when there are none.
func CaptureFiles(t testing.TB) []string {
	t.Helper()
	dir := CapturesDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.pcap"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures in %s (err %v)", dir, err)
	}
	return files
}

// SflowtoolDir is the folder of what sflowtool 6.11 printed for each capture
// (`sflowtool -r FILE`): testdata/captures/sflowtool.
func SflowtoolDir(t testing.TB) string {
	t.Helper()
	return filepath.Join(CapturesDir(t), "sflowtool")
}

// SflowtoolText returns the path of sflowtool's output for the capture at
// capture (a name or a path): <name>.txt, or <name>.txt.gz for the large
// ones. It fails the test when there is neither.
func SflowtoolText(t testing.TB, capture string) string {
	t.Helper()
	base := filepath.Join(SflowtoolDir(t), strings.TrimSuffix(filepath.Base(capture), ".pcap")+".txt")
	for _, p := range []string{base, base + ".gz"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("no sflowtool output %s[.gz]", base)
	return ""
}

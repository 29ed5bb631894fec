package host

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReadKeptRegenerated: a kept /proc file read again gives the
// kernel's new contents (pread from offset 0 regenerates it), both for a
// one-piece file (uptime) and a multi-record seq file (mounts), and the
// same bytes as reading the file afresh.
func TestReadKeptRegenerated(t *testing.T) {
	if _, err := os.Stat("/proc/uptime"); err != nil {
		t.Skipf("no procfs: %v", err)
	}
	var r fileReader
	defer r.closeKept()
	first, err := r.readKept("/proc/", "uptime", true)
	if err != nil {
		t.Fatal(err)
	}
	first = bytes.Clone(first)
	var again []byte
	for i := 0; i < 50; i++ { // uptime has 10 ms resolution
		time.Sleep(20 * time.Millisecond)
		if again, err = r.readKept("/proc/", "uptime", true); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, first) {
			break
		}
	}
	if bytes.Equal(again, first) {
		t.Fatalf("/proc/uptime read through the kept fd never changed: %q", first)
	}
	if len(r.kept) != 1 {
		t.Fatalf("%d files kept, want 1", len(r.kept))
	}
	for _, name := range []string{"self/mounts", "self/mountinfo"} {
		for i := 0; i < 2; i++ {
			got, err := r.readKept("/proc/", name, false)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile("/proc/" + name)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("/proc/%s read %d through the kept fd: %d bytes, os.ReadFile %d", name, i, len(got), len(want))
			}
		}
	}
}

// TestReadKeptFile: a regular file rewritten in place is read anew; one
// larger than the buffer is read whole; closeKept closes what was kept;
// a missing file is an error naming it.
func TestReadKeptFile(t *testing.T) {
	dir := t.TempDir() + "/"
	big := strings.Repeat("0123456789abcdef", 3000) // 48,000 bytes: the buffer grows
	if err := os.WriteFile(dir+"a", []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"big", []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	before := openFDs(t)
	var r fileReader
	for _, want := range []string{"one", "two, longer"} {
		if err := os.WriteFile(dir+"a", []byte(want), 0o644); err != nil { // same inode
			t.Fatal(err)
		}
		for _, whole := range []bool{true, false} {
			got, err := r.readKept(dir, "a", whole)
			if err != nil || string(got) != want {
				t.Fatalf("readKept(a, whole %v) = %q, %v; want %q", whole, got, err, want)
			}
		}
		if got, err := r.readKept(dir, "big", true); err != nil || string(got) != big {
			t.Fatalf("readKept(big) = %d bytes, %v; want %d", len(got), err, len(big))
		}
	}
	if _, err := r.readKept(dir, "missing", true); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "missing")) {
		t.Fatalf("readKept(missing) error = %v, want one naming the file", err)
	}
	if n := openFDs(t); n != before+2 {
		t.Fatalf("%d descriptors open while two files are kept, %d before", n, before)
	}
	r.closeKept()
	if n := openFDs(t); n != before {
		t.Fatalf("%d descriptors open after closeKept, %d before", n, before)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

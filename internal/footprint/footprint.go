// Package footprint keeps gwd's resident memory to its working set: the
// pages of the executable that only start-up touched (package
// initialization, flag parsing, configuration reading, module start) are
// handed back to the kernel once gwd runs, and are read in again from the
// page cache if they are ever needed.
package footprint

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ReleaseStartupPages asks the kernel to reclaim the resident pages of the
// executable's read-only mappings (code and constant data) with
// MADV_PAGEOUT (Linux 5.4 and later; older kernels answer EINVAL and
// nothing changes). Writable mappings are never touched: only clean pages
// that can be read back from the file are released. It returns the bytes
// of the mappings advised.
func ReleaseStartupPages() (int, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("footprint: %w", err)
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("footprint: %w", err)
	}
	defer f.Close()
	total := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 00400000-00452000 r-xp 00000000 08:02 173521  /usr/bin/gwd
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") || !strings.HasPrefix(fields[1], "r") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		for _, advice := range []uintptr{unix.MADV_RANDOM, unix.MADV_PAGEOUT} {
			if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), advice); errno != 0 {
				return total, fmt.Errorf("footprint: madvise %s: %w", fields[0], errno)
			}
		}
		total += int(end - start)
	}
	return total, sc.Err()
}

package sflow

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user and system, all threads, so the garbage
// collector's too) the test process has used, from getrusage(2): Linux
// computes it from the scheduler's nanosecond runtime and reports it in
// microseconds.
func processCPU() (cpu time.Duration, ok bool) {
	var u syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &u) != nil {
		return 0, false
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano()), true
}

//go:build !linux

package sflow

import "time"

// processCPU is not measured outside Linux (see cpu_linux_test.go).
func processCPU() (time.Duration, bool) { return 0, false }

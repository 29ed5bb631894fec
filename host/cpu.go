package host

import (
	"errors"
	"fmt"

	"gwd/internal/textscan"
	"gwd/sflow"
)

// userHZ is the kernel's USER_HZ, the unit of the cpu times in /proc/stat
// (100 on every Linux architecture that matters).
const userHZ = 100

func jiffiesToMS(j uint64) uint32 { return uint32(j * (1000 / userHZ)) }

// pollCPU fills host_cpu (the 80-byte layout with steal and guest times):
//
//	load_one/five/fifteen  Proc/loadavg fields 1-3
//	proc_total             Proc/loadavg field 4 "running/total": total
//	proc_run               Proc/stat procs_running, minus gwd's own reading
//	                       thread (as hsflowd does: it is always running)
//	cpu_num                the cpuN lines of Proc/stat (the online CPUs)
//	cpu_speed              max "cpu MHz" of Proc/cpuinfo, else
//	                       Sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq
//	                       kHz / 1000; refreshed with each interface scan
//	uptime                 Proc/uptime, whole seconds
//	user..guest_nice       the "cpu" line of Proc/stat, jiffies (USER_HZ 100)
//	                       to ms, low 32 bits; user includes guest and nice
//	                       includes guest_nice, as the kernel counts them
//	interrupts, contexts   Proc/stat "intr" (first number) and "ctxt"
func (p *hostPoller) pollCPU(cpuMHz uint32) error {
	h := p.h
	c := &p.cpu
	*c = sflow.HostCPU{}
	b, err := p.rd.readKept(h.proc, "loadavg", true)
	if err != nil {
		return fmt.Errorf("host_cpu: %w", err)
	}
	var loads [3]float64
	rest := b
	for i := range loads {
		var f []byte
		f, rest = textscan.NextField(rest)
		_, v, ok := parseDecimal(f)
		if !ok {
			return fmt.Errorf("host_cpu: %w", p.rd.pathErr("parse", errors.New("bad load average "+quoteShort(f))))
		}
		loads[i] = v
	}
	c.LoadOne, c.LoadFive, c.LoadFifteen = float32(loads[0]), float32(loads[1]), float32(loads[2])
	f, _ := textscan.NextField(rest)
	for i, ch := range f {
		if ch == '/' {
			if v, ok := parseUint(f[i+1:]); ok {
				c.ProcTotal = uint32(v)
			}
			break
		}
	}

	b, err = p.rd.readKept(h.proc, "stat", true)
	if err != nil {
		return fmt.Errorf("host_cpu: %w", err)
	}
	sawCPU := false
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = textscan.NextLine(rest)
		key, vals := textscan.NextField(line)
		switch {
		case string(key) == "cpu":
			sawCPU = true
			var t [10]uint64
			for i := range t {
				var f []byte
				f, vals = textscan.NextField(vals)
				if len(f) == 0 {
					break
				}
				t[i], _ = parseUint(f)
			}
			c.User, c.Nice, c.System, c.Idle = jiffiesToMS(t[0]), jiffiesToMS(t[1]), jiffiesToMS(t[2]), jiffiesToMS(t[3])
			c.Wio, c.Intr, c.SoftIntr = jiffiesToMS(t[4]), jiffiesToMS(t[5]), jiffiesToMS(t[6])
			c.Steal, c.Guest, c.GuestNice = jiffiesToMS(t[7]), jiffiesToMS(t[8]), jiffiesToMS(t[9])
		case len(key) > 3 && hasPrefix(key, "cpu") && key[3] >= '0' && key[3] <= '9':
			c.CPUNum++
		case string(key) == "intr":
			f, _ := textscan.NextField(vals)
			v, _ := parseUint(f)
			c.Interrupts = uint32(v)
		case string(key) == "ctxt":
			f, _ := textscan.NextField(vals)
			v, _ := parseUint(f)
			c.Contexts = uint32(v)
		case string(key) == "procs_running":
			f, _ := textscan.NextField(vals)
			v, _ := parseUint(f)
			if v > 0 {
				v-- // ourselves
			}
			c.ProcRun = uint32(v)
		}
	}
	if !sawCPU {
		return fmt.Errorf("host_cpu: %w", p.rd.pathErr("parse", errors.New("no \"cpu\" line")))
	}

	b, err = p.rd.readKept(h.proc, "uptime", true)
	if err != nil {
		return fmt.Errorf("host_cpu: %w", err)
	}
	f, _ = textscan.NextField(b)
	up, _, ok := parseDecimal(f)
	if !ok {
		return fmt.Errorf("host_cpu: %w", p.rd.pathErr("parse", errors.New("bad uptime "+quoteShort(f))))
	}
	c.Uptime = uint32(up)
	c.CPUSpeed = cpuMHz
	return nil
}

// readCPUSpeed returns the CPU speed in MHz (0 when unknown): the highest
// "cpu MHz" in Proc/cpuinfo, else cpu0's cpufreq cpuinfo_max_freq.
func (h *Host) readCPUSpeed(rd *fileReader) uint32 {
	var best uint64
	if b, err := rd.read(h.proc, "cpuinfo"); err == nil {
		for rest := b; len(rest) > 0; {
			var line []byte
			line, rest = textscan.NextLine(rest)
			if !hasPrefix(line, "cpu MHz") {
				continue
			}
			for i, ch := range line {
				if ch == ':' {
					if v, _, ok := parseDecimal(textscan.TrimSpace(line[i+1:])); ok && v > best {
						best = v
					}
					break
				}
			}
		}
	}
	if best == 0 {
		if khz, err := rd.readUint(h.sys, "devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"); err == nil {
			best = khz / 1000
		}
	}
	return uint32(best)
}

// pollMemory fills host_memory from Proc/meminfo (kB -> bytes):
// MemTotal, MemFree, Shmem (shared), Buffers, Cached, SwapTotal, SwapFree;
// and Proc/vmstat: pgpgin, pgpgout, pswpin, pswpout (low 32 bits; the
// kernel counts pgpgin/pgpgout in KiB, sent as they are, like hsflowd).
func (p *hostPoller) pollMemory() error {
	h := p.h
	m := &p.mem
	*m = sflow.HostMemory{}
	b, err := p.rd.readKept(h.proc, "meminfo", true)
	if err != nil {
		return fmt.Errorf("host_memory: %w", err)
	}
	sawTotal := false
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = textscan.NextLine(rest)
		key, vals := textscan.NextField(line)
		if len(key) < 2 || key[len(key)-1] != ':' {
			continue
		}
		dst, ok := p.memFields[string(key[:len(key)-1])]
		if !ok {
			continue
		}
		f, _ := textscan.NextField(vals)
		v, ok := parseUint(f)
		if !ok {
			continue
		}
		*dst = v * 1024
		if dst == &m.MemTotal {
			sawTotal = true
		}
	}
	if !sawTotal {
		return fmt.Errorf("host_memory: %w", p.rd.pathErr("parse", errors.New("no MemTotal")))
	}
	b, err = p.rd.readKept(h.proc, "vmstat", false)
	if err != nil {
		return fmt.Errorf("host_memory: %w", err)
	}
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = textscan.NextLine(rest)
		key, vals := textscan.NextField(line)
		dst, ok := p.vmFields[string(key)]
		if !ok {
			continue
		}
		f, _ := textscan.NextField(vals)
		v, _ := parseUint(f)
		*dst = uint32(v)
	}
	return nil
}

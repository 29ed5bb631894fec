package containers

import (
	"bytes"
	"errors"
	"strconv"

	"gwd/internal/textscan"
)

// The parsers below read cgroup v2 and procfs files whose bytes come from
// the kernel (or, in a container, from whatever is mounted there): they
// never panic, bound every field, and say what is wrong.

var errSyntax = errors.New("malformed")

// parseUint reads a decimal uint64 without allocating.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// keyValue finds key in a flat-keyed file ("usage_usec 123\n...", the
// layout of cpu.stat and cgroup.events).
func keyValue(b []byte, key string) (uint64, bool) {
	for len(b) > 0 {
		var line []byte
		line, b = textscan.NextLine(b)
		k, rest := textscan.NextField(line)
		if string(k) != key {
			continue
		}
		v, _ := textscan.NextField(rest)
		return parseUint(v)
	}
	return 0, false
}

// parseCPUStat returns usage_usec of a cgroup's cpu.stat.
func parseCPUStat(b []byte) (uint64, error) {
	v, ok := keyValue(b, "usage_usec")
	if !ok {
		return 0, errors.New("cpu.stat: no usage_usec")
	}
	return v, nil
}

// parseMemValue reads memory.current or memory.max: one number, or "max"
// (no limit: ok true, limited false).
func parseMemValue(b []byte) (v uint64, limited bool, err error) {
	f, _ := textscan.NextField(bytes.TrimSpace(b))
	if string(f) == "max" {
		return 0, false, nil
	}
	v, ok := parseUint(f)
	if !ok {
		return 0, false, errSyntax
	}
	return v, true, nil
}

// parseCPUMax reads cpu.max, "$MAX $PERIOD" ("max 100000" when there is
// no quota), and returns the CPUs the quota allows, rounded up (0: no
// quota).
func parseCPUMax(b []byte) (uint32, error) {
	q, rest := textscan.NextField(bytes.TrimSpace(b))
	p, _ := textscan.NextField(rest)
	if string(q) == "max" {
		return 0, nil
	}
	quota, ok1 := parseUint(q)
	period, ok2 := parseUint(p)
	if !ok1 || !ok2 || period == 0 {
		return 0, errSyntax
	}
	n := quota / period
	if quota%period != 0 {
		n++
	}
	if n > 1<<20 {
		n = 1 << 20
	}
	return uint32(n), nil
}

// ioTotals are a cgroup's block I/O summed over its devices.
type ioTotals struct {
	rbytes, wbytes, rios, wios uint64
}

// parseIOStat sums io.stat: one line per device, "MAJ:MIN key=value ...".
// Unknown keys (dbytes, dios, ...) are skipped; a malformed pair is an
// error.
func parseIOStat(b []byte) (ioTotals, error) {
	var t ioTotals
	for len(b) > 0 {
		var line []byte
		line, b = textscan.NextLine(b)
		dev, rest := textscan.NextField(line)
		if len(dev) == 0 {
			continue
		}
		if bytes.IndexByte(dev, ':') < 0 {
			return t, errors.New("io.stat: line without a MAJ:MIN device")
		}
		for {
			var kv []byte
			kv, rest = textscan.NextField(rest)
			if len(kv) == 0 {
				break
			}
			eq := bytes.IndexByte(kv, '=')
			if eq < 0 {
				return t, errors.New("io.stat: field without =")
			}
			var dst *uint64
			switch string(kv[:eq]) {
			case "rbytes":
				dst = &t.rbytes
			case "wbytes":
				dst = &t.wbytes
			case "rios":
				dst = &t.rios
			case "wios":
				dst = &t.wios
			default:
				continue
			}
			v, ok := parseUint(kv[eq+1:])
			if !ok {
				return t, errors.New("io.stat: bad number in " + strconv.Quote(string(kv)))
			}
			*dst += v
		}
	}
	return t, nil
}

// netTotals are the counters of a network namespace's interfaces but lo.
type netTotals struct {
	rxBytes, rxPackets, rxErrs, rxDrop uint64
	txBytes, txPackets, txErrs, txDrop uint64
	ifaces                             int
}

// parseNetDev sums /proc/<pid>/net/dev over every interface but lo: two
// header lines, then "name: 16 numbers" (8 receive, 8 transmit).
func parseNetDev(b []byte) (netTotals, error) {
	var t netTotals
	for len(b) > 0 {
		var line []byte
		line, b = textscan.NextLine(b)
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue // the header lines
		}
		name := bytes.TrimSpace(line[:colon])
		if string(name) == "lo" {
			continue
		}
		var v [16]uint64
		rest := line[colon+1:]
		for i := range v {
			var f []byte
			f, rest = textscan.NextField(rest)
			n, ok := parseUint(f)
			if !ok {
				return t, errors.New("net/dev: interface " + strconv.Quote(string(name)) + ": expected 16 numbers")
			}
			v[i] = n
		}
		t.rxBytes += v[0]
		t.rxPackets += v[1]
		t.rxErrs += v[2]
		t.rxDrop += v[3]
		t.txBytes += v[8]
		t.txPackets += v[9]
		t.txErrs += v[10]
		t.txDrop += v[11]
		t.ifaces++
	}
	return t, nil
}

// firstPID returns the first PID listed in cgroup.procs (0: none).
func firstPID(b []byte) (int, error) {
	for len(b) > 0 {
		var line []byte
		line, b = textscan.NextLine(b)
		f, _ := textscan.NextField(line)
		if len(f) == 0 {
			continue
		}
		v, ok := parseUint(f)
		if !ok || v == 0 || v > 1<<22 {
			return 0, errors.New("cgroup.procs: bad pid " + strconv.Quote(string(f)))
		}
		return int(v), nil
	}
	return 0, nil
}

package containers

import (
	"os"
	"path/filepath"
	"testing"
)

// seed adds the fixture tree's files called name as fuzz seeds.
func seed(f *testing.F, name string) {
	filepath.WalkDir(filepath.Join("testdata", "root"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == name {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
		return nil
	})
}

func FuzzCPUStat(f *testing.F) {
	seed(f, "cpu.stat")
	f.Add([]byte("usage_usec 18446744073709551615\n"))
	f.Add([]byte("usage_usec 18446744073709551616\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseCPUStat(b)
		if err != nil && v != 0 {
			t.Errorf("error %v with value %d", err, v)
		}
		keyValue(b, "frozen")
	})
}

func FuzzCPUMax(f *testing.F) {
	seed(f, "cpu.max")
	f.Add([]byte("max 100000\n"))
	f.Add([]byte("18446744073709551615 1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, err := parseCPUMax(b); err != nil && n != 0 || n > 1<<20 {
			t.Errorf("parseCPUMax = %d, %v", n, err)
		}
	})
}

func FuzzMemory(f *testing.F) {
	seed(f, "memory.current")
	seed(f, "memory.max")
	f.Fuzz(func(t *testing.T, b []byte) {
		v, limited, err := parseMemValue(b)
		if err != nil && (v != 0 || limited) {
			t.Errorf("parseMemValue = %d, %v, %v", v, limited, err)
		}
	})
}

func FuzzIOStat(f *testing.F) {
	seed(f, "io.stat")
	f.Add([]byte("8:0 rbytes=1 wbytes=2 rios=3 wios=4\n8:16 rbytes=1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseIOStat(b)
	})
}

func FuzzNetDev(f *testing.F) {
	seed(f, "dev")
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := parseNetDev(b)
		if err == nil && n.ifaces < 0 {
			t.Errorf("negative interfaces")
		}
	})
}

func FuzzCgroupProcs(f *testing.F) {
	seed(f, "cgroup.procs")
	f.Fuzz(func(t *testing.T, b []byte) {
		if pid, err := firstPID(b); pid < 0 || pid > 1<<22 || err != nil && pid != 0 {
			t.Errorf("firstPID = %d, %v", pid, err)
		}
	})
}

// TestParsersReject: malformed inputs are errors, good ones read exactly.
func TestParsersReject(t *testing.T) {
	if _, err := parseCPUStat([]byte("user_usec 5\n")); err == nil {
		t.Error("cpu.stat without usage_usec accepted")
	}
	if v, err := parseCPUStat([]byte("usage_usec 12\nuser_usec 5\n")); v != 12 || err != nil {
		t.Errorf("cpu.stat = %d, %v", v, err)
	}
	for _, s := range []string{"", "x 100000", "1000 0", "1000 x"} {
		if _, err := parseCPUMax([]byte(s)); err == nil {
			t.Errorf("cpu.max %q accepted", s)
		}
	}
	if n, err := parseCPUMax([]byte("200001 100000\n")); n != 3 || err != nil {
		t.Errorf("cpu.max 2.00001 CPUs = %d, %v", n, err)
	}
	if _, _, err := parseMemValue([]byte("12a\n")); err == nil {
		t.Error("memory value 12a accepted")
	}
	if v, lim, err := parseMemValue([]byte("max\n")); v != 0 || lim || err != nil {
		t.Errorf("memory.max max = %d %v %v", v, lim, err)
	}
	for _, s := range []string{"rbytes=1\n", "8:0 rbytes\n", "8:0 rbytes=-1\n", "8:0 wios=99999999999999999999999\n"} {
		if _, err := parseIOStat([]byte(s)); err == nil {
			t.Errorf("io.stat %q accepted", s)
		}
	}
	if _, err := parseNetDev([]byte("eth0: 1 2 3\n")); err == nil {
		t.Error("net/dev with 3 numbers accepted")
	}
	if _, err := firstPID([]byte("abc\n")); err == nil {
		t.Error("cgroup.procs abc accepted")
	}
	if pid, err := firstPID([]byte("\n42\n43\n")); pid != 42 || err != nil {
		t.Errorf("firstPID = %d, %v", pid, err)
	}
}

package host

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gwd/agent"
	"gwd/internal/testutil/fakeagent"
	"gwd/sflow"
)

// lo32 is the low 32 bits of a kernel counter.
func lo32(v uint64) uint32 { return uint32(v) }

func TestHostPollFixture(t *testing.T) {
	h, sf, _ := newTestHost(t, rootConfig(t, fixture))
	recs, err := h.hostPoller.Poll(nil)
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	wantTags := []sflow.Tag{sflow.TagHostDescr, sflow.TagHostAdapters, sflow.TagHostCPU, sflow.TagHostMemory,
		sflow.TagHostDiskIO, sflow.TagHostNetIO, sflow.TagMIB2IPGroup, sflow.TagMIB2ICMPGroup,
		sflow.TagMIB2TCPGroup, sflow.TagMIB2UDPGroup}
	if diff := cmp.Diff(wantTags, tags(recs)); diff != "" {
		t.Fatalf("record order (-want +got):\n%s", diff)
	}
	const kB = 1024
	want := []sflow.Record{
		&sflow.HostDescr{
			Hostname:    []byte("gwd-test-01"),
			UUID:        [16]byte{0x5f, 0x3c, 0x0a, 0x6e, 0x2b, 0x8d, 0x4c, 0x1e, 0x9a, 0x7b, 0x6d, 0x5c, 0x4e, 0x3f, 0x2a, 0x10},
			MachineType: machineX86_64,
			OSName:      osLinux,
			OSRelease:   []byte("6.8.0-45-generic"),
		},
		// As hsflowd: up, with a MAC, not a switch port (eth1 is down,
		// swp1 a switch port, ib0 has no 6-byte MAC).
		&sflow.HostAdapters{Adapters: []sflow.HostAdapter{
			{IfIndex: 2, MACs: [][6]byte{{0x3c, 0xfd, 0xfe, 0x9e, 0x7a, 0x10}}},
			{IfIndex: 6, MACs: [][6]byte{{0x3c, 0xfd, 0xfe, 0x9e, 0x7a, 0x10}}},
		}},
		&sflow.HostCPU{
			LoadOne: 0.52, LoadFive: 0.58, LoadFifteen: 0.59,
			ProcRun:   3 - 1, // procs_running minus our own thread
			ProcTotal: 1043,
			CPUNum:    4,
			CPUSpeed:  3400, // max "cpu MHz" of proc/cpuinfo
			Uptime:    864123,
			User:      2255340 * 10, Nice: 1234 * 10, System: 567890 * 10,
			Idle: lo32(598765432 * 10), // wraps
			Wio:  12345 * 10, Intr: 0, SoftIntr: 23456 * 10,
			Interrupts: lo32(4512345678),
			Contexts:   987654321,
			Steal:      789 * 10, Guest: 1011 * 10, GuestNice: 12 * 10,
		},
		&sflow.HostMemory{
			MemTotal: 65792068 * kB, MemFree: 12345678 * kB, MemShared: 456789 * kB,
			MemBuffers: 987654 * kB, MemCached: 30123456 * kB,
			SwapTotal: 8388604 * kB, SwapFree: 8123456 * kB,
			PageIn: 123456789, PageOut: lo32(5123456789), SwapIn: 1234, SwapOut: 5678,
		},
		&sflow.HostDiskIO{
			// "/", "/boot/efi" and "/srv/data set" (sda2 twice, loop0 and
			// sdb1 read-only, nfs and tmpfs: not counted)
			DiskTotal:   (100000000 + 130812 + 976754646) * 4096,
			DiskFree:    (35000000 + 120000 + 100000000) * 4096,
			PartMaxUsed: 8976, // /srv/data: 876754646 used of 976754646
			// whole disks nvme0n1 and sda (not partitions, loop0, dm-0)
			Reads:        lo32(4294967000 + 123456),
			BytesRead:    (987654321 + 12345678) * 512,
			ReadTime:     4500000 + 98765,
			Writes:       2000000 + 654321,
			BytesWritten: (876543210 + 87654321) * 512,
			WriteTime:    3600000 + 765432,
		},
		&sflow.HostNetIO{
			// eth0 + eth1 + swp1 + ib0 (not bond0: its traffic is its slaves')
			BytesIn:  6012345678901 + 1000 + 123456789012 + 555555555555,
			PktsIn:   lo32(5000000000 + 10 + 98765432 + 4444444),
			ErrsIn:   3 + 0 + 12 + 0,
			DropsIn:  17 + 0 + 11 + 1,
			BytesOut: 987654321098 + 2000 + 210987654321 + 333333333333,
			PktsOut:  1234567890 + 20 + 87654321 + 2222222,
			ErrsOut:  1 + 0 + 14 + 0,
			DropsOut: 0 + 0 + 13 + 2,
		},
		&sflow.MIB2IPGroup{
			Forwarding: 1, DefaultTTL: 64, InReceives: lo32(5123456789), InHdrErrors: 12, InAddrErrors: 34,
			ForwDatagrams: 56789, InUnknownProtos: 7, InDiscards: 8, InDelivers: lo32(4987654321),
			OutRequests: 3987654321, OutDiscards: 9, OutNoRoutes: 10, ReasmTimeout: 11, ReasmReqds: 12,
			ReasmOKs: 13, ReasmFails: 14, FragOKs: 15, FragFails: 16, FragCreates: 17,
		},
		&sflow.MIB2ICMPGroup{
			InMsgs: 101, InErrors: 102, InDestUnreachs: 104, InTimeExcds: 105, InParamProbs: 106,
			InSrcQuenchs: 107, InRedirects: 108, InEchos: 109, InEchoReps: 110, InTimestamps: 111,
			InAddrMasks: 113, InAddrMaskReps: 114,
			OutMsgs: 201, OutErrors: 202, OutDestUnreachs: 205, OutTimeExcds: 206, OutParamProbs: 207,
			OutSrcQuenchs: 208, OutRedirects: 209, OutEchos: 210, OutEchoReps: 211, OutTimestamps: 212,
			OutTimestampReps: 213, OutAddrMasks: 214, OutAddrMaskReps: 215,
		},
		&sflow.MIB2TCPGroup{
			RtoAlgorithm: 1, RtoMin: 200, RtoMax: 120000, MaxConn: 0xFFFFFFFF, ActiveOpens: 123456,
			PassiveOpens: 654321, AttemptFails: 789, EstabResets: 456, CurrEstab: 42,
			InSegs: lo32(9876543210), OutSegs: lo32(8765432109), RetransSegs: 12345, InErrs: 6,
			OutRsts: 7890, InCsumErrors: 1,
		},
		&sflow.MIB2UDPGroup{
			InDatagrams: 3456789, NoPorts: 1234, InErrors: 56, OutDatagrams: 4567890,
			RcvbufErrors: 7, SndbufErrors: 8, InCsumErrors: 9,
		},
	}
	for i := range want {
		if diff := cmp.Diff(want[i], recs[i]); diff != "" {
			t.Errorf("%v (-want +got):\n%s", want[i].Tag(), diff)
		}
	}
	wantAsked := []string{"/", "/boot/efi", "/srv/data set"}
	if diff := cmp.Diff(wantAsked, sf.asked); diff != "" {
		t.Errorf("statfs paths (-want +got):\n%s", diff)
	}
	// Everything encodes, host_cpu in its 80-byte layout.
	b, err := sflow.AppendSample(nil, &sflow.Sample{Tag: sflow.SampleCountersExpanded, SourceIDType: 2, SourceIDIndex: 1, Records: recs})
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	if len(b) == 0 {
		t.Fatal("empty sample")
	}
}

func TestHostPollRepeatsFresh(t *testing.T) {
	root := copyRoot(t, fixture)
	h, _, _ := newTestHost(t, rootConfig(t, root))
	if _, err := h.hostPoller.Poll(nil); err != nil {
		t.Fatal(err)
	}
	// Counters and the hostname change between polls: the next poll shows
	// the new values (nothing cached).
	writeFile(t, filepath.Join(root, "proc/sys/kernel/hostname"), "renamed\n")
	writeFile(t, filepath.Join(root, "sys/class/net/eth0/statistics/rx_bytes"), "6012345679901\n")
	recs, err := h.hostPoller.Poll(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(find(recs, sflow.TagHostDescr).(*sflow.HostDescr).Hostname); got != "renamed" {
		t.Errorf("hostname = %q, want renamed", got)
	}
	want := uint64(6012345679901 + 1000 + 123456789012 + 555555555555)
	if got := find(recs, sflow.TagHostNetIO).(*sflow.HostNetIO).BytesIn; got != want {
		t.Errorf("bytes_in = %d, want %d", got, want)
	}
}

func TestHostPollPartialFailure(t *testing.T) {
	tests := []struct {
		name     string
		remove   string // relative to the root
		wantTags []sflow.Tag
		wantFile string // named in the error
	}{
		{
			name:   "no net/snmp drops only 2007-2010",
			remove: "proc/net/snmp",
			wantTags: []sflow.Tag{sflow.TagHostDescr, sflow.TagHostAdapters, sflow.TagHostCPU, sflow.TagHostMemory,
				sflow.TagHostDiskIO, sflow.TagHostNetIO},
			wantFile: "proc/net/snmp",
		},
		{
			name:   "no meminfo drops host_memory",
			remove: "proc/meminfo",
			wantTags: []sflow.Tag{sflow.TagHostDescr, sflow.TagHostAdapters, sflow.TagHostCPU,
				sflow.TagHostDiskIO, sflow.TagHostNetIO, sflow.TagMIB2IPGroup, sflow.TagMIB2ICMPGroup,
				sflow.TagMIB2TCPGroup, sflow.TagMIB2UDPGroup},
			wantFile: "proc/meminfo",
		},
		{
			name:   "no loadavg drops host_cpu",
			remove: "proc/loadavg",
			wantTags: []sflow.Tag{sflow.TagHostDescr, sflow.TagHostAdapters, sflow.TagHostMemory,
				sflow.TagHostDiskIO, sflow.TagHostNetIO, sflow.TagMIB2IPGroup, sflow.TagMIB2ICMPGroup,
				sflow.TagMIB2TCPGroup, sflow.TagMIB2UDPGroup},
			wantFile: "proc/loadavg",
		},
		{
			name:   "no diskstats drops host_disk_io",
			remove: "proc/diskstats",
			wantTags: []sflow.Tag{sflow.TagHostDescr, sflow.TagHostAdapters, sflow.TagHostCPU, sflow.TagHostMemory,
				sflow.TagHostNetIO, sflow.TagMIB2IPGroup, sflow.TagMIB2ICMPGroup,
				sflow.TagMIB2TCPGroup, sflow.TagMIB2UDPGroup},
			wantFile: "proc/diskstats",
		},
		{
			name:   "no hostname drops host_descr",
			remove: "proc/sys/kernel/hostname",
			wantTags: []sflow.Tag{sflow.TagHostAdapters, sflow.TagHostCPU, sflow.TagHostMemory,
				sflow.TagHostDiskIO, sflow.TagHostNetIO, sflow.TagMIB2IPGroup, sflow.TagMIB2ICMPGroup,
				sflow.TagMIB2TCPGroup, sflow.TagMIB2UDPGroup},
			wantFile: "proc/sys/kernel/hostname",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := copyRoot(t, fixture)
			h, _, _ := newTestHost(t, rootConfig(t, root))
			if err := os.Remove(filepath.Join(root, tc.remove)); err != nil {
				t.Fatal(err)
			}
			recs, err := h.hostPoller.Poll(nil)
			if diff := cmp.Diff(tc.wantTags, tags(recs)); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("error %v is not fs.ErrNotExist", err)
			}
			if !strings.Contains(err.Error(), filepath.Join(root, tc.remove)) {
				t.Errorf("error %q does not name %s", err, tc.remove)
			}
			if n := len(joinedErrs(err)); n != 1 {
				t.Errorf("%d errors joined, want 1: %v", n, err)
			}
		})
	}
}

func TestCPUSpeedFallback(t *testing.T) {
	root := copyRoot(t, fixture)
	// Without "cpu MHz" lines (arm64), cpufreq's cpuinfo_max_freq counts.
	writeFile(t, filepath.Join(root, "proc/cpuinfo"), "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\n\n")
	h, _, _ := newTestHost(t, rootConfig(t, root))
	if got := h.snap.Load().cpuMHz; got != 3900 {
		t.Errorf("cpu_speed = %d, want 3900", got)
	}
	os.Remove(filepath.Join(root, "sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq"))
	// A rescan within cpuSpeedEvery (a link event) keeps the speed it read.
	h.rescan(nil)
	if got := h.snap.Load().cpuMHz; got != 3900 {
		t.Errorf("cpu_speed after an early rescan = %d, want 3900 (kept)", got)
	}
	h.cpuRead = h.cpuRead.Add(-cpuSpeedEvery)
	h.rescan(nil)
	if got := h.snap.Load().cpuMHz; got != 0 {
		t.Errorf("cpu_speed = %d, want 0 (unknown)", got)
	}
}

func TestMachineType(t *testing.T) {
	tests := []struct {
		arch string
		want uint32
	}{
		{"x86_64", 3}, {"i686", 2}, {"aarch64", 10}, {"armv7l", 10}, {"ppc64le", 7},
		{"s390x", 12}, {"mips64", 9}, {"riscv64", 1}, {"ia64", 4}, {"sparc64", 5},
		{"alpha", 6}, {"m68k", 8}, {"parisc64", 11},
	}
	for _, tc := range tests {
		if got := MachineType(tc.arch); got != tc.want {
			t.Errorf("MachineType(%q) = %d, want %d", tc.arch, got, tc.want)
		}
	}
	goarch := []struct {
		goarch string
		want   uint32
	}{
		{"amd64", 3}, {"386", 2}, {"arm", 10}, {"arm64", 10}, {"ppc64le", 7}, {"ppc64", 7},
		{"s390x", 12}, {"mipsle", 9}, {"mips64", 9}, {"riscv64", 1}, {"loong64", 1},
	}
	for _, tc := range goarch {
		if got := MachineType(tc.goarch); got != tc.want {
			t.Errorf("MachineType(%q) = %d, want %d", tc.goarch, got, tc.want)
		}
	}
	// Without Proc/sys/kernel/arch the build architecture is used.
	root := copyRoot(t, fixture)
	os.Remove(filepath.Join(root, "proc/sys/kernel/arch"))
	h, _, _ := newTestHost(t, rootConfig(t, root))
	if got, want := h.descr.machineType, MachineType(runtime.GOARCH); got != want {
		t.Errorf("machine type without arch file = %d, want %d", got, want)
	}
}

func TestUUIDPrecedence(t *testing.T) {
	machineID := [16]byte{0x5f, 0x3c, 0x0a, 0x6e, 0x2b, 0x8d, 0x4c, 0x1e, 0x9a, 0x7b, 0x6d, 0x5c, 0x4e, 0x3f, 0x2a, 0x10}
	dmi := [16]byte{0x4c, 0x4c, 0x45, 0x44, 0x00, 0x38, 0x58, 0x10, 0x80, 0x52, 0xb4, 0xc0, 0x4f, 0x56, 0x54, 0x32}

	t.Run("machine-id first", func(t *testing.T) {
		h, _, _ := newTestHost(t, rootConfig(t, fixture))
		if u, src := h.UUID(); u != machineID || src != "machine-id" {
			t.Errorf("UUID = %x from %s, want %x from machine-id", u, src, machineID)
		}
	})
	t.Run("dmi without machine-id", func(t *testing.T) {
		root := copyRoot(t, fixture)
		writeFile(t, filepath.Join(root, "etc/machine-id"), "uninitialized\n")
		h, _, _ := newTestHost(t, rootConfig(t, root))
		if u, src := h.UUID(); u != dmi || src != "dmi" {
			t.Errorf("UUID = %x from %s, want %x from dmi", u, src, dmi)
		}
	})
	t.Run("random persisted, then the same", func(t *testing.T) {
		root := copyRoot(t, fixture)
		os.Remove(filepath.Join(root, "etc/machine-id"))
		os.Remove(filepath.Join(root, "sys/class/dmi/id/product_uuid"))
		cfg := rootConfig(t, root)
		cfg.StateDir = filepath.Join(t.TempDir(), "not", "yet") // created on demand
		h1, _, _ := newTestHost(t, cfg)
		u1, src1 := h1.UUID()
		if src1 != "random" || u1 == ([16]byte{}) {
			t.Fatalf("first UUID %x from %s, want a random one", u1, src1)
		}
		if u1[6]>>4 != 4 || u1[8]&0xc0 != 0x80 {
			t.Errorf("random UUID %x is not version 4 / RFC 4122", u1)
		}
		b, err := os.ReadFile(filepath.Join(cfg.StateDir, "uuid"))
		if err != nil || strings.TrimSpace(string(b)) != formatUUID(u1) {
			t.Fatalf("persisted uuid = %q, %v; want %s", b, err, formatUUID(u1))
		}
		h2, _, _ := newTestHost(t, cfg)
		if u2, src2 := h2.UUID(); u2 != u1 || src2 != "state" {
			t.Errorf("second UUID %x from %s, want %x from state", u2, src2, u1)
		}
	})
	t.Run("not persistable: random per process, logged", func(t *testing.T) {
		root := copyRoot(t, fixture)
		os.Remove(filepath.Join(root, "etc/machine-id"))
		os.Remove(filepath.Join(root, "sys/class/dmi/id/product_uuid"))
		blocker := filepath.Join(t.TempDir(), "file")
		writeFile(t, blocker, "x")
		cfg := rootConfig(t, root)
		cfg.StateDir = filepath.Join(blocker, "state") // under a file: cannot be created
		h1, _, _ := newTestHost(t, cfg)
		h2, _, _ := newTestHost(t, cfg)
		u1, s1 := h1.UUID()
		u2, _ := h2.UUID()
		if s1 != "random" || u1 == u2 || u1 == ([16]byte{}) {
			t.Errorf("UUIDs %x, %x (%s): want two different random ones", u1, u2, s1)
		}
	})
	t.Run("parse", func(t *testing.T) {
		for _, s := range []string{"", "uninitialized", "00000000000000000000000000000000",
			"ffffffff-ffff-ffff-ffff-ffffffffffff", "5f3c0a6e2b8d4c1e9a7b6d5c4e3f2a1", "zz3c0a6e2b8d4c1e9a7b6d5c4e3f2a10"} {
			if _, ok := parseUUID(s); ok {
				t.Errorf("parseUUID(%q) accepted", s)
			}
		}
		if u, ok := parseUUID("4C4C4544-0038-5810-8052-B4C04F565432\n"); !ok || u != dmi {
			t.Errorf("parseUUID upper case = %x, %v", u, ok)
		}
	})
}

func TestNewErrors(t *testing.T) {
	cfg := rootConfig(t, fixture)
	cfg.Proc = filepath.Join(t.TempDir(), "missing")
	if _, err := New(cfg, nil); err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "proc root") {
		t.Errorf("New with a missing proc root: %v", err)
	}
}

func TestStartRegistersAndStops(t *testing.T) {
	h, _, _ := newTestHost(t, rootConfig(t, fixture))
	reg := fakeagent.New()
	ctx, cancel := context.WithCancel(context.Background())
	h.Start(ctx, reg)
	want := []string{"0:2", "0:3", "0:5", "0:6", "0:7", "2:1"}
	if diff := cmp.Diff(want, sourceNames(reg)); diff != "" {
		t.Errorf("registered (-want +got):\n%s", diff)
	}
	if _, ok := reg.Poller(agent.HostSource).(*hostPoller); !ok {
		t.Errorf("2:1 poller is %T", reg.Poller(agent.HostSource))
	}
	cancel()
	select {
	case <-h.done:
	case <-time.After(5 * time.Second):
		t.Fatal("run loop did not stop")
	}
	if got := sourceNames(reg); len(got) != 0 {
		t.Errorf("still registered after stop: %v", got)
	}
}

func TestRescanTimerAndKick(t *testing.T) {
	root := copyRoot(t, fixture)
	h, _, _ := newTestHost(t, rootConfig(t, root))
	h.rescanEvery = 20 * time.Millisecond
	reg := fakeagent.New()
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); <-h.done }()
	h.Start(ctx, reg)
	reg.TakeEvents()
	// eth1 disappears; the periodic rescan notices without any event.
	if err := os.RemoveAll(filepath.Join(root, "sys/class/net/eth1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !contains(sourceNames(reg), "0:3") })
	if diff := cmp.Diff([]string{"-host 0:3"}, reg.TakeEvents()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestInterfacesFilter(t *testing.T) {
	cfg := rootConfig(t, fixture)
	cfg.Include = regexp.MustCompile(`^(eth|swp)`)
	cfg.Exclude = regexp.MustCompile(`^eth1$`)
	h, _, _ := newTestHost(t, cfg)
	var names []string
	for _, inf := range h.Interfaces() {
		names = append(names, inf.Name)
	}
	if diff := cmp.Diff([]string{"eth0", "swp1"}, names); diff != "" {
		t.Errorf("selected (-want +got):\n%s", diff)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startWithLinkEvents starts a host on a copy of the fixture whose link
// events come from the channel it returns, with the rescan periods given,
// waits until it has subscribed, and removes swp1 from the copy (the next
// rescan drops its source, 0:5).
func startWithLinkEvents(t *testing.T, rescanEvery, rescanSlow time.Duration) (*fakeagent.Registrar, chan struct{}) {
	t.Helper()
	root := copyRoot(t, fixture)
	h, _, _ := newTestHost(t, rootConfig(t, root))
	h.rescanEvery = rescanEvery
	if rescanSlow > 0 {
		h.rescanSlow = rescanSlow
	}
	events := make(chan struct{}, 1)
	subscribed := make(chan struct{}, 4)
	h.subscribe = func(ctx context.Context, _ func(uint32)) (<-chan struct{}, error) {
		subscribed <- struct{}{}
		return events, nil
	}
	reg := fakeagent.New()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); <-h.done })
	h.Start(ctx, reg)
	<-subscribed
	reg.TakeEvents()
	if err := os.RemoveAll(filepath.Join(root, "sys/class/net/swp1")); err != nil {
		t.Fatal(err)
	}
	return reg, events
}

func TestLinkEventsTriggerRescan(t *testing.T) {
	reg, events := startWithLinkEvents(t, time.Hour, 0) // only events can trigger the rescan
	events <- struct{}{}
	waitFor(t, func() bool { return !contains(sourceNames(reg), "0:5") })
	if diff := cmp.Diff([]string{"-host 0:5"}, reg.TakeEvents()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestLinkEventsUnavailable(t *testing.T) {
	h, _, _ := newTestHost(t, rootConfig(t, fixture))
	h.rescanEvery = 10 * time.Millisecond
	tries := make(chan struct{}, 100)
	h.subscribe = func(ctx context.Context, _ func(uint32)) (<-chan struct{}, error) {
		tries <- struct{}{}
		return nil, errors.New("netlink: operation not permitted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.Start(ctx, fakeagent.New())
	// It keeps scanning and tries to subscribe again on the periodic scans.
	for range 3 {
		select {
		case <-tries:
		case <-time.After(5 * time.Second):
			t.Fatal("no new subscription attempt")
		}
	}
	cancel()
	<-h.done
}

// TestRescanSlowWithEvents: while link events arrive, the periodic rescan
// runs at rescanSlow only; when the event stream ends it goes back to
// rescanEvery.
func TestRescanSlowWithEvents(t *testing.T) {
	reg, events := startWithLinkEvents(t, 10*time.Millisecond, time.Hour)
	time.Sleep(300 * time.Millisecond) // 30 fast periods
	if !contains(sourceNames(reg), "0:5") {
		t.Fatal("rescanned at rescanEvery while link events were subscribed")
	}
	close(events) // the stream ends: back to the fast period
	waitFor(t, func() bool { return !contains(sourceNames(reg), "0:5") })
}

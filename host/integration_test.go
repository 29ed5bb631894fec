package host

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"gwd/internal/testbed"
	"gwd/sflow"
)

// ipLink is the part of `ip -j -s link` the test compares.
type ipLink struct {
	IfIndex uint32 `json:"ifindex"`
	IfName  string `json:"ifname"`
	Stats64 struct {
		RX struct {
			Bytes, Packets, Errors, Dropped, Multicast uint64
		} `json:"rx"`
		TX struct {
			Bytes, Packets, Errors, Dropped uint64
		} `json:"tx"`
	} `json:"stats64"`
}

// TestIntegrationLiveHost reads this machine's real /proc and /sys and
// cross-checks the interface counters with iproute2.
func TestIntegrationLiveHost(t *testing.T) {
	testbed.Integration(t)
	if runtime.GOOS != "linux" {
		testbed.Missing(t, "not Linux")
	}
	if _, err := os.Stat("/proc/stat"); err != nil {
		testbed.Missing(t, "no procfs at /proc")
	}
	ipCmd := testbed.NeedCommand(t, "ip") // to cross-check the interface counters
	h, err := New(Config{Proc: "/proc", Sys: "/sys", Etc: "/etc", StateDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer h.eeprom.Close()

	recs, err := h.hostPoller.Poll(nil)
	if err != nil {
		t.Errorf("host poll: %v", err)
	}
	if len(recs) != 10 {
		t.Errorf("host records %v, want 10", tags(recs))
	}
	if r, ok := find(recs, sflow.TagHostDescr).(*sflow.HostDescr); ok {
		var uts unix.Utsname
		if err := unix.Uname(&uts); err == nil {
			if got, want := string(r.Hostname), unix.ByteSliceToString(uts.Nodename[:]); got != want {
				t.Errorf("hostname %q, uname says %q", got, want)
			}
			if got, want := string(r.OSRelease), unix.ByteSliceToString(uts.Release[:]); got != want && len(want) <= maxOSRelease {
				t.Errorf("os_release %q, uname says %q", got, want)
			}
		}
		if r.UUID == ([16]byte{}) || r.MachineType == 0 || r.OSName != osLinux {
			t.Errorf("host_descr %+v", r)
		}
	}
	if r, ok := find(recs, sflow.TagHostCPU).(*sflow.HostCPU); ok {
		if r.CPUNum < 1 || r.Uptime == 0 || r.ProcTotal == 0 || r.User+r.System+r.Idle == 0 || r.Contexts == 0 {
			t.Errorf("implausible host_cpu %+v", r)
		}
		if n := uint32(runtime.NumCPU()); r.CPUNum < n {
			t.Errorf("cpu_num %d < runtime.NumCPU %d", r.CPUNum, n)
		}
	}
	if r, ok := find(recs, sflow.TagHostMemory).(*sflow.HostMemory); ok {
		if r.MemTotal < 64<<20 || r.MemFree > r.MemTotal || r.SwapFree > r.SwapTotal {
			t.Errorf("implausible host_memory %+v", r)
		}
	}
	if r, ok := find(recs, sflow.TagHostDiskIO).(*sflow.HostDiskIO); ok {
		if r.DiskFree > r.DiskTotal || r.PartMaxUsed < -1 || r.PartMaxUsed > 10000 {
			t.Errorf("implausible host_disk_io %+v", r)
		}
	}
	if r, ok := find(recs, sflow.TagMIB2IPGroup).(*sflow.MIB2IPGroup); ok && r.DefaultTTL == 0 {
		t.Errorf("ip DefaultTTL 0")
	}
	if _, err := sflow.AppendSample(nil, &sflow.Sample{Tag: sflow.SampleCountersExpanded, SourceIDType: 2, SourceIDIndex: 1, Records: recs}); err != nil {
		t.Errorf("encode host sample: %v", err)
	}

	ifs := h.Interfaces()
	if len(ifs) == 0 {
		t.Log("no physical interfaces in this network namespace: interface checks skipped")
		return
	}
	for _, inf := range ifs {
		p := h.pollerFor(t, inf.IfIndex)
		got, err := p.Poll(nil)
		if err != nil {
			t.Errorf("%s: poll: %v", inf.Name, err)
			continue
		}
		c, ok := find(got, sflow.TagIfCounters).(*sflow.IfCounters)
		if !ok {
			t.Errorf("%s: no if_counters in %v", inf.Name, tags(got))
			continue
		}
		out, err := exec.Command(ipCmd, "-j", "-s", "link", "show", "dev", inf.Name).Output()
		if err != nil {
			testbed.Missing(t, fmt.Sprintf("ip -j -s link show dev %s: %v (iproute2 without JSON output?)", inf.Name, err))
		}
		var links []ipLink
		if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
			t.Errorf("ip -j output for %s: %v (%d links)", inf.Name, err, len(links))
			continue
		}
		l := links[0]
		if l.IfIndex != c.IfIndex {
			t.Errorf("%s: ifIndex %d, ip says %d", inf.Name, c.IfIndex, l.IfIndex)
		}
		// ip ran after the poll: its counters may be ahead by the
		// traffic of that moment, never behind.
		within := func(what string, polled, ip, tol uint64) {
			if ip < polled || ip-polled > tol {
				t.Errorf("%s %s: polled %d, ip shows %d (tolerance %d)", inf.Name, what, polled, ip, tol)
			}
		}
		const bytesTol, pktsTol = 64 << 20, 100000
		within("rx bytes", c.InOctets, l.Stats64.RX.Bytes, bytesTol)
		within("tx bytes", c.OutOctets, l.Stats64.TX.Bytes, bytesTol)
		within("rx packets (ucast+mcast)", uint64(c.InUcastPkts)+uint64(c.InMulticastPkts), l.Stats64.RX.Packets, pktsTol)
		within("tx packets", uint64(c.OutUcastPkts), l.Stats64.TX.Packets, pktsTol)
		within("rx multicast", uint64(c.InMulticastPkts), l.Stats64.RX.Multicast, pktsTol)
		within("rx errors", uint64(c.InErrors), l.Stats64.RX.Errors, pktsTol)
		within("tx errors", uint64(c.OutErrors), l.Stats64.TX.Errors, pktsTol)
		within("rx dropped", uint64(c.InDiscards), l.Stats64.RX.Dropped, pktsTol)
		within("tx dropped", uint64(c.OutDiscards), l.Stats64.TX.Dropped, pktsTol)
		if _, err := sflow.AppendSample(nil, &sflow.Sample{Tag: sflow.SampleCounters, SourceIDIndex: c.IfIndex, Records: got}); err != nil {
			t.Errorf("%s: encode: %v", inf.Name, err)
		}
		t.Logf("%s (ifIndex %d, %s): rx %d B / tx %d B, speed %d, status %d, %d records",
			inf.Name, c.IfIndex, inf.Kind, c.InOctets, c.OutOctets, c.IfSpeed, c.IfStatus, len(got))
	}
}

// TestIntegrationNetlinkSubscribe subscribes to the real rtnetlink link
// group and checks that the subscription ends with its context.
func TestIntegrationNetlinkSubscribe(t *testing.T) {
	testbed.Integration(t)
	if runtime.GOOS != "linux" {
		testbed.Missing(t, "not Linux")
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := netlinkLinkEvents(ctx, nil)
	if err != nil {
		cancel()
		testbed.Missing(t, "cannot subscribe to netlink link events here: "+err.Error())
	}
	cancel()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("link event channel not closed after cancel")
		}
	}
}

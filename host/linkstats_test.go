package host

import (
	"regexp"

	"encoding/binary"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestNetlinkStatsMatchSysfs reads this namespace's loopback counters with
// the RTM_GETSTATS dump and with its sysfs files (read before and after):
// the dump lies between the two, for every counter sysfs has.
func TestNetlinkStatsMatchSysfs(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skipf("no loopback interface: %v", err)
	}
	// some traffic on lo, so the counters are not all 0
	if c, err := net.ListenPacket("udp", "127.0.0.1:0"); err == nil {
		for range 10 {
			c.WriteTo([]byte("x"), c.LocalAddr())
		}
		c.Close()
	}
	readFiles := func() linkStats {
		var rd fileReader
		st, ifErr, _ := readStatFiles(&rd, "/sys/class/net/lo/statistics/")
		if ifErr != nil {
			t.Fatal(ifErr)
		}
		return st
	}
	before := readFiles()
	nl, err := newNetlinkStats()
	if err != nil {
		t.Fatalf("netlink stats: %v", err)
	}
	defer nl.close()
	got, ok, err := nl.get(uint32(lo.Index))
	if err != nil || !ok {
		t.Fatalf("get(lo %d) = ok %v, err %v", lo.Index, ok, err)
	}
	after := readFiles()
	for i := range numStats {
		if !before.have[i] {
			continue
		}
		if !got.have[i] || got.v[i] < before.v[i] || got.v[i] > after.v[i] {
			t.Errorf("%s: dump %d (have %v), sysfs %d..%d", statFileNames[i], got.v[i], got.have[i], before.v[i], after.v[i])
		}
	}
	if got.v[lsRxPackets] == 0 {
		t.Error("loopback rx_packets is 0 after traffic")
	}
	if _, ok, _ := nl.get(0x7fffffff); ok {
		t.Error("a link that does not exist was found")
	}
	// every link of the namespace is in one dump
	ents, _ := os.ReadDir("/sys/class/net")
	for _, e := range ents {
		b, err := os.ReadFile("/sys/class/net/" + e.Name() + "/ifindex")
		if err != nil {
			continue
		}
		idx, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if _, ok := nl.stats[uint32(idx)]; !ok {
			t.Errorf("%s (ifindex %d) missing from the dump", e.Name(), idx)
		}
	}
}

// TestStatsFromShortStruct: an older kernel's shorter rtnl_link_stats64
// leaves the counters it lacks unknown.
func TestStatsFromShortStruct(t *testing.T) {
	b := make([]byte, 8*lsRxNoHandler) // before rx_nohandler (Linux < 4.6)
	binary.NativeEndian.PutUint64(b[8*lsRxBytes:], 1234)
	s := statsFromBytes(b)
	if !s.have[lsRxBytes] || s.v[lsRxBytes] != 1234 || s.have[lsRxNoHandler] {
		t.Errorf("stats = %+v", s)
	}
}

// FuzzNetlinkParse: whatever a receive holds, parse neither panics nor
// keeps a link whose stats attribute is cut short as known.
func FuzzNetlinkParse(f *testing.F) {
	f.Add([]byte{1, 2, 3})
	f.Add([]byte{0xff, 0xff, 0, 0, 92, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	msg := make([]byte, 16+12+4+8*numStats)
	ne := binary.NativeEndian
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], rtmNewStats)
	ne.PutUint32(msg[16+4:], 7)
	ne.PutUint16(msg[28:], uint16(4+8*numStats))
	ne.PutUint16(msg[30:], iflaStatsLink64)
	f.Add(msg)
	f.Fuzz(func(t *testing.T, b []byte) {
		n := &netlinkStats{stats: map[uint32]linkStats{}}
		n.parse(b)
		for idx, st := range n.stats {
			for i := range numStats {
				if !st.have[i] && st.v[i] != 0 {
					t.Fatalf("link %d: unknown counter %d has value %d", idx, i, st.v[i])
				}
			}
		}
	})
}

// TestNetlinkScanMatchesSysfs: on this machine's real links the
// RTM_GETLINK scan selects the same interfaces, with the same facts, as
// the sysfs scan (with and without an include expression, which also
// selects virtual links).
func TestNetlinkScanMatchesSysfs(t *testing.T) {
	for _, include := range []string{"", "."} {
		cfg := Config{Proc: "/proc", Sys: "/sys", Etc: "/etc", StateDir: t.TempDir()}
		if include != "" {
			cfg.Include = regexp.MustCompile(include)
		}
		h, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if h.nlStats == nil {
			t.Skip("no netlink here")
		}
		var rd fileReader
		fromNetlink, err := h.scanNetlink(&rd)
		if err != nil {
			t.Fatal(err)
		}
		nl, facts := h.nlStats, h.linkFacts
		h.linkFacts = nil
		fromSysfs, err := h.scanInterfaces(&rd)
		h.linkFacts = facts
		nl.close()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(fromSysfs, fromNetlink, cmpopts.IgnoreFields(Interface{}, "nl"), cmp.AllowUnexported(Interface{})); diff != "" {
			t.Errorf("include %q: netlink scan differs from sysfs (-sysfs +netlink):\n%s", include, diff)
		}
		t.Logf("include %q: %d interfaces", include, len(fromNetlink))
	}
}

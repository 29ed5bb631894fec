package asic

import (
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"gwd/agent"
	"gwd/internal/testutil"
	"gwd/sflow"
)

// TestExportCumulusAndDevlink runs the devlink backend on a fake netdevsim
// (no devlink in these kernels) and the Cumulus backend on a fixture
// switchd tree, through a real agent to a loopback collector: one 4413:3
// record on 2:1, merged from both (devlink listed first wins where both
// know a field), decoded as gwd decode prints it.
func TestExportCumulusAndDevlink(t *testing.T) {
	c := testutil.NewCollector(t)
	a := startAgent(t, c)
	a.Register("host", agent.HostSource, agent.PollerFunc(func(recs []sflow.Record) ([]sflow.Record, error) {
		return append(recs, &sflow.HostDescr{Hostname: []byte("leaf1")}), nil
	}))
	s, err := New(Config{Backends: []string{BackendDevlink, BackendCumulus}, Interval: 200 * time.Millisecond, CumulusDir: "testdata/cumulus/run"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	api := &fakeDevlink{
		devs: []devlinkDevice{{"netdevsim", "netdevsim0", "netdevsim"}},
		res:  map[string][]netlink.DevlinkResource{"netdevsim/netdevsim0": netdevsimResources(90, 96, 30, 64, 10, 16)},
	}
	real := s.newBackend
	s.newBackend = func(name string) (backend, error) {
		if name == BackendDevlink {
			return newDevlink(DevlinkConfig{}, api), nil
		}
		return real(name)
	}
	runSource(t, s, a)
	text := sampleText(t, c, agent.HostSource, 10*time.Second, hasLines(
		"hostname leaf1", // the host's own records ride in the same sample
		"bcm_ipv4_entries 90", "bcm_ipv4_entries_max 96", "bcm_ipv6_entries 30", "bcm_ipv6_entries_max 64",
		"bcm_total_routes 120", "bcm_total_routes_max 160", "bcm_ecmp_nexthops 10", "bcm_ecmp_nexthops_max 16",
		"bcm_asic_host_entries 48", "bcm_host_entries_max 8192", "bcm_mac_entries 500", "bcm_mac_entries_max 32768",
		"bcm_ipv4_neighbors 40", "bcm_ipv4_routes 90",
		"bcm_acl_ingress_meters 2", "bcm_acl_ingress_meters_max 512",
		"bcm_acl_egress_meters 4294967295", "bcm_acl_egress_slices_max 4294967295",
	))
	if n := countLines(text, "counterBlock_tag 4413:3"); n != 1 {
		t.Errorf("%d hw_tables records in the host sample, want 1", n)
	}
	if n := countLines(text, "counterBlock_tag 4413:1"); n != 0 {
		t.Errorf("no backend reads buffers here, yet %d bst_device_buffers records", n)
	}
	for _, h := range []string{"asic/devlink", "asic/cumulus"} {
		if msg := a.Health()[h]; msg != "" {
			t.Errorf("%s: %s", h, msg)
		}
	}
}

func countLines(text, line string) int {
	n := 0
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			n++
		}
	}
	return n
}

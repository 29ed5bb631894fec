package ovs

import (
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func ptr[T any](v T) *T { return &v }

// fixture: bridges br0 (uuid b0), br1 (b1), br2 (b2) with ports; rows are
// added per case.
func fixture() *snapshot {
	return &snapshot{
		bridges: map[string]bridgeRow{
			"b0": {UUID: "b0", Name: "br0", Ports: []string{"p0", "p1"}, DatapathID: ptr("00000000000000ff")},
			"b1": {UUID: "b1", Name: "br1", Ports: []string{"p2"}},
			"b2": {UUID: "b2", Name: "br2"},
		},
		ports: map[string]portRow{
			"p0": {UUID: "p0", Name: "br0", Interfaces: []string{"i0"}},
			"p1": {UUID: "p1", Name: "bond0", Interfaces: []string{"i1", "i2"}},
			"p2": {UUID: "p2", Name: "eth9", Interfaces: []string{"i3"}},
		},
		ifaces: map[string]ifaceRow{
			"i0": {UUID: "i0", Name: "br0", Type: "internal", OFPort: ptr(65534), LinkSpeed: ptr(100_000_000_000)},
			"i1": {UUID: "i1", Name: "eth1", OFPort: ptr(2), IfIndex: ptr(11), LinkSpeed: ptr(10_000_000_000)},
			"i2": {UUID: "i2", Name: "eth0", OFPort: ptr(1), IfIndex: ptr(10), LinkSpeed: ptr(1_000_000_000)},
			"i3": {UUID: "i3", Name: "eth9", Type: "dpdk", OFPort: ptr(1), LinkSpeed: ptr(25_000_000_000)},
		},
		sflows: map[string]sflowRow{},
	}
}

var mark = map[string]string{OwnerKey: OwnerValue}

func TestMakePlan(t *testing.T) {
	want := &Settings{Targets: []string{"127.0.0.1:2", "127.0.0.1:1"}, Sampling: 500, Polling: 20, Header: 64, Agent: "10.0.0.1"}
	row := desiredRow{agent: ptr("10.0.0.1"), header: ptr(64), polling: ptr(20), sampling: ptr(500),
		targets: []string{"127.0.0.1:1", "127.0.0.1:2"}}
	ours := sflowRow{UUID: "s1", Agent: ptr("10.0.0.1"), Header: ptr(64), Polling: ptr(20), Sampling: ptr(500),
		Targets: []string{"127.0.0.1:2", "127.0.0.1:1"}, ExternalIDs: mark}
	foreignRow := sflowRow{UUID: "f1", Targets: []string{"10.9.9.9:6343"}, ExternalIDs: map[string]string{"x": "y"}}
	attachedAll := func(sn *snapshot) {
		sn.sflows["s1"] = ours
		for u, b := range sn.bridges {
			b.SFlow = ptr("s1")
			sn.bridges[u] = b
		}
	}
	tests := []struct {
		name   string
		setup  func(sn *snapshot)
		sel    selector
		policy string
		want   *Settings
		plan   plan
	}{
		{
			name: "fresh: create and attach all",
			want: want,
			plan: plan{create: true, row: row, attach: []string{"b0", "b1", "b2"}},
		},
		{
			name:  "converged: nothing to write",
			setup: attachedAll,
			want:  want,
			plan:  plan{keeper: "s1", row: row},
		},
		{
			name:  "settings changed: one update",
			setup: attachedAll,
			want:  &Settings{Targets: want.Targets, Sampling: 500, Polling: 30, Header: 64, Agent: "10.0.0.1"},
			plan: plan{keeper: "s1", update: true, row: desiredRow{agent: ptr("10.0.0.1"), header: ptr(64),
				polling: ptr(30), sampling: ptr(500), targets: row.targets}},
		},
		{
			name: "zero values unset columns",
			setup: func(sn *snapshot) {
				attachedAll(sn)
			},
			want: &Settings{Targets: []string{"127.0.0.1:1"}, Sampling: 7},
			plan: plan{keeper: "s1", update: true, row: desiredRow{sampling: ptr(7), targets: []string{"127.0.0.1:1"}}},
		},
		{
			name: "new bridge: attach it only",
			setup: func(sn *snapshot) {
				attachedAll(sn)
				b := sn.bridges["b2"]
				b.SFlow = nil
				sn.bridges["b2"] = b
			},
			want: want,
			plan: plan{keeper: "s1", row: row, attach: []string{"b2"}},
		},
		{
			name: "foreign row, adopt",
			setup: func(sn *snapshot) {
				attachedAll(sn)
				sn.sflows["f1"] = foreignRow
				b := sn.bridges["b1"]
				b.SFlow = ptr("f1")
				sn.bridges["b1"] = b
			},
			want: want,
			plan: plan{keeper: "s1", row: row, attach: []string{"b1"}},
		},
		{
			name: "foreign row, leave",
			setup: func(sn *snapshot) {
				attachedAll(sn)
				sn.sflows["f1"] = foreignRow
				b := sn.bridges["b1"]
				b.SFlow = ptr("f1")
				sn.bridges["b1"] = b
			},
			policy: PolicyLeave,
			want:   want,
			plan:   plan{keeper: "s1", row: row, foreign: []string{"br1"}},
		},
		{
			name: "only foreign rows, leave: no row at all",
			setup: func(sn *snapshot) {
				sn.sflows["f1"] = foreignRow
				for u, b := range sn.bridges {
					b.SFlow = ptr("f1")
					sn.bridges[u] = b
				}
			},
			policy: PolicyLeave,
			want:   want,
			plan:   plan{foreign: []string{"br0", "br1", "br2"}},
		},
		{
			name: "duplicate owned rows: keep the most referenced",
			setup: func(sn *snapshot) {
				attachedAll(sn)
				dup := ours
				dup.UUID = "s0"
				sn.sflows["s0"] = dup
				b := sn.bridges["b1"]
				b.SFlow = ptr("s0")
				sn.bridges["b1"] = b
			},
			want: want,
			plan: plan{keeper: "s1", row: row, attach: []string{"b1"}},
		},
		{
			name: "duplicate owned rows, tie: lowest UUID",
			setup: func(sn *snapshot) {
				sn.sflows["s1"] = ours
				dup := ours
				dup.UUID = "s0"
				sn.sflows["s0"] = dup
				b := sn.bridges["b0"]
				b.SFlow = ptr("s1")
				sn.bridges["b0"] = b
				b = sn.bridges["b1"]
				b.SFlow = ptr("s0")
				sn.bridges["b1"] = b
			},
			want: want,
			plan: plan{keeper: "s0", row: row, attach: []string{"b0", "b2"}},
		},
		{
			name:  "excluded bridge is detached",
			setup: attachedAll,
			sel:   selector{exclude: regexp.MustCompile(`^br1$`)},
			want:  want,
			plan:  plan{keeper: "s1", row: row, detach: []string{"b1"}},
		},
		{
			name: "include filter",
			sel:  selector{include: regexp.MustCompile(`^br[02]$`)},
			want: want,
			plan: plan{create: true, row: row, attach: []string{"b0", "b2"}},
		},
		{
			name: "shutdown: detach every owned reference",
			setup: func(sn *snapshot) {
				attachedAll(sn)
				sn.sflows["f1"] = foreignRow
				b := sn.bridges["b2"]
				b.SFlow = ptr("f1")
				sn.bridges["b2"] = b
			},
			sel:  selector{exclude: regexp.MustCompile(`^br1$`)},
			want: nil,
			plan: plan{keeper: "s1", detach: []string{"b0", "b1"}},
		},
		{
			name:  "no targets: detach",
			setup: attachedAll,
			want:  &Settings{Sampling: 1},
			plan:  plan{keeper: "s1", detach: []string{"b0", "b1", "b2"}},
		},
		{
			name: "sampling from the fastest physical port",
			want: &Settings{Targets: []string{"127.0.0.1:1"}},
			sel:  selector{include: regexp.MustCompile(`^br0$`)},
			// br0: internal 100G ignored, eth1 10G, eth0 1G -> 10000.
			plan: plan{create: true, row: desiredRow{sampling: ptr(10000), targets: []string{"127.0.0.1:1"}},
				attach: []string{"b0"}},
		},
		{
			name: "sampling from dpdk port",
			want: &Settings{Targets: []string{"127.0.0.1:1"}},
			plan: plan{create: true, row: desiredRow{sampling: ptr(25000), targets: []string{"127.0.0.1:1"}},
				attach: []string{"b0", "b1", "b2"}},
		},
		{
			name: "sampling without speeds",
			want: &Settings{Targets: []string{"127.0.0.1:1"}},
			sel:  selector{include: regexp.MustCompile(`^br2$`)},
			plan: plan{create: true, row: desiredRow{sampling: ptr(400), targets: []string{"127.0.0.1:1"}},
				attach: []string{"b2"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sn := fixture()
			if tt.setup != nil {
				tt.setup(sn)
			}
			policy := tt.policy
			if policy == "" {
				policy = PolicyAdopt
			}
			got := makePlan(sn, tt.sel, policy, tt.want, DefaultSamplingFor)
			if diff := cmp.Diff(tt.plan, got, cmp.AllowUnexported(plan{}, desiredRow{})); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			if got.empty() != (!tt.plan.create && !tt.plan.update && tt.plan.attach == nil && tt.plan.detach == nil) {
				t.Errorf("empty() = %v", got.empty())
			}
		})
	}
}

func TestView(t *testing.T) {
	sn := fixture()
	sn.sflows["s1"] = sflowRow{UUID: "s1", ExternalIDs: mark}
	sn.sflows["f1"] = sflowRow{UUID: "f1"}
	b := sn.bridges["b0"]
	b.SFlow = ptr("s1")
	sn.bridges["b0"] = b
	b = sn.bridges["b1"]
	b.SFlow = ptr("f1")
	sn.bridges["b1"] = b
	got := sn.view(selector{exclude: regexp.MustCompile("br2")})
	want := []Bridge{
		{Name: "br0", UUID: "b0", DatapathID: 255, Attached: true, Ports: []Port{
			{Name: "eth0", IfIndex: 10, OFPort: 1, Speed: 1_000_000_000},
			{Name: "eth1", IfIndex: 11, OFPort: 2, Speed: 10_000_000_000},
			{Name: "br0", OFPort: 65534, Type: "internal", Speed: 100_000_000_000},
		}},
		{Name: "br1", UUID: "b1", Ports: []Port{
			{Name: "eth9", OFPort: 1, Type: "dpdk", Speed: 25_000_000_000},
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("view (-want +got):\n%s", diff)
	}
}

func TestDefaultSamplingFor(t *testing.T) {
	for speed, want := range map[uint64]int{0: 400, 10: 1, 100e6: 100, 1e9: 1000, 10e9: 10000, 400e9: 400000} {
		if got := DefaultSamplingFor(speed); got != want {
			t.Errorf("DefaultSamplingFor(%d) = %d, want %d", speed, got, want)
		}
	}
}

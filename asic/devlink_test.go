package asic

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
)

// These kernels have no devlink (nor netdevsim): the backend is tested
// with a fake devlinkAPI that returns resource trees shaped like
// netdevsim's (`devlink resource show netdevsim/netdevsim0`).

type fakeDevlink struct {
	devs []devlinkDevice
	res  map[string][]netlink.DevlinkResource
	err  error
}

func (f *fakeDevlink) devices() ([]devlinkDevice, error) { return f.devs, f.err }
func (f *fakeDevlink) resources(bus, dev string) ([]netlink.DevlinkResource, error) {
	r, ok := f.res[bus+"/"+dev]
	if !ok {
		return nil, syscall.EOPNOTSUPP
	}
	return r, nil
}

func netdevsimResources(fib4, fib4Size, fib6, fib6Size, nh, nhSize uint64) []netlink.DevlinkResource {
	leaf := func(name string, occ, size uint64) netlink.DevlinkResource {
		return netlink.DevlinkResource{Name: name, Size: size, OCCValid: true, OCCSize: occ}
	}
	return []netlink.DevlinkResource{
		{Name: "IPv4", Size: 1 << 32, Children: []netlink.DevlinkResource{leaf("fib", fib4, fib4Size), leaf("fib-rules", 4, 16)}},
		{Name: "IPv6", Size: 1 << 32, Children: []netlink.DevlinkResource{leaf("fib", fib6, fib6Size), leaf("fib-rules", 3, 16)}},
		leaf("nexthops", nh, nhSize),
	}
}

func TestDevlinkNetdevsim(t *testing.T) {
	api := &fakeDevlink{
		devs: []devlinkDevice{{"netdevsim", "netdevsim0", "netdevsim"}, {"netdevsim", "netdevsim1", "netdevsim"}, {"pci", "0000:03:00.0", "mlxsw_spectrum2"}},
		res: map[string][]netlink.DevlinkResource{
			"netdevsim/netdevsim0": netdevsimResources(90, 96, 30, 64, 10, 16),
			"netdevsim/netdevsim1": netdevsimResources(1, 96, 2, 64, 3, 16),
		},
	}
	r, err := newDevlink(DevlinkConfig{}, api).read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := tablesWith(map[int]int64{
		IPv4Entries: 91, IPv4EntriesMax: 192, IPv4Routes: 91,
		IPv6Entries: 32, IPv6EntriesMax: 128, IPv6Routes: 32,
		TotalRoutes: 123, TotalRoutesMax: 320,
		ECMPNexthops: 13, ECMPNexthopsMax: 32,
	})
	if diff := cmp.Diff(want, r.tables); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestDevlinkConfiguredMapAndPartial(t *testing.T) {
	res := netdevsimResources(90, 96, 30, 64, 10, 16)
	res[1].Children[0].OCCValid = false // IPv6 fib occupancy not reported
	api := &fakeDevlink{
		devs: []devlinkDevice{{"netdevsim", "netdevsim0", "netdevsim"}, {"pci", "0000:03:00.0", "mlxsw_spectrum2"}},
		res: map[string][]netlink.DevlinkResource{
			"netdevsim/netdevsim0": res,
			"pci/0000:03:00.0":     {{Name: "counters", Size: 1000, Children: []netlink.DevlinkResource{{Name: "flow", Size: 800, OCCValid: true, OCCSize: 120}}}},
		},
	}
	cfg := DevlinkConfig{Map: map[string]map[string][]string{"mlxsw_spectrum2": {"/counters/flow": {"acl_ingress_counters"}}}}
	if err := cfg.normalize(); err != nil {
		t.Fatal(err)
	}
	r, err := newDevlink(cfg, api).read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.tables[ACLIngressCounters] != 120 || r.tables[ACLIngressCountersMax] != 800 {
		t.Errorf("configured mapping: %d/%d", r.tables[ACLIngressCounters], r.tables[ACLIngressCountersMax])
	}
	if r.tables[IPv6Entries] != Unknown || r.tables[IPv6EntriesMax] != 64 || r.tables[TotalRoutes] != Unknown || r.tables[TotalRoutesMax] != 160 {
		t.Errorf("an unknown occupancy must not be summed as 0: ipv6 %d/%d total %d/%d",
			r.tables[IPv6Entries], r.tables[IPv6EntriesMax], r.tables[TotalRoutes], r.tables[TotalRoutesMax])
	}
}

func TestDevlinkNotAvailable(t *testing.T) {
	for name, api := range map[string]*fakeDevlink{
		"no family":  {err: errors.Join(ErrNotAvailable, syscall.ENOENT)},
		"no devices": {},
	} {
		_, err := newDevlink(DevlinkConfig{}, api).read(context.Background())
		if !errors.Is(err, ErrNotAvailable) {
			t.Errorf("%s: %v, want not available", name, err)
		}
	}
	api := &fakeDevlink{devs: []devlinkDevice{{"pci", "0000:03:00.0", "mlxsw_spectrum"}}}
	if _, err := newDevlink(DevlinkConfig{}, api).read(context.Background()); err == nil || !strings.Contains(err.Error(), "without a mapping: pci/0000:03:00.0 (mlxsw_spectrum)") {
		t.Errorf("unmapped driver: %v", err)
	}
	api = &fakeDevlink{devs: []devlinkDevice{{"netdevsim", "netdevsim0", "netdevsim"}}}
	if _, err := newDevlink(DevlinkConfig{}, api).read(context.Background()); err == nil || !strings.Contains(err.Error(), "resources") {
		t.Errorf("resource dump failing: %v", err)
	}
}

// TestDevlinkThisKernel runs the real netlink path: on these machines it
// must say "not available" (and on a machine with devlink, read).
func TestDevlinkThisKernel(t *testing.T) {
	_, err := newDevlink(DevlinkConfig{}, netlinkDevlink{}).read(context.Background())
	if err != nil && !errors.Is(err, ErrNotAvailable) && !strings.Contains(err.Error(), "mapping") {
		t.Errorf("devlink on this kernel: %v", err)
	}
	t.Logf("devlink here: %v", err)
}

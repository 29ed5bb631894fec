package asic

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
)

// DevlinkConfig configures the devlink backend.
type DevlinkConfig struct {
	// Map adds to or replaces the built-in mapping table: driver name ->
	// resource path ("/IPv4/fib") -> the hw_tables count fields the
	// resource's occupancy fills. Where a field has a _max companion, the
	// resource's size fills it. Resources mapped to the same field add up.
	Map map[string]map[string][]string
}

func (c *DevlinkConfig) normalize() error {
	for drv, m := range c.Map {
		for path, fields := range m {
			if !strings.HasPrefix(path, "/") {
				return fmt.Errorf("asic: devlink.map.%s: resource path %q must start with /", drv, path)
			}
			for _, f := range fields {
				i, ok := tableField(f)
				if !ok {
					return fmt.Errorf("asic: devlink.map.%s.%s: unknown hw_tables field %q", drv, path, f)
				}
				if strings.HasSuffix(f, "_max") {
					return fmt.Errorf("asic: devlink.map.%s.%s: %q is a maximum; name the count field (%s), its size fills the maximum", drv, path, f, TableFieldName(i-1))
				}
			}
		}
	}
	return nil
}

// devlinkDrivers is the built-in mapping of devlink resources to hw_tables
// count fields, per driver (docs/asic.md has the table and the reasons).
// netdevsim's resources are the kernel's software model of a switch's
// FIB and next-hop tables. Drivers whose resources do not correspond to a
// 4413:3 field one for one (mlxsw's KVD, a hash memory shared by routes,
// neighbours, FDB and ACL actions) are left out rather than guessed; the
// configuration can add them.
var devlinkDrivers = map[string]map[string][]string{
	"netdevsim": {
		"/IPv4/fib": {"ipv4_entries", "ipv4_routes", "total_routes"},
		"/IPv6/fib": {"ipv6_entries", "ipv6_routes", "total_routes"},
		"/nexthops": {"ecmp_nexthops"},
	},
}

// devlinkDevice is one devlink instance.
type devlinkDevice struct {
	bus, name, driver string
}

// devlinkAPI is the part of devlink the backend uses (netlink in
// production, a fake in tests: these kernels have no devlink).
type devlinkAPI interface {
	devices() ([]devlinkDevice, error)
	resources(bus, dev string) ([]netlink.DevlinkResource, error)
}

// netlinkDevlink is devlinkAPI over the kernel's devlink family.
type netlinkDevlink struct{}

func (netlinkDevlink) devices() ([]devlinkDevice, error) {
	list, err := netlink.DevLinkGetDeviceList()
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EPROTONOSUPPORT) || errors.Is(err, syscall.EOPNOTSUPP) {
			return nil, fmt.Errorf("devlink: %w (no devlink family in this kernel)", ErrNotAvailable)
		}
		return nil, fmt.Errorf("devlink: list devices: %w", err)
	}
	out := make([]devlinkDevice, 0, len(list))
	for _, d := range list {
		drv := d.BusName // netdevsim's bus is named after its driver
		if info, err := netlink.DevlinkGetDeviceInfoByName(d.BusName, d.DeviceName); err == nil && info.Driver != "" {
			drv = info.Driver
		}
		out = append(out, devlinkDevice{bus: d.BusName, name: d.DeviceName, driver: drv})
	}
	return out, nil
}

func (netlinkDevlink) resources(bus, dev string) ([]netlink.DevlinkResource, error) {
	r, err := netlink.DevlinkGetDeviceResources(bus, dev)
	if err != nil {
		return nil, err
	}
	return r.Resources, nil
}

// devlinkBackend reads devlink resources into 4413:3.
type devlinkBackend struct {
	api     devlinkAPI
	drivers map[string]map[string][]string
}

func newDevlink(cfg DevlinkConfig, api devlinkAPI) *devlinkBackend {
	drivers := map[string]map[string][]string{}
	for d, m := range devlinkDrivers {
		drivers[d] = m
	}
	for d, m := range cfg.Map {
		drivers[d] = m
	}
	return &devlinkBackend{api: api, drivers: drivers}
}

func (d *devlinkBackend) name() string { return BackendDevlink }
func (d *devlinkBackend) close() error { return nil }

func (d *devlinkBackend) read(context.Context) (reading, error) {
	devs, err := d.api.devices()
	if err != nil {
		return reading{}, err
	}
	if len(devs) == 0 {
		return reading{}, fmt.Errorf("devlink: %w (no devlink devices)", ErrNotAvailable)
	}
	t := unknownTables()
	partial := map[int]bool{} // fields one of whose resources is not known
	mapped := 0
	var errs []error
	var unmapped []string
	for _, dev := range devs {
		m := d.drivers[dev.driver]
		if m == nil {
			unmapped = append(unmapped, dev.bus+"/"+dev.name+" ("+dev.driver+")")
			continue
		}
		res, err := d.api.resources(dev.bus, dev.name)
		if err != nil {
			errs = append(errs, fmt.Errorf("devlink %s/%s: resources: %w", dev.bus, dev.name, err))
			for _, fields := range m {
				for _, name := range fields {
					f, _ := tableField(name)
					partial[f] = true
					if mf := maxField(f); mf >= 0 {
						partial[mf] = true
					}
				}
			}
			continue
		}
		flat := map[string]netlink.DevlinkResource{}
		flattenResources(flat, "", res)
		for path, fields := range m {
			r, ok := flat[path]
			if !ok {
				errs = append(errs, fmt.Errorf("devlink %s/%s: no resource %s", dev.bus, dev.name, path))
			} else {
				mapped++
			}
			for _, name := range fields {
				f, _ := tableField(name)
				mf := maxField(f)
				if !ok {
					partial[f] = true
					if mf >= 0 {
						partial[mf] = true
					}
					continue
				}
				if r.OCCValid {
					t[f] = addKnown(t[f], int64(r.OCCSize))
				} else {
					partial[f] = true
				}
				if mf >= 0 {
					t[mf] = addKnown(t[mf], int64(r.Size))
				}
			}
		}
	}
	if mapped == 0 {
		sort.Strings(unmapped)
		if len(errs) == 0 {
			return reading{}, fmt.Errorf("devlink: no mapped resources (devices without a mapping: %s)", strings.Join(unmapped, ", "))
		}
		return reading{}, errors.Join(errs...)
	}
	for f := range partial {
		t[f] = Unknown // a sum with an unknown term is unknown, not smaller
	}
	return reading{tables: &t}, errors.Join(errs...)
}

// flattenResources indexes a resource tree by path ("/IPv4/fib").
func flattenResources(out map[string]netlink.DevlinkResource, prefix string, rs []netlink.DevlinkResource) {
	for _, r := range rs {
		p := prefix + "/" + r.Name
		out[p] = r
		flattenResources(out, p, r.Children)
	}
}

// addKnown adds v to a field that may still be Unknown.
func addKnown(cur, v int64) int64 {
	if cur < 0 {
		return v
	}
	return cur + v
}

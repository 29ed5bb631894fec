package asic

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"gwd/internal/textscan"
)

// The Cumulus Linux backend reads the table use that switchd publishes
// under /cumulus/switchd/run/ (one ASCII integer per file), the files and
// the route-mode rule hsflowd's mod_cumulus reads:
//
//	route_info/host/{count,max}            host_entries(_max)
//	route_info/host/{count_v4,count_v6}    ipv4_neighbors, ipv6_neighbors
//	route_info/route/mode                  1: count_0/max_0 are ipv4_ipv6_entries
//	                                          and count_1/max_1 long_ipv6_entries;
//	                                       2: count_0/max_0 are ipv4_entries
//	                                          and count_1/max_1 ipv6_entries
//	route_info/route/{count,max}_total     total_routes(_max)
//	route_info/ecmp_nh/{count,max}         ecmp_nexthops(_max)
//	route_info/mac/{count,max}             mac_entries(_max)
//	acl_info/{ingress,egress}/X, X_total   acl_<dir>_X(_max), X in entries,
//	                                       counters, meters, slices
//
// A missing or unreadable file leaves its field Unknown (hsflowd sends 0).
// switchd publishes no buffer figures, so this backend reports 4413:3 only.
type cumulus struct {
	dir string
}

func newCumulus(dir string) *cumulus { return &cumulus{dir: dir} }

func (c *cumulus) name() string { return BackendCumulus }
func (c *cumulus) close() error { return nil }

// cumulusFiles maps switchd files to hw_tables fields, except the route
// counts that depend on route/mode.
var cumulusFiles = []struct {
	path  string
	field int
}{
	{"route_info/host/count", HostEntries},
	{"route_info/host/max", HostEntriesMax},
	{"route_info/host/count_v4", IPv4Neighbors},
	{"route_info/host/count_v6", IPv6Neighbors},
	{"route_info/route/count_total", TotalRoutes},
	{"route_info/route/max_total", TotalRoutesMax},
	{"route_info/ecmp_nh/count", ECMPNexthops},
	{"route_info/ecmp_nh/max", ECMPNexthopsMax},
	{"route_info/mac/count", MACEntries},
	{"route_info/mac/max", MACEntriesMax},
	{"acl_info/ingress/entries", ACLIngressEntries},
	{"acl_info/ingress/entries_total", ACLIngressEntriesMax},
	{"acl_info/ingress/counters", ACLIngressCounters},
	{"acl_info/ingress/counters_total", ACLIngressCountersMax},
	{"acl_info/ingress/meters", ACLIngressMeters},
	{"acl_info/ingress/meters_total", ACLIngressMetersMax},
	{"acl_info/ingress/slices", ACLIngressSlices},
	{"acl_info/ingress/slices_total", ACLIngressSlicesMax},
	{"acl_info/egress/entries", ACLEgressEntries},
	{"acl_info/egress/entries_total", ACLEgressEntriesMax},
	{"acl_info/egress/counters", ACLEgressCounters},
	{"acl_info/egress/counters_total", ACLEgressCountersMax},
	{"acl_info/egress/meters", ACLEgressMeters},
	{"acl_info/egress/meters_total", ACLEgressMetersMax},
	{"acl_info/egress/slices", ACLEgressSlices},
	{"acl_info/egress/slices_total", ACLEgressSlicesMax},
}

// cumulusRouteModes: for each route/mode, the fields of count_0, max_0,
// count_1, max_1.
var cumulusRouteModes = map[int64][4]int{
	1: {IPv4IPv6Entries, IPv4IPv6EntriesMax, LongIPv6Entries, LongIPv6EntriesMax},
	2: {IPv4Entries, IPv4EntriesMax, IPv6Entries, IPv6EntriesMax},
}

func (c *cumulus) read(context.Context) (reading, error) {
	fi, err := os.Stat(c.dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return reading{}, fmt.Errorf("switchd directory %s: %w", c.dir, ErrNotAvailable)
		}
		return reading{}, fmt.Errorf("switchd directory: %w", err)
	}
	if !fi.IsDir() {
		return reading{}, fmt.Errorf("switchd directory %s is not a directory", c.dir)
	}
	t := unknownTables()
	found := 0
	var bad error
	get := func(rel string) (int64, bool) {
		v, err := readSwitchdFile(filepath.Join(c.dir, rel))
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) && bad == nil {
				bad = err
			}
			return 0, false
		}
		found++
		return v, true
	}
	for _, f := range cumulusFiles {
		if v, ok := get(f.path); ok {
			t[f.field] = v
		}
	}
	if mode, ok := get("route_info/route/mode"); ok {
		if fields, known := cumulusRouteModes[mode]; known {
			for i, rel := range []string{"route_info/route/count_0", "route_info/route/max_0", "route_info/route/count_1", "route_info/route/max_1"} {
				if v, ok := get(rel); ok {
					t[fields[i]] = v
				}
			}
		} else if bad == nil {
			bad = fmt.Errorf("route_info/route/mode: unknown route table mode %d", mode)
		}
	}
	if found == 0 {
		return reading{tables: &t}, fmt.Errorf("no switchd table file under %s", c.dir)
	}
	return reading{tables: &t}, bad
}

// readSwitchdFile reads one switchd counter file.
func readSwitchdFile(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	b := make([]byte, 64)
	n, err := f.Read(b)
	if err != nil && n == 0 {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	v, err := parseSwitchdInt(b[:n])
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// parseSwitchdInt parses the content of a switchd counter file: an
// unsigned decimal integer, optionally surrounded by white space. Values
// above 2^62 are refused (no ASIC table is that large).
func parseSwitchdInt(b []byte) (int64, error) {
	i := 0
	for i < len(b) && textscan.IsSpace(b[i]) {
		i++
	}
	start := i
	var v int64
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		if v > (1<<62)/10 {
			return 0, errors.New("number too large")
		}
		v = v*10 + int64(b[i]-'0')
		i++
	}
	if i == start {
		return 0, errors.New("no number")
	}
	for ; i < len(b); i++ {
		if !textscan.IsSpace(b[i]) {
			return 0, fmt.Errorf("unexpected %q after the number", b[i])
		}
	}
	return v, nil
}

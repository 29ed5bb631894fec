package asic

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The Cumulus backend is tested on fixture trees shaped like switchd's
// /cumulus/switchd/run (no Cumulus switch here).

func TestCumulusFixture(t *testing.T) {
	r, err := newCumulus("testdata/cumulus/run").read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := tablesWith(map[int]int64{
		HostEntries: 48, HostEntriesMax: 8192, IPv4Neighbors: 40, IPv6Neighbors: 8,
		IPv4Entries: 1200, IPv4EntriesMax: 32768, IPv6Entries: 300, IPv6EntriesMax: 16384, // mode 2
		TotalRoutes: 1500, TotalRoutesMax: 49152, ECMPNexthops: 64, ECMPNexthopsMax: 16384,
		MACEntries: 500, MACEntriesMax: 32768,
		ACLIngressEntries: 15, ACLIngressEntriesMax: 768, ACLIngressCounters: 15, ACLIngressCountersMax: 768,
		ACLIngressMeters: 2, ACLIngressMetersMax: 512, ACLIngressSlices: 3, ACLIngressSlicesMax: 9,
		ACLEgressEntries: 3, ACLEgressEntriesMax: 512, ACLEgressCounters: 3, ACLEgressCountersMax: 512,
		// egress meters and slices files are absent: unknown, not 0
	})
	if diff := cmp.Diff(want, r.tables); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if r.device != nil || r.ports != nil {
		t.Error("switchd publishes no buffer figures")
	}
}

func TestCumulusRouteMode1(t *testing.T) {
	r, err := newCumulus("testdata/cumulus/mode1").read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := tablesWith(map[int]int64{IPv4IPv6Entries: 7000, IPv4IPv6EntriesMax: 16384, LongIPv6Entries: 20, LongIPv6EntriesMax: 256, HostEntries: 12})
	if diff := cmp.Diff(want, r.tables); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestCumulusErrors(t *testing.T) {
	_, err := newCumulus("testdata/none").read(context.Background())
	if !errors.Is(err, ErrNotAvailable) {
		t.Errorf("missing directory: %v", err)
	}
	r, err := newCumulus("testdata/cumulus/garbage").read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "route_info/host/count") {
		t.Errorf("garbage file: err = %v", err)
	}
	if r.tables == nil || r.tables[HostEntries] != Unknown || r.tables[HostEntriesMax] != 100 {
		t.Errorf("garbage file: %+v", r.tables)
	}
	empty := t.TempDir()
	if _, err := newCumulus(empty).read(context.Background()); err == nil || !strings.Contains(err.Error(), "no switchd table file") {
		t.Errorf("empty directory: %v", err)
	}
	bad := t.TempDir()
	os.MkdirAll(filepath.Join(bad, "route_info/route"), 0o755)
	os.WriteFile(filepath.Join(bad, "route_info/route/mode"), []byte("7\n"), 0o644)
	if _, err := newCumulus(bad).read(context.Background()); err == nil || !strings.Contains(err.Error(), "unknown route table mode 7") {
		t.Errorf("mode 7: %v", err)
	}
}

func TestParseSwitchdInt(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "42\n": 42, "  7 \t\r\n": 7, "4611686018427387904": 1 << 62} {
		if got, err := parseSwitchdInt([]byte(in)); err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", " ", "-1", "+1", "1x", "0x10", "1 2", "99999999999999999999"} {
		if v, err := parseSwitchdInt([]byte(in)); err == nil {
			t.Errorf("%q: accepted as %d", in, v)
		}
	}
}

package asic

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fixtureTables is what the SONiC fixture's CRM counters give.
func fixtureTables() Tables {
	t := unknownTables()
	for f, v := range map[int]int64{
		HostEntries: 48, IPv4Entries: 1200, IPv4EntriesMax: 31200, IPv6Entries: 300, IPv6EntriesMax: 10000,
		TotalRoutes: 1500, ECMPNexthops: 64, ECMPNexthopsMax: 16384, MACEntries: 500, MACEntriesMax: 32768,
		IPv4Neighbors: 40, IPv6Neighbors: 8, IPv4Routes: 1200, IPv6Routes: 300,
		ACLIngressEntries: 15, ACLIngressEntriesMax: 768, ACLIngressCounters: 15, ACLIngressCountersMax: 768,
		ACLIngressSlices: 3, ACLIngressSlicesMax: 9,
		ACLEgressEntries: 3, ACLEgressEntriesMax: 512, ACLEgressCounters: 3, ACLEgressCountersMax: 512,
		ACLEgressSlices: 1, ACLEgressSlicesMax: 4,
	} {
		t[f] = v
	}
	return t
}

// fixturePorts is what the fixture's first read gives (the raw COUNTERS
// watermarks against the pool sizes); ifIndex 5 is Ethernet0, 6 Ethernet4.
func fixturePorts() map[uint32]*PortBuffers {
	return map[uint32]*PortBuffers{
		5: {IngressUC: 1500, IngressMC: Unknown, EgressUC: 1000, EgressMC: 1000,
			QueueUC: []int32{100, 0, 200, 1000, 500, 500, 0, Unknown}, QueueMC: []int32{50, 0, 1000, 10}},
		6: {IngressUC: 250, IngressMC: Unknown, EgressUC: 2000, EgressMC: Unknown,
			QueueUC: []int32{10, 0, 0, 2000, 0, 0, 0, Unknown}, QueueMC: []int32{Unknown, Unknown, Unknown, Unknown}},
	}
}

func newTestSONiC(t *testing.T, db *fakeDB, mod func(*SONiCConfig)) *sonicBackend {
	t.Helper()
	cfg := SONiCConfig{DBConfig: "testdata/sonic/database_config.json"}
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.normalize(); err != nil {
		t.Fatal(err)
	}
	s := newSONiC(cfg, ifIndexer{root: "testdata/sys"}, slog.New(slog.DiscardHandler))
	s.open = func(*sonicDBConfig) sonicDB { return db }
	return s
}

func TestSONiCFixture(t *testing.T) {
	db := &fakeDB{data: loadRedisFixture(t)}
	s := newTestSONiC(t, db, nil)
	r, err := s.read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fixtureTables(), *r.tables); diff != "" {
		t.Errorf("tables (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(DeviceBuffers{UC: 3750, MC: Unknown}, *r.device); diff != "" {
		t.Errorf("device (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(fixturePorts(), r.ports); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}
}

func TestSONiCPeakFollowsWatermarkTable(t *testing.T) {
	for _, table := range []string{"persistent", "user"} {
		t.Run(table, func(t *testing.T) {
			db := &fakeDB{data: loadRedisFixture(t)}
			s := newTestSONiC(t, db, func(c *SONiCConfig) { c.Watermarks = table })
			ctx := context.Background()
			if _, err := s.read(ctx); err != nil {
				t.Fatal(err)
			}
			tab := map[string]string{"persistent": "PERSISTENT_WATERMARKS", "user": "USER_WATERMARKS"}[table]
			q3 := "oid:0x15020000000003" // Ethernet0 queue 3, egress_lossless_pool (12 MB)
			// A new all-time peak in the table: exact peak of the interval.
			db.set("COUNTERS_DB", tab+":"+q3, wmQueue, "3000000")
			r, err := s.read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.ports[5].QueueUC[3]; got != 2500 {
				t.Errorf("after the table rose: queue 3 = %d, want 2500", got)
			}
			// Unchanged table: the raw value of the latest flex interval.
			if r, _ = s.read(ctx); r.ports[5].QueueUC[3] != 1000 {
				t.Errorf("table unchanged: queue 3 = %d, want 1000", r.ports[5].QueueUC[3])
			}
			// Someone cleared the table (sonic-clear watermark): gwd sees it
			// fall and reports the larger of table and raw value.
			db.set("COUNTERS_DB", tab+":"+q3, wmQueue, "240000")
			db.set("COUNTERS_DB", "COUNTERS:"+q3, wmQueue, "120000")
			if r, _ = s.read(ctx); r.ports[5].QueueUC[3] != 200 {
				t.Errorf("after a clear: queue 3 = %d, want 200", r.ports[5].QueueUC[3])
			}
		})
	}
}

func TestSONiCMissingCRM(t *testing.T) {
	db := &fakeDB{data: loadRedisFixture(t)}
	delete(db.data["COUNTERS_DB"], "CRM:STATS")
	s := newTestSONiC(t, db, nil)
	r, err := s.read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "CRM:STATS is missing") {
		t.Fatalf("err = %v, want CRM:STATS missing", err)
	}
	// ACL slices still come from the ACL keys; everything CRM:STATS holds is unknown.
	want := unknownTables()
	want[ACLIngressSlices], want[ACLIngressSlicesMax], want[ACLEgressSlices], want[ACLEgressSlicesMax] = 3, 9, 1, 4
	if diff := cmp.Diff(want, *r.tables); diff != "" {
		t.Errorf("tables (-want +got):\n%s", diff)
	}
	if r.ports[5] == nil || r.device.UC != 3750 {
		t.Errorf("buffers should still be read: %+v %+v", r.device, r.ports)
	}
}

func TestSONiCRedisDown(t *testing.T) {
	db := &fakeDB{data: loadRedisFixture(t)}
	s := newTestSONiC(t, db, nil)
	ctx := context.Background()
	if _, err := s.read(ctx); err != nil {
		t.Fatal(err)
	}
	db.err = errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	r, err := s.read(ctx)
	if err == nil {
		t.Fatal("no error with redis down")
	}
	for _, b := range []bool{r.device != nil, len(r.ports) > 0} {
		if b {
			t.Errorf("buffers reported with redis down: %+v", r)
		}
	}
	if r.tables != nil {
		for i, v := range r.tables {
			if v != Unknown {
				t.Errorf("table field %s = %d with redis down", TableFieldName(i), v)
			}
		}
	}
	db.err = nil
	if r, err = s.read(ctx); err != nil || r.ports[5] == nil {
		t.Fatalf("after recovery: %v %+v", err, r)
	}
}

func TestSONiCNoDBConfig(t *testing.T) {
	s := newTestSONiC(t, &fakeDB{}, func(c *SONiCConfig) { c.DBConfig = t.TempDir() + "/none.json" })
	_, err := s.read(context.Background())
	if !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("err = %v, want ErrNotAvailable", err)
	}
}

func TestSONiCNoWatermarks(t *testing.T) {
	db := &fakeDB{data: loadRedisFixture(t)}
	for k := range db.data["COUNTERS_DB"] {
		if strings.Contains(k, "WATERMARKS:") {
			delete(db.data["COUNTERS_DB"], k)
		}
		if h := db.data["COUNTERS_DB"][k]; h != nil {
			delete(h, wmQueue)
			delete(h, wmPG)
			delete(h, wmPool)
		}
	}
	s := newTestSONiC(t, db, nil)
	r, err := s.read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "counterpoll watermark enable") {
		t.Fatalf("err = %v, want a hint about watermark polling", err)
	}
	if r.ports[5].EgressUC != Unknown || r.device.UC != Unknown {
		t.Errorf("made-up buffer figures: %+v %+v", r.device, r.ports[5])
	}
}

func TestSONiCMulticastPools(t *testing.T) {
	db := &fakeDB{data: loadRedisFixture(t)}
	s := newTestSONiC(t, db, func(c *SONiCConfig) { c.MulticastPools = []string{"egress_lossy_pool"} })
	r, err := s.read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := (DeviceBuffers{UC: 2500, MC: 3750}); *r.device != want {
		t.Errorf("device = %+v, want %+v", *r.device, want)
	}
}

func TestSONiCTopologyIsCached(t *testing.T) {
	db := &fakeDB{data: loadRedisFixture(t)}
	s := newTestSONiC(t, db, nil)
	now := time.Unix(1000, 0)
	s.now = func() time.Time { return now }
	ctx := context.Background()
	s.read(ctx)
	delete(db.data["COUNTERS_DB"], "COUNTERS_PORT_NAME_MAP")
	if _, err := s.read(ctx); err != nil {
		t.Fatalf("cached topology should be used: %v", err)
	}
	now = now.Add(sonicTopologyTTL)
	r, err := s.read(ctx)
	if err == nil || !strings.Contains(err.Error(), "COUNTERS_PORT_NAME_MAP is missing") {
		t.Fatalf("after the TTL the maps are read again: err = %v", err)
	}
	// Without ports, CRM and the pools are still read.
	if r.tables == nil || r.tables[IPv4Routes] != 1200 || r.device == nil || r.device.UC != 3750 || len(r.ports) != 0 {
		t.Errorf("partial reading: %+v %+v %+v", r.tables, r.device, r.ports)
	}
}

func TestPeakSince(t *testing.T) {
	for _, c := range []struct {
		name    string
		prev    uint64
		hadPrev bool
		tab     uint64
		tabOK   bool
		raw     uint64
		rawOK   bool
		want    uint64
		wantOK  bool
	}{
		{"nothing", 0, false, 0, false, 0, false, 0, false},
		{"first read uses raw", 0, false, 900, true, 100, true, 100, true},
		{"rise is exact", 500, true, 900, true, 100, true, 900, true},
		{"unchanged uses raw", 900, true, 900, true, 100, true, 100, true},
		{"cleared", 900, true, 50, true, 100, true, 100, true},
		{"cleared, table larger", 900, true, 300, true, 100, true, 300, true},
		{"no table", 0, false, 0, false, 70, true, 70, true},
		{"no raw", 900, true, 900, true, 0, false, 900, true},
	} {
		got, ok := peakSince(c.prev, c.hadPrev, c.tab, c.tabOK, c.raw, c.rawOK)
		if got != c.want || ok != c.wantOK {
			t.Errorf("%s: got %d %v, want %d %v", c.name, got, ok, c.want, c.wantOK)
		}
	}
}

func TestBufferConfigHelpers(t *testing.T) {
	for in, want := range map[string]string{
		"[BUFFER_PROFILE|egress_lossy_profile]":      "egress_lossy_profile",
		"[BUFFER_PROFILE_TABLE:pg_lossless_profile]": "pg_lossless_profile",
		"ingress_lossless_pool":                      "ingress_lossless_pool",
		" x ":                                        "x",
	} {
		if got := refName(in); got != want {
			t.Errorf("refName(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string][3]int{"3": {3, 3, 1}, "3-4": {3, 4, 1}, "0-7": {0, 7, 1}, "4-3": {}, "x": {}, "-1": {}, "1-": {}} {
		lo, hi, ok := parseRange(in)
		got := [3]int{lo, hi, 0}
		if ok {
			got[2] = 1
		}
		if got != want {
			t.Errorf("parseRange(%q) = %v, want %v", in, got, want)
		}
	}
	oidPort := map[string]string{"oid:p": "Ethernet0"}
	port, idx, ok := objectPlace("Ethernet8:5", "oid:q", nil, nil, oidPort)
	if port != "Ethernet8" || idx != 5 || !ok {
		t.Errorf("objectPlace from the name: %q %d %v", port, idx, ok)
	}
	port, idx, ok = objectPlace("odd", "oid:q", map[string]string{"oid:q": "oid:p"}, map[string]string{"oid:q": "2"}, oidPort)
	if port != "Ethernet0" || idx != 2 || !ok {
		t.Errorf("objectPlace from the maps: %q %d %v", port, idx, ok)
	}
}

func TestCRMTablesUnknownStage(t *testing.T) {
	stats := map[string]string{"crm_stats_ipv4_route_used": "1"}
	got := crmTables(stats, nil, []aclTableStats{
		{stage: "INGRESS", stats: map[string]string{"crm_stats_acl_entry_used": "1", "crm_stats_acl_entry_available": "1"}},
		{stage: "", stats: map[string]string{"crm_stats_acl_entry_used": "1", "crm_stats_acl_entry_available": "1"}},
	})
	if got[ACLIngressEntries] != Unknown || got[ACLEgressEntries] != Unknown {
		t.Errorf("an ACL table of unknown stage must make ACL entries unknown: %d %d", got[ACLIngressEntries], got[ACLEgressEntries])
	}
	got = crmTables(stats, nil, nil)
	if got[ACLIngressEntries] != 0 || got[ACLIngressEntriesMax] != Unknown {
		t.Errorf("no ACL table: entries = %d (want 0), max = %d (want unknown)", got[ACLIngressEntries], got[ACLIngressEntriesMax])
	}
	if got[IPv4EntriesMax] != Unknown || got[TotalRoutes] != Unknown {
		t.Errorf("a max without available, or a sum with a missing term, must be unknown: %d %d", got[IPv4EntriesMax], got[TotalRoutes])
	}
}

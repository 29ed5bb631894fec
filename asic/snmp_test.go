package asic

import (
	"bufio"
	"context"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// snmpFixtureEntry is one line of testdata/snmp/fixture.txt: OID, type
// (pass_persist's names: gauge, counter64, integer, string), value.
type snmpFixtureEntry struct {
	oid, typ, value string
}

func parseSNMPFixture(b []byte) []snmpFixtureEntry {
	var out []snmpFixtureEntry
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.SplitN(line, " ", 3)
		if len(f) == 3 {
			out = append(out, snmpFixtureEntry{f[0], f[1], f[2]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return oidLess(out[i].oid, out[j].oid) })
	return out
}

// oidLess orders OIDs numerically.
func oidLess(a, b string) bool {
	as, bs := strings.Split(strings.TrimPrefix(a, "."), "."), strings.Split(strings.TrimPrefix(b, "."), ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, _ := strconv.ParseUint(as[i], 10, 64)
		y, _ := strconv.ParseUint(bs[i], 10, 64)
		if x != y {
			return x < y
		}
	}
	return len(as) < len(bs)
}

// fakeSNMP is snmpClient over the fixture.
type fakeSNMP struct {
	entries []snmpFixtureEntry
	err     error
}

func newFakeSNMP(t testing.TB, path string) *fakeSNMP {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeSNMP{entries: parseSNMPFixture(b)}
}

func (e snmpFixtureEntry) snmp() snmpValue {
	if e.typ == "string" {
		return snmpValue{str: e.value}
	}
	n, _ := new(big.Int).SetString(e.value, 10)
	return snmpValue{num: n, isNum: true}
}

func (f *fakeSNMP) get(_ context.Context, oids []string) (map[string]snmpValue, error) {
	if f.err != nil {
		return nil, f.err
	}
	out := map[string]snmpValue{}
	for _, o := range oids {
		for _, e := range f.entries {
			if e.oid == o {
				out[o] = e.snmp()
			}
		}
	}
	return out, nil
}

func (f *fakeSNMP) walk(_ context.Context, root string) (map[string]snmpValue, error) {
	if f.err != nil {
		return nil, f.err
	}
	out := map[string]snmpValue{}
	for _, e := range f.entries {
		if s, ok := strings.CutPrefix(e.oid, root+"."); ok {
			out[s] = e.snmp()
		}
	}
	return out, nil
}

func (f *fakeSNMP) close() error { return nil }

// snmpFixtureWant is what maps/example.yaml gives on the fixture.
func snmpFixtureWant() reading {
	return reading{
		tables: tablesWith(map[int]int64{
			IPv4Entries: 1200, IPv4EntriesMax: 31200, IPv6Entries: 300, IPv6EntriesMax: 10000,
			IPv4Routes: 1200, IPv6Routes: 300, TotalRoutes: 1500, HostEntries: 48, HostEntriesMax: 8192,
			MACEntries: 500, MACEntriesMax: 32768, ECMPNexthops: 64, ECMPNexthopsMax: 16384,
			IPv4Neighbors: 40, IPv6Neighbors: 8,
			ACLIngressEntries: 15, ACLIngressEntriesMax: 768, ACLIngressCounters: 15, ACLIngressCountersMax: 768,
			ACLEgressEntries: 3, ACLEgressEntriesMax: 512,
		}),
		device: &DeviceBuffers{UC: 3750, MC: 1200},
		ports: map[uint32]*PortBuffers{
			5: {IngressUC: 1500, IngressMC: Unknown, EgressUC: 1000, EgressMC: 1000,
				QueueUC: []int32{100, 0, 200, 1000, 500, 500, 0, Unknown}, QueueMC: []int32{100, 0, 1000, 0}},
			6: {IngressUC: 300, IngressMC: Unknown, EgressUC: 2000, EgressMC: Unknown,
				QueueUC: []int32{10, 0, 0, 2000, 0, 0, 0, 0}},
		},
	}
}

var readingCmp = cmp.AllowUnexported(reading{})

func TestSNMPExampleMapOnFixture(t *testing.T) {
	m, err := LoadOIDMap("maps/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b := newSNMP(SNMPConfig{Target: "fake"}, m, ifIndexer{root: "testdata/sys"})
	b.client = newFakeSNMP(t, "testdata/snmp/fixture.txt")
	r, err := b.read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(snmpFixtureWant(), r, readingCmp); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSNMPIfIndexMap(t *testing.T) {
	m, err := LoadOIDMap("maps/example-tables-ifindex.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const E = ".1.3.6.1.4.1.32473.9"
	fixture := []byte(strings.Join([]string{
		E + ".1.1.0 gauge 1500", E + ".1.2.0 gauge 49152", E + ".1.3.0 gauge 48", E + ".1.4.0 gauge 8192",
		E + ".1.5.0 gauge 500", E + ".1.6.0 gauge 32768", E + ".1.7.0 gauge 64", E + ".1.8.0 gauge 16384",
		E + ".2.1.1.5 gauge 1234", E + ".2.1.2.5 gauge 99999", E + ".2.1.3.5 gauge 7",
		E + ".2.1.1.0 gauge 1", // row 0 is no ifIndex: ignored
	}, "\n"))
	b := newSNMP(SNMPConfig{Target: "fake"}, m, ifIndexer{root: "testdata/sys"})
	b.client = &fakeSNMP{entries: parseSNMPFixture(fixture)}
	r, err := b.read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := reading{
		tables: tablesWith(map[int]int64{TotalRoutes: 1500, TotalRoutesMax: 49152, HostEntries: 48, HostEntriesMax: 8192,
			MACEntries: 500, MACEntriesMax: 32768, ECMPNexthops: 64, ECMPNexthopsMax: 16384}),
		ports: map[uint32]*PortBuffers{5: {IngressUC: 1234, IngressMC: Unknown, EgressUC: 10000, EgressMC: 7}},
	}
	if diff := cmp.Diff(want, r, readingCmp); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSNMPMissingObjects(t *testing.T) {
	m, err := ParseOIDMap([]byte("tables:\n  ipv4_routes: .1.3.6.1.4.1.32473.7.1.1.0\n  mac_entries: .1.3.6.1.4.1.32473.7.1.99.0\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := newSNMP(SNMPConfig{Target: "fake"}, m, ifIndexer{root: "testdata/sys"})
	b.client = newFakeSNMP(t, "testdata/snmp/fixture.txt")
	r, err := b.read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no integer value for 1 mapped object(s) of the OID map: .1.3.6.1.4.1.32473.7.1.99.0") {
		t.Fatalf("err = %v", err)
	}
	if r.tables[IPv4Routes] != 1200 || r.tables[MACEntries] != Unknown {
		t.Errorf("tables: routes %d, mac %d (want 1200, unknown)", r.tables[IPv4Routes], r.tables[MACEntries])
	}
	b.client.(*fakeSNMP).err = errors.New("request timeout (after 1 retries): max retries exceeded")
	if _, err := b.read(context.Background()); err == nil || !strings.Contains(err.Error(), "snmp fake") {
		t.Errorf("err = %v", err)
	}
}

func TestParseOIDMapErrors(t *testing.T) {
	for in, want := range map[string]string{
		"":                              "empty OID map",
		"tables: {ipv4_routez: .1.3.6}": "unknown hw_tables field",
		"tables: {ipv4_routes: IF-MIB::ifName.1}":                     "not a numeric OID",
		"tables: {ipv4_routes: {oid: .1.3, of: .1.4}}":                "of is for percentages only",
		"tables: {ipv4_routes: {oid: .1.3, scale: -1}}":               "scale must be a positive number",
		"tables: {ipv4_routes: {oid: .1.3, weight: 2}}":               `unknown key "weight"`,
		"tables: {ipv4_routes: {add: [.1.3]}}":                        "oid missing",
		"tables: {ipv4_routes: [.1.3]}":                               "want an OID or a mapping",
		"device: {uc: .1.3}":                                          "unknown field",
		"device: {uc_pc: {oid: .1.3, of: .1.4, scale: 100}}":          "either of or scale",
		"ports: {index: row, fields: {ingress_uc_pc: .1.3}}":          "ports.index",
		"ports: {fields: {ingress_pc: .1.3}}":                         "unknown field",
		"ports: {queue_base: -1, fields: {ingress_uc_pc: .1.3}}":      "negative",
		"ports: {name_column: ifName, fields: {ingress_uc_pc: .1.3}}": "name_column",
		"ports: {}":  "no fields",
		"name: x":    "fills no field",
		"tablez: {}": "field tablez not found",
		"tables: {ipv4_routes: 1.3.6.1}\ntables: {}": "already defined",
	} {
		_, err := ParseOIDMap([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", in, err, want)
		}
	}
	m, err := ParseOIDMap([]byte("tables: {ipv4_routes: 1.3.6.1.4.1.1.0}"))
	if err != nil || m.Tables[IPv4Routes].OID != ".1.3.6.1.4.1.1.0" || m.Tables[IPv4Routes].Scale != 1 {
		t.Errorf("OID without a leading dot: %+v %v", m, err)
	}
}

func TestShippedMapsParse(t *testing.T) {
	files, _ := filepath.Glob("maps/*.yaml")
	if len(files) < 2 {
		t.Fatalf("example maps: %v", files)
	}
	for _, f := range files {
		if _, err := LoadOIDMap(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestValueSpecEval(t *testing.T) {
	vals := map[string]int64{".1": 30, ".2": 70, ".3": 400, ".4": 0, ".5": -5}
	get := func(o string) (*big.Int, bool) {
		v, ok := vals[o]
		return big.NewInt(v), ok
	}
	for _, c := range []struct {
		v      ValueSpec
		pct    bool
		want   float64
		wantOK bool
	}{
		{ValueSpec{OID: ".1", Scale: 1}, false, 30, true},
		{ValueSpec{OID: ".1", Add: []string{".2"}, Scale: 1}, false, 100, true},
		{ValueSpec{OID: ".1", Add: []string{".2"}, Of: ".3"}, true, 2500, true},
		{ValueSpec{OID: ".1", Of: ".4"}, true, 0, false},
		{ValueSpec{OID: ".3", Of: ".1"}, true, 10000, true},
		{ValueSpec{OID: ".2", Scale: 100}, true, 7000, true},
		{ValueSpec{OID: ".3", Scale: 100}, true, 10000, true},
		{ValueSpec{OID: ".5", Scale: 1}, false, 0, false},
		{ValueSpec{OID: ".9", Scale: 1}, false, 0, false},
	} {
		got, ok := c.v.eval(get, c.pct)
		if got != c.want || ok != c.wantOK {
			t.Errorf("%+v: %v %v, want %v %v", c.v, got, ok, c.want, c.wantOK)
		}
	}
}

package asic

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseSwitchdInt feeds the parser of Cumulus switchd counter files
// arbitrary bytes: it must never panic, and what it accepts must be the
// decimal number the file holds.
func FuzzParseSwitchdInt(f *testing.F) {
	for _, s := range []string{"0", "42\n", " 7\t\r\n", "", "-1", "1x", "99999999999999999999", "4611686018427387904"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseSwitchdInt(b)
		if err != nil {
			return
		}
		if v < 0 {
			t.Fatalf("%q: negative %d", b, v)
		}
		want, perr := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if perr != nil || want != v {
			t.Fatalf("%q: parsed %d, strconv says %d (%v)", b, v, want, perr)
		}
	})
}

// FuzzParseOIDMap feeds the OID map parser arbitrary YAML: it must never
// panic, and a map it accepts must only hold valid numeric OIDs and known
// fields.
func FuzzParseOIDMap(f *testing.F) {
	files, _ := filepath.Glob("maps/*.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("tables: {ipv4_routes: {oid: .1.3, add: [.1.4], scale: 2}}"))
	f.Add([]byte("ports: {index: ifindex, queue_base: 1, fields: {egress_queue_mc_pc: {oid: 1.3, of: 1.4}}}"))
	f.Add([]byte("device: {uc_pc: &a .1.3.6, mc_pc: *a}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseOIDMap(b)
		if err != nil {
			return
		}
		check := func(v ValueSpec) {
			for _, o := range v.oids() {
				if !strings.HasPrefix(o, ".") || !oidRE.MatchString(o) {
					t.Fatalf("accepted bad OID %q", o)
				}
			}
			if v.Scale <= 0 && v.Of == "" {
				t.Fatalf("accepted scale %v", v.Scale)
			}
		}
		for f, v := range m.Tables {
			if f < 0 || f >= NumTableFields {
				t.Fatalf("field %d", f)
			}
			check(v)
		}
		for _, v := range m.Device {
			check(v)
		}
		if m.Ports != nil {
			for _, v := range m.Ports.Fields {
				check(v)
			}
		}
	})
}

// FuzzSONiCText feeds the parsers of text that comes from a SONiC switch:
// database_config.json and the buffer-table strings read from redis
// (ranges "3-4", references "[BUFFER_PROFILE|name]", object names
// "Ethernet0:3"). None may panic; what they accept must be consistent.
func FuzzSONiCText(f *testing.F) {
	if b, err := os.ReadFile("testdata/sonic/database_config.json"); err == nil {
		f.Add(b, "3-4", "[BUFFER_PROFILE|egress_lossy_profile]", "Ethernet0:3")
	}
	f.Add([]byte(`{"INSTANCES":{},"DATABASES":{"X":{"id":1,"instance":"r"}}}`), "0", "x", ":")
	f.Fuzz(func(t *testing.T, cfg []byte, rng, ref, name string) {
		if c, err := parseSONiCDBConfig(cfg); err == nil {
			for n := range c.Databases {
				if c.separator(n) == "" {
					t.Fatalf("database %s without a separator", n)
				}
			}
		}
		if lo, hi, ok := parseRange(rng); ok && (lo < 0 || hi < lo) {
			t.Fatalf("parseRange(%q) = %d, %d", rng, lo, hi)
		}
		if r := refName(ref); !strings.Contains(ref, "[") && r != strings.TrimSpace(ref) {
			t.Fatalf("refName(%q) = %q changed a plain name", ref, r)
		}
		if port, idx, ok := objectPlace(name, "oid", nil, nil, nil); ok && (port == "" || idx < 0) {
			t.Fatalf("objectPlace(%q) = %q, %d", name, port, idx)
		}
	})
}

package asic

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gwd/agent"
	"gwd/internal/testutil"
	"gwd/internal/testutil/fakeagent"
	"gwd/sflow"
)

// fakeBackend returns whatever its next function says.
type fakeBackend struct {
	n    string
	mu   sync.Mutex
	next func() (reading, error)
}

func (f *fakeBackend) name() string { return f.n }
func (f *fakeBackend) close() error { return nil }
func (f *fakeBackend) read(context.Context) (reading, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.next()
}
func (f *fakeBackend) set(r reading, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next = func() (reading, error) { return r, err }
}

// newTestSource starts a Source over fake backends (named sonic, snmp,
// ... in that priority order) that read once at start; tests drive later
// reads with read.
func newTestSource(t *testing.T, bs ...*fakeBackend) (*Source, *fakeagent.Registrar) {
	t.Helper()
	var names []string
	for _, b := range bs {
		names = append(names, b.n)
	}
	s, err := New(Config{Backends: names, Interval: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.newBackend = func(name string) (backend, error) {
		for _, b := range bs {
			if b.n == name {
				return b, nil
			}
		}
		return nil, fmt.Errorf("no fake %s", name)
	}
	reg := fakeagent.New()
	runSource(t, s, reg)
	// wait for the first read of every backend
	testutil.Eventually(t, 5*time.Second, func() error {
		for _, b := range bs {
			if _, ok := reg.HealthText(SourceName + "/" + b.n); !ok {
				return fmt.Errorf("%s not read yet", b.n)
			}
		}
		return nil
	})
	return s, reg
}

// readNow makes the Source read backend b once more.
func (s *Source) readNow(b *fakeBackend) {
	for _, st := range s.st {
		if st.b == backend(b) {
			s.readOnce(context.Background(), st)
		}
	}
}

func tablesWith(m map[int]int64) *Tables {
	t := unknownTables()
	for f, v := range m {
		t[f] = v
	}
	return &t
}

func TestPeakSinceLastExport(t *testing.T) {
	p := newPeak()
	if got := p.take(); got != Unknown {
		t.Errorf("nothing read: %d", got)
	}
	for _, v := range []int32{300, 500, 200} {
		p.observe(v)
	}
	if got := p.take(); got != 500 {
		t.Errorf("peak = %d, want 500", got)
	}
	if got := p.take(); got != 200 {
		t.Errorf("no read since the export: %d, want the last value 200", got)
	}
	p.observe(100)
	p.observe(Unknown) // the backend failed after a good read
	if got := p.take(); got != 100 {
		t.Errorf("peak before a failure = %d, want 100", got)
	}
	if got := p.take(); got != Unknown {
		t.Errorf("after a failure with nothing since: %d, want unknown", got)
	}
}

func TestSourceRecordsAndPlacement(t *testing.T) {
	b := &fakeBackend{n: BackendSONiC}
	b.set(reading{
		tables: tablesWith(map[int]int64{IPv4Routes: 7, MACEntries: 3, MACEntriesMax: 10}),
		device: &DeviceBuffers{UC: 1234, MC: Unknown},
		ports:  map[uint32]*PortBuffers{5: {IngressUC: 100, IngressMC: Unknown, EgressUC: 200, EgressMC: Unknown, QueueUC: []int32{200, 0}}},
	}, nil)
	s, reg := newTestSource(t, b)
	if got := s.Backends(); len(got) != 1 || got[0] != BackendSONiC {
		t.Errorf("Backends() = %v", got)
	}
	if diff := cmp.Diff([]agent.DataSource{agent.HostSource, agent.InterfaceSource(5)}, reg.Sources()); diff != "" {
		t.Fatalf("data sources (-want +got):\n%s", diff)
	}
	recs := poll(t, reg, agent.HostSource)
	if len(recs) != 2 {
		t.Fatalf("host records: %d, want 4413:3 and 4413:1", len(recs))
	}
	ht := recs[0].(*sflow.HWTables)
	if ht.IPv4Routes != 7 || ht.MACEntriesMax != 10 || ht.HostEntries != 0xFFFFFFFF || ht.ACLEgressSlicesMax != 0xFFFFFFFF {
		t.Errorf("hw_tables: %+v", ht)
	}
	if d := recs[1].(*sflow.BSTDeviceBuffers); d.UCPct != 1234 || d.MCPct != -1 {
		t.Errorf("device: %+v", d)
	}
	pr := poll(t, reg, agent.InterfaceSource(5))
	want := &sflow.BSTPortBuffers{IngressUCPct: 100, IngressMCPct: -1, EgressUCPct: 200, EgressMCPct: -1, EgressQueueUCPct: []int32{200, 0}}
	if diff := cmp.Diff([]sflow.Record{want}, pr); diff != "" {
		t.Errorf("port (-want +got):\n%s", diff)
	}
	if h, _ := reg.HealthText("asic/sonic"); h != "" {
		t.Errorf("health = %q", h)
	}
}

func TestSourcePeaksAcrossReads(t *testing.T) {
	b := &fakeBackend{n: BackendSONiC}
	port := func(v int32) reading {
		return reading{device: &DeviceBuffers{UC: v, MC: v}, ports: map[uint32]*PortBuffers{5: {IngressUC: v, QueueUC: []int32{v}}}}
	}
	b.set(port(100), nil)
	s, reg := newTestSource(t, b)
	for _, v := range []int32{900, 300} {
		b.set(port(v), nil)
		s.readNow(b)
	}
	if got := poll(t, reg, agent.InterfaceSource(5))[0].(*sflow.BSTPortBuffers); got.IngressUCPct != 900 || got.EgressQueueUCPct[0] != 900 {
		t.Errorf("port peak: %+v", got)
	}
	// The host sample has its own period: its peak is still 900 too.
	if got := poll(t, reg, agent.HostSource)[0].(*sflow.BSTDeviceBuffers); got.UCPct != 900 {
		t.Errorf("device peak: %+v", got)
	}
	// A new period starts at each export.
	if got := poll(t, reg, agent.InterfaceSource(5))[0].(*sflow.BSTPortBuffers); got.IngressUCPct != 300 {
		t.Errorf("next period without reads: %+v, want the last value 300", got)
	}
}

func TestSourceBackendFailureIsItsOwn(t *testing.T) {
	a := &fakeBackend{n: BackendSONiC}
	c := &fakeBackend{n: BackendCumulus}
	a.set(reading{
		tables: tablesWith(map[int]int64{IPv4Routes: 7}),
		device: &DeviceBuffers{UC: 10, MC: 20},
		ports:  map[uint32]*PortBuffers{5: {IngressUC: 1, QueueUC: []int32{1, 2}}},
	}, nil)
	c.set(reading{tables: tablesWith(map[int]int64{IPv4Routes: 99, MACEntries: 5})}, nil)
	s, reg := newTestSource(t, a, c)

	// Priority: sonic (listed first) wins IPv4Routes; cumulus fills the rest.
	ht := poll(t, reg, agent.HostSource)[0].(*sflow.HWTables)
	if ht.IPv4Routes != 7 || ht.MACEntries != 5 {
		t.Errorf("merge: ipv4_routes %d (want 7), mac %d (want 5)", ht.IPv4Routes, ht.MACEntries)
	}
	poll(t, reg, agent.InterfaceSource(5))

	a.set(reading{}, errors.New("redis: connection refused"))
	s.readNow(a)
	s.readNow(a)
	if h, _ := reg.HealthText("asic/sonic"); !strings.Contains(h, "connection refused") {
		t.Errorf("sonic health = %q", h)
	}
	if h, _ := reg.HealthText("asic/cumulus"); h != "" {
		t.Errorf("cumulus health = %q: one backend's failure is its own", h)
	}
	if n := strings.Count(strings.Join(reg.HealthChanges(), "\n"), "asic/sonic: redis"); n != 1 {
		t.Errorf("health changes reported %d times, want once: %q", n, reg.HealthChanges())
	}
	recs := poll(t, reg, agent.HostSource)
	ht = recs[0].(*sflow.HWTables)
	if ht.IPv4Routes != 99 || ht.MACEntries != 5 {
		t.Errorf("with sonic down, cumulus's values: ipv4_routes %d (want 99), mac %d", ht.IPv4Routes, ht.MACEntries)
	}
	if d := recs[1].(*sflow.BSTDeviceBuffers); d.UCPct != -1 || d.MCPct != -1 {
		t.Errorf("device with its backend down: %+v, want unknown (never a made-up 0)", d)
	}
	p := poll(t, reg, agent.InterfaceSource(5))[0].(*sflow.BSTPortBuffers)
	want := &sflow.BSTPortBuffers{IngressUCPct: -1, IngressMCPct: -1, EgressUCPct: -1, EgressMCPct: -1, EgressQueueUCPct: []int32{-1, -1}}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("port with its backend down (-want +got):\n%s", diff)
	}

	// Recovery.
	a.set(reading{tables: tablesWith(map[int]int64{IPv4Routes: 8}), device: &DeviceBuffers{UC: 11, MC: 21},
		ports: map[uint32]*PortBuffers{5: {IngressUC: 2, QueueUC: []int32{3, 4}}}}, nil)
	s.readNow(a)
	if h, _ := reg.HealthText("asic/sonic"); h != "" {
		t.Errorf("after recovery: %q", h)
	}
	if ht = poll(t, reg, agent.HostSource)[0].(*sflow.HWTables); ht.IPv4Routes != 8 {
		t.Errorf("after recovery: %d", ht.IPv4Routes)
	}
}

func TestSourcePortsComeAndGo(t *testing.T) {
	b := &fakeBackend{n: BackendSONiC}
	b.set(reading{ports: map[uint32]*PortBuffers{5: {}, 6: {}}}, nil)
	s, reg := newTestSource(t, b)
	if diff := cmp.Diff([]agent.DataSource{agent.InterfaceSource(5), agent.InterfaceSource(6)}, reg.Sources()); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	b.set(reading{ports: map[uint32]*PortBuffers{6: {}, 7: {}}}, nil)
	s.readNow(b)
	if diff := cmp.Diff([]agent.DataSource{agent.InterfaceSource(6), agent.InterfaceSource(7)}, reg.Sources()); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	// A failed read keeps the ports (their figures turn unknown).
	b.set(reading{}, errors.New("down"))
	s.readNow(b)
	if n := len(reg.Sources()); n != 2 {
		t.Fatalf("ports after a failed read: %v", reg.Sources())
	}
}

func TestSourceStopUnregisters(t *testing.T) {
	b := &fakeBackend{n: BackendCumulus}
	b.set(reading{tables: tablesWith(nil), ports: map[uint32]*PortBuffers{3: {}}}, nil)
	s, _ := New(Config{Backends: []string{BackendCumulus}, Interval: time.Hour}, nil)
	s.newBackend = func(string) (backend, error) { return b, nil }
	reg := fakeagent.New()
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx, reg); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx, reg); err == nil {
		t.Error("a second Start must fail")
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if len(reg.Sources()) != 2 {
			return fmt.Errorf("sources %v", reg.Sources())
		}
		return nil
	})
	cancel()
	s.Wait()
	if got := reg.Sources(); len(got) != 0 {
		t.Errorf("after stop: %v", got)
	}
}

func TestNoBackendBeforeFirstReading(t *testing.T) {
	// A backend that never produced anything (devlink absent) adds no
	// record full of unknowns.
	b := &fakeBackend{n: BackendDevlink}
	b.set(reading{}, fmt.Errorf("devlink: %w", ErrNotAvailable))
	_, reg := newTestSource(t, b)
	if got := reg.Sources(); len(got) != 0 {
		t.Errorf("registered %v for a backend that is not available", got)
	}
	if h, _ := reg.HealthText("asic/devlink"); !strings.Contains(h, "not available") {
		t.Errorf("health = %q", h)
	}
}

func TestSelectBackends(t *testing.T) {
	s, err := New(Config{Backends: []string{"auto", "cumulus"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.detect = func(n string) (bool, string) { return n == BackendSONiC || n == BackendDevlink, "fake" }
	names, _ := s.selectBackends()
	if diff := cmp.Diff([]string{"sonic", "devlink", "cumulus"}, names); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	s.detect = func(string) (bool, string) { return false, "" }
	var logs bytes.Buffer
	s.log = slog.New(slog.NewTextHandler(&logs, nil))
	s.cfg.Backends = []string{"auto"}
	reg := fakeagent.New()
	if err := s.Start(context.Background(), reg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "no switch ASIC backend detected") {
		t.Errorf("log: %s", logs.String())
	}
}

func TestDetectOnFixtures(t *testing.T) {
	cfg := Config{CumulusDir: "testdata/cumulus/run", SONiC: SONiCConfig{DBConfig: "testdata/sonic/database_config.json"}}
	if err := cfg.normalize(); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{BackendSONiC: true, BackendCumulus: true, BackendSNMP: false, BackendDevlink: false} {
		if got, why := detect(name, &cfg); got != want {
			t.Errorf("detect(%s) = %v (%s), want %v (no devlink in these kernels)", name, got, why, want)
		}
	}
	cfg.CumulusDir = "testdata/none"
	if got, _ := detect(BackendCumulus, &cfg); got {
		t.Error("missing directory detected")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Backends: []string{"bcm"}}, "unknown backend"},
		{Config{Backends: []string{"sonic", "sonic"}}, "twice"},
		{Config{Interval: -time.Second}, "negative"},
		{Config{SONiC: SONiCConfig{Transport: "udp"}}, "transport"},
		{Config{SONiC: SONiCConfig{Watermarks: "periodic"}}, "watermarks"},
		{Config{Backends: []string{"snmp"}, SNMP: SNMPConfig{Map: "m"}}, "community is required"},
		{Config{Backends: []string{"snmp"}, SNMP: SNMPConfig{Version: "1", Map: "m"}}, "version"},
		{Config{Backends: []string{"snmp"}, SNMP: SNMPConfig{Version: "3", Map: "m"}}, "user is required"},
		{Config{Backends: []string{"snmp"}, SNMP: SNMPConfig{Version: "3", User: "u", PrivProtocol: "AES", PrivPassphrase: "12345678", Map: "m"}}, "needs snmp.auth_protocol"},
		{Config{Backends: []string{"snmp"}, SNMP: SNMPConfig{Version: "3", User: "u", AuthProtocol: "SHA", AuthPassphrase: "short", Map: "m"}}, "at least 8"},
		{Config{Backends: []string{"snmp"}, SNMP: SNMPConfig{Version: "3", User: "u", AuthProtocol: "SHA1", Map: "m"}}, "auth_protocol"},
		{Config{Backends: []string{"snmp"}, SNMP: SNMPConfig{Community: "c", Target: "h:0", Map: "m"}}, "bad port"},
		{Config{Backends: []string{"snmp"}, SNMP: SNMPConfig{Community: "c"}}, "OID map"},
		{Config{Backends: []string{"snmp"}, SNMP: SNMPConfig{Community: "c", Map: "testdata/none.yaml"}}, "no such file"},
		{Config{Devlink: DevlinkConfig{Map: map[string]map[string][]string{"x": {"IPv4": {"ipv4_routes"}}}}}, "must start with /"},
		{Config{Devlink: DevlinkConfig{Map: map[string]map[string][]string{"x": {"/a": {"ipv4_routez"}}}}}, "unknown hw_tables field"},
		{Config{Devlink: DevlinkConfig{Map: map[string]map[string][]string{"x": {"/a": {"ipv4_entries_max"}}}}}, "is a maximum"},
	} {
		_, err := New(c.cfg, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want %q", c.cfg, err, c.want)
		}
	}
}

func TestSNMPSecretsNeverShown(t *testing.T) {
	c := SNMPConfig{Target: "10.0.0.1:161", Version: "3", Community: "s3cr3t-community", User: "gwd",
		AuthProtocol: "SHA", AuthPassphrase: "auth-s3cr3t", PrivProtocol: "AES", PrivPassphrase: "priv-s3cr3t", Map: "m.yaml"}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "snmp", c, "cfg", Config{SNMP: c})
	out := logs.String() + fmt.Sprintf("%v %+v %s", c, Config{SNMP: c}, c)
	for _, secret := range []string{"s3cr3t-community", "auth-s3cr3t", "priv-s3cr3t"} {
		if strings.Contains(out, secret) {
			t.Errorf("secret %q shown in %s", secret, out)
		}
	}
	b := &snmpBackend{cfg: c}
	for _, err := range []error{errors.New("request timeout (after 1 retries): max retries exceeded"), errWrap("x")} {
		if msg := b.wrap(err).Error(); strings.Contains(msg, "s3cr3t") {
			t.Errorf("secret in error %q", msg)
		}
	}
}

func errWrap(s string) error { return fmt.Errorf("%s", s) }

func TestTablesRecordUnknownIsAllOnes(t *testing.T) {
	tb := unknownTables()
	tb[IPv4Routes] = 0
	tb[IPv6Routes] = 1 << 40
	r := tb.record()
	if r.IPv4Routes != 0 || r.IPv6Routes != 0xFFFFFFFE || r.HostEntries != 0xFFFFFFFF {
		t.Errorf("record: %+v", r)
	}
	for f := 0; f < NumTableFields; f++ {
		mf := maxField(f)
		name := TableFieldName(f)
		switch {
		case strings.HasSuffix(name, "_max") || f >= IPv4Neighbors && f <= IPv6Routes:
			if mf != -1 {
				t.Errorf("maxField(%s) = %d", name, mf)
			}
		default:
			if TableFieldName(mf) != name+"_max" {
				t.Errorf("maxField(%s) = %s", name, TableFieldName(mf))
			}
		}
	}
	if pct(5, 0) != Unknown || pct(3, 2) != 10000 || pct(1, 3) != 3333 {
		t.Errorf("pct: %d %d %d", pct(5, 0), pct(3, 2), pct(1, 3))
	}
}

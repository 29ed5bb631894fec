package kvm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gwd/agent"
	"gwd/internal/testutil"
	"gwd/sflow"
)

// fakeHV is a hypervisor with domains set by the test.
type fakeHV struct {
	mu      sync.Mutex
	domains []domainRef
	xml     map[[16]byte]string
	info    map[[16]byte]domainInfo
	listErr error
	gone    chan struct{}
}

func newFakeHV() *fakeHV {
	return &fakeHV{xml: map[[16]byte]string{}, info: map[[16]byte]domainInfo{}, gone: make(chan struct{})}
}

func (f *fakeHV) add(name, uuid, xml string, info domainInfo) domainRef {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, _ := parseUUID(uuid)
	d := domainRef{Name: name, UUID: u, ID: int32(len(f.domains) + 1)}
	f.domains = append(f.domains, d)
	f.xml[u], f.info[u] = xml, info
	return d
}

func (f *fakeHV) remove(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, d := range f.domains {
		if d.Name == name {
			f.domains = append(f.domains[:i], f.domains[i+1:]...)
			return
		}
	}
}

func (f *fakeHV) Domains() ([]domainRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]domainRef(nil), f.domains...), f.listErr
}

func (f *fakeHV) XML(d domainRef) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.xml[d.UUID], nil
}

func (f *fakeHV) Info(d domainRef) (domainInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, ok := f.info[d.UUID]
	if !ok {
		return i, errors.New("no domain")
	}
	return i, nil
}

func (f *fakeHV) BlockStats(d domainRef, dev string) (blockStats, error) {
	if dev == "vdb" {
		return blockStats{RdReq: -1, RdBytes: 1000, WrReq: 2, WrBytes: 3000, Errs: -1}, nil
	}
	return blockStats{RdReq: 10, RdBytes: 100, WrReq: 20, WrBytes: 200, Errs: 1}, nil
}

func (f *fakeHV) BlockInfo(d domainRef, dev string) (blockInfo, error) {
	if dev == "vdb" {
		return blockInfo{}, errors.New("unsupported")
	}
	return blockInfo{Capacity: 1 << 30, Allocation: 1 << 20, Physical: 1 << 30}, nil
}

func (f *fakeHV) InterfaceStats(d domainRef, dev string) (ifStats, error) {
	return ifStats{RxBytes: 1000, RxPackets: 10, RxErrs: -1, RxDrop: 1, TxBytes: 2000, TxPackets: 20, TxErrs: 0, TxDrop: -1}, nil
}

func (f *fakeHV) Node() (nodeInfo, error) {
	return nodeInfo{MHz: 2400, CPUs: 32, MemoryKiB: 64 << 20, FreeBytes: 10 << 30}, nil
}

func (f *fakeHV) Disconnected() <-chan struct{} { return f.gone }
func (f *fakeHV) Close() error                  { return nil }

const dbUUID = "0f3b8e2a-5c71-4d9e-a2b4-9c8d7e6f5a41"

func dbXML(t *testing.T) string {
	t.Helper()
	b, err := readTestdata("ahv-domain.xml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// newTestSource is a source on a fake hypervisor and a real agent (not
// running: the test polls by hand).
func newTestSource(t *testing.T, hv *fakeHV, rows []ovsPort) (*Source, *agent.Agent) {
	t.Helper()
	a, err := agent.New(agent.Config{Polling: time.Second}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ifs := map[string]uint32{"tap3": 30, "vnet9": 31, "vnet0": 40}
	s := New(Config{
		Forget: 10 * time.Second, OVSDB: "unix:/fake",
		dial:     func() (hypervisor, error) { return hv, nil },
		ovsPorts: func(context.Context, string) ([]ovsPort, error) { return rows, nil },
		ifIndex:  func(n string) (uint32, bool) { i, ok := ifs[n]; return i, ok },
	}, nil)
	s.reg, s.hv = a, hv
	return s, a
}

func pollVM(t *testing.T, s *Source, uuid string) map[sflow.Tag]sflow.Record {
	t.Helper()
	v := s.vms[mustUUID(t, uuid)]
	if v == nil {
		t.Fatalf("VM %s not followed", uuid)
	}
	recs, err := (&vmPoller{s: s, v: v}).Poll(nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[sflow.Tag]sflow.Record{}
	for _, r := range recs {
		if out[r.Tag()] != nil {
			t.Errorf("record %v twice", r.Tag())
		}
		out[r.Tag()] = r
	}
	return out
}

// TestSourceLifecycle follows a domain from discovery to its grace period
// and its end, with the records of its sample at each step.
func TestSourceLifecycle(t *testing.T) {
	hv := newFakeHV()
	hv.add("db-primary", dbUUID, dbXML(t), domainInfo{State: 1, MaxMemKiB: 8 << 20, MemoryKiB: 4 << 20, NrVirtCPU: 4, CPUTimeNs: 5_000_000_123})
	s, a := newTestSource(t, hv, nil)
	ctx := context.Background()
	t0 := time.Unix(1000, 0)
	if err := s.refresh(ctx, t0); err != nil {
		t.Fatal(err)
	}
	ds := agent.DataSource{Type: 3, Index: agent.EntityHash(dbUUID)}
	if got := a.DataSources()[ds]; len(got) != 1 || got[0] != SourceName {
		t.Fatalf("data sources %v, want %v from %s", a.DataSources(), ds, SourceName)
	}
	if o, ok := a.DeviceOwner("0000:3b:00.0"); !ok || o != ds {
		t.Errorf("GPU owner %v %v, want %v", o, ok, ds)
	}
	// Before the first statistics: identity only.
	if recs := pollVM(t, s, dbUUID); len(recs) != 2 || recs[sflow.TagHostDescr] == nil || recs[sflow.TagHostParent] == nil {
		t.Errorf("records before statistics %v", recs)
	}
	s.sample(t0)
	recs := pollVM(t, s, dbUUID)
	want := map[sflow.Tag]sflow.Record{
		sflow.TagHostDescr: &sflow.HostDescr{Hostname: []byte("db-primary"), UUID: mustUUID(t, dbUUID),
			MachineType: machineX86_64, OSName: osLinux, OSRelease: []byte("22.04")},
		sflow.TagHostParent: &sflow.HostParent{ContainerType: 2, ContainerIndex: 1},
		sflow.TagVirtCPU:    &sflow.VirtCPU{State: 1, CPUTime: 5000, NrVirtCPU: 4},
		sflow.TagVirtMemory: &sflow.VirtMemory{Memory: 4 << 30, MaxMemory: 8 << 30},
		// sda: info and stats; vdb: stats with unknowns (-1), no info.
		sflow.TagVirtDiskIO: &sflow.VirtDiskIO{Capacity: 1 << 30, Allocation: 1 << 20, Physical: 1<<30 - 1<<20,
			RdReq: 10, RdBytes: 1100, WrReq: 22, WrBytes: 3200, Errs: 1},
		// two interfaces with a device (tap3, vnet9)
		sflow.TagVirtNetIO: &sflow.VirtNetIO{RxBytes: 2000, RxPackets: 20, RxErrs: 0, RxDrop: 2, TxBytes: 4000, TxPackets: 40},
	}
	if diff := cmp.Diff(want, recs); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	node, _ := s.pollNode(nil)
	if diff := cmp.Diff([]sflow.Record{&sflow.VirtNode{MHz: 2400, CPUs: 32, Memory: 64 << 30, MemoryFree: 10 << 30, NumDomains: 1}}, node); diff != "" {
		t.Errorf("virt_node (-want +got):\n%s", diff)
	}

	// Stopped: shut off with its last counters, devices back to the host.
	hv.remove("db-primary")
	if err := s.refresh(ctx, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	recs = pollVM(t, s, dbUUID)
	if cpu := recs[sflow.TagVirtCPU].(*sflow.VirtCPU); cpu.State != stateShutoff || cpu.CPUTime != 5000 {
		t.Errorf("virt_cpu of a stopped VM %+v", cpu)
	}
	if _, ok := a.DeviceOwner("0000:3b:00.0"); ok {
		t.Errorf("GPU still owned by a stopped VM")
	}
	s.sample(t0.Add(2 * time.Second)) // not sampled while stopped
	if cpu := pollVM(t, s, dbUUID)[sflow.TagVirtCPU].(*sflow.VirtCPU); cpu.State != stateShutoff {
		t.Errorf("stopped VM sampled: %+v", cpu)
	}

	// Back within the grace period: same data source, owner again.
	hv.add("db-primary", dbUUID, dbXML(t), domainInfo{State: 1, CPUTimeNs: 6_000_000_000})
	if err := s.refresh(ctx, t0.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	if o, _ := a.DeviceOwner("0000:3b:00.0"); o != ds || s.vms[mustUUID(t, dbUUID)].ds != ds {
		t.Errorf("VM back: owner %v, want %v", o, ds)
	}

	// Gone for longer than the grace period: forgotten.
	hv.remove("db-primary")
	s.refresh(ctx, t0.Add(4*time.Second))
	s.refresh(ctx, t0.Add(13*time.Second))
	if len(s.vms) != 1 {
		t.Fatalf("forgotten before the grace period: %d VMs", len(s.vms))
	}
	s.refresh(ctx, t0.Add(14*time.Second))
	if len(s.vms) != 0 || s.Count() != 0 {
		t.Fatalf("%d VMs after the grace period", len(s.vms))
	}
	if got := a.DataSources()[ds]; len(got) != 0 {
		t.Errorf("%v still has contributors %v", ds, got)
	}
}

// TestSourcePortsAndEnricher: ports from the domain XML (tap devices) and
// from OVS external_ids (vm-uuid in any case and without dashes, vm-id,
// iface-id, attached-mac) map to the VM; flow samples through them gain
// 2210.
func TestSourcePortsAndEnricher(t *testing.T) {
	hv := newFakeHV()
	hv.add("db-primary", dbUUID, dbXML(t), domainInfo{State: 1})
	other := "11111111-2222-3333-4444-555555555555"
	hv.add("web", other, `<domain><name>web</name><uuid>`+other+`</uuid><devices>
<interface><mac address='52:54:00:aa:00:01'/><target dev='vnet0'/></interface></devices></domain>`, domainInfo{State: 1})
	rows := []ovsPort{
		{Name: "tap-a", IfIndex: 50, ExternalIDs: map[string]string{"vm-uuid": strings.ToUpper(strings.ReplaceAll(dbUUID, "-", ""))}},
		{Name: "tap-b", IfIndex: 51, ExternalIDs: map[string]string{"vm-id": other}},
		{Name: "tap-c", IfIndex: 52, ExternalIDs: map[string]string{"iface-id": "7C1E2D3F-4A5B-6C7D-8E9F-0A1B2C3D4E5F"}},
		{Name: "tap-d", IfIndex: 53, ExternalIDs: map[string]string{"attached-mac": "52:54:00:AA:00:01"}},
		{Name: "tap-e", IfIndex: 54, ExternalIDs: map[string]string{"vm-uuid": "99999999-2222-3333-4444-555555555555"}},
		{Name: "tap-f", IfIndex: 0, ExternalIDs: map[string]string{"vm-uuid": dbUUID}},
	}
	s, _ := newTestSource(t, hv, rows)
	if err := s.refresh(context.Background(), time.Unix(1000, 0)); err != nil {
		t.Fatal(err)
	}
	db, web := agent.EntityHash(dbUUID), agent.EntityHash(other)
	want := portMap{30: db, 31: db, 40: web, 50: db, 51: web, 52: db, 53: web}
	if diff := cmp.Diff(want, *s.ports.Load()); diff != "" {
		t.Errorf("port map (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		name    string
		in, out sflow.Interface
		recs    []sflow.Record
		want    *sflow.ExtendedEntities // nil: no 2210
	}{
		{"vm to vm", sflow.Interface{Value: 30}, sflow.Interface{Value: 53}, nil,
			&sflow.ExtendedEntities{SrcDSClass: 3, SrcDSIndex: db, DstDSClass: 3, DstDSIndex: web}},
		{"vm to uplink", sflow.Interface{Value: 40}, sflow.Interface{Value: 7}, nil,
			&sflow.ExtendedEntities{SrcDSClass: 3, SrcDSIndex: web}},
		{"uplink to vm", sflow.Interface{Value: 7}, sflow.Interface{Value: 51}, nil,
			&sflow.ExtendedEntities{DstDSClass: 3, DstDSIndex: web}},
		{"no vm", sflow.Interface{Value: 7}, sflow.Interface{Value: 54}, nil, nil},
		{"multiple outputs", sflow.Interface{Value: 7}, sflow.Interface{Format: 2, Value: 30}, nil, nil},
		{"another module's 2210", sflow.Interface{Value: 30}, sflow.Interface{Value: 7},
			[]sflow.Record{&sflow.ExtendedEntities{DstDSClass: 3, DstDSIndex: 123456}},
			&sflow.ExtendedEntities{SrcDSClass: 3, SrcDSIndex: db, DstDSClass: 3, DstDSIndex: 123456}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			smp := &sflow.Sample{Tag: sflow.SampleFlow, Input: tc.in, Output: tc.out,
				Records: append([]sflow.Record{&sflow.SampledHeader{Protocol: 1}}, tc.recs...)}
			s.EnrichFlow(agent.BridgeSource(0), smp)
			var got []*sflow.ExtendedEntities
			for _, r := range smp.Records {
				if e, ok := r.(*sflow.ExtendedEntities); ok {
					got = append(got, e)
				}
			}
			switch {
			case tc.want == nil && len(got) != 0:
				t.Errorf("2210 %+v on a sample through no VM port", got[0])
			case tc.want != nil && (len(got) != 1 || *got[0] != *tc.want):
				t.Errorf("2210 %+v, want one %+v", got, tc.want)
			}
		})
	}
}

// TestSourceUnreachable: a libvirt that refuses gives one health entry
// naming libvirt and the cause; the source connects when it can.
func TestSourceUnreachable(t *testing.T) {
	a, err := agent.New(agent.Config{Polling: time.Second}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	hv := newFakeHV()
	hv.add("db-primary", dbUUID, dbXML(t), domainInfo{State: 1})
	var mu sync.Mutex
	refuse := true
	log, _ := testutil.Logger(-4)
	s := New(Config{Sample: time.Second, dial: func() (hypervisor, error) {
		mu.Lock()
		defer mu.Unlock()
		if refuse {
			return nil, errors.New("dial unix /var/run/libvirt/libvirt-sock-ro: connect: permission denied")
		}
		return hv, nil
	}, ovsPorts: func(context.Context, string) ([]ovsPort, error) { return nil, nil }}, log)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); <-s.Done() }()
	s.Start(ctx, a)
	testutil.Eventually(t, 5*time.Second, func() error {
		if h := a.Health()[SourceName]; !strings.Contains(h, "libvirt unreachable (retrying)") || !strings.Contains(h, "permission denied") {
			return fmt.Errorf("health %q", h)
		}
		return nil
	})
	mu.Lock()
	refuse = false
	mu.Unlock()
	testutil.Eventually(t, 5*time.Second, func() error {
		if !s.Connected() || s.Count() != 1 || a.Health()[SourceName] != "" {
			return fmt.Errorf("connected %v, %d VMs, health %q", s.Connected(), s.Count(), a.Health()[SourceName])
		}
		return nil
	})
	// Connection lost: health says so, the VM starts its grace period.
	close(hv.gone)
	testutil.Eventually(t, 5*time.Second, func() error {
		if h := a.Health()[SourceName]; !strings.Contains(h, "libvirt connection lost") {
			return fmt.Errorf("health %q", h)
		}
		return nil
	})
}

func BenchmarkEnrichFlow(b *testing.B) {
	hv := newFakeHV()
	for i := range 200 {
		u := fmt.Sprintf("%08x-0000-4000-8000-000000000000", i)
		hv.add(fmt.Sprintf("vm%d", i), u, `<domain><uuid>`+u+`</uuid><devices><interface><mac address='52:54:00:00:00:01'/><target dev='vnet0'/></interface></devices></domain>`, domainInfo{})
	}
	a, _ := agent.New(agent.Config{Polling: time.Second}, nil, nil)
	s := New(Config{dial: func() (hypervisor, error) { return hv, nil }}, nil)
	s.reg, s.hv = a, hv
	s.refresh(context.Background(), time.Unix(1000, 0))
	m := portMap{}
	for i := range uint32(400) {
		m[1000+i] = agent.EntityBase + i
	}
	s.ports.Store(&m)
	b.Run("tagged", func(b *testing.B) {
		b.ReportAllocs()
		recs := make([]sflow.Record, 1, 4)
		recs[0] = &sflow.SampledHeader{}
		for i := 0; b.Loop(); i++ {
			smp := sflow.Sample{Tag: sflow.SampleFlow, Input: sflow.Interface{Value: 1000 + uint32(i%400)}, Output: sflow.Interface{Value: 3}, Records: recs[:1]}
			s.EnrichFlow(agent.BridgeSource(0), &smp)
		}
	})
	b.Run("untagged", func(b *testing.B) {
		b.ReportAllocs()
		recs := make([]sflow.Record, 1, 4)
		recs[0] = &sflow.SampledHeader{}
		for b.Loop() {
			smp := sflow.Sample{Tag: sflow.SampleFlow, Input: sflow.Interface{Value: 2}, Output: sflow.Interface{Value: 3}, Records: recs[:1]}
			s.EnrichFlow(agent.BridgeSource(0), &smp)
		}
	})
}

package kvm

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gwd/agent"
	"gwd/internal/testbed"
	"gwd/internal/testutil"
	"gwd/internal/testutil/sflowtest"
	"gwd/sflow"
)

// testDomainUUID is the UUID of the running domain "test" that libvirt's
// test driver always has (test:///default).
const testDomainUUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"

// web1XML is a domain the tests define and start: a disk, an interface
// and a passed-through PCI device (a GPU at 0000:3b:00.0).
const web1XML = `<domain type='test'>
  <name>web1</name>
  <uuid>2f0a4c7e-1b8e-4d5a-9c3f-7e6d5c4b3a21</uuid>
  <memory unit='KiB'>1048576</memory>
  <vcpu>2</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><source file='/var/lib/x.img'/><target dev='vda' bus='virtio'/></disk>
    <interface type='ethernet'><mac address='52:54:00:12:34:56'/><target dev='vnet7'/></interface>
    <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x3b' slot='0x00' function='0x0'/></source></hostdev>
  </devices>
</domain>
`

const web1UUID = "2f0a4c7e-1b8e-4d5a-9c3f-7e6d5c4b3a21"

// counterSample is what the test keeps of one decoded counter sample.
type counterSample struct {
	ds   agent.DataSource
	recs map[sflow.Tag]sflow.Record
}

// watch decodes what c receives until done returns true or 20 s passed.
func watch(t *testing.T, c *testutil.Collector, what string, done func(s counterSample) bool) {
	t.Helper()
	seen := sflowtest.Each(t, c, 20*time.Second, func(dg *sflow.Datagram) bool {
		for _, s := range dg.Samples {
			if s.Tag != sflow.SampleCounters && s.Tag != sflow.SampleCountersExpanded {
				continue
			}
			cs := counterSample{ds: agent.DataSource{Type: s.SourceIDType, Index: s.SourceIDIndex}, recs: map[sflow.Tag]sflow.Record{}}
			for _, r := range s.Records {
				cs.recs[r.Tag()] = r
			}
			if done(cs) {
				return false
			}
		}
		return true
	})
	if !seen {
		t.Fatalf("%s: not seen within 20 s", what)
	}
}

// run starts an agent polling every second towards c and the VM source on
// l, and returns a stop function that waits for both.
func runSource(t *testing.T, l *testbed.Libvirtd, c *testutil.Collector) (*agent.Agent, *Source, func()) {
	t.Helper()
	log, logs := testutil.Logger(slog.LevelInfo)
	a, err := agent.New(agent.Config{
		Polling:    time.Second,
		Address:    agent.AddressConfig{IP: netip.MustParseAddr("192.0.2.7")},
		Collectors: []agent.CollectorConfig{{Addr: c.Addr}},
	}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	src := New(Config{Socket: l.Socket, URI: "test:///default", Refresh: time.Second, Forget: 2 * time.Second, Sample: time.Second}, log)
	ctx, cancel := context.WithCancel(context.Background())
	agentDone := make(chan struct{})
	go func() { defer close(agentDone); a.Run(ctx) }()
	src.Start(ctx, a)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	})
	return a, src, func() {
		cancel()
		<-src.Done()
		<-agentDone
	}
}

// TestIntegrationLibvirtDomains runs the source against a real libvirtd
// (test driver) inside a real agent: the running domain is exported with
// every record, a domain defined and started later appears (with its
// passed-through GPU owned by it), a destroyed one says "shut off" and is
// dropped after the grace period, and data-source indexes survive a
// restart of agent and source.
func TestIntegrationLibvirtDomains(t *testing.T) {
	testbed.Integration(t)
	l := testbed.StartLibvirtd(t)
	c := testutil.NewCollector(t)
	a, src, stop := runSource(t, l, c)

	var testDS agent.DataSource
	var sawNode bool
	watch(t, c, "the test domain's sample with 2000, 2002, 2101-2104, and 2100 on 2:1", func(s counterSample) bool {
		if s.ds == agent.HostSource {
			if n, ok := s.recs[sflow.TagVirtNode].(*sflow.VirtNode); ok && n.NumDomains == 1 && n.CPUs > 0 && n.Memory > 0 {
				sawNode = true
			}
			return false
		}
		d, ok := s.recs[sflow.TagHostDescr].(*sflow.HostDescr)
		if s.ds.Type != 3 || !ok || formatUUID(d.UUID) != testDomainUUID {
			return false
		}
		if string(d.Hostname) != "test" {
			t.Errorf("host_descr hostname %q, want the domain name test", d.Hostname)
		}
		if p, ok := s.recs[sflow.TagHostParent].(*sflow.HostParent); !ok || p.ContainerType != 2 || p.ContainerIndex != 1 {
			t.Errorf("host_parent %+v, want 2:1", s.recs[sflow.TagHostParent])
		}
		for _, tag := range []sflow.Tag{sflow.TagVirtCPU, sflow.TagVirtMemory, sflow.TagVirtDiskIO, sflow.TagVirtNetIO} {
			if s.recs[tag] == nil {
				return false // the first poll may come before the first statistics
			}
		}
		if cpu := s.recs[sflow.TagVirtCPU].(*sflow.VirtCPU); cpu.State != 1 || cpu.NrVirtCPU == 0 {
			t.Errorf("virt_cpu %+v, want running with vCPUs", cpu)
		}
		if m := s.recs[sflow.TagVirtMemory].(*sflow.VirtMemory); m.Memory == 0 || m.MaxMemory < m.Memory {
			t.Errorf("virt_memory %+v", m)
		}
		if d := s.recs[sflow.TagVirtDiskIO].(*sflow.VirtDiskIO); d.RdBytes == 0 || d.Capacity == 0 {
			t.Errorf("virt_disk_io %+v: the test driver's disk vda has statistics", d)
		}
		if n := s.recs[sflow.TagVirtNetIO].(*sflow.VirtNetIO); n.RxBytes == 0 {
			t.Errorf("virt_net_io %+v: the test driver's interface has statistics", n)
		}
		testDS = s.ds
		return sawNode
	})
	if testDS.Index < agent.EntityBase || testDS.Index >= agent.EntityBase+agent.EntitySpan {
		t.Fatalf("test domain on %v, outside the virtual-entity range", testDS)
	}

	// A new domain, defined and started while the source is connected
	// (the test driver's state lives as long as a connection holds it).
	xml := filepath.Join(t.TempDir(), "web1.xml")
	if err := os.WriteFile(xml, []byte(web1XML), 0o644); err != nil {
		t.Fatal(err)
	}
	l.Virsh(t, "define "+xml+"; start web1")
	var webDS agent.DataSource
	watch(t, c, "web1's sample", func(s counterSample) bool {
		d, ok := s.recs[sflow.TagHostDescr].(*sflow.HostDescr)
		if !ok || formatUUID(d.UUID) != web1UUID || s.recs[sflow.TagVirtCPU] == nil {
			return false
		}
		if string(d.Hostname) != "web1" || d.MachineType != machineX86_64 {
			t.Errorf("web1 host_descr %+v", d)
		}
		webDS = s.ds
		return true
	})
	if webDS == testDS || webDS.Type != 3 {
		t.Fatalf("web1 on %v, test on %v", webDS, testDS)
	}
	if owner, ok := a.DeviceOwner("0000:3b:00.0"); !ok || owner != webDS {
		t.Errorf("owner of 0000:3b:00.0 = %v %v, want web1's %v", owner, ok, webDS)
	}

	// Destroyed: "shut off" during the grace period, then gone.
	l.Virsh(t, "destroy web1")
	watch(t, c, "web1 shut off", func(s counterSample) bool {
		cpu, ok := s.recs[sflow.TagVirtCPU].(*sflow.VirtCPU)
		return s.ds == webDS && ok && cpu.State == stateShutoff
	})
	testutil.Eventually(t, 5*time.Second, func() error {
		if _, ok := a.DeviceOwner("0000:3b:00.0"); ok {
			return fmt.Errorf("0000:3b:00.0 still owned by a stopped VM")
		}
		return nil
	})
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := src.Count(); n != 1 {
			return fmt.Errorf("%d domains followed, want 1 after web1's grace period", n)
		}
		return nil
	})
	// Two seconds of samples (two polls of the test domain) without web1.
	var testSeen int
	watch(t, c, "two samples of the test domain without web1", func(s counterSample) bool {
		if s.ds == webDS {
			if cpu, ok := s.recs[sflow.TagVirtCPU].(*sflow.VirtCPU); !ok || cpu.State != stateShutoff {
				t.Errorf("web1 sampled after it was forgotten: %v", s.recs)
			}
		}
		if s.ds == testDS {
			testSeen++
		}
		return testSeen >= 3
	})

	// Restart agent and source: the test domain keeps its index.
	stop()
	_, _, stop2 := runSource(t, l, c)
	defer stop2()
	watch(t, c, "the test domain after a restart", func(s counterSample) bool {
		d, ok := s.recs[sflow.TagHostDescr].(*sflow.HostDescr)
		if !ok || formatUUID(d.UUID) != testDomainUUID {
			return false
		}
		if s.ds != testDS {
			t.Errorf("after a restart the test domain is %v, was %v", s.ds, testDS)
		}
		return true
	})
}

// TestIntegrationLibvirtUnreachable: a socket nobody answers on gives one
// health entry naming libvirt; the host's other sources are untouched.
func TestIntegrationLibvirtUnreachable(t *testing.T) {
	testbed.Integration(t)
	a, err := agent.New(agent.Config{Polling: time.Second}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	src := New(Config{Socket: filepath.Join(t.TempDir(), "nobody"), URI: "test:///default", Sample: time.Second}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	src.Start(ctx, a)
	testutil.Eventually(t, 5*time.Second, func() error {
		if h := a.Health()[SourceName]; h == "" {
			return fmt.Errorf("no health entry yet")
		}
		return nil
	})
	if h := a.Health()[SourceName]; !strings.HasPrefix(h, "libvirt unreachable (retrying): libvirt test:///default at ") || !strings.Contains(h, "no such file") {
		t.Errorf("health %q, want libvirt unreachable with the cause", h)
	}
	cancel()
	<-src.Done()
}

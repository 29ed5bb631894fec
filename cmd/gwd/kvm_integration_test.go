package main

import (
	"fmt"
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

// TestIntegrationKVMPortEntities runs gwd with the ovs and kvm modules
// against a real OVS (userspace datapath, two ports into namespaces) and a
// real libvirtd (test driver): OVS port gwka carries the test domain's
// UUID in external_ids:vm-uuid (as Nutanix AHV sets it), gwkb the MAC of
// domain web1 in external_ids:attached-mac (as OpenStack sets it). The
// flow samples OVS takes of pings between the namespaces, relayed by gwd,
// must carry extended_entities naming the two VMs' data sources.
func TestIntegrationKVMPortEntities(t *testing.T) {
	testbed.Integration(t)
	bin := gwdBinary(t)
	l := testbed.StartLibvirtd(t)
	o := testbed.StartOVS(t, true)
	o.AddBridge(t, "br0")
	o.AddNamespacePort(t, "br0", "gwka", "nsa", "10.92.0.1/24")
	o.AddNamespacePort(t, "br0", "gwkb", "nsb", "10.92.0.2/24")
	const testUUID = "6695eb01-f6a4-8304-79aa-97f2502e193f" // the test driver's running domain
	const webUUID, webMAC = "2f0a4c7e-1b8e-4d5a-9c3f-7e6d5c4b3a21", "52:54:00:12:34:56"
	o.Vsctl(t, "set", "Interface", "gwka", "external_ids:vm-uuid="+testUUID)
	o.Vsctl(t, "set", "Interface", "gwkb", `external_ids:attached-mac="`+webMAC+`"`)
	va, vb := ifIndexOf(t, "gwka"), ifIndexOf(t, "gwkb")

	c := testutil.NewCollector(t)
	cfg := writeFile(t, t.TempDir(), "gwd.yaml", fmt.Sprintf(`polling: 1s
sampling:
  rate: 1
  bps_ratio: 0
host:
  interfaces:
    include: "^gwk"
modules:
  ovs:
    enabled: true
    ovsdb: %s
  kvm:
    enabled: true
    socket: %s
    uri: test:///default
    refresh_vms: 1s
    ovsdb: %s
collectors:
  - address: 127.0.0.1
    port: %d
`, o.Endpoint(), l.Socket, o.Endpoint(), c.Port()))
	p := start(t, bin, "run", "--config", cfg)
	defer p.stop(t)

	// web1 is defined once gwd holds its libvirt connection (the test
	// driver's domains live as long as a connection does).
	testDS := agent.DataSource{Type: 3}
	testutil.Eventually(t, 15*time.Second, func() error {
		for _, s := range gather(t, c, time.Second) {
			if strings.HasPrefix(s.src, "3:") {
				return nil
			}
		}
		return fmt.Errorf("no VM sample yet\n%s", p.output())
	})
	xml := writeFile(t, t.TempDir(), "web1.xml", `<domain type='test'><name>web1</name><uuid>`+webUUID+`</uuid>
  <memory unit='KiB'>524288</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os>
  <devices><interface type='ethernet'><mac address='`+webMAC+`'/></interface></devices></domain>`)
	l.Virsh(t, "define "+filepath.Clean(xml)+"; start web1")

	// The two VMs' indexes as gwd announces them in their host_descr.
	webDS := agent.DataSource{Type: 3}
	testutil.Eventually(t, 15*time.Second, func() error {
		for _, s := range gatherDescr(t, c, time.Second) {
			switch s.uuid {
			case testUUID:
				testDS.Index = s.index
			case webUUID:
				webDS.Index = s.index
			}
		}
		if testDS.Index == 0 || webDS.Index == 0 {
			return fmt.Errorf("VM data sources test %v, web1 %v\n%s", testDS, webDS, p.output())
		}
		return nil
	})
	time.Sleep(2 * time.Second) // one more refresh: the port map has web1's port

	o.Ping(t, "nsa", "10.92.0.2", 5)
	var tagged, requests, replies int
	for _, f := range gatherEntities(t, c, 4*time.Second) {
		switch {
		case f.input == va && f.output == vb:
			requests++
			if f.ent != (sflow.ExtendedEntities{SrcDSClass: 3, SrcDSIndex: testDS.Index, DstDSClass: 3, DstDSIndex: webDS.Index}) {
				t.Errorf("flow gwka->gwkb entities %+v (present %v), want src %v dst %v", f.ent, f.has, testDS, webDS)
			}
		case f.input == vb && f.output == va:
			replies++
			if f.ent != (sflow.ExtendedEntities{SrcDSClass: 3, SrcDSIndex: webDS.Index, DstDSClass: 3, DstDSIndex: testDS.Index}) {
				t.Errorf("flow gwkb->gwka entities %+v (present %v), want src %v dst %v", f.ent, f.has, webDS, testDS)
			}
		}
		if f.has {
			tagged++
		}
	}
	if requests == 0 || replies == 0 || tagged < requests+replies {
		t.Fatalf("%d requests, %d replies, %d tagged flow samples\n%s", requests, replies, tagged, p.output())
	}
}

// entityFlow is what the test keeps of a flow sample.
type entityFlow struct {
	input, output uint32
	ent           sflow.ExtendedEntities
	has           bool
}

// gatherEntities decodes the flow samples c receives for d.
func gatherEntities(t *testing.T, c *testutil.Collector, d time.Duration) []entityFlow {
	t.Helper()
	var out []entityFlow
	sflowtest.Each(t, c, d, func(dg *sflow.Datagram) bool {
		for _, s := range dg.Samples {
			if s.Tag != sflow.SampleFlow && s.Tag != sflow.SampleFlowExpanded {
				continue
			}
			f := entityFlow{input: s.Input.Value, output: s.Output.Value}
			for _, r := range s.Records {
				if e, ok := r.(*sflow.ExtendedEntities); ok {
					if f.has {
						t.Errorf("flow sample with two extended_entities")
					}
					f.ent, f.has = *e, true
				}
			}
			out = append(out, f)
		}
		return true
	})
	return out
}

// descrSeen is a counter sample's data-source index and host_descr UUID.
type descrSeen struct {
	index uint32
	uuid  string
}

// gatherDescr decodes the host_descr of the 3:n counter samples c receives
// for d.
func gatherDescr(t *testing.T, c *testutil.Collector, d time.Duration) []descrSeen {
	t.Helper()
	var out []descrSeen
	sflowtest.Each(t, c, d, func(dg *sflow.Datagram) bool {
		for _, s := range dg.Samples {
			if s.SourceIDType != 3 {
				continue
			}
			for _, r := range s.Records {
				if h, ok := r.(*sflow.HostDescr); ok {
					u := fmt.Sprintf("%x-%x-%x-%x-%x", h.UUID[:4], h.UUID[4:6], h.UUID[6:8], h.UUID[8:10], h.UUID[10:])
					out = append(out, descrSeen{index: s.SourceIDIndex, uuid: u})
				}
			}
		}
		return true
	})
	return out
}

package containers

import (
	"bytes"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gwd/agent"
	"gwd/host"
	"gwd/sflow"
)

func fill16(b byte) [16]byte {
	var u [16]byte
	for i := range u {
		u[i] = b
	}
	return u
}

// fixtureRecords are the records the fixture's containers must give.
func fixtureRecords() map[string][]sflow.Record {
	descr := func(name string, uuid [16]byte) *sflow.HostDescr {
		return &sflow.HostDescr{Hostname: []byte(name), UUID: uuid, MachineType: host.MachineType(runtime.GOARCH), OSName: osLinux, OSRelease: []byte("6.1.0-28-amd64")}
	}
	parent := &sflow.HostParent{ContainerType: 2, ContainerIndex: 1}
	const hostMem = 4000000 * 1024
	return map[string][]sflow.Record{
		idD1: {
			descr("web", fill16(0xa1)), parent,
			&sflow.VirtCPU{State: stateRunning, CPUTime: 2500, NrVirtCPU: 2}, // 150000/100000 rounds up
			&sflow.VirtMemory{Memory: 52428800, MaxMemory: 268435456},
			&sflow.VirtDiskIO{RdReq: 101, RdBytes: 1048576 + 4096, WrReq: 202, WrBytes: 2097152 + 8192},
			&sflow.VirtNetIO{RxBytes: 5000000, RxPackets: 40000, RxErrs: 1, RxDrop: 2, TxBytes: 3000000, TxPackets: 30000, TxErrs: 3, TxDrop: 4},
		},
		idD2: { // no name, frozen, no limits, host network: no 2104
			descr(idD2[:12], fill16(0xb2)), parent,
			&sflow.VirtCPU{State: statePaused, CPUTime: 0, NrVirtCPU: 4},
			&sflow.VirtMemory{Memory: 1000, MaxMemory: hostMem},
			&sflow.VirtDiskIO{},
		},
		idK1: { // lo left out; eth0 + net1 summed
			descr("shop/web-7d4b9c/nginx", fill16(0xc3)), parent,
			&sflow.VirtCPU{State: stateRunning, CPUTime: 7000, NrVirtCPU: 1},
			&sflow.VirtMemory{Memory: 104857600, MaxMemory: 536870912},
			&sflow.VirtDiskIO{RdReq: 1, RdBytes: 10, WrReq: 2, WrBytes: 20},
			&sflow.VirtNetIO{RxBytes: 1100, RxPackets: 22, RxDrop: 1, TxBytes: 2200, TxPackets: 33, TxDrop: 1},
		},
		"default/redis": { // no process: no 2104
			descr("redis", [16]byte{}), parent,
			&sflow.VirtCPU{State: stateRunning, CPUTime: 3, NrVirtCPU: 2},
			&sflow.VirtMemory{Memory: 8192, MaxMemory: hostMem},
			&sflow.VirtDiskIO{},
		},
	}
}

// TestFixtureRecords discovers the fixture's containers with each kind's
// watcher and checks every record of the listed ones.
func TestFixtureRecords(t *testing.T) {
	root := filepath.Join("testdata", "root")
	want := fixtureRecords()
	compared := 0
	for _, k := range []Kind{Docker, K8s, Containerd} {
		e := newFakeEntities(t)
		w := NewWatcher(fixtureConfig(root, k), e, nil)
		w.Refresh(time.Now())
		n := map[Kind]int{Docker: 2, K8s: 3, Containerd: 2}[k]
		if got := len(e.Sources()); got != n {
			t.Errorf("%v: %d data sources, want %d: %v", k, got, n, w.Names())
		}
		for key, c := range w.live {
			ds, _ := e.ClaimEntity(key)
			if ds != c.dsrc || ds.Type != 3 || ds.Index < agent.EntityBase || ds.Index >= agent.EntityBase+agent.EntitySpan {
				t.Errorf("%s: data source %v (claim says %v)", key, c.dsrc, ds)
			}
			recs, err := e.Poll(t, c.dsrc)
			if err != nil {
				t.Errorf("%s: %v", key, err)
			}
			exp, ok := want[key]
			if !ok {
				if len(recs) < 5 {
					t.Errorf("%s: %d records", key, len(recs))
				}
				continue
			}
			if key == "default/redis" { // hashed UUID: check it is stable, then compare the rest
				u := entityUUID(found{key: key, id: "redis"})
				if u == ([16]byte{}) || u != entityUUID(found{key: key, id: "redis"}) {
					t.Errorf("redis uuid %x", u)
				}
				exp[0].(*sflow.HostDescr).UUID = u
			}
			compared++
			if diff := cmp.Diff(exp, recs); diff != "" {
				t.Errorf("%v container %s records (-want +got):\n%s", k, key, diff)
			}
		}
	}
	if compared != len(want) {
		t.Errorf("compared %d containers' records, want %d", compared, len(want))
	}
}

// TestUseHostname: docker { hostname = on } names the container by its
// hostname.
func TestUseHostname(t *testing.T) {
	e := newFakeEntities(t)
	cfg := fixtureConfig(filepath.Join("testdata", "root"), Docker)
	cfg.UseHostname = true
	w := NewWatcher(cfg, e, nil)
	w.Refresh(time.Now())
	recs, err := e.Poll(t, w.live[idD1].dsrc)
	if err != nil || !bytes.Equal(recs[0].(*sflow.HostDescr).Hostname, []byte("a1a1a1a1a1a1")) {
		t.Errorf("hostname record %+v, %v", recs[0], err)
	}
}

// TestNoDoubleExport: a containerd watcher told that docker's cgroupfs
// parent is a namespace does not report docker's container a second time.
func TestNoDoubleExport(t *testing.T) {
	e := newFakeEntities(t)
	root := filepath.Join("testdata", "root")
	d := NewWatcher(fixtureConfig(root, Docker), e, nil)
	cc := fixtureConfig(root, Containerd)
	cc.Namespaces = []string{"default", "docker"}
	c := NewWatcher(cc, e, nil)
	d.Refresh(time.Now())
	c.Refresh(time.Now())
	if _, ok := c.live[idD2]; ok {
		t.Errorf("containerd also reports docker's %s", idD2[:12])
	}
	if len(e.Sources()) != 2+2 {
		t.Errorf("%d data sources, want 4: %v %v", len(e.Sources()), d.Names(), c.Names())
	}
	// Once docker lets go, containerd may take it.
	d.stop()
	c.Refresh(time.Now())
	if _, ok := c.live[idD2]; !ok {
		t.Errorf("containerd does not take %s over after docker stopped", idD2[:12])
	}
}

// TestPollGone: a cgroup removed between scans gives no records and no
// error; a malformed file is an error naming it, and the records that
// could be read still go out.
func TestPollGone(t *testing.T) {
	root := copyTree(t, filepath.Join("testdata", "root"))
	e := newFakeEntities(t)
	w := NewWatcher(fixtureConfig(root, Docker), e, nil)
	w.Refresh(time.Now())
	c := w.live[idD1]
	writeFile(t, filepath.Join(c.f.dir, "io.stat"), "8:0 rbytes=x\n")
	recs, err := c.Poll(nil)
	if err == nil || !strings.Contains(err.Error(), "io.stat") || len(recs) != 6 {
		t.Errorf("malformed io.stat: %d records, error %v", len(recs), err)
	}
	removeAll(t, c.f.dir)
	if recs, err := c.Poll(nil); len(recs) != 0 || err != nil {
		t.Errorf("gone cgroup: %d records, error %v", len(recs), err)
	}
}

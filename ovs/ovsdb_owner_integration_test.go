package ovs

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ovn-kubernetes/libovsdb/cache"
	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"

	"gwd/internal/testbed"
)

// rowWatch counts changes to the sFlow table and to Bridge.sflow seen by
// a separate OVSDB client.
type rowWatch struct {
	mu            sync.Mutex
	rows, bridges int
}

func (w *rowWatch) counts() (rows, bridges int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rows, w.bridges
}

func (w *rowWatch) reset() {
	w.mu.Lock()
	w.rows, w.bridges = 0, 0
	w.mu.Unlock()
}

// watchRows monitors the sFlow table and the bridges' sflow column.
func watchRows(t *testing.T, endpoint string) *rowWatch {
	t.Helper()
	dbm, err := dbModel()
	if err != nil {
		t.Fatal(err)
	}
	cli, err := client.NewOVSDBClient(dbm, client.WithEndpoint(endpoint))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cli.Connect(ctx); err != nil {
		t.Fatalf("watch: %v", err)
	}
	t.Cleanup(cli.Close)
	w := &rowWatch{}
	count := func(table string, old, new model.Model) {
		w.mu.Lock()
		defer w.mu.Unlock()
		switch table {
		case "sFlow":
			w.rows++
		case "Bridge":
			if old == nil || new == nil || deref(old.(*bridgeRow).SFlow) != deref(new.(*bridgeRow).SFlow) {
				w.bridges++
			}
		}
	}
	cli.Cache().AddEventHandler(&cache.EventHandlerFuncs{
		AddFunc:    func(table string, m model.Model) { count(table, nil, m) },
		UpdateFunc: func(table string, old, new model.Model) { count(table, old, new) },
		DeleteFunc: func(table string, m model.Model) { count(table, m, nil) },
	})
	var (
		b bridgeRow
		s sflowRow
	)
	if _, err := cli.Monitor(ctx, cli.NewMonitor(client.WithTable(&b, &b.Name, &b.SFlow),
		client.WithTable(&s, &s.Agent, &s.Header, &s.Polling, &s.Sampling, &s.Targets, &s.ExternalIDs))); err != nil {
		t.Fatalf("watch: %v", err)
	}
	return w
}

// TestIntegrationOVSDBTwoOwners: two programmers with different identities
// and targets on one ovsdb-server for 20 s. The second takes the row over
// once, the first (older) corrects it once, 10 s after its own write, and
// the second yields: fewer than 5 row changes after the first settled, one
// WARN each, and the first one's row intact, also after the second exits.
func TestIntegrationOVSDBTwoOwners(t *testing.T) {
	testbed.Integration(t)
	o := testbed.StartOVS(t, false)
	o.AddBridge(t, "br0")
	o.AddBridge(t, "br1")
	host, _ := os.Hostname()
	now := time.Now()
	idA := Identity{Host: host, PID: os.Getpid(), Start: now.Add(-time.Hour)}
	idB := Identity{Host: host, PID: os.Getpid(), Start: now}
	sA, sB := settings, settings
	sB.Targets = []string{"127.0.0.1:41299"}

	a := start(t, Config{Endpoint: o.Endpoint(), RemoveOnExit: true, Identity: idA}, &sA)
	waitFor(t, 5*time.Second, "A attached", func() bool { return a.attached("br0", "br1") })
	a.settledTxns()
	w := watchRows(t, o.Endpoint())
	time.Sleep(300 * time.Millisecond) // the watch's initial rows
	w.reset()

	t0 := time.Now()
	b := start(t, Config{Endpoint: o.Endpoint(), RemoveOnExit: true, Identity: idB}, &sB)
	waitFor(t, 30*time.Second, "B yields", func() bool {
		_, err := b.Status()
		var y *YieldError
		return errors.As(err, &y) && y.Other.equal(idA.withDefaults())
	})
	t.Logf("B yielded %v after it started", time.Since(t0).Round(time.Millisecond))
	if rest := 20*time.Second - time.Since(t0); rest > 0 {
		time.Sleep(rest) // watch for a fight
	}
	rows, bridges := w.counts()
	t.Logf("in %v: %d sFlow row changes, %d Bridge.sflow changes; transactions A %d, B %d",
		time.Since(t0).Round(time.Second), rows, bridges, a.txns.Load(), b.txns.Load())
	if rows >= 5 || bridges >= 5 {
		t.Errorf("%d row changes and %d bridge changes after the first settle, want fewer than 5 each", rows, bridges)
	}

	checkA := func(when string) {
		t.Helper()
		rs := sflowRows(t, o)
		if len(rs) != 1 {
			t.Fatalf("%s: sFlow rows %v, want one", when, rs)
		}
		row := rs[0]
		for col, want := range map[string]string{"targets": `["127.0.0.1:41234"]`,
			"external_ids:gwd-start": idA.withDefaults().Start.Format(time.RFC3339Nano), "external_ids:gwd-owner": "gwd"} {
			if got := o.Vsctl(t, "get", "sFlow", row, col); got != want && got != `"`+want+`"` {
				t.Errorf("%s: sFlow %s = %s, want %s", when, col, got, want)
			}
		}
		for _, br := range []string{"br0", "br1"} {
			if got := bridgeSFlow(t, o, br); got != row {
				t.Errorf("%s: %s sflow = %s, want %s", when, br, got, row)
			}
		}
	}
	checkA("after 20 s")
	if n := a.log.Count("level=WARN"); n != 1 || a.log.Count("changed by somebody else") != 1 {
		t.Errorf("A logged %d WARN lines, want one about the change:\n%s", n, a.log)
	}
	if n := b.log.Count("level=WARN"); n != 1 || b.log.Count("leaves it alone") != 1 {
		t.Errorf("B logged %d WARN lines, want one about yielding:\n%s", n, b.log)
	}
	if c, err := a.Status(); !c || err != nil {
		t.Errorf("A: Status() = %v, %v", c, err)
	}

	if err := b.stop(t); err != nil {
		t.Errorf("B: Run = %v", err)
	}
	a.settledTxns()
	checkA("after B exited")
	t.Logf("A's log:\n%sB's log:\n%s", a.log, b.log)
}

// TestIntegrationOVSDBHumanEdits: somebody edits gwd's row with ovs-vsctl
// again and again: gwd corrects at a slowing pace and says so once.
func TestIntegrationOVSDBHumanEdits(t *testing.T) {
	testbed.Integration(t)
	o := testbed.StartOVS(t, false)
	o.AddBridge(t, "br0")
	r := start(t, Config{Endpoint: o.Endpoint()}, &settings)
	waitFor(t, 5*time.Second, "attached", func() bool { return r.attached("br0") })
	r.settledTxns()
	row := sflowRows(t, o)[0]
	w := watchRows(t, o.Endpoint())
	time.Sleep(300 * time.Millisecond)
	w.reset()

	// Every 200 ms for 12 s: 60 edits. Corrections: at most one right
	// away (if gwd's last write is 10 s old) and one 10 s after the
	// previous write: a few, not sixty.
	t0 := time.Now()
	for i := range 60 {
		o.Vsctl(t, "set", "sFlow", row, "sampling="+[]string{"7", "8"}[i%2])
		time.Sleep(200 * time.Millisecond)
	}
	rows, _ := w.counts()
	txns := r.settledTxns()
	t.Logf("%d row changes in %v (60 by ovs-vsctl), %d transactions by gwd", rows, time.Since(t0).Round(time.Second), txns)
	if txns-1 > 3 {
		t.Errorf("gwd made %d corrections in 12 s, want at most 3", txns-1)
	}
	if n := r.log.Count("changed by somebody else"); n != 1 {
		t.Errorf("episode logged %d times, want once:\n%s", n, r.log)
	}
	// The last edit is corrected when its turn comes.
	waitFor(t, 70*time.Second, "sampling 500 again", func() bool { return o.Vsctl(t, "get", "sFlow", row, "sampling") == "500" })
}

package ovs

import (
	"gwd/internal/testutil"

	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	t0    = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	idA   = Identity{Host: "hv1", PID: 100, Start: t0.Add(-time.Hour)}
	idB   = Identity{Host: "hv1", PID: 200, Start: t0.Add(-time.Minute)}
	wantA = Settings{Targets: []string{"127.0.0.1:1000"}, Sampling: 500, Polling: 20}
	wantB = Settings{Targets: []string{"127.0.0.1:2000"}, Sampling: 500, Polling: 20}
)

// fakeDB is an OVSDB as the programmer's logic sees it: a snapshot that
// programmers' plans are applied to, as the server would commit them.
type fakeDB struct {
	sn     *snapshot
	writes int // committed transactions
	rows   int // rows created
}

func newFakeDB() *fakeDB { return &fakeDB{sn: fixture()} }

// prog is a programmer on the fake database with its own log.
type prog struct {
	*Programmer
	log  *testutil.SyncBuffer
	want Settings
}

func newProg(t *testing.T, id Identity, want Settings, cfg Config) *prog {
	t.Helper()
	lb := &testutil.SyncBuffer{}
	cfg.Identity = id
	p := NewProgrammer(cfg, slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelInfo})), nil)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log of %s:\n%s", id, lb)
		}
	})
	return &prog{Programmer: p, log: lb, want: want}
}

// converge runs the programmer's decision on the database at now and, when
// it writes, commits the plan. It says what happened: "write", "correct",
// "wait <d>", "yield", or "" (nothing to do).
func (db *fakeDB) converge(p *prog, now time.Time) string {
	pl, d := p.next(db.sn, &p.want, now)
	switch {
	case d.err != nil:
		return "yield"
	case !d.write && !d.retry.IsZero():
		return "wait " + d.retry.Sub(now).String()
	case !d.write:
		return ""
	}
	p.own.wrote(db.sn, pl, now, d.correction)
	db.commit(pl, p.cfg.Identity)
	if d.correction {
		return "correct"
	}
	return "write"
}

// commit applies a plan as OVSDB would, collecting unreferenced rows.
func (db *fakeDB) commit(pl plan, id Identity) {
	db.writes++
	sn := db.sn
	target := pl.keeper
	if pl.create {
		db.rows++
		target = fmt.Sprintf("row%d", db.rows)
		sn.sflows[target] = sflowRow{UUID: target, ExternalIDs: mergeIDs(nil, id)}
	}
	if pl.create || pl.update {
		r := sn.sflows[target]
		r.Agent, r.Header, r.Polling, r.Sampling, r.Targets = pl.row.agent, pl.row.header, pl.row.polling, pl.row.sampling, pl.row.targets
		r.ExternalIDs = mergeIDs(r.ExternalIDs, id)
		sn.sflows[target] = r
	}
	for _, u := range pl.attach {
		db.point(u, &target)
	}
	for _, u := range pl.detach {
		db.point(u, nil)
	}
	db.collect()
}

// point sets a bridge's sflow reference.
func (db *fakeDB) point(bridge string, row *string) {
	b := db.sn.bridges[bridge]
	if row != nil {
		r := *row
		row = &r
	}
	b.SFlow = row
	db.sn.bridges[bridge] = b
}

// collect drops the sFlow rows no bridge references.
func (db *fakeDB) collect() {
	used := map[string]bool{}
	for _, b := range db.sn.bridges {
		if b.SFlow != nil {
			used[*b.SFlow] = true
		}
	}
	maps.DeleteFunc(db.sn.sflows, func(u string, _ sflowRow) bool { return !used[u] })
}

// edit changes gwd's row like ovs-vsctl would (external_ids untouched).
func (db *fakeDB) edit(f func(*sflowRow)) {
	for u, r := range db.sn.sflows {
		if owned(r) {
			f(&r)
			db.sn.sflows[u] = r
		}
	}
}

func (db *fakeDB) ownedRow() sflowRow {
	for _, r := range db.sn.sflows {
		if owned(r) {
			return r
		}
	}
	return sflowRow{}
}

func TestIdentityRoundTrip(t *testing.T) {
	id := Identity{Host: "h", PID: 7, Start: time.Date(2026, 1, 2, 3, 4, 5, 678, time.FixedZone("x", 3600))}.withDefaults()
	got := identityOf(mergeIDs(map[string]string{"note": "kept", PIDKey: "1"}, id))
	if !got.equal(id) || got.String() != "gwd pid 7 on h, started 2026-01-02T02:04:05Z" {
		t.Errorf("round trip: %+v (%s), want %+v", got, got, id)
	}
	ids := mergeIDs(map[string]string{"note": "kept", PIDKey: "1"}, id)
	if diff := cmp.Diff(map[string]string{"note": "kept", OwnerKey: OwnerValue, HostKey: "h", PIDKey: "7",
		StartKey: "2026-01-02T02:04:05.000000678Z"}, ids); diff != "" {
		t.Errorf("mergeIDs (-want +got):\n%s", diff)
	}
	for _, ext := range []map[string]string{nil, {HostKey: "h", PIDKey: "x", StartKey: "2026-01-02T02:04:05Z"},
		{HostKey: "h", PIDKey: "7", StartKey: "yesterday"}, {PIDKey: "7", StartKey: "2026-01-02T02:04:05Z"}} {
		if got := identityOf(ext); got.valid() {
			t.Errorf("identityOf(%v) = %+v, want invalid", ext, got)
		}
	}
	if !idA.older(idB) || idB.older(idA) {
		t.Errorf("older: A started first")
	}
	same := idA
	same.PID = 101
	if !idA.older(same) || same.older(idA) {
		t.Errorf("older: ties broken by pid")
	}
	if d := (Identity{}).withDefaults(); !d.valid() || d.PID == 0 {
		t.Errorf("default identity %+v", d)
	}
}

// TestOwnerDecisions: what a programmer does after it settled, when the
// database changes under it, step by step (times are seconds after t0).
func TestOwnerDecisions(t *testing.T) {
	type step struct {
		at     int           // seconds after t0
		change func(*fakeDB) // what somebody else does first (nil: nothing)
		want   *Settings     // new wish (nil: unchanged)
		result string        // of the converge that follows
	}
	human := func(sampling int) func(*fakeDB) {
		return func(db *fakeDB) { db.edit(func(r *sflowRow) { r.Sampling = ptr(sampling) }) }
	}
	asGwd := func(id Identity, s Settings) func(*fakeDB) {
		return func(db *fakeDB) {
			db.edit(func(r *sflowRow) {
				r.Targets = s.Targets
				r.ExternalIDs = mergeIDs(r.ExternalIDs, id)
			})
		}
	}
	tests := []struct {
		name  string
		steps []step
		warns int // WARN lines about foreign changes
	}{
		{name: "a changed wish is written at once", steps: []step{
			{at: 0, result: "write"}, {at: 1, result: ""},
			{at: 2, want: &wantB, result: "write"}, {at: 3, want: &wantA, result: "write"}, {at: 4, result: ""},
		}},
		{name: "a new bridge is attached at once", steps: []step{
			{at: 0, result: "write"},
			{at: 1, change: func(db *fakeDB) {
				db.sn.bridges["b9"] = bridgeRow{UUID: "b9", Name: "br9"}
			}, result: "write"},
		}},
		{name: "a human edit long after the last write is corrected at once, the next ones paced", warns: 2, steps: []step{
			{at: 0, result: "write"}, {at: 30, result: ""},
			{at: 31, change: human(7), result: "correct"},
			{at: 32, change: human(8), result: "wait 19s"}, // 20 s after the correction
			{at: 40, result: "wait 11s"},
			{at: 51, result: "correct"},
			{at: 52, change: human(9), result: "wait 39s"},
			{at: 91, result: "correct"},
			{at: 94, change: human(9), result: "wait 57s"}, // capped at a minute
			{at: 151, result: "correct"},
			{at: 154, change: human(9), result: "wait 57s"},
			{at: 211, result: "correct"},
			{at: 300, result: ""},                          // quiet for a minute: the episode ends (INFO)
			{at: 301, change: human(4), result: "correct"}, // a new episode
		}},
		{name: "the same change again within awaitEcho of the correction waits that long first", warns: 1, steps: []step{
			{at: 0, result: "write"}, {at: 20, result: ""},
			{at: 21, change: human(7), result: "correct"},
			{at: 22, change: human(7), result: "wait 1s"}, // looks like the cache before the correction
			{at: 23, result: "wait 18s"},
		}},
		{name: "a correction right after gwd's own write waits 10 s", warns: 1, steps: []step{
			{at: 0, result: "write"},
			{at: 1, change: human(7), result: "wait 9s"},
			{at: 10, result: "correct"},
		}},
		{name: "a bridge taken away is a foreign change", warns: 1, steps: []step{
			{at: 0, result: "write"}, {at: 20, result: ""},
			{at: 21, change: func(db *fakeDB) { db.point("b1", nil) }, result: "correct"},
			{at: 24, change: func(db *fakeDB) { db.point("b1", nil) }, result: "wait 17s"},
		}},
		{name: "a younger gwd's takeover is corrected, paced", warns: 1, steps: []step{
			{at: 0, result: "write"},
			{at: 1, change: asGwd(idB, wantB), result: "wait 9s"},
			{at: 10, result: "correct"},
			{at: 13, change: asGwd(idB, wantB), result: "wait 17s"},
		}},
		{name: "an older gwd's change makes this one yield until its row is gone", steps: []step{
			{at: 0, want: &wantB, result: "write"},
			{at: 1, change: asGwd(idA, wantA), result: "yield"},
			{at: 2, result: "yield"},
			{at: 3, want: &wantA, result: ""}, // its wish is the row: nothing to do
			{at: 4, want: &wantB, result: "yield"},
			{at: 5, change: func(db *fakeDB) {
				for u := range db.sn.bridges {
					db.point(u, nil)
				}
				db.collect()
			}, result: "write"},
			{at: 6, result: ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := newFakeDB()
			me := idA
			if strings.Contains(tt.name, "older gwd") {
				me = idB
			}
			p := newProg(t, me, wantA, Config{})
			var got, want []string
			for _, s := range tt.steps {
				if s.change != nil {
					s.change(db)
				}
				if s.want != nil {
					p.want = *s.want
				}
				got = append(got, fmt.Sprintf("%d: %s", s.at, db.converge(p, t0.Add(time.Duration(s.at)*time.Second))))
				want = append(want, fmt.Sprintf("%d: %s", s.at, s.result))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("decisions (-want +got):\n%s", diff)
			}
			if n := p.log.Count("changed by somebody else"); n != tt.warns {
				t.Errorf("%d episode warnings, want %d:\n%s", n, tt.warns, p.log)
			}
			if strings.Contains(tt.name, "yield") {
				if n := p.log.Count("taking it over"); n != 1 {
					t.Errorf("take-over logged %d times:\n%s", n, p.log)
				}
			}
		})
	}
}

// TestOwnerWaitsForItsOwnWrite: a converge that still sees the database as
// it was before gwd's write (the cache lags) neither writes again nor
// calls it a foreign change; past awaitEcho it does.
func TestOwnerWaitsForItsOwnWrite(t *testing.T) {
	db := newFakeDB()
	p := newProg(t, idA, wantA, Config{})
	if r := db.converge(p, t0); r != "write" {
		t.Fatalf("first converge: %q", r)
	}
	before := db.sn
	db.sn = fixture() // the cache, before the write shows
	if r := db.converge(p, t0.Add(time.Second)); r != "wait 1s" {
		t.Errorf("stale cache: %q, want a wait", r)
	}
	db.sn = before
	if r := db.converge(p, t0.Add(1500*time.Millisecond)); r != "" {
		t.Errorf("cache caught up: %q", r)
	}
	if n := p.log.Count("somebody else"); n != 0 {
		t.Errorf("a lagging cache was taken for a foreign change:\n%s", p.log)
	}
}

// TestTwoProgrammersDoNotFight: two gwd processes with different wishes on
// one database, each converging every 100 ms (and whenever the other
// writes) for ten minutes: the younger takes over once, the older corrects
// once, then the younger yields. The row ends as the older one wrote it.
func TestTwoProgrammersDoNotFight(t *testing.T) {
	for _, tt := range []struct {
		name   string
		exclB  *regexp.Regexp // B's bridge filter
		policy string
	}{
		{name: "different targets"},
		{name: "different targets and bridges", exclB: regexp.MustCompile(`^br1$`)},
		{name: "different policies", policy: PolicyLeave},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db := newFakeDB()
			a := newProg(t, idA, wantA, Config{})
			b := newProg(t, idB, wantB, Config{Exclude: tt.exclB, Policy: tt.policy})
			var writes []string
			for ms := 0; ms < 600_000; ms += 100 {
				now := t0.Add(time.Duration(ms) * time.Millisecond)
				for _, p := range []*prog{a, b} {
					if ms < 1000 && p == b {
						continue // B starts a second later
					}
					if r := db.converge(p, now); r == "write" || r == "correct" {
						writes = append(writes, fmt.Sprintf("%v %d %s", now.Sub(t0), p.cfg.Identity.PID, r))
					}
				}
			}
			want := []string{"0s 100 write", "1s 200 write", "10s 100 correct"}
			if diff := cmp.Diff(want, writes); diff != "" {
				t.Errorf("writes (-want +got):\n%s", diff)
			}
			row := db.ownedRow()
			if got := identityOf(row.ExternalIDs); !got.equal(idA) || !slices.Equal(row.Targets, wantA.Targets) {
				t.Errorf("final row %+v, want A's", row)
			}
			for u, br := range db.sn.bridges {
				if br.SFlow == nil || *br.SFlow != row.UUID {
					t.Errorf("bridge %s (%s) points at %v, want gwd's row", br.Name, u, deref(br.SFlow))
				}
			}
			if _, err := b.Status(); err != nil {
				t.Logf("B: %v", err)
			}
			if a.log.Count("changed by somebody else") != 1 || a.log.Count("level=WARN") != 1 {
				t.Errorf("A's log: want one WARN:\n%s", a.log)
			}
		})
	}
}

// Package fakeagent is a stand-in for the agent's registration API in
// tests: a Registrar that keeps the pollers, health and flow samples that a
// source hands it, for the test to look at. It implements agent.Registrar,
// host.Registrar and ovs.Sink. Only _test.go files import it.
package fakeagent

import (
	"slices"
	"sync"
	"testing"

	"gwd/agent"
	"gwd/sflow"
)

// Registrar records what a source registers. Safe for concurrent use.
type Registrar struct {
	// Check, when set, is called by Register and RegisterPriority before
	// anything is recorded; a non-empty result panics with it (for a test
	// to catch a source registering under the wrong name).
	Check func(source string, ds agent.DataSource) string

	mu         sync.Mutex
	pollers    map[agent.DataSource]agent.Poller
	priorities map[agent.DataSource]int
	health     map[string]error
	healthSets int
	changes    []string // "source: message" on each change of a source's health
	events     []string // "+source ds" and "-source ds"
	flows      []Flow
}

// Flow is one flow sample handed to SubmitFlow.
type Flow struct {
	DS     agent.DataSource
	Sample sflow.Sample // a copy, records slice included
}

// New returns an empty Registrar.
func New() *Registrar {
	return &Registrar{
		pollers:    map[agent.DataSource]agent.Poller{},
		priorities: map[agent.DataSource]int{},
		health:     map[string]error{},
	}
}

// Register implements agent.Registrar.
func (r *Registrar) Register(source string, ds agent.DataSource, p agent.Poller) {
	r.RegisterPriority(source, ds, p, 0)
}

// RegisterPriority implements ovs.Sink.
func (r *Registrar) RegisterPriority(source string, ds agent.DataSource, p agent.Poller, priority int) {
	if r.Check != nil {
		if msg := r.Check(source, ds); msg != "" {
			panic(msg)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pollers[ds] = p
	r.priorities[ds] = priority
	r.events = append(r.events, "+"+source+" "+ds.String())
}

// Unregister implements agent.Registrar.
func (r *Registrar) Unregister(source string, ds agent.DataSource) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.pollers, ds)
	delete(r.priorities, ds)
	r.events = append(r.events, "-"+source+" "+ds.String())
}

// SetHealth implements agent.Registrar.
func (r *Registrar) SetHealth(source string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.healthSets++
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if old, ok := r.health[source]; !ok || errString(old) != msg {
		r.changes = append(r.changes, source+": "+msg)
	}
	r.health[source] = err
}

// SubmitFlow implements ovs.Sink: it keeps a copy of s.
func (r *Registrar) SubmitFlow(ds agent.DataSource, s *sflow.Sample) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := *s
	c.Records = slices.Clone(s.Records)
	r.flows = append(r.flows, Flow{DS: ds, Sample: c})
	return nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Poller returns the poller registered for ds (nil when none).
func (r *Registrar) Poller(ds agent.DataSource) agent.Poller {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pollers[ds]
}

// Priority returns the priority ds was registered with (0 by Register).
func (r *Registrar) Priority(ds agent.DataSource) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.priorities[ds]
}

// Poll polls the poller registered for ds, failing the test when there is
// none.
func (r *Registrar) Poll(t testing.TB, ds agent.DataSource) ([]sflow.Record, error) {
	t.Helper()
	p := r.Poller(ds)
	if p == nil {
		t.Fatalf("no poller registered for %v", ds)
	}
	return p.Poll(nil)
}

// Sources returns the data sources registered now: host and other
// type-2 sources first, then by type and index.
func (r *Registrar) Sources() []agent.DataSource {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]agent.DataSource, 0, len(r.pollers))
	for ds := range r.pollers {
		out = append(out, ds)
	}
	slices.SortFunc(out, func(a, b agent.DataSource) int {
		if a.Type != b.Type {
			return int(b.Type) - int(a.Type)
		}
		return int(a.Index) - int(b.Index)
	})
	return out
}

// Health returns the last health source set (nil: healthy, or never set).
func (r *Registrar) Health(source string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.health[source]
}

// HealthText returns the last health source set as text ("" for healthy),
// and whether it set one.
func (r *Registrar) HealthText(source string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	err, ok := r.health[source]
	return errString(err), ok
}

// HealthSets returns how many times SetHealth was called.
func (r *Registrar) HealthSets() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.healthSets
}

// HealthChanges returns "source: message" for each SetHealth that changed
// a source's health (or set it the first time); the message is "" for
// healthy.
func (r *Registrar) HealthChanges() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.changes)
}

// TakeEvents returns the registrations since the last call, in order:
// "+source ds" for Register, "-source ds" for Unregister.
func (r *Registrar) TakeEvents() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

// Flows returns the flow samples submitted so far, in order.
func (r *Registrar) Flows() []Flow {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.flows)
}

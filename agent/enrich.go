package agent

import (
	"slices"
	"sync"
	"sync/atomic"

	"gwd/sflow"
)

// FlowEnricher adds records to flow samples on their way out: the gateway
// data of the BGP module, the entity a port belongs to from the VM module.
// Every flow sample given to SubmitFlow passes through every enricher,
// whichever source sampled it (relayed from OVS, NFLOG, AF_PACKET, psample),
// before the agent sets its source id and sequence number and encodes it.
//
// EnrichFlow runs on the submitting source's goroutine, outside the agent's
// lock, possibly on several goroutines at once: it must be safe for
// concurrent use, must not block, must not keep s or its records past the
// call, and should not add a record of a type s already carries.
type FlowEnricher interface {
	EnrichFlow(ds DataSource, s *sflow.Sample)
}

// FlowEnricherFunc adapts a function to FlowEnricher.
type FlowEnricherFunc func(ds DataSource, s *sflow.Sample)

// EnrichFlow implements FlowEnricher.
func (f FlowEnricherFunc) EnrichFlow(ds DataSource, s *sflow.Sample) { f(ds, s) }

type namedEnricher struct {
	name string
	e    FlowEnricher
	id   *byte // identity for removal (enrichers need not be comparable)
}

// enrichers is the agent's list of flow enrichers, read without a lock on
// every flow sample and replaced whole when it changes.
type enrichers struct {
	mu   sync.Mutex // serialises changes
	list atomic.Pointer[[]namedEnricher]
}

// AddFlowEnricher adds e under name (a module's name, for the summary);
// enrichers run in the order they were added. The returned function
// removes it; a module calls it when it stops.
func (a *Agent) AddFlowEnricher(name string, e FlowEnricher) (remove func()) {
	en := &a.enrich
	en.mu.Lock()
	defer en.mu.Unlock()
	var cur []namedEnricher
	if p := en.list.Load(); p != nil {
		cur = *p
	}
	id := new(byte)
	next := append(slices.Clip(cur), namedEnricher{name: name, e: e, id: id})
	en.list.Store(&next)
	var once sync.Once
	return func() {
		once.Do(func() {
			en.mu.Lock()
			defer en.mu.Unlock()
			old := *en.list.Load()
			out := make([]namedEnricher, 0, len(old))
			for _, x := range old {
				if x.id != id {
					out = append(out, x)
				}
			}
			en.list.Store(&out)
		})
	}
}

// FlowEnrichers names the enrichers in the order they run.
func (a *Agent) FlowEnrichers() []string {
	p := a.enrich.list.Load()
	if p == nil {
		return nil
	}
	out := make([]string, len(*p))
	for i, x := range *p {
		out[i] = x.name
	}
	return out
}

// enrichFlow passes s through every enricher.
func (a *Agent) enrichFlow(ds DataSource, s *sflow.Sample) {
	p := a.enrich.list.Load()
	if p == nil {
		return
	}
	for _, x := range *p {
		x.e.EnrichFlow(ds, s)
	}
}

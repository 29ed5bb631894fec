package gpu

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"

	"gwd/agent"
	"gwd/sflow"
)

// fakeReg is an agent.Registrar that keeps what it is told.
type fakeReg struct {
	mu      sync.Mutex
	pollers map[agent.DataSource]agent.Poller
	health  map[string]error
	sets    int // SetHealth calls
	log     []string
}

func newFakeReg() *fakeReg {
	return &fakeReg{pollers: map[agent.DataSource]agent.Poller{}, health: map[string]error{}}
}

func (r *fakeReg) Register(source string, ds agent.DataSource, p agent.Poller) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if want := SourceName; ds.Index >= 2000 {
		want = PerGPUSourceName
		if source != want {
			panic("per-GPU data source " + ds.String() + " registered as " + source)
		}
	} else if source != want {
		panic("data source " + ds.String() + " registered as " + source)
	}
	r.pollers[ds] = p
	r.log = append(r.log, "register "+ds.String())
}

func (r *fakeReg) Unregister(source string, ds agent.DataSource) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.pollers, ds)
	r.log = append(r.log, "unregister "+ds.String())
}

func (r *fakeReg) SetHealth(source string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.health[source] = err
	r.sets++
}

func (r *fakeReg) sources() []agent.DataSource {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []agent.DataSource
	for ds := range r.pollers {
		out = append(out, ds)
	}
	return out
}

// poll polls ds and returns its one 5703:1 record (nil when it sent none).
func (r *fakeReg) poll(t *testing.T, ds agent.DataSource) (*sflow.NVIDIAGPU, error) {
	t.Helper()
	r.mu.Lock()
	p := r.pollers[ds]
	r.mu.Unlock()
	if p == nil {
		t.Fatalf("nothing registered on %v", ds)
	}
	recs, err := p.Poll(nil)
	switch len(recs) {
	case 0:
		return nil, err
	case 1:
		rec, ok := recs[0].(*sflow.NVIDIAGPU)
		if !ok {
			t.Fatalf("%v: record %T, want *sflow.NVIDIAGPU", ds, recs[0])
		}
		c := *rec
		return &c, err
	}
	t.Fatalf("%v: %d records, want 1", ds, len(recs))
	return nil, nil
}

// syncBuf is a buffer safe for a logger in another goroutine.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuf) Len() int { return len(s.String()) }

// testLog is a logger writing into a buffer.
func testLog() (*slog.Logger, *syncBuf) {
	b := &syncBuf{}
	return slog.New(slog.NewTextHandler(b, nil)), b
}

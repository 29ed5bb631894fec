package gpu

import (
	"log/slog"
	"testing"

	"gwd/agent"
	"gwd/internal/testutil"
	"gwd/internal/testutil/fakeagent"
	"gwd/sflow"
)

// newFakeReg is the shared fake registrar, made to panic when a data
// source is registered under another source's name: the host's under
// SourceName, each GPU's under PerGPUSourceName.
func newFakeReg() *fakeagent.Registrar {
	r := fakeagent.New()
	r.Check = func(source string, ds agent.DataSource) string {
		want := SourceName
		if ds.Index >= 2000 {
			want = PerGPUSourceName
		}
		if source != want {
			return "data source " + ds.String() + " registered as " + source + ", want " + want
		}
		return ""
	}
	return r
}

// poll polls ds and returns its one 5703:1 record (nil when it sent none).
func poll(t *testing.T, reg *fakeagent.Registrar, ds agent.DataSource) (*sflow.NVIDIAGPU, error) {
	t.Helper()
	recs, err := reg.Poll(t, ds)
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

// testLog is a logger writing into a buffer.
func testLog() (*slog.Logger, *testutil.SyncBuffer) { return testutil.Logger(slog.LevelInfo) }

package asic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gwd/agent"
	"gwd/internal/testutil"
	"gwd/internal/testutil/fakeagent"
	"gwd/sflow"
	"gwd/sflow/sflowfmt"
)

// redisFixture is testdata/sonic/redis.json: SONiC database name -> key
// -> hash.
type redisFixture map[string]map[string]map[string]string

func loadRedisFixture(t testing.TB) redisFixture {
	t.Helper()
	b, err := os.ReadFile("testdata/sonic/redis.json")
	if err != nil {
		t.Fatal(err)
	}
	var f redisFixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// fakeDB is sonicDB over a fixture in memory.
type fakeDB struct {
	mu   sync.Mutex
	data redisFixture
	err  error // when set, every call fails with it
}

func (f *fakeDB) set(db, key, field, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.data[db][key] == nil {
		f.data[db][key] = map[string]string{}
	}
	f.data[db][key][field] = value
}

func (f *fakeDB) hgetall(_ context.Context, db string, keys []string) ([]map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, &dbError{f.err}
	}
	out := make([]map[string]string, len(keys))
	for i, k := range keys {
		out[i] = map[string]string{}
		for fk, v := range f.data[db][k] {
			out[i][fk] = v
		}
	}
	return out, nil
}

func (f *fakeDB) hget(_ context.Context, db, field string, keys []string) ([]string, []bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, nil, &dbError{f.err}
	}
	vals, oks := make([]string, len(keys)), make([]bool, len(keys))
	for i, k := range keys {
		vals[i], oks[i] = f.data[db][k][field]
	}
	return vals, oks, nil
}

func (f *fakeDB) scan(_ context.Context, db, pattern string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, &dbError{f.err}
	}
	var out []string
	for k := range f.data[db] {
		if ok, _ := path.Match(pattern, k); ok {
			out = append(out, k)
		}
	}
	return out, nil
}

func (f *fakeDB) close() error { return nil }

// poll polls the poller registered for ds on reg, failing the test on an
// error.
func poll(t testing.TB, reg *fakeagent.Registrar, ds agent.DataSource) []sflow.Record {
	t.Helper()
	recs, err := reg.Poll(t, ds)
	if err != nil {
		t.Fatalf("poll %v: %v", ds, err)
	}
	return recs
}

// runSource starts s on reg until the test ends.
func runSource(t testing.TB, s *Source, reg agent.Registrar) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		s.Wait()
	})
	if err := s.Start(ctx, reg); err != nil {
		t.Fatal(err)
	}
}

// startAgent runs a real agent that polls every second and sends to c.
func startAgent(t testing.TB, c *testutil.Collector) *agent.Agent {
	t.Helper()
	a, err := agent.New(agent.Config{
		Polling:    time.Second,
		Address:    agent.AddressConfig{IP: netip.MustParseAddr("192.0.2.10")},
		Collectors: []agent.CollectorConfig{{Addr: c.Addr}},
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return a
}

// sampleText decodes datagrams at c until one carries a counter sample of
// ds for which match returns nil (given its sflowtool text), and returns
// that text. Every datagram must decode cleanly.
func sampleText(t testing.TB, c *testutil.Collector, ds agent.DataSource, timeout time.Duration, match func(text string) error) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 65536)
	var dec sflow.Decoder
	last := errors.New("no sample of " + ds.String() + " received")
	for time.Now().Before(deadline) {
		c.Conn.SetReadDeadline(deadline)
		n, err := c.Conn.Read(buf)
		if err != nil {
			break
		}
		dg, err := dec.Decode(buf[:n])
		if err != nil {
			t.Fatalf("datagram does not decode: %v", err)
		}
		same := 0
		for i := range dg.Samples {
			s := &dg.Samples[i]
			if s.SourceIDType != ds.Type || s.SourceIDIndex != ds.Index {
				continue
			}
			if same++; same > 1 {
				t.Fatalf("two samples of %v in one datagram", ds)
			}
			one := *dg
			one.Samples = dg.Samples[i : i+1]
			text := string(sflowfmt.AppendText(nil, &sflowfmt.Meta{Size: n}, &one, nil))
			if last = match(text); last == nil {
				return text
			}
		}
	}
	t.Fatalf("sample of %v: %v", ds, last)
	return ""
}

// hasLines checks that text contains every "key value" line of want.
func hasLines(want ...string) func(string) error {
	return func(text string) error {
		lines := strings.Split(text, "\n")
		var missing []string
		for _, w := range want {
			if !slices.Contains(lines, w) {
				missing = append(missing, w)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("missing lines %q in:\n%s", missing, text)
		}
		return nil
	}
}

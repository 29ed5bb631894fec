package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gwd/internal/capture"
	"gwd/internal/testbed"
	"gwd/internal/testutil"
	"gwd/sflow"
)

// faultWatch reads everything gwd sends during a fault scenario and checks
// it as it comes: every datagram decodes, and per data source the sample
// sequence numbers and the flow samples' sample_pool never go backwards.
type faultWatch struct {
	mu          sync.Mutex
	undecodable int
	backwards   []string
	flows       int // flow samples relayed
	datagrams   int
	last        map[string]uint32 // source -> last sample sequence
	pool        map[string]uint32 // flow source -> last sample_pool
	stop        chan struct{}
	done        chan struct{}
}

func watchFaults(c *testutil.Collector) *faultWatch {
	w := &faultWatch{last: map[string]uint32{}, pool: map[string]uint32{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		var dec sflow.Decoder
		for {
			select {
			case <-w.stop:
				return
			default:
			}
			b, err := c.Read(200 * time.Millisecond)
			if err != nil {
				continue
			}
			dg, err := dec.Decode(b)
			w.mu.Lock()
			w.datagrams++
			if err != nil {
				w.undecodable++
				w.mu.Unlock()
				continue
			}
			for _, s := range dg.Samples {
				flow := s.Tag == sflow.SampleFlow || s.Tag == sflow.SampleFlowExpanded
				key := fmt.Sprintf("%v/%d:%d", flow, s.SourceIDType, s.SourceIDIndex)
				if prev, ok := w.last[key]; ok && s.SequenceNumber <= prev {
					w.backwards = append(w.backwards, fmt.Sprintf("%s sequence %d -> %d", key, prev, s.SequenceNumber))
				}
				w.last[key] = s.SequenceNumber
				if flow {
					w.flows++
					if prev, ok := w.pool[key]; ok && s.SamplePool < prev {
						w.backwards = append(w.backwards, fmt.Sprintf("%s sample_pool %d -> %d", key, prev, s.SamplePool))
					}
					w.pool[key] = s.SamplePool
				}
			}
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *faultWatch) finish() {
	close(w.stop)
	<-w.done
}

// hostile returns n truncated or byte-flipped copies of the datagrams OVS
// really sent (the OVS capture), deterministically.
func hostile(t *testing.T, n int) [][]byte {
	t.Helper()
	pkts, err := capture.ReadFile(testutil.Capture(t, "ovs-3.1-userspace-netdev.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(17, 3))
	out := make([][]byte, 0, n)
	for i := range n {
		b := append([]byte(nil), pkts[i%len(pkts)].Payload...)
		switch i % 3 {
		case 0: // truncated
			b = b[:rng.IntN(len(b))]
		default: // one to four bytes flipped
			for range 1 + rng.IntN(4) {
				b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
			}
		}
		out = append(out, b)
	}
	return out
}

var targetsRE = regexp.MustCompile(`"127\.0\.0\.1:(\d+)"`)

// TestIntegrationOVSFaults is the reliability scenario of issue 17, with
// real ovsdb-server and ovs-vswitchd and ping traffic across the bridge:
// 6,000 hostile datagrams on the intake, an ovsdb-server restart while
// ovs-vswitchd is paused (so gwd sees the ports without ifindex first), and
// a second gwd (another run directory, as in another container) against the
// same OVSDB. The collector sees no undecodable datagram, no sequence
// number or sample_pool going backwards, at most twice the flow samples the
// pings make; the sFlow row changes fewer than 5 times while the second gwd
// runs; the first gwd exports throughout.
func TestIntegrationOVSFaults(t *testing.T) {
	testbed.Integration(t)
	bin := gwdBinary(t)
	o := testbed.StartOVS(t, true)
	o.AddBridge(t, "br0")
	o.AddNamespacePort(t, "br0", "gwfa", "nsfa", "10.92.0.1/24")
	o.AddNamespacePort(t, "br0", "gwfb", "nsfb", "10.92.0.2/24")
	c := testutil.NewCollector(t)
	cfg := ovsConfig(t, o, c.Port(), "")
	p := start(t, bin, "run", "--config", cfg)
	var intake string
	testutil.Eventually(t, 15*time.Second, func() error {
		m := targetsRE.FindStringSubmatch(o.Vsctl(t, "--columns=targets", "list", "sflow"))
		if m == nil {
			return fmt.Errorf("no sFlow row with gwd's intake yet\n%s", p.output())
		}
		intake = "127.0.0.1:" + m[1]
		return nil
	})
	w := watchFaults(c)
	pings := o.PingFor(t, "nsfa", "10.92.0.2", 45*time.Second)

	// 1. 6,000 hostile datagrams, from loopback, in bursts.
	time.Sleep(3 * time.Second)
	conn, err := net.Dial("udp", intake)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range hostile(t, 6000) {
		conn.Write(b)
		if i%200 == 199 {
			time.Sleep(20 * time.Millisecond) // bounded bursts, as a flood from one socket
		}
	}
	conn.Close()
	time.Sleep(3 * time.Second)

	// 2. ovsdb-server restarts while ovs-vswitchd is paused: gwd reconnects
	// first and sees the ports without their ifindex.
	o.Signal(t, "ovs-vswitchd", syscall.SIGSTOP)
	o.RestartOVSDB(t)
	time.Sleep(3 * time.Second)
	o.Signal(t, "ovs-vswitchd", syscall.SIGCONT)
	time.Sleep(5 * time.Second)

	// 3. A second gwd on the same OVSDB (another run directory: another
	// container): the row must not flap.
	w.mu.Lock()
	flowsBefore := w.flows
	w.mu.Unlock()
	c2 := testutil.NewCollector(t)
	second := start(t, bin, "run", "--config", ovsConfig(t, o, c2.Port(), ""), "--run-dir", t.TempDir())
	changes, lastRow := 0, ""
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		row := o.Vsctl(t, "--columns=_uuid,targets,agent,external_ids", "list", "sflow")
		if lastRow != "" && row != lastRow {
			changes++
		}
		lastRow = row
	}
	second.stop(t)
	sent, received := pings()
	time.Sleep(2 * time.Second)
	w.finish()

	w.mu.Lock()
	defer w.mu.Unlock()
	t.Logf("collector: %d datagrams, %d flow samples; pings %d sent, %d received; row changes while the second gwd ran: %d",
		w.datagrams, w.flows, sent, received, changes)
	if w.undecodable > 0 {
		t.Errorf("%d datagrams from gwd did not decode", w.undecodable)
	}
	if len(w.backwards) > 0 {
		t.Errorf("%d times something went backwards, e.g. %s", len(w.backwards), strings.Join(w.backwards[:min(5, len(w.backwards))], "; "))
	}
	// Sampling 1 in 1: each request and each reply is one flow sample at
	// its ingress port; ARP adds a few.
	if limit := 2*(sent+received) + 20; w.flows > limit {
		t.Errorf("%d flow samples relayed, more than twice what the pings made (%d)", w.flows, limit)
	}
	if w.flows == 0 || received == 0 {
		t.Errorf("no flow samples (%d) or no ping replies (%d)", w.flows, received)
	}
	if w.flows <= flowsBefore {
		t.Errorf("the first gwd relayed no flow sample while the second ran (%d before, %d after)", flowsBefore, w.flows)
	}
	if changes >= 5 {
		t.Errorf("the sFlow row changed %d times while a second gwd ran", changes)
	}
	if strings.Contains(p.output(), "panic") {
		t.Errorf("gwd panicked:\n%s", p.output())
	}
}

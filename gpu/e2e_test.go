//go:build cgo

package gpu

import (
	"context"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"gwd/agent"
	"gwd/internal/testutil"
	"gwd/sflow"
	"gwd/sflow/sflowfmt"
)

// e2eAgent is a real agent polling every second, sending to a UDP
// collector on a free loopback port.
func e2eAgent(t *testing.T) (*agent.Agent, *testutil.Collector, *testutil.SyncBuffer) {
	t.Helper()
	c := testutil.NewCollector(t)
	log, logs := testLog()
	a, err := agent.New(agent.Config{
		Polling:    time.Second,
		Address:    agent.AddressConfig{IP: netip.MustParseAddr("192.0.2.7")},
		Collectors: []agent.CollectorConfig{{Addr: c.Addr}},
	}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	return a, c, logs
}

// sampleText is the sflowtool-style text of one counter sample.
type sampleText struct {
	source string
	text   string
}

// collect reads datagrams until done says it has what it wants, and
// returns the text of every counter sample seen, printed as `gwd decode`
// prints it.
func collect(t *testing.T, c *testutil.Collector, done func([]sampleText) bool) []sampleText {
	t.Helper()
	var d sflow.Decoder
	var out []sampleText
	buf := make([]byte, 65536)
	deadline := time.Now().Add(15 * time.Second)
	for !done(out) {
		if time.Now().After(deadline) {
			t.Fatalf("no matching samples within 15 s; got:\n%v", out)
		}
		c.Conn.SetReadDeadline(deadline)
		n, from, err := c.Conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("collector: %v", err)
		}
		dg, err := d.Decode(buf[:n])
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		text := string(sflowfmt.AppendText(nil, &sflowfmt.Meta{Source: from, Size: n, Received: time.Now()}, dg, nil))
		for _, s := range strings.Split(text, "startSample ")[1:] {
			m := regexp.MustCompile(`(?m)^sourceId (\S+)$`).FindStringSubmatch(s)
			if m != nil && strings.Contains(s, "COUNTERSSAMPLE") {
				out = append(out, sampleText{source: m[1], text: s})
			}
		}
	}
	return out
}

// nvmlLines are the nvml_* lines of a sample, by key.
func nvmlLines(s string) map[string]uint64 {
	out := map[string]uint64{}
	for _, l := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(l, " ")
		if !ok || !strings.HasPrefix(k, "nvml_") {
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			continue
		}
		out[k] = n
	}
	return out
}

// TestEndToEndDecode runs the source on eight mock A100s inside a real
// agent and reads back what a collector gets: the 5703:1 aggregate on the
// host sample 2:1 and one record per GPU on 2:2000-2:2007, as `gwd decode`
// prints them.
func TestEndToEndDecode(t *testing.T) {
	a, conn, logs := e2eAgent(t)
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	b := newBox(dgxSims()...)
	// Energy grows by (i+1) J per read: deterministic per sample.
	for i, d := range b.devs {
		s := b.sims[i]
		d.GetTotalEnergyConsumptionFunc = func() (uint64, nvml.Return) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.energy += uint64(i+1) * 1000
			return s.energy, nvml.SUCCESS
		}
	}
	// A fanless GPU: a lasting health entry, which must be logged once
	// although nine data sources are polled at different seconds.
	b.sims[0].fail("fan", nvml.ERROR_NOT_SUPPORTED)
	log, _ := testLog()
	src := newWith(fromNVML(b), Config{PerGPU: true}, log)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := src.Start(ctx, a); err != nil {
		t.Fatal(err)
	}
	go a.Run(ctx)

	// Wait until the host sample carries at least two seconds of samples.
	samples := collect(t, conn, func(ss []sampleText) bool {
		perGPU := map[string]bool{}
		hostOK := false
		for _, s := range ss {
			if s.source == "2:1" && nvmlLines(s.text)["nvml_gpu_mS"] >= 2*2800 {
				hostOK = true
			}
			if strings.HasPrefix(s.source, "2:200") {
				perGPU[s.source] = true
			}
		}
		return hostOK && len(perGPU) == 8
	})
	var host map[string]uint64
	for _, s := range samples {
		if s.source == "2:1" {
			host = nvmlLines(s.text)
		}
	}
	fixed := map[string]uint64{
		"nvml_device_count":    8,
		"nvml_processes":       16,
		"nvml_mem_bytes_total": 8 * 40 * gib,
		"nvml_mem_bytes_free":  36 * gib,
		"nvml_ecc_errors":      28,
		"nvml_temperature_C":   44,
		"nvml_fan_speed_pc":    47,
	}
	for k, want := range fixed {
		if host[k] != want {
			t.Errorf("2:1 %s %d, want %d", k, host[k], want)
		}
	}
	// Counters: whole seconds of 2800 ms gpu time, 1400 ms memory time,
	// 36 J (each sample's energy delta, whatever the timing).
	gpuMS, memMS, energy := host["nvml_gpu_mS"], host["nvml_mem_mS"], host["nvml_energy_mJ"]
	secs := float64(gpuMS) / 2800
	if secs < 2 || float64(memMS) < 1400*secs*0.99 || float64(memMS) > 1400*secs*1.01 {
		t.Errorf("gpu_mS %d mem_mS %d: not 2800:1400 per second", gpuMS, memMS)
	}
	if energy == 0 || energy%36000 != 0 {
		t.Errorf("energy_mJ %d, want a multiple of 36000", energy)
	}
	if len(host) != 10 {
		t.Errorf("%d nvml_* lines on 2:1, want 10:\n%v", len(host), host)
	}
	for _, s := range samples {
		if strings.HasPrefix(s.source, "2:200") {
			g := nvmlLines(s.text)
			i, _ := strconv.Atoi(strings.TrimPrefix(s.source, "2:200"))
			if g["nvml_device_count"] != 1 || g["nvml_temperature_C"] != uint64(30+2*i) || g["nvml_mem_bytes_free"] != uint64(i+1)*gib {
				t.Errorf("%s: %v", s.source, g)
			}
		}
	}
	t.Logf("host sample as gwd decode prints it:\nstartSample %s", samplesBySource(samples, "2:1"))
	wantHealth := "poll 2:1: gpu 0: nvmlDeviceGetFanSpeed: ERROR_NOT_SUPPORTED"
	if h := a.Health(); h[SourceName] != wantHealth || h[PerGPUSourceName] != "" {
		t.Errorf("health %q, want %s=%q and %s healthy", h, SourceName, wantHealth, PerGPUSourceName)
	}
	if n := strings.Count(logs.String(), "source unhealthy"); n != 1 {
		t.Errorf("health logged %d times, want once:\n%s", n, logs)
	}
}

func samplesBySource(ss []sampleText, src string) string {
	for i := len(ss) - 1; i >= 0; i-- {
		if ss[i].source == src {
			return ss[i].text
		}
	}
	return ""
}

// Without the NVIDIA library the agent logs one line naming NVML, the
// health says why, and everything else keeps exporting.
func TestEndToEndNoLibrary(t *testing.T) {
	a, conn, logs := e2eAgent(t)
	a.Register("host", agent.HostSource, agent.PollerFunc(func(recs []sflow.Record) ([]sflow.Record, error) {
		return append(recs, &sflow.HostDescr{Hostname: []byte("box")}), nil
	}))
	m := bareInterface(nvml.ERROR_LIBRARY_NOT_FOUND)
	src := newWith(fromNVML(m), Config{PerGPU: true}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := src.Start(ctx, a); err == nil {
		t.Fatal("Start succeeded without a library")
	}
	go a.Run(ctx)
	samples := collect(t, conn, func(ss []sampleText) bool { return len(ss) >= 2 })
	for _, s := range samples {
		if strings.Contains(s.text, "nvml_") {
			t.Errorf("nvml record sent without NVML:\n%s", s.text)
		}
	}
	cancel()
	time.Sleep(100 * time.Millisecond)
	if got := a.Health()[SourceName]; !strings.Contains(got, "NVML unavailable") || !strings.Contains(got, "ERROR_LIBRARY_NOT_FOUND") {
		t.Errorf("health %q", got)
	}
	var nvmlLines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "NVML") {
			nvmlLines = append(nvmlLines, l)
		}
	}
	if len(nvmlLines) != 1 {
		t.Errorf("NVML named on %d log lines, want 1:\n%s", len(nvmlLines), logs.String())
	} else {
		t.Logf("the one log line: %s", nvmlLines[0])
	}
}

package sample

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"gwd/config"
	"gwd/internal/app"
	"gwd/internal/testbed"
)

// TestIntegrationModulesHsflowdConf starts the nflog and pcap modules the
// way `gwd run` does, from hsflowd.conf blocks, inside namespace a (where
// a real iptables rule logs pings to group 5), and sees both export flow
// samples of b's pings on va: nflog at 2 x 2 = 4 (rule 1/2, then 1 in 2 by
// gwd), pcap at its configured 1 in 2.
func TestIntegrationModulesHsflowdConf(t *testing.T) {
	testbed.Integration(t)
	testbed.NeedCommand(t, "iptables")
	testbed.NeedCommand(t, "ping")
	a, b, va := twoNamespaces(t)
	a.Exec(t, "iptables", "-w", "-A", "INPUT", "-i", "va", "-p", "icmp", "-m", "statistic", "--mode", "random",
		"--probability", "0.5", "-j", "NFLOG", "--nflog-group", "5")
	conf := `sflow {
  sampling = 4
  collector { ip = 127.0.0.1 }
  nflog { group = 5 probability = 0.5 }
  pcap { dev = va sampling = 2 }
}
`
	mods := []app.Module{NFLOG, Pcap, Psample, Dropmon}
	cfg, err := config.Parse("hsflowd.conf", []byte(conf), app.Sections(mods)...)
	if err != nil {
		t.Fatal(err)
	}
	ag, col := testAgent(t)
	rt := app.New(mods, ag, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	a.Do(t, func() error { return rt.Start(ctx, cfg) })
	t.Cleanup(func() { cancel(); rt.Wait(5 * time.Second) })
	running := map[string]bool{}
	for _, st := range rt.Status() {
		running[st.Name] = st.Running
	}
	if !running["nflog"] || !running["pcap"] || running["psample"] || running["dropmon"] {
		t.Fatalf("running: %v, want nflog and pcap only", running)
	}
	b.Exec(t, "ping", "-q", "-c", "100", "-i", "0.01", "-W", "1", "10.99.0.1")
	rates := map[uint32]int{}
	deadline := time.Now().Add(10 * time.Second)
	// Echo requests: P(fewer than 5 of 100 at 1/4, or fewer than 20 of
	// 100 at 1/2) is below 1e-6.
	for (rates[4] < 5 || rates[2] < 20) && time.Now().Before(deadline) {
		for _, s := range collect(t, col, 1, time.Second) {
			if s.SourceIDIndex != va || s.header == nil {
				t.Errorf("sample from %d:%d, header %v", s.SourceIDType, s.SourceIDIndex, s.header != nil)
				continue
			}
			h := s.header.Header
			if len(h) >= 14+20+1 && h[14+9] == 1 && h[14+20] == 8 && s.Input.Value == va {
				rates[s.SamplingRate]++
			}
		}
	}
	if rates[4] < 5 || rates[2] < 20 || len(rates) != 2 {
		t.Fatalf("echo request samples by rate: %v, want nflog's at 4 and pcap's at 2", rates)
	}
}

package sample

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/google/nftables"

	"gwd/internal/testbed"
	"gwd/sflow"
)

// twoNamespaces makes namespaces a and b joined by veth va (10.99.0.1 in a)
// <-> vb (10.99.0.2 in b) and returns them with va's ifIndex.
func twoNamespaces(t *testing.T) (a, b *testbed.Netns, va uint32) {
	t.Helper()
	a, b = testbed.NewNetns(t), testbed.NewNetns(t)
	a.VethTo(t, "va", b, "vb")
	a.IP(t, "addr", "add", "10.99.0.1/24", "dev", "va")
	b.IP(t, "addr", "add", "10.99.0.2/24", "dev", "vb")
	return a, b, a.IfIndex(t, "va")
}

// TestIntegrationNFLOG samples pings from namespace b arriving in a through
// a real iptables NFLOG rule with random sampling (probability 1/2); gwd,
// with the NFLOG socket opened in a, exports 0:1 flow samples of ICMP echo
// requests with va's ifIndex as input and data source, and rate 2.
func TestIntegrationNFLOG(t *testing.T) {
	testbed.Integration(t)
	testbed.NeedCommand(t, "iptables")
	testbed.NeedCommand(t, "ping")
	a, b, va := twoNamespaces(t)
	const group = 7
	a.Exec(t, "iptables", "-w", "-A", "INPUT", "-i", "va", "-p", "icmp", "--icmp-type", "echo-request",
		"-m", "statistic", "--mode", "random", "--probability", "0.5",
		"-j", "NFLOG", "--nflog-group", fmt.Sprint(group))

	ag, col := testAgent(t)
	var src *NFLOGSource
	a.Do(t, func() error {
		var err error
		src, err = OpenNFLOG(NFLOGConfig{Group: group, Probability: 0.5, Rate: 2, HeaderBytes: 128}, slog.New(slog.DiscardHandler))
		return err
	})
	if src.Rate() != 2 {
		t.Fatalf("rate = %d, want 2 (rule 1 in 2, wanted 2: no sub-sampling)", src.Rate())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	if err := src.Run(ctx, ag, done); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-done })

	const pings = 60
	b.Exec(t, "ping", "-q", "-c", fmt.Sprint(pings), "-i", "0.01", "-W", "1", "10.99.0.1")
	// P(fewer than 10 of 60 sampled at 1/2) is below 1e-7.
	got := collect(t, col, 10, 10*time.Second)
	if len(got) < 10 {
		t.Fatalf("%d flow samples after %d pings at 1/2, want >= 10", len(got), pings)
	}
	var lastPool uint32
	for i, s := range got {
		if s.SourceIDType != 0 || s.SourceIDIndex != va {
			t.Errorf("sample %d: source %d:%d, want 0:%d", i, s.SourceIDType, s.SourceIDIndex, va)
		}
		if s.Input.Value != va || s.SamplingRate != 2 {
			t.Errorf("sample %d: input %d rate %d, want %d and 2", i, s.Input.Value, s.SamplingRate, va)
		}
		if s.SamplePool < lastPool+2 {
			t.Errorf("sample %d: pool %d after %d", i, s.SamplePool, lastPool)
		}
		lastPool = s.SamplePool
		if i > 0 && s.SequenceNumber != got[i-1].SequenceNumber+1 {
			t.Errorf("sample %d: sequence %d after %d", i, s.SequenceNumber, got[i-1].SequenceNumber)
		}
		checkICMPEcho(t, i, s.header, netip.MustParseAddr("10.99.0.2"), netip.MustParseAddr("10.99.0.1"))
	}
	if lastPool > 4*pings+40 {
		t.Errorf("pool %d: more than va received", lastPool)
	}
}

// checkICMPEcho checks that h is an Ethernet frame carrying an IPv4 ICMP
// echo request from src to dst.
func checkICMPEcho(t *testing.T, i int, h *sflow.SampledHeader, src, dst netip.Addr) {
	t.Helper()
	if h == nil {
		t.Errorf("sample %d: no sampled header", i)
		return
	}
	if h.Protocol != protoEthernet || len(h.Header) < 14+20+8 {
		t.Errorf("sample %d: header protocol %d, %d bytes", i, h.Protocol, len(h.Header))
		return
	}
	eth, ip := h.Header[:14], h.Header[14:]
	if binary.BigEndian.Uint16(eth[12:]) != 0x0800 || ip[9] != 1 {
		t.Errorf("sample %d: ethertype %#x proto %d, want IPv4 ICMP", i, binary.BigEndian.Uint16(eth[12:]), ip[9])
		return
	}
	if s, d := netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20])); s != src || d != dst {
		t.Errorf("sample %d: %v -> %v, want %v -> %v", i, s, d, src, dst)
	}
	if ihl := int(ip[0]&0xf) * 4; ip[ihl] != 8 {
		t.Errorf("sample %d: ICMP type %d, want 8 (echo request)", i, ip[ihl])
	}
	if h.FrameLength != 14+84 {
		t.Errorf("sample %d: frame length %d, want 98 (ping's 84-byte IP packet)", i, h.FrameLength)
	}
}

// TestIntegrationNFLOGInstallRule: asked to, gwd installs its own
// nftables sampling rule (1 in 2 on va) in namespace a, samples the pings
// it logs, and deletes its table when it stops.
func TestIntegrationNFLOGInstallRule(t *testing.T) {
	testbed.Integration(t)
	testbed.NeedCommand(t, "ping")
	a, b, va := twoNamespaces(t)
	ag, col := testAgent(t)
	var src *NFLOGSource
	a.Do(t, func() error {
		var err error
		src, err = OpenNFLOG(NFLOGConfig{Group: 9, Probability: 0.5, Rate: 2, HeaderBytes: 128,
			InstallRule: true, Interfaces: []string{"va"}}, slog.New(slog.DiscardHandler))
		return err
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	if err := src.Run(ctx, ag, done); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cancel()
			<-done
		}
	})
	b.Exec(t, "ping", "-q", "-c", "60", "-i", "0.01", "-W", "1", "10.99.0.1")
	got := collect(t, col, 10, 10*time.Second)
	if len(got) < 10 {
		t.Fatalf("%d flow samples after 60 pings at 1/2, want >= 10", len(got))
	}
	for i, s := range got {
		if s.Input.Value != va || s.SamplingRate != 2 {
			t.Errorf("sample %d: input %d rate %d", i, s.Input.Value, s.SamplingRate)
		}
	}
	if !hasTable(t, a) {
		t.Fatal("table inet gwd_sample not found while running")
	}
	cancel()
	<-done
	stopped = true
	if hasTable(t, a) {
		t.Error("table inet gwd_sample left behind after stop")
	}
}

// hasTable says whether namespace ns has gwd's nftables table.
func hasTable(t *testing.T, ns *testbed.Netns) bool {
	t.Helper()
	found := false
	ns.Do(t, func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
		if err != nil {
			return err
		}
		for _, tb := range tables {
			found = found || tb.Name == nftTable
		}
		return nil
	})
	return found
}

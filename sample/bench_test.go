package sample

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	nflog "github.com/florianl/go-nflog/v2"
	"golang.org/x/sys/unix"

	"gwd/agent"
	"gwd/internal/testutil"
)

// benchAgent is a running agent sending to a loopback collector that
// nobody reads (the kernel drops what overflows its buffer).
func benchAgent(b *testing.B) *agent.Agent {
	b.Helper()
	c := testutil.NewCollector(b)
	a, err := agent.New(agent.Config{Polling: time.Minute, Address: agent.AddressConfig{IP: netip.MustParseAddr("192.0.2.7")},
		Collectors: []agent.CollectorConfig{{Addr: c.Addr}}}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	a.Elect()
	return a
}

// BenchmarkNFLOGToAgent: one NFLOG message (attributes as go-nflog gives
// them) to a flow sample queued in the agent: header rebuild, pool,
// SubmitFlow (enrichers, encoding, packing, sending every ~10 samples).
func BenchmarkNFLOGToAgent(b *testing.B) {
	a := benchAgent(b)
	s := newNFLOGSampler(NFLOGConfig{Probability: 1, Rate: 1, HeaderBytes: 128}, nil)
	ip := ethFrame[14:]
	hw := ethFrame[:14]
	ts := time.Now()
	msg := nflog.Attribute{InDev: ptr[uint32](4), HwHeader: &hw, Payload: &ip, Timestamp: &ts}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := s.handle(&msg, a); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAFPacketToAgent: one packet the BPF filter passed (bytes and
// link-layer address as recvfrom returns them) to a flow sample queued in
// the agent. The recvfrom system call itself is not included.
func BenchmarkAFPacketToAgent(b *testing.B) {
	a := benchAgent(b)
	s := &PacketSocket{cfg: PacketConfig{Device: "bench0", Rate: 1000, HeaderBytes: 128}, ifIndex: 4, b: newBuilder(128)}
	ll := &unix.SockaddrLinklayer{Ifindex: 4, Hatype: unix.ARPHRD_ETHER, Pkttype: unix.PACKET_HOST}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := s.sample(ethFrame, 98, ll, a); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPsampleToAgent: one psample netlink message (attribute bytes)
// decoded and queued in the agent with its four extra records.
func BenchmarkPsampleToAgent(b *testing.B) {
	a := benchAgent(b)
	r := newPsampleReader(PsampleOptions{Group: 1, Ingress: true}, 128, a)
	m := psampleMessage(b, psampleAttrs{in: 7, out: 9, group: 1, rate: 1000, withExtras: true})
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := r.handle(m); err != nil {
			b.Fatal(err)
		}
	}
}

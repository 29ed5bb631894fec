package sample

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"gwd/agent"
	"gwd/internal/testbed"
	"gwd/sflow"
)

// udpCounter counts the samples of UDP packets to one port, by direction.
type udpCounter struct {
	port    uint16
	in, out atomic.Int64
	mu      sync.Mutex
	first   []sflow.Sample
}

func (u *udpCounter) SubmitFlow(ds agent.DataSource, s *sflow.Sample) error {
	h := s.Records[0].(*sflow.SampledHeader).Header
	if len(h) < 14+20+8 || binary.BigEndian.Uint16(h[12:]) != 0x0800 || h[14+9] != 17 {
		return nil
	}
	udp := h[14+int(h[14]&0xf)*4:]
	if binary.BigEndian.Uint16(udp[2:]) != u.port {
		return nil
	}
	if s.Input.Value != 0 {
		u.in.Add(1)
	} else {
		u.out.Add(1)
	}
	u.mu.Lock()
	if len(u.first) < 5 {
		c := *s
		c.Records = nil
		u.first = append(u.first, c)
	}
	u.mu.Unlock()
	return nil
}

// rxPackets is an interface's received-packet counter in a namespace.
func rxPackets(t *testing.T, ns *testbed.Netns, dev string) uint64 {
	t.Helper()
	var links []struct {
		Stats struct {
			RX struct{ Packets uint64 } `json:"rx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal([]byte(ns.IP(t, "-s", "-j", "link", "show", dev)), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -s -j link show %s: %v", dev, err)
	}
	return links[0].Stats.RX.Packets
}

// TestIntegrationAFPacket sends a bounded burst of UDP packets from
// namespace b to a and samples them on va with the kernel BPF program at
// 1 in 10: the number of samples is within 5 binomial standard deviations
// of packets/10, and each is an input sample of va with rate 10.
func TestIntegrationAFPacket(t *testing.T) {
	testbed.Integration(t)
	a, b, va := twoNamespaces(t)
	const n, burst, port = 10, 20000, 9999
	var sock *PacketSocket
	a.Do(t, func() error {
		var err error
		sock, err = OpenPacket(PacketConfig{Device: "va", Rate: n, HeaderBytes: 128})
		return err
	})
	defer sock.Close()
	if sock.IfIndex() != va {
		t.Fatalf("ifIndex %d, want %d", sock.IfIndex(), va)
	}
	count := &udpCounter{port: port}
	stop := make(chan struct{})
	readDone := make(chan struct{})
	stopReader := sync.OnceFunc(func() { close(stop); <-readDone })
	defer stopReader()
	go func() {
		defer close(readDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := sock.readOne(count); err != nil {
				t.Errorf("read: %v", err)
				return
			}
		}
	}()

	// A listener in a, so that a sends no ICMP errors back.
	var sink, conn *net.UDPConn
	a.Do(t, func() error {
		var err error
		sink, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 99, 0, 1), Port: port})
		return err
	})
	defer sink.Close()
	b.Do(t, func() error {
		var err error
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 99, 0, 2)})
		return err
	})
	defer conn.Close()
	to := &net.UDPAddr{IP: net.IPv4(10, 99, 0, 1), Port: port}
	before := rxPackets(t, a, "va")
	payload := make([]byte, 64)
	for i := 0; i < burst; i++ {
		binary.BigEndian.PutUint32(payload, uint32(i))
		if _, err := conn.WriteTo(payload, to); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if i%200 == 199 {
			time.Sleep(2 * time.Millisecond) // stay under the receive backlog
		}
	}
	// Wait for the reader to drain: until the count stops moving.
	for last := int64(-1); last != count.in.Load(); {
		last = count.in.Load()
		time.Sleep(300 * time.Millisecond)
	}
	stopReader()
	received := rxPackets(t, a, "va") - before
	if received < burst*9/10 {
		t.Fatalf("va received %d of %d packets", received, burst)
	}
	p := 1.0 / n
	mean := float64(received) * p
	sd := math.Sqrt(float64(received) * p * (1 - p))
	got := float64(count.in.Load())
	t.Logf("%d packets received, %v sampled at 1/%d (expected %.0f ± %.0f), drops %d", received, got, n, mean, sd, sock.drops)
	if math.Abs(got-mean) > 5*sd {
		t.Errorf("%v samples of %d packets at 1/%d: more than 5 sd (%.1f) from %.0f", got, received, n, sd, mean)
	}
	if count.out.Load() != 0 {
		t.Errorf("%d samples of b's packets as outgoing", count.out.Load())
	}
	for i, s := range count.first {
		if s.Input.Value != va || s.Output.Value != 0 || s.SamplingRate != n || s.SamplePool < n {
			t.Errorf("sample %d: in %d out %d rate %d pool %d", i, s.Input.Value, s.Output.Value, s.SamplingRate, s.SamplePool)
		}
	}
}

// TestIntegrationAFPacketDirection samples a's own sending on va: packets
// leaving the host are output samples (PACKET_OUTGOING), through the agent
// to a collector.
func TestIntegrationAFPacketDirection(t *testing.T) {
	testbed.Integration(t)
	a, _, va := twoNamespaces(t)
	ag, col := testAgent(t)
	var sock *PacketSocket
	a.Do(t, func() error {
		var err error
		sock, err = OpenPacket(PacketConfig{Device: "va", Rate: 1, HeaderBytes: 64})
		return err
	})
	defer sock.Close()
	var conn *net.UDPConn
	a.Do(t, func() error {
		var err error
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 99, 0, 1)})
		return err
	})
	defer conn.Close()
	for i := 0; i < 5; i++ {
		if _, err := conn.WriteTo([]byte("gwd"), &net.UDPAddr{IP: net.IPv4(10, 99, 0, 2), Port: 9}); err != nil {
			t.Fatal(err)
		}
	}
	var out int
	deadline := time.Now().Add(5 * time.Second)
	for out < 5 && time.Now().Before(deadline) {
		if _, err := sock.readOne(ag); err != nil {
			t.Fatal(err)
		}
		for _, s := range collect(t, col, 1, 200*time.Millisecond) {
			if s.header == nil || len(s.header.Header) < 34 || s.header.Header[23] != 17 {
				continue // ARP and the like
			}
			if s.Output.Value != va || s.Input.Value != 0 || s.SourceIDIndex != va || s.SamplingRate != 1 {
				t.Errorf("outgoing sample: in %d out %d source %d rate %d, want out %d", s.Input.Value, s.Output.Value, s.SourceIDIndex, s.SamplingRate, va)
			}
			if s.header.FrameLength != 14+20+8+3 {
				t.Errorf("frame length %d, want 45", s.header.FrameLength)
			}
			out++
		}
	}
	if out < 5 {
		t.Fatalf("%d outgoing UDP samples of 5 sent", out)
	}
}

// TestIntegrationAFPacketDrops: samples the socket had no room for are
// read from PACKET_STATISTICS into the drops field, and counted in the
// pool.
func TestIntegrationAFPacketDrops(t *testing.T) {
	testbed.Integration(t)
	a, b, _ := twoNamespaces(t)
	var sock *PacketSocket
	a.Do(t, func() error {
		var err error
		if sock, err = OpenPacket(PacketConfig{Device: "va", Rate: 1, HeaderBytes: 128}); err != nil {
			return err
		}
		return unix.SetsockoptInt(sock.fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4096) // the kernel's minimum
	})
	defer sock.Close()
	var conn *net.UDPConn
	b.Do(t, func() error {
		var err error
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 99, 0, 2)})
		return err
	})
	defer conn.Close()
	to := &net.UDPAddr{IP: net.IPv4(10, 99, 0, 1), Port: 9}
	for i := 0; i < 500; i++ { // nobody reads the socket meanwhile
		if _, err := conn.WriteTo(make([]byte, 200), to); err != nil {
			t.Fatal(err)
		}
	}
	f := &fakeAgent{}
	for i := 0; i < 100 && len(f.samples) == 0; i++ {
		if _, err := sock.readOne(f); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.samples) == 0 {
		t.Fatal("no sample read")
	}
	s := f.samples[0]
	if s.Drops < 100 || s.SamplePool < s.Drops+1 {
		t.Errorf("drops %d pool %d after 500 packets into a 4 KiB buffer", s.Drops, s.SamplePool)
	}
	t.Logf("drops %d, pool %d", s.Drops, s.SamplePool)
}

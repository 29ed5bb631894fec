package sample

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"gwd/config"
)

// PacketConfig is one interface to sample with AF_PACKET.
type PacketConfig struct {
	Device      string
	Rate        uint32 // 1-in-N, done in the kernel
	Promisc     bool
	HeaderBytes int
}

// PacketSocket is an AF_PACKET socket bound to one interface whose classic
// BPF program passes 1 packet in N (at random) and truncates it to the
// header size: only samples cross into user space.
type PacketSocket struct {
	cfg     PacketConfig
	fd      int
	ifIndex uint32
	b       *builder
	buf     []byte
	pool    uint32
	drops   uint32
	checked time.Time
	taken   uint64
}

// samplingProgram is the BPF program: a random number mod N, 0 passes
// (snap bytes of it), anything else is dropped.
func samplingProgram(n, snap uint32) ([]unix.SockFilter, error) {
	raw, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtRand},
		bpf.ALUOpConstant{Op: bpf.ALUOpMod, Val: max(n, 1)},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0, SkipTrue: 1},
		bpf.RetConstant{Val: snap},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		return nil, err
	}
	out := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// OpenPacket opens the socket in the calling thread's network namespace.
// A missing interface is app.ErrAbsent.
func OpenPacket(cfg PacketConfig) (*PacketSocket, error) {
	ifc, err := net.InterfaceByName(cfg.Device)
	if err != nil {
		return nil, absent("modules.pcap: interface "+cfg.Device, err)
	}
	if cfg.Rate == 0 {
		return nil, fmt.Errorf("modules.pcap: %s: sampling rate 0", cfg.Device)
	}
	// Protocol 0: nothing is queued until bind, after the filter is on.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("modules.pcap: AF_PACKET socket needs CAP_NET_RAW: %w", err)
		}
		return nil, fmt.Errorf("modules.pcap: AF_PACKET socket: %w", err)
	}
	s := &PacketSocket{cfg: cfg, fd: fd, ifIndex: uint32(ifc.Index), b: newBuilder(cfg.HeaderBytes),
		buf: make([]byte, cfg.HeaderBytes+64)}
	fail := func(what string, err error) (*PacketSocket, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("modules.pcap: %s: %s: %w", cfg.Device, what, err)
	}
	prog, err := samplingProgram(cfg.Rate, uint32(cfg.HeaderBytes))
	if err != nil {
		return fail("BPF program", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fail("attaching the sampling filter", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index}); err != nil {
		return fail("bind", err)
	}
	if cfg.Promisc {
		mr := unix.PacketMreq{Ifindex: int32(ifc.Index), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mr); err != nil {
			return fail("promiscuous mode", err)
		}
	}
	tv := unix.NsecToTimeval((250 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fail("receive timeout", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	return s, nil
}

// Close closes the socket.
func (s *PacketSocket) Close() error { return unix.Close(s.fd) }

// IfIndex is the sampled interface's ifIndex.
func (s *PacketSocket) IfIndex() uint32 { return s.ifIndex }

// readOne waits (up to the socket's timeout) for one sample and submits
// it; it returns false on a timeout.
func (s *PacketSocket) readOne(to Submitter) (bool, error) {
	n, from, err := unix.Recvfrom(s.fd, s.buf, unix.MSG_TRUNC)
	if err != nil {
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			s.stats(false)
			return false, nil
		}
		return false, err
	}
	ll, _ := from.(*unix.SockaddrLinklayer)
	s.stats(true)
	return true, s.sample(s.buf[:min(n, len(s.buf))], uint32(n), ll, to)
}

// sample submits one packet the filter passed; frame is its length.
func (s *PacketSocket) sample(data []byte, frame uint32, ll *unix.SockaddrLinklayer, to Submitter) error {
	p := packet{header: data, frameLen: frame, rate: s.cfg.Rate, protocol: protoEthernet}
	if ll != nil && ll.Pkttype == unix.PACKET_OUTGOING {
		p.out = s.ifIndex
	} else {
		p.in = s.ifIndex
	}
	if ll != nil && ll.Hatype != unix.ARPHRD_ETHER && ll.Hatype != unix.ARPHRD_LOOPBACK {
		if pr := ipProtocol(data); pr != 0 {
			p.protocol = pr
		}
	}
	s.pool += s.cfg.Rate
	p.pool, p.drops = s.pool, s.drops
	s.taken++
	return s.b.submit(to, &p)
}

// stats reads the socket's drop counter (reset by each read) at most once
// a second, or now when force.
func (s *PacketSocket) stats(sampled bool) {
	now := time.Now()
	if sampled && now.Sub(s.checked) < time.Second {
		return
	}
	s.checked = now
	st, err := unix.GetsockoptTpacketStats(s.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err == nil && st.Drops > 0 {
		s.drops += st.Drops
		s.pool += st.Drops * s.cfg.Rate
	}
}

// runPackets reads every socket on its own goroutine until ctx ends, then
// closes them and done.
func runPackets(ctx context.Context, socks []*PacketSocket, to Submitter, log *slog.Logger, done chan struct{}) {
	var wg sync.WaitGroup
	for _, s := range socks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.Close()
			last := ""
			for ctx.Err() == nil {
				if _, err := s.readOne(to); err != nil && err.Error() != last {
					last = err.Error()
					log.Warn("pcap sample", "dev", s.cfg.Device, "err", err)
				}
			}
		}()
	}
	wg.Wait()
	close(done)
}

// linkSpeed is an interface's speed from sysfs, 0 when unknown.
func linkSpeed(sysRoot, dev string) config.Speed {
	b, err := os.ReadFile(filepath.Join(sysRoot, "class/net", dev, "speed"))
	if err != nil {
		return 0
	}
	mbps, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || mbps <= 0 {
		return 0
	}
	return config.Speed(mbps) * 1_000_000
}

package host

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// linkStats are the kernel's 64-bit counters of one link
// (struct rtnl_link_stats64, include/uapi/linux/if_link.h). have says which
// of the optional ones the source knew (the sysfs reader can miss files).
type linkStats struct {
	v    [numStats]uint64
	have [numStats]bool
}

// Indexes into linkStats, in rtnl_link_stats64 order.
const (
	lsRxPackets = iota
	lsTxPackets
	lsRxBytes
	lsTxBytes
	lsRxErrors
	lsTxErrors
	lsRxDropped
	lsTxDropped
	lsMulticast
	lsCollisions
	lsRxLengthErrors
	lsRxOverErrors
	lsRxCRCErrors
	lsRxFrameErrors
	lsRxFIFOErrors
	lsRxMissedErrors
	lsTxAbortedErrors
	lsTxCarrierErrors
	lsTxFIFOErrors
	lsTxHeartbeatErrors
	lsTxWindowErrors
	lsRxCompressed
	lsTxCompressed
	lsRxNoHandler
	numStats
)

// statFileNames are the sysfs statistics files of the same counters.
var statFileNames = [numStats]string{
	"rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_errors", "tx_errors", "rx_dropped", "tx_dropped",
	"multicast", "collisions", "rx_length_errors", "rx_over_errors", "rx_crc_errors", "rx_frame_errors",
	"rx_fifo_errors", "rx_missed_errors", "tx_aborted_errors", "tx_carrier_errors", "tx_fifo_errors",
	"tx_heartbeat_errors", "tx_window_errors", "rx_compressed", "tx_compressed", "rx_nohandler",
}

// requiredStats must be readable for if_counters.
var requiredStats = []int{lsRxBytes, lsRxPackets, lsMulticast, lsRxDropped, lsRxErrors, lsTxBytes, lsTxPackets, lsTxDropped, lsTxErrors}

// statsMaxAge is how long one dump serves the pollers: the agent polls the
// interfaces due in a second one after the other, and they share a dump.
const statsMaxAge = 250 * time.Millisecond

// netlinkStats reads the counters of every link of the network namespace
// with one RTM_GETSTATS dump (IFLA_STATS_LINK_64 only, about 200 bytes a
// link), shared by the pollers of one tick. It allocates nothing once its
// buffers have grown.
type netlinkStats struct {
	mu    sync.Mutex
	fd    int
	seq   uint32
	at    time.Time
	stats map[uint32]linkStats
	buf   []byte
	now   func() time.Time
}

func newNetlinkStats() (*netlinkStats, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	n := &netlinkStats{fd: fd, stats: map[uint32]linkStats{}, buf: make([]byte, 64<<10), now: time.Now}
	if err := n.dump(); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return n, nil
}

// get returns the counters of ifIndex from a dump at most statsMaxAge
// old; ok is false when the link is not in it (gone).
func (n *netlinkStats) get(ifIndex uint32) (s linkStats, ok bool, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if now := n.now(); now.Sub(n.at) > statsMaxAge || now.Before(n.at) {
		if err := n.dump(); err != nil {
			return s, false, err
		}
	}
	s, ok = n.stats[ifIndex]
	return s, ok, nil
}

func (n *netlinkStats) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fd >= 0 {
		unix.Close(n.fd)
		n.fd = -1
	}
}

// Netlink constants not in x/sys/unix.
const (
	rtmNewStats      = 92 // RTM_NEWSTATS
	rtmGetStats      = 94 // RTM_GETSTATS
	iflaStatsLink64  = 1  // IFLA_STATS_LINK_64
	ifStatsMsgLen    = 12 // struct if_stats_msg
	nlmsgHdrLen      = 16
	rtaHdrLen        = 4
	maxDumpMsgs      = 1 << 20 // bounds one dump's loop
	statsFilterLink6 = 1 << (iflaStatsLink64 - 1)
)

// dump replaces n.stats with a fresh RTM_GETSTATS dump. Callers hold mu.
func (n *netlinkStats) dump() error {
	if n.fd < 0 {
		return errors.New("netlink stats: closed")
	}
	n.seq++
	var req [nlmsgHdrLen + ifStatsMsgLen]byte
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], rtmGetStats)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:], n.seq)
	// if_stats_msg: family AF_UNSPEC, pads, ifindex 0 (all), filter_mask
	ne.PutUint32(req[nlmsgHdrLen+8:], statsFilterLink6)
	if err := unix.Sendto(n.fd, req[:], 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink stats: send: %w", err)
	}
	clear(n.stats)
	for msgs := 0; msgs < maxDumpMsgs; {
		nr, _, err := unix.Recvfrom(n.fd, n.buf, 0)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("netlink stats: receive: %w", err)
		}
		done, m, err := n.parse(n.buf[:nr])
		msgs += m
		if err != nil || done {
			n.at = n.now()
			return err
		}
	}
	return errors.New("netlink stats: dump did not end")
}

// parse reads the messages of one receive into n.stats; done is true at
// NLMSG_DONE.
func (n *netlinkStats) parse(b []byte) (done bool, msgs int, err error) {
	ne := binary.NativeEndian
	for len(b) >= nlmsgHdrLen {
		l := int(ne.Uint32(b[0:]))
		typ := ne.Uint16(b[4:])
		seq := ne.Uint32(b[8:])
		if l < nlmsgHdrLen || l > len(b) {
			return true, msgs, errors.New("netlink stats: truncated message")
		}
		msg := b[nlmsgHdrLen:l]
		b = b[min(nlmAlign(l), len(b)):]
		msgs++
		if seq != n.seq {
			continue // a late answer to an earlier request
		}
		switch typ {
		case unix.NLMSG_DONE:
			return true, msgs, nil
		case unix.NLMSG_ERROR:
			if len(msg) >= 4 {
				if e := int32(ne.Uint32(msg)); e != 0 {
					return true, msgs, fmt.Errorf("netlink stats: %w", unix.Errno(-e))
				}
			}
			return true, msgs, nil
		case rtmNewStats:
		default:
			continue
		}
		if len(msg) < ifStatsMsgLen {
			continue
		}
		ifIndex := ne.Uint32(msg[4:])
		attrs := msg[ifStatsMsgLen:]
		for len(attrs) >= rtaHdrLen {
			al := int(ne.Uint16(attrs[0:]))
			at := ne.Uint16(attrs[2:]) & 0x3fff
			if al < rtaHdrLen || al > len(attrs) {
				break
			}
			if at == iflaStatsLink64 {
				n.stats[ifIndex] = statsFromBytes(attrs[rtaHdrLen:al])
			}
			attrs = attrs[min(nlmAlign(al), len(attrs)):]
		}
	}
	return false, msgs, nil
}

func nlmAlign(n int) int { return (n + 3) &^ 3 }

// statsFromBytes reads a struct rtnl_link_stats64 of any kernel's length:
// the counters it holds are known, the ones it predates are not.
func statsFromBytes(b []byte) linkStats {
	var s linkStats
	for i := 0; i < numStats && 8*(i+1) <= len(b); i++ {
		s.v[i] = binary.NativeEndian.Uint64(b[8*i:])
		s.have[i] = true
	}
	return s
}

// ethStats are the counters ethernet_counters is made of.
var ethStats = []int{lsRxFrameErrors, lsRxCRCErrors, lsTxHeartbeatErrors, lsTxWindowErrors, lsTxAbortedErrors,
	lsTxFIFOErrors, lsTxCarrierErrors, lsRxLengthErrors, lsRxFIFOErrors, lsRxOverErrors}

// readStatFiles reads the counters from Sys/class/net/<if>/statistics/
// (fixtures, or a kernel whose netlink does not answer RTM_GETSTATS).
// ifErr is about the counters if_counters needs, ethErr about
// ethernet_counters' (a file the kernel does not have is unknown, not an
// error).
func readStatFiles(rd *fileReader, statDir string) (s linkStats, ifErr, ethErr error) {
	for _, i := range requiredStats {
		v, err := rd.readUint(statDir, statFileNames[i])
		if err != nil {
			ifErr = err
			break
		}
		s.v[i], s.have[i] = v, true
	}
	if v, ok, err := rd.readOptUint(statDir, statFileNames[lsRxNoHandler]); err == nil && ok {
		s.v[lsRxNoHandler], s.have[lsRxNoHandler] = v, true
	}
	for _, i := range ethStats {
		v, ok, err := rd.readOptUint(statDir, statFileNames[i])
		if err != nil {
			ethErr = err
			break
		}
		s.v[i], s.have[i] = v, ok
	}
	return s, ifErr, ethErr
}

package host

import (
	"errors"
	"fmt"
	"io/fs"
	"sync"

	"golang.org/x/sys/unix"

	"gwd/sflow"
)

// hostPoller is the poller of the host data source 2:1. It owns its record
// structs and read buffers and reuses them on every poll.
type hostPoller struct {
	h  *Host
	mu sync.Mutex
	rd fileReader

	descr    sflow.HostDescr
	adapters sflow.HostAdapters
	cpu      sflow.HostCPU
	mem      sflow.HostMemory
	disk     sflow.HostDiskIO
	net      sflow.HostNetIO
	ip       sflow.MIB2IPGroup
	icmp     sflow.MIB2ICMPGroup
	tcp      sflow.MIB2TCPGroup
	udp      sflow.MIB2UDPGroup

	memFields  map[string]*uint64
	vmFields   map[string]*uint32
	netSNMP    [nGroups]map[string]*uint32
	seenDevs   [][]byte
	mountPaths map[string]string
	statfsBuf  unix.Statfs_t
	errs       []error
}

func newHostPoller(h *Host) *hostPoller {
	p := &hostPoller{h: h, mountPaths: map[string]string{}}
	p.memFields = map[string]*uint64{
		"MemTotal": &p.mem.MemTotal, "MemFree": &p.mem.MemFree, "Shmem": &p.mem.MemShared,
		"Buffers": &p.mem.MemBuffers, "Cached": &p.mem.MemCached,
		"SwapTotal": &p.mem.SwapTotal, "SwapFree": &p.mem.SwapFree,
	}
	p.vmFields = map[string]*uint32{
		"pgpgin": &p.mem.PageIn, "pgpgout": &p.mem.PageOut, "pswpin": &p.mem.SwapIn, "pswpout": &p.mem.SwapOut,
	}
	p.netSNMP = netSNMPFields(&p.ip, &p.icmp, &p.tcp, &p.udp)
	return p
}

// Poll implements agent.Poller: it appends, in this order, host_descr,
// host_adapters, host_cpu, host_memory, host_disk_io, host_net_io and the
// four MIB-2 groups, each read fresh. A record whose source cannot be read
// is left out and its error (naming the file) joined into the returned
// error; the other records are still returned.
func (p *hostPoller) Poll(recs []sflow.Record) ([]sflow.Record, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.h.snap.Load()
	if s == nil {
		s = &snapshot{}
	}
	p.errs = p.errs[:0]
	add := func(r sflow.Record, err error) {
		if err != nil {
			p.errs = append(p.errs, err)
			return
		}
		recs = append(recs, r)
	}
	add(&p.descr, p.pollDescr())
	add(&p.adapters, p.pollAdapters(s))
	add(&p.cpu, p.pollCPU(s.cpuMHz))
	add(&p.mem, p.pollMemory())
	add(&p.disk, p.pollDisk(s))
	add(&p.net, p.pollNetIO(s))
	found, err := p.pollNetSNMP()
	if err != nil {
		p.errs = append(p.errs, err)
	}
	for g, r := range [nGroups]sflow.Record{&p.ip, &p.icmp, &p.tcp, &p.udp} {
		if found[g] {
			recs = append(recs, r)
		}
	}
	if len(p.errs) == 0 {
		return recs, nil
	}
	return recs, errors.Join(p.errs...)
}

// MaxAdapters bounds host_adapters, as hsflowd does (32), so that the host
// sample fits a datagram whatever the number of links.
const MaxAdapters = 32

// pollAdapters fills host_adapters, the way hsflowd chooses them: the
// selected interfaces that are up, have a MAC and are neither switch ports
// nor virtual devices (physical NICs and bonds), lowest ifIndex first, at
// most MaxAdapters of them. Every selected interface still has its own
// 0:ifIndex sample.
func (p *hostPoller) pollAdapters(s *snapshot) error {
	a := p.adapters.Adapters[:0]
	for _, inf := range s.infos {
		if len(a) == MaxAdapters {
			break
		}
		if !inf.Up || len(inf.MAC) != 6 || inf.Kind == kindSwitchPort || inf.Kind == kindVirtual || isZeroMAC(inf.MAC) {
			continue
		}
		if len(a) < cap(a) {
			a = a[:len(a)+1]
		} else {
			a = append(a, sflow.HostAdapter{})
		}
		ad := &a[len(a)-1]
		ad.IfIndex = inf.IfIndex
		ad.MACs = append(ad.MACs[:0], [6]byte(inf.MAC))
	}
	p.adapters.Adapters = a
	return nil
}

func isZeroMAC(m []byte) bool {
	for _, b := range m {
		if b != 0 {
			return false
		}
	}
	return true
}

// pollNetIO fills host_net_io with the sums, over the selected interfaces
// except bond masters, of the same statistics files the interface pollers
// read: rx/tx_bytes (64-bit), rx/tx_packets, rx/tx_errors and
// rx/tx_dropped (low 32 bits of the sums). An interface that vanished
// since the last scan is skipped (and a rescan requested).
func (p *hostPoller) pollNetIO(s *snapshot) error {
	var sum [len(netIOStats)]uint64
	for _, ifp := range s.ifaces {
		if ifp.kind == kindBond {
			continue
		}
		st, err := p.linkStats(ifp)
		if err != nil {
			if isNotExist(err) {
				p.h.requestRescan()
				continue
			}
			return fmt.Errorf("host_net_io: %w", err)
		}
		for i, k := range netIOStats {
			sum[i] += st.v[k]
		}
	}
	p.net = sflow.HostNetIO{
		BytesIn: sum[0], PktsIn: uint32(sum[1]), ErrsIn: uint32(sum[2]), DropsIn: uint32(sum[3]),
		BytesOut: sum[4], PktsOut: uint32(sum[5]), ErrsOut: uint32(sum[6]), DropsOut: uint32(sum[7]),
	}
	return nil
}

// linkStats reads one interface's counters: from the shared netlink dump,
// else from its statistics files (an interface gone from the dump is
// fs.ErrNotExist).
func (p *hostPoller) linkStats(ifp *ifPoller) (linkStats, error) {
	if nl := p.h.nlStats; nl != nil {
		st, ok, err := nl.get(ifp.ifIndex)
		if err == nil && !ok {
			return st, fs.ErrNotExist
		}
		if err == nil {
			return st, nil
		}
	}
	var st linkStats
	for _, k := range netIOStats {
		v, err := p.rd.readUint(ifp.statDir, statFileNames[k])
		if err != nil {
			return st, err
		}
		st.v[k], st.have[k] = v, true
	}
	return st, nil
}

var netIOStats = [...]int{lsRxBytes, lsRxPackets, lsRxErrors, lsRxDropped, lsTxBytes, lsTxPackets, lsTxErrors, lsTxDropped}

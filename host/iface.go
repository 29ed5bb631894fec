package host

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"sync"
	"time"

	"gwd/internal/textscan"
	"gwd/sflow"
)

// Interface kinds.
const (
	kindPhysical   = "physical"
	kindSwitchPort = "switchport"
	kindBond       = "bond"
	kindVirtual    = "virtual"
)

// Linux interface facts (include/uapi/linux/if.h, if_arp.h).
const (
	iffUp         = 0x1
	iffLoopback   = 0x8
	iffPromisc    = 0x100
	usedFlags     = iffUp | iffLoopback | iffPromisc // the flags gwd reads
	arphrdEther   = 1
	arphrdInfini  = 32
	arphrdLoop    = 772
	ifTypeOther   = 1   // IANAifType other
	ifTypeEther   = 6   // ethernetCsmacd
	ifTypeInfini  = 199 // infiniband
	maxPortName   = 255
	sfpRetryAfter = RescanInterval
)

// unknownCounter is how sFlow says a 32-bit counter is not available
// (0xFFFFFFFF, as hsflowd sends for the counters Linux does not keep).
const unknownCounter = 0xFFFFFFFF

// scanInterfaces lists Sys/class/net and returns the selected interfaces
// sorted by ifIndex (see the package doc for the rules).
func (h *Host) scanInterfaces(rd *fileReader) ([]Interface, error) {
	if h.nlStats != nil && h.linkFacts != nil {
		infos, err := h.scanNetlink(rd)
		if err == nil {
			return infos, nil
		}
		h.log.Debug("netlink link dump failed; scanning sysfs", "err", err)
	}
	ents, err := os.ReadDir(h.sys + "class/net")
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var out []Interface
	for _, e := range ents {
		name := e.Name()
		inf, ok := h.probeInterface(rd, name)
		if !ok || !h.nameSelected(name) {
			continue
		}
		out = append(out, inf)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IfIndex < out[j].IfIndex })
	return out, nil
}

func (h *Host) nameSelected(name string) bool {
	if h.cfg.Include != nil && !h.cfg.Include.MatchString(name) {
		return false
	}
	return h.cfg.Exclude == nil || !h.cfg.Exclude.MatchString(name)
}

// probeInterface reads one Sys/class/net entry; ok is false for interfaces
// that are not exported (loopback, virtual devices, unreadable ones).
func (h *Host) probeInterface(rd *fileReader, name string) (Interface, bool) {
	dir := h.sys + "class/net/" + name + "/"
	inf := Interface{Name: name}
	idx, err := rd.readUint(dir, "ifindex")
	if err != nil || idx == 0 || idx > 0xFFFFFFFF {
		return inf, false
	}
	inf.IfIndex = uint32(idx)
	if t, err := rd.readUint(dir, "type"); err == nil {
		inf.Type = uint32(t)
	}
	var flags uint64
	if b, err := rd.read(dir, "flags"); err == nil {
		flags, _ = parseHex(textscan.TrimSpace(b))
	}
	if inf.Type == arphrdLoop || flags&iffLoopback != 0 {
		return inf, false
	}
	switch {
	case exists(dir + "device"):
		inf.Kind = kindPhysical
	case exists(dir + "bonding"):
		inf.Kind = kindBond
	case nonEmpty(rd, dir, "phys_switch_id") || nonEmpty(rd, dir, "phys_port_name"):
		inf.Kind = kindSwitchPort
	case h.cfg.Include != nil && h.cfg.Include.MatchString(name):
		// A virtual device the user named explicitly (veth, tap, vlan...).
		inf.Kind = kindVirtual
	default:
		return inf, false // virtual, not asked for
	}
	if b, err := rd.read(dir, "address"); err == nil {
		if mac, err := net.ParseMAC(string(textscan.TrimSpace(b))); err == nil && len(mac) == 6 {
			inf.MAC = mac
		}
	}
	inf.Up = operUp(rd, dir)
	inf.flags = flags & usedFlags
	inf.Speed, inf.duplex = readSpeedDuplex(rd, dir)
	return inf, true
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// nonEmpty says whether a sysfs attribute reads as a non-empty string
// (phys_port_name and phys_switch_id fail with EOPNOTSUPP when the driver
// has none).
func nonEmpty(rd *fileReader, dir, name string) bool {
	b, err := rd.read(dir, name)
	return err == nil && len(textscan.TrimSpace(b)) > 0
}

// operUp: operstate "up", or "unknown" (drivers that do not track it) with
// carrier 1, which is what `ip link` shows as LOWER_UP.
func operUp(rd *fileReader, dir string) bool {
	b, err := rd.read(dir, "operstate")
	if err != nil {
		return false
	}
	switch string(textscan.TrimSpace(b)) {
	case "up":
		return true
	case "unknown":
		c, err := rd.readUint(dir, "carrier")
		return err == nil && c == 1
	}
	return false
}

// ifPoller is the poller of one interface's data source 0:<ifIndex>.
type ifPoller struct {
	h       *Host
	name    string
	ifIndex uint32
	arphrd  uint32
	kind    string
	mac     net.HardwareAddr
	dir     string // Sys/class/net/<name>/
	statDir string // Sys/class/net/<name>/statistics/

	mu       sync.Mutex
	facts    Interface // flags, state, speed, duplex as of the last scan
	rd       fileReader
	ifc      sflow.IfCounters
	eth      sflow.EthernetCounters
	pn       sflow.PortName
	sfp      sflow.SFP
	eeprom   []byte
	sfpRetry time.Time // no EEPROM read before this (after a failure)
}

func newIfPoller(h *Host, inf Interface) *ifPoller {
	dir := h.sys + "class/net/" + inf.Name + "/"
	p := &ifPoller{
		h: h, name: inf.Name, ifIndex: inf.IfIndex, arphrd: inf.Type, kind: inf.Kind, mac: inf.MAC,
		dir: dir, statDir: dir + "statistics/", facts: inf,
	}
	name := inf.Name
	if len(name) > maxPortName {
		name = name[:maxPortName]
	}
	p.pn.Name = []byte(name)
	return p
}

// setFacts takes the slow-changing facts of a new scan.
func (p *ifPoller) setFacts(inf Interface) {
	p.mu.Lock()
	p.facts = inf
	p.mu.Unlock()
}

func (p *ifPoller) sameIdentity(inf Interface) bool {
	return p.name == inf.Name && p.ifIndex == inf.IfIndex && p.arphrd == inf.Type &&
		p.kind == inf.Kind && bytes.Equal(p.mac, inf.MAC)
}

// Poll implements agent.Poller: if_counters, ethernet_counters (ethernet
// interfaces only), port_name, and sfp when the module EEPROM is readable.
// If the interface is gone (or its ifIndex now belongs to another name) it
// returns nothing, no error, and asks for a rescan.
//
// if_counters, from Sys/class/net/<if>/:
//
//	ifIndex            the kernel ifIndex
//	ifType             6 ethernetCsmacd for type 1 (ethernet, also bonds
//	                   and wifi), 199 infiniband for type 32, else 1 other
//	ifSpeed            speed (Mb/s) * 1e6; -1, unreadable (link down) -> 0
//	ifDirection        duplex: full 1, half 2, else 0
//	ifStatus           bit 0 admin up (flags & IFF_UP), bit 1 oper up
//	                   (operstate "up", or "unknown" with carrier 1)
//	ifInOctets         statistics/rx_bytes (64-bit)
//	ifInUcastPkts      statistics/rx_packets - statistics/multicast: an
//	                   approximation (Linux keeps no unicast count; its
//	                   multicast count often includes broadcasts and may
//	                   come from the NIC, so the difference is floored at 0)
//	ifInMulticastPkts  statistics/multicast
//	ifInBroadcastPkts  unknown (0xFFFFFFFF): Linux does not count them
//	ifInDiscards       statistics/rx_dropped
//	ifInErrors         statistics/rx_errors
//	ifInUnknownProtos  statistics/rx_nohandler (Linux >= 4.6: frames no
//	                   protocol took), else unknown
//	ifOutOctets        statistics/tx_bytes (64-bit)
//	ifOutUcastPkts     statistics/tx_packets (all of them: Linux does not
//	                   split transmitted packets by address type)
//	ifOutMulticastPkts unknown (0xFFFFFFFF)
//	ifOutBroadcastPkts unknown (0xFFFFFFFF)
//	ifOutDiscards      statistics/tx_dropped
//	ifOutErrors        statistics/tx_errors
//	ifPromiscuousMode  flags & IFF_PROMISC: 1, else 0
//
// 32-bit counters are the low 32 bits of the kernel's 64-bit ones.
func (p *ifPoller) Poll(recs []sflow.Record) ([]sflow.Record, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, ifErr, ethErr, gone := p.readStats()
	if gone {
		p.h.requestRescan()
		return recs, nil
	}
	var errs []error
	if ifErr != nil {
		errs = append(errs, fmt.Errorf("if_counters %s: %w", p.name, ifErr))
	} else {
		p.fillIfCounters(&st)
		recs = append(recs, &p.ifc)
	}
	// Ethernet counters (0:2) are physical-layer errors (alignment, FCS,
	// collisions, carrier): a software link (veth, tap, vlan, bridge) has
	// none to count, so it sends if_counters and its name only, as hsflowd
	// does; the 60 bytes saved let a datagram carry 9 such samples, not 7.
	if p.arphrd == arphrdEther && p.kind != kindVirtual {
		if ethErr != nil {
			errs = append(errs, fmt.Errorf("ethernet_counters %s: %w", p.name, ethErr))
		} else {
			p.fillEthernet(&st)
			recs = append(recs, &p.eth)
		}
	}
	recs = append(recs, &p.pn)
	if p.pollSFP() {
		recs = append(recs, &p.sfp)
	}
	if len(errs) == 0 {
		return recs, nil
	}
	return recs, errors.Join(errs...)
}

// readStats reads the interface's counters: from the host's shared
// netlink dump, else from its sysfs statistics files. gone says that the
// interface no longer exists under this ifIndex.
func (p *ifPoller) readStats() (st linkStats, ifErr, ethErr error, gone bool) {
	if nl := p.h.nlStats; nl != nil {
		st, ok, err := nl.get(p.ifIndex)
		if err == nil {
			return st, nil, nil, !ok
		}
		// Fall through to sysfs: the dump failed this once.
	}
	idx, err := p.rd.readUint(p.dir, "ifindex")
	if err != nil || idx != uint64(p.ifIndex) {
		if err == nil || isNotExist(err) {
			return st, nil, nil, true
		}
		return st, err, err, false
	}
	st, ifErr, ethErr = readStatFiles(&p.rd, p.statDir)
	return st, ifErr, ethErr, false
}

func (p *ifPoller) fillIfCounters(st *linkStats) {
	v, f := &st.v, &p.facts
	c := &p.ifc
	*c = sflow.IfCounters{
		IfIndex:          p.ifIndex,
		IfType:           ifTypeOf(p.arphrd),
		InOctets:         v[lsRxBytes],
		InUcastPkts:      uint32(v[lsRxPackets] - min(v[lsMulticast], v[lsRxPackets])),
		InMulticastPkts:  uint32(v[lsMulticast]),
		InBroadcastPkts:  unknownCounter,
		InDiscards:       uint32(v[lsRxDropped]),
		InErrors:         uint32(v[lsRxErrors]),
		InUnknownProtos:  unknownCounter,
		OutOctets:        v[lsTxBytes],
		OutUcastPkts:     uint32(v[lsTxPackets]),
		OutMulticastPkts: unknownCounter,
		OutBroadcastPkts: unknownCounter,
		OutDiscards:      uint32(v[lsTxDropped]),
		OutErrors:        uint32(v[lsTxErrors]),
		IfSpeed:          f.Speed,
		IfDirection:      f.duplex,
	}
	if st.have[lsRxNoHandler] {
		c.InUnknownProtos = uint32(v[lsRxNoHandler])
	}
	if f.flags&iffUp != 0 {
		c.IfStatus |= 1
	}
	if f.Up {
		c.IfStatus |= 2
	}
	if f.flags&iffPromisc != 0 {
		c.PromiscuousMode = 1
	}
}

func ifTypeOf(arphrd uint32) uint32 {
	switch arphrd {
	case arphrdEther:
		return ifTypeEther
	case arphrdInfini:
		return ifTypeInfini
	}
	return ifTypeOther
}

// ethernet_counters from the kernel's statistics files (meanings from the
// kernel's include/uapi/linux/if_link.h, which cites the IEEE 802.3
// attributes). A field with no kernel counterpart is unknown (0xFFFFFFFF);
// a statistics file the kernel does not have also leaves its field unknown.
//
//	dot3Stats field            kernel statistics file(s)
//	AlignmentErrors            rx_frame_errors (frame alignment errors)
//	FCSErrors                  rx_crc_errors
//	SingleCollisionFrames      unknown (Linux counts collisions, not frames
//	MultipleCollisionFrames    unknown  by number of collisions; its total
//	                                    "collisions" has no dot3 field)
//	SQETestErrors              tx_heartbeat_errors
//	DeferredTransmissions      unknown
//	LateCollisions             tx_window_errors (late collisions)
//	ExcessiveCollisions        tx_aborted_errors (aFramesAbortedDueToXSColls)
//	InternalMacTransmitErrors  tx_fifo_errors
//	CarrierSenseErrors         tx_carrier_errors (aCarrierSenseErrors)
//	FrameTooLongs              rx_length_errors (also counts too-short and
//	                           length-field errors: an upper bound)
//	InternalMacReceiveErrors   rx_fifo_errors + rx_over_errors (receive FIFO
//	                           overruns; drivers use the two interchangeably)
//	SymbolErrors               unknown
func (p *ifPoller) fillEthernet(st *linkStats) {
	pick := func(i int) uint32 {
		if !st.have[i] {
			return unknownCounter
		}
		return uint32(st.v[i])
	}
	macRx := uint32(unknownCounter)
	if st.have[lsRxFIFOErrors] || st.have[lsRxOverErrors] {
		macRx = uint32(st.v[lsRxFIFOErrors] + st.v[lsRxOverErrors])
	}
	p.eth = sflow.EthernetCounters{
		AlignmentErrors:           pick(lsRxFrameErrors),
		FCSErrors:                 pick(lsRxCRCErrors),
		SingleCollisionFrames:     unknownCounter,
		MultipleCollisionFrames:   unknownCounter,
		SQETestErrors:             pick(lsTxHeartbeatErrors),
		DeferredTransmissions:     unknownCounter,
		LateCollisions:            pick(lsTxWindowErrors),
		ExcessiveCollisions:       pick(lsTxAbortedErrors),
		InternalMacTransmitErrors: pick(lsTxFIFOErrors),
		CarrierSenseErrors:        pick(lsTxCarrierErrors),
		FrameTooLongs:             pick(lsRxLengthErrors),
		InternalMacReceiveErrors:  macRx,
		SymbolErrors:              unknownCounter,
	}
}

// pollSFP reads and decodes the module EEPROM; false (quietly) when there
// is none, it cannot be read, or it has no diagnostics. After a failure it
// waits sfpRetryAfter before trying again.
func (p *ifPoller) pollSFP() bool {
	if p.h.eeprom == nil || p.arphrd != arphrdEther && p.arphrd != arphrdInfini || p.kind == kindBond || p.kind == kindVirtual {
		return false
	}
	now := time.Now()
	if now.Before(p.sfpRetry) {
		return false
	}
	data, err := p.h.eeprom.ReadModuleEEPROM(p.name, p.eeprom[:0])
	if cap(data) > cap(p.eeprom) {
		p.eeprom = data[:0]
	}
	if err != nil || !decodeModule(data, p.ifIndex, &p.sfp) {
		p.sfpRetry = now.Add(sfpRetryAfter)
		return false
	}
	return true
}

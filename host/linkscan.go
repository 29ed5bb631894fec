package host

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"

	"golang.org/x/sys/unix"

	"gwd/internal/textscan"
)

// The interface scan of a host whose sysfs is the real one reads the links
// with one RTM_GETLINK dump instead of ~10 sysfs files a link (2 s at 4,096
// links on a VM whose file reads cost 50 us). Only speed and duplex, which
// rtnetlink does not carry, come from sysfs, and only for a link that is new
// or had a link event since they were read (linkFactCache).

// rtnetlink attributes of a link (include/uapi/linux/if_link.h).
const (
	iflaAddress       = 1
	iflaIfname        = 3
	iflaOperstate     = 16
	iflaLinkinfo      = 18
	iflaInfoKind      = 1
	iflaExtMask       = 29
	iflaCarrier       = 33
	iflaPhysSwitchID  = 36
	iflaPhysPortName  = 38
	iflaParentDevName = 56
	ifinfomsgLen      = 16
	rtextFilterSkip   = 1 << 3 // RTEXT_FILTER_SKIP_STATS
	operUnknown       = 0      // IF_OPER_UNKNOWN
	operUpState       = 6      // IF_OPER_UP
)

// linkFact is what a scan keeps of a link between scans.
type linkFact struct {
	name   string
	speed  uint64 // bits per second
	duplex uint32
	valid  bool
}

// linkFactCache holds speed and duplex per ifIndex; a link event for a
// link makes its entry stale.
type linkFactCache struct {
	mu sync.Mutex
	m  map[uint32]linkFact
}

func newLinkFactCache() *linkFactCache { return &linkFactCache{m: map[uint32]linkFact{}} }

// invalidate marks ifIndex's facts stale (a link event for it).
func (c *linkFactCache) invalidate(ifIndex uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.m[ifIndex]; ok {
		f.valid = false
		c.m[ifIndex] = f
	}
}

// facts returns speed and duplex of the link, reading sysfs when they are
// stale or the ifIndex now has another name.
func (c *linkFactCache) facts(rd *fileReader, sys string, ifIndex uint32, name string) (uint64, uint32) {
	c.mu.Lock()
	f, ok := c.m[ifIndex]
	c.mu.Unlock()
	if ok && f.valid && f.name == name {
		return f.speed, f.duplex
	}
	f = linkFact{name: name, valid: true}
	f.speed, f.duplex = readSpeedDuplex(rd, sys+"class/net/"+name+"/")
	c.mu.Lock()
	c.m[ifIndex] = f
	c.mu.Unlock()
	return f.speed, f.duplex
}

// forget drops the entries of links that are gone.
func (c *linkFactCache) forget(keep map[uint32]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for idx := range c.m {
		if !keep[idx] {
			delete(c.m, idx)
		}
	}
}

// readSpeedDuplex reads a link's speed (bits per second, 0 when unknown)
// and duplex (ifDirection: 1 full, 2 half, 0 unknown) from sysfs.
func readSpeedDuplex(rd *fileReader, dir string) (speed uint64, duplex uint32) {
	if sp, ok := rd.readOptInt(dir, "speed"); ok && sp > 0 {
		speed = uint64(sp) * 1_000_000
	}
	if b, err := rd.load(dir, "duplex"); err == nil {
		switch string(textscan.TrimSpace(b)) {
		case "full":
			duplex = 1
		case "half":
			duplex = 2
		}
	}
	return speed, duplex
}

// scanNetlink is scanInterfaces over an RTM_GETLINK dump.
func (h *Host) scanNetlink(rd *fileReader) ([]Interface, error) {
	var out []Interface
	seen := map[uint32]bool{}
	err := h.nlStats.dumpLinks(func(msg []byte) {
		inf, ok := parseLink(msg)
		if !ok {
			return
		}
		seen[inf.IfIndex] = true
		if !h.classify(&inf) || !h.nameSelected(inf.Name) {
			return
		}
		inf.Speed, inf.duplex = h.linkFacts.facts(rd, h.sys, inf.IfIndex, inf.Name)
		out = append(out, inf)
	})
	if err != nil {
		return nil, err
	}
	h.linkFacts.forget(seen)
	sort.Slice(out, func(i, j int) bool { return out[i].IfIndex < out[j].IfIndex })
	return out, nil
}

// netlinkLink is what parseLink reads besides Interface's fields.
type netlinkLink struct {
	kind                 string // IFLA_INFO_KIND: "veth", "bond", ...
	parent               bool   // IFLA_PARENT_DEV_NAME: a device under it
	switchID, portName   bool   // IFLA_PHYS_SWITCH_ID, IFLA_PHYS_PORT_NAME
	operstate, carrier   uint8
	hasCarrier, hasState bool
}

// parseLink reads one RTM_NEWLINK message (after the netlink header).
func parseLink(msg []byte) (Interface, bool) {
	var inf Interface
	if len(msg) < ifinfomsgLen {
		return inf, false
	}
	ne := binary.NativeEndian
	inf.Type = uint32(ne.Uint16(msg[2:]))
	inf.IfIndex = ne.Uint32(msg[4:])
	inf.flags = uint64(ne.Uint32(msg[8:])) & usedFlags
	var l netlinkLink
	eachAttr(msg[ifinfomsgLen:], func(typ uint16, v []byte) {
		switch typ {
		case iflaIfname:
			inf.Name = cString(v)
		case iflaAddress:
			if len(v) == 6 {
				inf.MAC = net.HardwareAddr(append([]byte(nil), v...))
			}
		case iflaOperstate:
			if len(v) >= 1 {
				l.operstate, l.hasState = v[0], true
			}
		case iflaCarrier:
			if len(v) >= 1 {
				l.carrier, l.hasCarrier = v[0], true
			}
		case iflaPhysSwitchID:
			l.switchID = len(v) > 0
		case iflaPhysPortName:
			l.portName = len(cString(v)) > 0
		case iflaParentDevName:
			l.parent = len(cString(v)) > 0
		case iflaLinkinfo:
			eachAttr(v, func(t uint16, w []byte) {
				if t == iflaInfoKind {
					l.kind = cString(w)
				}
			})
		}
	})
	if inf.IfIndex == 0 || inf.Name == "" {
		return inf, false
	}
	inf.Up = l.operstate == operUpState || l.operstate == operUnknown && l.hasCarrier && l.carrier == 1
	inf.nl = l
	return inf, true
}

// classify sets Kind by the same rules as probeInterface; false for links
// that are not exported.
func (h *Host) classify(inf *Interface) bool {
	l := inf.nl
	if inf.Type == arphrdLoop || inf.flags&iffLoopback != 0 {
		return false
	}
	switch {
	case l.parent || !l.hasParentAttr() && exists(h.sys+"class/net/"+inf.Name+"/device"):
		inf.Kind = kindPhysical
	case l.kind == "bond":
		inf.Kind = kindBond
	case l.switchID || l.portName:
		inf.Kind = kindSwitchPort
	case h.cfg.Include != nil && h.cfg.Include.MatchString(inf.Name):
		inf.Kind = kindVirtual
	default:
		return false
	}
	return true
}

// hasParentAttr: kernels before 5.16 have no IFLA_PARENT_DEV_NAME; a link
// of a kind (veth, bond, bridge...) never has a parent device, so only a
// link without IFLA_INFO_KIND needs the sysfs check there.
func (l netlinkLink) hasParentAttr() bool { return l.parent || l.kind != "" }

func eachAttr(b []byte, fn func(typ uint16, v []byte)) {
	ne := binary.NativeEndian
	for len(b) >= rtaHdrLen {
		l := int(ne.Uint16(b[0:]))
		if l < rtaHdrLen || l > len(b) {
			return
		}
		fn(ne.Uint16(b[2:])&0x3fff, b[rtaHdrLen:l])
		b = b[min(nlmAlign(l), len(b)):]
	}
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// dumpLinks sends an RTM_GETLINK dump request (without statistics) on the
// stats socket and calls fn with each RTM_NEWLINK message.
func (n *netlinkStats) dumpLinks(fn func(msg []byte)) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fd < 0 {
		return errors.New("netlink links: closed")
	}
	n.seq++
	var req [nlmsgHdrLen + ifinfomsgLen + 8]byte
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.RTM_GETLINK)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:], n.seq)
	a := req[nlmsgHdrLen+ifinfomsgLen:]
	ne.PutUint16(a[0:], 8)
	ne.PutUint16(a[2:], iflaExtMask)
	ne.PutUint32(a[4:], rtextFilterSkip)
	if err := unix.Sendto(n.fd, req[:], 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink links: send: %w", err)
	}
	for msgs := 0; msgs < maxDumpMsgs; {
		nr, _, err := unix.Recvfrom(n.fd, n.buf, 0)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("netlink links: receive: %w", err)
		}
		b := n.buf[:nr]
		for len(b) >= nlmsgHdrLen {
			l := int(ne.Uint32(b[0:]))
			typ := ne.Uint16(b[4:])
			seq := ne.Uint32(b[8:])
			if l < nlmsgHdrLen || l > len(b) {
				return errors.New("netlink links: truncated message")
			}
			msg := b[nlmsgHdrLen:l]
			b = b[min(nlmAlign(l), len(b)):]
			msgs++
			if seq != n.seq {
				continue
			}
			switch typ {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if len(msg) >= 4 {
					if e := int32(ne.Uint32(msg)); e != 0 {
						return fmt.Errorf("netlink links: %w", unix.Errno(-e))
					}
				}
				return nil
			case unix.RTM_NEWLINK:
				fn(msg)
			}
		}
	}
	return errors.New("netlink links: dump did not end")
}

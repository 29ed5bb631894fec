package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"gwd/agent"
)

// SourceName is the source name under which the host registers its pollers.
const SourceName = "host"

// RescanInterval is how often the interface set (and the list of whole
// disks, and cpu_speed) is re-read when netlink link events are not to be
// had; RescanWithEvents how often while they are (they announce interface
// changes at once; disks and cpu_speed have no events), as hsflowd's
// refreshAdaptorListSecs.
const (
	RescanInterval   = 30 * time.Second
	RescanWithEvents = 3 * time.Minute
)

// Config says where the host's files are. Zero values take the defaults.
type Config struct {
	// Proc, Sys and Etc are the procfs, sysfs and /etc roots (host.proc_root,
	// sys_root, etc_root: /proc, /sys, /etc unless configured).
	Proc, Sys, Etc string
	// StateDir keeps the random host UUID when neither /etc/machine-id nor
	// DMI gives one (default /var/lib/gwd).
	StateDir string
	// Root is where the mount points listed in Proc/mounts are found for
	// statfs (default "/"; "/host" when the host's root is mounted there).
	Root string
	// Include, when set, keeps only the interfaces whose name matches, and
	// also selects virtual devices (veth, tap, VLAN...) whose name matches;
	// Exclude drops matching names and wins over Include.
	Include, Exclude *regexp.Regexp
}

func (c *Config) normalize() {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&c.StateDir, "/var/lib/gwd")
	def(&c.Root, "/")
}

// Registrar is the part of the agent the host needs (*agent.Agent
// satisfies it).
type Registrar interface {
	Register(source string, ds agent.DataSource, p agent.Poller)
	Unregister(source string, ds agent.DataSource)
}

// Interface describes one selected interface (for the startup summary and
// the UI). Speed and Up are as of the last scan.
type Interface struct {
	Name    string
	IfIndex uint32
	MAC     net.HardwareAddr // 6 bytes for ethernet, empty when the device has none
	Kind    string           // "physical", "switchport" or "bond"
	Type    uint32           // ARPHRD_* from Sys/class/net/<if>/type (1 ethernet, 32 infiniband)
	Speed   uint64           // bits per second, 0 when unknown
	Up      bool             // operationally up

	flags  uint64      // IFF_* flags
	duplex uint32      // ifDirection: 1 full, 2 half, 0 unknown
	nl     netlinkLink // what an RTM_GETLINK scan read
}

// snapshot is one scan's result; a new one replaces the old atomically.
type snapshot struct {
	ifaces  []*ifPoller         // sorted by ifIndex
	infos   []Interface         // parallel to ifaces
	disks   map[string]struct{} // whole disks (names as in /proc/diskstats)
	diskErr error               // why disks is nil
	cpuMHz  uint32
}

// Host reads the Linux host's counters. Create it with New, then Start it.
type Host struct {
	cfg              Config
	log              *slog.Logger
	proc, sys, etc   string // roots with a trailing "/"
	rootDir          string
	descr            descrInfo
	statfs           statfser
	eeprom           eepromReader
	subscribe        func(ctx context.Context, changed func(uint32)) (<-chan struct{}, error) // link events; nil = none
	linkFacts        *linkFactCache                                                           // netlink scans: speed and duplex per link
	rescanEvery      time.Duration
	rescanSlow       time.Duration // rescanEvery while link events arrive
	hostPoller       *hostPoller
	nlStats          *netlinkStats // nil: counters from sysfs files
	snap             atomic.Pointer[snapshot]
	kick             chan struct{}
	done             chan struct{}
	startOnce        sync.Once
	scanMu           sync.Mutex // serializes scans
	scanRd           fileReader
	cpuRead          time.Time // when scan last read cpu_speed (see cpuSpeedEvery)
	scanErr          string
	registered       map[uint32]*ifPoller
	hostRegistered   bool
	eventsUnavailLog bool
	announced        bool // the first registration pass is done (it logs at debug)
}

// New prepares the host source: it checks that the Proc and Sys roots
// exist, settles the host UUID (see hostUUID) and scans the interfaces once
// so that Interfaces works before Start. log may be nil.
func New(cfg Config, log *slog.Logger) (*Host, error) {
	cfg.normalize()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Etc == "" {
		return nil, errors.New("host: etc root not set")
	}
	for _, d := range []struct{ what, path string }{{"proc", cfg.Proc}, {"sys", cfg.Sys}} {
		st, err := os.Stat(d.path)
		if err != nil {
			return nil, fmt.Errorf("host: %s root: %w", d.what, err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("host: %s root %s is not a directory", d.what, d.path)
		}
	}
	h := &Host{
		cfg:         cfg,
		log:         log,
		proc:        dirSlash(cfg.Proc),
		sys:         dirSlash(cfg.Sys),
		etc:         dirSlash(cfg.Etc),
		rootDir:     filepath.Clean(cfg.Root),
		statfs:      sysStatfs{},
		eeprom:      newEthtoolEEPROM(),
		subscribe:   netlinkLinkEvents,
		rescanEvery: RescanInterval,
		rescanSlow:  RescanWithEvents,
		kick:        make(chan struct{}, 1),
		done:        make(chan struct{}),
		registered:  map[uint32]*ifPoller{},
	}
	if filepath.Clean(cfg.Sys) == "/sys" {
		// The real sysfs is this network namespace's: its links' counters
		// come from one netlink dump per tick instead of ~25 files each.
		if nl, err := newNetlinkStats(); err == nil {
			h.nlStats = nl
			h.linkFacts = newLinkFactCache()
		} else {
			log.Info("link counters from sysfs files: netlink stats dump unavailable", "err", err)
		}
	}
	h.descr = h.loadDescr()
	h.hostPoller = newHostPoller(h)
	h.rescan(nil)
	return h, nil
}

func dirSlash(p string) string {
	p = filepath.Clean(p)
	if p == "/" {
		return p
	}
	return p + "/"
}

// Interfaces lists the selected interfaces as of the last scan, by ifIndex.
func (h *Host) Interfaces() []Interface {
	s := h.snap.Load()
	if s == nil {
		return nil
	}
	out := make([]Interface, len(s.infos))
	copy(out, s.infos)
	return out
}

// UUID returns the host UUID sent in host_descr and where it came from
// ("machine-id", "dmi", "state" or "random").
func (h *Host) UUID() ([16]byte, string) { return h.descr.uuid, h.descr.uuidSource }

// Start registers the host poller on 2:1 and one poller per selected
// interface on 0:<ifIndex> with reg (before it returns), then keeps the
// interface set current in a goroutine (a rescan on netlink link events and
// every RescanInterval) until ctx ends, when it unregisters everything.
// Call it once.
func (h *Host) Start(ctx context.Context, reg Registrar) {
	started := false
	h.startOnce.Do(func() { started = true })
	if !started {
		h.log.Warn("host source started twice; ignoring the second start")
		return
	}
	h.scanMu.Lock()
	reg.Register(SourceName, agent.HostSource, h.hostPoller)
	h.hostRegistered = true
	h.scanMu.Unlock()
	h.rescan(reg)
	n := len(h.snap.Load().ifaces)
	h.log.Info("host source started", "interfaces", n, "uuid_source", h.descr.uuidSource)
	go h.run(ctx, reg)
}

// run is the rescan loop of Start.
func (h *Host) run(ctx context.Context, reg Registrar) {
	defer close(h.done)
	ticker := time.NewTicker(h.rescanEvery)
	defer ticker.Stop()
	var events <-chan struct{}
	subscribe := func() {
		if h.subscribe == nil || ctx.Err() != nil {
			return
		}
		var changed func(uint32)
		if h.linkFacts != nil {
			changed = h.linkFacts.invalidate
		}
		ch, err := h.subscribe(ctx, changed)
		if err != nil {
			if !h.eventsUnavailLog {
				h.eventsUnavailLog = true
				h.log.Info("link events unavailable; rescanning interfaces periodically",
					"every", h.rescanEvery, "err", err)
			}
			return
		}
		events = ch
		ticker.Reset(h.rescanSlow)
	}
	subscribe()
	var settle <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			h.unregisterAll(reg)
			return
		case <-ticker.C:
			h.rescan(reg)
			if events == nil {
				subscribe()
			}
		case _, ok := <-events:
			if !ok {
				events = nil
				ticker.Reset(h.rescanEvery)
				continue
			}
			// Link events come in bursts (a bond with its slaves, a
			// driver reload): let them settle, then rescan once.
			if settle == nil {
				settle = time.After(200 * time.Millisecond)
			}
		case <-settle:
			settle = nil
			h.rescan(reg)
		case <-h.kick:
			h.rescan(reg)
		}
	}
}

// requestRescan asks the run loop for a rescan without blocking.
func (h *Host) requestRescan() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

func (h *Host) unregisterAll(reg Registrar) {
	h.scanMu.Lock()
	defer h.scanMu.Unlock()
	for idx := range h.registered {
		reg.Unregister(SourceName, agent.InterfaceSource(idx))
		delete(h.registered, idx)
	}
	if h.hostRegistered {
		reg.Unregister(SourceName, agent.HostSource)
		h.hostRegistered = false
	}
	h.eeprom.Close()
	if h.nlStats != nil {
		h.nlStats.close()
	}
	h.hostPoller.mu.Lock()
	h.hostPoller.rd.closeKept()
	h.hostPoller.mu.Unlock()
}

// rescan re-reads the interface set (and the slow-changing host facts),
// publishes it, and brings reg's registrations in line (reg may be nil).
func (h *Host) rescan(reg Registrar) {
	h.scanMu.Lock()
	defer h.scanMu.Unlock()
	old := h.snap.Load()
	s, err := h.scan(old)
	if msg := errString(err); msg != h.scanErr {
		h.scanErr = msg
		if err != nil {
			h.log.Warn("interface scan failed; keeping the previous set", "err", err)
		} else {
			h.log.Info("interface scan works again")
		}
	}
	if s == nil {
		return
	}
	h.snap.Store(s)
	if reg == nil {
		return
	}
	now := make(map[uint32]bool, len(s.ifaces))
	for i, p := range s.ifaces {
		now[p.ifIndex] = true
		if h.registered[p.ifIndex] == p {
			continue
		}
		reg.Register(SourceName, agent.InterfaceSource(p.ifIndex), p)
		h.registered[p.ifIndex] = p
		inf := s.infos[i]
		lvl := slog.LevelInfo
		if !h.announced {
			lvl = slog.LevelDebug // the startup summary lists them (Interfaces)
		}
		h.log.Log(context.Background(), lvl, "interface added", "interface", p.name, "ifindex", p.ifIndex,
			"kind", inf.Kind, "speed", inf.Speed, "up", inf.Up)
	}
	h.announced = true
	gone := make([]uint32, 0)
	for idx := range h.registered {
		if !now[idx] {
			gone = append(gone, idx)
		}
	}
	sort.Slice(gone, func(i, j int) bool { return gone[i] < gone[j] })
	for _, idx := range gone {
		p := h.registered[idx]
		reg.Unregister(SourceName, agent.InterfaceSource(idx))
		delete(h.registered, idx)
		h.log.Info("interface removed", "interface", p.name, "ifindex", idx)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// cpuSpeedEvery is how often a scan reads cpu_speed again: /proc/cpuinfo
// is slow to make on a many-core box (the kernel asks every CPU for its
// frequency), and link events, which a hypervisor sees whenever a VM
// starts, bring scans in bursts.
const cpuSpeedEvery = 10 * time.Minute

// scan reads the interface set, the whole-disk set and cpu_speed (at most
// every cpuSpeedEvery). It reuses
// old's pollers for interfaces whose identity did not change. On a failure
// to list interfaces it returns old's interfaces with the error.
func (h *Host) scan(old *snapshot) (*snapshot, error) {
	s := &snapshot{}
	if now := time.Now(); old == nil || now.Sub(h.cpuRead) >= cpuSpeedEvery {
		s.cpuMHz, h.cpuRead = h.readCPUSpeed(&h.scanRd), now
	} else {
		s.cpuMHz = old.cpuMHz
	}
	s.disks, s.diskErr = h.readWholeDisks()
	infos, ierr := h.scanInterfaces(&h.scanRd)
	if ierr != nil {
		if old == nil {
			return s, ierr
		}
		s.ifaces, s.infos = old.ifaces, old.infos
		return s, ierr
	}
	byIndex := map[uint32]*ifPoller{}
	if old != nil {
		for _, p := range old.ifaces {
			byIndex[p.ifIndex] = p
		}
	}
	for _, inf := range infos {
		p := byIndex[inf.IfIndex]
		if p == nil || !p.sameIdentity(inf) {
			p = newIfPoller(h, inf)
		} else {
			p.setFacts(inf)
		}
		s.ifaces = append(s.ifaces, p)
		s.infos = append(s.infos, inf)
	}
	return s, nil
}

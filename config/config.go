package config

import (
	_ "embed"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"time"

	"gwd/agent"
)

// Syntax is the syntax a configuration file was written in.
type Syntax string

// The syntaxes Parse reads.
const (
	SyntaxYAML    Syntax = "yaml"    // gwd's own format
	SyntaxHsflowd Syntax = "hsflowd" // hsflowd.conf
)

// Defaults of gwd's own format. A file in hsflowd.conf syntax starts from
// the same values except where hsflowd's own default differs (see
// HsflowdPolling).
const (
	DefaultPolling       = 20 * time.Second
	DefaultSamplingRate  = 400
	DefaultBPSRatio      = 1_000_000
	DefaultHeaderBytes   = 128
	DefaultDatagramBytes = agent.DefaultDatagramBytes
	DefaultPort          = 6343
	DefaultOVSDB         = "unix:/var/run/openvswitch/db.sock"

	// HsflowdPolling is hsflowd's counter polling interval when its
	// file sets none; a file in hsflowd.conf syntax keeps it.
	HsflowdPolling = 30 * time.Second
)

// Limits checked by Parse.
const (
	MaxSamplingRate  = 10_000_000 // hsflowd's upper bound
	MinHeaderBytes   = 64
	MaxHeaderBytes   = 256 // hsflowd's upper bound
	MinDatagramBytes = 200
	MaxDatagramBytes = 65000
)

// Config is gwd's configuration. Parse and Default return it with every
// default filled in.
type Config struct {
	// Identity says how the agent identifies itself (the "agent" key; the
	// Agent method builds the agent's configuration).
	Identity Identity
	// Polling is the counter polling interval: whole seconds, at least 1s.
	Polling time.Duration
	// Sampling sets the packet sampling rates of the sampling modules.
	Sampling Sampling
	// HeaderBytes is how many bytes of each sampled packet's header go
	// into a flow sample (64..256).
	HeaderBytes int
	// DatagramBytes bounds the size of a datagram (200..65000).
	DatagramBytes int
	// Collectors receive every datagram.
	Collectors []Collector
	// Host configures the host and interface counters.
	Host Host
	// Modules configures the optional data sources.
	Modules Modules

	// Syntax is the syntax the file was written in.
	Syntax Syntax
	// Warnings lists what was read but is not used: hsflowd settings and
	// module blocks gwd does not have, ignored keys. Each names its place
	// in the file where it has one.
	Warnings []string
}

// Identity says how the agent address is chosen, and the sub-agent id.
type Identity struct {
	// Address is the agent address; when set, no election happens.
	Address netip.Addr
	// Interface elects the best address of this interface.
	Interface string
	// CIDRs prefers addresses inside these prefixes, the first matching
	// prefix winning.
	CIDRs []netip.Prefix
	// SubAgent is the sub-agent id of every datagram.
	SubAgent uint32
}

// Sampling sets packet sampling rates (1 in N packets).
type Sampling struct {
	// Rate is the sampling rate of an interface whose speed is unknown,
	// and of every interface when BPSRatio is 0 and Speeds has no entry.
	Rate uint32
	// Speeds sets the rate for interfaces of a given speed.
	Speeds map[Speed]uint32
	// BPSRatio derives the rate from the interface speed: speed/BPSRatio.
	// 0 turns the derivation off.
	BPSRatio uint64
}

// RateFor returns the sampling rate of an interface of speed ifSpeed
// (bits per second, 0 when unknown), the way hsflowd chooses it:
// an entry of Speeds whose label matches the speed (see Speed.Label),
// else speed/BPSRatio (at least 100 with the default ratio, at least 1
// with any other), else Rate.
func (s Sampling) RateFor(ifSpeed Speed) uint32 {
	if ifSpeed == 0 {
		return s.Rate
	}
	if n, ok := s.Speeds[ifSpeed]; ok {
		return n
	}
	label := ifSpeed.Label()
	var best Speed
	found := false
	for k := range s.Speeds {
		if k.Label() == label && (!found || k < best) {
			best, found = k, true
		}
	}
	if found {
		return s.Speeds[best]
	}
	if s.BPSRatio == 0 {
		return s.Rate
	}
	n := uint64(ifSpeed) / s.BPSRatio
	floor := uint64(1)
	if s.BPSRatio == DefaultBPSRatio {
		floor = 100
	}
	n = max(n, floor)
	return uint32(min(n, MaxSamplingRate))
}

// Collector is one collector.
type Collector struct {
	// Address is an IP address or a host name, resolved by Config.Agent.
	Address string
	// Port is the collector's UDP port.
	Port uint16
	// Source is the local address to send from (optional).
	Source netip.Addr
	// Interface is the interface to send through (optional).
	Interface string
}

// Host configures the host data source (2:1) and the interface counters.
type Host struct {
	// Enabled turns host and interface counters on.
	Enabled bool
	// Interfaces selects the interfaces that get counter samples.
	Interfaces InterfaceFilter
	// ProcRoot, SysRoot and EtcRoot are where /proc, /sys and /etc are
	// read from (tests and containers point them elsewhere).
	ProcRoot, SysRoot, EtcRoot string
}

// InterfaceFilter selects interfaces by name with two regular expressions
// (Go syntax, unanchored): an interface is selected when Include is empty
// or matches, and Exclude is empty or does not match.
type InterfaceFilter struct {
	Include, Exclude string
}

// Matcher compiles the filter into a predicate.
func (f InterfaceFilter) Matcher() (func(name string) bool, error) {
	inc, exc, err := f.Regexps()
	if err != nil {
		return nil, err
	}
	return func(name string) bool {
		return (inc == nil || inc.MatchString(name)) && (exc == nil || !exc.MatchString(name))
	}, nil
}

// Regexps compiles the filter; an empty expression gives nil.
func (f InterfaceFilter) Regexps() (include, exclude *regexp.Regexp, err error) {
	if f.Include != "" {
		if include, err = regexp.Compile(f.Include); err != nil {
			return nil, nil, fmt.Errorf("config: include: %w", err)
		}
	}
	if f.Exclude != "" {
		if exclude, err = regexp.Compile(f.Exclude); err != nil {
			return nil, nil, fmt.Errorf("config: exclude: %w", err)
		}
	}
	return include, exclude, nil
}

// Mode says whether a module runs.
type Mode uint8

// The modes of a module. The zero Mode is Auto.
const (
	// Auto runs the module when its data source exists on this box.
	Auto Mode = iota
	// On runs the module; a missing data source is reported in health.
	On
	// Off never runs the module.
	Off
)

func (m Mode) String() string {
	switch m {
	case Auto:
		return "auto"
	case On:
		return "true"
	case Off:
		return "false"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// Modules configures the optional data sources. Their options are read
// and checked now, and used by each module when its source exists.
type Modules struct {
	OVS     OVS
	ASIC    ASIC
	NVML    NVML
	KVM     KVM
	PSample PSample
	NFLOG   NFLOG
	PCAP    PCAP
	DropMon DropMon
}

// OVS is the Open vSwitch module: it keeps an sFlow row on every bridge and
// relays OVS's datagrams.
type OVS struct {
	Enabled Mode
	// OVSDB is the OVSDB server: unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT.
	// With enabled: auto the module runs when this socket exists.
	OVSDB string
	// Bridges selects the bridges that get gwd's sFlow row, by name.
	Bridges InterfaceFilter
	// Policy says what to do with a bridge that already has an sFlow row
	// gwd does not own: "adopt" (replace it with gwd's, like hsflowd) or
	// "leave" (do not touch that bridge).
	Policy string
	// RemoveOnExit removes gwd's sFlow row when gwd stops cleanly.
	RemoveOnExit bool
	// Allow lists the senders whose datagrams the relay accepts on its
	// loopback intake (default: loopback only).
	Allow []netip.Prefix
	// SSL holds the PEM files for an ssl: OVSDB endpoint, as ovs-vsctl's
	// --private-key, --certificate and --ca-cert.
	SSL OVSSSL
}

// OVSSSL are the PEM files of an ssl: OVSDB connection.
type OVSSSL struct {
	PrivateKey, Certificate, CACert string
}

// OVS policies for bridges that have an sFlow row gwd does not own.
const (
	OVSAdopt = "adopt"
	OVSLeave = "leave"
)

// NVML is the NVIDIA GPU module (5703:1 counters).
type NVML struct {
	Enabled Mode
	// PerGPU adds one data source per GPU, 2:(2000+i), each with its own
	// 5703:1 (device_count 1), besides the aggregate on the host's 2:1.
	PerGPU bool
}

// KVM is the libvirt module: VM counters.
type KVM struct {
	Enabled Mode
	// RefreshVMs is how often the list of VMs is read again (60s..1h).
	//lint:ignore ST1011 VMs are virtual machines, not a unit
	RefreshVMs time.Duration
	// ForgetVMs is how long a VM that went away keeps its data source
	// (at least 60s).
	//lint:ignore ST1011 VMs are virtual machines, not a unit
	ForgetVMs time.Duration
}

// PSample is the psample packet sampling module (tc sample action or
// switch ASIC sampling through the psample netlink family).
type PSample struct {
	Enabled Mode
	// Group is the psample group to listen on.
	Group uint32
	// Ingress and Egress say which sampled directions are reported.
	Ingress, Egress bool
}

// NFLOG is the netfilter NFLOG packet sampling module.
type NFLOG struct {
	Enabled Mode
	// Group is the NFLOG group to listen on (1..65535); it must be set
	// for the module to run.
	Group uint32
	// Probability is the sampling probability of the iptables rule that
	// feeds the group (0 when the rule copies every packet).
	Probability float64
}

// PCAP is the AF_PACKET packet sampling module.
type PCAP struct {
	Enabled Mode
	// Devices lists what to sample, each by name or by speed.
	Devices []PCAPDevice
}

// PCAPDevice selects interfaces to sample with AF_PACKET.
type PCAPDevice struct {
	// Dev is the interface name.
	Dev string
	// Speed selects every interface whose speed is in the range (when Dev
	// is empty).
	Speed SpeedRange
	// Promisc puts the interface in promiscuous mode.
	Promisc bool
	// VPort says whether the interface is a virtual port (a bridge port);
	// Auto decides from the interface type.
	VPort Mode
	// Sampling overrides the sampling rate (0: use Config.Sampling).
	Sampling uint32
}

// DropMon is the kernel drop monitor module (discarded packet events).
type DropMon struct {
	Enabled Mode
	// Start starts the kernel drop monitor if it is not running.
	Start bool
	// Limit is the most drop events sent per second (1..10000).
	Limit uint32
	// Max is the total number of events after which the feed is turned
	// off as a circuit breaker.
	Max uint32
	// SW, HW and RN report software drops, hardware (devlink trap) drops
	// and route-not-found drops.
	SW, HW, RN bool
	// HWUnknown reports hardware drops of unknown reason.
	HWUnknown bool
	// SWPassive and HWPassive listen without enabling the source.
	SWPassive, HWPassive bool
	// Hide is a regular expression of drop reasons not to report.
	Hide string
}

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the text of the built-in configuration.
func DefaultYAML() []byte { return slices.Clone(defaultYAML) }

// Default returns the built-in configuration: host and interface counters
// every 10 s to 127.0.0.1:6343.
func Default() *Config {
	c, err := Parse("default.yaml", defaultYAML)
	if err != nil {
		panic("config: the built-in default.yaml is invalid: " + err.Error())
	}
	return c
}

// defaults returns the values of every key a file does not set.
func defaults(syntax Syntax) *Config {
	c := &Config{
		Polling:       DefaultPolling,
		Sampling:      Sampling{Rate: DefaultSamplingRate, Speeds: map[Speed]uint32{}, BPSRatio: DefaultBPSRatio},
		HeaderBytes:   DefaultHeaderBytes,
		DatagramBytes: DefaultDatagramBytes,
		Collectors:    []Collector{},
		Host: Host{
			Enabled:  true,
			ProcRoot: "/proc", SysRoot: "/sys", EtcRoot: "/etc",
		},
		Modules: Modules{
			OVS: OVS{Enabled: Auto, OVSDB: DefaultOVSDB, Policy: OVSAdopt, RemoveOnExit: true,
				Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}},
			NVML:    NVML{Enabled: Auto},
			ASIC:    defaultASIC(),
			KVM:     KVM{Enabled: Auto, RefreshVMs: 60 * time.Second, ForgetVMs: 180 * time.Second},
			PSample: defaultPSample(),
			NFLOG:   NFLOG{Enabled: Off},
			PCAP:    PCAP{Enabled: Off, Devices: []PCAPDevice{}},
			DropMon: defaultDropMon(),
		},
		Identity: Identity{CIDRs: []netip.Prefix{}},
		Syntax:   syntax,
	}
	if syntax == SyntaxHsflowd {
		// hsflowd runs a module only when the file has its block.
		c.Polling = HsflowdPolling
		c.Modules.OVS.Enabled = Off
		c.Modules.NVML.Enabled = Off
		c.Modules.ASIC.Enabled = Off
		c.Modules.KVM.Enabled = Off
	}
	return c
}

func defaultPSample() PSample { return PSample{Enabled: Off, Group: 1, Ingress: true} }

func defaultDropMon() DropMon {
	return DropMon{Enabled: Off, Start: true, Limit: 100, Max: 100000, SW: true, HW: true, RN: true}
}

// Agent builds the agent's configuration. Collectors given by host name
// are resolved through resolve (which may be nil when every collector is
// an IP address); an error names the collector.
func (c *Config) Agent(resolve func(host string) (netip.Addr, error)) (agent.Config, error) {
	ac := agent.Config{
		SubAgent:      c.Identity.SubAgent,
		Polling:       c.Polling,
		DatagramBytes: c.DatagramBytes,
		Address: agent.AddressConfig{
			IP:        c.Identity.Address,
			Interface: c.Identity.Interface,
			CIDRs:     slices.Clone(c.Identity.CIDRs),
		},
	}
	var errs []error
	for i, col := range c.Collectors {
		ip, err := netip.ParseAddr(col.Address)
		if err != nil {
			switch {
			case resolve == nil:
				err = errors.New("host name given but no resolver")
			default:
				ip, err = resolve(col.Address)
				if err == nil && !ip.IsValid() {
					err = errors.New("resolver returned no address")
				}
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("config: collector %d (%s): %w", i, col.Address, err))
				continue
			}
		}
		port := col.Port
		if port == 0 {
			port = DefaultPort
		}
		ac.Collectors = append(ac.Collectors, agent.CollectorConfig{
			Addr:      netip.AddrPortFrom(ip.Unmap(), port),
			Source:    col.Source,
			Interface: col.Interface,
		})
	}
	if len(errs) > 0 {
		return agent.Config{}, errors.Join(errs...)
	}
	return ac, nil
}

package config

import (
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// Syntax is the syntax a configuration file was written in.
type Syntax string

// The syntaxes Parse reads.
const (
	SyntaxYAML    Syntax = "yaml"    // gwd's own format
	SyntaxHsflowd Syntax = "hsflowd" // hsflowd.conf
)

// Limits and defaults that code outside this package uses; the keys'
// descriptions (tags below) are the source of the others.
const (
	// MaxSamplingRate is hsflowd's upper bound of a sampling rate.
	MaxSamplingRate = 10_000_000
	// DefaultBPSRatio is the default of sampling.bps_ratio.
	DefaultBPSRatio = 1_000_000
	// DefaultPort is a collector's port unless given.
	DefaultPort = 6343
	// HsflowdMaxSubAgent is the largest subAgentId hsflowd accepts.
	HsflowdMaxSubAgent = 199999
)

// Config is gwd's configuration: the core settings and one section per
// registered module. Parse and Default return it with every default filled
// in.
type Config struct {
	Core
	// Syntax is the syntax the file was written in.
	Syntax Syntax
	// Warnings lists what was read but is not used: hsflowd settings and
	// modules gwd does not have, ignored keys. Each names its place in the
	// file where it has one.
	Warnings []string

	order    []Section
	sections map[string]any // by Section.Name: pointer to the section's struct
}

// Core holds the settings every module shares: identity, polling,
// sampling, sizes and collectors.
type Core struct {
	Identity      Identity      `key:"agent"`
	Polling       time.Duration `key:"polling" default:"20s" hsdefault:"30s" min:"1s" check:"seconds" hsflowd:"polling,counterPollingInterval" type:"duration, whole seconds, >= 1s" doc:"counter polling interval (hsflowd.conf: 1..300 s, 30 s when absent)"`
	Sampling      Sampling      `key:"sampling"`
	HeaderBytes   int           `key:"header_bytes" default:"128" min:"64" max:"256" hsflowd:"headerBytes" doc:"bytes of each sampled packet's header kept in a flow sample"`
	DatagramBytes int           `key:"datagram_bytes" default:"1400" min:"200" max:"65000" hsflowd:"datagramBytes" doc:"largest datagram sent"`
	GracePolls    uint32        `key:"grace_polls" default:"3" min:"1" max:"1000" doc:"a data source that goes away (an OVS port during an ovsdb-server restart, a VM) keeps its slot this many polling intervals; its sequence numbers go on whenever it comes back"`
	Collectors    []Collector   `key:"collectors" doc:"where every datagram goes; an entry may be a string: \"10.0.0.1\", \"10.0.0.1:6344\", \"[2001:db8::1]:6343\""`
}

// Identity says how the agent address is chosen, and the sub-agent id.
type Identity struct {
	Address   netip.Addr     `key:"address" hsflowd:"agentIP" type:"IP address" doc:"the agent address; no election"`
	Interface string         `key:"interface" check:"ifname" hsflowd:"agent" type:"interface name" doc:"elect among this interface's addresses"`
	CIDRs     []netip.Prefix `key:"cidr" hsflowd:"agent.cidr" type:"list of prefixes" doc:"prefer addresses in these prefixes, the first one most"`
	SubAgent  uint32         `key:"sub_agent" hsflowd:"subAgentId" doc:"sub-agent id of every datagram (hsflowd.conf: 0..199999)"`
}

// Sampling sets packet sampling rates (1 in N packets).
type Sampling struct {
	Rate     uint32           `key:"rate" default:"400" min:"1" max:"10000000" hsflowd:"sampling,packetSamplingRate" doc:"1-in-N rate of an interface whose speed is unknown (and of every interface when bps_ratio is 0 and speeds has no entry)"`
	Speeds   map[Speed]uint32 `key:"speeds" min:"1" max:"10000000" type:"map speed -> integer 1..10000000" doc:"rate for interfaces of that speed, e.g. {1G: 1000, 10G: 10000} (hsflowd.conf: sampling.10G = 10000)"`
	BPSRatio uint64           `key:"bps_ratio" default:"1000000" max:"10000000" hsflowd:"sampling.bps_ratio" doc:"otherwise the rate is speed / bps_ratio (at least 100 with the default ratio); 0 turns this off"`
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
	Address   string     `key:"address" check:"nonempty,hostorip" hsflowd:"ip" type:"IP address or host name" doc:"where to send; a host name is resolved when gwd starts and on SIGHUP (required)"`
	Port      uint16     `key:"port" default:"6343" min:"1" hsflowd:"UDPPort" doc:"UDP port"`
	Source    netip.Addr `key:"source" type:"IP address" doc:"local address to send from"`
	Interface string     `key:"interface" check:"ifname" hsflowd:"dev" type:"interface name" doc:"interface to send through (SO_BINDTODEVICE)"`
}

// UnmarshalShorthand reads "host", "host:port" or "[v6]:port".
func (c *Collector) UnmarshalShorthand(s string) error {
	host, port := s, ""
	if h, pt, err := net.SplitHostPort(s); err == nil {
		host, port = h, pt
	}
	if msg := checkHostOrIP(host); msg != "" {
		return errors.New(msg)
	}
	c.Address = host
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return fmt.Errorf("port %q is outside 1..65535", port)
		}
		c.Port = uint16(n)
	}
	return nil
}

// Validate checks that the collector has an address.
func (c *Collector) Validate() error {
	if c.Address == "" {
		return errors.New("address is missing")
	}
	return nil
}

// InterfaceFilter selects interfaces by name with two regular expressions
// (Go syntax, unanchored): an interface is selected when Include is empty
// or matches, and Exclude is empty or does not match.
type InterfaceFilter struct {
	Include string `key:"include" check:"regexp" type:"regexp" doc:"names that match are selected (empty: all)"`
	Exclude string `key:"exclude" check:"regexp" type:"regexp" doc:"... unless they match this (empty: none)"`
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
	// On runs the module; a missing data source is an error at start-up.
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

// Unsupported lists the modules (gwd YAML `modules.NAME`, hsflowd.conf
// blocks) that gwd does not implement yet: a file that configures one gets
// a warning naming it, never silent acceptance. A module that lands takes
// its name off this list.
var Unsupported = []string{
	"xen", "json", "dns-sd", "ulog", "tcp", "dent", "os10", "opx", "dbus", "systemd", "eapi", "nlroute", "vpp"}

//go:embed default.yaml
var defaultYAML []byte

// Default returns the built-in configuration (host and interface counters
// every 10 s to 127.0.0.1:6343) with the given sections.
func Default(sections ...Section) *Config {
	c, err := Parse("default.yaml", defaultYAML, sections...)
	if err != nil {
		panic("config: the built-in default.yaml is invalid: " + err.Error())
	}
	return c
}

// newConfig returns the configuration of a file that sets nothing.
func newConfig(syntax Syntax, sections []Section) *Config {
	c := &Config{Syntax: syntax, order: slices.Clone(sections), sections: map[string]any{}}
	setDefaults(reflect.ValueOf(&c.Core).Elem(), syntax)
	for _, s := range sections {
		if _, dup := c.sections[s.Name]; dup || s.Name == "" {
			panic(fmt.Sprintf("config: section %q registered twice or without a name", s.Name))
		}
		c.sections[s.Name] = newSection(s, syntax).Interface()
	}
	return c
}

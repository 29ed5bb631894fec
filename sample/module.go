package sample

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"gwd/config"
	"gwd/internal/app"
)

// The four modules of this package, one per hsflowd.conf block.
var (
	NFLOG   app.Module = nflogModule{}
	Pcap    app.Module = pcapModule{}
	Psample app.Module = psampleModule{}
	Dropmon app.Module = dropmonModule{}
)

// NFLOGOptions are the nflog module's keys (modules.nflog).
type NFLOGOptions struct {
	Enabled     config.Mode `key:"enabled" default:"false" doc:"flow samples from an NFLOG group; auto: when the group can be bound"`
	Group       uint16      `key:"group" default:"1" min:"1" hsflowd:"group,nflogGroup" doc:"the NFLOG group the sampling rule logs to (iptables --nflog-group, nftables log group)"`
	Probability float64     `key:"probability" default:"1" min:"0.000001" max:"1" hsflowd:"probability,nflogProbability" doc:"the rule's sampling probability (iptables -m statistic --mode random --probability P); gwd samples 1 in ceil(rate*P) of what arrives"`
	HeaderBytes int         `key:"header_bytes" max:"256" doc:"bytes of each packet kept (0: the core header_bytes)"`
	InstallRule bool        `key:"install_rule" doc:"gwd adds the sampling rule itself (nftables table inet gwd_sample: 1 in round(1/probability) packets received, at random, to the group) and deletes it on exit"`
	Interfaces  []string    `key:"interfaces" type:"list of interface names" doc:"with install_rule: sample only packets received on these (empty: all)"`
}

// ModuleMode implements config.Moder.
func (o *NFLOGOptions) ModuleMode() config.Mode { return o.Enabled }

// PcapOptions are the pcap module's keys (modules.pcap).
type PcapOptions struct {
	Enabled     config.Mode `key:"enabled" default:"false" doc:"flow samples from AF_PACKET sockets with 1-in-N sampling in the kernel (classic BPF); auto: when the interfaces exist"`
	Devices     []string    `key:"dev" hsflowd:"dev" type:"list of interface names" doc:"interfaces to sample (hsflowd.conf: one pcap { dev = NAME } block each)"`
	Sampling    uint32      `key:"sampling" max:"10000000" hsflowd:"sampling" doc:"1-in-N rate of every dev (0: by link speed, from the core sampling settings)"`
	Promisc     bool        `key:"promisc" hsflowd:"promisc" doc:"put the interfaces in promiscuous mode"`
	Speed       string      `key:"speed" hsflowd:"speed" doc:"accepted for hsflowd.conf compatibility (selects devices by speed in hsflowd); not used by gwd"`
	Vport       bool        `key:"vport" hsflowd:"vport" doc:"accepted for hsflowd.conf compatibility; not used by gwd (counters come from the host module)"`
	HeaderBytes int         `key:"header_bytes" max:"256" doc:"bytes of each packet kept (0: the core header_bytes)"`
}

// ModuleMode implements config.Moder.
func (o *PcapOptions) ModuleMode() config.Mode { return o.Enabled }

// PsampleOptions are the psample module's keys (modules.psample).
type PsampleOptions struct {
	Enabled     config.Mode `key:"enabled" default:"false" doc:"flow samples from the kernel's psample group (ASIC or tc sample action); auto: when the kernel has psample"`
	Group       uint32      `key:"group" default:"1" min:"1" hsflowd:"group" doc:"the psample group to take (tc ... action sample group N)"`
	Ingress     bool        `key:"ingress" default:"true" hsflowd:"ingress" doc:"samples taken on ingress (that have an input interface) are exported"`
	Egress      bool        `key:"egress" hsflowd:"egress" doc:"samples taken on egress (output interface only) are exported"`
	HeaderBytes int         `key:"header_bytes" max:"256" doc:"bytes of each packet kept (0: the core header_bytes)"`
	TCPorts     []string    `key:"tc_ports" type:"list of interface names" doc:"gwd adds an ingress tc matchall action sample filter (group, rate, header_bytes) on each of these ports, and removes it on exit"`
	TCRate      uint32      `key:"tc_rate" max:"10000000" doc:"1-in-N rate of those filters (0: by link speed, from the core sampling settings)"`
}

// ModuleMode implements config.Moder.
func (o *PsampleOptions) ModuleMode() config.Mode { return o.Enabled }

// DropmonOptions are the dropmon module's keys (modules.dropmon).
type DropmonOptions struct {
	Enabled     config.Mode `key:"enabled" default:"false" doc:"discard samples (0:5) from the kernel drop monitor (NET_DM); auto: when the kernel has it"`
	Start       bool        `key:"start" default:"true" hsflowd:"start" doc:"turn the drop monitor on (and off on exit); false: only listen to a monitor someone else started"`
	SW          bool        `key:"sw" default:"true" hsflowd:"sw" doc:"software (kernel) drops"`
	HW          bool        `key:"hw" default:"true" hsflowd:"hw" doc:"hardware (devlink trap) drops"`
	RN          bool        `key:"rn" default:"true" hsflowd:"rn" doc:"software drops that carry a kernel drop reason are mapped by that reason"`
	HWUnknown   bool        `key:"hw_unknown" hsflowd:"hw_unknown" doc:"also hardware traps whose name maps to no sFlow reason (as reason unknown)"`
	Limit       uint32      `key:"limit" default:"100" min:"1" max:"10000" hsflowd:"limit" doc:"at most this many discard samples a second; the rest are counted in drops"`
	Hide        string      `key:"hide" check:"regexp" type:"regexp" hsflowd:"hide" doc:"drop points (symbol, trap or reason names) matching this are not exported"`
	Force       bool        `key:"force" default:"true" hsflowd:"force" doc:"accepted for hsflowd.conf compatibility; gwd always starts the monitor when start is true"`
	HeaderBytes int         `key:"header_bytes" max:"256" doc:"bytes of each dropped packet kept (0: the core header_bytes)"`
	// hsflowd.conf keys with no meaning in gwd, read so that files load.
	Max       uint32 `key:"max" hsflowd:"max" doc:"accepted for hsflowd.conf compatibility; not used"`
	MaxTrip   uint32 `key:"max_trip" hsflowd:"max_trip" doc:"accepted for hsflowd.conf compatibility; not used"`
	SWPassive bool   `key:"sw_passive" hsflowd:"sw_passive" doc:"accepted for hsflowd.conf compatibility; not used"`
	HWPassive bool   `key:"hw_passive" hsflowd:"hw_passive" doc:"accepted for hsflowd.conf compatibility; not used"`
	HWFunc    bool   `key:"hw_function" hsflowd:"hw_function" doc:"accepted for hsflowd.conf compatibility (deprecated there); not used"`
	Group     uint32 `key:"group" hsflowd:"group" doc:"accepted for hsflowd.conf compatibility (deprecated there); not used"`
}

// ModuleMode implements config.Moder.
func (o *DropmonOptions) ModuleMode() config.Mode { return o.Enabled }

type nflogModule struct{}
type pcapModule struct{}
type psampleModule struct{}
type dropmonModule struct{}

func (nflogModule) Section() config.Section {
	return config.Section{Name: "nflog", Path: "modules.nflog", Hsflowd: "nflog", Value: &NFLOGOptions{},
		Doc: "Flow samples (0:1, data source 0:ifIndex of the input interface) from an NFLOG group that a user's iptables or nftables rule samples into (`-m statistic --mode random --probability P -j NFLOG --nflog-group G`); NFLOG is per network namespace."}
}

func (pcapModule) Section() config.Section {
	return config.Section{Name: "pcap", Path: "modules.pcap", Hsflowd: "pcap", Value: &PcapOptions{},
		Doc: "Flow samples from an AF_PACKET socket per interface, sampled 1 in N in the kernel by a classic BPF program (no libpcap); N by link speed unless `sampling` is set."}
}

func (psampleModule) Section() config.Section {
	return config.Section{Name: "psample", Path: "modules.psample", Hsflowd: "psample", Value: &PsampleOptions{},
		Doc: "Flow samples from the kernel's psample netlink group (switch ASIC sampling, tc `matchall action sample`), with egress queue, transit delay, queue depth and timestamp records when the kernel gives them."}
}

func (dropmonModule) Section() config.Section {
	return config.Section{Name: "dropmon", Path: "modules.dropmon", Hsflowd: "dropmon", Value: &DropmonOptions{},
		Doc: "Discard samples (0:5) from the kernel drop monitor (NET_DM), with the sFlow drop reason, rate-limited."}
}

// headerBytes is a module's header size: its own when set, else the core's.
func headerBytes(own int, cfg *config.Config) int {
	if own > 0 {
		return own
	}
	return cfg.HeaderBytes
}

// absent wraps err as app.ErrAbsent with what is missing.
func absent(what string, err error) error {
	return fmt.Errorf("%w: %s: %w", app.ErrAbsent, what, err)
}

// instance is a running source of any of the four modules.
type instance struct {
	sec  config.Section
	opts any // the section's options, by value, to tell a change
	done chan struct{}
}

func (i *instance) Reload(cfg *config.Config) error {
	return app.RestartIfChanged(cfg, i.sec, i.opts)
}

func (i *instance) Wait() { <-i.done }

func (nflogModule) Start(ctx context.Context, env app.Env) (app.Instance, error) {
	o := config.Get[NFLOGOptions](env.Config)
	src, err := OpenNFLOG(NFLOGConfig{Group: o.Group, Probability: o.Probability,
		Rate: env.Config.Sampling.Rate, HeaderBytes: headerBytes(o.HeaderBytes, env.Config),
		InstallRule: o.InstallRule, Interfaces: o.Interfaces}, env.Log)
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	if err := src.Run(ctx, env.Agent, done); err != nil {
		return nil, err
	}
	return &instance{sec: nflogModule{}.Section(), opts: *o, done: done}, nil
}

func (pcapModule) Start(ctx context.Context, env app.Env) (app.Instance, error) {
	o := config.Get[PcapOptions](env.Config)
	if len(o.Devices) == 0 {
		return nil, errors.New("modules.pcap: no dev to sample")
	}
	var socks []*PacketSocket
	for _, dev := range o.Devices {
		rate := o.Sampling
		if rate == 0 {
			rate = env.Config.Sampling.RateFor(linkSpeed("/sys", dev))
		}
		s, err := OpenPacket(PacketConfig{Device: dev, Rate: rate, Promisc: o.Promisc,
			HeaderBytes: headerBytes(o.HeaderBytes, env.Config)})
		if err != nil {
			for _, s := range socks {
				s.Close()
			}
			return nil, err
		}
		env.Log.Info("pcap sampling", "dev", dev, "rate", rate)
		socks = append(socks, s)
	}
	done := make(chan struct{})
	go runPackets(ctx, socks, env.Agent, env.Log, done)
	return &instance{sec: pcapModule{}.Section(), opts: *o, done: done}, nil
}

func (psampleModule) Start(ctx context.Context, env app.Env) (app.Instance, error) {
	o := config.Get[PsampleOptions](env.Config)
	c, err := dialGenl(psampleFamily, psampleMcastGroup)
	if err != nil {
		return nil, err
	}
	hb := headerBytes(o.HeaderBytes, env.Config)
	var tc *tcSampler
	if len(o.TCPorts) > 0 {
		rate := func(port string) uint32 {
			if o.TCRate != 0 {
				return o.TCRate
			}
			return env.Config.Sampling.RateFor(linkSpeed("/sys", port))
		}
		if tc, err = installTCSample(o.TCPorts, o.Group, uint32(hb), rate); err != nil {
			c.close()
			return nil, err
		}
	}
	p := newPsampleReader(*o, hb, env.Agent)
	done := make(chan struct{})
	go func() {
		c.run(ctx, env.Log, p.handle)
		c.close()
		if err := tc.remove(); err != nil {
			env.Log.Warn("psample", "err", err)
		}
		close(done)
	}()
	return &instance{sec: psampleModule{}.Section(), opts: *o, done: done}, nil
}

func (dropmonModule) Start(ctx context.Context, env app.Env) (app.Instance, error) {
	o := config.Get[DropmonOptions](env.Config)
	var hide *regexp.Regexp
	if o.Hide != "" {
		var err error
		if hide, err = regexp.Compile(o.Hide); err != nil {
			return nil, fmt.Errorf("modules.dropmon: hide: %w", err)
		}
	}
	c, err := dialGenl(dropmonFamily, dropmonMcastGroup)
	if err != nil {
		return nil, err
	}
	d := newDropReader(*o, hide, headerBytes(o.HeaderBytes, env.Config), env.Agent)
	if o.Start {
		if err := c.dropmonStart(o.SW, o.HW, true); err != nil {
			c.close()
			return nil, fmt.Errorf("modules.dropmon: starting the drop monitor: %w", err)
		}
	}
	done := make(chan struct{})
	go func() {
		c.run(ctx, env.Log, d.handle)
		if o.Start {
			if err := c.dropmonStop(); err != nil {
				env.Log.Warn("stopping the drop monitor", "err", err)
			}
		}
		c.close()
		close(done)
	}()
	return &instance{sec: dropmonModule{}.Section(), opts: *o, done: done}, nil
}

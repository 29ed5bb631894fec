package config

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// Text returns the configuration in gwd's YAML format with every key and
// every default written out; Parse reads it back to an equal Config
// (Syntax and Warnings aside). `gwd config check` prints it.
func (c *Config) Text() string {
	id := c.Identity
	cidrs := make([]*yaml.Node, len(id.CIDRs))
	for i, p := range id.CIDRs {
		cidrs[i] = str(p.String())
	}
	speeds := slices.Sorted(func(yield func(Speed) bool) {
		for s := range c.Sampling.Speeds {
			if !yield(s) {
				return
			}
		}
	})
	var rates []any
	for _, s := range speeds {
		rates = append(rates, s.String(), num(c.Sampling.Speeds[s]))
	}
	cols := make([]*yaml.Node, len(c.Collectors))
	for i, col := range c.Collectors {
		cols[i] = mapping(
			"address", str(col.Address),
			"port", num(col.Port),
			"source", str(addrText(col.Source)),
			"interface", str(col.Interface),
		)
	}
	m := c.Modules
	devs := make([]*yaml.Node, len(m.PCAP.Devices))
	for i, d := range m.PCAP.Devices {
		devs[i] = mapping(
			"dev", str(d.Dev),
			"speed", str(d.Speed.String()),
			"promisc", boolean(d.Promisc),
			"vport", mode(d.VPort),
			"sampling", num(d.Sampling),
		)
	}
	h := c.Host
	dm := m.DropMon
	root := mapping(
		"agent", mapping(
			"address", str(addrText(id.Address)),
			"interface", str(id.Interface),
			"cidr", seq(cidrs),
			"sub_agent", num(id.SubAgent),
		),
		"polling", str(durationText(c.Polling)),
		"sampling", mapping(
			"rate", num(c.Sampling.Rate),
			"speeds", mapping(rates...),
			"bps_ratio", num(c.Sampling.BPSRatio),
		),
		"header_bytes", num(c.HeaderBytes),
		"datagram_bytes", num(c.DatagramBytes),
		"collectors", seq(cols),
		"host", mapping(
			"enabled", boolean(h.Enabled),
			"interfaces", mapping("include", str(h.Interfaces.Include), "exclude", str(h.Interfaces.Exclude)),
			"proc_root", str(h.ProcRoot),
			"sys_root", str(h.SysRoot),
			"etc_root", str(h.EtcRoot),
		),
		"modules", mapping(
			"ovs", mapping("enabled", mode(m.OVS.Enabled), "ovsdb", str(m.OVS.OVSDB),
				"bridges", mapping("include", str(m.OVS.Bridges.Include), "exclude", str(m.OVS.Bridges.Exclude)),
				"policy", str(m.OVS.Policy), "remove_on_exit", boolean(m.OVS.RemoveOnExit),
				"allow", seq(prefixNodes(m.OVS.Allow)),
				"ssl", mapping("private_key", str(m.OVS.SSL.PrivateKey), "certificate", str(m.OVS.SSL.Certificate),
					"ca_cert", str(m.OVS.SSL.CACert))),
			"asic", asicText(m.ASIC),
			"nvml", mapping("enabled", mode(m.NVML.Enabled), "per_gpu", boolean(m.NVML.PerGPU)),
			"kvm", mapping(
				"enabled", mode(m.KVM.Enabled),
				"refresh_vms", str(durationText(m.KVM.RefreshVMs)),
				"forget_vms", str(durationText(m.KVM.ForgetVMs)),
			),
			"psample", mapping(
				"enabled", mode(m.PSample.Enabled),
				"group", num(m.PSample.Group),
				"ingress", boolean(m.PSample.Ingress),
				"egress", boolean(m.PSample.Egress),
			),
			"nflog", mapping(
				"enabled", mode(m.NFLOG.Enabled),
				"group", num(m.NFLOG.Group),
				"probability", &yaml.Node{Kind: yaml.ScalarNode, Value: strconv.FormatFloat(m.NFLOG.Probability, 'g', -1, 64)},
			),
			"pcap", mapping("enabled", mode(m.PCAP.Enabled), "devices", seq(devs)),
			"dropmon", mapping(
				"enabled", mode(dm.Enabled),
				"start", boolean(dm.Start),
				"limit", num(dm.Limit),
				"max", num(dm.Max),
				"sw", boolean(dm.SW),
				"hw", boolean(dm.HW),
				"rn", boolean(dm.RN),
				"hw_unknown", boolean(dm.HWUnknown),
				"sw_passive", boolean(dm.SWPassive),
				"hw_passive", boolean(dm.HWPassive),
				"hide", str(dm.Hide),
			),
		),
	)
	root.HeadComment = "gwd configuration, every default filled in (docs/config.md)"
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return fmt.Sprintf("# config: cannot write the configuration: %v\n", err)
	}
	enc.Close()
	return b.String()
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func num[T ~int | ~uint16 | ~uint32 | ~uint64](n T) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprint(n)}
}

func boolean(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

func mode(m Mode) *yaml.Node {
	if m == Auto {
		return str("auto")
	}
	return boolean(m == On)
}

func seq(items []*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: items}
}

// mapping builds a mapping from key, value pairs; a value is a *yaml.Node.
func mapping(kv ...any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i+1 < len(kv); i += 2 {
		n.Content = append(n.Content, str(kv[i].(string)), kv[i+1].(*yaml.Node))
	}
	return n
}

func addrText(a interface {
	IsValid() bool
	String() string
}) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// durationText writes a duration the shortest way Parse reads back:
// "20s", "5m", "1h", else time.Duration's own form.
func durationText(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}

func prefixNodes(ps []netip.Prefix) []*yaml.Node {
	out := make([]*yaml.Node, len(ps))
	for i, p := range ps {
		out[i] = str(p.String())
	}
	return out
}

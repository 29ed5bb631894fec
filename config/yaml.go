package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ydec decodes gwd's YAML format from a yaml.Node tree, so that every
// error carries the line and column of the node at fault.
type ydec struct {
	diag
	c     *Config
	nodes int // nodes visited, bounding the work that aliases can cause
}

// maxNodes bounds the nodes one parse visits (aliases can multiply them).
const maxNodes = 100_000

func parseYAML(name string, data []byte) (*Config, error) {
	d := &ydec{diag: diag{file: name}, c: defaults(SyntaxYAML)}
	root, err := decodeYAML(data)
	if err != nil {
		d.yamlError(err)
		return nil, d.err()
	}
	if root != nil {
		d.top(root)
	}
	return finish(d.c, &d.diag)
}

// decodeYAML reads the single document of data (nil when empty).
func decodeYAML(data []byte) (root *yaml.Node, err error) {
	defer func() {
		if v := recover(); v != nil {
			root, err = nil, fmt.Errorf("yaml: the YAML library failed: %v", v)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return nil, nil
	case err != nil:
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, err
		}
		return nil, &Error{Line: extra.Line, Col: extra.Column, Msg: "only one YAML document is allowed"}
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0], nil
	}
	return &doc, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns an error of the YAML library into an *Error.
func (d *ydec) yamlError(err error) {
	var e *Error
	if errors.As(err, &e) {
		d.errAt(e.Line, e.Col, "%s", e.Msg)
		return
	}
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		d.errAt(line, 0, "%s", m[2])
		return
	}
	d.errAt(0, 0, "%s", strings.TrimPrefix(msg, "yaml: "))
}

func (d *ydec) errf(n *yaml.Node, format string, a ...any) {
	d.errAt(n.Line, n.Column, format, a...)
}

// deref follows aliases and counts the node against maxNodes; it returns
// nil once the budget is spent.
func (d *ydec) deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	if n == nil || n.Kind == yaml.AliasNode {
		return nil
	}
	d.nodes++
	if d.nodes == maxNodes {
		d.errf(n, "document too large (more than %d nodes, aliases included)", maxNodes)
	}
	if d.nodes >= maxNodes {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// describe names what a node holds, for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "something else"
}

type field struct {
	name string
	set  func(path string, v *yaml.Node)
}

// object decodes a mapping whose keys must all be among fields.
func (d *ydec) object(n *yaml.Node, path string, fields ...field) {
	if n = d.deref(n); n == nil || isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		if path == "" {
			d.errf(n, "expected a mapping of keys such as polling and collectors, got %s", describe(n))
		} else {
			d.errf(n, "%s: expected a mapping, got %s", path, describe(n))
		}
		return
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	in := ""
	if path != "" {
		in = " in " + path
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := d.deref(n.Content[i])
		if k == nil {
			return
		}
		if k.Kind != yaml.ScalarNode {
			d.errf(k, "expected a key name%s, got %s", in, describe(k))
			continue
		}
		if line, dup := seen[k.Value]; dup {
			d.errf(k, "duplicate key %q%s (first on line %d)", k.Value, in, line)
			continue
		}
		seen[k.Value] = k.Line
		j := -1
		for fi, f := range fields {
			if f.name == k.Value {
				j = fi
			}
		}
		if j < 0 {
			d.errf(k, "unknown key %q%s%s", k.Value, in, suggest(k.Value, names))
			continue
		}
		p := k.Value
		if path != "" {
			p = path + "." + k.Value
		}
		fields[j].set(p, n.Content[i+1])
	}
}

// list calls item for each element of a sequence.
func (d *ydec) list(n *yaml.Node, path string, item func(path string, v *yaml.Node)) {
	if n = d.deref(n); n == nil || isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errf(n, "%s: expected a list, got %s", path, describe(n))
		return
	}
	for i, v := range n.Content {
		item(fmt.Sprintf("%s[%d]", path, i), v)
	}
}

// scalar returns the scalar node n, or nil (after an error unless n is
// null, which means "keep the default").
func (d *ydec) scalar(n *yaml.Node, path, want string) *yaml.Node {
	if n = d.deref(n); n == nil || isNull(n) {
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		d.errf(n, "%s: expected %s, got %s", path, want, describe(n))
		return nil
	}
	return n
}

func (d *ydec) str(path string, n *yaml.Node, set func(string)) *yaml.Node {
	v := d.scalar(n, path, "a string")
	if v == nil {
		return nil
	}
	if v.Tag != "!!str" {
		d.errf(v, "%s: expected a string, got %s", path, describe(v))
		return nil
	}
	set(v.Value)
	return v
}

// text sets a string that a check accepts; "" is accepted when optional.
func (d *ydec) text(path string, n *yaml.Node, optional bool, check func(string) string, dst *string) {
	d.str(path, n, func(s string) {
		if s == "" && !optional {
			d.errf(n, "%s: must not be empty", path)
			return
		}
		if s != "" && check != nil {
			if msg := check(s); msg != "" {
				d.errf(n, "%s: %s", path, msg)
				return
			}
		}
		*dst = s
	})
}

func (d *ydec) uint(path string, n *yaml.Node, check func(uint64) string, set func(uint64)) {
	v := d.scalar(n, path, "an integer")
	if v == nil {
		return
	}
	var u uint64
	if v.Tag != "!!int" || v.Decode(&u) != nil {
		var i int64
		if v.Tag == "!!int" && v.Decode(&i) == nil && i < 0 {
			d.errf(v, "%s: %d is negative", path, i)
		} else {
			d.errf(v, "%s: expected an integer, got %s", path, describe(v))
		}
		return
	}
	if check != nil {
		if msg := check(u); msg != "" {
			d.errf(v, "%s: %s", path, msg)
			return
		}
	}
	set(u)
}

func (d *ydec) u32(path string, n *yaml.Node, lo, hi uint64, dst *uint32) {
	d.uint(path, n, func(u uint64) string { return checkRange(u, lo, hi) }, func(u uint64) { *dst = uint32(u) })
}

func (d *ydec) boolean(path string, n *yaml.Node, dst *bool) {
	v := d.scalar(n, path, "true or false")
	if v == nil {
		return
	}
	var b bool
	if v.Tag != "!!bool" || v.Decode(&b) != nil {
		d.errf(v, "%s: expected true or false, got %s", path, describe(v))
		return
	}
	*dst = b
}

func (d *ydec) mode(path string, n *yaml.Node, dst *Mode) {
	v := d.scalar(n, path, "auto, true or false")
	if v == nil {
		return
	}
	var b bool
	switch {
	case v.Tag == "!!str" && v.Value == "auto":
		*dst = Auto
	case v.Tag == "!!bool" && v.Decode(&b) == nil:
		*dst = map[bool]Mode{true: On, false: Off}[b]
	default:
		d.errf(v, "%s: expected auto, true or false, got %s", path, describe(v))
	}
}

// duration reads "20s", "1m" or a number of seconds.
func (d *ydec) duration(path string, n *yaml.Node, check func(time.Duration) string, dst *time.Duration) {
	v := d.scalar(n, path, "a duration")
	if v == nil {
		return
	}
	var dur time.Duration
	var secs int64
	switch {
	case v.Tag == "!!int" && v.Decode(&secs) == nil && secs >= 0 && secs <= math.MaxInt64/int64(time.Second):
		dur = time.Duration(secs) * time.Second
	case v.Tag == "!!str":
		var err error
		if dur, err = time.ParseDuration(v.Value); err != nil {
			d.errf(v, "%s: expected a duration such as 20s or 1m, got %s", path, describe(v))
			return
		}
	default:
		d.errf(v, "%s: expected a duration such as 20s or 1m, got %s", path, describe(v))
		return
	}
	if msg := check(dur); msg != "" {
		d.errf(v, "%s: %s", path, msg)
		return
	}
	*dst = dur
}

func (d *ydec) addr(path string, n *yaml.Node, dst *netip.Addr) {
	d.str(path, n, func(s string) {
		if s == "" {
			*dst = netip.Addr{}
			return
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			d.errf(n, "%s: %q is not an IP address", path, s)
			return
		}
		*dst = a
	})
}

func (d *ydec) top(n *yaml.Node) {
	c := d.c
	d.object(n, "",
		field{"agent", d.agent},
		field{"polling", func(p string, v *yaml.Node) { d.duration(p, v, checkPolling, &c.Polling) }},
		field{"sampling", d.sampling},
		field{"header_bytes", func(p string, v *yaml.Node) {
			d.uint(p, v, checkHeaderBytes, func(u uint64) { c.HeaderBytes = int(u) })
		}},
		field{"datagram_bytes", func(p string, v *yaml.Node) {
			d.uint(p, v, checkDatagramBytes, func(u uint64) { c.DatagramBytes = int(u) })
		}},
		field{"collectors", d.collectors},
		field{"host", d.host},
		field{"modules", d.modules},
	)
}

func (d *ydec) agent(path string, n *yaml.Node) {
	a := &d.c.Identity
	d.object(n, path,
		field{"address", func(p string, v *yaml.Node) { d.addr(p, v, &a.Address) }},
		field{"interface", func(p string, v *yaml.Node) { d.text(p, v, true, checkIfName, &a.Interface) }},
		field{"cidr", func(p string, v *yaml.Node) { d.prefixes(p, v, &a.CIDRs) }},
		field{"sub_agent", func(p string, v *yaml.Node) { d.u32(p, v, 0, math.MaxUint32, &a.SubAgent) }},
	)
}

func (d *ydec) sampling(path string, n *yaml.Node) {
	s := &d.c.Sampling
	d.object(n, path,
		field{"rate", func(p string, v *yaml.Node) { d.u32(p, v, 1, MaxSamplingRate, &s.Rate) }},
		field{"speeds", func(p string, v *yaml.Node) {
			if v = d.deref(v); v == nil || isNull(v) {
				return
			}
			if v.Kind != yaml.MappingNode {
				d.errf(v, "%s: expected a mapping of speed to rate, got %s", p, describe(v))
				return
			}
			for i := 0; i+1 < len(v.Content); i += 2 {
				k := d.deref(v.Content[i])
				if k == nil {
					return
				}
				sp, err := ParseSpeed(k.Value)
				if k.Kind != yaml.ScalarNode || err != nil {
					d.errf(k, "%s: %s is not a speed such as 10G or 100M", p, describe(k))
					continue
				}
				if _, dup := s.Speeds[sp]; dup {
					d.errf(k, "%s: speed %v given twice", p, sp)
					continue
				}
				var rate uint32
				d.u32(p+"."+k.Value, v.Content[i+1], 1, MaxSamplingRate, &rate)
				if rate != 0 {
					s.Speeds[sp] = rate
				}
			}
		}},
		field{"bps_ratio", func(p string, v *yaml.Node) {
			d.uint(p, v, nil, func(u uint64) { s.BPSRatio = u })
		}},
	)
}

func (d *ydec) collectors(path string, n *yaml.Node) {
	d.list(n, path, func(p string, v *yaml.Node) {
		col := Collector{Port: DefaultPort}
		nerr := len(d.errs)
		if v = d.deref(v); v == nil {
			return
		}
		if v.Kind == yaml.ScalarNode && v.Tag == "!!str" {
			// shorthand: "host", "host:port", "[v6]:port"
			host, port := v.Value, ""
			if h, pt, err := net.SplitHostPort(v.Value); err == nil {
				host, port = h, pt
			}
			if msg := checkHostOrIP(host); msg != "" {
				d.errf(v, "%s: %s", p, msg)
				return
			}
			col.Address = host
			if port != "" {
				n, err := strconv.ParseUint(port, 10, 16)
				if err != nil || n == 0 {
					d.errf(v, "%s: port %q is outside 1..65535", p, port)
					return
				}
				col.Port = uint16(n)
			}
			d.c.Collectors = append(d.c.Collectors, col)
			return
		}
		if v.Kind != yaml.MappingNode {
			d.errf(v, "%s: expected a mapping or \"host:port\", got %s", p, describe(v))
			return
		}
		d.object(v, p,
			field{"address", func(p string, v *yaml.Node) { d.text(p, v, false, checkHostOrIP, &col.Address) }},
			field{"port", func(p string, v *yaml.Node) {
				d.uint(p, v, func(u uint64) string { return checkRange(u, 1, 65535) },
					func(u uint64) { col.Port = uint16(u) })
			}},
			field{"source", func(p string, v *yaml.Node) { d.addr(p, v, &col.Source) }},
			field{"interface", func(p string, v *yaml.Node) { d.text(p, v, true, checkIfName, &col.Interface) }},
		)
		switch {
		case col.Address != "":
			d.c.Collectors = append(d.c.Collectors, col)
		case len(d.errs) == nerr:
			d.errf(v, "%s: address is missing", p)
		}
	})
}

func (d *ydec) host(path string, n *yaml.Node) {
	h := &d.c.Host
	d.object(n, path,
		field{"enabled", func(p string, v *yaml.Node) { d.boolean(p, v, &h.Enabled) }},
		field{"interfaces", func(p string, v *yaml.Node) {
			d.object(v, p,
				field{"include", func(p string, v *yaml.Node) { d.text(p, v, true, checkRegexp, &h.Interfaces.Include) }},
				field{"exclude", func(p string, v *yaml.Node) { d.text(p, v, true, checkRegexp, &h.Interfaces.Exclude) }},
			)
		}},
		field{"proc_root", func(p string, v *yaml.Node) { d.text(p, v, false, nil, &h.ProcRoot) }},
		field{"sys_root", func(p string, v *yaml.Node) { d.text(p, v, false, nil, &h.SysRoot) }},
		field{"etc_root", func(p string, v *yaml.Node) { d.text(p, v, false, nil, &h.EtcRoot) }},
	)
}

func (d *ydec) modules(path string, n *yaml.Node) {
	m := &d.c.Modules
	enabled := func(dst *Mode) field {
		return field{"enabled", func(p string, v *yaml.Node) { d.mode(p, v, dst) }}
	}
	seconds := func(lo, hi time.Duration) func(time.Duration) string {
		return func(t time.Duration) string {
			switch {
			case t%time.Second != 0:
				return fmt.Sprintf("%v is not a whole number of seconds", t)
			case t < lo || t > hi:
				return fmt.Sprintf("%s is outside %s..%s", durationText(t), durationText(lo), durationText(hi))
			}
			return ""
		}
	}
	// after runs a check of a whole module at its node.
	after := func(v *yaml.Node, p, msg string) {
		if v = d.deref(v); v != nil && msg != "" {
			d.errf(v, "%s: %s", p, msg)
		}
	}
	d.object(n, path,
		field{"ovs", func(p string, v *yaml.Node) {
			o := &m.OVS
			d.object(v, p, enabled(&o.Enabled),
				field{"ovsdb", func(p string, v *yaml.Node) { d.text(p, v, false, checkOVSDB, &o.OVSDB) }},
				field{"bridges", func(p string, v *yaml.Node) {
					d.object(v, p,
						field{"include", func(p string, v *yaml.Node) { d.text(p, v, true, checkRegexp, &o.Bridges.Include) }},
						field{"exclude", func(p string, v *yaml.Node) { d.text(p, v, true, checkRegexp, &o.Bridges.Exclude) }})
				}},
				field{"policy", func(p string, v *yaml.Node) { d.text(p, v, false, checkOVSPolicy, &o.Policy) }},
				field{"remove_on_exit", func(p string, v *yaml.Node) { d.boolean(p, v, &o.RemoveOnExit) }},
				field{"allow", func(p string, v *yaml.Node) { d.prefixes(p, v, &o.Allow) }},
				field{"ssl", func(p string, v *yaml.Node) {
					d.object(v, p,
						field{"private_key", func(p string, v *yaml.Node) { d.text(p, v, true, nil, &o.SSL.PrivateKey) }},
						field{"certificate", func(p string, v *yaml.Node) { d.text(p, v, true, nil, &o.SSL.Certificate) }},
						field{"ca_cert", func(p string, v *yaml.Node) { d.text(p, v, true, nil, &o.SSL.CACert) }})
				}})
		}},
		field{"asic", func(p string, v *yaml.Node) { d.asic(p, v, &m.ASIC) }},
		field{"nvml", func(p string, v *yaml.Node) {
			d.object(v, p, enabled(&m.NVML.Enabled),
				field{"per_gpu", func(p string, v *yaml.Node) { d.boolean(p, v, &m.NVML.PerGPU) }})
		}},
		field{"kvm", func(p string, v *yaml.Node) {
			d.object(v, p, enabled(&m.KVM.Enabled),
				field{"refresh_vms", func(p string, v *yaml.Node) {
					d.duration(p, v, seconds(time.Minute, time.Hour), &m.KVM.RefreshVMs)
				}},
				field{"forget_vms", func(p string, v *yaml.Node) {
					d.duration(p, v, seconds(time.Minute, math.MaxUint32*time.Second), &m.KVM.ForgetVMs)
				}})
		}},
		field{"psample", func(p string, v *yaml.Node) {
			ps := &m.PSample
			d.object(v, p, enabled(&ps.Enabled),
				field{"group", func(p string, v *yaml.Node) { d.u32(p, v, 1, math.MaxUint32, &ps.Group) }},
				field{"ingress", func(p string, v *yaml.Node) { d.boolean(p, v, &ps.Ingress) }},
				field{"egress", func(p string, v *yaml.Node) { d.boolean(p, v, &ps.Egress) }})
		}},
		field{"nflog", func(p string, v *yaml.Node) {
			nf := &m.NFLOG
			d.object(v, p, enabled(&nf.Enabled),
				field{"group", func(p string, v *yaml.Node) { d.u32(p, v, 0, 65535, &nf.Group) }},
				field{"probability", func(p string, v *yaml.Node) {
					if v := d.scalar(v, p, "a number"); v != nil {
						var f float64
						if (v.Tag != "!!float" && v.Tag != "!!int") || v.Decode(&f) != nil {
							d.errf(v, "%s: expected a number, got %s", p, describe(v))
						} else if msg := checkProbability(f); msg != "" {
							d.errf(v, "%s: %s", p, msg)
						} else {
							nf.Probability = f
						}
					}
				}})
			after(v, p, checkNFLOG(*nf))
		}},
		field{"pcap", func(p string, v *yaml.Node) {
			pc := &m.PCAP
			nerr := len(d.errs)
			d.object(v, p, enabled(&pc.Enabled),
				field{"devices", func(p string, v *yaml.Node) {
					pc.Devices = []PCAPDevice{}
					d.list(v, p, func(p string, v *yaml.Node) { d.pcapDevice(p, v) })
				}})
			if len(d.errs) == nerr {
				after(v, p, checkPCAP(*pc))
			}
		}},
		field{"dropmon", func(p string, v *yaml.Node) {
			dm := &m.DropMon
			flag := func(name string, dst *bool) field {
				return field{name, func(p string, v *yaml.Node) { d.boolean(p, v, dst) }}
			}
			d.object(v, p, enabled(&dm.Enabled),
				flag("start", &dm.Start),
				field{"limit", func(p string, v *yaml.Node) { d.u32(p, v, 1, 10000, &dm.Limit) }},
				field{"max", func(p string, v *yaml.Node) { d.u32(p, v, 1, math.MaxUint32, &dm.Max) }},
				flag("sw", &dm.SW), flag("hw", &dm.HW), flag("rn", &dm.RN),
				flag("hw_unknown", &dm.HWUnknown),
				flag("sw_passive", &dm.SWPassive), flag("hw_passive", &dm.HWPassive),
				field{"hide", func(p string, v *yaml.Node) { d.text(p, v, true, checkRegexp, &dm.Hide) }})
		}},
	)
}

func (d *ydec) pcapDevice(path string, n *yaml.Node) {
	if n = d.deref(n); n == nil {
		return
	}
	dev := PCAPDevice{VPort: Auto}
	d.object(n, path,
		field{"dev", func(p string, v *yaml.Node) { d.text(p, v, true, checkIfName, &dev.Dev) }},
		field{"speed", func(p string, v *yaml.Node) {
			if v := d.scalar(v, p, "a speed range"); v != nil && v.Value != "" {
				r, err := ParseSpeedRange(v.Value)
				if err != nil {
					d.errf(v, "%s: %q is not a speed range such as 10G, 1G-100G or 1G-", p, v.Value)
					return
				}
				dev.Speed = r
			}
		}},
		field{"promisc", func(p string, v *yaml.Node) { d.boolean(p, v, &dev.Promisc) }},
		field{"vport", func(p string, v *yaml.Node) { d.mode(p, v, &dev.VPort) }},
		field{"sampling", func(p string, v *yaml.Node) { d.u32(p, v, 0, MaxSamplingRate, &dev.Sampling) }},
	)
	if msg := checkPCAPDevice(dev); msg != "" {
		d.errf(n, "%s: %s", path, msg)
		return
	}
	d.c.Modules.PCAP.Devices = append(d.c.Modules.PCAP.Devices, dev)
}

// prefixes reads a list of address prefixes such as 10.0.0.0/8.
func (d *ydec) prefixes(path string, n *yaml.Node, dst *[]netip.Prefix) {
	*dst = []netip.Prefix{}
	d.list(n, path, func(p string, v *yaml.Node) {
		d.str(p, v, func(s string) {
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				d.errf(v, "%s: %q is not an address prefix such as 10.0.0.0/8", p, s)
				return
			}
			*dst = append(*dst, pfx.Masked())
		})
	})
}

package config

import (
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// hsflowd.conf, as hsflowd reads it: after a '#' the line is a comment;
// tokens are separated by spaces, tabs, '=' and ';' (so `ip=10.0.0.1`,
// `ip = 10.0.0.1` and `ip 10.0.0.1` are the same); '{' and '}' are tokens
// of their own; a token may be "quoted" to hold those characters; names are
// matched without regard to case. The file is one `sflow { ... }` block of
// settings, collector blocks and module blocks.

// htok is one token of an hsflowd.conf file.
type htok struct {
	s         string
	line, col int
	kind      byte // 'w' word, '{', '}'
}

type hparser struct {
	diag
	c    *Config
	toks []htok
	i    int
	// samplingOff is the value of `sampling = 0`, hsflowd's "no packet
	// sampling".
	samplingOff *htok
}

func parseHsflowd(name string, data []byte) (*Config, error) {
	p := &hparser{diag: diag{file: name}, c: defaults(SyntaxHsflowd)}
	p.tokenize(data)
	if len(p.errs) == 0 {
		p.parse()
	}
	if t := p.samplingOff; t != nil {
		m := p.c.Modules
		if m.PCAP.Enabled == On || m.NFLOG.Enabled == On || m.PSample.Enabled == On {
			p.errTok(*t, "sampling: 0 turns packet sampling off in hsflowd, but a pcap, nflog or psample block turns it on")
		} else {
			p.warnTok(*t, "sampling: 0 (no packet sampling) is what gwd does without pcap, nflog or psample blocks; ignored")
		}
	}
	return finish(p.c, &p.diag)
}

func (p *hparser) tokenize(data []byte) {
	for ln, line := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		for i := 0; i < len(line); {
			ch := line[i]
			switch {
			case strings.IndexByte(" \t\r=;", ch) >= 0:
				i++
			case ch == '{' || ch == '}':
				p.toks = append(p.toks, htok{s: line[i : i+1], line: ln + 1, col: i + 1, kind: ch})
				i++
			case ch == '"':
				end := strings.IndexByte(line[i+1:], '"')
				if end < 0 {
					p.errAt(ln+1, i+1, "unterminated quoted string")
					return
				}
				p.toks = append(p.toks, htok{s: line[i+1 : i+1+end], line: ln + 1, col: i + 1, kind: 'w'})
				i += end + 2
			default:
				j := i
				for j < len(line) && strings.IndexByte(" \t\r=;{}\"", line[j]) < 0 {
					j++
				}
				p.toks = append(p.toks, htok{s: line[i:j], line: ln + 1, col: i + 1, kind: 'w'})
				i = j
			}
		}
	}
}

func (p *hparser) next() (htok, bool) {
	if p.i >= len(p.toks) {
		return htok{}, false
	}
	p.i++
	return p.toks[p.i-1], true
}

func (p *hparser) peek() (htok, bool) {
	if p.i >= len(p.toks) {
		return htok{}, false
	}
	return p.toks[p.i], true
}

func (p *hparser) errTok(t htok, format string, a ...any) {
	p.errAt(t.line, t.col, format, a...)
}

func (p *hparser) warnTok(t htok, format string, a ...any) {
	p.warnAt(t.line, t.col, format, a...)
}

func (p *hparser) parse() {
	t, ok := p.next()
	if !ok {
		p.errAt(1, 1, `expected "sflow {", found an empty file`)
		return
	}
	if t.kind != 'w' || !strings.EqualFold(t.s, "sflow") {
		p.errTok(t, `expected "sflow {", found %q`, t.s)
		return
	}
	open, ok := p.next()
	if !ok || open.kind != '{' {
		p.errTok(t, `expected "{" after "sflow"`)
		return
	}
	if !p.pairs(open, "sflow", p.setting, p.block) {
		return
	}
	if t, ok := p.next(); ok {
		p.errTok(t, "unexpected %q after the sflow block", t.s)
	}
}

// pairs reads `key value` settings and `name { }` blocks up to the '}'
// closing open. It returns false after a structural error.
func (p *hparser) pairs(open htok, where string, set func(k, v htok), block func(name, open htok) bool) bool {
	for {
		t, ok := p.next()
		if !ok {
			p.errTok(open, `"{" is never closed`)
			return false
		}
		switch t.kind {
		case '}':
			return true
		case '{':
			p.errTok(t, `unexpected "{"`)
			return false
		}
		if nt, ok := p.peek(); ok && nt.kind == '{' {
			p.i++
			if block == nil {
				p.errTok(t, "unexpected block %q inside %s { }", t.s, where)
				return false
			}
			if !block(t, nt) {
				return false
			}
			continue
		}
		v, ok := p.next()
		if !ok || v.kind != 'w' {
			p.errTok(t, "%s: missing value", t.s)
			return false
		}
		set(t, v)
	}
}

// skip skips a block whose '{' was just read.
func (p *hparser) skip(open htok) bool {
	for depth := 1; depth > 0; {
		t, ok := p.next()
		if !ok {
			p.errTok(open, `"{" is never closed`)
			return false
		}
		switch t.kind {
		case '{':
			depth++
		case '}':
			depth--
		}
	}
	return true
}

// Value readers: each reports a bad value at the value's token and
// returns false.

// integer reads an integer as hsflowd does: decimal (or 0x hex), with an
// optional K, M or G multiplier.
func (p *hparser) integer(k, v htok, lo, hi uint64) (uint64, bool) {
	s := v.s
	mult := uint64(1)
	if s != "" {
		switch s[len(s)-1] &^ 0x20 {
		case 'K':
			mult, s = 1e3, s[:len(s)-1]
		case 'M':
			mult, s = 1e6, s[:len(s)-1]
		case 'G':
			mult, s = 1e9, s[:len(s)-1]
		}
	}
	n, err := strconv.ParseUint(s, 0, 64)
	if s == "" || s[0] < '0' || s[0] > '9' || err != nil || n > math.MaxUint64/mult {
		p.errTok(v, "%s: expected an integer, got %q", k.s, v.s)
		return 0, false
	}
	n *= mult
	if msg := checkRange(n, lo, hi); msg != "" {
		p.errTok(v, "%s: %s", k.s, msg)
		return 0, false
	}
	return n, true
}

func (p *hparser) onOff(k, v htok) (bool, bool) {
	switch strings.ToLower(v.s) {
	case "on":
		return true, true
	case "off":
		return false, true
	}
	p.errTok(v, "%s: expected on or off, got %q", k.s, v.s)
	return false, false
}

func (p *hparser) check(k, v htok, msg string) bool {
	if msg != "" {
		p.errTok(v, "%s: %s", k.s, msg)
		return false
	}
	return true
}

func (p *hparser) probability(k, v htok) (float64, bool) {
	f, err := strconv.ParseFloat(v.s, 64)
	if v.s == "" || v.s[0] < '0' || v.s[0] > '9' || err != nil {
		p.errTok(v, "%s: expected a number, got %q", k.s, v.s)
		return 0, false
	}
	return f, p.check(k, v, checkProbability(f))
}

// hsflowd settings of the sflow block that gwd reads but does not use.
var hsflowdIgnored = []string{
	"uuid", "loopback", "DNSSD", "DNSSD_domain", "refreshAdaptors", "checkAdaptors",
	"refreshVMs", "forgetVMs", "modules", "samplingDirection", "xen.update.dominfo",
	"xen.dsk", "ulogGroup", "ulogProbability", "jsonPort", "jsonFIFO",
}

// hsflowd settings of the sflow block that gwd uses.
var hsflowdSettings = []string{
	"polling", "counterPollingInterval", "sampling", "packetSamplingRate",
	"sampling.bps_ratio", "agent", "agentIP", "agent.cidr", "subAgentId",
	"headerBytes", "datagramBytes", "nflogGroup", "nflogProbability",
}

// hsflowd module blocks that gwd does not have.
var hsflowdOtherModules = []string{
	"dns-sd", "json", "xen", "docker", "containerd", "k8s", "ulog", "tcp",
	"cumulus", "dent", "os10", "opx", "sonic", "dbus", "systemd", "eapi",
	"nlroute", "vpp",
}

var hsflowdModules = []string{"collector", "ovs", "nvml", "kvm", "psample", "nflog", "pcap", "dropmon"}

// HsflowdMaxSubAgent is the largest subAgentId hsflowd accepts.
const HsflowdMaxSubAgent = 199999

func (p *hparser) setting(k, v htok) {
	c := p.c
	key := strings.ToLower(k.s)
	switch key {
	case "polling", "counterpollinginterval":
		if n, ok := p.integer(k, v, 0, 300); ok {
			if n == 0 {
				p.errTok(v, "%s: 0 turns counter polling off in hsflowd; gwd polls every 1..300 seconds", k.s)
				return
			}
			c.Polling = time.Duration(n) * time.Second
		}
	case "sampling", "packetsamplingrate":
		if n, ok := p.integer(k, v, 0, MaxSamplingRate); ok {
			if n == 0 {
				p.samplingOff = &v
				return
			}
			c.Sampling.Rate = uint32(n)
		}
	case "agent":
		if p.check(k, v, checkIfName(v.s)) {
			c.Identity.Interface = v.s
		}
	case "agentip":
		a, err := netip.ParseAddr(v.s)
		if err != nil {
			p.errTok(v, "%s: %q is not an IP address (gwd does not resolve host names here)", k.s, v.s)
			return
		}
		c.Identity.Address = a
	case "agent.cidr":
		if strings.HasPrefix(v.s, "!") {
			p.errTok(v, "%s: excluding a prefix (%s) is not supported by gwd", k.s, v.s)
			return
		}
		pfx, err := netip.ParsePrefix(v.s)
		if err != nil {
			p.errTok(v, "%s: %q is not an address prefix such as 10.0.0.0/8", k.s, v.s)
			return
		}
		c.Identity.CIDRs = append(c.Identity.CIDRs, pfx.Masked())
	case "subagentid":
		if n, ok := p.integer(k, v, 0, HsflowdMaxSubAgent); ok {
			c.Identity.SubAgent = uint32(n)
		}
	case "headerbytes":
		if n, ok := p.integer(k, v, 0, math.MaxUint32); ok && p.check(k, v, checkHeaderBytes(n)) {
			c.HeaderBytes = int(n)
		}
	case "datagrambytes":
		if n, ok := p.integer(k, v, 0, math.MaxUint32); ok && p.check(k, v, checkDatagramBytes(n)) {
			c.DatagramBytes = int(n)
		}
	case "nfloggroup":
		if n, ok := p.integer(k, v, 1, 65535); ok {
			c.Modules.NFLOG.Group = uint32(n)
		}
	case "nflogprobability":
		if f, ok := p.probability(k, v); ok {
			c.Modules.NFLOG.Probability = f
		}
	default:
		lower := func(s []string) []string {
			out := make([]string, len(s))
			for i := range s {
				out[i] = strings.ToLower(s[i])
			}
			return out
		}
		switch {
		case slices.Contains(lower(hsflowdIgnored), key):
			p.warnTok(k, "%s: hsflowd setting not used by gwd; ignored", k.s)
		case strings.HasPrefix(key, "sampling."):
			p.speedSampling(k, v)
		case strings.HasPrefix(key, "polling."):
			if _, ok := p.integer(k, v, 0, 300); ok {
				p.warnTok(k, "%s: per-application polling is not used by gwd; ignored", k.s)
			}
		default:
			known := slices.Concat(hsflowdSettings, hsflowdIgnored)
			p.errTok(k, "unknown sflow setting %q%s", k.s, suggest(k.s, known))
		}
	}
}

// speedSampling reads sampling.<speed>, sampling.bps_ratio and
// sampling.<application>.
func (p *hparser) speedSampling(k, v htok) {
	what := k.s[len("sampling."):]
	if strings.EqualFold(what, "bps_ratio") {
		if n, ok := p.integer(k, v, 0, MaxSamplingRate); ok {
			p.c.Sampling.BPSRatio = n
		}
		return
	}
	sp, err := ParseSpeed(what)
	if err != nil {
		if _, ok := p.integer(k, v, 0, MaxSamplingRate); ok {
			p.warnTok(k, "%s: application sampling is not used by gwd; ignored", k.s)
		}
		return
	}
	if n, ok := p.integer(k, v, 1, MaxSamplingRate); ok {
		p.c.Sampling.Speeds[sp] = uint32(n)
	}
}

func (p *hparser) block(name, open htok) bool {
	key := strings.ToLower(name.s)
	m := &p.c.Modules
	unknown := func(k, _ htok) {
		p.errTok(k, "unknown %s setting %q", key, k.s)
	}
	switch key {
	case "collector":
		return p.collector(name, open)
	case "ovs":
		m.OVS.Enabled = On
		return p.pairs(open, key, unknown, nil)
	case "nvml":
		m.NVML.Enabled = On
		return p.pairs(open, key, unknown, nil)
	case "kvm":
		m.KVM.Enabled = On
		return p.pairs(open, key, func(k, v htok) {
			switch strings.ToLower(k.s) {
			case "refreshvms":
				if n, ok := p.integer(k, v, 60, 3600); ok {
					m.KVM.RefreshVMs = time.Duration(n) * time.Second
				}
			case "forgetvms":
				if n, ok := p.integer(k, v, 60, math.MaxUint32); ok {
					m.KVM.ForgetVMs = time.Duration(n) * time.Second
				}
			default:
				p.errTok(k, "unknown kvm setting %q%s", k.s, suggest(k.s, []string{"refreshVMs", "forgetVMs"}))
			}
		}, nil)
	case "psample":
		m.PSample = defaultPSample()
		m.PSample.Enabled = On
		return p.pairs(open, key, func(k, v htok) {
			ps := &m.PSample
			switch strings.ToLower(k.s) {
			case "group":
				if n, ok := p.integer(k, v, 1, math.MaxUint32); ok {
					ps.Group = uint32(n)
				}
			case "ingress":
				ps.Ingress, _ = p.onOffOr(k, v, ps.Ingress)
			case "egress":
				ps.Egress, _ = p.onOffOr(k, v, ps.Egress)
			default:
				p.errTok(k, "unknown psample setting %q%s", k.s, suggest(k.s, []string{"group", "ingress", "egress"}))
			}
		}, nil)
	case "nflog":
		return p.nflog(name, open)
	case "pcap":
		return p.pcap(name, open)
	case "dropmon":
		return p.dropmon(open)
	}
	if slices.Contains(hsflowdOtherModules, key) {
		p.warnTok(name, "%s { }: hsflowd module not in gwd; ignored", name.s)
	} else {
		p.warnTok(name, "%s { }: unknown block; ignored%s", name.s, suggest(name.s, hsflowdModules))
	}
	return p.skip(open)
}

// onOffOr returns the on/off value, or old after an error.
func (p *hparser) onOffOr(k, v htok, old bool) (bool, bool) {
	b, ok := p.onOff(k, v)
	if !ok {
		return old, false
	}
	return b, true
}

func (p *hparser) collector(name, open htok) bool {
	col := Collector{Port: DefaultPort}
	hasIP := false
	ok := p.pairs(open, "collector", func(k, v htok) {
		switch strings.ToLower(k.s) {
		case "ip":
			hasIP = true
			if p.check(k, v, checkHostOrIP(v.s)) {
				col.Address = v.s
			}
		case "udpport":
			if n, ok := p.integer(k, v, 1, 65535); ok {
				col.Port = uint16(n)
			}
		case "dev":
			if p.check(k, v, checkIfName(v.s)) {
				col.Interface = v.s
			}
		case "namespace":
			p.warnTok(k, "%s: sending from another network namespace is not supported by gwd; ignored", k.s)
		default:
			p.errTok(k, "unknown collector setting %q%s", k.s, suggest(k.s, []string{"ip", "UDPPort", "dev", "namespace"}))
		}
	}, nil)
	if !ok {
		return false
	}
	switch {
	case !hasIP:
		p.errTok(name, "collector { } has no ip")
	case col.Address != "":
		p.c.Collectors = append(p.c.Collectors, col)
	}
	return true
}

func (p *hparser) nflog(name, open htok) bool {
	nf := &p.c.Modules.NFLOG
	nf.Enabled = On
	ok := p.pairs(open, "nflog", func(k, v htok) {
		switch strings.ToLower(k.s) {
		case "group", "nfloggroup":
			if n, ok := p.integer(k, v, 1, 65535); ok {
				nf.Group = uint32(n)
			}
		case "probability", "nflogprobability":
			if f, ok := p.probability(k, v); ok {
				nf.Probability = f
			}
		default:
			p.errTok(k, "unknown nflog setting %q%s", k.s, suggest(k.s, []string{"group", "probability"}))
		}
	}, nil)
	if ok && nf.Group == 0 {
		// hsflowd opens nothing without a group: keep the file working.
		p.warnTok(name, "nflog { } has no group, so it samples nothing; module off")
		nf.Enabled = Off
	}
	return ok
}

func (p *hparser) pcap(name, open htok) bool {
	dev := PCAPDevice{VPort: Auto}
	ok := p.pairs(open, "pcap", func(k, v htok) {
		switch strings.ToLower(k.s) {
		case "dev":
			if p.check(k, v, checkIfName(v.s)) {
				dev.Dev = v.s
			}
		case "promisc":
			dev.Promisc, _ = p.onOffOr(k, v, dev.Promisc)
		case "vport":
			if b, ok := p.onOff(k, v); ok {
				dev.VPort = map[bool]Mode{true: On, false: Off}[b]
			}
		case "speed":
			r, err := ParseSpeedRange(v.s)
			if err != nil {
				p.errTok(v, "%s: %q is not a speed range such as 10G, 1G-100G or 1G-", k.s, v.s)
				return
			}
			dev.Speed = r
		case "sampling":
			if n, ok := p.integer(k, v, 0, MaxSamplingRate); ok {
				dev.Sampling = uint32(n)
			}
		default:
			p.errTok(k, "unknown pcap setting %q%s", k.s,
				suggest(k.s, []string{"dev", "promisc", "vport", "speed", "sampling"}))
		}
	}, nil)
	if !ok {
		return false
	}
	if msg := checkPCAPDevice(dev); msg != "" {
		p.warnTok(name, "pcap { } has neither dev nor speed, so it samples nothing; ignored")
		return true
	}
	p.c.Modules.PCAP.Enabled = On
	p.c.Modules.PCAP.Devices = append(p.c.Modules.PCAP.Devices, dev)
	return true
}

func (p *hparser) dropmon(open htok) bool {
	dm := &p.c.Modules.DropMon
	*dm = defaultDropMon()
	dm.Enabled = On
	flags := map[string]*bool{
		"start": &dm.Start, "sw": &dm.SW, "hw": &dm.HW, "rn": &dm.RN, "hw_unknown": &dm.HWUnknown,
		"sw_passive": &dm.SWPassive, "hw_passive": &dm.HWPassive,
	}
	return p.pairs(open, "dropmon", func(k, v htok) {
		key := strings.ToLower(k.s)
		if f := flags[key]; f != nil {
			*f, _ = p.onOffOr(k, v, *f)
			return
		}
		switch key {
		case "group":
			if _, ok := p.integer(k, v, 1, math.MaxUint32); ok {
				p.warnTok(k, "%s: deprecated in hsflowd; ignored", k.s)
			}
		case "hw_function":
			if _, ok := p.onOff(k, v); ok {
				p.warnTok(k, "%s: deprecated in hsflowd; ignored", k.s)
			}
		case "hide":
			if p.check(k, v, checkRegexp(v.s)) {
				dm.Hide = v.s
			}
		case "limit":
			if n, ok := p.integer(k, v, 1, 10000); ok {
				dm.Limit = uint32(n)
			}
		case "max":
			if n, ok := p.integer(k, v, 1, math.MaxUint32); ok {
				dm.Max = uint32(n)
			}
		default:
			known := []string{"start", "sw", "hw", "rn", "hw_unknown", "sw_passive", "hw_passive", "hide", "limit", "max"}
			p.errTok(k, "unknown dropmon setting %q%s", k.s, suggest(k.s, known))
		}
	}, nil)
}

package config

import (
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
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

func parseHsflowd(name string, data []byte, sections []Section) (*Config, error) {
	p := &hparser{diag: diag{file: name}, c: newConfig(SyntaxHsflowd, sections)}
	p.tokenize(data)
	if len(p.errs) == 0 {
		p.parse()
	}
	if t := p.samplingOff; t != nil {
		p.warnTok(*t, "sampling: 0 (no packet sampling) is what gwd does without a packet sampling module; ignored")
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

// hsflowd settings of the sflow block that gwd reads but does not use.
var hsflowdIgnored = []string{
	"uuid", "loopback", "DNSSD", "DNSSD_domain", "refreshAdaptors", "checkAdaptors",
	"refreshVMs", "forgetVMs", "modules", "samplingDirection", "xen.update.dominfo",
	"xen.dsk", "ulogGroup", "ulogProbability", "jsonPort", "jsonFIFO",
}

// hsflowd module blocks that gwd does not have and will not: what they do
// is done another way (cumulus and sonic: the asic module).
var hsflowdOtherModules = []string{"cumulus", "sonic"}

func (p *hparser) setting(k, v htok) {
	key := strings.ToLower(k.s)
	switch {
	case key == "polling" || key == "counterpollinginterval":
		n, ok := p.integer(k, v, 0, 300)
		if ok && n == 0 {
			p.errTok(v, "%s: 0 turns counter polling off in hsflowd; gwd polls every 1..300 seconds", k.s)
			return
		}
		if ok {
			p.generic(reflect.ValueOf(&p.c.Core).Elem(), k, htok{s: strconv.FormatUint(n, 10), line: v.line, col: v.col})
		}
	case key == "sampling" || key == "packetsamplingrate":
		if n, ok := p.integer(k, v, 0, MaxSamplingRate); ok {
			if n == 0 {
				p.samplingOff = &v
				return
			}
			p.c.Sampling.Rate = uint32(n)
		}
	case key == "agent.cidr" && strings.HasPrefix(v.s, "!"):
		p.errTok(v, "%s: excluding a prefix (%s) is not supported by gwd", k.s, v.s)
	case key == "subagentid":
		if n, ok := p.integer(k, v, 0, HsflowdMaxSubAgent); ok {
			p.c.Identity.SubAgent = uint32(n)
		}
	case key == "nfloggroup" || key == "nflogprobability":
		p.moduleSetting("nflog", k, v)
	case slices.Contains(lower(hsflowdIgnored), key):
		p.warnTok(k, "%s: hsflowd setting not used by gwd; ignored", k.s)
	case strings.HasPrefix(key, "sampling.") && key != "sampling.bps_ratio":
		p.speedSampling(k, v)
	case strings.HasPrefix(key, "polling."):
		if _, ok := p.integer(k, v, 0, 300); ok {
			p.warnTok(k, "%s: per-application polling is not used by gwd; ignored", k.s)
		}
	default:
		if !p.generic(reflect.ValueOf(&p.c.Core).Elem(), k, v) {
			known := slices.Concat(hsflowdNames(reflect.TypeFor[Core]()), hsflowdIgnored)
			p.errTok(k, "unknown sflow setting %q%s", k.s, suggest(k.s, known))
		}
	}
}

func lower(s []string) []string {
	out := make([]string, len(s))
	for i := range s {
		out[i] = strings.ToLower(s[i])
	}
	return out
}

// generic sets the key of struct v (or of a struct inside it) whose
// hsflowd tag names k; a list gets the value appended. It returns false
// when no key has that spelling.
func (p *hparser) generic(v reflect.Value, k, val htok) bool {
	fv, f, ok := hsflowdField(v, k.s)
	if !ok {
		return false
	}
	text := val.s
	if kind := fv.Kind(); kind >= reflect.Int && kind <= reflect.Uint64 && fv.Type() != durationType {
		if n, ok := p.integer(k, val, 0, math.MaxUint64); ok {
			text = strconv.FormatUint(n, 10)
		} else {
			return true
		}
	}
	if fv.Kind() == reflect.Slice {
		e := reflect.New(fv.Type().Elem()).Elem()
		if msg := setText(e, text, f); msg != "" {
			p.errTok(val, "%s: %s", k.s, msg)
			return true
		}
		fv.Set(reflect.Append(fv, e))
		return true
	}
	if msg := setText(fv, text, f); msg != "" {
		p.errTok(val, "%s: %s", k.s, msg)
	}
	return true
}

// hsflowdField finds the field of struct v spelled name in hsflowd.conf.
func hsflowdField(v reflect.Value, name string) (reflect.Value, fieldInfo, bool) {
	for _, f := range fields(v.Type()) {
		fv := v.Field(f.index)
		for _, h := range f.hsflowd {
			if strings.EqualFold(h, name) {
				return fv, f, true
			}
		}
		if fv.Kind() == reflect.Struct && !isScalar(f.goType) {
			if r, rf, ok := hsflowdField(fv, name); ok {
				return r, rf, true
			}
		}
	}
	return reflect.Value{}, fieldInfo{}, false
}

// hsflowdNames lists the hsflowd spellings of struct type t's keys.
func hsflowdNames(t reflect.Type) []string {
	var out []string
	for _, f := range fields(t) {
		out = append(out, f.hsflowd...)
		if f.goType.Kind() == reflect.Struct && !isScalar(f.goType) {
			out = append(out, hsflowdNames(f.goType)...)
		}
	}
	return out
}

// speedSampling reads sampling.<speed> and sampling.<application>.
func (p *hparser) speedSampling(k, v htok) {
	what := k.s[len("sampling."):]
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
	if key == "collector" {
		return p.collector(name, open)
	}
	for _, s := range p.c.order {
		if s.Hsflowd == "" || !strings.EqualFold(s.Hsflowd, key) {
			continue
		}
		v := reflect.ValueOf(p.c.sections[s.Name]).Elem()
		if fv, _, ok := modeField(v); ok {
			fv.Set(reflect.ValueOf(On))
		}
		return p.pairs(open, key, func(k, val htok) {
			if !p.generic(v, k, val) {
				p.errTok(k, "unknown %s setting %q%s", key, k.s, suggest(k.s, hsflowdNames(v.Type())))
			}
		}, nil)
	}
	switch {
	case slices.Contains(Unsupported, key):
		p.warnTok(name, "%s { }: the %s module is not supported by gwd yet; ignored", name.s, key)
	case slices.Contains(hsflowdOtherModules, key):
		p.warnTok(name, "%s { }: hsflowd module not in gwd (its data comes from another gwd module); ignored", name.s)
	default:
		known := slices.Concat([]string{"collector"}, Unsupported, hsflowdOtherModules)
		for _, s := range p.c.order {
			if s.Hsflowd != "" {
				known = append(known, s.Hsflowd)
			}
		}
		p.warnTok(name, "%s { }: unknown block; ignored%s", name.s, suggest(name.s, known))
	}
	return p.skip(open)
}

// moduleSetting applies an sflow-level setting that belongs to module
// block name (hsflowd's nflogGroup = nflog { group }) and turns the module
// on, as the block would.
func (p *hparser) moduleSetting(name string, k, v htok) {
	for _, s := range p.c.order {
		if !strings.EqualFold(s.Hsflowd, name) {
			continue
		}
		sv := reflect.ValueOf(p.c.sections[s.Name]).Elem()
		if fv, _, ok := modeField(sv); ok {
			fv.Set(reflect.ValueOf(On))
		}
		if !p.generic(sv, k, v) {
			p.errTok(k, "%s: not a %s setting", k.s, name)
		}
		return
	}
	p.warnTok(k, "%s: the %s module is not in this build; ignored", k.s, name)
}

// modeField returns the `enabled` key of a section, when it is a Mode.
func modeField(v reflect.Value) (reflect.Value, fieldInfo, bool) {
	for _, f := range fields(v.Type()) {
		if f.key == "enabled" && f.goType == modeType {
			return v.Field(f.index), f, true
		}
	}
	return reflect.Value{}, fieldInfo{}, false
}

func (p *hparser) collector(name, open htok) bool {
	col := Collector{}
	setDefaults(reflect.ValueOf(&col).Elem(), SyntaxHsflowd)
	hasIP := false
	nerr := len(p.errs)
	ok := p.pairs(open, "collector", func(k, v htok) {
		switch {
		case strings.EqualFold(k.s, "namespace"):
			p.warnTok(k, "%s: sending from another network namespace is not supported by gwd; ignored", k.s)
		case p.generic(reflect.ValueOf(&col).Elem(), k, v):
			hasIP = hasIP || strings.EqualFold(k.s, "ip")
		default:
			p.errTok(k, "unknown collector setting %q%s", k.s, suggest(k.s, append(hsflowdNames(reflect.TypeFor[Collector]()), "namespace")))
		}
	}, nil)
	if !ok {
		return false
	}
	switch {
	case !hasIP:
		p.errTok(name, "collector { } has no ip")
	case len(p.errs) == nerr:
		p.c.Collectors = append(p.c.Collectors, col)
	}
	return true
}

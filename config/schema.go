package config

import (
	"encoding"
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A Section is one block of configuration that one package owns: the core
// settings (Core, in this package) or a module's section (in the module's
// package). Its keys are the tagged fields of the struct Value points to;
// every key is described there once, and that description drives the YAML
// reader, the hsflowd.conf import, Text (`gwd config check`) and
// docs/config.md (Markdown).
//
// Field tags:
//
//	key        the YAML key (fields without it are not configuration)
//	doc        one line for docs/config.md
//	default    the default, written as in YAML ("20s", "auto", "a,b" for a list)
//	hsdefault  the default when the file is an hsflowd.conf, if different
//	hsflowd    the key's hsflowd.conf spelling(s), comma-separated
//	type       the type as docs/config.md names it, when the Go type says too little
//	min, max   bounds of a number or a duration
//	check      named checks, comma-separated: nonempty, regexp, ifname, hostorip, ovsdb, seconds
//	enum       the allowed strings, separated by |
//	secret     "true": never printed or logged
//
// A struct type may implement Validate() error for checks over several
// keys; a list element may implement UnmarshalShorthand(string) error to
// accept a string in place of a mapping.
type Section struct {
	// Name is the module's name ("ovs"); the core section's is "".
	Name string
	// Path is where the section sits in gwd YAML: "host", "modules.ovs".
	Path string
	// Doc is a paragraph for docs/config.md.
	Doc string
	// Hsflowd is the hsflowd.conf block that turns the module on
	// (`ovs { }`); "" when hsflowd has none.
	Hsflowd string
	// Value is a pointer to the section's struct; only its type is used.
	Value any
}

// Moder is implemented by a module's section: its mode (auto, true, false).
type Moder interface{ ModuleMode() Mode }

// Validator is implemented by structs with checks over several keys.
type Validator interface{ Validate() error }

// Shorthander is implemented by list elements that may be written as a
// string (a collector as "host:port").
type Shorthander interface{ UnmarshalShorthand(s string) error }

// fieldInfo is one key of a section, read from the struct tags.
type fieldInfo struct {
	index     int
	key       string
	doc       string
	def       string
	hsdef     *string
	hsflowd   []string
	typ       string
	min, max  string
	checks    []string
	enum      []string
	secret    bool
	goType    reflect.Type
	hasDefTag bool
}

var fieldCache sync.Map // reflect.Type -> []fieldInfo

// fields returns the configuration keys of struct type t.
func fields(t reflect.Type) []fieldInfo {
	if v, ok := fieldCache.Load(t); ok {
		return v.([]fieldInfo)
	}
	var out []fieldInfo
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		key, ok := sf.Tag.Lookup("key")
		if !ok || key == "-" || !sf.IsExported() {
			continue
		}
		f := fieldInfo{index: i, key: key, doc: sf.Tag.Get("doc"), typ: sf.Tag.Get("type"),
			min: sf.Tag.Get("min"), max: sf.Tag.Get("max"), secret: sf.Tag.Get("secret") == "true", goType: sf.Type}
		f.def, f.hasDefTag = sf.Tag.Lookup("default")
		if hd, ok := sf.Tag.Lookup("hsdefault"); ok {
			f.hsdef = &hd
		}
		if h := sf.Tag.Get("hsflowd"); h != "" {
			f.hsflowd = strings.Split(h, ",")
		}
		if c := sf.Tag.Get("check"); c != "" {
			f.checks = strings.Split(c, ",")
		}
		if e, ok := sf.Tag.Lookup("enum"); ok {
			f.enum = strings.Split(e, "|")
		}
		out = append(out, f)
	}
	fieldCache.Store(t, out)
	return out
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	modeType     = reflect.TypeFor[Mode]()
	addrType     = reflect.TypeFor[netip.Addr]()
	prefixType   = reflect.TypeFor[netip.Prefix]()
	textUnmType  = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// isScalar reports whether values of t are written as one YAML scalar.
func isScalar(t reflect.Type) bool {
	switch t {
	case durationType, modeType, addrType, prefixType:
		return true
	}
	if reflect.PointerTo(t).Implements(textUnmType) {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float64:
		return true
	}
	return false
}

// newSection returns a new value of the section's struct with every
// default of syntax filled in.
func newSection(s Section, syntax Syntax) reflect.Value {
	v := reflect.New(reflect.TypeOf(s.Value).Elem())
	setDefaults(v.Elem(), syntax)
	return v
}

// setDefaults fills the defaults of struct value v (panics on a bad
// default tag: that is a programming error caught by every test).
func setDefaults(v reflect.Value, syntax Syntax) {
	for _, f := range fields(v.Type()) {
		fv := v.Field(f.index)
		def := f.def
		if syntax == SyntaxHsflowd && f.hsdef != nil {
			def = *f.hsdef
		}
		switch {
		case fv.Kind() == reflect.Struct && !isScalar(f.goType):
			setDefaults(fv, syntax)
		case fv.Kind() == reflect.Slice:
			fv.Set(reflect.MakeSlice(f.goType, 0, 0))
			if def != "" {
				for item := range strings.SplitSeq(def, ",") {
					e := reflect.New(f.goType.Elem()).Elem()
					if msg := setText(e, strings.TrimSpace(item), f); msg != "" {
						panic(fmt.Sprintf("config: default of %s: %s", f.key, msg))
					}
					fv.Set(reflect.Append(fv, e))
				}
			}
		case fv.Kind() == reflect.Map:
			fv.Set(reflect.MakeMap(f.goType))
		case def != "":
			if msg := setText(fv, def, f); msg != "" {
				panic(fmt.Sprintf("config: default of %s: %s", f.key, msg))
			}
		}
	}
}

// setText sets scalar v from its text, as written in hsflowd.conf or in a
// default tag, and checks it; it returns "" or what is wrong.
func setText(v reflect.Value, s string, f fieldInfo) string {
	t := v.Type()
	switch {
	case t == durationType:
		var d time.Duration
		if n, err := strconv.ParseUint(s, 10, 63); err == nil && n <= math.MaxInt64/uint64(time.Second) {
			d = time.Duration(n) * time.Second
		} else if d, err = time.ParseDuration(s); err != nil {
			return fmt.Sprintf("expected a duration such as 20s or 1m, got %q", s)
		}
		if msg := checkDuration(d, f); msg != "" {
			return msg
		}
		v.SetInt(int64(d))
		return ""
	case t == modeType:
		m, ok := parseMode(s)
		if !ok {
			return fmt.Sprintf("expected auto, true or false, got %q", s)
		}
		v.Set(reflect.ValueOf(m))
		return ""
	case t == addrType:
		if s == "" {
			v.Set(reflect.ValueOf(netip.Addr{}))
			return ""
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return fmt.Sprintf("%q is not an IP address", s)
		}
		v.Set(reflect.ValueOf(a))
		return ""
	case t == prefixType:
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Sprintf("%q is not an address prefix such as 10.0.0.0/8", s)
		}
		v.Set(reflect.ValueOf(p.Masked()))
		return ""
	case reflect.PointerTo(t).Implements(textUnmType):
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			return fmt.Sprintf("%q %v", s, err)
		}
		return ""
	}
	return setKind(v, s, f)
}

// setKind sets a value of a basic kind (string, bool, number) from text.
func setKind(v reflect.Value, s string, f fieldInfo) string {
	t := v.Type()
	switch t.Kind() {
	case reflect.String:
		if msg := checkString(s, f); msg != "" {
			return msg
		}
		v.SetString(s)
	case reflect.Bool:
		switch strings.ToLower(s) {
		case "on", "true", "yes", "1":
			v.SetBool(true)
		case "off", "false", "no", "0":
			v.SetBool(false)
		default:
			return fmt.Sprintf("expected on or off, got %q", s)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 0, 64)
		if err != nil {
			return fmt.Sprintf("expected an integer, got %q", s)
		}
		if msg := checkInt(float64(n), t, f); msg != "" {
			return msg
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if strings.HasPrefix(s, "-") {
			return fmt.Sprintf("%s is negative", s)
		}
		n, err := strconv.ParseUint(s, 0, 64)
		if err != nil {
			return fmt.Sprintf("expected an integer, got %q", s)
		}
		if msg := checkUint(n, t, f); msg != "" {
			return msg
		}
		v.SetUint(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Sprintf("expected a number, got %q", s)
		}
		if msg := checkFloat(x, f); msg != "" {
			return msg
		}
		v.SetFloat(x)
	default:
		return fmt.Sprintf("config: %s is not a scalar type", t)
	}
	return ""
}

func parseMode(s string) (Mode, bool) {
	switch strings.ToLower(s) {
	case "auto":
		return Auto, true
	case "true", "on", "yes":
		return On, true
	case "false", "off", "no":
		return Off, true
	}
	return 0, false
}

// bounds returns the min and max tags of an unsigned integer key, else
// the type's range.
func uintBounds(t reflect.Type, f fieldInfo) (lo, hi uint64) {
	lo, hi = 0, math.MaxUint64>>(64-t.Bits())
	if f.min != "" {
		lo, _ = strconv.ParseUint(f.min, 10, 64)
	}
	if f.max != "" {
		hi, _ = strconv.ParseUint(f.max, 10, 64)
	}
	return lo, hi
}

func checkUint(n uint64, t reflect.Type, f fieldInfo) string {
	lo, hi := uintBounds(t, f)
	return checkRange(n, lo, hi)
}

func checkInt(n float64, t reflect.Type, f fieldInfo) string {
	lo, hi := -math.Pow(2, float64(t.Bits()-1)), math.Pow(2, float64(t.Bits()-1))-1
	if f.min != "" {
		lo, _ = strconv.ParseFloat(f.min, 64)
	}
	if f.max != "" {
		hi, _ = strconv.ParseFloat(f.max, 64)
	}
	if n < lo || n > hi {
		return fmt.Sprintf("%v is outside %v..%v", n, lo, hi)
	}
	return ""
}

func checkFloat(x float64, f fieldInfo) string {
	lo, hi := math.Inf(-1), math.Inf(1)
	if f.min != "" {
		lo, _ = strconv.ParseFloat(f.min, 64)
	}
	if f.max != "" {
		hi, _ = strconv.ParseFloat(f.max, 64)
	}
	if !(x >= lo && x <= hi) {
		return fmt.Sprintf("%v is outside %v..%v", x, lo, hi)
	}
	return ""
}

func checkDuration(d time.Duration, f fieldInfo) string {
	lo, hi := time.Duration(0), time.Duration(math.MaxInt64)
	if f.min != "" {
		lo, _ = time.ParseDuration(f.min)
	}
	if f.max != "" {
		hi, _ = time.ParseDuration(f.max)
	}
	switch {
	case d < lo && f.max == "":
		return fmt.Sprintf("%v is below %s", d, durationText(lo))
	case d < lo || d > hi:
		return fmt.Sprintf("%s is outside %s..%s", durationText(d), durationText(lo), durationText(hi))
	}
	for _, c := range f.checks {
		if c == "seconds" && d%time.Second != 0 {
			return fmt.Sprintf("%v is not a whole number of seconds", d)
		}
	}
	return ""
}

// stringChecks are the named checks of the check tag.
var stringChecks = map[string]func(string) string{
	"regexp":   checkRegexp,
	"ifname":   checkIfName,
	"hostorip": checkHostOrIP,
	"ovsdb":    checkOVSDB,
}

func checkString(s string, f fieldInfo) string {
	for _, c := range f.checks {
		if c == "nonempty" && s == "" {
			return "must not be empty"
		}
	}
	if s == "" {
		return ""
	}
	if len(f.enum) > 0 {
		ok := false
		for _, e := range f.enum {
			ok = ok || e == s
		}
		if !ok {
			return fmt.Sprintf("%q is not one of %s", s, strings.Join(f.enum, ", "))
		}
	}
	for _, c := range f.checks {
		if fn := stringChecks[c]; fn != nil {
			if msg := fn(s); msg != "" {
				return msg
			}
		}
	}
	return ""
}

// Get returns the section of type T in c, or nil when c has none (the
// module is not registered).
func Get[T any](c *Config) *T {
	for _, v := range c.sections {
		if p, ok := v.(*T); ok {
			return p
		}
	}
	return nil
}

// SectionValue returns the value of the section named name (a pointer to
// its struct), or nil.
func (c *Config) SectionValue(name string) any { return c.sections[name] }

// Sections returns the sections c was parsed with, in order.
func (c *Config) Sections() []Section { return c.order }

// FillZero sets the keys of the struct ptr points to that are empty
// strings, empty lists or zero durations to their defaults, for code that
// builds a section by hand (tests, libraries); a parsed section has every
// default already. Numbers and booleans are left alone: their zero can be
// a value someone chose.
func FillZero(ptr any) {
	fillZero(reflect.ValueOf(ptr).Elem())
}

func fillZero(v reflect.Value) {
	for _, f := range fields(v.Type()) {
		fv := v.Field(f.index)
		switch {
		case fv.Kind() == reflect.Struct && !isScalar(f.goType):
			fillZero(fv)
		case f.def == "":
		case fv.Kind() == reflect.String && fv.String() == "",
			f.goType == durationType && fv.Int() == 0,
			fv.Kind() == reflect.Slice && fv.Len() == 0:
			tmp := reflect.New(v.Type()).Elem()
			setDefaults(tmp, SyntaxYAML)
			fv.Set(tmp.Field(f.index))
		}
	}
}

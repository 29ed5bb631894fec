package main

import (
	"bufio"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// field is one line of a struct or record body.
type field struct {
	Type    string // wire type as written: u32, str, mac[], HostAdapter[], flowrecords
	Name    string // Go field name
	Text    string // sflowtool key, "-" for none
	Max     int
	Fmt     string
	AltOnly bool
	Omit    bool // omitempty: no text line when the string or array is empty
	Trunc   int  // text shows at most this many bytes of a string (0: all)
	JSON    string
	Arm     uint32 // union arms: the discriminant value that selects this arm
	Pos     string // file:line, for errors
}

// layoutField is a field as it appears in one wire layout (alt layouts may
// change the wire type, e.g. uuid -> uuidvar).
type layoutField struct {
	F    *field
	Wire string
}

type layout struct {
	Name   string
	Fields []layoutField
}

// item is a record (flow or counter), a sample type, a nested struct or a
// union (a typed value: a u32 discriminant, then the arm it selects).
type item struct {
	Kind     string // flow, counter, sample, struct, union
	Ent, Num uint32
	Name     string
	SpecName string
	Opts     map[string]string
	Fields   []*field
	Layouts  []layout // [0] is the current layout
	Pos      string
}

func (it *item) tag() uint32 { return it.Ent<<12 | it.Num }

type spec struct {
	Items   []*item
	Structs map[string]*item
	Unions  map[string]*item
}

func parseSpecDir(dir string) (*spec, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.spec"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	sp := &spec{Structs: map[string]*item{}, Unions: map[string]*item{}}
	for _, f := range files {
		if err := sp.parseFile(f); err != nil {
			return nil, err
		}
	}
	return sp, sp.check()
}

func (sp *spec) parseFile(path string) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	var cur *item
	var alts [][]string
	ln := 0
	for sc.Scan() {
		ln++
		pos := fmt.Sprintf("%s:%d", filepath.Base(path), ln)
		line := sc.Text()
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		words := strings.Fields(line)
		if len(words) == 0 {
			continue
		}
		switch {
		case words[0] == "flow" || words[0] == "counter" || words[0] == "sample":
			if cur != nil {
				return fmt.Errorf("%s: %s inside %s", pos, words[0], cur.Name)
			}
			if len(words) < 4 {
				return fmt.Errorf("%s: want `%s ENT:FMT GoName spec_name`", pos, words[0])
			}
			ef := strings.SplitN(words[1], ":", 2)
			if len(ef) != 2 {
				return fmt.Errorf("%s: bad tag %q", pos, words[1])
			}
			e, err1 := strconv.ParseUint(ef[0], 10, 20)
			n, err2 := strconv.ParseUint(ef[1], 10, 12)
			if err1 != nil || err2 != nil {
				return fmt.Errorf("%s: bad tag %q", pos, words[1])
			}
			cur = &item{Kind: words[0], Ent: uint32(e), Num: uint32(n), Name: words[2], SpecName: words[3], Opts: map[string]string{}, Pos: pos}
			for _, o := range words[4:] {
				k, v, _ := strings.Cut(o, "=")
				if u, err := url.PathUnescape(v); err == nil {
					v = u
				}
				cur.Opts[k] = v
			}
			alts = nil
		case words[0] == "struct" || words[0] == "union":
			if cur != nil || len(words) != 2 {
				return fmt.Errorf("%s: want `%s GoName` outside a record", pos, words[0])
			}
			cur = &item{Kind: words[0], Name: words[1], Opts: map[string]string{}, Pos: pos}
			alts = nil
		case words[0] == "end":
			if cur == nil {
				return fmt.Errorf("%s: end without a record", pos)
			}
			if err := cur.finish(alts); err != nil {
				return fmt.Errorf("%s: %w", cur.Pos, err)
			}
			switch cur.Kind {
			case "struct":
				sp.Structs[cur.Name] = cur
			case "union":
				sp.Unions[cur.Name] = cur
			}
			sp.Items = append(sp.Items, cur)
			cur = nil
		case words[0] == "alt":
			if cur == nil || cur.Kind == "union" {
				return fmt.Errorf("%s: alt outside a record", pos)
			}
			alts = append(alts, words[1:])
		default:
			if cur == nil {
				return fmt.Errorf("%s: field outside a record", pos)
			}
			var arm uint64
			if cur.Kind == "union" {
				// An arm: `VALUE TYPE GoField textname [options]`.
				v, err := strconv.ParseUint(words[0], 10, 32)
				if err != nil {
					return fmt.Errorf("%s: want `VALUE TYPE GoName textname` in union %s", pos, cur.Name)
				}
				arm, words = v, words[1:]
			}
			if len(words) < 3 {
				return fmt.Errorf("%s: want `TYPE GoName textname [options]`", pos)
			}
			f := &field{Type: words[0], Name: words[1], Text: words[2], Arm: uint32(arm), Pos: pos}
			for _, o := range words[3:] {
				k, v, _ := strings.Cut(o, "=")
				switch k {
				case "max":
					m, err := strconv.Atoi(v)
					if err != nil {
						return fmt.Errorf("%s: bad max %q", pos, v)
					}
					f.Max = m
				case "fmt":
					f.Fmt = v
				case "json":
					f.JSON = v
				case "alt":
					f.AltOnly = true
				case "omitempty":
					f.Omit = true
				case "trunc":
					m, err := strconv.Atoi(v)
					if err != nil {
						return fmt.Errorf("%s: bad trunc %q", pos, v)
					}
					f.Trunc = m
				default:
					return fmt.Errorf("%s: unknown field option %q", pos, o)
				}
			}
			if f.JSON == "" {
				f.JSON = snake(f.Name)
			}
			cur.Fields = append(cur.Fields, f)
		}
	}
	if cur != nil {
		return fmt.Errorf("%s: missing end", cur.Pos)
	}
	return sc.Err()
}

func (it *item) finish(alts [][]string) error {
	if it.Kind == "counter" {
		// sflowtool prints a counter record's string only when it is not
		// empty, and at most max-1 bytes of it (its buffers hold max bytes
		// with the terminating NUL).
		for _, f := range it.Fields {
			if f.Type == "str" {
				f.Omit = true
				if f.Trunc == 0 && f.Max > 0 {
					f.Trunc = f.Max - 1
				}
			}
		}
	}
	byName := map[string]*field{}
	cur := layout{Name: "Current"}
	for _, f := range it.Fields {
		if byName[f.Name] != nil {
			return fmt.Errorf("field %s twice", f.Name)
		}
		byName[f.Name] = f
		if !f.AltOnly {
			cur.Fields = append(cur.Fields, layoutField{F: f, Wire: f.Type})
		}
	}
	it.Layouts = []layout{cur}
	for _, a := range alts {
		if len(a) < 2 || !strings.HasSuffix(a[0], ":") {
			return fmt.Errorf("want `alt Name: Field Field:wire ...`")
		}
		l := layout{Name: strings.TrimSuffix(a[0], ":")}
		for _, w := range a[1:] {
			name, wire, _ := strings.Cut(w, ":")
			f := byName[name]
			if f == nil {
				return fmt.Errorf("alt %s: no field %s", l.Name, name)
			}
			if wire == "" {
				wire = f.Type
			}
			l.Fields = append(l.Fields, layoutField{F: f, Wire: wire})
		}
		it.Layouts = append(it.Layouts, l)
	}
	return nil
}

func (sp *spec) check() error {
	seen := map[string]*item{}
	names := map[string]*item{}
	for _, it := range sp.Items {
		if o := names[it.Name]; o != nil {
			return fmt.Errorf("%s: type %s already defined at %s", it.Pos, it.Name, o.Pos)
		}
		names[it.Name] = it
		if it.Kind == "sample" && it.Ent == 0 && it.Num >= 1 && it.Num <= 5 {
			return fmt.Errorf("%s: sample types 0:1-0:5 are written by hand (datagram.go)", it.Pos)
		}
		if it.Kind == "union" {
			if err := sp.checkUnion(it); err != nil {
				return fmt.Errorf("%s: union %s: %w", it.Pos, it.Name, err)
			}
		}
		if it.Kind != "struct" && it.Kind != "union" {
			k := fmt.Sprintf("%s %d:%d", it.Kind, it.Ent, it.Num)
			if o := seen[k]; o != nil {
				return fmt.Errorf("%s: %s already defined at %s", it.Pos, k, o.Pos)
			}
			seen[k] = it
		}
		for _, l := range it.Layouts {
			for _, lf := range l.Fields {
				if _, err := sp.goType(lf.Wire); err != nil {
					return fmt.Errorf("%s: %w", lf.F.Pos, err)
				}
			}
		}
		for _, f := range it.Fields {
			if sp.Unions[strings.TrimSuffix(f.Type, "[]")] != nil && (f.Type != strings.TrimSuffix(f.Type, "[]") || it.Kind == "union") {
				return fmt.Errorf("%s: a union is a plain field of a record or struct (no arrays of unions, no unions in unions)", f.Pos)
			}
			if _, err := textCall(sp, f, "v"); err != nil {
				return fmt.Errorf("%s: %w", f.Pos, err)
			}
		}
	}
	return nil
}

// checkUnion checks a union's arms: distinct values, scalar wire types, no
// field called Type (the discriminant's Go field).
func (sp *spec) checkUnion(it *item) error {
	if len(it.Fields) == 0 {
		return fmt.Errorf("no arms")
	}
	seen := map[uint32]string{}
	for _, f := range it.Fields {
		if o, ok := seen[f.Arm]; ok {
			return fmt.Errorf("%s: value %d is already arm %s", f.Pos, f.Arm, o)
		}
		seen[f.Arm] = f.Name
		if _, ok := scalarGo[f.Type]; !ok {
			return fmt.Errorf("%s: arm %s: type %q is not a scalar wire type", f.Pos, f.Name, f.Type)
		}
		if f.Name == "Type" || f.AltOnly {
			return fmt.Errorf("%s: arm %s: Type is the discriminant's field, and arms have no alt layouts", f.Pos, f.Name)
		}
	}
	return nil
}

var scalarGo = map[string]string{
	"u32": "uint32", "i32": "int32", "u64": "uint64", "f32": "float32", "f64": "float64",
	"pct": "int32", "ip4": "netip.Addr", "ip6": "netip.Addr", "addr": "netip.Addr",
	"mac": "[6]byte", "uuid": "[16]byte", "uuidvar": "[16]byte", "b4": "[4]byte",
	"str": "[]byte", "opaque": "[]byte",
}

// minSize is the smallest encoding of a wire type, for bounding counts.
var minSize = map[string]int{
	"u32": 4, "i32": 4, "u64": 8, "f32": 4, "f64": 8, "pct": 4, "ip4": 4, "ip6": 16,
	"addr": 4, "mac": 8, "uuid": 16, "uuidvar": 20, "b4": 4, "str": 4, "opaque": 4,
}

func (sp *spec) goType(wire string) (string, error) {
	if t, ok := scalarGo[wire]; ok {
		return t, nil
	}
	if wire == "flowrecords" {
		return "[]Record", nil
	}
	if sp.Unions[wire] != nil {
		return wire, nil
	}
	if el, ok := strings.CutSuffix(wire, "[]"); ok {
		if t, ok := scalarGo[el]; ok && (el == "u32" || el == "i32" || el == "pct" || el == "mac" || el == "u64") {
			return "[]" + t, nil
		}
		if sp.Structs[el] != nil {
			return "[]" + el, nil
		}
		return "", fmt.Errorf("unknown element type %q", el)
	}
	return "", fmt.Errorf("unknown type %q", wire)
}

func (sp *spec) minSizeOf(wire string) int {
	if n, ok := minSize[wire]; ok {
		return n
	}
	if u := sp.Unions[wire]; u != nil {
		// The discriminant and the smallest arm.
		least := 0
		for i, f := range u.Fields {
			if n := sp.minSizeOf(f.Type); i == 0 || n < least {
				least = n
			}
		}
		return 4 + least
	}
	return 4 // arrays, flowrecords: the count word
}

func (sp *spec) structMinSize(name string) int {
	n := 0
	for _, lf := range sp.Structs[name].Layouts[0].Fields {
		n += sp.minSizeOf(lf.Wire)
	}
	return n
}

// snake turns a Go name into snake_case, keeping initialisms together:
// IfInOctets -> if_in_octets, MACs -> macs, CPUNum -> cpu_num.
func snake(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		up := r >= 'A' && r <= 'Z'
		if up && i > 0 {
			prevLower := rs[i-1] >= 'a' && rs[i-1] <= 'z' || rs[i-1] >= '0' && rs[i-1] <= '9'
			nextLower := i+1 < len(rs) && rs[i+1] >= 'a' && rs[i+1] <= 'z' && !(rs[i+1] == 's' && i+2 == len(rs))
			if prevLower || (nextLower && rs[i-1] >= 'A' && rs[i-1] <= 'Z') {
				b.WriteByte('_')
			}
		}
		if up {
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

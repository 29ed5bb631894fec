package config

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// parseYAML reads gwd's YAML format into the core settings and sections.
func parseYAML(name string, data []byte, sections []Section) (*Config, error) {
	d := &ydec{diag: diag{file: name}, c: newConfig(SyntaxYAML, sections)}
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

// top decodes the document: the core keys at the top, each section at its
// path, and the unsupported modules (a warning each).
func (d *ydec) top(n *yaml.Node) {
	c := d.c
	fs := d.structFields(reflect.ValueOf(&c.Core).Elem(), nil)
	groups := map[string][]field{}
	var groupOrder []string
	for _, s := range c.order {
		v := reflect.ValueOf(c.sections[s.Name]).Elem()
		parent, leaf, nested := strings.Cut(s.Path, ".")
		f := field{s.Path, func(p string, n *yaml.Node) { d.structValue(p, n, v) }}
		if !nested {
			fs = append(fs, f)
			continue
		}
		f.name = leaf
		if _, ok := groups[parent]; !ok {
			groupOrder = append(groupOrder, parent)
		}
		groups[parent] = append(groups[parent], f)
	}
	if _, ok := groups["modules"]; !ok {
		groupOrder = append(groupOrder, "modules")
	}
	for _, g := range groupOrder {
		children := groups[g]
		if g == "modules" {
			for _, m := range Unsupported {
				children = append(children, field{m, func(p string, n *yaml.Node) {
					if n = d.deref(n); n != nil {
						d.warnAt(n.Line, n.Column, "%s: the %s module is not supported by gwd yet; its settings are ignored", p, m)
					}
				}})
			}
		}
		fs = append(fs, field{g, func(p string, n *yaml.Node) { d.object(n, p, children...) }})
	}
	d.object(n, "", fs...)
}

// structFields returns the fields of struct value v for object.
func (d *ydec) structFields(v reflect.Value, extra []field) []field {
	var out []field
	for _, f := range fields(v.Type()) {
		fv := v.Field(f.index)
		out = append(out, field{f.key, func(p string, n *yaml.Node) { d.value(p, n, fv, f) }})
	}
	return append(out, extra...)
}

// structValue decodes a mapping into struct v and runs its Validate.
func (d *ydec) structValue(path string, n *yaml.Node, v reflect.Value) {
	nerr := len(d.errs)
	d.object(n, path, d.structFields(v, nil)...)
	if len(d.errs) == nerr {
		d.validate(path, n, v)
	}
}

// validate runs v's Validate, reporting an error at node n.
func (d *ydec) validate(path string, n *yaml.Node, v reflect.Value) {
	if val, ok := v.Addr().Interface().(Validator); ok {
		if err := val.Validate(); err != nil {
			if n = d.deref(n); n != nil {
				if path != "" {
					d.errf(n, "%s: %v", path, err)
				} else {
					d.errf(n, "%v", err)
				}
			}
		}
	}
}

// value decodes node n into v, the field described by f.
func (d *ydec) value(path string, n *yaml.Node, v reflect.Value, f fieldInfo) {
	t := v.Type()
	switch {
	case isScalar(t):
		d.scalarValue(path, n, v, f)
	case t.Kind() == reflect.Struct:
		d.structValue(path, n, v)
	case t.Kind() == reflect.Slice:
		v.Set(reflect.MakeSlice(t, 0, 0))
		d.list(n, path, func(p string, item *yaml.Node) {
			e := reflect.New(t.Elem()).Elem()
			if e.Kind() == reflect.Struct && !isScalar(t.Elem()) {
				setDefaults(e, d.c.Syntax)
			}
			nerr := len(d.errs)
			if isScalar(t.Elem()) {
				d.scalarValue(p, item, e, f)
			} else if !d.shorthand(p, item, e) {
				d.structValue(p, item, e)
			}
			if len(d.errs) == nerr {
				v.Set(reflect.Append(v, e))
			}
		})
	case t.Kind() == reflect.Map:
		d.mapValue(path, n, v, f)
	default:
		panic(fmt.Sprintf("config: %s: unsupported type %s", path, t))
	}
}

// shorthand decodes a string node into a list element that accepts one.
func (d *ydec) shorthand(path string, n *yaml.Node, e reflect.Value) bool {
	sh, ok := e.Addr().Interface().(Shorthander)
	if n = d.deref(n); !ok || n == nil || n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return false
	}
	if err := sh.UnmarshalShorthand(n.Value); err != nil {
		d.errf(n, "%s: %v", path, err)
	}
	return true
}

// mapValue decodes a mapping whose keys are text (a speed) into map v.
func (d *ydec) mapValue(path string, n *yaml.Node, v reflect.Value, f fieldInfo) {
	t := v.Type()
	if n = d.deref(n); n == nil || isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errf(n, "%s: expected a mapping, got %s", path, describe(n))
		return
	}
	v.Set(reflect.MakeMap(t))
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := d.deref(n.Content[i])
		if k == nil {
			return
		}
		kv := reflect.New(t.Key())
		um, ok := kv.Interface().(encoding.TextUnmarshaler)
		if k.Kind != yaml.ScalarNode || !ok {
			d.errf(k, "%s: expected a key, got %s", path, describe(k))
			continue
		}
		if err := um.UnmarshalText([]byte(k.Value)); err != nil {
			d.errf(k, "%s: %s %v", path, describe(k), err)
			continue
		}
		if v.MapIndex(kv.Elem()).IsValid() {
			d.errf(k, "%s: %s given twice", path, k.Value)
			continue
		}
		ev := reflect.New(t.Elem()).Elem()
		nerr := len(d.errs)
		d.scalarValue(path+"."+k.Value, n.Content[i+1], ev, f)
		if len(d.errs) == nerr {
			v.SetMapIndex(kv.Elem(), ev)
		}
	}
}

// scalarValue decodes a scalar node into v. YAML's own types are checked
// (a string key takes only a string, a number only a number); the value's
// text then goes through setText, as hsflowd.conf values and defaults do.
func (d *ydec) scalarValue(path string, n *yaml.Node, v reflect.Value, f fieldInfo) {
	t := v.Type()
	var want string
	var ok func(tags ...string) bool
	switch {
	case t == durationType:
		want = "a duration such as 20s or 1m"
		ok = func(tags ...string) bool { return slices.Contains(tags, "!!str") || slices.Contains(tags, "!!int") }
	case t == modeType:
		want = "auto, true or false"
		ok = func(tags ...string) bool { return slices.Contains(tags, "!!bool") || slices.Contains(tags, "!!str") }
	case t.Kind() == reflect.Bool:
		want = "true or false"
		ok = func(tags ...string) bool { return slices.Contains(tags, "!!bool") }
	case t.Kind() == reflect.Float64:
		want = "a number"
		ok = func(tags ...string) bool { return slices.Contains(tags, "!!float") || slices.Contains(tags, "!!int") }
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64 && !reflect.PointerTo(t).Implements(textUnmType):
		want = "an integer"
		ok = func(tags ...string) bool { return slices.Contains(tags, "!!int") }
	default:
		want = "a string"
		ok = func(tags ...string) bool { return slices.Contains(tags, "!!str") }
	}
	sn := d.scalar(n, path, want)
	if sn == nil {
		return
	}
	if !ok(sn.Tag) {
		if sn.Tag == "!!int" && strings.HasPrefix(sn.Value, "-") && want == "an integer" {
			d.errf(sn, "%s: %s is negative", path, sn.Value)
			return
		}
		d.errf(sn, "%s: expected %s, got %s", path, want, describe(sn))
		return
	}
	text := sn.Value
	if sn.Tag == "!!bool" {
		var b bool
		if sn.Decode(&b) != nil {
			d.errf(sn, "%s: expected %s, got %s", path, want, describe(sn))
			return
		}
		text = strconv.FormatBool(b)
	}
	if sn.Tag == "!!int" && t != durationType {
		var i int64
		var u uint64
		if sn.Decode(&u) == nil {
			text = strconv.FormatUint(u, 10)
		} else if sn.Decode(&i) == nil {
			text = strconv.FormatInt(i, 10)
		}
	}
	if sn.Tag == "!!int" && t == durationType {
		var secs int64
		if sn.Decode(&secs) != nil || secs < 0 || secs > math.MaxInt64/int64(time.Second) {
			d.errf(sn, "%s: expected %s, got %s", path, want, describe(sn))
			return
		}
		text = strconv.FormatInt(secs, 10)
	}
	if msg := setText(v, text, f); msg != "" {
		d.errf(sn, "%s: %s", path, msg)
	}
}

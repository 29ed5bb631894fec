package config

import (
	"bytes"
	"cmp"
	"encoding"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Text returns the configuration in gwd's YAML format with every key and
// every default written out (secrets redacted); Parse reads it back to an
// equal Config (Syntax, Warnings and secrets aside). `gwd config check`
// prints it.
func (c *Config) Text() string {
	root := structNode(reflect.ValueOf(&c.Core).Elem())
	groups := map[string]*yaml.Node{}
	for _, s := range c.order {
		n := structNode(reflect.ValueOf(c.sections[s.Name]).Elem())
		parent, leaf, nested := strings.Cut(s.Path, ".")
		if !nested {
			root.Content = append(root.Content, str(s.Path), n)
			continue
		}
		g := groups[parent]
		if g == nil {
			g = mapping()
			groups[parent] = g
			root.Content = append(root.Content, str(parent), g)
		}
		g.Content = append(g.Content, str(leaf), n)
	}
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

// structNode writes the keys of struct v as a mapping.
func structNode(v reflect.Value) *yaml.Node {
	m := mapping()
	for _, f := range fields(v.Type()) {
		m.Content = append(m.Content, str(f.key), valueNode(v.Field(f.index), f))
	}
	return m
}

func valueNode(v reflect.Value, f fieldInfo) *yaml.Node {
	t := v.Type()
	switch {
	case isScalar(t):
		return scalarNode(v, f)
	case t.Kind() == reflect.Struct:
		return structNode(v)
	case t.Kind() == reflect.Slice:
		items := make([]*yaml.Node, v.Len())
		for i := range items {
			items[i] = valueNode(v.Index(i), f)
		}
		return seq(items)
	case t.Kind() == reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return cmp.Compare(a.Uint(), b.Uint()) })
		m := mapping()
		for _, k := range keys {
			m.Content = append(m.Content, scalarNode(k, fieldInfo{}), scalarNode(v.MapIndex(k), f))
		}
		return m
	}
	return str(fmt.Sprint(v.Interface()))
}

// scalarNode writes one scalar as Parse reads it back.
func scalarNode(v reflect.Value, f fieldInfo) *yaml.Node {
	t := v.Type()
	switch {
	case f.secret:
		if v.String() == "" {
			return str("")
		}
		return str("<redacted>")
	case t == durationType:
		return str(durationText(time.Duration(v.Int())))
	case t == modeType:
		return mode(Mode(v.Uint()))
	case t == addrType:
		return str(addrText(v.Interface().(netip.Addr)))
	case t == prefixType:
		return str(v.Interface().(netip.Prefix).String())
	case reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextMarshaler]()) || t.Implements(reflect.TypeFor[encoding.TextMarshaler]()):
		b, _ := v.Interface().(encoding.TextMarshaler).MarshalText()
		return str(string(b))
	}
	switch t.Kind() {
	case reflect.String:
		return str(v.String())
	case reflect.Bool:
		return boolean(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v.Int(), 10)}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatUint(v.Uint(), 10)}
	case reflect.Float64:
		return &yaml.Node{Kind: yaml.ScalarNode, Value: strconv.FormatFloat(v.Float(), 'g', -1, 64)}
	}
	return str(fmt.Sprint(v.Interface()))
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

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

func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"} }

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

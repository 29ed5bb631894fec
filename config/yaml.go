package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

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

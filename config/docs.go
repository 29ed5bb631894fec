package config

import (
	_ "embed"
	"fmt"
	"reflect"
	"strings"
)

//go:embed docs_intro.md
var docsIntro string

//go:embed docs_outro.md
var docsOutro string

// Markdown returns docs/config.md: the prose of docs_intro.md and
// docs_outro.md around one table per section, written from the keys'
// descriptions (so the page cannot drift from what Parse reads).
func Markdown(sections []Section) string {
	var b strings.Builder
	b.WriteString(docsIntro)
	core := Section{Path: "", Doc: "The settings every module shares: identity, polling, sampling, sizes, collectors.", Value: &Core{}}
	writeSection(&b, "core settings", core, SyntaxYAML)
	for _, s := range sections {
		writeSection(&b, s.Path, s, SyntaxYAML)
	}
	fmt.Fprintf(&b, "\n### modules gwd does not have yet\n\nThese module names are recognized and give a warning naming the module (in the log and in\n`gwd config check`); their settings are ignored: ")
	for i, m := range Unsupported {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "`%s`", m)
	}
	b.WriteString(".\n")
	var hs strings.Builder
	writeHsflowd(&hs, sections)
	b.WriteString(strings.Replace(docsOutro, "<!-- hsflowd-table -->\n", hs.String(), 1))
	return b.String()
}

func writeSection(b *strings.Builder, title string, s Section, syntax Syntax) {
	fmt.Fprintf(b, "\n### %s\n\n", title)
	if s.Doc != "" {
		fmt.Fprintf(b, "%s\n\n", s.Doc)
	}
	b.WriteString("| key | type | default | meaning |\n|---|---|---|---|\n")
	t := reflect.TypeOf(s.Value).Elem()
	def := reflect.New(t).Elem()
	setDefaults(def, syntax)
	writeKeys(b, s.Path, t, def)
}

func writeKeys(b *strings.Builder, prefix string, t reflect.Type, def reflect.Value) {
	for _, f := range fields(t) {
		path := f.key
		if prefix != "" {
			path = prefix + "." + f.key
		}
		ft := f.goType
		if ft.Kind() == reflect.Struct && !isScalar(ft) {
			writeKeys(b, path, ft, def.Field(f.index))
			continue
		}
		if ft.Kind() == reflect.Slice && !isScalar(ft.Elem()) {
			e := reflect.New(ft.Elem()).Elem()
			setDefaults(e, SyntaxYAML)
			writeKeys(b, path+"[]", ft.Elem(), e)
			continue
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", path, docType(f), docDefault(def.Field(f.index), f), f.doc)
	}
}

// docType names the type of a key for the reader.
func docType(f fieldInfo) string {
	if f.typ != "" {
		return f.typ
	}
	t := f.goType
	prefix := ""
	if t.Kind() == reflect.Slice {
		prefix, t = "list of ", t.Elem()
	}
	var name string
	switch {
	case len(f.enum) > 0:
		name = "`" + strings.Join(f.enum, "`, `") + "`"
	case t == durationType:
		name = "duration"
		if f.min != "" || f.max != "" {
			name += " " + f.min + ".." + f.max
		}
	case t == modeType:
		name = "mode"
	case t == prefixType:
		name = "prefix"
	case t == addrType:
		name = "IP address"
	case t.Kind() == reflect.Bool:
		name = "bool"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		lo, hi := uintBounds(t, f)
		name = fmt.Sprintf("integer %d..%d", lo, hi)
	case t.Kind() == reflect.Float64:
		name = "number " + f.min + ".." + f.max
	default:
		name = "string"
		for _, c := range f.checks {
			switch c {
			case "regexp":
				name = "regexp"
			case "ifname":
				name = "interface name"
			}
		}
	}
	return prefix + name
}

// docDefault writes a key's default as a YAML value.
func docDefault(v reflect.Value, f fieldInfo) string {
	n := valueNode(v, f)
	switch {
	case n.Kind == 0:
		return ""
	case len(n.Content) == 0 && n.Kind != 8: // sequence or mapping
		if n.Tag == "!!seq" {
			return "`[]`"
		}
		if n.Tag == "!!map" {
			return "`{}`"
		}
	}
	if n.Tag == "!!seq" {
		items := make([]string, len(n.Content))
		for i, c := range n.Content {
			items[i] = c.Value
		}
		return "`[" + strings.Join(items, ", ") + "]`"
	}
	if n.Value == "" {
		return "none"
	}
	return "`" + n.Value + "`"
}

// writeHsflowd writes the table of hsflowd.conf spellings.
func writeHsflowd(b *strings.Builder, sections []Section) {
	b.WriteString("| hsflowd.conf | gwd YAML |\n|---|---|\n")
	hsRows(b, "", "", reflect.TypeFor[Core]())
	b.WriteString("| `collector { ip = A UDPPort = N dev = D }` | `collectors: [{address: A, port: N, interface: D}]` |\n")
	for _, s := range sections {
		if s.Hsflowd == "" {
			continue
		}
		fmt.Fprintf(b, "| `%s { }` | `%s.enabled: true` |\n", s.Hsflowd, s.Path)
		hsRows(b, s.Hsflowd+" { ", s.Path, reflect.TypeOf(s.Value).Elem())
	}
}

func hsRows(b *strings.Builder, block, prefix string, t reflect.Type) {
	for _, f := range fields(t) {
		path := f.key
		if prefix != "" {
			path = prefix + "." + f.key
		}
		if f.goType.Kind() == reflect.Struct && !isScalar(f.goType) {
			hsRows(b, block, path, f.goType)
			continue
		}
		if len(f.hsflowd) == 0 || f.goType.Kind() == reflect.Slice && !isScalar(f.goType.Elem()) {
			continue
		}
		close := ""
		if block != "" {
			close = " }"
		}
		names := make([]string, len(f.hsflowd))
		for i, h := range f.hsflowd {
			names[i] = "`" + block + h + " = ..." + close + "`"
		}
		fmt.Fprintf(b, "| %s | `%s` |\n", strings.Join(names, ", "), path)
	}
}

package main

import (
	"fmt"
	"strings"
)

// defaultFmt is how the text printer shows a wire type without fmt=.
var defaultFmt = map[string]string{
	"u32": "dec", "i32": "dec", "u64": "dec", "f32": "float3", "f64": "float3", "pct": "pct",
	"ip4": "ip", "ip6": "ip", "addr": "ip", "mac": "mac", "uuid": "uuid", "uuidvar": "uuid",
	"b4": "hex", "str": "str", "opaque": "hexdash",
}

// fmtCall maps a fmt name to the textPrinter method and the conversion of
// the value it takes.
var fmtCall = map[string]struct{ method, conv string }{
	"dec":       {"dec", ""},
	"float3":    {"float3", "float64"},
	"pct":       {"pct", "int32"},
	"hex":       {"hex", ""},
	"hexdash":   {"hexdash", ""},
	"ip":        {"ip", ""},
	"mac":       {"mac", ""},
	"uuid":      {"uuid", ""},
	"str":       {"str", ""},
	"urlenc":    {"urlenc", ""},
	"hex16":     {"hex16", "uint64"},
	"udec":      {"dec", "uint64(uint32"},
	"appstatus": {"appstatus", "uint32"},
	"tcpdir":    {"tcpdir", "uint32"},
}

// arrayFmt are formats that print a whole array on one line.
var arrayFmt = map[string]bool{"mplsstack": true, "vlanstack": true}

// scalarCall is the statement that prints one scalar value v of wire type w
// under key (a Go expression).
func scalarCall(w, fmtName, key, v string) (string, error) {
	if fmtName == "" {
		fmtName = defaultFmt[w]
	}
	c, ok := fmtCall[fmtName]
	if !ok {
		return "", fmt.Errorf("unknown fmt %q", fmtName)
	}
	switch {
	case fmtName == "udec":
		return fmt.Sprintf("p.dec(%s, uint64(uint32(%s)))", key, v), nil
	case c.method == "dec" && (w == "i32" || w == "pct"):
		return fmt.Sprintf("p.decInt(%s, int64(%s))", key, v), nil
	case c.method == "dec":
		return fmt.Sprintf("p.dec(%s, uint64(%s))", key, v), nil
	case (c.method == "hex" || c.method == "hexdash") && (w == "b4" || w == "mac" || w == "uuid"):
		return fmt.Sprintf("p.%s(%s, %s[:])", c.method, key, v), nil
	case c.conv != "":
		return fmt.Sprintf("p.%s(%s, %s(%s))", c.method, key, c.conv, v), nil
	}
	return fmt.Sprintf("p.%s(%s, %s)", c.method, key, v), nil
}

// textCall checks that a field can be printed (used by spec.check).
func textCall(sp *spec, f *field, v string) (string, error) {
	if arrayFmt[f.Fmt] {
		return "", nil
	}
	w := strings.TrimSuffix(f.Type, "[]")
	if sp.Structs[w] != nil || sp.Unions[w] != nil || w == "flowrecords" {
		return "", nil
	}
	return scalarCall(w, f.Fmt, `""`, v)
}

// textStrCall is the statement that prints a str/opaque field as text (raw
// bytes, cut as C's %s would), or "" when the field prints otherwise.
func textStrCall(f *field, w, key, v string) string {
	if (w == "str" || w == "opaque") && (f.Fmt == "" && w == "str" || f.Fmt == "str" || f.Fmt == "urlenc") {
		m := "str"
		if f.Fmt == "urlenc" {
			m = "urlenc"
		}
		return fmt.Sprintf("p.%s(%s, %s, %d)", m, key, v, f.Trunc)
	}
	return ""
}

func genText(sp *spec) []byte {
	var b buf
	b.p(header + "package sflowfmt\n")
	b.p(`import (
	"strconv"

	"gwd/sflow"
)
`)
	b.p("var _ = strconv.Itoa\n")
	b.p("// printFields prints a known record's fields the way sflowtool does and")
	b.p("// reports whether the record was known.")
	b.p("func printFields(p *textPrinter, rec sflow.Record) bool {\n\tswitch x := rec.(type) {")
	for _, it := range records(sp) {
		b.p("\tcase *sflow.%s:", it.Name)
		if t := it.Opts["type"]; t != "" {
			b.p("\t\tp.line(%q, %q)", "extendedType", t)
		}
		if t := it.Opts["flowtype"]; t != "" {
			b.p("\t\tp.line(%q, %q)", "flowSampleType", t)
		}
		if it.Opts["print"] == "custom" {
			b.p("\t\tprint%s(p, x)", it.Name)
			continue
		}
		genTextLayouts(&b, sp, it, `""`)
	}
	b.p("\tdefault:\n\t\treturn false\n\t}\n\treturn true\n}\n")
	b.p("// printSampleBody prints the `sampleType` line and the fields of a sample")
	b.p("// body the way sflowtool does, and reports whether the body was known.")
	b.p("func printSampleBody(p *textPrinter, body sflow.SampleBody) bool {\n\tswitch x := body.(type) {")
	for _, it := range samples(sp) {
		b.p("\tcase *sflow.%s:", it.Name)
		if t := it.Opts["sampletype"]; t != "" {
			b.p("\t\tp.line(%q, %q)", "sampleType", t)
		}
		if it.Opts["print"] == "custom" {
			b.p("\t\tprint%s(p, x)", it.Name)
			continue
		}
		genTextLayouts(&b, sp, it, `""`)
	}
	b.p("\tdefault:\n\t\treturn false\n\t}\n\treturn true\n}\n")
	b.p("// sampleTypeLine is the `sampleType` sflowtool prints for a sample type")
	b.p("// described in the spec (\"\" when it prints none).")
	b.p("func sampleTypeLine(t sflow.Tag) string {\n\tswitch t {")
	for _, it := range samples(sp) {
		if t := it.Opts["sampletype"]; t != "" {
			b.p("\tcase sflow.%s:\n\t\treturn %q", tagConst(it), t)
		}
	}
	b.p("\t}\n\treturn \"\"\n}\n")
	for _, it := range sp.Items {
		switch it.Kind {
		case "struct":
			b.p("func text%s(p *textPrinter, prefix string, x *sflow.%s) {", it.Name, it.Name)
			genTextLayouts(&b, sp, it, "prefix + ")
			b.p("}\n")
		case "union":
			b.p("// text%s prints the value under the key prefix + the type's text name + suffix.", it.Name)
			b.p("func text%s(p *textPrinter, prefix, suffix string, x *sflow.%s) {\n\tswitch x.Type {", it.Name, it.Name)
			for _, f := range it.Fields {
				b.p("\tcase sflow.%s%s:", it.Name, f.Name)
				key := fmt.Sprintf("prefix+%q+suffix", f.Text)
				call := textStrCall(f, f.Type, key, "x."+f.Name)
				if call == "" {
					call, _ = scalarCall(f.Type, f.Fmt, key, "x."+f.Name)
				}
				b.p("\t\t%s", call)
			}
			b.p("\t}\n}\n")
		}
	}
	return b.Bytes()
}

func genTextLayouts(b *buf, sp *spec, it *item, prefix string) {
	if prefix == `""` {
		prefix = ""
	}
	if len(it.Layouts) == 1 {
		genTextFields(b, sp, it.Layouts[0], prefix)
		return
	}
	b.p("\t\tswitch x.Layout {")
	for i, l := range it.Layouts[1:] {
		b.p("\t\tcase %d:", i+1)
		genTextFields(b, sp, l, prefix)
	}
	b.p("\t\tdefault:")
	genTextFields(b, sp, it.Layouts[0], prefix)
	b.p("\t\t}")
}

func genTextFields(b *buf, sp *spec, l layout, prefix string) {
	for _, lf := range l.Fields {
		f, w := lf.F, lf.Wire
		if f.Text == "-" {
			continue
		}
		key := prefix + fmt.Sprintf("%q", f.Text)
		if f.Omit {
			b.p("\t\tif len(x.%s) > 0 {", f.Name)
		}
		switch {
		case arrayFmt[f.Fmt]:
			b.p("\t\tp.%s(%s, x.%s)", f.Fmt, key, f.Name)
		case textStrCall(f, w, key, "x."+f.Name) != "":
			b.p("\t\t%s", textStrCall(f, w, key, "x."+f.Name))
		case sp.Unions[w] != nil:
			pre := `""`
			if prefix != "" {
				pre = "prefix"
			}
			b.p("\t\ttext%s(p, %s, %q, &x.%s)", w, pre, f.Text, f.Name)
		case w == "flowrecords":
			b.p("\t\tfor i, r := range x.%s {\n\t\t\tp.nested(%s+\"_\"+strconv.Itoa(i), r)\n\t\t}", f.Name, key)
		case strings.HasSuffix(w, "[]"):
			el := strings.TrimSuffix(w, "[]")
			b.p("\t\tp.dec(%s, uint64(len(x.%s)))", key, f.Name)
			if sp.Structs[el] != nil {
				b.p("\t\tfor i := range x.%s {\n\t\t\ttext%s(p, %s+\"_\"+strconv.Itoa(i)+\"_\", &x.%s[i])\n\t\t}", f.Name, el, key, f.Name)
			} else {
				call, _ := scalarCall(el, f.Fmt, key+`+"_"+strconv.Itoa(i)`, "v")
				b.p("\t\tfor i, v := range x.%s {\n\t\t\t%s\n\t\t}", f.Name, call)
			}
		default:
			call, _ := scalarCall(w, f.Fmt, key, "x."+f.Name)
			b.p("\t\t%s", call)
		}
		if f.Omit {
			b.p("\t\t}")
		}
	}
}

// jsonMethod maps a wire type to the jsonWriter method that appends it.
var jsonMethod = map[string]string{
	"u32": "u", "u64": "u", "i32": "i", "pct": "i", "f32": "f", "f64": "f",
	"ip4": "ip", "ip6": "ip", "addr": "ip", "mac": "mac", "uuid": "uuid", "uuidvar": "uuid",
	"b4": "hex", "str": "str", "opaque": "hex",
}

func jsonCall(w, key, v string) string {
	m := jsonMethod[w]
	switch m {
	case "u":
		return fmt.Sprintf("j.u(%s, uint64(%s))", key, v)
	case "i":
		return fmt.Sprintf("j.i(%s, int64(%s))", key, v)
	case "f":
		return fmt.Sprintf("j.f(%s, float64(%s))", key, v)
	case "hex":
		if w == "b4" {
			return fmt.Sprintf("j.hex(%s, %s[:])", key, v)
		}
	}
	return fmt.Sprintf("j.%s(%s, %s)", m, key, v)
}

func genJSON(sp *spec) []byte {
	var b buf
	b.p(header + "package sflowfmt\n")
	b.p(`import "gwd/sflow"` + "\n")
	b.p("// jsonFields appends a known record's fields and reports whether it was known.")
	b.p("func jsonFields(j *jsonWriter, rec sflow.Record) bool {\n\tswitch x := rec.(type) {")
	for _, it := range records(sp) {
		b.p("\tcase *sflow.%s:", it.Name)
		genJSONLayouts(&b, sp, it)
	}
	b.p("\tdefault:\n\t\treturn false\n\t}\n\treturn true\n}\n")
	b.p("// jsonSampleBody appends a sample body's fields and reports whether it was known.")
	b.p("func jsonSampleBody(j *jsonWriter, body sflow.SampleBody) bool {\n\tswitch x := body.(type) {")
	for _, it := range samples(sp) {
		b.p("\tcase *sflow.%s:", it.Name)
		genJSONLayouts(&b, sp, it)
	}
	b.p("\tdefault:\n\t\treturn false\n\t}\n\treturn true\n}\n")
	for _, it := range sp.Items {
		switch it.Kind {
		case "struct":
			b.p("func json%s(j *jsonWriter, x *sflow.%s) {\n\tj.open('{')", it.Name, it.Name)
			genJSONLayouts(&b, sp, it)
			b.p("\tj.close('}')\n}\n")
		case "union":
			b.p("func json%s(j *jsonWriter, x *sflow.%s) {\n\tj.open('{')\n\tj.u(\"type\", uint64(x.Type))\n\tswitch x.Type {", it.Name, it.Name)
			for _, f := range it.Fields {
				b.p("\tcase sflow.%s%s:", it.Name, f.Name)
				b.p("\t\t%s", jsonCall(f.Type, fmt.Sprintf("%q", f.JSON), "x."+f.Name))
			}
			b.p("\t}\n\tj.close('}')\n}\n")
		}
	}
	return b.Bytes()
}

func genJSONLayouts(b *buf, sp *spec, it *item) {
	if len(it.Layouts) == 1 {
		genJSONFields(b, sp, it.Layouts[0])
		return
	}
	b.p("\t\tj.u(\"layout\", uint64(x.Layout))")
	b.p("\t\tswitch x.Layout {")
	for i, l := range it.Layouts[1:] {
		b.p("\t\tcase %d:", i+1)
		genJSONFields(b, sp, l)
	}
	b.p("\t\tdefault:")
	genJSONFields(b, sp, it.Layouts[0])
	b.p("\t\t}")
}

func genJSONFields(b *buf, sp *spec, l layout) {
	for _, lf := range l.Fields {
		f, w := lf.F, lf.Wire
		key := fmt.Sprintf("%q", f.JSON)
		switch {
		case w == "flowrecords":
			b.p("\t\tj.key(%s)\n\t\tj.open('[')\n\t\tfor _, r := range x.%s {\n\t\t\tj.record(r)\n\t\t}\n\t\tj.close(']')", key, f.Name)
		case sp.Unions[w] != nil:
			b.p("\t\tj.key(%s)\n\t\tjson%s(j, &x.%s)", key, w, f.Name)
		case strings.HasSuffix(w, "[]"):
			el := strings.TrimSuffix(w, "[]")
			b.p("\t\tj.key(%s)\n\t\tj.open('[')", key)
			if sp.Structs[el] != nil {
				b.p("\t\tfor i := range x.%s {\n\t\t\tjson%s(j, &x.%s[i])\n\t\t}", f.Name, el, f.Name)
			} else {
				b.p("\t\tfor _, v := range x.%s {\n\t\t\t%s\n\t\t}", f.Name, jsonCall(el, `""`, "v"))
			}
			b.p("\t\tj.close(']')")
		default:
			b.p("\t\t%s", jsonCall(w, key, "x."+f.Name))
		}
	}
}

// genFill writes test helpers that fill every type with random values that
// respect its wire types and maxima (for the encode/decode property test).
func genFill(sp *spec) []byte {
	var b buf
	b.p(header + "package sflow\n")
	b.p("// fillRecord fills a new record of the given kind and tag with random values.")
	b.p("func fillRecord(g *valueGen, flow bool, t Tag) Record {\n\tswitch {")
	for _, it := range records(sp) {
		neg := "!"
		if it.Kind == "flow" {
			neg = ""
		}
		b.p("\tcase %sflow && t == Tag%s:\n\t\tx := new(%s)\n\t\tfill%s(g, x)\n\t\treturn x", neg, it.Name, it.Name, it.Name)
	}
	b.p("\t}\n\treturn nil\n}\n")
	b.p("// decodeTwoWays decodes body as the record of the given kind and tag with")
	b.p("// d's fast decoder (fastFlowRecord, fastCounterRecord) and with the reader;")
	b.p("// has is false for a record without a fast decoder.")
	b.p("func decodeTwoWays(d *Decoder, flow bool, t Tag, body []byte) (fast, slow Record, fastOK bool, slowErr error, has bool) {\n\tswitch {")
	for _, it := range records(sp) {
		if !sp.fastable(it) {
			continue
		}
		neg := "!"
		if it.Kind == "flow" {
			neg = ""
		}
		b.p("\tcase %sflow && t == Tag%s:\n\t\tfast = d.fast%sRecord(t, body)", neg, it.Name, strings.ToUpper(it.Kind[:1])+it.Kind[1:])
		b.p("\t\ts := new(%s)\n\t\tr := reader{b: body}\n\t\ts.decode(&r, d)", it.Name)
		b.p("\t\treturn fast, s, fast != nil, r.err, true")
	}
	b.p("\t}\n\treturn nil, nil, false, nil, false\n}\n")
	b.p("// fillSampleBody fills a new sample body of the given tag with random values.")
	b.p("func fillSampleBody(g *valueGen, t Tag) SampleBody {\n\tswitch t {")
	for _, it := range samples(sp) {
		b.p("\tcase %s:\n\t\tx := new(%s)\n\t\tfill%s(g, x)\n\t\treturn x", tagConst(it), it.Name, it.Name)
	}
	b.p("\t}\n\treturn nil\n}\n")
	for _, it := range sp.Items {
		b.p("func fill%s(g *valueGen, x *%s) {", it.Name, it.Name)
		if it.Kind == "union" {
			b.p("\t*x = %s{}\n\tswitch g.intn(%d) {", it.Name, len(it.Fields))
			for i, f := range it.Fields {
				b.p("\tcase %d:\n\t\tx.Type = %s%s", i, it.Name, f.Name)
				genFillFields(&b, sp, layout{Fields: []layoutField{{F: f, Wire: f.Type}}})
			}
			b.p("\t}\n}\n")
			continue
		}
		if len(it.Layouts) == 1 {
			genFillFields(&b, sp, it.Layouts[0])
		} else {
			b.p("\tx.Layout = uint8(g.intn(%d))\n\tswitch x.Layout {", len(it.Layouts))
			for i, l := range it.Layouts {
				b.p("\tcase %d:", i)
				genFillFields(&b, sp, l)
			}
			b.p("\t}")
		}
		b.p("}\n")
	}
	return b.Bytes()
}

func genFillFields(b *buf, sp *spec, l layout) {
	for _, lf := range l.Fields {
		f, w := lf.F, lf.Wire
		switch {
		case w == "str" || w == "opaque":
			b.p("\tx.%s = g.bytes(%d)", f.Name, f.Max)
		case w == "flowrecords":
			b.p("\tx.%s = g.flowRecords()", f.Name)
		case sp.Unions[w] != nil:
			b.p("\tfill%s(g, &x.%s)", w, f.Name)
		case strings.HasSuffix(w, "[]"):
			el := strings.TrimSuffix(w, "[]")
			b.p("\tx.%s = grow(x.%s, g.count(%d))", f.Name, f.Name, f.Max)
			if sp.Structs[el] != nil {
				b.p("\tfor i := range x.%s {\n\t\tfill%s(g, &x.%s[i])\n\t}", f.Name, el, f.Name)
			} else {
				b.p("\tfor i := range x.%s {\n\t\tx.%s[i] = g.%s()\n\t}", f.Name, f.Name, readerFn(el))
			}
		default:
			b.p("\tx.%s = g.%s()", f.Name, readerFn(w))
		}
	}
}

// genDocs writes the reference of every record: tag, name, Go type, and its
// fields with wire type, JSON name and sflowtool text key.
func genDocs(sp *spec) []byte {
	var b buf
	b.p("# sFlow records gwd knows\n")
	b.p("<!-- Generated by sflow/internal/gen from sflow/spec/*.spec; DO NOT EDIT. -->\n")
	b.p("Every flow and counter record that `gwd decode` prints and `sflow` encodes, with each field's wire")
	b.p("type, its name in `--format json` output and its key in `--format text` output (sflowtool's key;")
	b.p("`-` = not printed). Records marked *custom* print extra or reordered text lines (see")
	b.p("`sflow/sflowfmt/custom.go`). Records with more than one layout accept every layout seen in the")
	b.p("field; JSON then carries `\"layout\"` (0 = current).\n")
	b.p("The sample types 0:1-0:5 are described in `sflow/datagram.go` and [json.md](json.md); the other")
	b.p("sample types gwd knows are listed first, with the typed values (unions) they hold at the end.\n")
	for _, kind := range []string{"sample", "flow", "counter"} {
		if kind == "sample" {
			b.p("## Sample types\n")
		} else {
			b.p("## %s records\n", strings.ToUpper(kind[:1])+kind[1:])
		}
		for _, it := range itemsOf(sp, kind) {
			extra := ""
			if it.Opts["print"] == "custom" {
				extra = " (custom text)"
			}
			b.p("### %d:%d %s — `sflow.%s`%s\n", it.Ent, it.Num, it.SpecName, it.Name, extra)
			docFields(&b, sp, it)
			for _, l := range it.Layouts[1:] {
				var names []string
				for _, lf := range l.Fields {
					names = append(names, lf.F.Name)
				}
				b.p("Alternative layout `%s`: %s.\n", l.Name, strings.Join(names, ", "))
			}
		}
	}
	b.p("## Nested element types\n")
	for _, it := range sp.Items {
		if it.Kind == "struct" {
			b.p("### %s\n", it.Name)
			docFields(&b, sp, it)
		}
	}
	if len(sp.Unions) > 0 {
		b.p("## Typed values (unions)\n")
		b.p("On the wire a u32 type, then the value of that type; an unknown type is a decode error. In Go the")
		b.p("field `Type` says which field holds the value; in JSON an object `{\"type\": N, \"<json>\": value}`; in")
		b.p("text one line whose key is the type's text name followed by the name the sample gives the value.\n")
		for _, it := range sp.Items {
			if it.Kind != "union" {
				continue
			}
			b.p("### %s\n", it.Name)
			b.p("| type | field | wire | json | text |\n|---|---|---|---|---|")
			for _, f := range it.Fields {
				b.p("| %d | %s | %s | `%s` | `%s` |", f.Arm, f.Name, wireDoc(f), f.JSON, f.Text)
			}
			b.p("")
		}
	}
	return b.Bytes()
}

func wireDoc(f *field) string {
	if f.Max > 0 {
		return fmt.Sprintf("%s<%d>", f.Type, f.Max)
	}
	return f.Type
}

func docFields(b *buf, sp *spec, it *item) {
	b.p("| field | wire | json | text |\n|---|---|---|---|")
	for _, f := range it.Fields {
		b.p("| %s | %s | `%s` | `%s` |", f.Name, wireDoc(f), f.JSON, f.Text)
	}
	b.p("")
}

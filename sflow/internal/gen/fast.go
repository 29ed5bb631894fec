package main

import (
	"fmt"
	"strings"
)

// The fast decoders. Every record whose fields are all plain wire types,
// or arrays of structs made of them (no union, no nested flow records), gets
//
//	func (d *Decoder) fast<Name>(body []byte) Record
//
// which takes a value from the record's pool and reads it from body without
// the sticky-error reader: each run of fixed-size fields is read after one
// length check, at constant offsets into a subslice of constant length, so
// the compiler drops every other bounds check; a record made only of
// fixed-size fields has one check in all. The elements of struct arrays are
// read inline. It reports no error: on any problem (too short, a length or
// count above its maximum, an unknown address type) it returns nil and the
// caller decodes the record again with decode, which finds the same problem
// and says where it is. On success it sets exactly the values decode sets,
// which TestFastDecodeAgrees and FuzzFastDecode check.

// fastable reports whether a record (or the struct of one of its arrays)
// can be read by a fast decoder.
func (sp *spec) fastable(it *item) bool {
	if it.Kind == "struct" && len(it.Layouts) > 1 {
		// A struct's layouts would be chosen by the bytes after it.
		return false
	}
	for _, l := range it.Layouts {
		for _, lf := range l.Fields {
			w := lf.Wire
			switch {
			case w == "flowrecords", sp.Unions[w] != nil:
				return false
			case strings.HasSuffix(w, "[]"):
				if st := sp.Structs[strings.TrimSuffix(w, "[]")]; st != nil && !sp.fastable(st) {
					return false
				}
			}
		}
	}
	return true
}

// fastRunSize is the size of a run of fields read with one length check:
// fixed-size fields and uuidvar (its length word must be 16).
func fastRunSize(w string) (int, bool) {
	if w == "uuidvar" {
		return 20, true
	}
	fs, ok := fixedSize[w]
	return fs.n, ok
}

// allFixed is the size of a layout made only of fixed-size fields.
func allFixed(l layout) (int, bool) {
	n := 0
	for _, lf := range l.Fields {
		s, ok := fastRunSize(lf.Wire)
		if !ok {
			return 0, false
		}
		n += s
	}
	return n, true
}

// genFastCodec writes the fast decoders a record needs beside fast<Name>
// (genFastRecord): those of its layouts, when they are not all of fixed
// size.
func genFastCodec(b *buf, sp *spec, it *item) {
	n := it.Name
	if _, fixed := fixedLayouts(it); len(it.Layouts) == 1 || fixed {
		return
	}
	for i, l := range it.Layouts {
		b.p("func (x *%s) decodeFastLayout%d(p []byte) ([]byte, bool) {\n\tx.reset()\n\tx.Layout = %d", n, i, i)
		genFastFields(b, sp, l, "x", "return p, false", true)
		b.p("\treturn p, true\n}\n")
	}
	b.p("// decodeFast takes the first layout that fills p exactly, else the first that fits.")
	b.p("func (x *%s) decodeFast(p []byte) ([]byte, bool) {", n)
	for i := range it.Layouts {
		b.p("\tif rest, ok := x.decodeFastLayout%d(p); ok && len(rest) == 0 {\n\t\treturn rest, true\n\t}", i)
	}
	for i := range it.Layouts {
		b.p("\tif rest, ok := x.decodeFastLayout%d(p); ok {\n\t\treturn rest, true\n\t}", i)
	}
	b.p("\treturn p, false\n}\n")
}

// fixedLayouts returns the sizes of an item's layouts, and whether they are
// all made of fixed-size fields only.
func fixedLayouts(it *item) ([]int, bool) {
	sizes := make([]int, len(it.Layouts))
	fixed := true
	for i, l := range it.Layouts {
		s, ok := allFixed(l)
		sizes[i], fixed = s, fixed && ok
	}
	return sizes, fixed
}

// genZeroAbsent zeroes the fields of an item that a layout does not have.
func genZeroAbsent(b *buf, sp *spec, it *item, l layout) {
	in := map[*field]bool{}
	for _, lf := range l.Fields {
		in[lf.F] = true
	}
	for _, f := range it.Fields {
		if !in[f] {
			t, _ := sp.goType(f.Type)
			if strings.HasPrefix(t, "[]") {
				b.p("\tx.%s = x.%s[:0]", f.Name, f.Name)
			} else {
				b.p("\tx.%s = %s", f.Name, zeroLit(t))
			}
		}
	}
}

// genFastRecord writes fast<Name>, which fast*Record calls for the record:
// the record x from its pool decoded from body, returned, or nil on
// failure. (One function per record: written inline in fast*Record's
// switch, they would make a function so big that the compiler inlines
// nothing into it.)
func genFastRecord(b *buf, sp *spec, it *item) {
	b.p("func (d *Decoder) fast%s(body []byte) Record {", it.Name)
	b.p("\tx := d.pools.%s.next(d.gen)\n\tp := body", poolName(it))
	if len(it.Layouts) == 1 {
		genFastFields(b, sp, it.Layouts[0], "x", "return nil", false)
		b.p("\treturn x\n}\n")
		return
	}
	sizes, fixed := fixedLayouts(it)
	if !fixed {
		// The current layout inline, when it fills the body exactly;
		// else each layout in turn (decodeFast).
		genFastFields(b, sp, it.Layouts[0], "x", "goto layouts", true)
		b.p("\tif len(p) == 0 {")
		genZeroAbsent(b, sp, it, it.Layouts[0])
		b.p("\t\tx.Layout = 0\n\t\treturn x\n\t}")
		b.p("layouts:\n\tif _, ok := x.decodeFast(body); ok {\n\t\treturn x\n\t}\n\treturn nil\n}\n")
		return
	}
	// Fixed-size layouts: the length alone says which one fills the body
	// exactly, else which one fits first.
	b.p("\tswitch {")
	for _, exact := range []bool{true, false} {
		for i, l := range it.Layouts {
			op := ">="
			if exact {
				op = "=="
			}
			b.p("\t\tcase len(p) %s %d:", op, sizes[i])
			genFastFields(b, sp, l, "x", "return nil", false)
			genZeroAbsent(b, sp, it, l)
			b.p("\t\t\tx.Layout = %d\n\t\t\treturn x", i)
		}
	}
	b.p("\t}\n\treturn nil\n}\n")
}

// genFastFields writes the reads of a layout's fields from p into the
// value that recv points to; on failure it runs fail. With rest false
// nothing reads p afterwards, so the last field does not advance it.
func genFastFields(b *buf, sp *spec, l layout, recv, fail string, rest bool) {
	fields := l.Fields
	for i := 0; i < len(fields); {
		j, n := i, 0
		for j < len(fields) {
			s, ok := fastRunSize(fields[j].Wire)
			if !ok {
				break
			}
			n += s
			j++
		}
		if j > i {
			// One length check for the run; q has a constant length, so
			// the reads at constant offsets need no other check.
			b.p("\tif len(p) < %d {\n\t\t%s\n\t}", n, fail)
			b.p("\t{\n\t\tq := p[:%d]", n)
			off := 0
			for _, lf := range fields[i:j] {
				if lf.Wire == "uuidvar" {
					b.p("\t\tif be32(q[%d:]) != 16 {\n\t\t\t%s\n\t\t}", off, fail)
					b.p("\t\t%s.%s = uuidAt(q[%d:])", recv, lf.F.Name, off+4)
					off += 20
					continue
				}
				fs := fixedSize[lf.Wire]
				b.p("\t\t%s.%s = %s", recv, lf.F.Name, fixedCall(fs.fn, fmt.Sprintf("q[%d:]", off)))
				off += fs.n
			}
			b.p("\t}")
			if rest || j < len(fields) {
				b.p("\tp = p[%d:]", n)
			}
			i = j
			continue
		}
		genFastField(b, sp, fields[i], recv, fail, rest || i+1 < len(fields))
		i++
	}
}

// fixedCall is the call that converts the bytes at arg for a fixed-size
// wire type (fixedSize's fn).
func fixedCall(fn, arg string) string {
	if strings.HasPrefix(fn, "int32(") {
		return fn + "(" + arg + "))"
	}
	return fn + "(" + arg + ")"
}

func genFastField(b *buf, sp *spec, lf layoutField, recv, fail string, rest bool) {
	f, w := lf.F, lf.Wire
	switch {
	case w == "str" || w == "opaque":
		b.p("\t{\n\t\tv, %s, ok := cutOpaque(p, %d)\n\t\tif !ok {\n\t\t\t%s\n\t\t}", restVar(rest), f.Max, fail)
		genFastSet(b, recv, f.Name, rest)
	case w == "addr":
		b.p("\t{\n\t\tv, %s, ok := cutAddr(p)\n\t\tif !ok {\n\t\t\t%s\n\t\t}", restVar(rest), fail)
		genFastSet(b, recv, f.Name, rest)
	case strings.HasSuffix(w, "[]"):
		el := strings.TrimSuffix(w, "[]")
		st := sp.Structs[el]
		min := sp.minSizeOf(el)
		if st != nil {
			min = sp.structMinSize(el)
		}
		b.p("\t{\n\t\tn, rest, ok := cutCount(p, %d, %d)\n\t\tif !ok {\n\t\t\t%s\n\t\t}", f.Max, min, fail)
		b.p("\t\t%s.%s, p = grow(%s.%s, n), rest", recv, f.Name, recv, f.Name)
		if st != nil {
			// The struct's fields inline, for each element e.
			e := recv + "e"
			b.p("\t\tfor i := range %s.%s {\n\t\t\t%s := &%s.%s[i]", recv, f.Name, e, recv, f.Name)
			genFastFields(b, sp, st.Layouts[0], e, fail, true)
			b.p("\t\t}")
		} else {
			// cutCount checked that n elements fit.
			fs := fixedSize[el]
			b.p("\t\tfor i := range %s.%s {\n\t\t\t%s.%s[i] = %s\n\t\t}", recv, f.Name, recv, f.Name, fixedCall(fs.fn, fmt.Sprintf("p[%d*i:]", fs.n)))
			if rest {
				b.p("\t\tp = p[%d*len(%s.%s):]", fs.n, recv, f.Name)
			}
		}
		b.p("\t}")
	default:
		panic(fmt.Sprintf("%s: no fast decoder for wire type %q", f.Pos, w))
	}
}

// genFastSet stores a variable-size field's value v and, when p is read
// again, advances p past it.
func genFastSet(b *buf, recv, name string, rest bool) {
	if rest {
		b.p("\t\t%s.%s, p = v, rest\n\t}", recv, name)
		return
	}
	b.p("\t\t%s.%s = v\n\t}", recv, name)
}

func restVar(rest bool) string {
	if rest {
		return "rest"
	}
	return "_"
}

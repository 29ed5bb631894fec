package sflowfmt

import (
	"math"
	"net/netip"
	"strconv"
	"unicode/utf8"

	"gwd/sflow"
)

// jsonWriter appends JSON without reflection. Every value is followed by a
// comma; close replaces the trailing comma with the closing bracket.
type jsonWriter struct {
	b []byte
}

func (j *jsonWriter) open(c byte) { j.b = append(j.b, c) }

func (j *jsonWriter) close(c byte) {
	if n := len(j.b); n > 0 && j.b[n-1] == ',' {
		j.b[n-1] = c
	} else {
		j.b = append(j.b, c)
	}
	j.b = append(j.b, ',')
}

// key writes "k": unless k is empty (array elements).
func (j *jsonWriter) key(k string) {
	if k == "" {
		return
	}
	j.b = append(j.b, '"')
	j.b = append(j.b, k...)
	j.b = append(j.b, '"', ':')
}

func (j *jsonWriter) u(k string, v uint64) {
	j.key(k)
	j.b = strconv.AppendUint(j.b, v, 10)
	j.b = append(j.b, ',')
}

func (j *jsonWriter) i(k string, v int64) {
	j.key(k)
	j.b = strconv.AppendInt(j.b, v, 10)
	j.b = append(j.b, ',')
}

func (j *jsonWriter) f(k string, v float64) {
	j.key(k)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		j.b = append(j.b, "null"...)
	} else {
		j.b = strconv.AppendFloat(j.b, v, 'g', -1, 64)
	}
	j.b = append(j.b, ',')
}

func (j *jsonWriter) ip(k string, a netip.Addr) {
	j.key(k)
	if !a.IsValid() {
		j.b = append(j.b, "null,"...)
		return
	}
	j.b = append(j.b, '"')
	j.b = a.AppendTo(j.b)
	j.b = append(j.b, '"', ',')
}

func (j *jsonWriter) mac(k string, m [6]byte) {
	j.key(k)
	j.b = append(j.b, '"')
	for i, c := range m {
		if i > 0 {
			j.b = append(j.b, ':')
		}
		j.b = append(j.b, hexLower[c>>4], hexLower[c&15])
	}
	j.b = append(j.b, '"', ',')
}

func (j *jsonWriter) uuid(k string, u [16]byte) {
	j.key(k)
	j.b = append(j.b, '"')
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			j.b = append(j.b, '-')
		}
		j.b = append(j.b, hexLower[c>>4], hexLower[c&15])
	}
	j.b = append(j.b, '"', ',')
}

func (j *jsonWriter) hex(k string, v []byte) {
	j.key(k)
	j.b = append(j.b, '"')
	for _, c := range v {
		j.b = append(j.b, hexLower[c>>4], hexLower[c&15])
	}
	j.b = append(j.b, '"', ',')
}

// str writes bytes as a JSON string; invalid UTF-8 becomes U+FFFD.
func (j *jsonWriter) str(k string, v []byte) {
	j.key(k)
	j.b = append(j.b, '"')
	for len(v) > 0 {
		r, n := utf8.DecodeRune(v)
		switch {
		case r == '"' || r == '\\':
			j.b = append(j.b, '\\', byte(r))
		case r < 0x20:
			j.b = append(j.b, `\u00`...)
			j.b = append(j.b, hexLower[r>>4], hexLower[r&15])
		case r == utf8.RuneError && n == 1:
			j.b = append(j.b, "\ufffd"...)
		default:
			j.b = append(j.b, v[:n]...)
		}
		v = v[n:]
	}
	j.b = append(j.b, '"', ',')
}

// record writes one record as {"tag":"e:f","name":"...",fields...}; unknown
// and undecodable records carry their bytes as "data" in hex.
func (j *jsonWriter) record(r sflow.Record) {
	j.open('{')
	j.key("tag")
	j.b = append(j.b, '"')
	j.b = r.Tag().AppendText(j.b)
	j.b = append(j.b, '"', ',')
	j.key("name")
	j.b = append(j.b, '"')
	j.b = append(j.b, sflow.RecordName(r)...)
	j.b = append(j.b, '"', ',')
	if !jsonFields(j, r) {
		if o, ok := r.(*sflow.OpaqueRecord); ok {
			j.hex("data", o.Data)
		}
	}
	j.close('}')
}

package sflowfmt

import (
	"net/netip"
	"strconv"

	"gwd/sflow"
)

// textPrinter accumulates sflowtool-style "key value" lines.
type textPrinter struct {
	b []byte
}

func (p *textPrinter) key(k string) {
	p.b = append(p.b, k...)
	p.b = append(p.b, ' ')
}

func (p *textPrinter) line(k, v string) {
	p.key(k)
	p.b = append(p.b, v...)
	p.b = append(p.b, '\n')
}

func (p *textPrinter) dec(k string, v uint64) {
	p.key(k)
	p.b = strconv.AppendUint(p.b, v, 10)
	p.b = append(p.b, '\n')
}

func (p *textPrinter) decInt(k string, v int64) {
	p.key(k)
	p.b = strconv.AppendInt(p.b, v, 10)
	p.b = append(p.b, '\n')
}

func (p *textPrinter) float3(k string, v float64) {
	p.key(k)
	p.b = strconv.AppendFloat(p.b, v, 'f', 3, 64)
	p.b = append(p.b, '\n')
}

// pct prints a percentage in hundredths as sflowtool does: -1 stays -1,
// anything else as whole.hundredths.
func (p *textPrinter) pct(k string, v int32) {
	p.key(k)
	if v == -1 {
		p.b = append(p.b, "-1"...)
	} else {
		if v < 0 {
			p.b = append(p.b, '-')
			v = -v
		}
		p.b = strconv.AppendInt(p.b, int64(v/100), 10)
		p.b = append(p.b, '.')
		if v%100 < 10 {
			p.b = append(p.b, '0')
		}
		p.b = strconv.AppendInt(p.b, int64(v%100), 10)
	}
	p.b = append(p.b, '\n')
}

const hexLower = "0123456789abcdef"
const hexUpper = "0123456789ABCDEF"

func (p *textPrinter) hex(k string, v []byte) {
	p.key(k)
	for _, c := range v {
		p.b = append(p.b, hexLower[c>>4], hexLower[c&15])
	}
	p.b = append(p.b, '\n')
}

func (p *textPrinter) hexdash(k string, v []byte) {
	p.key(k)
	p.b = appendHexDash(p.b, v)
	p.b = append(p.b, '\n')
}

func appendHexDash(b, v []byte) []byte {
	for i, c := range v {
		if i > 0 {
			b = append(b, '-')
		}
		b = append(b, hexUpper[c>>4], hexUpper[c&15])
	}
	return b
}

func (p *textPrinter) mac(k string, m [6]byte) { p.hex(k, m[:]) }

func (p *textPrinter) uuid(k string, u [16]byte) {
	p.key(k)
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			p.b = append(p.b, '-')
		}
		p.b = append(p.b, hexLower[c>>4], hexLower[c&15])
	}
	p.b = append(p.b, '\n')
}

// ip prints addresses the way sflowtool does: dotted IPv4, IPv6 as eight
// groups of four hex digits (no :: compression), "-" for unknown.
func (p *textPrinter) ip(k string, a netip.Addr) {
	p.key(k)
	p.b = appendIP(p.b, a)
	p.b = append(p.b, '\n')
}

func appendIP(b []byte, a netip.Addr) []byte {
	switch {
	case !a.IsValid():
		return append(b, '-')
	case a.Is4():
		return a.AppendTo(b)
	}
	v := a.As16()
	for i := 0; i < 16; i += 2 {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hexLower[v[i]>>4], hexLower[v[i]&15], hexLower[v[i+1]>>4], hexLower[v[i+1]&15])
	}
	return b
}

// str prints a string field; sflowtool prints the bytes up to the first NUL.
func (p *textPrinter) str(k string, v []byte) {
	p.key(k)
	for _, c := range v {
		if c == 0 {
			break
		}
		p.b = append(p.b, c)
	}
	p.b = append(p.b, '\n')
}

// nested prints a record nested in another (802.11 aggregation).
func (p *textPrinter) nested(k string, r sflow.Record) {
	p.key(k)
	p.b = r.Tag().AppendText(p.b)
	p.b = append(p.b, '\n')
	printFields(p, r)
}

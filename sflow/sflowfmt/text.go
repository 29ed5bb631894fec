package sflowfmt

import (
	"math"
	"net/netip"
	"strconv"

	"gwd/sflow"
)

// textPrinter accumulates sflowtool-style "key value" lines.
type textPrinter struct {
	b      []byte
	prefix string      // put before every key (sflowtool's "discarded_" in 0:5 samples)
	hs     headerState // sampled-header decode state, one per sample as in sflowtool
}

func (p *textPrinter) key(k string) {
	p.b = append(p.b, p.prefix...)
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

// float3 is C's %.3f, including its spelling of NaN and infinities, cut to
// the 199 characters that sflowtool's 200-byte buffer holds (only doubles
// above 1e195 are that long).
func (p *textPrinter) float3(k string, v float64) {
	p.key(k)
	start := len(p.b)
	switch {
	case math.IsNaN(v):
		if math.Signbit(v) {
			p.b = append(p.b, '-')
		}
		p.b = append(p.b, "nan"...)
	case math.IsInf(v, 1):
		p.b = append(p.b, "inf"...)
	case math.IsInf(v, -1):
		p.b = append(p.b, "-inf"...)
	default:
		p.b = strconv.AppendFloat(p.b, v, 'f', 3, 64)
		if len(p.b)-start > 199 {
			p.b = p.b[:start+199]
		}
	}
	p.b = append(p.b, '\n')
}

// hex16 is a u64 as 16 zero-padded lowercase hex digits.
func (p *textPrinter) hex16(k string, v uint64) {
	p.key(k)
	for i := 60; i >= 0; i -= 4 {
		p.b = append(p.b, hexLower[v>>uint(i)&15])
	}
	p.b = append(p.b, '\n')
}

// pct prints a percentage in hundredths as sflowtool does: -1 is
// "unknown"; anything else is taken as unsigned, divided by 100 in single
// precision and shown with two decimals.
func (p *textPrinter) pct(k string, v int32) {
	p.key(k)
	if v == -1 {
		p.b = append(p.b, "unknown"...)
	} else {
		p.b = strconv.AppendFloat(p.b, float64(float32(uint32(v))/float32(100)), 'f', 2, 64)
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

// cstr is what C's %s shows of a string copied into a buffer of trunc+1
// bytes: at most trunc bytes (0: all), up to the first NUL.
func cstr(v []byte, trunc int) []byte {
	if trunc > 0 && len(v) > trunc {
		v = v[:trunc]
	}
	for i, c := range v {
		if c == 0 {
			return v[:i]
		}
	}
	return v
}

// str prints a string field as sflowtool does: raw bytes, cut by cstr.
func (p *textPrinter) str(k string, v []byte, trunc int) {
	p.key(k)
	p.b = append(p.b, cstr(v, trunc)...)
	p.b = append(p.b, '\n')
}

// urlenc prints a string URL-encoded the way sflowtool does: letters and
// digits as they are, white space as '+', anything else as %XX.
func (p *textPrinter) urlenc(k string, v []byte, trunc int) {
	p.key(k)
	for _, c := range cstr(v, trunc) {
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9':
			p.b = append(p.b, c)
		case c == ' ' || c >= '\t' && c <= '\r':
			p.b = append(p.b, '+')
		default:
			p.b = append(p.b, '%', hexUpper[c>>4], hexUpper[c&15])
		}
	}
	p.b = append(p.b, '\n')
}

var appStatusNames = [...]string{"SUCCESS", "OTHER", "TIMEOUT", "INTERNAL_ERROR", "BAD_REQUEST",
	"FORBIDDEN", "TOO_LARGE", "NOT_IMPLEMENTED", "NOT_FOUND", "UNAVAILABLE", "UNATHORIZED"}

// appstatus names an application status (sflowtool's spelling, sic).
func (p *textPrinter) appstatus(k string, v uint32) {
	if int(v) < len(appStatusNames) && v < 1<<31 {
		p.line(k, appStatusNames[v])
		return
	}
	p.key(k)
	p.b = append(p.b, "<out-of-range="...)
	p.b = strconv.AppendUint(p.b, uint64(v), 10)
	p.b = append(p.b, ">\n"...)
}

func (p *textPrinter) tcpdir(k string, v uint32) {
	switch v {
	case 0:
		p.line(k, "unknown")
	case 1:
		p.line(k, "received")
	case 2:
		p.line(k, "sent")
	default:
		p.line(k, "<bad value>")
	}
}

// mplsstack prints a label stack on one line: label.exp.bottom.ttl joined by '-'.
func (p *textPrinter) mplsstack(k string, v []int32) {
	p.key(k)
	for i, e := range v {
		u := uint32(e)
		if i > 0 {
			p.b = append(p.b, '-')
		}
		p.b = strconv.AppendUint(p.b, uint64(u>>12), 10)
		p.b = append(p.b, '.')
		p.b = strconv.AppendUint(p.b, uint64(u>>9&7), 10)
		p.b = append(p.b, '.')
		p.b = strconv.AppendUint(p.b, uint64(u>>8&1), 10)
		p.b = append(p.b, '.')
		p.b = strconv.AppendUint(p.b, uint64(u&255), 10)
	}
	p.b = append(p.b, '\n')
}

// vlanstack prints 802.1Q tags on one line: 0xTPID then pcp.cfi.vid, joined by '-'.
func (p *textPrinter) vlanstack(k string, v []uint32) {
	p.key(k)
	for i, e := range v {
		if i > 0 {
			p.b = append(p.b, '-')
		}
		p.b = append(p.b, '0', 'x')
		for s := 28; s >= 16; s -= 4 {
			p.b = append(p.b, hexLower[e>>uint(s)&15])
		}
		p.b = strconv.AppendUint(p.b, uint64(e>>13&7), 10)
		p.b = append(p.b, '.')
		p.b = strconv.AppendUint(p.b, uint64(e>>12&1), 10)
		p.b = append(p.b, '.')
		p.b = strconv.AppendUint(p.b, uint64(e&4095), 10)
	}
	p.b = append(p.b, '\n')
}

// nested prints a record nested in another (802.11 aggregation).
//
//lint:ignore U1000 the generator emits calls for flowrecords fields printed generically
func (p *textPrinter) nested(k string, r sflow.Record) {
	p.key(k)
	p.b = r.Tag().AppendText(p.b)
	p.b = append(p.b, '\n')
	printFields(p, r)
}

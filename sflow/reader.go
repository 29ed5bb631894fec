package sflow

import (
	"encoding/binary"
	"errors"
	"math"
	"net/netip"
)

// Errors a reader can stop on. They are wrapped in a *DecodeError that says
// where in the datagram the problem is.
var (
	ErrShort       = errors.New("truncated: needs more bytes than remain")
	ErrTooLong     = errors.New("length or count above the spec's maximum")
	ErrAddressType = errors.New("unknown address type")
	ErrVersion     = errors.New("not an sFlow version 5 datagram") // Decode reports a *VersionError, which matches it
	ErrDepth       = errors.New("records nested too deeply")
	ErrValueType   = errors.New("unknown type of a typed value")
)

// reader is a scanner over one XDR buffer with a single sticky error: after
// the first failure every read returns a zero value and the error stays.
type reader struct {
	b   []byte
	off int
	err error
	// base is the offset of b[0] within the datagram, for error messages.
	base int
}

func (r *reader) rem() int { return len(r.b) - r.off }

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// failWord fails on the word just read (a length, count, type or version
// that is wrong), so that the error's offset is that word's and not the one
// after it. Call it only right after a successful u32.
func (r *reader) failWord(err error) {
	if r.err == nil {
		r.off -= 4
		r.err = err
	}
}

// take returns the next n bytes (aliasing the buffer) or nil after an error.
func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.fail(ErrShort)
		return nil
	}
	p := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return p
}

func (r *reader) u32() uint32 {
	if r.err != nil {
		return 0
	}
	if len(r.b)-r.off < 4 {
		r.fail(ErrShort)
		return 0
	}
	v := binary.BigEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *reader) i32() int32 { return int32(r.u32()) }

func (r *reader) u64() uint64 {
	if r.err != nil {
		return 0
	}
	if len(r.b)-r.off < 8 {
		r.fail(ErrShort)
		return 0
	}
	v := binary.BigEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v
}

func (r *reader) f32() float32 { return math.Float32frombits(r.u32()) }

func (r *reader) f64() float64 { return math.Float64frombits(r.u64()) }

func (r *reader) ip4() netip.Addr {
	p := r.take(4)
	if p == nil {
		return netip.Addr{}
	}
	return netip.AddrFrom4([4]byte(p))
}

func (r *reader) ip6() netip.Addr {
	p := r.take(16)
	if p == nil {
		return netip.Addr{}
	}
	return netip.AddrFrom16([16]byte(p))
}

// addr reads the address union; type 0 (unknown) gives the zero Addr.
func (r *reader) addr() netip.Addr {
	switch t := r.u32(); t {
	case 0:
		return netip.Addr{}
	case 1:
		return r.ip4()
	case 2:
		return r.ip6()
	default:
		r.failWord(ErrAddressType)
		return netip.Addr{}
	}
}

func (r *reader) mac() (m [6]byte) {
	if p := r.take(8); p != nil {
		copy(m[:], p)
	}
	return m
}

func (r *reader) uuid() (u [16]byte) {
	if p := r.take(16); p != nil {
		copy(u[:], p)
	}
	return u
}

// uuidvar reads a UUID sent as XDR opaque<16>: a length word that must be 16.
func (r *reader) uuidvar() (u [16]byte) {
	if n := r.u32(); n != 16 && r.err == nil {
		r.failWord(ErrTooLong)
		return u
	}
	return r.uuid()
}

func (r *reader) b4() (v [4]byte) {
	if p := r.take(4); p != nil {
		copy(v[:], p)
	}
	return v
}

// opaque reads an XDR string or variable opaque of at most max bytes (0: no
// maximum beyond what remains) and skips its padding.
func (r *reader) opaque(max int) []byte {
	n := r.u32()
	if r.err != nil {
		return nil
	}
	if max > 0 && n > uint32(max) {
		r.failWord(ErrTooLong)
		return nil
	}
	if uint64(n) > uint64(r.rem()) {
		r.failWord(ErrShort)
		return nil
	}
	p := r.take(int(n))
	r.take(pad4(int(n)))
	return p
}

// count reads an array length and checks it against max (0: none) and
// against the bytes left, given the smallest encoded size of one element.
func (r *reader) count(max, minElem int) int {
	n := r.u32()
	if r.err != nil {
		return 0
	}
	if max > 0 && n > uint32(max) {
		r.failWord(ErrTooLong)
		return 0
	}
	if minElem < 1 {
		minElem = 1
	}
	if uint64(n)*uint64(minElem) > uint64(r.rem()) {
		r.failWord(ErrShort)
		return 0
	}
	return int(n)
}

// frame reads a tag, a length and the body the length announces. When the
// body runs past the end, the error is placed on the length word.
func (r *reader) frame() (tag Tag, body []byte, at int) {
	if r.err == nil && len(r.b)-r.off >= 8 { // the common case: one check
		p := r.b[r.off:]
		if size := be32(p[4:]); uint64(size) <= uint64(len(p)-8) {
			at = r.off + 8
			r.off = at + int(size)
			return Tag(be32(p)), r.b[at:r.off:r.off], at
		}
	}
	tag = Tag(r.u32())
	size := r.u32()
	if r.err == nil && uint64(size) > uint64(r.rem()) {
		r.failWord(ErrShort)
	}
	at = r.off
	return tag, r.take(int(size)), at
}

func pad4(n int) int { return (4 - n&3) & 3 }

// grow returns s resized to n elements, reusing its memory when it can.
// Elements kept from an earlier use still hold their old values; decoders
// overwrite every field.
func grow[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}

// pool hands out reusable values of one record type for a Decoder. A pool
// is emptied by the first next of a Decode call (gen is the Decoder's count
// of calls), so Decode does not visit the pools it did not use.
type pool[T any] struct {
	s   []T    // every value handed out so far, reused
	n   int    // how many this Decode has handed out
	gen uint64 // the Decode they were handed out in
}

// next hands out a value, which still holds what an earlier Decode put
// there: decoders overwrite every field. Only n and gen are written on
// the common path (not the slice header).
func (p *pool[T]) next(gen uint64) *T {
	n := p.n
	if p.gen != gen {
		p.gen, n = gen, 0
	}
	if n == len(p.s) {
		var zero T
		p.s = append(p.s, zero)
		p.s = p.s[:cap(p.s)]
	}
	p.n = n + 1
	return &p.s[n]
}

// fixed returns the next n bytes, or nil without recording an error when
// fewer remain: the caller then reads field by field, which fails at the
// exact field that is missing.
func (r *reader) fixed(n int) []byte {
	if r.err != nil || n > len(r.b)-r.off {
		return nil
	}
	p := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return p
}

// Big-endian field readers over a slice already checked to be long enough
// (the generated decoders read runs of fixed-size fields with one check).
func be32(p []byte) uint32   { return binary.BigEndian.Uint32(p) }
func be64(p []byte) uint64   { return binary.BigEndian.Uint64(p) }
func bef32(p []byte) float32 { return math.Float32frombits(binary.BigEndian.Uint32(p)) }

//lint:ignore U1000 the generator emits calls for runs of fixed-size f64 fields; no structure has one today
func bef64(p []byte) float64    { return math.Float64frombits(binary.BigEndian.Uint64(p)) }
func ip4at(p []byte) netip.Addr { return netip.AddrFrom4([4]byte(p[:4])) }
func ip6at(p []byte) netip.Addr { return netip.AddrFrom16([16]byte(p[:16])) }
func macAt(p []byte) [6]byte    { return [6]byte(p[:6]) }
func uuidAt(p []byte) [16]byte  { return [16]byte(p[:16]) }
func b4At(p []byte) [4]byte     { return [4]byte(p[:4]) }

// The fast decoders' readers (see decodeFast in zz_generated_codec.go):
// each reads one variable-size field from the front of p and returns the
// rest, or ok false when p cannot hold it, without recording why.

// cutOpaque reads an XDR string or variable opaque of at most max bytes (0:
// no maximum) and its padding.
func cutOpaque(p []byte, max uint32) (v, rest []byte, ok bool) {
	if len(p) < 4 {
		return nil, p, false
	}
	n := be32(p)
	padded := (uint64(n) + 3) &^ 3
	if max > 0 && n > max || padded > uint64(len(p)-4) {
		return nil, p, false
	}
	return p[4 : 4+n : 4+n], p[4+padded:], true
}

// cutAddr reads the address union (type 0 gives the zero Addr).
func cutAddr(p []byte) (a netip.Addr, rest []byte, ok bool) {
	if len(p) < 4 {
		return a, p, false
	}
	switch be32(p) {
	case 0:
		return a, p[4:], true
	case 1:
		if len(p) >= 8 {
			return ip4at(p[4:]), p[8:], true
		}
	case 2:
		if len(p) >= 20 {
			return ip6at(p[4:]), p[20:], true
		}
	}
	return a, p, false
}

// cutCount reads an array length of at most max (0: no maximum) elements
// whose smallest encoding is minElem bytes, and checks that they can fit.
func cutCount(p []byte, max, minElem int) (n int, rest []byte, ok bool) {
	if len(p) < 4 {
		return 0, p, false
	}
	c := be32(p)
	if max > 0 && c > uint32(max) || uint64(c)*uint64(minElem) > uint64(len(p)-4) {
		return 0, p, false
	}
	return int(c), p[4:], true
}

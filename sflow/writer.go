package sflow

import (
	"encoding/binary"
	"math"
	"net/netip"
)

// writer appends XDR to a byte slice and keeps the first error (a value that
// breaks a spec maximum, an address of the wrong family).
type writer struct {
	b   []byte
	err error
}

func (w *writer) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

func (w *writer) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *writer) i32(v int32)  { w.u32(uint32(v)) }
func (w *writer) u64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *writer) f32(v float32) {
	w.u32(math.Float32bits(v))
}

func (w *writer) f64(v float64) { w.u64(math.Float64bits(v)) }

func (w *writer) ip4(a netip.Addr) {
	if !a.IsValid() {
		w.b = append(w.b, 0, 0, 0, 0)
		return
	}
	if !a.Is4() && !a.Is4In6() {
		w.fail(ErrAddressType)
	}
	v := a.Unmap().As4()
	w.b = append(w.b, v[:]...)
}

func (w *writer) ip6(a netip.Addr) {
	v := a.As16()
	if !a.IsValid() {
		v = [16]byte{}
	}
	w.b = append(w.b, v[:]...)
}

func (w *writer) addr(a netip.Addr) {
	switch {
	case !a.IsValid():
		w.u32(0)
	case a.Is4():
		w.u32(1)
		v := a.As4()
		w.b = append(w.b, v[:]...)
	default:
		w.u32(2)
		v := a.As16()
		w.b = append(w.b, v[:]...)
	}
}

func (w *writer) mac(m [6]byte) { w.b = append(w.b, m[0], m[1], m[2], m[3], m[4], m[5], 0, 0) }
func (w *writer) uuid(u [16]byte) {
	w.b = append(w.b, u[:]...)
}
func (w *writer) uuidvar(u [16]byte) {
	w.u32(16)
	w.b = append(w.b, u[:]...)
}
func (w *writer) b4(v [4]byte) { w.b = append(w.b, v[:]...) }

func (w *writer) opaque(p []byte, max int) {
	if max > 0 && len(p) > max {
		w.fail(ErrTooLong)
	}
	w.u32(uint32(len(p)))
	w.b = append(w.b, p...)
	w.b = append(w.b, zeros[:pad4(len(p))]...)
}

var zeros [4]byte

func (w *writer) count(n, max int) {
	if max > 0 && n > max {
		w.fail(ErrTooLong)
	}
	w.u32(uint32(n))
}

// open writes a tag and a length placeholder and returns where the body
// starts; close fills the length in.
func (w *writer) open(t uint32) int {
	w.u32(t)
	w.u32(0)
	return len(w.b)
}

func (w *writer) close(start int) {
	binary.BigEndian.PutUint32(w.b[start-4:], uint32(len(w.b)-start))
}

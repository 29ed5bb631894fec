package sflow

import (
	"encoding/binary"
	"math/rand/v2"
	"reflect"
	"testing"
)

// The fast decoders (decodeFast, generated) must agree with the reader's
// decoders (decode) on every input: both succeed with the same value, or
// both fail (the reader then says where). Decode relies on it: it takes the
// fast decoder's value when it succeeds and asks the reader otherwise.

// fastInputs returns record bodies around a valid encoding of rec: the body,
// every truncation of it, the body with trailing bytes, and the body with
// each word replaced by values that lengths, counts and types take.
func fastInputs(t testing.TB, rec Record) [][]byte {
	body := encodeBody(t, rec)
	out := [][]byte{body, append(body[:len(body):len(body)], 0, 0, 0, 0), append(body[:len(body):len(body)], 1, 2, 3)}
	for n := range len(body) {
		out = append(out, body[:n])
	}
	for off := 0; off+4 <= len(body); off += 4 {
		for _, v := range []uint32{0, 1, 2, 3, 4, 5, 16, 17, 32, 33, 64, 65, 255, 256, 0x7fffffff, 0xffffffff} {
			m := append([]byte(nil), body...)
			binary.BigEndian.PutUint32(m[off:], v)
			out = append(out, m)
		}
	}
	return out
}

// checkFastAgrees decodes body both ways and fails t when they disagree.
// d's pools hand out the values an earlier call decoded, as they do from one
// Decode call to the next, so the fast decoders must overwrite every field.
func checkFastAgrees(t testing.TB, d *Decoder, flow bool, tag Tag, body []byte) (has bool) {
	d.gen++
	fast, slow, fastOK, slowErr, has := decodeTwoWays(d, flow, tag, body)
	if !has {
		return false
	}
	if fastOK != (slowErr == nil) {
		t.Fatalf("%s %x: fast decoder ok=%v, reader error %v", tag, body, fastOK, slowErr)
	}
	if fastOK && !sameValue(reflect.ValueOf(fast), reflect.ValueOf(slow)) {
		t.Fatalf("%s %x: fast decoder gives %+v, reader %+v", tag, body, fast, slow)
	}
	return true
}

func TestFastDecodeAgrees(t *testing.T) {
	g := &valueGen{r: rand.New(rand.NewPCG(3, 4))}
	n := 30
	if testing.Short() {
		n = 5
	}
	fast := 0
	var d Decoder
	for _, flow := range []bool{true, false} {
		tags := CounterRecordTags()
		if flow {
			tags = FlowRecordTags()
		}
		for _, tag := range tags {
			has := false
			for range n {
				for _, body := range fastInputs(t, fillRecord(g, flow, tag)) {
					has = checkFastAgrees(t, &d, flow, tag, body)
				}
			}
			if has {
				fast++
			}
		}
	}
	if fast < 100 {
		t.Errorf("only %d records have a fast decoder", fast)
	}
}

// FuzzFastDecode checks the agreement on arbitrary bodies.
func FuzzFastDecode(f *testing.F) {
	g := &valueGen{r: rand.New(rand.NewPCG(5, 6))}
	for _, tag := range CounterRecordTags() {
		f.Add(false, uint32(tag), encodeBody(f, fillRecord(g, false, tag)))
	}
	for _, tag := range FlowRecordTags() {
		f.Add(true, uint32(tag), encodeBody(f, fillRecord(g, true, tag)))
	}
	var d Decoder
	f.Fuzz(func(t *testing.T, flow bool, tag uint32, body []byte) {
		checkFastAgrees(t, &d, flow, Tag(tag), body)
	})
}

package sflow

import (
	"strings"
	"testing"
)

func BenchmarkTmpHsRec(b *testing.B) {
	var payload []byte
	for f, dgs := range loadCaptures(b) {
		if strings.HasPrefix(f, "hsflowd") {
			payload = dgs[0].payload
		}
	}
	var d Decoder
	dg, _ := d.Decode(payload)
	type rb struct {
		t    Tag
		body []byte
	}
	var recs []rb
	// walk raw: sample body Raw, skip 16 header bytes
	p := dg.Samples[0].Raw[16:]
	for len(p) >= 8 {
		size := be32(p[4:])
		recs = append(recs, rb{Tag(be32(p)), p[8 : 8+size]})
		p = p[8+size:]
	}
	for _, r := range recs {
		b.Run(r.t.String(), func(b *testing.B) {
			for b.Loop() {
				d.gen++
				if d.fastCounterRecord(r.t, r.body) == nil {
					b.Fatal()
				}
			}
		})
	}
	b.Run("all", func(b *testing.B) {
		rs := make([]Record, 0, 16)
		for b.Loop() {
			d.gen++
			d.fastCounterRecords(rs, dg.Samples[0].Raw[16:], 10)
		}
	})
	b.Run("list", func(b *testing.B) {
		rs := make([]Record, 0, 16)
		for b.Loop() {
			d.gen++
			rs = rs[:0]
			for _, r := range recs {
				rs = append(rs, d.fastCounterRecord(r.t, r.body))
			}
		}
	})
	b.Run("listsame", func(b *testing.B) {
		rs := make([]Record, 0, 16)
		for b.Loop() {
			d.gen++
			rs = rs[:0]
			for range recs {
				rs = append(rs, d.fastCounterRecord(recs[5].t, recs[5].body))
			}
		}
	})
	b.Run("empty", func(b *testing.B) {
		e := append([]byte(nil), payload[:28]...)
		e = append(e, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0)
		for b.Loop() {
			if _, err := d.Decode(e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			d.Decode(payload)
		}
	})
}

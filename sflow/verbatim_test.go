package sflow

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// verbatimCheck encodes flow or discard sample s twice, record by record
// and (when KeepRecordBytes accepts it) from its received bytes with rec
// appended, and checks that both decode to the same records. It reports
// whether the verbatim path was taken.
func verbatimCheck(t *testing.T, name string, s *Sample, rec Record) bool {
	t.Helper()
	s.Verbatim = Verbatim{}
	s.Records = append(s.Records, rec)
	plain, err := AppendSample(nil, s)
	s.Records = s.Records[:len(s.Records)-1]
	if err != nil {
		return false // a sample the encoder refuses is not the verbatim path's concern
	}
	if !s.KeepRecordBytes() {
		return false
	}
	s.Records = append(s.Records, rec)
	fast, err := AppendSample(nil, s)
	s.Records = s.Records[:len(s.Records)-1]
	if err != nil {
		t.Fatalf("%s: verbatim encode failed where the plain one did not: %v", name, err)
	}
	var d1, d2 Decoder
	dg1, err1 := d1.Decode(wrapSample(plain))
	dg2, err2 := d2.Decode(wrapSample(fast))
	if (err1 == nil) != (err2 == nil) {
		t.Fatalf("%s: decode errors differ: plain %v, verbatim %v", name, err1, err2)
	}
	if len(dg1.Samples) != 1 || len(dg2.Samples) != 1 {
		t.Fatalf("%s: %d and %d samples after the round trip", name, len(dg1.Samples), len(dg2.Samples))
	}
	if diff := cmp.Diff(dg1.Samples[0].Records, dg2.Samples[0].Records, cmpOpts...); diff != "" {
		t.Fatalf("%s: records differ (-plain +verbatim):\n%s", name, diff)
	}
	return true
}

// wrapSample puts one encoded sample into a datagram.
func wrapSample(sample []byte) []byte {
	b := AppendDatagramHeader(nil, &Datagram{}, 1)
	return append(b, sample...)
}

func TestVerbatimCaptures(t *testing.T) {
	rec := &ExtendedEntities{SrcDSClass: 3, SrcDSIndex: 100001}
	taken, exact := 0, 0
	for _, dgs := range loadCaptures(t) {
		for _, c := range dgs {
			var d Decoder
			dg, err := d.Decode(c.payload)
			if err != nil {
				continue
			}
			for i := range dg.Samples {
				s := &dg.Samples[i]
				if s.Tag != SampleFlow && s.Tag != SampleFlowExpanded && s.Tag != SampleDiscard {
					continue
				}
				if verbatimCheck(t, c.name, s, rec) {
					taken++
				}
				// Without an appended record, a canonical sample comes out
				// byte for byte as the plain encoder writes it.
				if _, odd := nonCanonical[c.name]; odd || !s.KeepRecordBytes() {
					continue
				}
				fast, _ := AppendSample(nil, s)
				s.Verbatim = Verbatim{}
				plain, _ := AppendSample(nil, s)
				if string(fast) != string(plain) {
					t.Fatalf("%s sample %d: verbatim bytes differ from the encoder's", c.name, i)
				}
				exact++
			}
		}
	}
	if taken < 10 || exact < 10 {
		t.Fatalf("the verbatim path was taken for %d flow samples (%d compared exactly): the captures should give more", taken, exact)
	}
}

func TestVerbatimRefused(t *testing.T) {
	s := Sample{Tag: SampleFlow, SamplingRate: 10, Records: []Record{&SampledHeader{Protocol: 1, FrameLength: 64, Header: make([]byte, 16)}, &ExtendedSwitch{SrcVLAN: 5}}}
	b, err := AppendSample(nil, &s)
	if err != nil {
		t.Fatal(err)
	}
	s.Raw = b[8:] // the body, as a Decoder sets Raw
	if !s.KeepRecordBytes() || s.Verbatim.N != 2 {
		t.Fatalf("a matching sample was refused: %+v", s.Verbatim)
	}
	for name, change := range map[string]func(s *Sample){
		"a record fewer":      func(s *Sample) { s.Records = s.Records[:1] },
		"another record type": func(s *Sample) { s.Records[1] = &ExtendedRouter{} },
		"a counter sample":    func(s *Sample) { s.Tag = SampleCounters },
		"cut bytes":           func(s *Sample) { s.Raw = s.Raw[:len(s.Raw)-4] },
		"no bytes":            func(s *Sample) { s.Raw = nil },
	} {
		c := s
		c.Records = append([]Record(nil), s.Records...)
		change(&c)
		if c.KeepRecordBytes() || c.Verbatim.N != 0 {
			t.Errorf("%s: KeepRecordBytes accepted it", name)
		}
	}
	// A Verbatim claiming more records than there are is ignored.
	c := s
	c.Records = s.Records[:1]
	c.Verbatim = Verbatim{N: 2, B: []byte{1, 2, 3, 4}}
	got, err := AppendSample(nil, &c)
	if err != nil {
		t.Fatal(err)
	}
	c.Verbatim = Verbatim{}
	want, _ := AppendSample(nil, &c)
	if string(got) != string(want) {
		t.Fatal("a Verbatim longer than Records was used")
	}
}

func FuzzVerbatim(f *testing.F) {
	addFuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Decoder
		dg, _ := d.Decode(b)
		for i := range dg.Samples {
			s := &dg.Samples[i]
			if s.Tag == SampleFlow || s.Tag == SampleFlowExpanded || s.Tag == SampleDiscard {
				verbatimCheck(t, "input", s, &ExtendedEntities{DstDSClass: 3, DstDSIndex: 7})
			}
		}
	})
}

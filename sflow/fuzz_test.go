package sflow

// Fuzz targets for the codec. Both are seeded with every datagram of the
// repository's captures (testdata/captures) and with the hand-made inputs of
// fuzzTrickyInputs; crashers the fuzzer finds land in testdata/fuzz/<Target>/
// and stay there as regression tests. Run one target at a time:
//
//	go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime 3m ./sflow/
//	go test -run '^$' -fuzz '^FuzzRoundTrip$' -fuzztime 3m ./sflow/

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// fuzzCmpOpts compares decoded datagrams: addresses with ==, nil and empty
// slices as equal, and floats by their bits (so a NaN equals itself and a
// round trip that changed a float's bits is caught).
var fuzzCmpOpts = []cmp.Option{
	cmpopts.EquateComparable(netip.Addr{}),
	cmpopts.EquateEmpty(),
	cmpopts.IgnoreFields(Sample{}, "Raw"),
	cmp.Comparer(func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }),
	cmp.Comparer(func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }),
}

// sameDatagram reports whether a and b are equal under fuzzCmpOpts. It is a
// fast path: cmp.Diff spends most of a fuzz iteration in reflection over
// every byte, so it runs only to explain a difference sameDatagram found.
func sameDatagram(a, b *Datagram) bool {
	return sameValue(reflect.ValueOf(a), reflect.ValueOf(b))
}

func sameValue(a, b reflect.Value) bool {
	if a.Type() != b.Type() {
		return false
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return sameValue(a.Elem(), b.Elem())
	case reflect.Struct:
		if a.Type() == reflect.TypeFor[netip.Addr]() {
			return a.Interface().(netip.Addr) == b.Interface().(netip.Addr)
		}
		for i := range a.NumField() {
			if a.Type() == reflect.TypeFor[Sample]() && a.Type().Field(i).Name == "Raw" {
				continue // what the decoder saw, not a value
			}
			if !sameValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return false
		}
		if a.Kind() == reflect.Slice && a.Type().Elem().Kind() == reflect.Uint8 {
			return bytes.Equal(a.Bytes(), b.Bytes())
		}
		for i := range a.Len() {
			if !sameValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Float32, reflect.Float64:
		return math.Float64bits(a.Float()) == math.Float64bits(b.Float())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return a.Uint() == b.Uint()
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.String:
		return a.String() == b.String()
	}
	panic("sameValue: unexpected " + a.Type().String())
}

// addFuzzSeeds seeds f with every captured datagram and the tricky inputs.
func addFuzzSeeds(f *testing.F) {
	for _, dgs := range loadCaptures(f) {
		for _, c := range dgs {
			f.Add(c.payload)
		}
	}
	for _, b := range fuzzTrickyInputs(f) {
		f.Add(b)
	}
}

// fuzzDatagram wraps samples in a datagram header from a fixed IPv4 agent.
func fuzzDatagram(samples ...Sample) *Datagram {
	return &Datagram{
		AgentAddress:   netip.AddrFrom4([4]byte{192, 0, 2, 1}),
		SubAgentID:     3,
		SequenceNumber: 77,
		Uptime:         123456,
		Samples:        samples,
	}
}

func fuzzEncode(t testing.TB, dg *Datagram) []byte {
	t.Helper()
	b, err := AppendDatagram(nil, dg)
	if err != nil {
		t.Fatalf("encode seed: %v", err)
	}
	return b
}

// fuzzSampleFor puts recs into a sample of type st with typical header values.
func fuzzSampleFor(st Tag, recs ...Record) Sample {
	s := Sample{Tag: st, SequenceNumber: 9, SourceIDType: 0, SourceIDIndex: 17, Records: recs}
	switch st {
	case SampleFlow, SampleFlowExpanded:
		s.SamplingRate, s.SamplePool, s.Drops = 1000, 5000, 1
		s.Input = Interface{Value: 17}
		s.Output = Interface{Format: 2, Value: 3}
		if st == SampleFlowExpanded {
			s.Output = Interface{Value: 0xffffffff}
		}
	case SampleDiscard:
		s.Drops, s.Input, s.Reason = 4, Interface{Value: 17}, 258
	}
	return s
}

// everyRecordDatagram is one datagram holding a random value of every known
// flow and counter record, in every sample type that can carry it.
func everyRecordDatagram(seed uint64) *Datagram {
	g := &valueGen{r: rand.New(rand.NewPCG(seed, 99))}
	var flows, counters []Record
	for _, tag := range FlowRecordTags() {
		flows = append(flows, fillRecord(g, true, tag))
	}
	for _, tag := range CounterRecordTags() {
		counters = append(counters, fillRecord(g, false, tag))
	}
	dg := fuzzDatagram(
		fuzzSampleFor(SampleFlow, flows...),
		fuzzSampleFor(SampleCounters, counters...),
		fuzzSampleFor(SampleFlowExpanded, flows...),
		fuzzSampleFor(SampleCountersExpanded, counters...),
		fuzzSampleFor(SampleDiscard, flows...),
	)
	for _, tag := range SampleBodyTags() {
		dg.Samples = append(dg.Samples, Sample{Tag: tag, Body: fillSampleBody(g, tag)})
	}
	return dg
}

// fuzzTrickyInputs are hand-made seeds: broken headers, absurd counts and
// lengths, unknown types, the alternative layouts and nesting at the limit.
func fuzzTrickyInputs(t testing.TB) [][]byte {
	// u32s (errors_test.go) builds big-endian words.
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	hdr4 := u32s(5, 1, 0xc0000201, 3, 77, 1000) // up to the sample count
	hdr6 := cat(u32s(5, 2), bytes.Repeat([]byte{0x20}, 16), u32s(0, 1, 2))
	out := [][]byte{
		nil,
		{0},
		u32s(5),
		u32s(4, 1, 0xc0000201, 3, 77, 1000, 0), // version 4
		u32s(5, 3, 0xc0000201, 3, 77, 1000, 0), // address type 3
		u32s(5, 0, 3, 77, 1000, 0),             // address type 0 (unknown)
		cat(hdr4, u32s(0)),
		cat(hdr6, u32s(0)),
		cat(hdr4, u32s(0xffffffff)),          // sample count far above the bytes
		cat(hdr4, u32s(1, 1, 0xffffffff)),    // sample length far above the bytes
		cat(hdr4, u32s(1, 1, 0x7ffffff0, 0)), // sample length just below 2^31
		cat(hdr4, u32s(1, 2, 12, 1, 17, 0xffffffff)),                          // record count far above the bytes
		cat(hdr4, u32s(1, 2, 20, 1, 17, 1, 2003, 0xfffffff8)),                 // record length far above the bytes
		cat(hdr4, u32s(1, 4, 28, 1, 0, 17, 1, 1005, 4, 0xfffffffc)),           // string length far above the bytes
		cat(hdr4, u32s(1, 4, 32, 1, 0, 17, 1, 2001, 8, 0x40000000, 0)),        // array count far above the bytes
		cat(hdr4, u32s(1, 0xfffff001, 8, 1, 2)),                               // unknown sample type
		cat(hdr4, u32s(1, 2, 20, 1, 17, 1, tagWord(12345, 6), 0)),             // unknown record tag, empty body
		cat(hdr4, u32s(1, 2, 24, 1, 17, 1, 2003, 4, 0x3f800000)),              // host_cpu cut to 4 bytes
		cat(hdr4, u32s(2, 2, 12, 1, 17, 0, 2, 12, 1, 17, 0), []byte{1, 2, 3}), // trailing bytes
	}

	// Every record, one datagram each, cycling through the sample types.
	g := &valueGen{r: rand.New(rand.NewPCG(7, 7))}
	flowTypes := []Tag{SampleFlow, SampleFlowExpanded, SampleDiscard}
	for i, tag := range FlowRecordTags() {
		out = append(out, fuzzEncode(t, fuzzDatagram(fuzzSampleFor(flowTypes[i%3], fillRecord(g, true, tag)))))
	}
	counterTypes := []Tag{SampleCounters, SampleCountersExpanded}
	for i, tag := range CounterRecordTags() {
		out = append(out, fuzzEncode(t, fuzzDatagram(fuzzSampleFor(counterTypes[i%2], fillRecord(g, false, tag)))))
	}
	all := fuzzEncode(t, everyRecordDatagram(1))
	out = append(out, all, all[:len(all)/2], all[:len(all)-1])

	// Each alternative layout, and every record in its zero value.
	out = append(out, fuzzEncode(t, fuzzDatagram(
		fuzzSampleFor(SampleCountersExpanded,
			&HostCPU{Layout: HostCPULayoutSpec68, LoadOne: 0.5, Contexts: 9},
			&HostCPU{Layout: HostCPULayoutCurrent, Steal: 1, GuestNice: 2},
			&JVMStatistics{Layout: JVMStatisticsLayoutSpec100, HeapUsed: 5},
			&JVMStatistics{FDsOpen: 3, FDsMax: 4},
			&HostDescr{Layout: HostDescrLayoutSpecOpaque, Hostname: []byte("host"), UUID: [16]byte{1, 2, 3}},
			&HostDescr{Hostname: []byte("h"), OSRelease: []byte("6.1")},
		),
		fuzzSampleFor(SampleFlowExpanded,
			&HTTPRequestDeprecated{Layout: HTTPRequestDeprecatedLayoutDraft, URI: []byte("/x"), XFF: []byte("10.0.0.1"), ReqBytes: 7},
			&HTTPRequestDeprecated{Protocol: 1001, URI: []byte("/y"), RespBytes: 8},
			&Extended80211Payload{Layout: Extended80211PayloadLayoutSflowtool, CipherSuite: 4, Header: []byte{1, 2, 3}},
		),
	)))
	var zeroFlows, zeroCounters []Record
	for _, tag := range FlowRecordTags() {
		zeroFlows = append(zeroFlows, NewFlowRecord(tag))
	}
	for _, tag := range CounterRecordTags() {
		zeroCounters = append(zeroCounters, NewCounterRecord(tag))
	}
	out = append(out, fuzzEncode(t, fuzzDatagram(fuzzSampleFor(SampleFlow, zeroFlows...), fuzzSampleFor(SampleCounters, zeroCounters...))))

	// 802.11 aggregation nested to the limit, and one level past it.
	leaf := &ExtendedSwitch{SrcVLAN: 10, DstVLAN: 20}
	inner := &Extended80211Aggregation{PDUs: []AggregationPDU{{Records: []Record{leaf}}}}
	outer := &Extended80211Aggregation{PDUs: []AggregationPDU{{Records: []Record{inner, leaf}}, {}}}
	tooDeep := &Extended80211Aggregation{PDUs: []AggregationPDU{{Records: []Record{outer}}}}
	out = append(out,
		fuzzEncode(t, fuzzDatagram(fuzzSampleFor(SampleFlow, outer))),
		fuzzEncode(t, fuzzDatagram(fuzzSampleFor(SampleFlow, tooDeep, leaf))),
	)

	// The sample bodies of spec/*.spec: random ones, every value type, the
	// bounds (names of 64 and 65 bytes, strings of 255 and 256), an unknown
	// value type, and hsflowd's way of writing them (rtSeedSamples).
	for _, tag := range SampleBodyTags() {
		for range 3 {
			out = append(out, fuzzEncode(t, fuzzDatagram(Sample{Tag: tag, Body: fillSampleBody(g, tag)})))
		}
	}
	out = append(out, fuzzEncode(t, fuzzDatagram(rtSeedSamples()...)))
	name64, name65 := bytes.Repeat([]byte{'n'}, 64), bytes.Repeat([]byte{'n'}, 65)
	str255, str256 := bytes.Repeat([]byte{'s'}, 255), bytes.Repeat([]byte{'s'}, 256)
	for _, body := range [][]byte{
		cat(xdrString("ds"), u32s(1), xdrBytes(name64), u32s(0), xdrBytes(str255)),               // at the limits
		cat(xdrString("ds"), u32s(1), xdrBytes(name65), u32s(1, 7)),                              // name too long
		cat(xdrString("ds"), u32s(1), xdrString("m"), u32s(0), xdrBytes(str256)),                 // value too long
		cat(xdrBytes(name65), u32s(0)),                                                           // data source too long
		cat(xdrString("ds"), u32s(2), xdrString("m"), u32s(1, 7), xdrString("x"), u32s(7, 0, 0)), // unknown type 7
		cat(xdrString("ds"), u32s(0x7fffffff)),                                                   // count far above the bytes
		cat(xdrString("ds"), u32s(1), xdrString("m"), u32s(2, 1)),                                // u64 cut short
	} {
		out = append(out, fuzzEncode(t, fuzzDatagram(Sample{Tag: SampleRTMetric, Data: body})))
	}
	for _, body := range [][]byte{
		cat(u32s(0, 1, 0, 1), xdrString("mac"), u32s(1), []byte{1, 2, 3, 4, 5, 6, 0, 0}),                       // mac, 8 bytes
		cat(u32s(0, 1, 0, 2), xdrString("mac"), u32s(1), []byte{1, 2, 3, 4, 5, 6}, xdrString("x"), u32s(4, 1)), // mac as 6 bytes
		cat(u32s(0, 1, 0, 1), xdrString("ip6"), u32s(3), make([]byte, 15)),                                     // ip6 cut short
		cat(u32s(0, 1, 0, 1), xdrString("t"), u32s(8, 0)),                                                      // unknown type 8
	} {
		out = append(out, fuzzEncode(t, fuzzDatagram(Sample{Tag: SampleRTFlow, Data: body})))
	}

	// Unknown samples and records kept opaque.
	out = append(out, fuzzEncode(t, fuzzDatagram(
		Sample{Tag: MakeTag(4300, 1099), Data: u32s(4, 0x61626364, 0)},
		fuzzSampleFor(SampleFlow, &OpaqueRecord{Format: MakeTag(9, 9), Data: u32s(1, 2)}, leaf),
		fuzzSampleFor(SampleCounters, &OpaqueRecord{Format: TagPFCCounters + 100, Data: nil}),
	)))
	return out
}

// tagWord is MakeTag as a plain word, for building raw seeds.
func tagWord(enterprise, format uint32) uint32 { return uint32(MakeTag(enterprise, format)) }

// fuzzWalk checks the values decoded from n input bytes against what those
// bytes can hold, and returns how many of the n bytes they account for at
// the least: 8 for each sample and record header, 4 for each array element,
// the length of each byte slice. Byte slices must alias the input.
type fuzzWalk struct {
	t       *testing.T
	in      []byte
	records int
}

func (w *fuzzWalk) value(v reflect.Value) int {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return 0
		}
		return w.value(v.Elem())
	case reflect.Interface:
		if v.IsNil() {
			return 0
		}
		return w.value(v.Elem())
	case reflect.Struct:
		n := 0
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if v.Type() == reflect.TypeFor[Sample]() && f.Name == "Raw" {
				w.aliases(v.Field(i)) // the sample's own bytes: counted by its fields
				continue
			}
			if f.IsExported() {
				n += w.value(v.Field(i))
			}
		}
		return n
	case reflect.Slice:
		if v.Len() == 0 {
			return 0
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			w.aliases(v)
			return v.Len()
		}
		per := 4
		if v.Type().Elem() == reflect.TypeFor[Record]() {
			per = 8 // a nested flow_record header
			w.records += v.Len()
		}
		n := per * v.Len()
		for i := range v.Len() {
			n += w.value(v.Index(i))
		}
		return n
	}
	return 0
}

// aliases checks that the byte slice v points into the input.
func (w *fuzzWalk) aliases(v reflect.Value) {
	lo := reflect.ValueOf(w.in).Pointer()
	hi := lo + uintptr(len(w.in))
	if p := v.Pointer(); p < lo || p+uintptr(v.Len()) > hi {
		w.t.Fatalf("a decoded %s of %d bytes does not alias the input", v.Type(), v.Len())
	}
}

// splitErrors returns the errors joined in err (or err alone).
func splitErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

var decodeCauses = []error{ErrShort, ErrTooLong, ErrAddressType, ErrVersion, ErrDepth, ErrValueType}

// checkDecodeErrors checks that err describes dg: every error is a
// *DecodeError naming a place that exists, and every known record that came
// back opaque is reported.
func checkDecodeErrors(t *testing.T, in []byte, dg *Datagram, err error) {
	t.Helper()
	_ = err.Error() // must not panic (err is non-nil here)
	type place struct{ sample, record int }
	reported := map[place]bool{}
	sampleErr := map[int]bool{}
	errs := splitErrors(err)
	for k, e := range errs {
		var de *DecodeError
		if !errors.As(e, &de) || de != e {
			t.Fatalf("error %d is %T (%v), want *DecodeError", k, e, e)
		}
		if de.Agent != dg.AgentAddress || de.SubAgentID != dg.SubAgentID || de.Sequence != dg.SequenceNumber {
			t.Fatalf("%v: agent/sub-agent/sequence differ from the datagram's %v/%d/%d", de, dg.AgentAddress, dg.SubAgentID, dg.SequenceNumber)
		}
		if de.Offset < 0 || de.Offset > len(in) {
			t.Fatalf("%v: offset outside the %d input bytes", de, len(in))
		}
		known := false
		for _, c := range decodeCauses {
			known = known || errors.Is(de, c)
		}
		if !known {
			t.Fatalf("%v: cause %v is none of the package's errors", de, de.Err)
		}
		switch {
		case de.Sample < 0:
			if len(errs) != 1 || len(dg.Samples) != 0 || de.Record != -1 {
				t.Fatalf("%v: a header error must come alone, with no samples (%d errors, %d samples)", de, len(errs), len(dg.Samples))
			}
		case de.Sample == len(dg.Samples):
			if de.Record != -1 || k != len(errs)-1 {
				t.Fatalf("%v: a sample framing error must be the last one and name no record", de)
			}
		case de.Sample > len(dg.Samples):
			t.Fatalf("%v: names sample %d of %d", de, de.Sample, len(dg.Samples))
		default:
			s := &dg.Samples[de.Sample]
			if s.Tag != de.SampleTag {
				t.Fatalf("%v: sample %d is %s", de, de.Sample, s.Tag)
			}
			if de.Record < 0 {
				sampleErr[de.Sample] = true
			}
			if de.Record >= 0 {
				if de.Record >= len(s.Records) {
					t.Fatalf("%v: sample %d has %d records", de, de.Sample, len(s.Records))
				}
				o, ok := s.Records[de.Record].(*OpaqueRecord)
				if !ok || o.Format != de.RecordTag {
					t.Fatalf("%v: the record is %T %s, want *OpaqueRecord %s", de, s.Records[de.Record], s.Records[de.Record].Tag(), de.RecordTag)
				}
				reported[place{de.Sample, de.Record}] = true
			}
		}
	}
	for i := range dg.Samples {
		s := &dg.Samples[i]
		if NewSampleBody(s.Tag) != nil {
			// A known sample body either decoded (no error for the
			// sample) or is kept as bytes and reported.
			if s.Body != nil && (sampleErr[i] || s.Data != nil) {
				t.Fatalf("sample %d (%s) has a Body and an error or Data", i, s.Tag)
			}
			if s.Body == nil && !sampleErr[i] {
				t.Fatalf("sample %d: known %s came back as bytes with no error", i, s.Tag)
			}
		}
		for j, r := range s.Records {
			o, ok := r.(*OpaqueRecord)
			if !ok || reported[place{i, j}] {
				continue
			}
			var known Record
			switch s.Tag {
			case SampleFlow, SampleFlowExpanded, SampleDiscard:
				known = NewFlowRecord(o.Format)
			case SampleCounters, SampleCountersExpanded:
				known = NewCounterRecord(o.Format)
			}
			if known != nil {
				t.Fatalf("sample %d record %d: known %s came back opaque with no error", i, j, o.Format)
			}
		}
	}
}

// FuzzDecode decodes any bytes: no panic, allocation and decoded sizes
// bounded by the input, errors that describe the result, a reused Decoder
// that gives what a fresh one gives, and a result that encodes.
func FuzzDecode(f *testing.F) {
	addFuzzSeeds(f)
	// reused is a Decoder that decodes a datagram with a value of every
	// record type before each input, so that its pools and slices hold
	// other values when it decodes the input. It lives across inputs (a
	// fresh one would spend most of the iteration allocating for the dirty
	// datagram), so only the capacities it has depend on earlier inputs.
	dirty := fuzzEncode(f, everyRecordDatagram(2))
	var reused Decoder
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Decoder
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		dg, err := d.Decode(b)
		runtime.ReadMemStats(&after)
		// A record of 8 wire bytes may cost a pooled struct of a few
		// hundred bytes, so allow that much per input byte, and no more.
		if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(256*len(b)+64<<10); got > limit {
			t.Fatalf("decoding %d bytes allocated %d bytes (limit %d)", len(b), got, limit)
		}
		if dg == nil {
			t.Fatal("Decode returned a nil datagram")
		}

		w := &fuzzWalk{t: t, in: b}
		claimed := 0
		for i := range dg.Samples {
			s := &dg.Samples[i]
			claimed += 8 + w.value(reflect.ValueOf(s).Elem())
		}
		if claimed > len(b) {
			t.Fatalf("decoded values stand for at least %d bytes, but the input has %d", claimed, len(b))
		}
		if w.records*8 > len(b) {
			t.Fatalf("%d records decoded from %d bytes", w.records, len(b))
		}

		if err != nil {
			checkDecodeErrors(t, b, dg, err)
		}

		// Whatever Decode returns encodes, with an error or without.
		enc, encErr := AppendDatagram(nil, dg)
		if encErr != nil {
			t.Fatalf("decoded datagram (decode error %v) does not encode: %v", err, encErr)
		}
		if err == nil && len(enc) > len(b) {
			t.Fatalf("re-encoding grew %d bytes into %d", len(b), len(enc))
		}

		// A Decoder that decoded something else first gives the same result.
		if _, err := reused.Decode(dirty); err != nil {
			t.Fatalf("dirty seed: %v", err)
		}
		dg2, err2 := reused.Decode(b)
		if !sameDatagram(dg, dg2) {
			t.Fatalf("reused Decoder differs from a fresh one (-fresh +reused):\n%s", cmp.Diff(dg, dg2, fuzzCmpOpts...))
		}
		if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
			t.Fatalf("reused Decoder error %v, fresh %v", err2, err)
		}
	})
}

// FuzzRoundTrip: what decodes re-encodes, decodes back to the same values,
// and re-encodes to the same bytes (the encoding is canonical).
func FuzzRoundTrip(f *testing.F) {
	addFuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var d1, d2 Decoder
		dg1, err := d1.Decode(b)
		enc1, encErr := AppendDatagram(nil, dg1)
		if encErr != nil {
			t.Fatalf("encode: %v (decode error %v)", encErr, err)
		}
		if err == nil && len(enc1) > len(b) {
			t.Fatalf("re-encoding grew %d bytes into %d", len(b), len(enc1))
		}
		// Even a datagram decoded with errors (samples cut at a framing
		// error, fields left zero after a sample's error) is a valid
		// datagram and survives the round trip. Only the records and sample
		// bodies that were broken, kept as bytes, fail again, in the same
		// places.
		dg2, err2 := d2.Decode(enc1)
		type place struct {
			sample, record int
			cause          string
		}
		broken := map[place]bool{}
		for _, e := range splitErrors(err) {
			de := e.(*DecodeError)
			keptBytes := de.Sample >= 0 && de.Sample < len(dg1.Samples) && dg1.Samples[de.Sample].Body == nil &&
				NewSampleBody(dg1.Samples[de.Sample].Tag) != nil // a known sample body kept as bytes
			if de.Record >= 0 || keptBytes {
				broken[place{de.Sample, de.Record, de.Err.Error()}] = true
			}
		}
		for _, e := range splitErrors(err2) {
			de, ok := e.(*DecodeError)
			if !ok || !broken[place{de.Sample, de.Record, de.Err.Error()}] {
				t.Fatalf("decoding the re-encoding: %v (first decode error %v)", e, err)
			}
		}
		if !sameDatagram(dg1, dg2) {
			t.Fatalf("round trip differs (-first +second), first decode error %v:\n%s", err, cmp.Diff(dg1, dg2, fuzzCmpOpts...))
		}
		enc2, encErr := AppendDatagram(nil, dg2)
		if encErr != nil {
			t.Fatalf("encode again: %v", encErr)
		}
		if !bytes.Equal(enc1, enc2) {
			at := 0
			for at < len(enc1) && at < len(enc2) && enc1[at] == enc2[at] {
				at++
			}
			t.Fatalf("encoding is not canonical: %d then %d bytes, first difference at byte %d", len(enc1), len(enc2), at)
		}
	})
}

package sflow

// Table tests of the decoder's error handling. Each builds a datagram in
// code, encodes it, corrupts bytes at offsets computed from the encoding and
// checks what Decode returns: the bad part kept opaque or cut off, a
// *DecodeError that says where, everything else still there.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var etAgent = netip.MustParseAddr("192.0.2.1")

// etDatagram is the datagram the error tests corrupt: four samples of four
// types, each with several records.
func etDatagram() *Datagram {
	return &Datagram{
		AgentAddress:   etAgent,
		SubAgentID:     3,
		SequenceNumber: 77,
		Uptime:         123456,
		Samples: []Sample{
			{
				Tag: SampleFlow, SequenceNumber: 1, SourceIDType: 0, SourceIDIndex: 17,
				SamplingRate: 1000, SamplePool: 5000, Drops: 2,
				Input: Interface{Value: 17}, Output: Interface{Format: 2, Value: 3},
				Records: []Record{
					&SampledHeader{Protocol: 1, FrameLength: 64, Stripped: 4, Header: []byte("\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00")},
					&ExtendedSwitch{SrcVLAN: 10, SrcPriority: 1, DstVLAN: 20, DstPriority: 2},
					&ExtendedRouter{NextHop: netip.MustParseAddr("192.0.2.254"), SrcMaskLen: 24, DstMaskLen: 16},
				},
			},
			{
				Tag: SampleCountersExpanded, SequenceNumber: 2, SourceIDType: 0, SourceIDIndex: 17,
				Records: []Record{
					&IfCounters{IfIndex: 17, IfType: 6, IfSpeed: 1e9, IfDirection: 1, IfStatus: 3, InOctets: 1 << 40, OutOctets: 1 << 41, PromiscuousMode: 1},
					&HostCPU{LoadOne: 0.5, LoadFive: 0.25, LoadFifteen: 0.125, ProcTotal: 200, CPUNum: 8, Contexts: 1234, Steal: 1, Guest: 2, GuestNice: 3},
					&PortName{Name: []byte("eth0")},
				},
			},
			{
				Tag: SampleDiscard, SequenceNumber: 3, SourceIDType: 0, SourceIDIndex: 17,
				Drops: 4, Input: Interface{Value: 17}, Reason: 258,
				Records: []Record{
					&ExtendedEgressQueue{Queue: 3},
					&ExtendedLinuxDropReason{Reason: []byte("NETFILTER_DROP")},
				},
			},
			{
				Tag: SampleCounters, SequenceNumber: 4, SourceIDType: 2, SourceIDIndex: 1,
				Records: []Record{
					&HostDescr{Hostname: []byte("web1"), UUID: [16]byte{0xde, 0xad, 15: 0xef}, MachineType: 3, OSName: 2, OSRelease: []byte("6.1.0")},
					&HostAdapters{Adapters: []HostAdapter{{IfIndex: 2, MACs: [][6]byte{{0, 0x11, 0x22, 0x33, 0x44, 0x55}, {2, 0, 0, 0, 0, 1}}}}},
				},
			},
		},
	}
}

func etEncode(t *testing.T, dg *Datagram) []byte {
	t.Helper()
	b, err := AppendDatagram(nil, dg)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return b
}

// sampleOffset is where sample i of dg's encoding starts (its tag word).
func sampleOffset(t *testing.T, dg *Datagram, i int) int {
	t.Helper()
	off := len(AppendDatagramHeader(nil, dg, len(dg.Samples)))
	for k := range i {
		b, err := AppendSample(nil, &dg.Samples[k])
		if err != nil {
			t.Fatal(err)
		}
		off += len(b)
	}
	return off
}

// recordOffset is where record j of sample i of dg's encoding starts (its
// tag word; its length word follows, then its body).
func recordOffset(t *testing.T, dg *Datagram, i, j int) int {
	t.Helper()
	s := dg.Samples[i]
	s.Records = s.Records[:j]
	b, err := AppendSample(nil, &s)
	if err != nil {
		t.Fatal(err)
	}
	return sampleOffset(t, dg, i) + len(b)
}

func getU32(b []byte, off int) uint32    { return binary.BigEndian.Uint32(b[off:]) }
func putU32(b []byte, off int, v uint32) { binary.BigEndian.PutUint32(b[off:], v) }

// cutRecord removes the last cut bytes of record j of sample i and lowers
// the record's and the sample's lengths to match, so the framing stays
// intact and only the record is too short. It returns the new datagram
// bytes and the record's new body.
func cutRecord(t *testing.T, dg *Datagram, i, j, cut int) (out, body []byte) {
	t.Helper()
	b := etEncode(t, dg)
	so, ro := sampleOffset(t, dg, i), recordOffset(t, dg, i, j)
	n := int(getU32(b, ro+4))
	if cut > n {
		t.Fatalf("cannot cut %d bytes from a %d-byte record", cut, n)
	}
	putU32(b, ro+4, uint32(n-cut))
	putU32(b, so+4, getU32(b, so+4)-uint32(cut))
	end := ro + 8 + n
	out = append(append([]byte(nil), b[:end-cut]...), b[end:]...)
	return out, out[ro+8 : ro+8+n-cut]
}

// withRecord returns a copy of dg whose record j of sample i is rec.
func withRecord(dg *Datagram, i, j int, rec Record) *Datagram {
	c := *dg
	c.Samples = append([]Sample(nil), dg.Samples...)
	c.Samples[i].Records = append([]Record(nil), dg.Samples[i].Records...)
	c.Samples[i].Records[j] = rec
	return &c
}

// oneDecodeError returns err as its one *DecodeError.
func oneDecodeError(t *testing.T, err error) *DecodeError {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	if _, joined := err.(interface{ Unwrap() []error }); joined {
		t.Fatalf("want one error, got several: %v", err)
	}
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %T %v is not a *DecodeError", err, err)
	}
	return de
}

// wantPlace checks the place a DecodeError names.
func wantPlace(t *testing.T, de *DecodeError, sample int, st Tag, record int, rt Tag, offset int, cause error) {
	t.Helper()
	if de.Agent != etAgent || de.SubAgentID != 3 || de.Sequence != 77 {
		t.Errorf("agent %v sub-agent %d seq %d, want %v 3 77", de.Agent, de.SubAgentID, de.Sequence, etAgent)
	}
	if de.Sample != sample || de.SampleTag != st || de.Record != record || de.RecordTag != rt || de.Offset != offset {
		t.Errorf("error at sample %d (%s) record %d (%s) byte %d, want sample %d (%s) record %d (%s) byte %d",
			de.Sample, de.SampleTag, de.Record, de.RecordTag, de.Offset, sample, st, record, rt, offset)
	}
	if !errors.Is(de, cause) {
		t.Errorf("cause %v, want %v", de.Err, cause)
	}
}

// TestDecodeShortRecord cuts one record's body below what its type needs,
// keeping the framing intact: that record comes back as *OpaqueRecord with
// the bytes it had, the error says where, and every other record and sample
// is decoded with its values.
func TestDecodeShortRecord(t *testing.T) {
	tests := []struct {
		name           string
		sample, record int
		cut            int
		failAt         int // offset in the record body of the word that cannot be read
		cause          error
	}{
		{"sampled_header: header length above the bytes left", 0, 0, 8, 12, ErrShort},
		{"sampled_header: no padding after the header bytes", 0, 0, 2, 30, ErrShort},
		{"extended_switch: last word missing", 0, 1, 4, 12, ErrShort},
		{"extended_switch: empty body", 0, 1, 16, 0, ErrShort},
		{"extended_router: last word missing", 0, 2, 4, 12, ErrShort},
		{"extended_router: address cut", 0, 2, 10, 4, ErrShort},
		{"if_counters: promiscuous mode missing", 1, 0, 4, 84, ErrShort},
		{"if_counters: half a u64", 1, 0, 28, 56, ErrShort},
		{"host_cpu: 64 bytes, neither layout fits", 1, 1, 16, 64, ErrShort},
		{"port_name: string length above the bytes left", 1, 2, 4, 0, ErrShort},
		{"extended_egress_queue: empty", 2, 0, 4, 0, ErrShort},
		{"extended_linux_drop_reason: string cut", 2, 1, 4, 0, ErrShort},
		{"host_descr: os_release cut", 3, 0, 4, 32, ErrShort},
		{"host_adapters: MAC count above the bytes left", 3, 1, 8, 8, ErrShort},
		{"host_adapters: second MAC half there (the count is checked first)", 3, 1, 4, 8, ErrShort},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dg := etDatagram()
			b, body := cutRecord(t, dg, tc.sample, tc.record, tc.cut)
			s := &dg.Samples[tc.sample]
			tag := s.Records[tc.record].Tag()

			var d Decoder
			got, err := d.Decode(b)
			de := oneDecodeError(t, err)
			wantPlace(t, de, tc.sample, s.Tag, tc.record, tag,
				recordOffset(t, dg, tc.sample, tc.record)+8+tc.failAt, tc.cause)

			want := withRecord(dg, tc.sample, tc.record, &OpaqueRecord{Format: tag, Data: body})
			if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
				t.Errorf("decoded datagram (-want +got):\n%s", diff)
			}
			// The opaque record keeps the bytes, so the datagram re-encodes
			// to exactly what was received.
			if out := etEncode(t, got); !bytes.Equal(out, b) {
				t.Errorf("re-encoding differs from the input")
			}
		})
	}
}

// TestDecodeRecordErrorsJoined breaks a record in two samples: both are
// reported, joined, and both records are opaque.
func TestDecodeRecordErrorsJoined(t *testing.T) {
	dg := etDatagram()
	b := etEncode(t, dg)
	// Address type 7 in extended_router's next hop; a 300-byte port name
	// (the spec's maximum is 255).
	r1 := recordOffset(t, dg, 0, 2) + 8
	putU32(b, r1, 7)
	r2 := recordOffset(t, dg, 1, 2) + 8
	putU32(b, r2, 300)

	var d Decoder
	got, err := d.Decode(b)
	errs := splitErrors(err)
	if len(errs) != 2 {
		t.Fatalf("want 2 joined errors, got %d: %v", len(errs), err)
	}
	wantPlace(t, errs[0].(*DecodeError), 0, SampleFlow, 2, TagExtendedRouter, r1, ErrAddressType)
	wantPlace(t, errs[1].(*DecodeError), 1, SampleCountersExpanded, 2, TagPortName, r2, ErrTooLong)
	if !errors.Is(err, ErrAddressType) || !errors.Is(err, ErrTooLong) {
		t.Errorf("errors.Is does not see both causes in %v", err)
	}
	var de *DecodeError
	if !errors.As(err, &de) || de.Record != 2 || de.Sample != 0 {
		t.Errorf("errors.As finds %+v, want the first error", de)
	}
	want := withRecord(dg, 0, 2, &OpaqueRecord{Format: TagExtendedRouter, Data: b[r1 : r1+16]})
	want = withRecord(want, 1, 2, &OpaqueRecord{Format: TagPortName, Data: b[r2 : r2+8]})
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("decoded datagram (-want +got):\n%s", diff)
	}
}

// TestDecodeNestedErrors: a record nested in an 802.11 aggregation that
// fails, or nesting deeper than the limit, makes the enclosing record
// opaque, and the error points at the nested word that failed.
func TestDecodeNestedErrors(t *testing.T) {
	sw := &ExtendedSwitch{SrcVLAN: 1, DstVLAN: 2}
	agg := func(recs ...Record) *Extended80211Aggregation {
		return &Extended80211Aggregation{PDUs: []AggregationPDU{{Records: recs}}}
	}
	tests := []struct {
		name   string
		rec    Record
		failAt int // in the outer record's body
		cause  error
	}{
		// PDU count, record count, nested tag and length, then the 12 bytes
		// of a 16-byte extended_switch.
		{"short nested record", agg(&OpaqueRecord{Format: TagExtendedSwitch, Data: make([]byte, 12)}), 4 + 4 + 8 + 12, ErrShort},
		// Two levels of nested lists are allowed; the third list's record
		// count is where decoding stops.
		{"nested too deep", agg(agg(agg(sw))), (4+4+8)*2 + 4, ErrDepth},
		{"at the depth limit", agg(agg(sw)), -1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dg := etDatagram()
			dg.Samples[0].Records = append(dg.Samples[0].Records, tc.rec, sw)
			b := etEncode(t, dg)
			ro := recordOffset(t, dg, 0, 3)
			var d Decoder
			got, err := d.Decode(b)
			if tc.cause == nil {
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(dg, got, cmpOpts...); diff != "" {
					t.Errorf("decoded datagram (-want +got):\n%s", diff)
				}
				return
			}
			wantPlace(t, oneDecodeError(t, err), 0, SampleFlow, 3, TagExtended80211Aggregation, ro+8+tc.failAt, tc.cause)
			body := b[ro+8 : ro+8+int(getU32(b, ro+4))]
			want := withRecord(dg, 0, 3, &OpaqueRecord{Format: TagExtended80211Aggregation, Data: body})
			if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
				t.Errorf("decoded datagram (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDecodeSampleRunsPastEnd gives one sample a length that runs past the
// end of the datagram: the samples before it come back, the error names it.
func TestDecodeSampleRunsPastEnd(t *testing.T) {
	dg := etDatagram()
	for i, s := range dg.Samples {
		for _, length := range []string{"one byte past the end", "0xffffffff"} {
			t.Run(s.Tag.String()+" "+length, func(t *testing.T) {
				b := etEncode(t, dg)
				so := sampleOffset(t, dg, i)
				n := uint32(len(b) - (so + 8) + 1)
				if length == "0xffffffff" {
					n = 0xffffffff
				}
				putU32(b, so+4, n)

				var d Decoder
				got, err := d.Decode(b)
				wantPlace(t, oneDecodeError(t, err), i, s.Tag, -1, 0, so+4, ErrShort)
				want := *dg
				want.Samples = dg.Samples[:i]
				if diff := cmp.Diff(&want, got, cmpOpts...); diff != "" {
					t.Errorf("decoded datagram (-want +got):\n%s", diff)
				}
			})
		}
	}

	t.Run("more samples announced than sent", func(t *testing.T) {
		b := etEncode(t, dg)
		putU32(b, sampleOffset(t, dg, 0)-4, uint32(len(dg.Samples)+1))
		var d Decoder
		got, err := d.Decode(b)
		wantPlace(t, oneDecodeError(t, err), len(dg.Samples), 0, -1, 0, len(b), ErrShort)
		if diff := cmp.Diff(dg, got, cmpOpts...); diff != "" {
			t.Errorf("decoded datagram (-want +got):\n%s", diff)
		}
	})

	t.Run("record runs past its sample", func(t *testing.T) {
		// The record's length runs past the end of its sample (not of the
		// datagram): the sample keeps the records before it, the error is
		// the sample's, and the next samples are all there.
		b := etEncode(t, dg)
		ro := recordOffset(t, dg, 1, 1)
		putU32(b, ro+4, getU32(b, ro+4)+100)
		var d Decoder
		got, err := d.Decode(b)
		wantPlace(t, oneDecodeError(t, err), 1, SampleCountersExpanded, -1, 0, ro+4, ErrShort)
		want := *dg
		want.Samples = append([]Sample(nil), dg.Samples...)
		want.Samples[1].Records = dg.Samples[1].Records[:1]
		if diff := cmp.Diff(&want, got, cmpOpts...); diff != "" {
			t.Errorf("decoded datagram (-want +got):\n%s", diff)
		}
	})
}

// allocatedBytes is how many bytes f allocates.
func allocatedBytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDecodeHugeCounts sets counts and lengths far above the bytes left:
// an error, no panic, and no allocation sized by the count.
func TestDecodeHugeCounts(t *testing.T) {
	dg := etDatagram()
	dg.Samples = append(dg.Samples, Sample{
		Tag: SampleFlowExpanded, SequenceNumber: 5, SourceIDIndex: 9,
		Records: []Record{
			&ExtendedGateway{NextHop: etAgent, AS: 65000, DstASPath: []ASPathSegment{{Type: 2, ASNs: []uint32{65001, 65002}}}, Communities: []uint32{1, 2}},
		},
	})
	gwBody := recordOffset(t, dg, 4, 0) + 8
	tests := []struct {
		name           string
		at             int // offset of the word to set
		sample, record int // where the error must be (-1: datagram / sample)
		cause          error
	}{
		{"sample count", sampleOffset(t, dg, 0) - 4, -1, -1, ErrShort},
		{"record count of a flow sample", recordOffset(t, dg, 0, 0) - 4, 0, -1, ErrShort},
		{"record count of a counters sample", recordOffset(t, dg, 1, 0) - 4, 1, -1, ErrShort},
		{"record count of a discard sample", recordOffset(t, dg, 2, 0) - 4, 2, -1, ErrShort},
		{"record length", recordOffset(t, dg, 3, 0) + 4, 3, -1, ErrShort},
		{"sampled_header header length", recordOffset(t, dg, 0, 0) + 8 + 12, 0, 0, ErrShort},
		{"port_name length (max 255)", recordOffset(t, dg, 1, 2) + 8, 1, 2, ErrTooLong},
		{"drop reason string length (no max)", recordOffset(t, dg, 2, 1) + 8, 2, 1, ErrShort},
		{"host_descr hostname length (max 64)", recordOffset(t, dg, 3, 0) + 8, 3, 0, ErrTooLong},
		{"host_adapters adapter count", recordOffset(t, dg, 3, 1) + 8, 3, 1, ErrShort},
		{"host_adapters MAC count", recordOffset(t, dg, 3, 1) + 8 + 8, 3, 1, ErrShort},
		{"extended_gateway AS path segment count", gwBody + 20, 4, 0, ErrShort},
		{"extended_gateway AS count", gwBody + 28, 4, 0, ErrShort},
		{"extended_gateway community count", gwBody + 40, 4, 0, ErrShort},
	}
	for _, tc := range tests {
		for _, v := range []uint32{0x7fffffff, 0xffffffff, 0x10000000} {
			t.Run(fmt.Sprintf("%s %#x", tc.name, v), func(t *testing.T) {
				b := etEncode(t, dg)
				putU32(b, tc.at, v)
				var err error
				var got *Datagram
				// A fresh Decoder allocates its pools; what matters is that
				// nothing is sized by the count.
				if n := allocatedBytes(func() {
					var d Decoder
					got, err = d.Decode(b)
				}); n > 64<<10 {
					t.Errorf("decoding %d bytes with count %#x allocated %d bytes", len(b), v, n)
				}
				de := oneDecodeError(t, err)
				st := Tag(0)
				var rt Tag
				if tc.sample >= 0 {
					st = dg.Samples[tc.sample].Tag
				}
				if tc.record >= 0 {
					rt = dg.Samples[tc.sample].Records[tc.record].Tag()
				}
				wantPlace(t, de, tc.sample, st, tc.record, rt, tc.at, tc.cause)
				if tc.record >= 0 {
					if _, ok := got.Samples[tc.sample].Records[tc.record].(*OpaqueRecord); !ok {
						t.Errorf("record is %T, want *OpaqueRecord", got.Samples[tc.sample].Records[tc.record])
					}
					if len(got.Samples) != len(dg.Samples) {
						t.Errorf("%d samples, want %d", len(got.Samples), len(dg.Samples))
					}
				}

				// A warm Decoder allocates only the error.
				var d Decoder
				d.Decode(b)
				if n := testing.AllocsPerRun(20, func() { d.Decode(b) }); n > 2 {
					t.Errorf("warm Decoder: %v allocations per decode", n)
				}
			})
		}
	}
}

// TestDecodeUnknownKeptOpaque: sample types and record tags the package does
// not know are kept as bytes with no error, and re-encode to the same bytes.
// A tag is known or not per kind: 0:5 is vlan_counters in a counters sample
// but no flow record.
func TestDecodeUnknownKeptOpaque(t *testing.T) {
	dg := etDatagram()
	dg.Samples = append(dg.Samples,
		Sample{Tag: MakeTag(4300, 1099), Data: append(u32s(4), "rt01"...)},
		Sample{Tag: MakeTag(99, 7), Data: nil},
		Sample{Tag: SampleFlowExpanded, SequenceNumber: 6, Records: []Record{
			&OpaqueRecord{Format: MakeTag(9999, 1), Data: u32s(1, 2, 3)},
			&ExtendedSwitch{SrcVLAN: 5},
			&OpaqueRecord{Format: TagVLANCounters, Data: u32s(7)},
			&OpaqueRecord{Format: MakeTag(0, 4095), Data: nil},
		}},
		Sample{Tag: SampleCounters, SequenceNumber: 7, Records: []Record{
			&OpaqueRecord{Format: MakeTag(0, 4000), Data: u32s(0xffffffff)},
			&VLANCounters{VLANID: 7},
		}},
		Sample{Tag: SampleDiscard, SequenceNumber: 8, Records: []Record{
			&OpaqueRecord{Format: TagHostCPU + 1000, Data: []byte("abcd")},
		}},
	)
	b := etEncode(t, dg)
	var d Decoder
	got, err := d.Decode(b)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if diff := cmp.Diff(dg, got, cmpOpts...); diff != "" {
		t.Errorf("decoded datagram (-want +got):\n%s", diff)
	}
	if out := etEncode(t, got); !bytes.Equal(out, b) {
		t.Errorf("re-encoding differs from the input")
	}
}

// TestDecodeHeaderErrors: the wrong version and an unknown agent address
// type stop the datagram at the header with the matching error.
func TestDecodeHeaderErrors(t *testing.T) {
	good := etEncode(t, etDatagram())
	tests := []struct {
		name   string
		at     int
		value  uint32
		offset int
		cause  error
	}{
		{"version 4", 0, 4, 0, ErrVersion},
		{"version 5 little-endian", 0, 0x05000000, 0, ErrVersion},
		{"version 0", 0, 0, 0, ErrVersion},
		{"address type 3", 4, 3, 4, ErrAddressType},
		{"address type 0xffffffff", 4, 0xffffffff, 4, ErrAddressType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(good)
			putU32(b, tc.at, tc.value)
			var d Decoder
			got, err := d.Decode(b)
			if !errors.Is(err, tc.cause) {
				t.Fatalf("error %v, want %v", err, tc.cause)
			}
			de := oneDecodeError(t, err)
			if de.Sample != -1 || de.Record != -1 || de.Offset != tc.offset {
				t.Errorf("error at sample %d record %d byte %d, want -1 -1 %d", de.Sample, de.Record, de.Offset, tc.offset)
			}
			if len(got.Samples) != 0 {
				t.Errorf("%d samples decoded after a header error", len(got.Samples))
			}
		})
	}

	t.Run("every truncation of the header", func(t *testing.T) {
		hdr := sampleOffset(t, etDatagram(), 0)
		for n := range hdr {
			var d Decoder
			_, err := d.Decode(good[:n])
			de := oneDecodeError(t, err)
			if !errors.Is(err, ErrShort) || de.Sample != -1 || de.Offset != n&^3 {
				t.Errorf("%d bytes: %v, want ErrShort for the header at byte %d", n, err, n&^3)
			}
		}
	})

	t.Run("address type 0 is an unknown agent, not an error", func(t *testing.T) {
		dg := etDatagram()
		dg.AgentAddress = netip.Addr{}
		b := etEncode(t, dg)
		if getU32(b, 4) != 0 {
			t.Fatalf("address type %d, want 0", getU32(b, 4))
		}
		var d Decoder
		got, err := d.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(dg, got, cmpOpts...); diff != "" {
			t.Errorf("decoded datagram (-want +got):\n%s", diff)
		}
		if !bytes.Equal(etEncode(t, got), b) {
			t.Errorf("re-encoding differs")
		}
	})

	t.Run("IPv6 agent", func(t *testing.T) {
		dg := etDatagram()
		dg.AgentAddress = netip.MustParseAddr("2001:db8::1")
		b := etEncode(t, dg)
		var d Decoder
		got, err := d.Decode(b)
		if err != nil || got.AgentAddress != dg.AgentAddress || !bytes.Equal(etEncode(t, got), b) {
			t.Errorf("IPv6 agent: %v, %v", got.AgentAddress, err)
		}
	})
}

// u32s, f32w and xdrString build record bodies by hand, independently of
// the encoder.
func u32s(vs ...uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

func f32w(v float32) uint32 { return math.Float32bits(v) }

func xdrString(s string) []byte {
	b := u32s(uint32(len(s)))
	b = append(b, s...)
	return append(b, make([]byte, pad4(len(s)))...)
}

func u64w(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// decodeBody wraps a hand-made record body in a sample of type st, decodes
// it, checks that it decodes with no error into a known record, and that
// the record re-encodes to the same bytes. It returns the record.
func decodeBody(t *testing.T, st Tag, tag Tag, body []byte) Record {
	t.Helper()
	in := &Datagram{AgentAddress: etAgent, SubAgentID: 3, SequenceNumber: 77, Samples: []Sample{
		{Tag: st, SequenceNumber: 1, SourceIDIndex: 1, Records: []Record{&OpaqueRecord{Format: tag, Data: body}}},
	}}
	b := etEncode(t, in)
	var d Decoder
	dg, err := d.Decode(b)
	if err != nil {
		t.Fatalf("decode %s: %v", tag, err)
	}
	rec := dg.Samples[0].Records[0]
	if _, ok := rec.(*OpaqueRecord); ok {
		t.Fatalf("%s: decoded as opaque", tag)
	}
	if out := etEncode(t, dg); !bytes.Equal(out, b) {
		t.Errorf("%s: re-encoding differs from the input:\n got %x\nwant %x", tag, out, b)
	}
	return rec
}

// encodeBody returns the body of rec as the encoder writes it.
func encodeBody(t testing.TB, rec Record) []byte {
	t.Helper()
	s := Sample{Tag: SampleFlowExpanded}
	empty, err := AppendSample(nil, &s)
	if err != nil {
		t.Fatal(err)
	}
	s.Records = []Record{rec}
	b, err := AppendSample(nil, &s)
	if err != nil {
		t.Fatalf("encode %s: %v", RecordName(rec), err)
	}
	if n := int(getU32(b, len(empty)+4)); n != len(b)-len(empty)-8 {
		t.Fatalf("%s: length word %d, body %d bytes", RecordName(rec), n, len(b)-len(empty)-8)
	}
	return b[len(empty)+8:]
}

// Conflict E1 of shared/sflow-structures.md: host_descr's UUID is 16 fixed
// bytes in every implementation, opaque<16> (a length word first) in the
// spec text. Both decode; each re-encodes as it came; new values use the
// fixed form.
func TestConflictHostDescrUUID(t *testing.T) {
	uuid := [16]byte{0x4c, 0x4c, 0x45, 0x44, 0, 0x4a, 0x10, 0x31, 0x80, 0x4a, 0xb8, 0xc0, 0x4f, 0x50, 0x35, 0x31}
	want := HostDescr{Hostname: []byte("web1"), UUID: uuid, MachineType: 3, OSName: 2, OSRelease: []byte("6.1.0")}
	fixed := bytes.Join([][]byte{xdrString("web1"), uuid[:], u32s(3, 2), xdrString("6.1.0")}, nil)
	opaque := bytes.Join([][]byte{xdrString("web1"), u32s(16), uuid[:], u32s(3, 2), xdrString("6.1.0")}, nil)

	for _, tc := range []struct {
		name   string
		body   []byte
		layout uint8
	}{
		{"16 fixed bytes (implementations)", fixed, HostDescrLayoutCurrent},
		{"opaque<16> (spec text)", opaque, HostDescrLayoutSpecOpaque},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := decodeBody(t, SampleCounters, TagHostDescr, tc.body).(*HostDescr)
			w := want
			w.Layout = tc.layout
			if diff := cmp.Diff(&w, got, cmpOpts...); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if got := encodeBody(t, &want); !bytes.Equal(got, fixed) {
		t.Errorf("a new host_descr encodes as %x, want the 16 fixed bytes form %x", got, fixed)
	}
}

// Conflict E2: host_cpu has 17 fields (68 bytes) in the spec and 20 (80
// bytes, cpu_steal, cpu_guest, cpu_guest_nice added) from hsflowd. Decoded
// by length.
func TestConflictHostCPULength(t *testing.T) {
	fields := []uint32{f32w(0.5), f32w(0.25), f32w(0.125), 2, 300, 8, 2400, 86400,
		11, 12, 13, 14, 15, 16, 17, 18, 19}
	spec := HostCPU{LoadOne: 0.5, LoadFive: 0.25, LoadFifteen: 0.125, ProcRun: 2, ProcTotal: 300, CPUNum: 8, CPUSpeed: 2400, Uptime: 86400,
		User: 11, Nice: 12, System: 13, Idle: 14, Wio: 15, Intr: 16, SoftIntr: 17, Interrupts: 18, Contexts: 19}

	body68 := u32s(fields...)
	if len(body68) != 68 {
		t.Fatalf("spec body %d bytes", len(body68))
	}
	got := decodeBody(t, SampleCountersExpanded, TagHostCPU, body68).(*HostCPU)
	w := spec
	w.Layout = HostCPULayoutSpec68
	if diff := cmp.Diff(&w, got); diff != "" {
		t.Errorf("68 bytes (-want +got):\n%s", diff)
	}

	body80 := u32s(append(fields, 20, 21, 22)...)
	got = decodeBody(t, SampleCountersExpanded, TagHostCPU, body80).(*HostCPU)
	w = spec
	w.Steal, w.Guest, w.GuestNice = 20, 21, 22
	if diff := cmp.Diff(&w, got); diff != "" {
		t.Errorf("80 bytes (-want +got):\n%s", diff)
	}
	if b := encodeBody(t, &w); !bytes.Equal(b, body80) {
		t.Errorf("a new host_cpu encodes as %d bytes, want the 80-byte hsflowd form", len(b))
	}
}

// Conflict E3: jvm_statistics is 108 bytes, or 100 (no fd_open_count and
// fd_max_count) from old agents. Decoded by length.
func TestConflictJVMStatisticsLength(t *testing.T) {
	var body100 []byte
	for i := range 8 {
		body100 = append(body100, u64w(uint64(i+1)<<32|uint64(i+100))...)
	}
	body100 = append(body100, u32s(11, 12, 13, 14, 15, 16, 17, 18, 19)...)
	if len(body100) != 100 {
		t.Fatalf("old body %d bytes", len(body100))
	}
	old := JVMStatistics{
		HeapInitial: 1<<32 | 100, HeapUsed: 2<<32 | 101, HeapCommitted: 3<<32 | 102, HeapMax: 4<<32 | 103,
		NonHeapInitial: 5<<32 | 104, NonHeapUsed: 6<<32 | 105, NonHeapCommitted: 7<<32 | 106, NonHeapMax: 8<<32 | 107,
		GCCount: 11, GCTime: 12, ClassesLoaded: 13, ClassesTotal: 14, ClassesUnloaded: 15, CompilationTime: 16,
		ThreadsLive: 17, ThreadsDaemon: 18, ThreadsStarted: 19,
	}

	got := decodeBody(t, SampleCountersExpanded, TagJVMStatistics, body100).(*JVMStatistics)
	w := old
	w.Layout = JVMStatisticsLayoutSpec100
	if diff := cmp.Diff(&w, got); diff != "" {
		t.Errorf("100 bytes (-want +got):\n%s", diff)
	}

	body108 := append(bytes.Clone(body100), u32s(20, 4096)...)
	got = decodeBody(t, SampleCountersExpanded, TagJVMStatistics, body108).(*JVMStatistics)
	w = old
	w.FDsOpen, w.FDsMax = 20, 4096
	if diff := cmp.Diff(&w, got); diff != "" {
		t.Errorf("108 bytes (-want +got):\n%s", diff)
	}
	if b := encodeBody(t, &w); !bytes.Equal(b, body108) {
		t.Errorf("a new jvm_statistics encodes as %d bytes, want 108", len(b))
	}
}

// Conflict E4: flow record 0:2201 (deprecated http_request) circulates in
// two layouts: sflowtool's (a protocol field, no xff, no req_bytes), the
// current one, and the discussion-list draft's (xff and req_bytes, no
// protocol). Each decodes and re-encodes as it came.
func TestConflictHTTPRequest2201(t *testing.T) {
	st := bytes.Join([][]byte{
		u32s(2, 1001), // method GET, protocol HTTP/1.1
		xdrString("/index.html"), xdrString("example.com"), xdrString("http://ref/"), xdrString("curl/8"),
		xdrString("alice"), xdrString("text/html"),
		u64w(5000), u32s(1500, 200),
	}, nil)
	got := decodeBody(t, SampleFlowExpanded, TagHTTPRequestDeprecated, st).(*HTTPRequestDeprecated)
	want := &HTTPRequestDeprecated{
		Method: 2, Protocol: 1001, URI: []byte("/index.html"), Host: []byte("example.com"), Referer: []byte("http://ref/"),
		UserAgent: []byte("curl/8"), AuthUser: []byte("alice"), MimeType: []byte("text/html"),
		RespBytes: 5000, DurationMicros: 1500, Status: 200, Layout: HTTPRequestDeprecatedLayoutCurrent,
	}
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("sflowtool layout (-want +got):\n%s", diff)
	}
	if b := encodeBody(t, want); !bytes.Equal(b, st) {
		t.Errorf("a new 2201 record does not encode in sflowtool's layout")
	}

	draft := bytes.Join([][]byte{
		u32s(2),
		xdrString("/index.html"), xdrString("example.com"), xdrString("http://ref/"), xdrString("curl/8"),
		xdrString("10.1.2.3"), xdrString("alice"), xdrString("text/html"),
		u64w(300), u64w(5000), u32s(1500, 404),
	}, nil)
	got = decodeBody(t, SampleFlowExpanded, TagHTTPRequestDeprecated, draft).(*HTTPRequestDeprecated)
	want = &HTTPRequestDeprecated{
		Method: 2, URI: []byte("/index.html"), Host: []byte("example.com"), Referer: []byte("http://ref/"),
		UserAgent: []byte("curl/8"), XFF: []byte("10.1.2.3"), AuthUser: []byte("alice"), MimeType: []byte("text/html"),
		ReqBytes: 300, RespBytes: 5000, DurationMicros: 1500, Status: 404, Layout: HTTPRequestDeprecatedLayoutDraft,
	}
	if diff := cmp.Diff(want, got, cmpOpts...); diff != "" {
		t.Errorf("draft layout (-want +got):\n%s", diff)
	}
}

// Conflict E6: a mac takes 8 bytes on the wire (6 and 2 of XDR padding) in
// sampled_ethernet, host_adapters, lag_port_stats and the 802.11 bssid.
// Padding that is not zero is ignored on decode and written as zeros.
func TestConflictMACEightBytes(t *testing.T) {
	src := [6]byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}
	dst := [6]byte{0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb}
	mac8 := func(m [6]byte) []byte { return append(m[:], 0, 0) }

	t.Run("sampled_ethernet", func(t *testing.T) {
		body := bytes.Join([][]byte{u32s(1514), mac8(src), mac8(dst), u32s(0x0800)}, nil)
		if len(body) != 24 {
			t.Fatalf("body %d bytes", len(body))
		}
		want := &SampledEthernet{Length: 1514, SrcMAC: src, DstMAC: dst, EtherType: 0x0800}
		if diff := cmp.Diff(want, decodeBody(t, SampleFlow, TagSampledEthernet, body)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if b := encodeBody(t, want); !bytes.Equal(b, body) {
			t.Errorf("encodes as %x, want %x", b, body)
		}
	})

	t.Run("host_adapters", func(t *testing.T) {
		body := bytes.Join([][]byte{
			u32s(2),
			u32s(1, 2), mac8(src), mac8(dst),
			u32s(2, 0),
		}, nil)
		want := &HostAdapters{Adapters: []HostAdapter{{IfIndex: 1, MACs: [][6]byte{src, dst}}, {IfIndex: 2}}}
		if diff := cmp.Diff(want, decodeBody(t, SampleCounters, TagHostAdapters, body), cmpOpts...); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if b := encodeBody(t, want); !bytes.Equal(b, body) {
			t.Errorf("encodes as %x, want %x", b, body)
		}
	})

	t.Run("lag_port_stats", func(t *testing.T) {
		body := bytes.Join([][]byte{mac8(src), mac8(dst), u32s(7), {1, 2, 3, 4}, u32s(1, 2, 3, 4, 5, 6, 7, 8)}, nil)
		want := &LAGPortStats{ActorSystemID: src, PartnerOperSystemID: dst, AttachedAggID: 7, PortState: [4]byte{1, 2, 3, 4},
			LACPDUsRx: 1, MarkerPDUsRx: 2, MarkerResponsePDUsRx: 3, UnknownRx: 4, IllegalRx: 5, LACPDUsTx: 6, MarkerPDUsTx: 7, MarkerResponsePDUsTx: 8}
		if diff := cmp.Diff(want, decodeBody(t, SampleCounters, TagLAGPortStats, body)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	t.Run("extended_80211_rx bssid", func(t *testing.T) {
		body := bytes.Join([][]byte{xdrString("net"), mac8(src), u32s(4, 36), u64w(300e6), u32s(1, 2, 3)}, nil)
		want := &Extended80211RX{SSID: []byte("net"), BSSID: src, Version: 4, Channel: 36, Speed: 300e6, RSNI: 1, RCPI: 2, PacketDurationMicros: 3}
		if diff := cmp.Diff(want, decodeBody(t, SampleFlow, TagExtended80211RX, body)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})

	t.Run("non-zero padding", func(t *testing.T) {
		body := bytes.Join([][]byte{u32s(1514), src[:], {0xee, 0xff}, dst[:], {0xee, 0xff}, u32s(0x0800)}, nil)
		b := etEncode(t, &Datagram{AgentAddress: etAgent, Samples: []Sample{
			{Tag: SampleFlow, Records: []Record{&OpaqueRecord{Format: TagSampledEthernet, Data: body}}},
		}})
		var d Decoder
		dg, err := d.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := dg.Samples[0].Records[0].(*SampledEthernet)
		if !ok || got.SrcMAC != src || got.DstMAC != dst || got.EtherType != 0x0800 {
			t.Errorf("decoded %+v", dg.Samples[0].Records[0])
		}
	})
}

// TestEncodedSizes checks the record sizes of section D of
// shared/sflow-structures.md: the body length of each record's zero value.
func TestEncodedSizes(t *testing.T) {
	tests := []struct {
		rec  Record
		size int
	}{
		{&IfCounters{}, 88},
		{&EthernetCounters{}, 52},
		{&Processor{}, 28},
		{&HostCPU{}, 80},
		{&HostCPU{Layout: HostCPULayoutSpec68}, 68},
		{&HostMemory{}, 72},
		{&HostDiskIO{}, 52},
		{&HostNetIO{}, 40},
		{&LAGPortStats{}, 56},
		{&OVSDPStats{}, 24},
		{&NVIDIAGPU{}, 48},
		{&HWTables{}, 144},
		{&ExtendedTCPInfo{}, 48},
		{&ExtendedEntities{}, 16},
		{&ExtendedSocketIPv4{}, 20},
		{&ExtendedSocketIPv6{}, 44},
		{&SampledIPv4{}, 32},
		{&SampledIPv6{}, 56},
		{&SampledEthernet{}, 24},
		{&JVMStatistics{}, 108},
		{&JVMStatistics{Layout: JVMStatisticsLayoutSpec100}, 100},
	}
	for _, tc := range tests {
		name := tc.rec.Tag().String() + " " + RecordName(tc.rec)
		if got := len(encodeBody(t, tc.rec)); got != tc.size {
			t.Errorf("%s: %d bytes, want %d", name, got, tc.size)
		}
	}
}

// TestDecodeErrorText pins the exact text of a DecodeError.
func TestDecodeErrorText(t *testing.T) {
	e := &DecodeError{
		Agent: etAgent, SubAgentID: 3, Sequence: 77,
		Sample: 1, SampleTag: SampleCountersExpanded, Record: 2, RecordTag: TagHostCPU,
		Offset: 123, Err: ErrShort,
	}
	const want = "sflow: agent 192.0.2.1 sub-agent 3 seq 77: sample 1 (0:4) record 2 (0:2003) at byte 123: truncated: needs more bytes than remain"
	if got := e.Error(); got != want {
		t.Errorf("Error() = %q\nwant      %q", got, want)
	}

	// From Decode: a header error (no sample, unknown agent) and a
	// sample error (no record).
	var d Decoder
	_, err := d.Decode(u32s(4, 0))
	if got, want := err.Error(), "sflow: sFlow version 4 datagram: only version 5 is decoded"; got != want {
		t.Errorf("Error() = %q\nwant      %q", got, want)
	}
	dg := etDatagram()
	b := etEncode(t, dg)
	at := sampleOffset(t, dg, 2) + 4
	putU32(b, at, 0xffffffff)
	_, err = d.Decode(b)
	if got, want := err.Error(), fmt.Sprintf("sflow: agent 192.0.2.1 sub-agent 3 seq 77: sample 2 (0:5) at byte %d: truncated: needs more bytes than remain", at); got != want {
		t.Errorf("Error() = %q\nwant      %q", got, want)
	}
}

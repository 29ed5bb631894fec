package sflow

import (
	"errors"
	"net/netip"
	"slices"
)

// Datagram is one sFlow version 5 datagram.
type Datagram struct {
	AgentAddress   netip.Addr // invalid Addr = address type 0 (unknown)
	SubAgentID     uint32
	SequenceNumber uint32
	Uptime         uint32 // milliseconds since the agent started
	Samples        []Sample
}

// Interface is a sample's input or output port. In compact samples (0:1) the
// format is the top two bits of one word (0 ifIndex, 1 discarded with a
// reason code, 2 multiple outputs with a count) and the value the low 30; in
// expanded samples (0:3) both are whole words. Discard samples (0:5) carry
// plain ifIndex values (format 0).
type Interface struct {
	Format uint32
	Value  uint32
}

// Sample is one sample_record. Which fields are used depends on Tag:
//   - 0:1, 0:3 flow: all but Reason, Body and Data
//   - 0:2, 0:4 counters: SequenceNumber, SourceID*, Records
//   - 0:5 discard: SequenceNumber, SourceID*, Drops, Input, Output, Reason, Records
//   - the sample types of spec/*.spec (4300:1002 rtmetric, 4300:1003 rtflow):
//     Body (*RTMetric, *RTFlow); when the body fails to decode, Body is nil
//     and Data holds its bytes
//   - anything else: Data holds the sample's bytes unchanged
//
// Compact tags (0:1, 0:2) encode the source type in 8 bits and the index in
// 24; expanded tags (0:3, 0:4, 0:5) use a word for each.
type Sample struct {
	Tag            Tag
	SequenceNumber uint32
	SourceIDType   uint32 // 0 ifIndex, 1 smonVlanDataSource, 2 entPhysicalEntry, 3 virtual entity
	SourceIDIndex  uint32
	SamplingRate   uint32
	SamplePool     uint32
	Drops          uint32
	Input, Output  Interface
	Reason         uint32 // discard samples: drop reason code
	Records        []Record
	Body           SampleBody // sample types described in spec/*.spec
	Data           []byte     // other sample types: the body as received
	// Raw is the sample's body as received (decoding only; the encoder
	// ignores it): a relay can keep or forward it without encoding again.
	Raw []byte
	// Verbatim, when its N is above 0, holds the encoded bytes of the
	// first N records of Records: the encoder copies them instead of
	// encoding those records again, and encodes only the records after
	// them (those an enricher appended). KeepRecordBytes sets it for a
	// decoded flow or discard sample whose records the caller will not
	// change; whoever changes or removes one of the first N records must
	// zero it.
	Verbatim Verbatim
}

// Verbatim is a run of records already encoded (see Sample.Verbatim).
type Verbatim struct {
	N int    // records
	B []byte // their bytes: N flow_record frames (tag, length, body)
}

// KeepRecordBytes points s.Verbatim at the records of s.Raw, as received,
// for a flow (0:1, 0:3) or discard (0:5) sample that a Decoder filled:
// relaying it then costs a copy of the records' bytes instead of encoding
// each again. It checks that Raw's record frames are those of s.Records
// (count, formats, lengths inside Raw) and reports whether it set
// Verbatim; call it before changing s.Tag.
func (s *Sample) KeepRecordBytes() bool {
	s.Verbatim = Verbatim{}
	var hdr int
	switch s.Tag {
	case SampleFlow:
		hdr = 32
	case SampleFlowExpanded:
		hdr = 44
	case SampleDiscard:
		hdr = 32
	default:
		return false
	}
	p := s.Raw
	if len(p) < hdr || len(s.Records) == 0 || int(be32(p[hdr-4:])) != len(s.Records) {
		return false
	}
	off := hdr
	for _, r := range s.Records {
		if len(p)-off < 8 || Tag(be32(p[off:])) != r.Tag() {
			return false
		}
		n := uint64(be32(p[off+4:]))
		if n > uint64(len(p)-off-8) || n&3 != 0 {
			return false
		}
		off += 8 + int(n)
	}
	s.Verbatim = Verbatim{N: len(s.Records), B: p[hdr:off]}
	return true
}

// Record is a flow or counter record. The concrete types are generated from
// spec/*.spec; records gwd does not know are *OpaqueRecord.
type Record interface {
	// Tag is the record's data_format.
	Tag() Tag
	// appendTo encodes the record body. The writer goes by value so that
	// encoding through the interface does not move it to the heap.
	appendTo(w writer) writer
}

// SampleBody is the decoded body of a sample type other than 0:1-0:5
// (generated from spec/*.spec: *RTMetric, *RTFlow).
type SampleBody interface {
	// Tag is the sample's data_format.
	Tag() Tag
	appendTo(w writer) writer
	sampleBody()
}

// SampleTypeName is the name of a sample type in the sFlow specifications
// ("flow_sample", "rtmetric", ...), or "" for a type this package does not
// know.
func SampleTypeName(t Tag) string {
	switch t {
	case SampleFlow, SampleFlowExpanded:
		return "flow_sample"
	case SampleCounters, SampleCountersExpanded:
		return "counters_sample"
	case SampleDiscard:
		return "discarded_packet"
	}
	return sampleBodyName(t)
}

// OpaqueRecord is a record kept as bytes: a tag this package does not know,
// or a known record whose body failed to decode.
type OpaqueRecord struct {
	Format Tag
	Data   []byte
}

// Tag implements Record.
func (o *OpaqueRecord) Tag() Tag { return o.Format }

func (o *OpaqueRecord) appendTo(w writer) writer {
	w.b = append(w.b, o.Data...)
	return w
}

// maxDepth bounds records nested inside records (802.11 aggregation).
const maxDepth = 2

// Decoder decodes datagrams, reusing its memory from one call to the next.
// The zero value is ready to use. It is not safe for concurrent use.
type Decoder struct {
	dg     Datagram
	pools  recordPools
	gen    uint64 // Decode calls, which empty the pools (pool.next)
	opaque pool[OpaqueRecord]
	depth  int
	errs   []error
	// nested holds the record lists nested inside records (802.11
	// aggregation) and nestedR their readers, one per depth: decodeNested is
	// recursive, so a reader local to it would be moved to the heap.
	nested  []Record
	nestedR [maxDepth]reader
}

// Decode decodes one datagram. The result and everything it points to are
// owned by the Decoder and valid until the next call to Decode.
//
// A datagram whose header or sample framing is broken returns the samples
// decoded before the break together with the error. A record that is bad
// inside an intact frame is kept as an *OpaqueRecord and reported in the
// error, and every other sample and record is still returned. The error is
// nil, a *DecodeError, or several joined with errors.Join.
func (d *Decoder) Decode(b []byte) (*Datagram, error) {
	d.gen++
	d.errs = d.errs[:0]
	d.nested = d.nested[:0]
	d.depth = 0
	dg := &d.dg
	*dg = Datagram{Samples: dg.Samples[:0]}

	r := reader{b: b}
	n := -1
	if len(b) >= 28 && be32(b) == 5 && be32(b[4:]) == 1 {
		// The common header (version 5, IPv4 agent) with one bounds check.
		q := b[:28]
		dg.AgentAddress = ip4at(q[8:])
		dg.SubAgentID, dg.SequenceNumber, dg.Uptime = be32(q[12:]), be32(q[16:]), be32(q[20:])
		r.off = 24
		if c := be32(q[24:]); uint64(c)*8 <= uint64(len(b)-28) {
			n, r.off = int(c), 28
		}
	} else {
		if v := r.u32(); v != 5 && r.err == nil {
			r.failWord(&VersionError{Version: v})
		}
		dg.AgentAddress = r.addr()
		dg.SubAgentID = r.u32()
		dg.SequenceNumber = r.u32()
		dg.Uptime = r.u32()
	}
	if n < 0 {
		n = r.count(0, 8)
		if r.err != nil {
			return dg, d.errorAt(-1, 0, -1, 0, r.base+r.off, r.err)
		}
	}
	dg.Samples = grow(dg.Samples, n)
	for i := range dg.Samples {
		s := &dg.Samples[i]
		tag, body, at := r.frame()
		if r.err != nil {
			dg.Samples = dg.Samples[:i]
			d.errs = append(d.errs, d.errorAt(i, tag, -1, 0, r.off, r.err))
			break
		}
		d.decodeSample(s, i, tag, &reader{b: body, base: at})
	}
	return dg, d.err()
}

func (d *Decoder) err() error {
	switch len(d.errs) {
	case 0:
		return nil
	case 1:
		return d.errs[0]
	}
	return errors.Join(d.errs...)
}

func (d *Decoder) errorAt(sample int, st Tag, rec int, rt Tag, off int, err error) *DecodeError {
	return &DecodeError{
		Agent: d.dg.AgentAddress, SubAgentID: d.dg.SubAgentID, Sequence: d.dg.SequenceNumber,
		Sample: sample, SampleTag: st, Record: rec, RecordTag: rt, Offset: off, Err: err,
	}
}

func (d *Decoder) decodeSample(s *Sample, i int, tag Tag, r *reader) {
	recs := s.Records[:0]
	*s = Sample{Tag: tag, Raw: r.b}
	if hdr, n, ok := fastSampleHeader(s, r.b); ok && uint64(n)*8 <= uint64(len(r.b)-hdr) {
		// The common case: the header and the record count with one
		// bounds check.
		r.off = hdr
		s.Records = d.recordList(recs, r, int(n), i, tag, tag != SampleCounters && tag != SampleCountersExpanded)
	} else {
		d.readSample(s, recs, i, tag, r)
	}
	if r.err != nil {
		d.errs = append(d.errs, d.errorAt(i, tag, -1, 0, r.base+r.off, r.err))
	}
}

// fastSampleHeader reads the header of a flow, counter or discard sample and
// its record count from the front of p, when p holds them; hdr is their size.
func fastSampleHeader(s *Sample, p []byte) (hdr int, n uint32, ok bool) {
	switch s.Tag {
	case SampleFlow:
		if len(p) < 32 {
			break
		}
		q := p[:32]
		s.SequenceNumber = be32(q)
		src := be32(q[4:])
		s.SourceIDType, s.SourceIDIndex = src>>24, src&0xffffff
		s.SamplingRate, s.SamplePool, s.Drops = be32(q[8:]), be32(q[12:]), be32(q[16:])
		in, out := be32(q[20:]), be32(q[24:])
		s.Input = Interface{Format: in >> 30, Value: in & 0x3fffffff}
		s.Output = Interface{Format: out >> 30, Value: out & 0x3fffffff}
		return 32, be32(q[28:]), true
	case SampleFlowExpanded:
		if len(p) < 44 {
			break
		}
		q := p[:44]
		s.SequenceNumber, s.SourceIDType, s.SourceIDIndex = be32(q), be32(q[4:]), be32(q[8:])
		s.SamplingRate, s.SamplePool, s.Drops = be32(q[12:]), be32(q[16:]), be32(q[20:])
		s.Input = Interface{Format: be32(q[24:]), Value: be32(q[28:])}
		s.Output = Interface{Format: be32(q[32:]), Value: be32(q[36:])}
		return 44, be32(q[40:]), true
	case SampleCounters:
		if len(p) < 12 {
			break
		}
		q := p[:12]
		s.SequenceNumber = be32(q)
		src := be32(q[4:])
		s.SourceIDType, s.SourceIDIndex = src>>24, src&0xffffff
		return 12, be32(q[8:]), true
	case SampleCountersExpanded:
		if len(p) < 16 {
			break
		}
		q := p[:16]
		s.SequenceNumber, s.SourceIDType, s.SourceIDIndex = be32(q), be32(q[4:]), be32(q[8:])
		return 16, be32(q[12:]), true
	case SampleDiscard:
		if len(p) < 32 {
			break
		}
		q := p[:32]
		s.SequenceNumber, s.SourceIDType, s.SourceIDIndex = be32(q), be32(q[4:]), be32(q[8:])
		s.Drops = be32(q[12:])
		s.Input = Interface{Value: be32(q[16:])}
		s.Output = Interface{Value: be32(q[20:])}
		s.Reason = be32(q[24:])
		return 32, be32(q[28:]), true
	}
	return 0, 0, false
}

// readSample decodes a sample with the reader: a sample type other than
// 0:1-0:5, or one too short for fastSampleHeader, whose problem the reader
// finds and places.
func (d *Decoder) readSample(s *Sample, recs []Record, i int, tag Tag, r *reader) {
	switch tag {
	case SampleFlow, SampleFlowExpanded:
		s.SequenceNumber = r.u32()
		s.SourceIDType, s.SourceIDIndex = readSourceID(r, tag == SampleFlowExpanded)
		s.SamplingRate = r.u32()
		s.SamplePool = r.u32()
		s.Drops = r.u32()
		if tag == SampleFlow {
			in, out := r.u32(), r.u32()
			s.Input = Interface{Format: in >> 30, Value: in & 0x3fffffff}
			s.Output = Interface{Format: out >> 30, Value: out & 0x3fffffff}
		} else {
			s.Input = Interface{Format: r.u32(), Value: r.u32()}
			s.Output = Interface{Format: r.u32(), Value: r.u32()}
		}
		s.Records = d.decodeRecords(recs, r, i, tag, true)
	case SampleCounters, SampleCountersExpanded:
		s.SequenceNumber = r.u32()
		s.SourceIDType, s.SourceIDIndex = readSourceID(r, tag == SampleCountersExpanded)
		s.Records = d.decodeRecords(recs, r, i, tag, false)
	case SampleDiscard:
		s.SequenceNumber = r.u32()
		s.SourceIDType, s.SourceIDIndex = readSourceID(r, true)
		s.Drops = r.u32()
		s.Input = Interface{Value: r.u32()}
		s.Output = Interface{Value: r.u32()}
		s.Reason = r.u32()
		s.Records = d.decodeRecords(recs, r, i, tag, true)
	default:
		s.Records = recs
		if body := d.decodeSampleBody(tag, r); body != nil && r.err == nil {
			s.Body = body
		} else {
			s.Data = r.b // unknown, or known but broken (the error says where)
		}
	}
}

func readSourceID(r *reader, expanded bool) (typ, index uint32) {
	if expanded {
		return r.u32(), r.u32()
	}
	v := r.u32()
	return v >> 24, v & 0xffffff
}

// decodeRecords reads a flow_record or counter_record list into recs. A
// framing error stops the list (r keeps the error); a bad record body is
// kept as opaque and reported.
//
// The records are framed and decoded without the reader while all goes well
// (fast*Record); from the first record that is unknown, has no fast decoder
// or is bad, the reader takes over and says what is wrong.
func (d *Decoder) decodeRecords(recs []Record, r *reader, sample int, st Tag, flow bool) []Record {
	n := r.count(0, 8)
	if r.err != nil {
		return recs
	}
	return d.recordList(recs, r, n, sample, st, flow)
}

// recordList reads the n records at r's offset (after their count).
func (d *Decoder) recordList(recs []Record, r *reader, n, sample int, st Tag, flow bool) []Record {
	var p []byte
	var j int
	if flow {
		recs, p, j = d.fastFlowRecords(recs, r.b[r.off:], n)
	} else {
		recs, p, j = d.fastCounterRecords(recs, r.b[r.off:], n)
	}
	r.off = len(r.b) - len(p)
	for ; j < n && r.err == nil; j++ {
		tag, body, at := r.frame()
		if r.err != nil {
			return recs
		}
		br := reader{b: body, base: r.base + at}
		var rec Record
		if flow {
			rec = d.decodeFlowRecord(tag, &br)
		} else {
			rec = d.decodeCounterRecord(tag, &br)
		}
		if rec == nil || br.err != nil {
			if br.err != nil {
				d.errs = append(d.errs, d.errorAt(sample, st, j, tag, br.base+br.off, br.err))
			}
			o := d.opaque.next(d.gen)
			*o = OpaqueRecord{Format: tag, Data: body}
			rec = o
		}
		recs = append(recs, rec)
	}
	return recs
}

// decodeNested reads a record list nested inside a record (802.11
// aggregation), bounded in depth. The list is a window of d.nested: its n
// slots are reserved before the records are read, so the lists nested deeper
// take the slots after them, and no window is ever handed out twice in one
// Decode call.
func (d *Decoder) decodeNested(r *reader) []Record {
	if d.depth >= maxDepth {
		r.fail(ErrDepth)
		return nil
	}
	d.depth++
	defer func() { d.depth-- }()
	n := r.count(0, 8)
	start := len(d.nested)
	d.nested = slices.Grow(d.nested, n)[:start+n]
	got := 0
	for j := 0; j < n && r.err == nil; j++ {
		tag, body, at := r.frame()
		if r.err != nil {
			break
		}
		rec := d.fastFlowRecord(tag, body)
		if rec != nil {
			d.nested[start+got] = rec
			got++
			continue
		}
		br := &d.nestedR[d.depth-1]
		*br = reader{b: body, base: r.base + at}
		rec = d.decodeFlowRecord(tag, br)
		if br.err != nil {
			// The enclosing record fails where the nested one did.
			r.off = br.base + br.off - r.base
			r.fail(br.err)
			break
		}
		if rec == nil {
			o := d.opaque.next(d.gen)
			*o = OpaqueRecord{Format: tag, Data: body}
			rec = o
		}
		d.nested[start+got] = rec
		got++
	}
	if got == 0 {
		return nil
	}
	return d.nested[start : start+got : start+got]
}

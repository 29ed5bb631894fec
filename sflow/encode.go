package sflow

import (
	"errors"
	"fmt"
)

// ErrCompact means a value does not fit the compact sample form (0:1, 0:2):
// a source type above 255 or index above 2^24-1, an interface format above 3
// or value above 2^30-1. Use the expanded sample types for such values.
var ErrCompact = errors.New("value does not fit the compact sample form")

// ErrBodyTag means a Sample's Body is of another sample type than its Tag.
var ErrBodyTag = errors.New("sample body is not of the sample's type")

// AppendDatagram appends the encoding of dg to b. On error b is returned
// unchanged.
func AppendDatagram(b []byte, dg *Datagram) ([]byte, error) {
	w := writer{b: b}
	w.u32(5)
	w.addr(dg.AgentAddress)
	w.u32(dg.SubAgentID)
	w.u32(dg.SequenceNumber)
	w.u32(dg.Uptime)
	w.u32(uint32(len(dg.Samples)))
	for i := range dg.Samples {
		appendSample(&w, &dg.Samples[i])
		if w.err != nil {
			return b, fmt.Errorf("sflow: encode sample %d (%s): %w", i, dg.Samples[i].Tag, w.err)
		}
	}
	return w.b, nil
}

// AppendSample appends one encoded sample_record (tag, length, body) to b,
// for callers that pack samples into datagrams themselves. On error b is
// returned unchanged.
func AppendSample(b []byte, s *Sample) ([]byte, error) {
	w := writer{b: b}
	appendSample(&w, s)
	if w.err != nil {
		return b, fmt.Errorf("sflow: encode sample (%s): %w", s.Tag, w.err)
	}
	return w.b, nil
}

// AppendDatagramHeader appends a datagram header announcing n samples; the
// caller appends n samples made with AppendSample after it.
func AppendDatagramHeader(b []byte, dg *Datagram, n int) []byte {
	w := writer{b: b}
	w.u32(5)
	w.addr(dg.AgentAddress)
	w.u32(dg.SubAgentID)
	w.u32(dg.SequenceNumber)
	w.u32(dg.Uptime)
	w.u32(uint32(n))
	return w.b
}

func appendSample(w *writer, s *Sample) {
	start := w.open(uint32(s.Tag))
	switch s.Tag {
	case SampleFlow, SampleFlowExpanded:
		w.u32(s.SequenceNumber)
		writeSourceID(w, s, s.Tag == SampleFlowExpanded)
		w.u32(s.SamplingRate)
		w.u32(s.SamplePool)
		w.u32(s.Drops)
		if s.Tag == SampleFlow {
			writeCompactInterface(w, s.Input)
			writeCompactInterface(w, s.Output)
		} else {
			w.u32(s.Input.Format)
			w.u32(s.Input.Value)
			w.u32(s.Output.Format)
			w.u32(s.Output.Value)
		}
		appendRecordsOf(w, s)
	case SampleCounters, SampleCountersExpanded:
		w.u32(s.SequenceNumber)
		writeSourceID(w, s, s.Tag == SampleCountersExpanded)
		appendRecords(w, s.Records)
	case SampleDiscard:
		w.u32(s.SequenceNumber)
		writeSourceID(w, s, true)
		w.u32(s.Drops)
		w.u32(s.Input.Value)
		w.u32(s.Output.Value)
		w.u32(s.Reason)
		appendRecordsOf(w, s)
	default:
		switch {
		case s.Body == nil:
			w.b = append(w.b, s.Data...)
		case s.Body.Tag() != s.Tag:
			w.fail(ErrBodyTag)
		default:
			*w = s.Body.appendTo(*w)
		}
	}
	w.close(start)
}

func writeSourceID(w *writer, s *Sample, expanded bool) {
	if expanded {
		w.u32(s.SourceIDType)
		w.u32(s.SourceIDIndex)
		return
	}
	if s.SourceIDType > 0xff || s.SourceIDIndex > 0xffffff {
		w.fail(ErrCompact)
	}
	w.u32(s.SourceIDType<<24 | s.SourceIDIndex&0xffffff)
}

func writeCompactInterface(w *writer, i Interface) {
	if i.Format > 3 || i.Value > 0x3fffffff {
		w.fail(ErrCompact)
	}
	w.u32(i.Format<<30 | i.Value&0x3fffffff)
}

// appendRecordsOf writes s's records: those Verbatim holds as bytes, the
// rest encoded.
func appendRecordsOf(w *writer, s *Sample) {
	v := s.Verbatim
	if v.N <= 0 || v.N > len(s.Records) {
		appendRecords(w, s.Records)
		return
	}
	w.u32(uint32(len(s.Records)))
	w.b = append(w.b, v.B...)
	for _, r := range s.Records[v.N:] {
		start := w.open(uint32(r.Tag()))
		*w = r.appendTo(*w)
		w.close(start)
	}
}

func appendRecords(w *writer, recs []Record) {
	w.u32(uint32(len(recs)))
	for _, r := range recs {
		start := w.open(uint32(r.Tag()))
		*w = r.appendTo(*w)
		w.close(start)
	}
}

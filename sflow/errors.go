package sflow

import (
	"net/netip"
	"strconv"
)

// DecodeError says which datagram, sample and record failed to decode and at
// which byte offset of the datagram.
type DecodeError struct {
	Agent      netip.Addr
	SubAgentID uint32
	Sequence   uint32
	Sample     int // index in the datagram, -1 for the datagram header
	SampleTag  Tag
	Record     int // index in the sample, -1 for the sample itself
	RecordTag  Tag
	Offset     int
	Err        error
}

func (e *DecodeError) Error() string {
	b := []byte("sflow: agent ")
	if e.Agent.IsValid() {
		b = e.Agent.AppendTo(b)
	} else {
		b = append(b, "unknown"...)
	}
	b = append(b, " sub-agent "...)
	b = strconv.AppendUint(b, uint64(e.SubAgentID), 10)
	b = append(b, " seq "...)
	b = strconv.AppendUint(b, uint64(e.Sequence), 10)
	if e.Sample >= 0 {
		b = append(b, ": sample "...)
		b = strconv.AppendInt(b, int64(e.Sample), 10)
		b = append(b, " ("...)
		b = e.SampleTag.AppendText(b)
		b = append(b, ')')
	}
	if e.Record >= 0 {
		b = append(b, " record "...)
		b = strconv.AppendInt(b, int64(e.Record), 10)
		b = append(b, " ("...)
		b = e.RecordTag.AppendText(b)
		b = append(b, ')')
	}
	b = append(b, " at byte "...)
	b = strconv.AppendInt(b, int64(e.Offset), 10)
	b = append(b, ": "...)
	b = append(b, e.Err.Error()...)
	return string(b)
}

// Unwrap returns the cause (ErrShort, ErrTooLong, ...).
func (e *DecodeError) Unwrap() error { return e.Err }

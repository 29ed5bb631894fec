package ovs

import (
	"errors"
	"fmt"

	"gwd/sflow"
)

// Reasons a datagram that decoded without error is still not relayed.
var (
	// ErrTrailing: bytes follow the last sample the datagram announces.
	ErrTrailing = errors.New("bytes after the last sample")
	// ErrUnknownSample: a sample type the relay does not know.
	ErrUnknownSample = errors.New("unknown sample type")
	// ErrOpaque: a record the decoder kept as opaque bytes (an unknown
	// tag, or a body that did not decode).
	ErrOpaque = errors.New("record not understood")
	// ErrLeftover: a sample or one of its records is longer than its
	// decoded form encodes to: bytes beyond its fields were not understood.
	ErrLeftover = errors.New("bytes inside a sample or record beyond its fields")
)

// checkError places a check failure in the datagram.
type checkError struct {
	sample int
	tag    sflow.Tag
	err    error
}

func (e *checkError) Error() string {
	return fmt.Sprintf("sample %d (%s): %v", e.sample, e.tag, e.err)
}

func (e *checkError) Unwrap() error { return e.err }

// complete reports why dg, decoded without error from b, is not relayed:
// every sample must be a flow, counter or discard sample whose records are
// all understood and whose length is what its decoded form encodes to (so
// no record or sample holds bytes beyond its fields), and nothing may
// follow the last sample. Then what the relay hands on (the decoded form,
// re-encoded by the agent) is all OVS said and decodes cleanly at every
// collector.
func (r *Relay) complete(dg *sflow.Datagram, b []byte) error {
	size := 4 + 4 + 4 + 4 + 4 + 4 // version, address type, sub-agent, sequence, uptime, count
	switch {
	case dg.AgentAddress.Is4():
		size += 4
	case dg.AgentAddress.Is6():
		size += 16
	}
	for i := range dg.Samples {
		s := &dg.Samples[i]
		size += 8 + len(s.Raw)
		switch s.Tag {
		case sflow.SampleFlow, sflow.SampleFlowExpanded, sflow.SampleCounters, sflow.SampleCountersExpanded, sflow.SampleDiscard:
		default:
			return &checkError{i, s.Tag, ErrUnknownSample}
		}
		if err := understood(s.Records); err != nil {
			return &checkError{i, s.Tag, err}
		}
		// Lengths only: OVS leaves garbage in XDR padding, which the
		// encoder writes as zeros.
		n, ok := flowLen(s)
		if !ok {
			enc, err := sflow.AppendSample(r.scratch[:0], s)
			if err != nil {
				return &checkError{i, s.Tag, err}
			}
			r.scratch = enc
			n = len(enc) - 8
		}
		if n != len(s.Raw) {
			return &checkError{i, s.Tag, ErrLeftover}
		}
	}
	if size != len(b) {
		return fmt.Errorf("%w: %d", ErrTrailing, len(b)-size)
	}
	return nil
}

// understood fails on the first opaque record, nested ones included.
func understood(recs []sflow.Record) error {
	for _, rec := range recs {
		switch x := rec.(type) {
		case *sflow.OpaqueRecord:
			return fmt.Errorf("%w: %s", ErrOpaque, x.Format)
		case *sflow.Extended80211Aggregation:
			for _, pdu := range x.PDUs {
				if err := understood(pdu.Records); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// flowLen is the encoded length of a flow sample's body when it holds only
// the records OVS puts in every one (sampled header, extended switch):
// the relay's hot path need not encode those to learn it. Otherwise false,
// and the sample is encoded.
func flowLen(s *sflow.Sample) (int, bool) {
	var n int
	switch s.Tag {
	case sflow.SampleFlow:
		n = 8 * 4 // sequence, source, rate, pool, drops, input, output, record count
	case sflow.SampleFlowExpanded:
		n = 11 * 4 // the same with a word more for the source and each port
	default:
		return 0, false
	}
	for _, rec := range s.Records {
		switch x := rec.(type) {
		case *sflow.SampledHeader:
			n += 8 + 4*4 + (len(x.Header)+3)&^3 // tag, length; protocol, frame length, stripped, header length; header
		case *sflow.ExtendedSwitch:
			n += 8 + 4*4
		default:
			return 0, false
		}
	}
	return n, true
}

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
	if v, ok := e.Err.(*VersionError); ok {
		// Nothing after the version word was read: no agent to name.
		return "sflow: " + v.Error()
	}
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

// VersionError is the cause of the DecodeError for a datagram whose first
// word, the version, is not 5: an sFlow version 2 or 4 agent, or another
// protocol sent to the sFlow port (NetFlow, IPFIX). errors.Is(err,
// ErrVersion) is true of it.
type VersionError struct {
	Version uint32 // the first word, as sflowtool prints it (datagramVersion)
}

func (e *VersionError) Error() string {
	v := e.Version
	if v == 2 || v == 4 {
		return "sFlow version " + strconv.Itoa(int(v)) + " datagram: only version 5 is decoded"
	}
	msg := "datagram version " + strconv.FormatUint(uint64(v), 10) + " (0x" + hex32(v) + ") is not sFlow version 5"
	if name := netflowName(v >> 16); name != "" {
		msg += "; its first two bytes, " + strconv.Itoa(int(v>>16)) + ", are the version field of a " + name + " header"
	}
	return msg
}

func hex32(v uint32) string {
	s := strconv.FormatUint(uint64(v), 16)
	return "00000000"[len(s):] + s
}

// Is makes errors.Is(err, ErrVersion) true for a *VersionError.
func (e *VersionError) Is(target error) bool { return target == ErrVersion }

// netflowName names the NetFlow or IPFIX version whose header starts with the
// 16-bit version v, the usual thing to find on an sFlow port by mistake.
func netflowName(v uint32) string {
	switch v {
	case 1, 5, 7, 9:
		return "NetFlow v" + strconv.Itoa(int(v))
	case 10:
		return "IPFIX (NetFlow v10)"
	}
	return ""
}

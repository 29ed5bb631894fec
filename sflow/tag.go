package sflow

import "strconv"

// Tag is an sFlow data_format: the enterprise number in the top 20 bits and
// the format number in the low 12 bits. It names sample types and records.
type Tag uint32

// MakeTag builds the Tag for enterprise:format.
func MakeTag(enterprise, format uint32) Tag { return Tag(enterprise<<12 | format&0xfff) }

// Enterprise is the tag's enterprise number (0 for sflow.org structures).
func (t Tag) Enterprise() uint32 { return uint32(t) >> 12 }

// Number is the tag's format number within its enterprise.
func (t Tag) Number() uint32 { return uint32(t) & 0xfff }

// String formats the tag as "enterprise:format", the way sflowtool does.
func (t Tag) String() string {
	return strconv.FormatUint(uint64(t.Enterprise()), 10) + ":" + strconv.FormatUint(uint64(t.Number()), 10)
}

// AppendText appends the "enterprise:format" form without allocating.
func (t Tag) AppendText(b []byte) []byte {
	b = strconv.AppendUint(b, uint64(t.Enterprise()), 10)
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(t.Number()), 10)
}

// Sample types (sample_record data_format).
const (
	SampleFlow             Tag = 1 // 0:1 flow_sample
	SampleCounters         Tag = 2 // 0:2 counters_sample
	SampleFlowExpanded     Tag = 3 // 0:3 flow_sample_expanded
	SampleCountersExpanded Tag = 4 // 0:4 counters_sample_expanded
	SampleDiscard          Tag = 5 // 0:5 discarded_packet
)

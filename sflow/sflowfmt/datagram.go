// Package sflowfmt prints decoded sFlow datagrams: as the key/value lines
// that InMon's sflowtool prints (so scripts written for sflowtool keep
// working, and gwd's decoder can be checked against the reference line for
// line), and as JSON, one object per datagram with stable field names.
//
// The per-record printers are generated from sflow/spec/*.spec together with
// the codec; this package adds the datagram and sample framing, the records
// sflowtool prints in a special way, and the decode of sampled packet headers.
package sflowfmt

import (
	"errors"
	"net/netip"
	"strconv"
	"time"

	"gwd/sflow"
)

// Meta is what is known about how a datagram was received.
type Meta struct {
	Source   netip.AddrPort // sender; invalid when unknown
	Size     int            // datagram size in bytes
	Received time.Time      // when it was read from a socket (zero for captures)
	Captured time.Time      // the capture file's timestamp (zero when live)
}

// AppendText appends sflowtool's key/value lines for one datagram. err is the
// decoder's error for it, if any: what was decoded is printed first.
func AppendText(b []byte, m *Meta, dg *sflow.Datagram, err error) []byte {
	p := textPrinter{b: b}
	p.line("startDatagram", "=================================")
	if m.Source.IsValid() {
		p.key("datagramSourceIP")
		p.b = appendIP(p.b, m.Source.Addr().Unmap())
		p.b = append(p.b, '\n')
	} else {
		p.line("datagramSourceIP", "-")
	}
	p.dec("datagramSize", uint64(m.Size))
	var sec, usec int64
	if !m.Received.IsZero() {
		sec, usec = m.Received.Unix(), int64(m.Received.Nanosecond()/1000)
	}
	p.decInt("unixSecondsUTC", sec)
	p.decInt("unixSecondsUTC_uS", usec)
	p.line("localtime", time.Unix(sec, 0).Format("2006-01-02T15:04:05-0700"))
	if !m.Captured.IsZero() {
		p.line("pcapTimestamp", m.Captured.Format("2006-01-02T15:04:05-0700"))
		p.decInt("pcapTimestamp_uS", int64(m.Captured.Nanosecond()/1000))
	}
	if v, ok := badVersion(err); ok {
		// sflowtool prints the version it read and stops there.
		p.dec("datagramVersion", uint64(v))
	} else if dg != nil {
		p.dec("datagramVersion", 5)
		p.dec("agentSubId", uint64(dg.SubAgentID))
		p.ip("agent", dg.AgentAddress)
		p.dec("packetSequenceNo", uint64(dg.SequenceNumber))
		p.dec("sysUpTime", uint64(dg.Uptime))
		p.dec("samplesInPacket", uint64(len(dg.Samples)))
		for i := range dg.Samples {
			p.sample(&dg.Samples[i])
		}
	}
	if err != nil {
		p.line("decodeError", err.Error())
	}
	p.line("endDatagram  ", "=================================")
	return p.b
}

// badVersion returns the version of a datagram that was not decoded because
// its version is not 5.
func badVersion(err error) (uint32, bool) {
	var ve *sflow.VersionError
	if err != nil && errors.As(err, &ve) {
		return ve.Version, true
	}
	return 0, false
}

func (p *textPrinter) sample(s *sflow.Sample) {
	p.line("startSample", "----------------------")
	p.hs = headerState{}
	p.key("sampleType_tag")
	p.b = s.Tag.AppendText(p.b)
	p.b = append(p.b, '\n')
	switch s.Tag {
	case sflow.SampleFlow, sflow.SampleFlowExpanded:
		p.line("sampleType", "FLOWSAMPLE")
		p.sampleHead(s)
		p.dec("meanSkipCount", uint64(s.SamplingRate))
		p.dec("samplePool", uint64(s.SamplePool))
		p.dec("dropEvents", uint64(s.Drops))
		p.port("inputPort", s.Input)
		p.port("outputPort", s.Output)
		p.records(s.Records, true)
	case sflow.SampleCounters, sflow.SampleCountersExpanded:
		p.line("sampleType", "COUNTERSSAMPLE")
		p.sampleHead(s)
		p.records(s.Records, false)
	case sflow.SampleDiscard:
		p.line("sampleType", "DISCARD")
		p.sampleHead(s)
		p.dec("dropEvents", uint64(s.Drops))
		p.dec("inputPort", uint64(s.Input.Value))
		p.dec("outputPort", uint64(s.Output.Value))
		p.dec("discardCode", uint64(s.Reason))
		p.line("discardReason", DropReason(s.Reason))
		p.prefix = "discarded_"
		p.records(s.Records, true)
		p.prefix = ""
	default:
		switch t := sampleTypeLine(s.Tag); {
		case s.Body != nil && printSampleBody(p, s.Body):
		case t != "":
			// A known sample type whose body did not decode: sflowtool's
			// first line for it; the decodeError line says what is wrong.
			p.line("sampleType", t)
		default:
			p.skipping("sample", s.Tag, len(s.Data))
		}
	}
	p.line("endSample  ", "----------------------")
}

func (p *textPrinter) sampleHead(s *sflow.Sample) {
	p.dec("sampleSequenceNo", uint64(s.SequenceNumber))
	p.key("sourceId")
	p.b = strconv.AppendUint(p.b, uint64(s.SourceIDType), 10)
	p.b = append(p.b, ':')
	p.b = strconv.AppendUint(p.b, uint64(s.SourceIDIndex), 10)
	p.b = append(p.b, '\n')
}

// port prints an input or output interface: a plain ifIndex, "dropCode N"
// for a discarded packet, "multiple N" for several outputs.
func (p *textPrinter) port(k string, i sflow.Interface) {
	p.key(k)
	switch i.Format {
	case 1:
		p.b = append(p.b, "dropCode "...)
	case 2:
		p.b = append(p.b, "multiple "...)
	}
	p.b = strconv.AppendUint(p.b, uint64(i.Value), 10)
	p.b = append(p.b, '\n')
}

// records prints a sample's records, each after its block tag line. Records
// gwd does not know get sflowtool's "skipping unknown" line (never prefixed).
func (p *textPrinter) records(recs []sflow.Record, flow bool) {
	tagKey, what := "counterBlock_tag", "counters_sample_element"
	if flow {
		tagKey, what = "flowBlock_tag", "flow_sample_element"
	}
	for _, r := range recs {
		p.key(tagKey)
		p.b = r.Tag().AppendText(p.b)
		p.b = append(p.b, '\n')
		if !printFields(p, r) {
			p.skipping(what, r.Tag(), opaqueLen(r))
		}
	}
}

func opaqueLen(r sflow.Record) int {
	if o, ok := r.(*sflow.OpaqueRecord); ok {
		return len(o.Data)
	}
	return 0
}

// skipping is sflowtool's line for a sample or record it cannot decode.
func (p *textPrinter) skipping(what string, t sflow.Tag, n int) {
	p.b = append(p.b, "skipping unknown "...)
	p.b = append(p.b, what...)
	p.b = append(p.b, ": "...)
	p.b = t.AppendText(p.b)
	p.b = append(p.b, " len="...)
	p.b = strconv.AppendInt(p.b, int64(n), 10)
	p.b = append(p.b, '\n')
}

// AppendJSON appends one datagram as a JSON object and a newline. Field names
// are documented in docs/json.md and stay stable across releases.
func AppendJSON(b []byte, m *Meta, dg *sflow.Datagram, err error) []byte {
	j := jsonWriter{b: b}
	j.open('{')
	if m.Source.IsValid() {
		j.key("source")
		j.b = append(j.b, '"')
		j.b = m.Source.AppendTo(j.b)
		j.b = append(j.b, '"', ',')
	}
	j.u("size", uint64(m.Size))
	if !m.Received.IsZero() {
		j.key("received")
		j.b = append(j.b, '"')
		j.b = m.Received.UTC().AppendFormat(j.b, time.RFC3339Nano)
		j.b = append(j.b, '"', ',')
	}
	if !m.Captured.IsZero() {
		j.key("captured")
		j.b = append(j.b, '"')
		j.b = m.Captured.UTC().AppendFormat(j.b, time.RFC3339Nano)
		j.b = append(j.b, '"', ',')
	}
	if v, ok := badVersion(err); ok {
		j.u("version", uint64(v))
	} else if dg != nil {
		j.u("version", 5)
		j.ip("agent", dg.AgentAddress)
		j.u("sub_agent_id", uint64(dg.SubAgentID))
		j.u("sequence_number", uint64(dg.SequenceNumber))
		j.u("uptime_ms", uint64(dg.Uptime))
		j.key("samples")
		j.open('[')
		for i := range dg.Samples {
			j.sample(&dg.Samples[i])
		}
		j.close(']')
	}
	if err != nil {
		j.key("error")
		j.str("", []byte(err.Error()))
	}
	j.close('}')
	j.b[len(j.b)-1] = '\n'
	return j.b
}

func (j *jsonWriter) sample(s *sflow.Sample) {
	j.open('{')
	j.key("tag")
	j.b = append(j.b, '"')
	j.b = s.Tag.AppendText(j.b)
	j.b = append(j.b, '"', ',')
	name := sflow.SampleTypeName(s.Tag)
	if name == "" {
		name = "unknown"
	}
	j.key("type")
	j.b = append(j.b, '"')
	j.b = append(j.b, name...)
	j.b = append(j.b, '"', ',')
	switch s.Tag {
	case sflow.SampleFlow, sflow.SampleFlowExpanded, sflow.SampleCounters, sflow.SampleCountersExpanded, sflow.SampleDiscard:
	default:
		if s.Body == nil || !jsonSampleBody(j, s.Body) {
			j.hex("data", s.Data)
		}
		j.close('}')
		return
	}
	j.u("sequence_number", uint64(s.SequenceNumber))
	j.u("source_id_type", uint64(s.SourceIDType))
	j.u("source_id_index", uint64(s.SourceIDIndex))
	switch name {
	case "flow_sample":
		j.u("sampling_rate", uint64(s.SamplingRate))
		j.u("sample_pool", uint64(s.SamplePool))
		j.u("drops", uint64(s.Drops))
		j.iface("input", s.Input)
		j.iface("output", s.Output)
	case "discarded_packet":
		j.u("drops", uint64(s.Drops))
		j.u("input", uint64(s.Input.Value))
		j.u("output", uint64(s.Output.Value))
		j.u("reason", uint64(s.Reason))
		j.str("reason_name", []byte(DropReason(s.Reason)))
	}
	j.key("records")
	j.open('[')
	for _, r := range s.Records {
		j.record(r)
	}
	j.close(']')
	j.close('}')
}

func (j *jsonWriter) iface(k string, i sflow.Interface) {
	j.key(k)
	j.open('{')
	j.u("format", uint64(i.Format))
	j.u("value", uint64(i.Value))
	j.close('}')
}

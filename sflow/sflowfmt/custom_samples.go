package sflowfmt

import "gwd/sflow"

// The sFlow-RT sample types (4300:1002 rtmetric, 4300:1003 rtflow) as
// sflowtool prints them (readRTMetric, readRTFlow): the data source name only
// when its length is not zero, then one line per value whose key is the
// value's type prefix and its name. Names are cut as C prints them from
// 64-byte buffers, string values from 255-byte ones (see the spec's trunc).
// The `sampleType` line is printed before these functions are called.

func printRTMetric(p *textPrinter, x *sflow.RTMetric) {
	if len(x.DataSource) > 0 {
		p.str("rtmetric_datasource_name", x.DataSource, 63)
	}
	for i := range x.Metrics {
		m := &x.Metrics[i]
		textRTMetricValue(p, "", string(cstr(m.Name, 63)), &m.Value)
	}
}

func printRTFlow(p *textPrinter, x *sflow.RTFlow) {
	if len(x.DataSource) > 0 {
		p.str("rtflow_datasource_name", x.DataSource, 63)
	}
	p.dec("rtflow_sampling_rate", uint64(x.SamplingRate))
	p.dec("rtflow_sample_pool", uint64(x.SamplePool))
	for i := range x.Fields {
		f := &x.Fields[i]
		textRTFlowValue(p, "", string(cstr(f.Name, 63)), &f.Value)
	}
}

package web

import (
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"gwd/agent"
)

// maxInterfaceSeries caps the interfaces /metrics exports (each is a few
// series); the rest are counted in gwd_web_interfaces_left_out.
const maxInterfaceSeries = maxSources

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	mCollDatagrams = desc("gwd_collector_datagrams_total", "Datagrams sent to the collector.", "collector")
	mCollBytes     = desc("gwd_collector_bytes_total", "Bytes of datagrams sent to the collector.", "collector")
	mCollErrors    = desc("gwd_collector_send_errors_total", "Datagrams that failed to send to the collector.", "collector")
	mLeftOut       = desc("gwd_records_left_out_total", "Counter records left out of samples that would exceed datagram_bytes.")
	mFlowsDropped  = desc("gwd_flow_samples_dropped_total", "Flow samples dropped for want of an agent address.")
	mPollErrors    = desc("gwd_source_poll_errors_total", "Polls of the source's pollers that returned an error.", "source")
	mSourceUp      = desc("gwd_source_healthy", "1 when the source reports no error, else 0.", "source")
	mModuleUp      = desc("gwd_module_running", "1 when the module is running, else 0.", "module", "mode")
	mAgentAddr     = desc("gwd_agent_address_info", "The elected agent address (1), or none (address empty).", "address", "reason")
	mDataSources   = desc("gwd_data_sources", "Data sources registered with the agent.")
	mTapSeen       = desc("gwd_web_tap_datagrams_total", "Datagrams the web module's tap saw.")
	mTapDropped    = desc("gwd_web_tap_dropped_total", "Datagrams the web module dropped because its decode queue was full.")
	mDecodeErrors  = desc("gwd_web_decode_errors_total", "Datagrams sent that the web module could not decode.")
	mIfLeftOut     = desc("gwd_web_interfaces_left_out", "Interfaces not exported here because of the cap of 4096.")

	mCPU      = desc("gwd_host_cpu_seconds_total", "Host CPU time by mode (host_cpu 0:2003).", "mode")
	mLoad     = desc("gwd_host_load", "Host load average (host_cpu 0:2003).", "period")
	mCPUs     = desc("gwd_host_cpus", "Host CPUs (host_cpu 0:2003).")
	mMem      = desc("gwd_host_memory_bytes", "Host memory (host_memory 0:2004).", "kind")
	mNetBytes = desc("gwd_host_network_bytes_total", "Host network bytes (host_net_io 0:2006).", "direction")
	mNetPkts  = desc("gwd_host_network_packets_total", "Host network packets (host_net_io 0:2006).", "direction")

	mIfBytes    = desc("gwd_interface_bytes_total", "Interface octets (if_counters 0:1).", "ifindex", "name", "direction")
	mIfPkts     = desc("gwd_interface_packets_total", "Interface packets, unicast+multicast+broadcast (if_counters 0:1).", "ifindex", "name", "direction")
	mIfErrors   = desc("gwd_interface_errors_total", "Interface errors (if_counters 0:1).", "ifindex", "name", "direction")
	mIfDiscards = desc("gwd_interface_discards_total", "Interface discards (if_counters 0:1).", "ifindex", "name", "direction")
	mIfSpeed    = desc("gwd_interface_speed_bytes", "Interface speed in bytes per second, ifSpeed/8 (if_counters 0:1).", "ifindex", "name")
)

// collector is /metrics: gwd's own counters and the latest counters sent.
type collector struct{ s *server }

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{mCollDatagrams, mCollBytes, mCollErrors, mLeftOut, mFlowsDropped, mPollErrors,
		mSourceUp, mModuleUp, mAgentAddr, mDataSources, mTapSeen, mTapDropped, mDecodeErrors, mIfLeftOut,
		mCPU, mLoad, mCPUs, mMem, mNetBytes, mNetPkts, mIfBytes, mIfPkts, mIfErrors, mIfDiscards, mIfSpeed} {
		ch <- d
	}
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	a := s.agent
	for _, cs := range a.Collectors() {
		counter(ch, mCollDatagrams, float64(cs.Datagrams), cs.Collector)
		counter(ch, mCollBytes, float64(cs.Bytes), cs.Collector)
		counter(ch, mCollErrors, float64(cs.Errors), cs.Collector)
	}
	counter(ch, mLeftOut, float64(a.RecordsLeftOut()))
	counter(ch, mFlowsDropped, float64(a.FlowsDropped()))
	pe := a.PollErrors()
	for src, msg := range a.Health() {
		counter(ch, mPollErrors, float64(pe[src]), src)
		gauge(ch, mSourceUp, b2f(msg == ""), src)
	}
	for _, m := range s.rt.Status() {
		gauge(ch, mModuleUp, b2f(m.Running), m.Name, m.Mode.String())
	}
	e := a.Address()
	addr := ""
	if e.Addr.IsValid() {
		addr = e.Addr.String()
	}
	gauge(ch, mAgentAddr, 1, addr, e.Reason)
	dss := a.DataSources()
	gauge(ch, mDataSources, float64(len(dss)))
	counter(ch, mTapSeen, float64(s.tap.seen.Load()))
	counter(ch, mTapDropped, float64(s.tap.dropped.Load()))

	// Names first, outside the state's lock (Label asks the modules).
	var ifs []agent.DataSource
	for ds := range dss {
		if ds.Type == 0 {
			ifs = append(ifs, ds)
		}
	}
	sort.Slice(ifs, func(i, j int) bool { return ifs[i].Index < ifs[j].Index })
	left := 0
	if len(ifs) > maxInterfaceSeries {
		left, ifs = len(ifs)-maxInterfaceSeries, ifs[:maxInterfaceSeries]
	}
	names := make([]string, len(ifs))
	all := s.rt.Labels()
	for i, ds := range ifs {
		names[i] = strings.TrimPrefix(all[ds], "interface ")
	}
	gauge(ch, mIfLeftOut, float64(left))

	st := s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	counter(ch, mDecodeErrors, float64(st.decodeErrors))
	if h := st.sources[agent.HostSource]; h != nil {
		if p := h.cpu; p != nil {
			for mode, ms := range map[string]uint32{"user": p.User, "nice": p.Nice, "system": p.System, "idle": p.Idle,
				"iowait": p.Wio, "irq": p.Intr, "softirq": p.SoftIntr} {
				counter(ch, mCPU, float64(ms)/1000, mode)
			}
			gauge(ch, mLoad, float64(p.LoadOne), "1m")
			gauge(ch, mLoad, float64(p.LoadFive), "5m")
			gauge(ch, mLoad, float64(p.LoadFifteen), "15m")
			gauge(ch, mCPUs, float64(p.CPUNum))
		}
		if m := h.mem; m != nil {
			for kind, v := range map[string]uint64{"total": m.MemTotal, "free": m.MemFree, "shared": m.MemShared,
				"buffers": m.MemBuffers, "cached": m.MemCached, "swap_total": m.SwapTotal, "swap_free": m.SwapFree} {
				gauge(ch, mMem, float64(v), kind)
			}
		}
		if n := h.net; n != nil {
			counter(ch, mNetBytes, float64(n.BytesIn), "in")
			counter(ch, mNetBytes, float64(n.BytesOut), "out")
			counter(ch, mNetPkts, float64(n.PktsIn), "in")
			counter(ch, mNetPkts, float64(n.PktsOut), "out")
		}
	}
	for i, ds := range ifs {
		d := st.sources[ds]
		if d == nil || d.ifc == nil {
			continue
		}
		f, idx, name := d.ifc, strconv.FormatUint(uint64(ds.Index), 10), names[i]
		counter(ch, mIfBytes, float64(f.InOctets), idx, name, "in")
		counter(ch, mIfBytes, float64(f.OutOctets), idx, name, "out")
		counter(ch, mIfPkts, float64(known(f.InUcastPkts, f.InMulticastPkts, f.InBroadcastPkts)), idx, name, "in")
		counter(ch, mIfPkts, float64(known(f.OutUcastPkts, f.OutMulticastPkts, f.OutBroadcastPkts)), idx, name, "out")
		for _, v := range []struct {
			d   *prometheus.Desc
			n   uint32
			dir string
		}{{mIfErrors, f.InErrors, "in"}, {mIfErrors, f.OutErrors, "out"}, {mIfDiscards, f.InDiscards, "in"}, {mIfDiscards, f.OutDiscards, "out"}} {
			if v.n != unknown { // not counted by the device: no series
				counter(ch, v.d, float64(v.n), idx, name, v.dir)
			}
		}
		gauge(ch, mIfSpeed, float64(f.IfSpeed)/8, idx, name)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

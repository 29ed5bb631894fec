package asic

import (
	"fmt"
	"math"

	"gwd/sflow"
)

// Unknown is the value of a field that no backend knows. In a percentage
// it is sent as -1; in a 4413:3 table count, whose wire type is unsigned,
// it is sent as 0xFFFFFFFF (-1 as an unsigned 32-bit integer). gwd never
// sends a made-up 0 for a value it does not know.
const Unknown = -1

// The 36 fields of 4413:3 hw_tables, in wire order. The names in
// tableFieldNames are the ones the OID map file and the devlink mapping use.
const (
	HostEntries = iota
	HostEntriesMax
	IPv4Entries
	IPv4EntriesMax
	IPv6Entries
	IPv6EntriesMax
	IPv4IPv6Entries
	IPv4IPv6EntriesMax
	LongIPv6Entries
	LongIPv6EntriesMax
	TotalRoutes
	TotalRoutesMax
	ECMPNexthops
	ECMPNexthopsMax
	MACEntries
	MACEntriesMax
	IPv4Neighbors
	IPv6Neighbors
	IPv4Routes
	IPv6Routes
	ACLIngressEntries
	ACLIngressEntriesMax
	ACLIngressCounters
	ACLIngressCountersMax
	ACLIngressMeters
	ACLIngressMetersMax
	ACLIngressSlices
	ACLIngressSlicesMax
	ACLEgressEntries
	ACLEgressEntriesMax
	ACLEgressCounters
	ACLEgressCountersMax
	ACLEgressMeters
	ACLEgressMetersMax
	ACLEgressSlices
	ACLEgressSlicesMax
	NumTableFields
)

var tableFieldNames = [NumTableFields]string{
	"host_entries", "host_entries_max",
	"ipv4_entries", "ipv4_entries_max",
	"ipv6_entries", "ipv6_entries_max",
	"ipv4_ipv6_entries", "ipv4_ipv6_entries_max",
	"long_ipv6_entries", "long_ipv6_entries_max",
	"total_routes", "total_routes_max",
	"ecmp_nexthops", "ecmp_nexthops_max",
	"mac_entries", "mac_entries_max",
	"ipv4_neighbors", "ipv6_neighbors", "ipv4_routes", "ipv6_routes",
	"acl_ingress_entries", "acl_ingress_entries_max",
	"acl_ingress_counters", "acl_ingress_counters_max",
	"acl_ingress_meters", "acl_ingress_meters_max",
	"acl_ingress_slices", "acl_ingress_slices_max",
	"acl_egress_entries", "acl_egress_entries_max",
	"acl_egress_counters", "acl_egress_counters_max",
	"acl_egress_meters", "acl_egress_meters_max",
	"acl_egress_slices", "acl_egress_slices_max",
}

// TableFieldName returns the name of hw_tables field f ("ipv4_routes").
func TableFieldName(f int) string {
	if f < 0 || f >= NumTableFields {
		return fmt.Sprintf("field%d", f)
	}
	return tableFieldNames[f]
}

// tableField returns the index of the hw_tables field called name.
func tableField(name string) (int, bool) {
	for i, n := range tableFieldNames {
		if n == name {
			return i, true
		}
	}
	return 0, false
}

// maxField returns the _max companion of count field f, or -1 when f has
// none (the four neighbor/route counts) or is itself a maximum.
func maxField(f int) int {
	switch {
	case f < 0 || f >= NumTableFields:
		return -1
	case f >= IPv4Neighbors && f <= IPv6Routes:
		return -1
	case f%2 == 0: // pairs start on even indexes before and after the four
		return f + 1
	}
	return -1
}

// Tables holds the hw_tables fields, Unknown where not known.
type Tables [NumTableFields]int64

// unknownTables returns Tables with every field Unknown.
func unknownTables() Tables {
	var t Tables
	for i := range t {
		t[i] = Unknown
	}
	return t
}

// u32 is a table count on the wire: Unknown (or any negative) becomes
// 0xFFFFFFFF, and a real count is capped at 0xFFFFFFFE so that it can
// never read as unknown.
func u32(v int64) uint32 {
	switch {
	case v < 0:
		return math.MaxUint32
	case v >= math.MaxUint32:
		return math.MaxUint32 - 1
	}
	return uint32(v)
}

// record converts t to the 4413:3 record.
func (t *Tables) record() *sflow.HWTables {
	var v [NumTableFields]uint32
	for i, x := range t {
		v[i] = u32(x)
	}
	return &sflow.HWTables{
		HostEntries: v[0], HostEntriesMax: v[1],
		IPv4Entries: v[2], IPv4EntriesMax: v[3],
		IPv6Entries: v[4], IPv6EntriesMax: v[5],
		IPv4IPv6Entries: v[6], IPv4IPv6EntriesMax: v[7],
		LongIPv6Entries: v[8], LongIPv6EntriesMax: v[9],
		TotalRoutes: v[10], TotalRoutesMax: v[11],
		ECMPNexthops: v[12], ECMPNexthopsMax: v[13],
		MACEntries: v[14], MACEntriesMax: v[15],
		IPv4Neighbors: v[16], IPv6Neighbors: v[17], IPv4Routes: v[18], IPv6Routes: v[19],
		ACLIngressEntries: v[20], ACLIngressEntriesMax: v[21],
		ACLIngressCounters: v[22], ACLIngressCountersMax: v[23],
		ACLIngressMeters: v[24], ACLIngressMetersMax: v[25],
		ACLIngressSlices: v[26], ACLIngressSlicesMax: v[27],
		ACLEgressEntries: v[28], ACLEgressEntriesMax: v[29],
		ACLEgressCounters: v[30], ACLEgressCountersMax: v[31],
		ACLEgressMeters: v[32], ACLEgressMetersMax: v[33],
		ACLEgressSlices: v[34], ACLEgressSlicesMax: v[35],
	}
}

// MaxQueues is the most egress queues 4413:2 carries per kind (pct<8>).
const MaxQueues = 8

// DeviceBuffers are the 4413:1 figures: the peak use of the device's
// unicast and multicast buffers in hundredths of a percent, Unknown when
// not known.
type DeviceBuffers struct {
	UC, MC int32
}

// PortBuffers are the 4413:2 figures of one port, in hundredths of a
// percent, Unknown when not known. QueueUC and QueueMC hold at most
// MaxQueues entries, by queue order; a queue that exists but whose figure
// is not known is Unknown.
type PortBuffers struct {
	IngressUC, IngressMC, EgressUC, EgressMC int32
	QueueUC, QueueMC                         []int32
}

// unknownPort returns PortBuffers with every figure Unknown and no queues.
func unknownPort() PortBuffers {
	return PortBuffers{IngressUC: Unknown, IngressMC: Unknown, EgressUC: Unknown, EgressMC: Unknown}
}

// pct is used/total in hundredths of a percent, capped at 100.00%;
// Unknown when total is 0.
func pct(used, total uint64) int32 {
	if total == 0 {
		return Unknown
	}
	p := math.Round(float64(used) * 10000 / float64(total))
	if p > 10000 {
		p = 10000
	}
	return int32(p)
}

// maxKnown returns the largest known value of vs, or Unknown.
func maxKnown(vs ...int32) int32 {
	m := int32(Unknown)
	for _, v := range vs {
		if v >= 0 && v > m {
			m = v
		}
	}
	return m
}

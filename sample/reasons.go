package sample

import (
	"path"
	"strings"
)

// sFlow drop reason codes (the sFlow "Dropped Packet Notification
// Structures" extension): 0-255 ICMP unreachable codes, from 256 gwd's
// names below.
const (
	reasonIgnore = -1 // not a drop: control traffic trapped to the CPU

	reasonNetUnreachable      = 0
	reasonProtocolUnreachable = 2
	reasonPortUnreachable     = 3
	reasonDstNetUnknown       = 6
	reasonDstHostUnknown      = 7
	reasonDstNetProhibited    = 9
	reasonUnknown             = 256
	reasonTTLExceeded         = 257
	reasonACL                 = 258
	reasonNoBufferSpace       = 259
	reasonPktTooBig           = 262
	reasonSrcMACMulticast     = 263
	reasonVLANTagMismatch     = 264
	reasonIngressVLANFilter   = 265
	reasonIngressSTPFilter    = 266
	reasonPortListEmpty       = 267
	reasonPortLoopbackFilter  = 268
	reasonBlackholeRoute      = 269
	reasonNonIP               = 270
	reasonUCDIPOverMCDMAC     = 271
	reasonDIPLoopback         = 272
	reasonSIPMulticast        = 273
	reasonSIPLoopback         = 274
	reasonIPHeaderCorrupted   = 275
	reasonSIPLimitedBroadcast = 276
	reasonIPv6MCReserved      = 277
	reasonIPv6MCIfLocal       = 278
	reasonUnresolvedNeigh     = 279
	reasonMCRPF               = 280
	reasonNonRoutable         = 281
	reasonDecapError          = 282
	reasonOverlaySMACMC       = 283
	reasonUnknownL2           = 284
	reasonUnknownL3           = 285
	reasonUnknownL3Exception  = 286
	reasonUnknownBuffer       = 287
	reasonUnknownTunnel       = 288
	reasonUnknownL4           = 289
	reasonUDPParsing          = 316
	reasonTCPParsing          = 317
	reasonPktTooSmall         = 324
	reasonIPv6Disabled        = 326
	reasonRPF                 = 335
	reasonIP1Parsing          = 313
	reasonTCPFlags            = 340
	reasonTCPZeroWindow       = 341
	reasonTCPOldData          = 342
	reasonTCPOverWindow       = 343
	reasonTCPInvalidSequence  = 346
	reasonTCPReset            = 347
	reasonTCPInvalidSYN       = 348
	reasonTCPClose            = 349
)

// kernelReasons maps the kernel's drop reasons (enum skb_drop_reason
// without its SKB_DROP_REASON_ prefix, as NET_DM_ATTR_REASON gives them)
// to sFlow reasons. NOT_SPECIFIED falls through to the symbol rules.
var kernelReasons = map[string]int{
	"NO_SOCKET":               reasonPortUnreachable,
	"PKT_TOO_SMALL":           reasonPktTooSmall,
	"TCP_CSUM":                reasonTCPParsing,
	"UDP_CSUM":                reasonUDPParsing,
	"NETFILTER_DROP":          reasonACL,
	"OTHERHOST":               reasonDstHostUnknown,
	"IP_CSUM":                 reasonIP1Parsing,
	"IP_INHDR":                reasonIP1Parsing,
	"IP_RPFILTER":             reasonRPF,
	"UNICAST_IN_L2_MULTICAST": reasonUCDIPOverMCDMAC,
	"IP_NOPROTO":              reasonProtocolUnreachable,
	"SOCKET_RCVBUFF":          reasonNoBufferSpace,
	"PROTO_MEM":               reasonNoBufferSpace,
	"SOCKET_BACKLOG":          reasonNoBufferSpace,
	"TCP_FLAGS":               reasonTCPFlags,
	"TCP_ZEROWINDOW":          reasonTCPZeroWindow,
	"TCP_OLD_DATA":            reasonTCPOldData,
	"TCP_OVERWINDOW":          reasonTCPOverWindow,
	"TCP_INVALID_SEQUENCE":    reasonTCPInvalidSequence,
	"TCP_RESET":               reasonTCPReset,
	"TCP_INVALID_SYN":         reasonTCPInvalidSYN,
	"TCP_CLOSE":               reasonTCPClose,
	"IP_OUTNOROUTES":          reasonDstNetUnknown,
	"IPV6DISABLED":            reasonIPv6Disabled,
	"NEIGH_CREATEFAIL":        reasonUnresolvedNeigh,
	"NEIGH_FAILED":            reasonUnresolvedNeigh,
	"QDISC_DROP":              reasonNoBufferSpace,
	"FULL_RING":               reasonNoBufferSpace,
	"TC_INGRESS":              reasonACL,
	"TC_EGRESS":               reasonACL,
	"XDP":                     reasonACL,
	"IP_INADDRERRORS":         reasonDstHostUnknown,
	"IP_INNOROUTES":           reasonDstNetUnknown,
	"PKT_TOO_BIG":             reasonPktTooBig,
	"NOT_DROPPED_YET":         reasonIgnore,
}

// trapNames maps devlink trap names (NET_DM_ATTR_HW_TRAP_NAME) to sFlow
// reasons; an unlisted name falls back on its trap group (trapGroups).
var trapNames = map[string]int{
	"source_mac_is_multicast":           reasonSrcMACMulticast,
	"vlan_tag_mismatch":                 reasonVLANTagMismatch,
	"ingress_vlan_filter":               reasonIngressVLANFilter,
	"ingress_spanning_tree_filter":      reasonIngressSTPFilter,
	"port_list_is_empty":                reasonPortListEmpty,
	"port_loopback_filter":              reasonPortLoopbackFilter,
	"blackhole_route":                   reasonBlackholeRoute,
	"ttl_value_is_too_small":            reasonTTLExceeded,
	"tail_drop":                         reasonNoBufferSpace,
	"non_ip":                            reasonNonIP,
	"uc_dip_over_mc_dmac":               reasonUCDIPOverMCDMAC,
	"dip_is_loopback_address":           reasonDIPLoopback,
	"sip_is_mc":                         reasonSIPMulticast,
	"sip_is_loopback_address":           reasonSIPLoopback,
	"ip_header_corrupted":               reasonIPHeaderCorrupted,
	"ipv4_sip_is_limited_bc":            reasonSIPLimitedBroadcast,
	"ipv6_mc_dip_reserved_scope":        reasonIPv6MCReserved,
	"ipv6_mc_dip_interface_local_scope": reasonIPv6MCIfLocal,
	"mtu_value_is_too_small":            reasonPktTooBig,
	"unresolved_neigh":                  reasonUnresolvedNeigh,
	"mc_reverse_path_forwarding":        reasonMCRPF,
	"reject_route":                      reasonDstNetProhibited,
	"ipv4_lpm_miss":                     reasonDstNetUnknown,
	"ipv6_lpm_miss":                     reasonDstNetUnknown,
	"non_routable_packet":               reasonNonRoutable,
	"decap_error":                       reasonDecapError,
	"overlay_smac_is_mc":                reasonOverlaySMACMC,
	"ingress_flow_action_drop":          reasonACL,
	"egress_flow_action_drop":           reasonACL,
}

// trapGroups maps devlink trap groups to sFlow reasons; groups of control
// traffic are not drops.
var trapGroups = map[string]int{
	"acl_drops":     reasonACL,
	"l2_drops":      reasonUnknownL2,
	"l3_drops":      reasonUnknownL3,
	"l3_exceptions": reasonUnknownL3Exception,
	"tunnel_drops":  reasonUnknownTunnel,
	"buffer_drops":  reasonUnknownBuffer,
}

// controlGroups are devlink trap groups of packets trapped to the CPU on
// purpose (protocol control traffic), never drops.
var controlGroups = []string{"stp", "lacp", "lldp", "mc_snooping", "dhcp", "neigh_discovery",
	"bfd", "ospf", "bgp", "vrrp", "pim", "uc_loopback", "local_delivery", "external_delivery",
	"ipv6", "ptp_event", "ptp_general", "acl_sample", "acl_trap", "eapol"}

// symbolRules map the kernel function that freed a packet (the symbol of a
// software drop, without its +offset) to an sFlow reason, first match
// wins; the last rule catches everything.
var symbolRules = []struct {
	glob   string
	reason int
}{
	{"sk_stream_kill_queues*", reasonIgnore}, // socket teardown
	{"skb_release_data*", reasonIgnore},      // normal reassembly
	{"skb_queue_purge*", reasonIgnore},       // socket teardown
	{"tcp_*", reasonUnknownL4},
	{"udp_*", reasonUnknownL4},
	{"__udp4_*", reasonUnknownL4},
	{"__udp6_*", reasonUnknownL4},
	{"icmp*", reasonUnknownL3},
	{"ip_*", reasonUnknownL3},
	{"ipv4_*", reasonUnknownL3},
	{"ip6_*", reasonUnknownL3},
	{"ipv6_*", reasonUnknownL3},
	{"raw*", reasonUnknownL3},
	{"br_*", reasonUnknownL2},
	{"__br_*", reasonUnknownL2},
	{"*", reasonUnknown},
}

// softwareReason maps a software drop: by kernel reason (when useReason
// and the kernel gave one other than NOT_SPECIFIED), else by symbol.
func softwareReason(reason, symbol string, useReason bool) int {
	if useReason && reason != "" && reason != "NOT_SPECIFIED" {
		if r, ok := kernelReasons[reason]; ok {
			return r
		}
	}
	if i := strings.IndexByte(symbol, '+'); i >= 0 {
		symbol = symbol[:i]
	}
	for _, r := range symbolRules {
		if ok, _ := path.Match(r.glob, strings.ToLower(symbol)); ok {
			return r.reason
		}
	}
	return reasonUnknown
}

// hardwareReason maps a hardware trap by name, then group; ok is false for
// a trap that maps to nothing (exported as unknown only with hw_unknown).
func hardwareReason(group, name string) (reason int, ok bool) {
	if r, ok := trapNames[name]; ok {
		return r, true
	}
	for _, g := range controlGroups {
		if g == group {
			return reasonIgnore, true
		}
	}
	if r, ok := trapGroups[group]; ok {
		return r, true
	}
	return reasonUnknown, false
}

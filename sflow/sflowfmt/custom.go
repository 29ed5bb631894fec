package sflowfmt

import (
	"strconv"

	"gwd/sflow"
)

// The records below are the ones sflowtool prints in a way the generated
// field-by-field printer cannot: derived lines, lines in another order than
// the wire, indexed keys. The extendedType / flowSampleType line named in the
// spec is printed before these functions are called.

func printSampledHeader(p *textPrinter, x *sflow.SampledHeader) {
	p.dec("headerProtocol", uint64(x.Protocol))
	p.dec("sampledPacketSize", uint64(x.FrameLength))
	p.dec("strippedBytes", uint64(x.Stripped))
	p.header(x.Protocol, x.FrameLength, x.Stripped, x.Header)
}

// header prints headerLen, headerBytes and the decode of the packet.
func (p *textPrinter) header(protocol, frameLength, stripped uint32, h []byte) {
	p.dec("headerLen", uint64(len(h)))
	shown := h
	if len(shown) > 682 { // sflowtool's 2048-byte line buffer
		shown = shown[:682]
	}
	p.hexdash("headerBytes", shown)
	p.b = appendHeaderDecode(p.b, &p.hs, sampledHeader{
		Protocol: protocol, FrameLength: frameLength, Stripped: stripped, Header: h, Prefix: p.prefix,
	})
}

func printSampledEthernet(p *textPrinter, x *sflow.SampledEthernet) { p.ethernet("", x) }

func printExtendedL2TunnelEgress(p *textPrinter, x *sflow.ExtendedL2TunnelEgress) {
	p.ethernet("tunnel_l2_out_", (*sflow.SampledEthernet)(x))
}

func printExtendedL2TunnelIngress(p *textPrinter, x *sflow.ExtendedL2TunnelIngress) {
	p.ethernet("tunnel_l2_in_", (*sflow.SampledEthernet)(x))
}

func (p *textPrinter) ethernet(pre string, x *sflow.SampledEthernet) {
	p.dec(pre+"ethernet_type", uint64(x.EtherType))
	p.dec(pre+"ethernet_len", uint64(x.Length))
	p.mac(pre+"ethernet_src", x.SrcMAC)
	p.mac(pre+"ethernet_dst", x.DstMAC)
}

func printSampledIPv4(p *textPrinter, x *sflow.SampledIPv4) { p.ipv4("", x) }

func printExtendedIPv4TunnelEgress(p *textPrinter, x *sflow.ExtendedIPv4TunnelEgress) {
	p.ipv4("tunnel_ipv4_out_", (*sflow.SampledIPv4)(x))
}

func printExtendedIPv4TunnelIngress(p *textPrinter, x *sflow.ExtendedIPv4TunnelIngress) {
	p.ipv4("tunnel_ipv4_in_", (*sflow.SampledIPv4)(x))
}

func (p *textPrinter) ipv4(pre string, x *sflow.SampledIPv4) {
	p.dec(pre+"sampledPacketSize", uint64(x.Length))
	p.dec(pre+"IPSize", uint64(x.Length))
	p.ip(pre+"srcIP", x.SrcIP)
	p.ip(pre+"dstIP", x.DstIP)
	p.dec(pre+"IPProtocol", uint64(x.Protocol))
	p.dec(pre+"IPTOS", uint64(x.TOS))
	p.ports(pre, x.Protocol, x.SrcPort, x.DstPort, x.TCPFlags)
}

func printSampledIPv6(p *textPrinter, x *sflow.SampledIPv6) { p.ipv6("", x) }

func printExtendedIPv6TunnelEgress(p *textPrinter, x *sflow.ExtendedIPv6TunnelEgress) {
	p.ipv6("tunnel_ipv6_out_", (*sflow.SampledIPv6)(x))
}

func printExtendedIPv6TunnelIngress(p *textPrinter, x *sflow.ExtendedIPv6TunnelIngress) {
	p.ipv6("tunnel_ipv6_in_", (*sflow.SampledIPv6)(x))
}

func (p *textPrinter) ipv6(pre string, x *sflow.SampledIPv6) {
	p.dec(pre+"sampledPacketSize", uint64(x.Length))
	p.dec(pre+"IPSize", uint64(x.Length))
	p.ip(pre+"srcIP6", x.SrcIP)
	p.ip(pre+"dstIP6", x.DstIP)
	p.dec(pre+"IPProtocol", uint64(x.Protocol))
	p.dec(pre+"priority", uint64(x.Priority))
	p.ports(pre, x.Protocol, x.SrcPort, x.DstPort, x.TCPFlags)
}

// ports prints the transport fields of a sampled IP record: ICMP type (from
// the destination port field), TCP ports and flags, UDP ports, or nothing.
func (p *textPrinter) ports(pre string, proto, src, dst, flags uint32) {
	switch proto {
	case 1:
		p.dec(pre+"ICMPType", uint64(dst))
	case 6:
		p.dec(pre+"TCPSrcPort", uint64(src))
		p.dec(pre+"TCPDstPort", uint64(dst))
		p.dec(pre+"TCPFlags", uint64(flags))
	case 17:
		p.dec(pre+"UDPSrcPort", uint64(src))
		p.dec(pre+"UDPDstPort", uint64(dst))
	}
}

// printExtendedGateway prints the AS path as sflowtool builds it: sets in
// parentheses, ASNs joined by '-', segments glued with no separator; then the
// destination AS (last of the last segment) and peer AS (first of the first).
func printExtendedGateway(p *textPrinter, x *sflow.ExtendedGateway) {
	p.ip("bgp_nexthop", x.NextHop)
	p.dec("my_as", uint64(x.AS))
	p.dec("src_as", uint64(x.SrcAS))
	p.dec("src_peer_as", uint64(x.SrcPeerAS))
	var dstAS, dstPeerAS uint32
	if n := len(x.DstASPath); n > 0 {
		p.key("dst_as_path")
		for _, seg := range x.DstASPath {
			if len(seg.ASNs) == 0 {
				continue
			}
			if seg.Type == 1 {
				p.b = append(p.b, '(')
			}
			for i, as := range seg.ASNs {
				if i > 0 {
					p.b = append(p.b, '-')
				}
				p.b = strconv.AppendUint(p.b, uint64(as), 10)
			}
			if seg.Type == 1 {
				p.b = append(p.b, ')')
			}
		}
		p.b = append(p.b, '\n')
		if last := x.DstASPath[n-1].ASNs; len(last) > 0 {
			dstAS = last[len(last)-1]
		}
		if first := x.DstASPath[0].ASNs; len(first) > 0 {
			dstPeerAS = first[0]
		}
	}
	p.dec("dst_as", uint64(dstAS))
	p.dec("dst_peer_as", uint64(dstPeerAS))
	if len(x.Communities) > 0 {
		p.key("BGP_communities")
		for i, c := range x.Communities {
			if i > 0 {
				p.b = append(p.b, '-')
			}
			p.b = strconv.AppendUint(p.b, uint64(c), 10)
		}
		p.b = append(p.b, '\n')
	}
	p.dec("BGP_localpref", uint64(x.LocalPref))
}

func printExtendedUser(p *textPrinter, x *sflow.ExtendedUser) {
	p.dec("src_user_charset", uint64(x.SrcCharset))
	p.dec("dst_user_charset", uint64(x.DstCharset))
	p.str("src_user", x.SrcUser, 199)
	p.str("dst_user", x.DstUser, 199)
}

// printExtended80211Payload: sflowtool's own layout carries a whole sampled
// header after the cipher suite; the 802.11 spec's layout carries opaque
// data, which sflowtool cannot read and gwd shows as payloadBytes.
func printExtended80211Payload(p *textPrinter, x *sflow.Extended80211Payload) {
	p.dec("cipher_suite", uint64(x.CipherSuite))
	if x.Layout == sflow.Extended80211PayloadLayoutSflowtool {
		p.line("flowSampleType", "HEADER")
		p.dec("headerProtocol", uint64(x.Protocol))
		p.dec("sampledPacketSize", uint64(x.FrameLength))
		p.dec("strippedBytes", uint64(x.Stripped))
		p.header(x.Protocol, x.FrameLength, x.Stripped, x.Header)
		return
	}
	p.hexdash("payloadBytes", x.Data)
}

// printExtended80211Aggregation (sflowtool does not decode it): the PDU
// count, then each PDU's nested records as in a flow sample.
func printExtended80211Aggregation(p *textPrinter, x *sflow.Extended80211Aggregation) {
	p.dec("aggregation_num_pdus", uint64(len(x.PDUs)))
	for i := range x.PDUs {
		p.dec("aggregation_pdu", uint64(i))
		p.records(x.PDUs[i].Records, true)
	}
}

func printLAGPortStats(p *textPrinter, x *sflow.LAGPortStats) {
	p.mac("actorSystemID", x.ActorSystemID)
	p.mac("partnerSystemID", x.PartnerOperSystemID)
	p.dec("attachedAggID", uint64(x.AttachedAggID))
	p.dec("actorAdminPortState", uint64(x.PortState[0]))
	p.dec("actorOperPortState", uint64(x.PortState[1]))
	p.dec("partnerAdminPortState", uint64(x.PortState[2]))
	p.dec("partnerOperPortState", uint64(x.PortState[3]))
	p.dec("LACPDUsRx", uint64(x.LACPDUsRx))
	p.dec("markerPDUsRx", uint64(x.MarkerPDUsRx))
	p.dec("markerResponsePDUsRx", uint64(x.MarkerResponsePDUsRx))
	p.dec("unknownRx", uint64(x.UnknownRx))
	p.dec("illegalRx", uint64(x.IllegalRx))
	p.dec("LACPDUsTx", uint64(x.LACPDUsTx))
	p.dec("markerPDUsTx", uint64(x.MarkerPDUsTx))
	p.dec("markerResponsePDUsTx", uint64(x.MarkerResponsePDUsTx))
}

// printSFP prints module lines, the lane count and ten lines per lane keyed
// "sfp_lane_<name>.<position>". (Recent sflowtool sources put a literal "%u"
// into eight of those keys by mistake; gwd prints the intended names.)
func printSFP(p *textPrinter, x *sflow.SFP) {
	p.dec("sfp_module_id", uint64(x.ModuleID))
	p.dec("sfp_module_total_lanes", uint64(x.ModuleTotalLanes))
	p.dec("sfp_module_supply_voltage", uint64(x.ModuleSupplyVoltage))
	p.dec("sfp_module_temperature", uint64(uint32(x.ModuleTemperature)))
	p.dec("sfp_module_active_lanes", uint64(len(x.Lanes)))
	for i := range x.Lanes {
		l, n := &x.Lanes[i], "."+strconv.Itoa(i)
		p.dec("sfp_lane_index"+n, uint64(l.Index))
		p.dec("sfp_lane_tx_bias_current_uA"+n, uint64(l.TxBiasCurrent))
		p.dec("sfp_lane_tx_power_uW"+n, uint64(l.TxPower))
		p.dec("sfp_lane_tx_power_min_uW"+n, uint64(l.TxPowerMin))
		p.dec("sfp_lane_tx_power_max_uW"+n, uint64(l.TxPowerMax))
		p.dec("sfp_lane_tx_wavelength_nM"+n, uint64(l.TxWavelength))
		p.dec("sfp_lane_rx_power_uW"+n, uint64(l.RxPower))
		p.dec("sfp_lane_rx_power_min_uW"+n, uint64(l.RxPowerMin))
		p.dec("sfp_lane_rx_power_max_uW"+n, uint64(l.RxPowerMax))
		p.dec("sfp_lane_rx_wavelength_nM"+n, uint64(l.RxWavelength))
	}
}

func printHostAdapters(p *textPrinter, x *sflow.HostAdapters) {
	for i := range x.Adapters {
		a := &x.Adapters[i]
		pre := "adaptor_" + strconv.Itoa(i) + "_"
		p.dec(pre+"ifIndex", uint64(a.IfIndex))
		p.dec(pre+"MACs", uint64(len(a.MACs)))
		for j, m := range a.MACs {
			p.mac(pre+"MAC_"+strconv.Itoa(j), m)
		}
	}
}

func printBSTPortBuffers(p *textPrinter, x *sflow.BSTPortBuffers) {
	p.pct("bst_port_ingress_uc_pc", x.IngressUCPct)
	p.pct("bst_port_ingress_mc_pc", x.IngressMCPct)
	p.pct("bst_port_egress_uc_pc", x.EgressUCPct)
	p.pct("bst_port_egress_mc_pc", x.EgressMCPct)
	for i, v := range x.EgressQueueUCPct {
		p.pct("bst_port_egress_queue_uc_pc."+strconv.Itoa(i), v)
	}
	for i, v := range x.EgressQueueMCPct {
		p.pct("bst_port_egress_queue_mc_pc."+strconv.Itoa(i), v)
	}
}

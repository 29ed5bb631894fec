package host

import (
	"errors"
	"fmt"

	"gwd/internal/textscan"
	"gwd/sflow"
)

// The MIB-2 groups 2007-2010 come from Proc/net/snmp, whose "Ip:", "Icmp:",
// "Tcp:" and "Udp:" sections are each a header line of field names and a
// line of values. Fields are matched by name (the kernel adds fields over
// time, e.g. Ip OutTransmits, Icmp InCsumErrors); a field this kernel does
// not have stays 0. Values are taken as signed and sent as their low 32
// bits, so Tcp MaxConn -1 ("no limit") goes out as 0xFFFFFFFF.

const (
	grpIP = iota
	grpICMP
	grpTCP
	grpUDP
	nGroups
)

var groupPrefix = [nGroups]string{"Ip:", "Icmp:", "Tcp:", "Udp:"}
var groupRecord = [nGroups]string{"mib2_ip_group", "mib2_icmp_group", "mib2_tcp_group", "mib2_udp_group"}

// netSNMPFields maps each group's kernel field names to the record fields.
func netSNMPFields(ip *sflow.MIB2IPGroup, icmp *sflow.MIB2ICMPGroup, tcp *sflow.MIB2TCPGroup, udp *sflow.MIB2UDPGroup) [nGroups]map[string]*uint32 {
	return [nGroups]map[string]*uint32{
		grpIP: {
			"Forwarding": &ip.Forwarding, "DefaultTTL": &ip.DefaultTTL, "InReceives": &ip.InReceives,
			"InHdrErrors": &ip.InHdrErrors, "InAddrErrors": &ip.InAddrErrors, "ForwDatagrams": &ip.ForwDatagrams,
			"InUnknownProtos": &ip.InUnknownProtos, "InDiscards": &ip.InDiscards, "InDelivers": &ip.InDelivers,
			"OutRequests": &ip.OutRequests, "OutDiscards": &ip.OutDiscards, "OutNoRoutes": &ip.OutNoRoutes,
			"ReasmTimeout": &ip.ReasmTimeout, "ReasmReqds": &ip.ReasmReqds, "ReasmOKs": &ip.ReasmOKs,
			"ReasmFails": &ip.ReasmFails, "FragOKs": &ip.FragOKs, "FragFails": &ip.FragFails,
			"FragCreates": &ip.FragCreates,
		},
		grpICMP: {
			"InMsgs": &icmp.InMsgs, "InErrors": &icmp.InErrors, "InDestUnreachs": &icmp.InDestUnreachs,
			"InTimeExcds": &icmp.InTimeExcds, "InParmProbs": &icmp.InParamProbs, "InSrcQuenchs": &icmp.InSrcQuenchs,
			"InRedirects": &icmp.InRedirects, "InEchos": &icmp.InEchos, "InEchoReps": &icmp.InEchoReps,
			"InTimestamps": &icmp.InTimestamps, "InAddrMasks": &icmp.InAddrMasks, "InAddrMaskReps": &icmp.InAddrMaskReps,
			"OutMsgs": &icmp.OutMsgs, "OutErrors": &icmp.OutErrors, "OutDestUnreachs": &icmp.OutDestUnreachs,
			"OutTimeExcds": &icmp.OutTimeExcds, "OutParmProbs": &icmp.OutParamProbs, "OutSrcQuenchs": &icmp.OutSrcQuenchs,
			"OutRedirects": &icmp.OutRedirects, "OutEchos": &icmp.OutEchos, "OutEchoReps": &icmp.OutEchoReps,
			"OutTimestamps": &icmp.OutTimestamps, "OutTimestampReps": &icmp.OutTimestampReps,
			"OutAddrMasks": &icmp.OutAddrMasks, "OutAddrMaskReps": &icmp.OutAddrMaskReps,
		},
		grpTCP: {
			"RtoAlgorithm": &tcp.RtoAlgorithm, "RtoMin": &tcp.RtoMin, "RtoMax": &tcp.RtoMax, "MaxConn": &tcp.MaxConn,
			"ActiveOpens": &tcp.ActiveOpens, "PassiveOpens": &tcp.PassiveOpens, "AttemptFails": &tcp.AttemptFails,
			"EstabResets": &tcp.EstabResets, "CurrEstab": &tcp.CurrEstab, "InSegs": &tcp.InSegs,
			"OutSegs": &tcp.OutSegs, "RetransSegs": &tcp.RetransSegs, "InErrs": &tcp.InErrs,
			"OutRsts": &tcp.OutRsts, "InCsumErrors": &tcp.InCsumErrors,
		},
		grpUDP: {
			"InDatagrams": &udp.InDatagrams, "NoPorts": &udp.NoPorts, "InErrors": &udp.InErrors,
			"OutDatagrams": &udp.OutDatagrams, "RcvbufErrors": &udp.RcvbufErrors, "SndbufErrors": &udp.SndbufErrors,
			"InCsumErrors": &udp.InCsumErrors,
		},
	}
}

// pollNetSNMP fills the four MIB-2 records and reports which groups were
// found; err covers the groups that were not.
func (p *hostPoller) pollNetSNMP() (found [nGroups]bool, err error) {
	p.ip, p.icmp, p.tcp, p.udp = sflow.MIB2IPGroup{}, sflow.MIB2ICMPGroup{}, sflow.MIB2TCPGroup{}, sflow.MIB2UDPGroup{}
	b, rerr := p.rd.readKept(p.h.proc, "net/snmp", true)
	if rerr != nil {
		return found, fmt.Errorf("mib2 groups: %w", rerr)
	}
	var header []byte
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = textscan.NextLine(rest)
		prefix, _ := textscan.NextField(line)
		if header != nil {
			hp, names := textscan.NextField(header)
			if string(hp) == string(prefix) {
				header = nil
				g := groupOf(prefix)
				if g < 0 {
					continue
				}
				found[g] = true
				vals := line[len(prefix):]
				for {
					var name, val []byte
					name, names = textscan.NextField(names)
					val, vals = textscan.NextField(vals)
					if len(name) == 0 || len(val) == 0 {
						break
					}
					if dst, ok := p.netSNMP[g][string(name)]; ok {
						v, _ := parseInt(val)
						*dst = uint32(v)
					}
				}
				continue
			}
		}
		header = line
	}
	var errs []error
	for g := range found {
		if !found[g] {
			errs = append(errs, fmt.Errorf("%s: %w", groupRecord[g],
				p.rd.pathErr("parse", errors.New("no "+groupPrefix[g]+" lines"))))
		}
	}
	return found, errors.Join(errs...)
}

func groupOf(prefix []byte) int {
	for g, p := range groupPrefix {
		if string(prefix) == p {
			return g
		}
	}
	return -1
}

// Package sample takes packet samples where Open vSwitch does not: from
// an NFLOG group fed by an iptables/nftables rule, from AF_PACKET sockets
// that sample 1 in N in the kernel with a classic BPF program, from the
// kernel's psample multicast group (ASIC or tc sampling on switches), and
// from the kernel drop monitor (NET_DM). It exports four modules, one per
// hsflowd.conf block: NFLOG (nflog), Pcap (pcap), Psample (psample) and
// Dropmon (dropmon).
//
// Every sample is built by the same code (builder) and handed to the agent
// through agent.SubmitFlow, the path relayed OVS samples take: the agent
// runs the flow enrichers, sets the sequence number and source id, and
// packs the sample into a datagram.
//
// Flow samples use the data source 0:ifIndex of the interface the packet
// came in on (of the one it went out on when the input is unknown), as
// hsflowd does. How each method fills sample_pool and drops:
//
//   - nflog: the rate is the configured sampling rate rounded up to a
//     multiple of the rule's 1/probability (gwd sub-samples the rest in user
//     space); sample_pool grows by the rate with every sample and catches
//     up with the interface's packet counter (received for an input
//     sample, sent for an output-only one; counted from when gwd first
//     sampled on it, read from the kernel at most once a second) whenever
//     that counter says more. A rule that samples only some traffic of an
//     interface (-p icmp) therefore gets a pool of all its packets, as a
//     per-interface sampler would count them. drops counts netlink buffer
//     overruns (ENOBUFS).
//   - pcap: the rate is the BPF program's N; sample_pool grows by N for
//     every packet read and every one the socket dropped; drops is the
//     socket's PACKET_STATISTICS drop count.
//   - psample: the rate is the one the kernel reports per sample;
//     sample_pool grows by it; drops counts gaps in the group sequence.
//   - dropmon: discard samples (0:5) with the sFlow drop reason; drops counts
//     events skipped by the rate limit.
package sample

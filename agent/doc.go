// Package agent is the box's one sFlow agent: its identity (agent address,
// sub-agent, UUID), the registry of data sources, the poller schedule, the
// sequence numbers, the packing of samples into datagrams and the exporters
// that send them to collectors.
//
// The agent knows no source by name: host counters, OVS, GPUs and ASICs all
// reach it through Register (counter pollers) and, for relayed samples,
// through the same sequence and packing path. Which data source and
// sub-agent each kind of entity gets is decided here, in plan.go, and
// nowhere else.
package agent

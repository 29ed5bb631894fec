// Package ovs makes Open vSwitch's sFlow part of gwd's one agent.
//
// It programs OVS through OVSDB (libovsdb, never ovs-vsctl): the
// Programmer keeps exactly one sFlow row, marked
// external_ids:gwd-owner=gwd, attached to every managed bridge and pointed
// at gwd's loopback intake socket, converges it whenever bridges or
// settings change, survives ovsdb-server restarts and gwd crashes without
// duplicating the row, and removes it on a clean exit. It also keeps a view
// of the bridges and their ports (kernel ifIndex, OpenFlow port, speed).
// Each write stamps the writer's identity (gwd-host, gwd-pid, gwd-start)
// into the row; changes made by somebody else are corrected at a slowing
// pace, and of two gwd processes on one OVSDB the younger one yields the
// row to the older (owner.go).
//
// It then relays the datagrams OVS sends to that socket: their samples are
// handed to the agent, which re-sequences them and exports them under the
// box's identity (agent address, sub-agents, data sources). Anything else
// on loopback can send there too, so the relay passes on only what OVS can
// have sent: whole datagrams that decode completely, from allowed senders
// (and the agent address OVS was given), samples of known bridges that
// move forward as OVS's do within the OVS agent instance that sent them.
// What it rejects is counted, logged at most once per LogEvery and shown
// by Health; the sample_pool it sends per bridge never goes backwards.
package ovs

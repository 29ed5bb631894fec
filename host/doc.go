// Package host exports the Linux host's own counters to the agent: the host
// data source 2:1 (host_descr 2000, host_adapters 2001, host_cpu 2003,
// host_memory 2004, host_disk_io 2005, host_net_io 2006 and the MIB-2
// IP/ICMP/TCP/UDP groups 2007-2010) and one data source 0:<ifIndex> per
// physical interface, switch port or bond (if_counters 0:1,
// ethernet_counters 0:2, port_name 1005 and, where the module EEPROM can be
// read, sfp 0:10).
//
// Every file is read through the roots of Config (Proc, Sys, Etc), so the
// tests run on fixture trees under testdata/; the two things that are not
// files, statfs(2) of mounted filesystems and the transceiver EEPROM
// (ethtool), sit behind the small interfaces statfser and eepromReader.
//
// # Poll contract
//
// Pollers read the kernel's counters fresh on every Poll (nothing is
// accumulated or cached except what cannot change: UUID, os_release,
// machine type) and reuse their record structs and read buffers, so a poll
// allocates next to nothing. Each record is read independently: when a
// file is missing or malformed, Poll leaves out only the records that need
// it, still returns every record it could read, and returns an error that
// joins (errors.Join) one error per missing record, each naming the file
// (a *fs.PathError inside, so errors.Is(err, fs.ErrNotExist) works). A
// missing /proc/net/snmp therefore drops 2007-2010 and nothing else. An
// interface that vanished between two scans is not an error: its poller
// returns no records and asks for a rescan, which unregisters it.
//
// # Interface selection
//
// An interface gets a data source when it is
//   - physical: Sys/class/net/<if>/device exists (a NIC, also a virtio or
//     SR-IOV function),
//   - a switch port: phys_switch_id or phys_port_name reads non-empty
//     (switchdev ports, eswitch representors), or
//   - a bond master: Sys/class/net/<if>/bonding exists. hsflowd exports
//     bonds too (it synthesises LACP data for them); gwd exports the bond's
//     own kernel counters on its ifIndex.
//
// Loopback is always left out, and so are other virtual devices (veth,
// bridge, tun/tap, vlan, macvlan, vxlan, OVS internal ports, ifb, dummy)
// unless Include names them. Config's Include and Exclude regular
// expressions filter by name: Include set = only matching names, and a
// matching virtual device is selected too; Exclude wins. The selected set also makes
// host_net_io (all but bond masters, whose traffic is already counted on their
// slaves) and host_adapters (as hsflowd: the up ones with a MAC that are not
// switch ports or virtual devices, at most MaxAdapters = 32, lowest ifIndex
// first, so the host sample fits a datagram whatever the number of links).
package host

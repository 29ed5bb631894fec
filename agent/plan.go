package agent

import (
	"cmp"
	"fmt"
	"slices"
)

// The data-source plan: every sample gwd sends names its data source with
// one of these, so that no two entities of the box ever share a source id.
//
//	2:1              the host itself (host_* records, GPUs, ASIC device tables)
//	0:<ifIndex>      a kernel network interface, by its kernel ifIndex; OVS
//	                 numbers its ports the same way, so OVS port counters and
//	                 gwd's interface counters meet on the same source
//	2:(1000+n)       Open vSwitch bridge n (n stable per bridge name)
//	2:(2000+i)       NVIDIA GPU i, when per-GPU data sources are enabled
//	3:(100000+h)     a VM or container: h = FNV-1a(UUID or ID) mod 50000,
//	                 probing to the next free slot on collision; modules
//	                 get theirs from Agent.ClaimEntity (entity.go)
//
// The sub-agent plan: everything gwd sends, its own samples and the samples
// it relays, goes out under one agent address and sub-agent SubAgent
// (configurable, 0 by default), with one datagram sequence.

// DataSource is an sFlow data source: a type (0 ifIndex, 2 entPhysical
// entry, 3 virtual entity) and an index.
type DataSource struct {
	Type  uint32
	Index uint32
}

func (d DataSource) String() string { return fmt.Sprintf("%d:%d", d.Type, d.Index) }

// HostSource is the data source of the host itself.
var HostSource = DataSource{Type: 2, Index: 1}

// InterfaceSource is the data source of the kernel interface with ifIndex.
func InterfaceSource(ifIndex uint32) DataSource { return DataSource{Type: 0, Index: ifIndex} }

// BridgeSource is the data source of OVS bridge slot n (n < 1000).
func BridgeSource(n uint32) DataSource { return DataSource{Type: 2, Index: 1000 + n} }

// GPUSource is the data source of NVIDIA GPU i (its NVML index, the index
// nvidia-smi lists; i < 1000) when per-GPU data sources are enabled:
// 2:(2000+i). It carries one nvidia_gpu (5703:1) record with
// device_count 1. By default GPUs get no data source of their own: the
// 5703:1 aggregate of all GPUs rides on the host sample 2:1.
func GPUSource(i uint32) DataSource { return DataSource{Type: 2, Index: 2000 + i} }

// SortDataSources orders data sources for people: higher types first (the
// host 2:1 before interfaces 0:n), then by index.
func SortDataSources(ds []DataSource) {
	slices.SortFunc(ds, func(a, b DataSource) int {
		if a.Type != b.Type {
			return cmp.Compare(b.Type, a.Type)
		}
		return cmp.Compare(a.Index, b.Index)
	})
}

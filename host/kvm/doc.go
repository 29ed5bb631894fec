// Package kvm is the "kvm" module: the virtual machines of a KVM (or
// Nutanix AHV) hypervisor, read through libvirt's RPC protocol on its unix
// socket (read-only by default), with github.com/digitalocean/go-libvirt.
//
// Every running domain gets one data source 3:(100000 + hash(UUID) mod
// 50000), claimed through agent.ClaimEntity (the same UUID gets the same
// index on every start of gwd), whose counter sample carries host_descr
// (2000: the domain's name, UUID, OS and machine type when the domain XML
// says), host_parent (2002: the host, 2:1), virt_cpu (2101), virt_memory
// (2102), virt_disk_io (2103) and virt_net_io (2104). The host's own
// sample 2:1 gains virt_node (2100).
//
// The domain list is read every refresh interval; a domain that stopped
// keeps its data source for the forget interval (its sample then says
// state "shut off" with its last counters), and is dropped after it.
//
// The module also maps the host-side ports of each VM (the tap devices of
// the domain XML, and OVS interfaces whose external_ids name the VM, its
// MAC or its Neutron/AHV port id) to kernel ifIndexes, and tags the flow
// samples that enter or leave through them with extended_entities (2210).
// PCI devices passed through to a VM (<hostdev type='pci'>) are announced
// with agent.SetDeviceOwner, so that the GPU module reports such a GPU on
// the VM's sample.
//
// libvirt sits behind the small hypervisor interface (libvirt.go), so that
// unit tests run on a fake; the integration tests use a real libvirtd with
// its test driver.
package kvm

// Package containers reports containers (Docker, containerd, Kubernetes)
// as virtual entities: one counter sample each, from the data-source range
// 3:(100000 + hash(id) mod 50000) that the agent hands out (ClaimEntity),
// carrying host_descr (2000), host_parent (2002, the host 2:1), virt_cpu
// (2101), virt_memory (2102), virt_disk_io (2103) and, for a container with
// a network namespace of its own, virt_net_io (2104).
//
// Everything comes from cgroup v2 files under a root (/sys/fs/cgroup) and
// from procfs; no runtime API is called. The cgroup layouts recognised,
// relative to the root:
//
//	docker      system.slice/docker-<64 hex>.scope          (systemd driver)
//	            docker/<64 hex>                              (cgroupfs driver)
//	k8s         kubepods.slice/[kubepods-<qos>.slice/]kubepods-[<qos>-]pod<uid>.slice/
//	                cri-containerd-<id>.scope | crio-<id>.scope | docker-<id>.scope
//	            kubepods/[burstable|besteffort/]pod<uid>/<id> (cgroupfs driver)
//	containerd  <namespace>/<id>                             (ctr, cgroupfs; namespaces configured)
//	            system.slice/nerdctl-<64 hex>.scope          (nerdctl, systemd driver)
//
// (crio-conmon-<id>.scope, the monitor process of CRI-O, is not a
// container.)
//
// Names (host_descr's hostname): docker's "Name" from
// <docker_root>/containers/<id>/config.v2.json (or its Config.Hostname);
// Kubernetes' namespace/pod/container from the kubelet's log links
// /var/log/containers/<pod>_<namespace>_<container>-<id>.log (one
// directory read per scan); containerd's ID when it is not 64 hex digits
// (ctr's IDs are the names users give). Otherwise the 12-digit short ID.
// A container is in the host's network namespace when its first process's
// <proc>/<pid>/ns/net is gwd's own; it then has no virt_net_io. Each layout belongs to one module only, and a package-wide
// table keeps one entity per agent, so that two modules enabled together
// never export a container twice.
//
// The three Module values (docker, containerd, k8s) share the scanner and
// the poller; each selects its own layouts.
package containers

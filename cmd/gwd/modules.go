package main

import (
	"gwd/asic"
	"gwd/bgp"
	"gwd/gpu"
	"gwd/host"
	"gwd/host/containers"
	"gwd/host/kvm"
	"gwd/internal/app"
	"gwd/ovs"
	"gwd/sample"
	"gwd/web"
)

// modules are gwd's capabilities in start order; adding one is a line
// here (see docs/modules.md).
var modules = []app.Module{
	host.Module{},
	ovs.Module{},
	kvm.Module{},
	gpu.Module{},
	asic.Module{},
	containers.DockerModule{},
	containers.ContainerdModule{},
	containers.K8sModule{},
	sample.NFLOG,
	sample.Pcap,
	sample.Psample,
	sample.Dropmon,
	bgp.Module{},
	web.Module{}, // last: it shows the others
}

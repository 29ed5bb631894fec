package main

import (
	"gwd/asic"
	"gwd/gpu"
	"gwd/host"
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
	gpu.Module{},
	asic.Module{},
	sample.NFLOG,
	sample.Pcap,
	sample.Psample,
	sample.Dropmon,
	web.Module{}, // last: it shows the others
}

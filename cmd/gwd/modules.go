package main

import (
	"gwd/asic"
	"gwd/gpu"
	"gwd/host"
	"gwd/host/kvm"
	"gwd/internal/app"
	"gwd/ovs"
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
	web.Module{}, // last: it shows the others
}

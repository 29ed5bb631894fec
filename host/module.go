package host

import (
	"context"
	"fmt"
	"strconv"

	"gwd/agent"
	"gwd/config"
	"gwd/internal/app"
)

// Options are the host module's configuration keys (the `host` section).
type Options struct {
	Enabled    bool                   `key:"enabled" default:"true" doc:"send host (2:1) and interface (0:ifIndex) counters"`
	Interfaces config.InterfaceFilter `key:"interfaces"`
	ProcRoot   string                 `key:"proc_root" default:"/proc" check:"nonempty" type:"path" doc:"where procfs is read (containers: /host/proc; tests: fixtures)"`
	SysRoot    string                 `key:"sys_root" default:"/sys" check:"nonempty" type:"path" doc:"where sysfs is read"`
	EtcRoot    string                 `key:"etc_root" default:"/etc" check:"nonempty" type:"path" doc:"where /etc files (machine-id, os-release) are read"`
}

// ModuleMode implements config.Moder: the host module is on or off.
func (o *Options) ModuleMode() config.Mode {
	if o.Enabled {
		return config.On
	}
	return config.Off
}

// Module is the host module: host and interface counters.
type Module struct{}

// Section implements app.Module.
func (Module) Section() config.Section {
	return config.Section{Name: "host", Path: "host", Value: &Options{},
		Doc: "Host counters (data source `2:1`) and interface counters (`0:<ifIndex>`) of physical, switch-port and bond interfaces."}
}

// Start implements app.Module.
func (Module) Start(ctx context.Context, env app.Env) (app.Instance, error) {
	o := config.Get[Options](env.Config)
	c := Config{Proc: o.ProcRoot, Sys: o.SysRoot, Etc: o.EtcRoot}
	var err error
	if c.Include, c.Exclude, err = o.Interfaces.Regexps(); err != nil {
		return nil, fmt.Errorf("host.interfaces: %w", err)
	}
	h, err := New(c, env.Log)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", app.ErrAbsent, err)
	}
	h.Start(ctx, env.Agent)
	return &instance{h: h, opts: *o}, nil
}

type instance struct {
	h    *Host
	opts Options
}

// Reload says that host settings take effect after a restart.
func (i *instance) Reload(cfg *config.Config) error {
	return app.RestartIfChanged(cfg, Module{}.Section(), i.opts)
}

func (i *instance) Wait() { <-i.h.done }

// Describe implements app.Describer.
func (i *instance) Describe() string {
	return strconv.Itoa(len(i.h.Interfaces())) + " interfaces"
}

// Labels implements app.Labeler: the host, and interface names for
// 0:ifIndex.
func (i *instance) Labels() map[agent.DataSource]string {
	ifs := i.h.Interfaces()
	out := make(map[agent.DataSource]string, len(ifs)+1)
	out[agent.HostSource] = "the host"
	for _, f := range ifs {
		out[agent.InterfaceSource(f.IfIndex)] = "interface " + f.Name
	}
	return out
}

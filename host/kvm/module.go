package kvm

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"gwd/agent"
	"gwd/config"
	"gwd/internal/app"
)

// Options are the kvm module's configuration keys (modules.kvm).
type Options struct {
	Enabled config.Mode   `key:"enabled" default:"auto" hsdefault:"false" doc:"libvirt VMs (KVM, Nutanix AHV): one data source per running VM; auto: when libvirtd's socket exists (also later)"`
	Socket  string        `key:"socket" default:"/var/run/libvirt/libvirt-sock-ro" check:"nonempty" type:"path" doc:"libvirtd's unix socket (the read-only one: gwd never changes anything)"`
	URI     string        `key:"uri" default:"qemu:///system" check:"nonempty" doc:"the libvirt driver to open"`
	Refresh time.Duration `key:"refresh_vms" default:"60s" min:"1s" max:"1h" check:"seconds" hsflowd:"refreshVMs" type:"duration, whole seconds" doc:"how often the VM list and each VM's description are read (new VMs appear, stopped ones start their grace period); hsflowd.conf: 60..3600 s"`
	Forget  time.Duration `key:"forget_vms" default:"180s" min:"1s" check:"seconds" hsflowd:"forgetVMs" type:"duration, whole seconds" doc:"how long a stopped VM keeps its data source (its sample says shut off) before it is dropped"`
	OVSDB   string        `key:"ovsdb" default:"unix:/var/run/openvswitch/db.sock" type:"unix:PATH, tcp:HOST:PORT, or empty" doc:"OVSDB server whose Interface external_ids (vm-uuid, vm-id, iface-id, attached-mac) map OVS ports to VMs; empty: ports from the VMs' descriptions only"`
}

// ModuleMode implements config.Moder.
func (o *Options) ModuleMode() config.Mode { return o.Enabled }

// Module is the kvm module.
type Module struct{}

// Section implements app.Module.
func (Module) Section() config.Section {
	return config.Section{Name: "kvm", Path: "modules.kvm", Hsflowd: "kvm", Value: &Options{},
		Doc: "Virtual machines of a KVM or Nutanix AHV hypervisor through libvirt: one data source 3:(100000+hash(UUID) mod 50000) per running VM (2000, 2002, 2101-2104), virt_node (2100) on the host's 2:1, extended_entities (2210) on flows through VM ports, passed-through GPUs on their VM's sample."}
}

// RetryEvery implements app.Retrier: under auto, libvirtd may start after
// gwd.
func (Module) RetryEvery() time.Duration { return 10 * time.Second }

// Start implements app.Module. A missing libvirt socket is absent; a
// socket that refuses gwd (permission denied, libvirtd down) is not: the
// module then starts, says why in its health, and keeps trying.
func (Module) Start(ctx context.Context, env app.Env) (app.Instance, error) {
	o := config.Get[Options](env.Config)
	if _, err := os.Stat(o.Socket); err != nil {
		return nil, fmt.Errorf("%w: libvirt socket: %w", app.ErrAbsent, err)
	}
	src := New(Config{
		Socket: o.Socket, URI: o.URI, Refresh: o.Refresh, Forget: o.Forget,
		Sample: env.Config.Polling, OVSDB: o.OVSDB,
	}, env.Log)
	src.Start(ctx, env.Agent)
	return &instance{src: src, opts: *o}, nil
}

type instance struct {
	src  *Source
	opts Options
}

// Reload says that kvm settings take effect after a restart.
func (i *instance) Reload(cfg *config.Config) error {
	return app.RestartIfChanged(cfg, Module{}.Section(), i.opts)
}

func (i *instance) Wait() { <-i.src.Done() }

// Describe implements app.Describer.
func (i *instance) Describe() string {
	if !i.src.Connected() {
		return "libvirt " + i.opts.Socket + " not answering yet"
	}
	return strconv.Itoa(i.src.Count()) + " VMs"
}

// Labels implements app.Labeler: VM names for their data sources.
func (i *instance) Labels() map[agent.DataSource]string { return i.src.Domains() }

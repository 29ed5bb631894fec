package containers

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"gwd/agent"
	"gwd/config"
	"gwd/internal/app"
)

// DockerOptions are the docker module's keys (modules.docker; hsflowd.conf
// `docker { }`).
type DockerOptions struct {
	Enabled     config.Mode   `key:"enabled" default:"auto" hsdefault:"false" doc:"Docker containers from cgroup v2 (system.slice/docker-<id>.scope, docker/<id>); auto: when cgroup v2 is mounted at cgroup_root and docker is installed (docker_root or /run/docker.sock exists; checked every 30s)"`
	CgroupRoot  string        `key:"cgroup_root" default:"/sys/fs/cgroup" check:"nonempty" type:"path" doc:"the cgroup v2 mount"`
	ProcRoot    string        `key:"proc_root" default:"/proc" check:"nonempty" type:"path" doc:"procfs (a container's network counters: <proc_root>/<pid>/net/dev)"`
	DockerRoot  string        `key:"docker_root" default:"/var/lib/docker" type:"path" doc:"docker's data directory: container names from containers/<id>/config.v2.json (\"\": short IDs)"`
	Hostname    bool          `key:"hostname" hsflowd:"hostname" doc:"name a container by its hostname (Config.Hostname) instead of its name in host_descr"`
	Refresh     time.Duration `key:"refresh" default:"10s" hsdefault:"60s" min:"1s" max:"1h" check:"seconds" hsflowd:"refreshVMs" doc:"how often the cgroup tree is scanned for containers"`
	Forget      time.Duration `key:"forget" default:"3m" min:"1s" max:"24h" check:"seconds" hsflowd:"forgetVMs" doc:"a vanished container keeps its data source this long (a restart within it continues its sequence)"`
	MarkTraffic bool          `key:"mark_traffic" hsflowd:"markTraffic" doc:"hsflowd's attribution of sampled packets to containers; not done by gwd yet (a warning when on)"`
}

// ContainerdOptions are the containerd module's keys (modules.containerd;
// hsflowd.conf `containerd { }`).
type ContainerdOptions struct {
	Enabled     config.Mode   `key:"enabled" default:"auto" hsdefault:"false" doc:"containerd containers outside Kubernetes (<namespace>/<id>, system.slice/nerdctl-<id>.scope); auto: when cgroup v2 is mounted at cgroup_root and containerd is installed (/run/containerd/containerd.sock or /var/lib/containerd exists; checked every 30s)"`
	CgroupRoot  string        `key:"cgroup_root" default:"/sys/fs/cgroup" check:"nonempty" type:"path" doc:"the cgroup v2 mount"`
	ProcRoot    string        `key:"proc_root" default:"/proc" check:"nonempty" type:"path" doc:"procfs"`
	Namespaces  []string      `key:"namespaces" default:"default" type:"list of paths" doc:"cgroup directories under cgroup_root whose subdirectories are containers (ctr's cgroupfs layout: one per containerd namespace)"`
	Hostname    bool          `key:"hostname" hsflowd:"hostname" doc:"accepted for hsflowd.conf; containerd containers are named by their ID (the name ctr was given, or the short ID)"`
	Refresh     time.Duration `key:"refresh" default:"10s" min:"1s" max:"1h" check:"seconds" doc:"how often the cgroup tree is scanned for containers (hsflowd follows containerd's events instead)"`
	Forget      time.Duration `key:"forget" default:"3m" min:"1s" max:"24h" check:"seconds" hsflowd:"forgetVMs" doc:"a vanished container keeps its data source this long"`
	MarkTraffic bool          `key:"mark_traffic" hsflowd:"markTraffic" doc:"hsflowd's attribution of sampled packets to containers; not done by gwd yet (a warning when on)"`
}

// K8sOptions are the k8s module's keys (modules.k8s; hsflowd.conf
// `k8s { }`).
type K8sOptions struct {
	Enabled     config.Mode   `key:"enabled" default:"auto" hsdefault:"false" doc:"Kubernetes pod containers (kubepods.slice/..., kubepods/...); auto: when cgroup v2 is mounted at cgroup_root and the kubelet is installed (log_dir or /var/lib/kubelet exists; checked every 30s)"`
	CgroupRoot  string        `key:"cgroup_root" default:"/sys/fs/cgroup" check:"nonempty" type:"path" doc:"the cgroup v2 mount"`
	ProcRoot    string        `key:"proc_root" default:"/proc" check:"nonempty" type:"path" doc:"procfs"`
	LogDir      string        `key:"log_dir" default:"/var/log/containers" type:"path" doc:"the kubelet's container log links <pod>_<namespace>_<container>-<id>.log: names (\"\": short IDs)"`
	Refresh     time.Duration `key:"refresh" default:"10s" min:"1s" max:"1h" check:"seconds" doc:"how often the cgroup tree is scanned for containers (hsflowd follows containerd's events instead)"`
	Forget      time.Duration `key:"forget" default:"3m" min:"1s" max:"24h" check:"seconds" doc:"a vanished container keeps its data source this long"`
	MarkTraffic bool          `key:"mark_traffic" hsflowd:"markTraffic" doc:"hsflowd's attribution of sampled packets to pods; not done by gwd yet (a warning when on)"`
	// hsflowd's other k8s settings, read so that its files load; gwd does
	// not act on them.
	Unixsock   string `key:"unixsock" hsflowd:"unixsock" type:"path" doc:"hsflowd: containerd's socket for its helper; not used (gwd reads cgroups, not the runtime)"`
	SetIfName  bool   `key:"set_if_name" hsflowd:"setIfName" doc:"hsflowd: name pods' host-side interfaces after the pod; not done by gwd"`
	SetIfAlias bool   `key:"set_if_alias" hsflowd:"setIfAlias" doc:"hsflowd: set pods' host-side interface aliases; not done by gwd"`
	EOF        bool   `key:"eof" hsflowd:"eof" doc:"hsflowd: a debugging switch of its helper; not used"`
}

// ModuleMode implements config.Moder.
func (o *DockerOptions) ModuleMode() config.Mode { return o.Enabled }

// ModuleMode implements config.Moder.
func (o *ContainerdOptions) ModuleMode() config.Mode { return o.Enabled }

// ModuleMode implements config.Moder.
func (o *K8sOptions) ModuleMode() config.Mode { return o.Enabled }

// DockerModule, ContainerdModule and K8sModule are the three modules.
type (
	DockerModule     struct{}
	ContainerdModule struct{}
	K8sModule        struct{}
)

// Section implements app.Module.
func (DockerModule) Section() config.Section {
	return config.Section{Name: "docker", Path: "modules.docker", Hsflowd: "docker", Value: &DockerOptions{},
		Doc: "Docker containers through cgroup v2: one counter sample each (`3:(100000+n)`) with host_descr, host_parent, virt_cpu, virt_memory, virt_disk_io, virt_net_io."}
}

// Section implements app.Module.
func (ContainerdModule) Section() config.Section {
	return config.Section{Name: "containerd", Path: "modules.containerd", Hsflowd: "containerd", Value: &ContainerdOptions{},
		Doc: "containerd containers outside Kubernetes through cgroup v2: one counter sample each, as docker."}
}

// Section implements app.Module.
func (K8sModule) Section() config.Section {
	return config.Section{Name: "k8s", Path: "modules.k8s", Hsflowd: "k8s", Value: &K8sOptions{},
		Doc: "Kubernetes pod containers through cgroup v2: one counter sample per container, named namespace/pod/container."}
}

// RetryEvery implements app.Retrier: under auto, a runtime installed after
// gwd started is found within this time.
func (DockerModule) RetryEvery() time.Duration { return runtimeRetry }

// RetryEvery implements app.Retrier.
func (ContainerdModule) RetryEvery() time.Duration { return runtimeRetry }

// RetryEvery implements app.Retrier.
func (K8sModule) RetryEvery() time.Duration { return runtimeRetry }

const runtimeRetry = 30 * time.Second

// Where each runtime shows that it is installed, for enabled: auto (with
// cgroup v2 everywhere, the cgroup tree alone does not say it): any one
// of these existing. docker's data directory (docker_root) counts too,
// and the kubelet's container log directory (log_dir) for k8s.
var (
	dockerSigns     = []string{"/run/docker.sock", "/var/run/docker.sock"}
	containerdSigns = []string{"/run/containerd/containerd.sock", "/var/lib/containerd"}
	k8sSigns        = []string{"/var/lib/kubelet"}
)

// present returns nil when one of the paths exists (empty ones are
// skipped), else an app.ErrAbsent error naming what was looked for.
func present(runtime string, paths ...string) error {
	var looked []string
	for _, p := range paths {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return nil
		}
		looked = append(looked, p)
	}
	return fmt.Errorf("%w: %s not installed (none of %s)", app.ErrAbsent, runtime, strings.Join(looked, ", "))
}

// Start implements app.Module.
func (DockerModule) Start(ctx context.Context, env app.Env) (app.Instance, error) {
	o := config.Get[DockerOptions](env.Config)
	return start(ctx, env, o.Enabled, func() error { return present("docker", append([]string{o.DockerRoot}, dockerSigns...)...) },
		DockerModule{}.Section(), Config{Kind: Docker, CgroupRoot: o.CgroupRoot, ProcRoot: o.ProcRoot, DockerRoot: o.DockerRoot,
			UseHostname: o.Hostname, Refresh: o.Refresh, Forget: o.Forget}, o.MarkTraffic, *o)
}

// Start implements app.Module.
func (ContainerdModule) Start(ctx context.Context, env app.Env) (app.Instance, error) {
	o := config.Get[ContainerdOptions](env.Config)
	return start(ctx, env, o.Enabled, func() error { return present("containerd", containerdSigns...) },
		ContainerdModule{}.Section(), Config{Kind: Containerd, CgroupRoot: o.CgroupRoot, ProcRoot: o.ProcRoot, Namespaces: o.Namespaces,
			Refresh: o.Refresh, Forget: o.Forget}, o.MarkTraffic, *o)
}

// Start implements app.Module.
func (K8sModule) Start(ctx context.Context, env app.Env) (app.Instance, error) {
	o := config.Get[K8sOptions](env.Config)
	return start(ctx, env, o.Enabled, func() error { return present("kubernetes (kubelet)", append([]string{o.LogDir}, k8sSigns...)...) },
		K8sModule{}.Section(), Config{Kind: K8s, CgroupRoot: o.CgroupRoot, ProcRoot: o.ProcRoot, LogDir: o.LogDir,
			Refresh: o.Refresh, Forget: o.Forget}, o.MarkTraffic, *o)
}

// start checks for cgroup v2 and, under enabled: auto, that the runtime
// is installed (installed: app.ErrAbsent when not), scans once, and runs
// the watcher until ctx ends.
func start(ctx context.Context, env app.Env, mode config.Mode, installed func() error, sec config.Section, c Config, mark bool, opts any) (app.Instance, error) {
	dir, hybrid, err := ResolveCgroup2(c.CgroupRoot)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", app.ErrAbsent, err)
	}
	if mode == config.Auto {
		if err := installed(); err != nil {
			return nil, err
		}
	}
	if hybrid {
		env.Log.Info("hybrid cgroup host: reading the cgroup v2 tree; counters of controllers left on v1 are unknown",
			"cgroup_root", c.CgroupRoot, "v2", dir)
	}
	c.CgroupRoot = dir
	if mark {
		env.Log.Warn("mark_traffic (markTraffic) is not implemented: sampled packets are not attributed to containers")
	}
	w := NewWatcher(c, env.Agent, env.Log)
	w.Refresh(time.Now())
	go w.Run(ctx)
	return &instance{w: w, opts: opts, sec: sec}, nil
}

type instance struct {
	w    *Watcher
	opts any
	sec  config.Section
}

// Reload says that changed settings take effect after a restart.
func (i *instance) Reload(cfg *config.Config) error {
	return app.RestartIfChanged(cfg, i.sec, i.opts)
}

func (i *instance) Wait() { <-i.w.Done() }

// Describe implements app.Describer.
func (i *instance) Describe() string { return strconv.Itoa(i.w.Count()) + " containers" }

// Labels implements app.Labeler.
func (i *instance) Labels() map[agent.DataSource]string { return i.w.Labels() }

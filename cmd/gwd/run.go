package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"gwd/agent"
	"gwd/asic"
	"gwd/config"
	"gwd/gpu"
	"gwd/host"
)

// defaultConfigPath is read by `gwd run` when --config is not given; when
// it does not exist the embedded default configuration is used.
const defaultConfigPath = "/etc/gwd/gwd.yaml"

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

type runFlags struct {
	config     string
	collectors multiFlag
	polling    time.Duration
	logLevel   string
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f runFlags
	fs.StringVar(&f.config, "config", "", "configuration `file`: gwd YAML or hsflowd.conf (default "+defaultConfigPath+", else the built-in default)")
	fs.Var(&f.collectors, "collector", "send to `host:port` instead of the configured collectors (repeat for several)")
	fs.DurationVar(&f.polling, "polling", 0, "counter polling `interval` (overrides the configuration)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log `level`: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		fmt.Fprintf(stderr, "gwd run: bad --log-level %q\n", f.logLevel)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	cfg, source, err := loadConfig(f)
	if err != nil {
		fmt.Fprintf(stderr, "gwd run: %v\n", err)
		return 2
	}
	for _, w := range cfg.Warnings {
		log.Warn("configuration", "file", source, "warning", w)
	}
	acfg, err := cfg.Agent(resolveHost)
	if err != nil {
		fmt.Fprintf(stderr, "gwd run: %s: %v\n", source, err)
		return 2
	}
	a, err := agent.New(acfg, agent.SystemAddresses{}, log)
	if err != nil {
		fmt.Fprintf(stderr, "gwd run: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	hostSrc, err := startHost(ctx, cfg, a, log)
	if err != nil {
		fmt.Fprintf(stderr, "gwd run: %v\n", err)
		return 1
	}
	a.Elect()
	var ovsRun atomic.Pointer[ovsRunner]
	if err := watchOVS(ctx, cfg, a, log, func(r *ovsRunner) { ovsRun.Store(r) }); err != nil {
		fmt.Fprintf(stderr, "gwd run: ovs: %v\n", err)
		return 1
	}
	startGPU(ctx, cfg, a, log)
	if err := startASIC(ctx, cfg, a, log); err != nil {
		fmt.Fprintf(stderr, "gwd run: asic: %v\n", err)
		return 1
	}
	printSummary(stdout, source, cfg, a, hostSrc)
	if r := ovsRun.Load(); r != nil {
		fmt.Fprintf(stdout, "  ovs             %s, relaying from %s\n", cfg.Modules.OVS.OVSDB, r.relay.Addr())
	} else if cfg.Modules.OVS.Enabled == config.Auto {
		fmt.Fprintf(stdout, "  ovs             waiting for %s\n", cfg.Modules.OVS.OVSDB)
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if next := reload(f, a, log); next != nil {
					ovsRun.Load().Reload(next)
					warnRestartNeeded(cfg, next, log)
				}
			}
		}
	}()
	if err := a.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "gwd run: %v\n", err)
		return 1
	}
	ovsRun.Load().Wait(5 * time.Second)
	for _, c := range a.Collectors() {
		log.Info("collector totals", "collector", c.Collector, "datagrams", c.Datagrams, "bytes", c.Bytes, "errors", c.Errors)
	}
	log.Info("stopped")
	return 0
}

// loadConfig reads the configuration file (or the built-in default) and
// applies the command-line overrides.
func loadConfig(f runFlags) (*config.Config, string, error) {
	path := f.config
	if path == "" {
		if _, err := os.Stat(defaultConfigPath); err == nil {
			path = defaultConfigPath
		}
	}
	var cfg *config.Config
	source := "built-in default configuration"
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, path, err
		}
		if cfg, err = config.Parse(path, data); err != nil {
			return nil, path, err
		}
		source = path
	} else {
		cfg = config.Default()
	}
	if len(f.collectors) > 0 {
		cfg.Collectors = nil
		for _, c := range f.collectors {
			h, p, err := net.SplitHostPort(c)
			if err != nil {
				return nil, source, fmt.Errorf("--collector %q: want host:port: %w", c, err)
			}
			port, err := strconv.ParseUint(p, 10, 16)
			if err != nil || port == 0 {
				return nil, source, fmt.Errorf("--collector %q: bad port %q", c, p)
			}
			cfg.Collectors = append(cfg.Collectors, config.Collector{Address: h, Port: uint16(port)})
		}
	}
	if f.polling != 0 {
		if f.polling < time.Second || f.polling%time.Second != 0 {
			return nil, source, fmt.Errorf("--polling %v: want whole seconds, at least 1s", f.polling)
		}
		cfg.Polling = f.polling
	}
	return cfg, source, nil
}

// resolveHost turns a collector's host name or address into an address.
func resolveHost(h string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(h); err == nil {
		return a, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", h)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("%s has no address", h)
	}
	return addrs[0].Unmap(), nil
}

// startHost starts the host and interface counters when enabled.
func startHost(ctx context.Context, cfg *config.Config, a *agent.Agent, log *slog.Logger) (*host.Host, error) {
	if !cfg.Host.Enabled {
		return nil, nil
	}
	hc := host.Config{Proc: cfg.Host.ProcRoot, Sys: cfg.Host.SysRoot, Etc: cfg.Host.EtcRoot}
	var err error
	if hc.Include, hc.Exclude, err = cfg.Host.Interfaces.Regexps(); err != nil {
		return nil, fmt.Errorf("host.interfaces: %w", err)
	}
	h, err := host.New(hc, log.With("source", "host"))
	if err != nil {
		return nil, err
	}
	h.Start(ctx, a)
	return h, nil
}

// reload re-reads the configuration on SIGHUP; a bad file keeps the running
// configuration and says why.
func reload(f runFlags, a *agent.Agent, log *slog.Logger) *config.Config {
	cfg, source, err := loadConfig(f)
	if err == nil {
		var acfg agent.Config
		if acfg, err = cfg.Agent(resolveHost); err == nil {
			err = a.Reconfigure(acfg)
		}
	}
	if err != nil {
		log.Error("reload failed: keeping the running configuration", "file", source, "err", err)
		return nil
	}
	log.Info("configuration reloaded", "file", source, "collectors", len(cfg.Collectors), "polling", cfg.Polling)
	return cfg
}

// warnRestartNeeded says which reloaded settings only take effect after a
// restart: the sources are started once, with the configuration gwd began
// with (collectors, polling, agent address and OVS's row follow a reload).
func warnRestartNeeded(old, next *config.Config, log *slog.Logger) {
	var what []string
	if !reflect.DeepEqual(old.Host, next.Host) {
		what = append(what, "host")
	}
	if !reflect.DeepEqual(old.Modules.NVML, next.Modules.NVML) {
		what = append(what, "modules.nvml")
	}
	if !reflect.DeepEqual(old.Modules.ASIC, next.Modules.ASIC) {
		what = append(what, "modules.asic")
	}
	o, n := old.Modules.OVS, next.Modules.OVS
	if o.Enabled != n.Enabled || o.OVSDB != n.OVSDB || o.Policy != n.Policy || !reflect.DeepEqual(o.Bridges, n.Bridges) || !reflect.DeepEqual(o.Allow, n.Allow) {
		what = append(what, "modules.ovs (other than polling, sampling, header size)")
	}
	if len(what) > 0 {
		log.Warn("reloaded settings that need a restart of gwd to apply", "sections", strings.Join(what, ", "))
	}
}

// printSummary tells the user, on start, what gwd is doing.
func printSummary(w io.Writer, source string, cfg *config.Config, a *agent.Agent, h *host.Host) {
	e := a.Address()
	fmt.Fprintf(w, "gwd %s running with %s, polling every %v\n", version, source, cfg.Polling)
	if e.Addr.IsValid() {
		fmt.Fprintf(w, "  agent address   %s (%s)\n", e.Addr, e.Reason)
	} else {
		fmt.Fprintf(w, "  agent address   none: %s; nothing is sent until one appears\n", e.Reason)
	}
	dss := a.DataSources()
	keys := make([]agent.DataSource, 0, len(dss))
	for ds := range dss {
		keys = append(keys, ds)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Type != keys[j].Type {
			return keys[i].Type > keys[j].Type
		}
		return keys[i].Index < keys[j].Index
	})
	names := map[uint32]string{}
	if h != nil {
		for _, i := range h.Interfaces() {
			names[i.IfIndex] = i.Name
		}
	}
	fmt.Fprintf(w, "  data sources    %d\n", len(keys))
	for _, ds := range keys {
		what := strings.Join(dss[ds], "+")
		if ds == agent.HostSource {
			what += ", the host"
		} else if n := names[ds.Index]; ds.Type == 0 && n != "" {
			what += ", interface " + n
		}
		fmt.Fprintf(w, "    %-12s %s\n", ds, what)
	}
	cs := a.Collectors()
	fmt.Fprintf(w, "  collectors      %d\n", len(cs))
	for _, c := range cs {
		fmt.Fprintf(w, "    %s\n", c.Collector)
	}
}

// startGPU starts the NVML source unless it is off. Without NVML (no
// driver, or a build without cgo) the source reports itself unhealthy once
// and everything else runs.
func startGPU(ctx context.Context, cfg *config.Config, a *agent.Agent, log *slog.Logger) {
	if cfg.Modules.NVML.Enabled == config.Off {
		return
	}
	src := gpu.New(gpu.Config{PerGPU: cfg.Modules.NVML.PerGPU}, log.With("source", gpu.SourceName))
	if err := src.Start(ctx, a); err != nil && !errors.Is(err, gpu.ErrUnavailable) {
		log.Error("gpu source failed", "err", err)
	}
}

// startASIC starts the switch-ASIC source unless it is off. A backend that
// fails is the source's own problem: it reports itself unhealthy.
func startASIC(ctx context.Context, cfg *config.Config, a *agent.Agent, log *slog.Logger) error {
	m := cfg.Modules.ASIC
	if m.Enabled == config.Off {
		return nil
	}
	backends := m.Backends
	if m.Enabled == config.On && (len(backends) == 0 || (len(backends) == 1 && backends[0] == "auto")) {
		backends = []string{"auto"}
	}
	src, err := asic.New(asic.Config{
		Backends: backends, Interval: m.Interval, SysRoot: m.SysRoot, CumulusDir: m.CumulusDir,
		SONiC: asic.SONiCConfig{DBConfig: m.SONiC.DBConfig, Transport: m.SONiC.Transport, Watermarks: m.SONiC.Watermarks,
			MulticastPools: m.SONiC.MulticastPools, Timeout: m.SONiC.Timeout},
		SNMP: asic.SNMPConfig{Target: m.SNMP.Target, Version: m.SNMP.Version, Community: m.SNMP.Community,
			User: m.SNMP.User, AuthProtocol: m.SNMP.AuthProtocol, AuthPassphrase: m.SNMP.AuthPassphrase,
			PrivProtocol: m.SNMP.PrivProtocol, PrivPassphrase: m.SNMP.PrivPassphrase, Context: m.SNMP.ContextName,
			Timeout: m.SNMP.Timeout, Retries: int(m.SNMP.Retries), Map: m.SNMP.Map},
	}, log.With("source", "asic"))
	if err != nil {
		return err
	}
	return src.Start(ctx, a)
}

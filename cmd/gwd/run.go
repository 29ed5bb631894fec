package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"gwd/agent"
	"gwd/config"
	"gwd/internal/app"
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
	acfg, err := app.AgentConfig(cfg, resolveHost)
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
	a.Elect()
	rt := app.New(modules, a, log)
	if err := rt.Start(ctx, cfg); err != nil {
		fmt.Fprintf(stderr, "gwd run: %v\n", err)
		stop()
		rt.Wait(5 * time.Second)
		return 1
	}
	rt.Summary(stdout, fmt.Sprintf("gwd %s running with %s, polling every %v", version, source, cfg.Polling))

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reload(f, rt, log)
			}
		}
	}()
	if err := a.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "gwd run: %v\n", err)
		return 1
	}
	rt.Wait(5 * time.Second)
	for _, c := range a.Collectors() {
		log.Info("collector totals", "collector", c.Collector, "datagrams", c.Datagrams, "bytes", c.Bytes, "errors", c.Errors)
	}
	log.Info("stopped")
	return 0
}

// loadConfig reads the configuration file (or the built-in default) with
// every module's section, and applies the command-line overrides.
func loadConfig(f runFlags) (*config.Config, string, error) {
	path := f.config
	if path == "" {
		if _, err := os.Stat(defaultConfigPath); err == nil {
			path = defaultConfigPath
		}
	}
	sections := app.Sections(modules)
	cfg := config.Default(sections...)
	source := "built-in default configuration"
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, path, err
		}
		if cfg, err = config.Parse(path, data, sections...); err != nil {
			return nil, path, err
		}
		source = path
	}
	if len(f.collectors) > 0 {
		cfg.Collectors = nil
		for _, c := range f.collectors {
			col := config.Collector{Port: config.DefaultPort}
			if _, _, err := net.SplitHostPort(c); err != nil {
				return nil, source, fmt.Errorf("--collector %q: want host:port: %w", c, err)
			}
			if err := col.UnmarshalShorthand(c); err != nil {
				return nil, source, fmt.Errorf("--collector %q: %w", c, err)
			}
			cfg.Collectors = append(cfg.Collectors, col)
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

// reload re-reads the configuration on SIGHUP; a bad file keeps the running
// configuration and says why.
func reload(f runFlags, rt *app.Runtime, log *slog.Logger) {
	cfg, source, err := loadConfig(f)
	if err == nil {
		var acfg agent.Config
		if acfg, err = app.AgentConfig(cfg, resolveHost); err == nil {
			err = rt.Reload(cfg, acfg)
		}
	}
	if err != nil {
		log.Error("reload failed: keeping the running configuration", "file", source, "err", err)
		return
	}
	log.Info("configuration reloaded", "file", source, "collectors", len(cfg.Collectors), "polling", cfg.Polling)
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"gwd/agent"
	"gwd/internal/app"
	"gwd/internal/footprint"
	"gwd/internal/instance"
)

// multiFlag collects a repeated string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func cmdRun(args []string, stdout, stderr io.Writer) int {
	started := time.Now()
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o app.Overrides
	path := fs.String("config", "", "configuration `file`: gwd YAML or hsflowd.conf (default "+app.DefaultConfigPath+", else the built-in default)")
	fs.Var((*multiFlag)(&o.Collectors), "collector", "send to `host:port` instead of the configured collectors (repeat for several)")
	fs.DurationVar(&o.Polling, "polling", 0, "counter polling `interval` (overrides the configuration)")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn, error")
	runDir := fs.String("run-dir", instance.DefaultDir, "`directory` of the pid file that keeps a second gwd from starting")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	oneProc()
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "gwd run: bad --log-level %q\n", *logLevel)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	lock, err := instance.Acquire(*runDir)
	if errors.Is(err, os.ErrPermission) && *runDir == instance.DefaultDir {
		lock, err = instance.Acquire(filepath.Join(os.TempDir(), fmt.Sprintf("gwd-%d", os.Getuid()))) // not root
	}
	if err != nil {
		fmt.Fprintf(stderr, "gwd run: %v\n", err)
		return 1
	}
	defer lock.Release()

	cfg, source, err := app.Load(*path, modules, o)
	if err != nil {
		fmt.Fprintf(stderr, "gwd run: %v\n", err)
		return 2
	}
	for _, w := range cfg.Warnings {
		log.Warn("configuration", "file", source, "warning", w)
	}
	acfg, err := app.AgentConfig(cfg, app.ResolveHost)
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
	rt.SetProcess(app.Process{Version: version, Started: started, Reload: func() error { return reload(*path, o, rt, log) }})
	if err := rt.Start(ctx, cfg); err != nil {
		fmt.Fprintf(stderr, "gwd run: %v\n", err)
		stop()
		rt.Wait(5 * time.Second)
		return 1
	}
	rt.Summary(stdout, fmt.Sprintf("gwd %s running with %s, polling every %v", version, source, cfg.Polling))
	if n, err := footprint.ReleaseStartupPages(); err != nil {
		log.Debug("start-up pages not released", "err", err)
	} else {
		log.Debug("start-up pages released", "bytes", n)
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
				_ = reload(*path, o, rt, log) // logged there
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

var reloadMu sync.Mutex

// reload re-reads the configuration on SIGHUP (and POST /api/v1/reload); a
// bad file keeps the running configuration and says why.
func reload(path string, o app.Overrides, rt *app.Runtime, log *slog.Logger) error {
	reloadMu.Lock() // SIGHUP and the web page's reload, one at a time
	defer reloadMu.Unlock()
	cfg, source, err := app.Load(path, modules, o)
	if err == nil {
		var acfg agent.Config
		if acfg, err = app.AgentConfig(cfg, app.ResolveHost); err == nil {
			err = rt.Reload(cfg, acfg)
		}
	}
	if err != nil {
		log.Error("reload failed: keeping the running configuration", "file", source, "err", err)
		return fmt.Errorf("%s: %w", source, err)
	}
	log.Info("configuration reloaded", "file", source, "collectors", len(cfg.Collectors), "polling", cfg.Polling)
	return nil
}

// oneProc runs the agent's Go code on one CPU unless the GOMAXPROCS
// environment variable asks for more. An agent does little at a time (one
// poll, one relayed datagram) and is woken often: with one processor the Go
// scheduler has no other processor to wake and spin at every wake-up, which
// was a quarter of an idle gwd's CPU on a 2-CPU box (32 -> 24 ms a minute,
// scripts/cpucmp.sh), and gwd can never take more than about one core for
// its own work, whatever a flood of samples does. The relay (2M samples/s
// per core) runs on one goroutine either way; system calls and NVML's cgo
// calls do not hold the processor.
func oneProc() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
}

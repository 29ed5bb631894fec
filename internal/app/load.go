package app

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"gwd/config"
)

// DefaultConfigPath is read when no file is named; when it does not exist
// the built-in default configuration is used.
const DefaultConfigPath = "/etc/gwd/gwd.yaml"

// Overrides are command-line settings that win over the file.
type Overrides struct {
	// Collectors replace the configured collectors ("host:port").
	Collectors []string
	// Polling replaces the polling interval when not 0.
	Polling time.Duration
}

// Load reads the configuration file path (DefaultConfigPath when empty and
// present, else the built-in default) with the sections of modules, and
// applies the overrides. It returns the configuration and where it came
// from, for messages.
func Load(path string, modules []Module, o Overrides) (*config.Config, string, error) {
	if path == "" {
		if _, err := os.Stat(DefaultConfigPath); err == nil {
			path = DefaultConfigPath
		}
	}
	sections := Sections(modules)
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
	if len(o.Collectors) > 0 {
		cfg.Collectors = nil
		for _, c := range o.Collectors {
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
	if o.Polling != 0 {
		if o.Polling < time.Second || o.Polling%time.Second != 0 {
			return nil, source, fmt.Errorf("--polling %v: want whole seconds, at least 1s", o.Polling)
		}
		cfg.Polling = o.Polling
	}
	return cfg, source, nil
}

// ResolveHost turns a collector's host name or address into an address
// (the resolver of AgentConfig for gwd run).
func ResolveHost(h string) (netip.Addr, error) {
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

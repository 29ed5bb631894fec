package asic

import (
	"context"
	"fmt"
	"strings"

	"gwd/config"
	"gwd/internal/app"
)

// ModuleMode implements config.Moder.
func (c *Config) ModuleMode() config.Mode { return c.Enabled }

// Module is the asic module: switch ASIC tables and buffers.
type Module struct{}

// Section implements app.Module: Config is the section (modules.asic).
func (Module) Section() config.Section {
	return config.Section{Name: "asic", Path: "modules.asic", Value: &Config{},
		Doc: "Switch ASIC hardware tables (4413:3) and buffer congestion (4413:1, 4413:2) from SONiC, SNMP, devlink or Cumulus ([asic.md](asic.md))."}
}

// Start implements app.Module: with no backend configured or detected the
// module is absent.
func (Module) Start(ctx context.Context, env app.Env) (app.Instance, error) {
	cfg := *config.Get[Config](env.Config)
	src, err := New(cfg, env.Log)
	if err != nil {
		return nil, err
	}
	if names, _ := src.selectBackends(); len(names) == 0 {
		return nil, fmt.Errorf("%w: no switch ASIC backend detected (no SONiC %s, no Cumulus %s, no devlink device, no SNMP map)",
			app.ErrAbsent, src.cfg.SONiC.DBConfig, src.cfg.CumulusDir)
	}
	if err := src.Start(ctx, env.Agent); err != nil {
		return nil, err
	}
	return &instance{src: src, cfg: cfg}, nil
}

type instance struct {
	src *Source
	cfg Config
}

func (i *instance) Reload(cfg *config.Config) error {
	return app.RestartIfChanged(cfg, Module{}.Section(), i.cfg)
}

func (i *instance) Wait() { i.src.Wait() }

// Describe implements app.Describer.
func (i *instance) Describe() string { return "backends " + strings.Join(i.src.Backends(), ", ") }

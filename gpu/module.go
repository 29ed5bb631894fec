package gpu

import (
	"context"
	"errors"
	"fmt"

	"gwd/config"
	"gwd/internal/app"
)

// Options are the nvml module's configuration keys (modules.nvml).
type Options struct {
	Enabled config.Mode `key:"enabled" default:"auto" hsdefault:"false" doc:"NVIDIA GPUs (5703:1 on the host's 2:1); auto: when NVML loads"`
	PerGPU  bool        `key:"per_gpu" doc:"also one data source per GPU, 2:(2000+i) (i = nvidia-smi index), each with its own 5703:1"`
}

// ModuleMode implements config.Moder.
func (o *Options) ModuleMode() config.Mode { return o.Enabled }

// Module is the nvml module.
type Module struct{}

// Section implements app.Module.
func (Module) Section() config.Section {
	return config.Section{Name: "nvml", Path: "modules.nvml", Hsflowd: "nvml", Value: &Options{},
		Doc: "NVIDIA GPUs through NVML (libnvidia-ml.so.1, loaded at run time): one 5703:1 record for all GPUs on the host's sample."}
}

// Start implements app.Module: without NVML (no driver, no GPU, a build
// without cgo) the module is absent.
func (Module) Start(ctx context.Context, env app.Env) (app.Instance, error) {
	o := config.Get[Options](env.Config)
	src := New(Config{PerGPU: o.PerGPU}, env.Log)
	if err := src.Start(ctx, env.Agent); err != nil {
		if errors.Is(err, ErrUnavailable) {
			return nil, fmt.Errorf("%w: %w", app.ErrAbsent, err)
		}
		return nil, err
	}
	return &instance{src: src, opts: *o}, nil
}

type instance struct {
	src  *Source
	opts Options
}

func (i *instance) Reload(cfg *config.Config) error {
	return app.RestartIfChanged(cfg, Module{}.Section(), i.opts)
}

func (i *instance) Wait() { <-i.src.Done() }

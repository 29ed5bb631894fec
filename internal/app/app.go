// Package app is gwd's module runtime: the registry of modules, their
// start in a fixed order according to their mode, the routing of a reload
// to the modules whose section changed, and their stop in reverse order.
//
// A module is one package that owns its configuration section (see
// config.Section), how it starts, how it applies a reload, and its health.
// Adding one is that package plus one line in cmd/gwd's module list.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"gwd/agent"
	"gwd/config"
)

// ErrAbsent is wrapped by a module's Start error when the hardware or
// service it reads is not on this box: normal under `enabled: auto`, an
// error at start-up under `enabled: true`.
var ErrAbsent = errors.New("not present on this box")

// ErrRestart is wrapped by a Reload error when the change only takes
// effect after a restart of gwd.
var ErrRestart = errors.New("needs a restart of gwd to apply")

// Module is one capability of gwd.
type Module interface {
	// Section describes the module's configuration. Its Value's type
	// implements config.Moder.
	Section() config.Section
	// Start starts the module with its section in env.Config. It returns
	// at once (work goes on in goroutines until ctx ends); an error
	// wrapping ErrAbsent says what is missing.
	Start(ctx context.Context, env Env) (Instance, error)
}

// Instance is a started module.
type Instance interface {
	// Reload applies a new configuration whose section of this module, or
	// whose core settings, changed. An error wrapping ErrRestart says what
	// is left until a restart.
	Reload(cfg *config.Config) error
	// Wait returns when the module has stopped after its context ended.
	Wait()
}

// Retrier is implemented by modules whose service can appear after gwd
// started (OVS after its OVSDB socket): under `enabled: auto` the runtime
// tries Start again at this interval until it succeeds.
type Retrier interface{ RetryEvery() time.Duration }

// Describer is implemented by instances with something to say in the
// start-up summary, and with names for data sources.
type Describer interface {
	// Describe returns one line for the summary.
	Describe() string
}

// Labeler is implemented by instances that can name data sources
// (interface names) in the summary.
type Labeler interface {
	Labels() map[agent.DataSource]string
}

// Env is what a module gets when it starts.
type Env struct {
	Agent  *agent.Agent
	Log    *slog.Logger
	Config *config.Config
	// Runtime is the runtime that started the module, for modules that
	// report on the others (the web page reads Status, Label and Process).
	Runtime *Runtime
}

// Process is what cmd/gwd tells the runtime about the process, for
// modules that show or act on it.
type Process struct {
	// Version is gwd's version.
	Version string
	// Started is when the process started.
	Started time.Time
	// Reload re-reads the configuration file and applies it, as SIGHUP
	// does; nil when the process cannot reload.
	Reload func() error
}

// Sections returns the sections of modules, for config.Parse.
func Sections(modules []Module) []config.Section {
	out := make([]config.Section, len(modules))
	for i, m := range modules {
		out[i] = m.Section()
	}
	return out
}

// Runtime runs the modules of one gwd process.
type Runtime struct {
	modules []Module
	agent   *agent.Agent
	log     *slog.Logger

	mu      sync.Mutex
	cfg     *config.Config
	running map[string]Instance
	waiting map[string]string // module -> why it is not running (auto)
	wg      sync.WaitGroup
	proc    Process
}

// SetProcess records what the process is (call it before Start).
func (r *Runtime) SetProcess(p Process) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.proc = p
}

// Process returns what SetProcess recorded.
func (r *Runtime) Process() Process {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.proc
}

// New returns a runtime for modules, in start order.
func New(modules []Module, a *agent.Agent, log *slog.Logger) *Runtime {
	return &Runtime{modules: modules, agent: a, log: log, running: map[string]Instance{}, waiting: map[string]string{}}
}

func mode(cfg *config.Config, s config.Section) config.Mode {
	if m, ok := cfg.SectionValue(s.Name).(config.Moder); ok {
		return m.ModuleMode()
	}
	return config.Auto
}

// Start starts every module in order according to its mode: `false` is
// never started, `auto` is started when present (and said once when not),
// `true` must start. It returns the first error of a module that must
// run; the modules started before it keep running until ctx ends.
func (r *Runtime) Start(ctx context.Context, cfg *config.Config) error {
	r.mu.Lock()
	r.cfg = cfg
	r.mu.Unlock()
	for _, m := range r.modules {
		s := m.Section()
		md := mode(cfg, s)
		if md == config.Off {
			continue
		}
		inst, err := r.start(ctx, m, cfg)
		switch {
		case err == nil:
			r.log.Info("module started", "module", s.Name, "mode", md)
		case md == config.Auto && errors.Is(err, ErrAbsent):
			r.log.Info("module not started", "module", s.Name, "mode", md, "why", err.Error())
			r.mu.Lock()
			r.waiting[s.Name] = err.Error()
			r.mu.Unlock()
			if rt, ok := m.(Retrier); ok {
				r.retry(ctx, m, rt.RetryEvery())
			}
			continue
		case md == config.On && errors.Is(err, ErrAbsent):
			return fmt.Errorf("module %s: enabled: true, but %w", s.Name, err)
		default:
			return fmt.Errorf("module %s: %w", s.Name, err)
		}
		r.mu.Lock()
		r.running[s.Name] = inst
		r.mu.Unlock()
	}
	return nil
}

// start starts one module with the logger and environment it gets.
func (r *Runtime) start(ctx context.Context, m Module, cfg *config.Config) (Instance, error) {
	s := m.Section()
	return m.Start(ctx, Env{Agent: r.agent, Log: r.log.With("module", s.Name), Config: cfg, Runtime: r})
}

// retry tries to start an absent module every interval until it starts,
// fails otherwise, or ctx ends.
func (r *Runtime) retry(ctx context.Context, m Module, every time.Duration) {
	name := m.Section().Name
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			r.mu.Lock()
			cfg := r.cfg
			r.mu.Unlock()
			if mode(cfg, m.Section()) == config.Off {
				continue
			}
			inst, err := r.start(ctx, m, cfg)
			if errors.Is(err, ErrAbsent) {
				continue
			}
			r.mu.Lock()
			delete(r.waiting, name)
			if err == nil {
				r.running[name] = inst
			}
			r.mu.Unlock()
			if err != nil {
				r.log.Error("module failed to start", "module", name, "err", err)
			} else {
				r.log.Info("module started", "module", name, "mode", config.Auto, "after", "it appeared")
			}
			return
		}
	}()
}

// Reload applies a new configuration: the agent's core settings first, then
// each running module whose section (or the core settings it follows)
// changed. Settings that need a restart are logged, once per reload.
func (r *Runtime) Reload(next *config.Config, acfg agent.Config) error {
	if err := r.agent.Reconfigure(acfg); err != nil {
		return err
	}
	r.mu.Lock()
	old := r.cfg
	r.cfg = next
	running := make(map[string]Instance, len(r.running))
	for k, v := range r.running {
		running[k] = v
	}
	r.mu.Unlock()
	coreChanged := !reflect.DeepEqual(old.Core, next.Core)
	for _, m := range r.modules {
		s := m.Section()
		sectionChanged := !reflect.DeepEqual(old.SectionValue(s.Name), next.SectionValue(s.Name))
		if !sectionChanged && !coreChanged {
			continue
		}
		inst := running[s.Name]
		if inst == nil {
			if sectionChanged && mode(old, s) != mode(next, s) {
				r.log.Warn("reloaded settings need a restart of gwd to apply", "module", s.Name, "what", "enabled")
			}
			continue
		}
		if err := inst.Reload(next); err != nil {
			if errors.Is(err, ErrRestart) {
				r.log.Warn("reloaded settings need a restart of gwd to apply", "module", s.Name, "detail", err.Error())
			} else {
				r.log.Error("module reload failed", "module", s.Name, "err", err)
			}
		}
	}
	return nil
}

// Wait waits for every module to stop (after the context given to Start
// ended), in reverse start order, each for at most timeout.
func (r *Runtime) Wait(timeout time.Duration) {
	r.wg.Wait()
	for i := len(r.modules) - 1; i >= 0; i-- {
		r.mu.Lock()
		inst := r.running[r.modules[i].Section().Name]
		r.mu.Unlock()
		if inst == nil {
			continue
		}
		done := make(chan struct{})
		go func() { inst.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(timeout):
			r.log.Warn("module did not stop in time", "module", r.modules[i].Section().Name, "timeout", timeout)
		}
	}
}

// Status is one module's state for the summary and the web page.
type Status struct {
	Name    string
	Mode    config.Mode
	Running bool
	// Detail is the running module's own line, or why it is not running.
	Detail string
}

// Status returns every module's state, in start order.
func (r *Runtime) Status() []Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Status, 0, len(r.modules))
	for _, m := range r.modules {
		s := m.Section()
		st := Status{Name: s.Name, Mode: mode(r.cfg, s)}
		if inst, ok := r.running[s.Name]; ok {
			st.Running = true
			if d, ok := inst.(Describer); ok {
				st.Detail = d.Describe()
			}
		} else if why, ok := r.waiting[s.Name]; ok {
			st.Detail = why
		} else if st.Mode == config.Off {
			st.Detail = "off"
		}
		out = append(out, st)
	}
	return out
}

// Labels names data sources through the running modules (interface
// names); the first module to name one wins.
func (r *Runtime) Labels() map[agent.DataSource]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[agent.DataSource]string{}
	for _, m := range r.modules {
		if l, ok := r.running[m.Section().Name].(Labeler); ok {
			for ds, s := range l.Labels() {
				if _, taken := out[ds]; !taken {
					out[ds] = s
				}
			}
		}
	}
	return out
}

// RestartIfChanged is the Reload of a module that applies none of its
// settings while running: an error wrapping ErrRestart, naming the
// section's path, when cfg's options of the section differ from was (the
// options, by value, the module started with); nil when they are the same
// or cfg lacks the section.
func RestartIfChanged(cfg *config.Config, s config.Section, was any) error {
	now := cfg.SectionValue(s.Name)
	if now == nil || reflect.DeepEqual(reflect.ValueOf(now).Elem().Interface(), was) {
		return nil
	}
	return fmt.Errorf("%s: %w", s.Path, ErrRestart)
}

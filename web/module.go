// Package web is gwd's web module: a status page (static files embedded in
// the binary, updated live from the JSON API), a JSON API under /api/v1/
// and Prometheus metrics at /metrics, served on 127.0.0.1:8008 by default.
//
// The page's data about what gwd sends comes from a tap on the agent
// (agent.Tap): every datagram sent is copied into a bounded channel and
// decoded in the module's own goroutine; when the channel is full the
// datagram is dropped and counted, so the export path never waits for the
// page. See docs/api.md.
package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"gwd/config"
	"gwd/internal/app"
)

// DefaultListen is where the page is served unless configured.
const DefaultListen = "127.0.0.1:8008"

// Options are the web module's configuration keys (modules.web).
type Options struct {
	Enabled config.Mode `key:"enabled" default:"auto" doc:"status page, JSON API and /metrics; auto: when the listen address can be bound (a busy port is logged, gwd runs on)"`
	Listen  string      `key:"listen" default:"127.0.0.1:8008" doc:"host:port the page is served on; an address other than loopback needs modules.web.token"`
	Token   string      `key:"token" secret:"true" doc:"bearer token (Authorization: Bearer ...): required by POST /api/v1/reload, and by every request when listen is not a loopback address"`
}

// ModuleMode implements config.Moder.
func (o *Options) ModuleMode() config.Mode { return o.Enabled }

// Validate implements config.Validator: listen is host:port.
func (o *Options) Validate() error {
	if _, _, err := splitListen(o.Listen); err != nil {
		return fmt.Errorf("modules.web.listen: %w", err)
	}
	return nil
}

func splitListen(s string) (host string, port int, err error) {
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not host:port: %w", s, err)
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q: bad port %q", s, p)
	}
	return host, port, nil
}

// loopback reports whether a listen address only accepts connections from
// this box: a loopback IP or "localhost". An empty host (all addresses) or
// any other name is not.
func loopback(listen string) bool {
	host, _, err := splitListen(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// Module is the web module.
type Module struct{}

// Section implements app.Module.
func (Module) Section() config.Section {
	return config.Section{Name: "web", Path: "modules.web", Value: &Options{},
		Doc: "The status page, the JSON API ([api.md](api.md)) and Prometheus metrics at /metrics, on 127.0.0.1:8008 by default."}
}

// Start implements app.Module: a listen address that cannot be bound (the
// port is taken, the address is not on this box) makes the module absent;
// a non-loopback address without a token is refused.
func (Module) Start(ctx context.Context, env app.Env) (app.Instance, error) {
	o := *config.Get[Options](env.Config)
	if !loopback(o.Listen) && o.Token == "" {
		return nil, fmt.Errorf("modules.web.listen %s is not a loopback address: set modules.web.token (every request must then carry it), or listen on 127.0.0.1", o.Listen)
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("%w: modules.web.listen: %w", app.ErrAbsent, err)
	}
	s := newServer(env, o, ln.Addr().String())
	srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
	inst := &instance{s: s, opts: o, done: make(chan struct{})}
	untap := env.Agent.Tap(s.tap.put)
	go s.state.run(ctx, s.tap)
	go func() {
		<-ctx.Done()
		untap()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	go func() {
		defer close(inst.done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			env.Log.Error("web server stopped", "err", err)
		}
	}()
	env.Log.Info("web page", "url", s.url)
	return inst, nil
}

type instance struct {
	s    *server
	opts Options
	done chan struct{}
}

// Reload keeps the core settings the page shows; its own keys need a
// restart.
func (i *instance) Reload(cfg *config.Config) error {
	i.s.setConfig(cfg)
	if o := config.Get[Options](cfg); o != nil && *o != i.opts {
		return fmt.Errorf("modules.web: %w", app.ErrRestart)
	}
	return nil
}

func (i *instance) Wait() { <-i.done }

// Describe implements app.Describer: the page's URL.
func (i *instance) Describe() string { return i.s.url }

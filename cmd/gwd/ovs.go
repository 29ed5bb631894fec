package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"gwd/agent"
	"gwd/config"
	"gwd/ovs"
)

// watchOVS starts the OVS module now, or, under enabled: auto while the
// OVSDB socket does not exist yet (gwd started before Open vSwitch), as
// soon as it appears (checked every 10 s).
func watchOVS(ctx context.Context, cfg *config.Config, a *agent.Agent, log *slog.Logger, started func(*ovsRunner)) error {
	if cfg.Modules.OVS.Enabled != config.Auto || ovsWanted(cfg.Modules.OVS) {
		r, err := startOVS(ctx, cfg, a, log)
		if err == nil {
			started(r)
		}
		return err
	}
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if !ovsWanted(cfg.Modules.OVS) {
					continue
				}
				log.Info("OVSDB socket appeared: starting the OVS module", "ovsdb", cfg.Modules.OVS.OVSDB)
				r, err := startOVS(ctx, cfg, a, log)
				if err != nil {
					log.Error("ovs", "err", err)
					return
				}
				started(r)
				return
			}
		}
	}()
	return nil
}

// ovsWanted says whether the OVS module runs: on, or auto when the OVSDB
// unix socket exists (a tcp:/ssl: endpoint under auto is tried).
func ovsWanted(m config.OVS) bool {
	switch m.Enabled {
	case config.On:
		return true
	case config.Off:
		return false
	}
	if path, ok := strings.CutPrefix(m.OVSDB, "unix:"); ok {
		_, err := os.Stat(path)
		return err == nil
	}
	return true
}

// startOVS binds the relay's intake, then programs OVS to send there, and
// keeps the two and the agent in step: bridges and ports from OVSDB go to
// the relay, the elected agent address goes into OVS's sFlow row, and the
// programmer's state is the "ovs" source's health.
func startOVS(ctx context.Context, cfg *config.Config, a *agent.Agent, log *slog.Logger) (*ovsRunner, error) {
	m := cfg.Modules.OVS
	if !ovsWanted(m) {
		return nil, nil
	}
	log = log.With("source", ovs.SourceName)
	relay, err := ovs.NewRelay(ovs.RelayConfig{Polling: cfg.Polling, Allow: m.Allow}, a, log)
	if err != nil {
		return nil, err
	}
	pc := ovs.Config{Endpoint: m.OVSDB, Policy: m.Policy, RemoveOnExit: m.RemoveOnExit}
	if strings.HasPrefix(m.OVSDB, "ssl:") {
		if pc.TLS, err = ovsTLS(m.SSL); err != nil {
			return nil, err
		}
	}
	if pc.Include, pc.Exclude, err = m.Bridges.Regexps(); err != nil {
		return nil, fmt.Errorf("modules.ovs.bridges: %w", err)
	}
	r := &ovsRunner{relay: relay, done: make(chan struct{})}
	r.cfg.Store(cfg)
	samplingFor := func(speed uint64) int { return int(r.cfg.Load().Sampling.RateFor(config.Speed(speed))) }
	prog := ovs.NewProgrammer(pc, log, samplingFor)
	r.prog = prog
	r.settings = func() ovs.Settings {
		cfg := r.cfg.Load()
		s := ovs.Settings{
			Targets: []string{relay.Addr().String()},
			Polling: int(cfg.Polling / time.Second),
			Header:  cfg.HeaderBytes,
		}
		if len(cfg.Sampling.Speeds) == 0 && cfg.Sampling.BPSRatio == 0 {
			s.Sampling = int(cfg.Sampling.Rate) // one configured rate
		} // else 0: the link-speed rule on the fastest port
		if e := a.Address(); e.Addr.IsValid() {
			s.Agent = e.Addr.String()
		}
		return s
	}
	prog.Set(r.settings())
	go func() {
		if err := relay.Run(ctx); err != nil {
			a.SetHealth(ovs.SourceName, err)
		}
	}()
	go func() {
		defer close(r.done)
		if err := prog.Run(ctx); err != nil {
			log.Error("ovsdb programmer stopped", "err", err)
		}
	}()
	go func() {
		health := time.NewTicker(2 * time.Second)
		defer health.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-prog.Changed():
				relay.SetBridges(prog.Bridges())
			case <-a.AddressChanges():
				prog.Set(r.settings())
			case <-health.C:
				_, err := prog.Status()
				a.SetHealth(ovs.SourceName, err)
			}
		}
	}()
	return r, nil
}

// ovsRunner is the running OVS module.
type ovsRunner struct {
	prog     *ovs.Programmer
	relay    *ovs.Relay
	cfg      atomic.Pointer[config.Config]
	settings func() ovs.Settings
	done     chan struct{}
}

// Reload applies a new configuration's polling, sampling and header size
// to the sFlow row (one transaction, none when nothing changed).
func (r *ovsRunner) Reload(cfg *config.Config) {
	if r == nil {
		return
	}
	if cfg.Modules.OVS.OVSDB != r.cfg.Load().Modules.OVS.OVSDB {
		r.relay.Log().Warn("modules.ovs.ovsdb changed: restart gwd to use the new endpoint")
	}
	r.cfg.Store(cfg)
	r.relay.SetPolling(cfg.Polling)
	r.prog.Set(r.settings())
}

// Wait returns when the programmer has finished (after removing gwd's row
// on a clean shutdown), or after timeout.
func (r *ovsRunner) Wait(timeout time.Duration) {
	if r == nil {
		return
	}
	select {
	case <-r.done:
	case <-time.After(timeout):
	}
}

// ovsTLS builds the TLS configuration of an ssl: OVSDB endpoint from PEM
// files: a client certificate and key, and the CA that signed the server's.
func ovsTLS(c config.OVSSSL) (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.Certificate != "" || c.PrivateKey != "" {
		cert, err := tls.LoadX509KeyPair(c.Certificate, c.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("modules.ovs.ssl: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	if c.CACert != "" {
		pem, err := os.ReadFile(c.CACert)
		if err != nil {
			return nil, fmt.Errorf("modules.ovs.ssl.ca_cert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("modules.ovs.ssl.ca_cert: no certificate in %s", c.CACert)
		}
		t.RootCAs = pool
	}
	return t, nil
}

package ovs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"gwd/config"
	"gwd/internal/app"
)

// Options are the ovs module's configuration keys (modules.ovs).
type Options struct {
	Enabled      config.Mode            `key:"enabled" default:"auto" hsdefault:"false" doc:"Open vSwitch: keep an sFlow row on every bridge, relay its datagrams; auto: when the OVSDB socket exists (also later)"`
	OVSDB        string                 `key:"ovsdb" default:"unix:/var/run/openvswitch/db.sock" check:"nonempty,ovsdb" type:"unix:PATH, tcp:HOST:PORT, ssl:HOST:PORT" doc:"OVSDB server"`
	Bridges      config.InterfaceFilter `key:"bridges"`
	Policy       string                 `key:"policy" default:"adopt" check:"nonempty" enum:"adopt|leave" doc:"a bridge with an sFlow row gwd does not own: adopt replaces it with gwd's row (as hsflowd does); leave does not touch that bridge"`
	RemoveOnExit bool                   `key:"remove_on_exit" default:"true" doc:"remove gwd's sFlow row when gwd stops cleanly (after a crash the row is found again and reused)"`
	Allow        []netip.Prefix         `key:"allow" default:"127.0.0.0/8,::1/128" type:"list of prefixes" doc:"senders whose datagrams the loopback intake accepts; others are dropped and counted"`
	SSL          SSLOptions             `key:"ssl"`
}

// SSLOptions are the PEM files of an ssl: OVSDB endpoint, as ovs-vsctl's
// --private-key, --certificate and --ca-cert.
type SSLOptions struct {
	PrivateKey  string `key:"private_key" type:"path" doc:"client private key (PEM), for an ssl: endpoint"`
	Certificate string `key:"certificate" type:"path" doc:"client certificate (PEM)"`
	CACert      string `key:"ca_cert" type:"path" doc:"CA certificate that signed the server's (PEM)"`
}

// ModuleMode implements config.Moder.
func (o *Options) ModuleMode() config.Mode { return o.Enabled }

// Module is the ovs module.
type Module struct{}

// Section implements app.Module.
func (Module) Section() config.Section {
	return config.Section{Name: "ovs", Path: "modules.ovs", Hsflowd: "ovs", Value: &Options{},
		Doc: "Open vSwitch through OVSDB: one sFlow row on every bridge, OVS's datagrams relayed under the box's identity."}
}

// RetryEvery implements app.Retrier: under auto, OVS may be installed or
// started after gwd.
func (Module) RetryEvery() time.Duration { return 10 * time.Second }

// Start implements app.Module: it binds the relay's intake, then programs
// OVS to send there, and keeps the two and the agent in step: bridges and
// ports from OVSDB go to the relay, the elected agent address goes into
// OVS's sFlow row, and the programmer's state is the "ovs" source's
// health. A unix: endpoint whose socket does not exist is absent.
func (Module) Start(ctx context.Context, env app.Env) (app.Instance, error) {
	o := config.Get[Options](env.Config)
	if path, ok := strings.CutPrefix(o.OVSDB, "unix:"); ok {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("%w: OVSDB socket: %w", app.ErrAbsent, err)
		}
	}
	a, log := env.Agent, env.Log
	relay, err := NewRelay(RelayConfig{Polling: env.Config.Polling, Allow: o.Allow}, a, log)
	if err != nil {
		return nil, err
	}
	pc := Config{Endpoint: o.OVSDB, Policy: o.Policy, RemoveOnExit: o.RemoveOnExit}
	if strings.HasPrefix(o.OVSDB, "ssl:") {
		if pc.TLS, err = tlsConfig(o.SSL); err != nil {
			relay.conn.Close()
			return nil, err
		}
	}
	if pc.Include, pc.Exclude, err = o.Bridges.Regexps(); err != nil {
		relay.conn.Close()
		return nil, fmt.Errorf("modules.ovs.bridges: %w", err)
	}
	r := &moduleInstance{relay: relay, done: make(chan struct{}), opts: *o}
	r.cfg.Store(env.Config)
	samplingFor := func(speed uint64) int { return int(r.cfg.Load().Sampling.RateFor(config.Speed(speed))) }
	prog := NewProgrammer(pc, log, samplingFor)
	r.prog = prog
	r.settings = func() Settings {
		cfg := r.cfg.Load()
		s := Settings{
			Targets: []string{relay.Addr().String()},
			Polling: int(cfg.Polling / time.Second),
			Header:  cfg.HeaderBytes,
		}
		if len(cfg.Sampling.Speeds) == 0 && cfg.Sampling.BPSRatio == 0 {
			s.Sampling = int(cfg.Sampling.Rate) // one configured rate
		} // else 0: the link-speed rule on the fastest port
		e := a.Address()
		if e.Addr.IsValid() {
			s.Agent = e.Addr.String()
		}
		relay.SetAgentAddress(e.Addr) // datagrams with another agent address are not OVS's
		return s
	}
	prog.Set(r.settings())
	go func() {
		if err := relay.Run(ctx); err != nil {
			a.SetHealth(SourceName, err)
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
				a.SetHealth(SourceName, errors.Join(err, relay.Health()))
			}
		}
	}()
	return r, nil
}

// moduleInstance is the running ovs module.
type moduleInstance struct {
	prog     *Programmer
	relay    *Relay
	cfg      atomic.Pointer[config.Config]
	opts     Options
	settings func() Settings
	done     chan struct{}
}

// Reload applies a new configuration's polling, sampling and header size
// to the sFlow row (one transaction, none when nothing changed); the other
// keys of modules.ovs need a restart.
func (r *moduleInstance) Reload(cfg *config.Config) error {
	r.cfg.Store(cfg)
	r.relay.SetPolling(cfg.Polling)
	r.prog.Set(r.settings())
	if o := config.Get[Options](cfg); o != nil && !optionsEqual(*o, r.opts) {
		return fmt.Errorf("modules.ovs (other than polling, sampling, header size): %w", app.ErrRestart)
	}
	return nil
}

func optionsEqual(a, b Options) bool {
	return a.Enabled == b.Enabled && a.OVSDB == b.OVSDB && a.Bridges == b.Bridges && a.Policy == b.Policy &&
		a.RemoveOnExit == b.RemoveOnExit && a.SSL == b.SSL && fmt.Sprint(a.Allow) == fmt.Sprint(b.Allow)
}

// Wait returns when the programmer has finished (after removing gwd's row
// on a clean shutdown), and logs the relay's totals.
func (r *moduleInstance) Wait() {
	<-r.done
	r.relay.LogTotals()
}

// Describe implements app.Describer.
func (r *moduleInstance) Describe() string {
	return fmt.Sprintf("%s, relaying from %s", r.opts.OVSDB, r.relay.Addr())
}

// tlsConfig builds the TLS configuration of an ssl: OVSDB endpoint from
// PEM files: a client certificate and key, and the CA that signed the
// server's.
func tlsConfig(c SSLOptions) (*tls.Config, error) {
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

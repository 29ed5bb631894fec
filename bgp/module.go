package bgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"gwd/config"
	"gwd/internal/app"
)

// Options are the bgp module's configuration keys (modules.bgp).
type Options struct {
	Enabled         config.Mode   `key:"enabled" default:"false" doc:"BGP enrichment of flow samples; auto: when sessions are configured"`
	LocalAS         uint32        `key:"local_as" doc:"this box's AS number (required with sessions)"`
	RouterID        netip.Addr    `key:"router_id" type:"IPv4 address" doc:"BGP identifier; default: the first session's IPv4 local_address"`
	ExtendedRouter  bool          `key:"extended_router" default:"true" doc:"add extended_router (0:1002): next hop, source and destination mask lengths"`
	ExtendedGateway bool          `key:"extended_gateway" default:"true" doc:"add extended_gateway (0:1003): next hop, ASes, destination AS path, communities, local preference"`
	ListenAddress   netip.Addr    `key:"listen_address" type:"IP address" doc:"address passive sessions listen on; default: every address"`
	ListenPort      uint16        `key:"listen_port" default:"179" min:"1" doc:"TCP port passive sessions listen on (no listener without a passive session)"`
	ConnectRetry    time.Duration `key:"connect_retry" default:"10s" min:"1s" max:"10m" doc:"how long an active session waits before connecting again"`
	HoldTime        time.Duration `key:"hold_time" default:"90s" min:"3s" max:"18h" doc:"hold time offered (the session drops, and its routes go, after this long without a message)"`
	Sessions        []Session     `key:"sessions" doc:"BGP neighbours, typically this box's router"`
}

// Session is one configured BGP neighbour.
type Session struct {
	Address      netip.Addr `key:"address" type:"IP address" doc:"the neighbour's address (required)"`
	Port         uint16     `key:"port" default:"179" min:"1" doc:"the neighbour's TCP port"`
	PeerAS       uint32     `key:"peer_as" doc:"the neighbour's AS number (required; a mismatch is refused and reported)"`
	LocalAS      uint32     `key:"local_as" doc:"the AS this session speaks as; default: modules.bgp.local_as"`
	LocalAddress netip.Addr `key:"local_address" type:"IP address" doc:"address to connect from"`
	Passive      bool       `key:"passive" doc:"wait for the neighbour to connect (opens the listener) instead of connecting"`
	Multihop     uint8      `key:"multihop" doc:"eBGP multihop TTL; 0: a directly connected neighbour"`
	IPv4         bool       `key:"ipv4" default:"true" doc:"IPv4 unicast"`
	IPv6         bool       `key:"ipv6" default:"true" doc:"IPv6 unicast"`
}

// ModuleMode implements config.Moder.
func (o *Options) ModuleMode() config.Mode { return o.Enabled }

// Validate implements config.Validator.
func (o *Options) Validate() error {
	var errs []error
	seen := map[netip.Addr]bool{}
	for i, s := range o.Sessions {
		switch {
		case !s.Address.IsValid():
			errs = append(errs, fmt.Errorf("sessions[%d]: address is required", i))
		case seen[s.Address]:
			errs = append(errs, fmt.Errorf("sessions[%d]: neighbor %v configured twice", i, s.Address))
		}
		seen[s.Address] = true
		if s.PeerAS == 0 {
			errs = append(errs, fmt.Errorf("sessions[%d]: peer_as is required", i))
		}
		if s.LocalAS == 0 && o.LocalAS == 0 {
			errs = append(errs, fmt.Errorf("sessions[%d]: local_as is required (here or in modules.bgp)", i))
		}
		if !s.IPv4 && !s.IPv6 {
			errs = append(errs, fmt.Errorf("sessions[%d]: neither ipv4 nor ipv6 enabled", i))
		}
	}
	if len(o.Sessions) > 0 && !o.routerID().IsValid() {
		errs = append(errs, errors.New("router_id is required when no session has an IPv4 local_address"))
	}
	if o.RouterID.IsValid() && !o.RouterID.Is4() {
		errs = append(errs, errors.New("router_id must be an IPv4 address"))
	}
	return errors.Join(errs...)
}

func (o *Options) routerID() netip.Addr {
	if o.RouterID.IsValid() {
		return o.RouterID
	}
	for _, s := range o.Sessions {
		if s.LocalAddress.Is4() {
			return s.LocalAddress
		}
	}
	return netip.Addr{}
}

// ErrNoSessions says the module has nothing to do.
var ErrNoSessions = errors.New("no BGP sessions configured (modules.bgp.sessions)")

// Module is the bgp module.
type Module struct{}

// Section implements app.Module.
func (Module) Section() config.Section {
	return config.Section{Name: "bgp", Path: "modules.bgp", Value: &Options{},
		Doc: "An embedded BGP speaker (gobgp) peers with this box's router and adds extended_router (0:1002) and extended_gateway (0:1003) to every flow sample whose header holds an IPv4 or IPv6 packet covered by a received route. hsflowd has no such block."}
}

// Start implements app.Module: without sessions the module is absent.
func (Module) Start(ctx context.Context, env app.Env) (app.Instance, error) {
	o := config.Get[Options](env.Config)
	if len(o.Sessions) == 0 {
		return nil, fmt.Errorf("%w: %w", app.ErrAbsent, ErrNoSessions)
	}
	sp, err := Start(ctx, *o, env.Agent, env.Log)
	if err != nil {
		return nil, err
	}
	return &instance{sp: sp, opts: *o}, nil
}

type instance struct {
	sp   *Speaker
	opts Options
}

func (i *instance) Reload(cfg *config.Config) error {
	return app.RestartIfChanged(cfg, Module{}.Section(), i.opts)
}

func (i *instance) Wait() { <-i.sp.Done() }

// Describe implements app.Describer.
func (i *instance) Describe() string { return i.sp.Describe() }

// Status is the module's state, for the web module.
func (i *instance) Status() Status { return i.sp.Status() }

package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"

	"gwd/agent"
	"gwd/sflow"
)

// SourceName is the module's health entry and enricher name.
const SourceName = "bgp"

// DefaultLocalPref is the local preference of a route that carries none
// (an eBGP route: LOCAL_PREF is not sent between ASes), as routers assume.
const DefaultLocalPref = 100

// Host is what the speaker needs of the agent.
type Host interface {
	AddFlowEnricher(name string, e agent.FlowEnricher) (remove func())
	SetHealth(source string, err error)
}

// Speaker is the embedded BGP speaker: gobgp's server, the sessions, the
// prefix table fed by gobgp's best paths and the enricher over it.
type Speaker struct {
	opts   Options
	log    *slog.Logger
	host   Host
	table  *Table
	enr    *Enricher
	srv    *server.BgpServer
	byAddr map[string]int
	done   chan struct{}

	purged atomic.Int64 // routes DeletePeer found after a session closed
	burst  burst        // releases a large update burst's garbage

	mu       sync.Mutex
	sessions []sessionState
	health   string
}

type sessionState struct {
	cfg     Session
	state   string
	since   time.Time
	err     error
	logged  string // the error last logged, so that retries do not repeat it
	badPath int
}

// Status is the speaker's state for display.
type Status struct {
	LocalAS    uint32          `json:"local_as"`
	RouterID   string          `json:"router_id"`
	IPv4Routes int             `json:"ipv4_routes"`
	IPv6Routes int             `json:"ipv6_routes"`
	Enriched   uint64          `json:"enriched_samples"`
	Sessions   []SessionStatus `json:"sessions"`
}

// SessionStatus is one session's state.
type SessionStatus struct {
	Neighbor string    `json:"neighbor"`
	Port     uint16    `json:"port"`
	PeerAS   uint32    `json:"peer_as"`
	LocalAS  uint32    `json:"local_as"`
	State    string    `json:"state"` // idle, connect, active, opensent, openconfirm, established
	Since    time.Time `json:"since"`
	Routes   int       `json:"routes"` // best paths from this session
	Error    string    `json:"error,omitempty"`
}

// Start starts gobgp with o's sessions and adds the enricher to host. The
// speaker stops when ctx ends (see Done).
func Start(ctx context.Context, o Options, host Host, log *slog.Logger) (*Speaker, error) {
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("modules.bgp: %w", err)
	}
	s := &Speaker{opts: o, log: log, host: host, table: NewTable(), byAddr: map[string]int{},
		done: make(chan struct{})}
	s.enr = NewEnricher(s.table, o.ExtendedRouter, o.ExtendedGateway)
	now := time.Now()
	for i, c := range o.Sessions {
		if c.LocalAS == 0 {
			c.LocalAS = o.LocalAS
		}
		s.sessions = append(s.sessions, sessionState{cfg: c, state: "idle", since: now})
		s.byAddr[c.Address.String()] = i
	}
	s.srv = server.NewBgpServer(server.LoggerOption(&slogger{log: log, notify: s.notified}))
	go s.srv.Serve()
	global := &api.Global{Asn: o.LocalAS, RouterId: o.routerID().String(), ListenPort: -1}
	if global.Asn == 0 {
		global.Asn = s.sessions[0].cfg.LocalAS
	}
	for _, c := range o.Sessions {
		if c.Passive {
			global.ListenPort = int32(o.ListenPort)
			if o.ListenAddress.IsValid() {
				global.ListenAddresses = []string{o.ListenAddress.String()}
			}
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	fail := func(err error) (*Speaker, error) {
		cancel()
		s.srv.Stop()
		return nil, err
	}
	if err := s.srv.StartBgp(ctx, &api.StartBgpRequest{Global: global}); err != nil {
		return fail(fmt.Errorf("bgp: starting the speaker (AS %d, router id %s, listen port %d): %w",
			global.Asn, global.RouterId, global.ListenPort, err))
	}
	err := s.srv.WatchEvent(wctx, &api.WatchEventRequest{
		Peer: &api.WatchEventRequest_Peer{},
		Table: &api.WatchEventRequest_Table{Filters: []*api.WatchEventRequest_Table_Filter{
			{Type: api.WatchEventRequest_Table_Filter_BEST, Init: true},
		}},
	}, s.onEvent)
	if err != nil {
		return fail(fmt.Errorf("bgp: watching best paths: %w", err))
	}
	for _, st := range s.sessions {
		if err := s.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: s.peer(st.cfg)}); err != nil {
			return fail(fmt.Errorf("bgp: neighbor %v: %w", st.cfg.Address, err))
		}
	}
	remove := host.AddFlowEnricher(SourceName, s.enr)
	s.updateHealth()
	go func() {
		<-ctx.Done()
		remove()
		cancel()
		s.srv.Stop()
		close(s.done)
	}()
	return s, nil
}

func (s *Speaker) peer(c Session) *api.Peer {
	p := &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: c.Address.String(), PeerAsn: c.PeerAS, LocalAsn: c.LocalAS},
		Transport: &api.Transport{RemotePort: uint32(c.Port), PassiveMode: c.Passive},
		Timers: &api.Timers{Config: &api.TimersConfig{
			ConnectRetry:      uint64(s.opts.ConnectRetry / time.Second),
			HoldTime:          uint64(s.opts.HoldTime / time.Second),
			KeepaliveInterval: uint64(s.opts.HoldTime / time.Second / 3),
		}},
	}
	if c.LocalAddress.IsValid() {
		p.Transport.LocalAddress = c.LocalAddress.String()
	}
	if c.Multihop > 0 {
		p.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: uint32(c.Multihop)}
	}
	if c.IPv4 {
		p.AfiSafis = append(p.AfiSafis, &api.AfiSafi{Config: &api.AfiSafiConfig{Enabled: true,
			Family: &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}}})
	}
	if c.IPv6 {
		p.AfiSafis = append(p.AfiSafis, &api.AfiSafi{Config: &api.AfiSafiConfig{Enabled: true,
			Family: &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}}})
	}
	return p
}

// Done is closed once the speaker has stopped.
func (s *Speaker) Done() <-chan struct{} { return s.done }

// burst watches route updates: once a burst of at least burstRelease
// changes (a session's initial table, a peer's reset) has been quiet for
// burstSettle, the garbage of taking it in (gobgp's decoded UPDATEs and
// events: about as much again as the routes themselves) is collected and
// handed back to the kernel at once, instead of staying resident until
// the runtime scavenges it. Nothing runs while no routes change.
type burst struct {
	mu      sync.Mutex
	n       int // changes since the last release
	last    time.Time
	armed   bool
	release func()        // debug.FreeOSMemory; tests replace it
	min     int           // burstRelease unless set (tests)
	settle  time.Duration // burstSettle unless set (tests)
}

const (
	burstRelease = 10_000
	burstSettle  = 5 * time.Second
)

func (b *burst) add(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.min == 0 {
		b.min, b.settle = burstRelease, burstSettle
	}
	b.n += n
	b.last = time.Now()
	if b.n >= b.min && !b.armed {
		b.armed = true
		time.AfterFunc(b.settle, b.check)
	}
}

func (b *burst) check() {
	b.mu.Lock()
	if wait := b.settle - time.Since(b.last); wait > 0 {
		time.AfterFunc(wait, b.check) // still arriving
		b.mu.Unlock()
		return
	}
	b.armed, b.n = false, 0
	release := b.release
	b.mu.Unlock()
	if release == nil {
		release = debug.FreeOSMemory
	}
	release()
}

// Table is the speaker's prefix table.
func (s *Speaker) Table() *Table { return s.table }

// onEvent runs on gobgp's watcher goroutine, one event at a time.
func (s *Speaker) onEvent(ev *api.WatchEventResponse) {
	if pe := ev.GetPeer(); pe != nil && pe.Peer != nil && pe.Peer.State != nil {
		s.peerEvent(pe.Peer.State)
		return
	}
	if te := ev.GetTable(); te != nil {
		s.table.Batch(func() {
			for _, p := range te.Paths {
				s.pathEvent(p)
			}
		})
		s.burst.add(len(te.Paths))
	}
}

func (s *Speaker) peerEvent(st *api.PeerState) {
	s.mu.Lock()
	i, ok := s.byAddr[st.NeighborAddress]
	if !ok {
		s.mu.Unlock()
		return
	}
	ss := &s.sessions[i]
	state := strings.ToLower(strings.TrimPrefix(st.SessionState.String(), "SESSION_STATE_"))
	if state == ss.state {
		s.mu.Unlock()
		return
	}
	was := ss.state
	ss.state, ss.since = state, time.Now()
	if state == "established" {
		ss.err, ss.logged = nil, ""
	}
	s.mu.Unlock()
	if was == "established" || state == "established" {
		s.log.Info("bgp session "+state, "neighbor", st.NeighborAddress, "peer_as", ss.cfg.PeerAS)
	}
	if was == "established" {
		// gobgp withdraws the session's paths itself when it goes down;
		// this makes sure nothing of it outlives the session.
		if n := s.table.DeletePeer(i); n > 0 {
			s.purged.Add(int64(n))
			s.log.Debug("routes of a closed session removed", "neighbor", st.NeighborAddress, "routes", n)
		}
	}
	s.updateHealth()
}

// notified records a notification sent to or received from a neighbour.
func (s *Speaker) notified(neighbor string, err error) {
	s.mu.Lock()
	i, ok := s.byAddr[neighbor]
	if ok {
		s.sessions[i].err = err
	}
	s.mu.Unlock()
	if ok {
		s.updateHealth()
	}
}

// updateHealth reports the sessions that are not established, and why.
func (s *Speaker) updateHealth() {
	s.mu.Lock()
	var parts []string
	for _, ss := range s.sessions {
		if ss.state == "established" {
			continue
		}
		// Not the FSM state: it cycles with every retry, and the health
		// entry (logged on change) would with it. Status has the state.
		msg := fmt.Sprintf("neighbor %v (peer AS %d) not established", ss.cfg.Address, ss.cfg.PeerAS)
		if ss.err != nil {
			msg += ": " + ss.err.Error()
		}
		parts = append(parts, msg)
	}
	h := strings.Join(parts, "; ")
	changed := h != s.health
	s.health = h
	s.mu.Unlock()
	if !changed {
		return
	}
	if h == "" {
		s.host.SetHealth(SourceName, nil)
		return
	}
	s.host.SetHealth(SourceName, errors.New(h))
	for _, ss := range s.newErrors() {
		s.log.Warn("bgp session refused", "neighbor", ss.cfg.Address, "peer_as", ss.cfg.PeerAS, "err", ss.err)
	}
}

// newErrors returns the sessions whose error has not been logged yet.
func (s *Speaker) newErrors() []sessionState {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sessionState
	for i := range s.sessions {
		ss := &s.sessions[i]
		if ss.err != nil && ss.state != "established" && ss.err.Error() != ss.logged {
			ss.logged = ss.err.Error()
			out = append(out, *ss)
		}
	}
	return out
}

// pathEvent applies one best-path change to the table.
func (s *Speaker) pathEvent(p *api.Path) {
	r, err := toRoute(p)
	if err != nil {
		s.mu.Lock()
		i, ok := s.byAddr[p.NeighborIp]
		first := false
		if ok {
			s.sessions[i].badPath++
			first = s.sessions[i].badPath == 1
		}
		s.mu.Unlock()
		if first || !ok {
			s.log.Warn("bgp path not understood (logged once per session)", "neighbor", p.NeighborIp, "err", err)
		}
		return
	}
	if !r.Prefix.IsValid() {
		return // another family
	}
	if p.IsWithdraw {
		s.table.Delete(r.Prefix)
		return
	}
	i, ok := s.byAddr[p.NeighborIp]
	if !ok {
		return // a locally originated path: none is configured
	}
	r.Peer = i
	r.LocalAS = s.sessions[i].cfg.LocalAS
	if err := s.table.Set(r); err != nil {
		s.log.Warn("bgp route not stored", "prefix", r.Prefix, "err", err)
	}
}

// toRoute converts a gobgp path; a path of another family gives a Route
// with an invalid prefix.
func toRoute(p *api.Path) (Route, error) {
	var r Route
	f := p.GetFamily()
	if f == nil || f.Safi != api.Family_SAFI_UNICAST || (f.Afi != api.Family_AFI_IP && f.Afi != api.Family_AFI_IP6) {
		return r, nil
	}
	nlri, err := apiutil.GetNativeNlri(p)
	if err != nil {
		return r, fmt.Errorf("prefix: %w", err)
	}
	pfx, err := netip.ParsePrefix(nlri.String())
	if err != nil {
		return r, fmt.Errorf("prefix %q: %w", nlri.String(), err)
	}
	r.Prefix = pfx
	if p.IsWithdraw {
		return r, nil
	}
	attrs, err := apiutil.GetNativePathAttributes(p)
	if err != nil {
		return r, fmt.Errorf("%v: attributes: %w", pfx, err)
	}
	r.LocalPref = DefaultLocalPref
	for _, a := range attrs {
		switch a := a.(type) {
		case *bgp.PathAttributeNextHop:
			r.NextHop = ipAddr(a.Value)
		case *bgp.PathAttributeMpReachNLRI:
			if !r.NextHop.IsValid() {
				r.NextHop = ipAddr(a.Nexthop)
			}
		case *bgp.PathAttributeAsPath:
			for _, seg := range a.Value {
				t := uint32(seg.GetType())
				// AS_SET 1 and AS_SEQUENCE 2 as sFlow has them; the
				// confederation segments (3, 4) count as a sequence / set.
				switch t {
				case bgp.BGP_ASPATH_ATTR_TYPE_CONFED_SEQ:
					t = bgp.BGP_ASPATH_ATTR_TYPE_SEQ
				case bgp.BGP_ASPATH_ATTR_TYPE_CONFED_SET:
					t = bgp.BGP_ASPATH_ATTR_TYPE_SET
				}
				r.Path = append(r.Path, sflow.ASPathSegment{Type: t, ASNs: seg.GetAS()})
			}
		case *bgp.PathAttributeCommunities:
			r.Communities = a.Value
		case *bgp.PathAttributeLocalPref:
			r.LocalPref = a.Value
		}
	}
	return r, nil
}

func ipAddr(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

// Status returns the sessions' state and the route counts.
func (s *Speaker) Status() Status {
	v4, v6 := s.table.Counts()
	st := Status{LocalAS: s.opts.LocalAS, RouterID: s.opts.routerID().String(), IPv4Routes: v4, IPv6Routes: v6,
		Enriched: s.enr.Enriched()}
	s.mu.Lock()
	for i, ss := range s.sessions {
		x := SessionStatus{Neighbor: ss.cfg.Address.String(), Port: ss.cfg.Port, PeerAS: ss.cfg.PeerAS,
			LocalAS: ss.cfg.LocalAS, State: ss.state, Since: ss.since}
		if ss.err != nil {
			x.Error = ss.err.Error()
		}
		st.Sessions = append(st.Sessions, x)
		_ = i
	}
	s.mu.Unlock()
	for i := range st.Sessions {
		st.Sessions[i].Routes = s.table.PeerRoutes(i)
	}
	return st
}

// Describe is the start-up summary line.
func (s *Speaker) Describe() string {
	var parts []string
	for _, ss := range s.sessions {
		mode := "active"
		if ss.cfg.Passive {
			mode = "passive"
		}
		parts = append(parts, fmt.Sprintf("%v port %d peer AS %d (%s)", ss.cfg.Address, ss.cfg.Port, ss.cfg.PeerAS, mode))
	}
	var recs []string
	if s.opts.ExtendedRouter {
		recs = append(recs, "0:1002")
	}
	if s.opts.ExtendedGateway {
		recs = append(recs, "0:1003")
	}
	if len(recs) == 0 {
		recs = []string{"no records (both off)"}
	}
	return fmt.Sprintf("AS %d, sessions %s; adds %s", s.opts.LocalAS, strings.Join(parts, ", "), strings.Join(recs, "+"))
}

package ovs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/ovn-kubernetes/libovsdb/cache"
	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"
)

// Defaults and names of the OVSDB programmer.
const (
	// DefaultEndpoint is the OVSDB server of a stock Open vSwitch install.
	DefaultEndpoint = "unix:/var/run/openvswitch/db.sock"

	// PolicyAdopt replaces a foreign sFlow row on a selected bridge with
	// gwd's row (as hsflowd does); the foreign row, no longer referenced,
	// is garbage-collected by OVSDB.
	PolicyAdopt = "adopt"
	// PolicyLeave leaves bridges that carry a foreign sFlow row alone.
	PolicyLeave = "leave"

	// OwnerKey and OwnerValue mark gwd's sFlow row in its external_ids
	// column (external_ids:gwd-owner=gwd). A restarted gwd finds its row by
	// this mark and reuses it instead of creating another one. Next to it,
	// each write stamps the writer's Identity (HostKey, PIDKey, StartKey).
	OwnerKey   = "gwd-owner"
	OwnerValue = "gwd"
)

// Timings of the programmer.
const (
	connectTimeout  = 5 * time.Second
	txnTimeout      = 5 * time.Second
	shutdownTimeout = 3 * time.Second
	echoInterval    = 5 * time.Second // liveness probe and periodic re-converge
	coalesce        = 20 * time.Millisecond
	minBackoff      = 250 * time.Millisecond
	maxBackoff      = 15 * time.Second
	namedRow        = "gwdsflow" // named UUID of the row in its insert
)

// Config says which OVSDB server to program and which bridges to manage.
type Config struct {
	// Endpoint is the OVSDB server in OVSDB connection syntax:
	// "unix:PATH", "tcp:HOST:PORT" or "ssl:HOST:PORT". Empty means
	// DefaultEndpoint.
	Endpoint string
	// TLS configures ssl: endpoints (nil: system roots, no client
	// certificate).
	TLS *tls.Config
	// Include and Exclude filter bridges by name: a bridge is managed when
	// it matches Include (nil matches all) and does not match Exclude (nil
	// matches none).
	Include, Exclude *regexp.Regexp
	// Policy is PolicyAdopt (also when empty) or PolicyLeave: what to do
	// with a managed bridge that already carries somebody else's sFlow row.
	Policy string
	// RemoveOnExit detaches gwd's row from every bridge when Run ends, so
	// that OVSDB garbage-collects it (the config layer defaults it to true).
	// A programmer that left the row to another gwd removes nothing.
	RemoveOnExit bool
	// Identity is written into the row's external_ids with every write and
	// tells two gwd processes on one OVSDB apart (see owner.go). Zero
	// fields default to DefaultIdentity's: this host, pid and start time.
	Identity Identity
}

// Settings is what gwd wants in its sFlow row.
type Settings struct {
	// Targets are the collectors OVS sends to, "HOST:PORT" (gwd's intake
	// socket, e.g. "127.0.0.1:41234", bound before Set is called). No
	// targets means no row: gwd detaches from every bridge.
	Targets []string
	// Agent is the agent address (an IP) or an interface name; "" leaves
	// OVS to choose.
	Agent string
	// Sampling is the 1-in-N packet sampling rate; 0 applies samplingFor
	// to the fastest physical port of the bridges that carry the row.
	Sampling int
	// Polling is the counter polling interval in seconds; 0 leaves OVS's
	// default (30 s).
	Polling int
	// Header is the number of packet header bytes sampled; 0 leaves OVS's
	// default (128).
	Header int
}

// Port is one OVS interface of a bridge.
type Port struct {
	Name    string
	IfIndex uint32 // kernel ifIndex (0 when OVS reports none)
	OFPort  int    // OpenFlow port number (-1 on error, 0 before assignment)
	Type    string // OVS interface type: "" (system), "internal", "patch", ...
	Speed   uint64 // link_speed in bits per second (0 when unknown)
}

// Bridge is one managed bridge as seen in OVSDB.
type Bridge struct {
	Name       string
	UUID       string
	DatapathID uint64
	Ports      []Port // sorted by OFPort, then name
	Attached   bool   // the bridge references gwd's sFlow row
}

// Programmer keeps gwd's one sFlow row in OVSDB, attached to every managed
// bridge, and keeps a view of the bridges and their ports. All methods are
// safe for concurrent use.
type Programmer struct {
	cfg         Config
	endpoint    string
	sel         selector
	log         *slog.Logger
	libLog      logr.Logger
	samplingFor func(uint64) int

	kick    chan struct{} // converge soon (coalesced)
	changed chan struct{} // the view changed (coalesced)
	txns    atomic.Int64  // transactions attempted, for tests
	now     func() time.Time
	own     owner // used by the Run goroutine only

	mu        sync.Mutex
	want      *Settings // nil until the first Set
	bridges   []Bridge
	connected bool
	err       error
	logged    string // last logged state, to log once per change
	foreign   []string
}

// NewProgrammer returns a programmer for cfg. samplingFor maps a link speed
// (bits per second, 0 when unknown) to a 1-in-N sampling rate for
// Settings.Sampling == 0; nil means DefaultSamplingFor. log receives the
// programmer's state changes; libovsdb's own messages go to it at debug
// level.
func NewProgrammer(cfg Config, log *slog.Logger, samplingFor func(speedBps uint64) int) *Programmer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if samplingFor == nil {
		samplingFor = DefaultSamplingFor
	}
	if cfg.Policy == "" {
		cfg.Policy = PolicyAdopt
	}
	ep := cfg.Endpoint
	if ep == "" {
		ep = DefaultEndpoint
	}
	cfg.Identity = cfg.Identity.withDefaults()
	return &Programmer{
		cfg:         cfg,
		endpoint:    ep,
		sel:         selector{cfg.Include, cfg.Exclude},
		log:         log,
		libLog:      logr.New(slogSink{log.With("lib", "libovsdb")}),
		samplingFor: samplingFor,
		kick:        make(chan struct{}, 1),
		changed:     make(chan struct{}, 1),
		now:         time.Now,
		own:         owner{me: cfg.Identity, log: log},
	}
}

// Identity is the identity the programmer writes into its row.
func (p *Programmer) Identity() Identity { return p.cfg.Identity }

// Set replaces the desired settings. The running programmer converges in
// one transaction, and writes nothing when the row already matches.
func (p *Programmer) Set(s Settings) {
	s.Targets = slices.Clone(s.Targets)
	p.mu.Lock()
	p.want = &s
	p.mu.Unlock()
	p.poke()
}

// Bridges returns the managed bridges (those the Include/Exclude filters
// select), sorted by name, as last read from OVSDB. A bridge left alone
// under PolicyLeave has Attached false.
func (p *Programmer) Bridges() []Bridge {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := slices.Clone(p.bridges)
	for i := range out {
		out[i].Ports = slices.Clone(out[i].Ports)
	}
	return out
}

// Changed signals after the bridge and port view changed; signals are
// coalesced (the channel holds at most one).
func (p *Programmer) Changed() <-chan struct{} { return p.changed }

// Status reports whether the programmer is connected to OVSDB and the last
// connection or transaction error (nil once a later attempt succeeded).
func (p *Programmer) Status() (connected bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.connected, p.err
}

// Run connects to OVSDB, monitors the bridges, converges them to the
// settings, and keeps doing so across disconnections (reconnecting with
// exponential backoff, then converging again), until ctx ends. Then, with
// RemoveOnExit, it detaches gwd's row from every bridge. Run returns nil
// after a clean stop, or the error that prevented the start (an unknown
// policy) or the removal.
func (p *Programmer) Run(ctx context.Context) error {
	if p.cfg.Policy != PolicyAdopt && p.cfg.Policy != PolicyLeave {
		err := fmt.Errorf("ovs: policy %q: want %q or %q", p.cfg.Policy, PolicyAdopt, PolicyLeave)
		p.setState(false, err)
		return err
	}
	dbm, err := dbModel()
	if err != nil {
		return fmt.Errorf("ovs: model: %w", err)
	}
	delay := minBackoff
	for {
		cli, err := p.connect(ctx, dbm)
		if err == nil {
			delay = minBackoff
			err = p.serve(ctx, cli)
			if ctx.Err() != nil {
				p.setState(false, nil)
				return err // nil, or why the row could not be removed
			}
		}
		if ctx.Err() != nil {
			return p.exitDisconnected()
		}
		p.setState(false, err)
		// Jitter over the upper half of the delay: agents restarted
		// together do not reconnect in step.
		wait := delay/2 + rand.N(delay/2+1)
		select {
		case <-ctx.Done():
			return p.exitDisconnected()
		case <-time.After(wait):
		}
		delay = min(delay*2, maxBackoff)
	}
}

// connect opens one OVSDB session: a fresh client, connected, with the
// five tables monitored into its cache and cache events kicking converge.
//
// Reconnection is done here rather than with client.WithReconnect: that
// option's retry loop panics when its backoff gives up, keeps running after
// Close when the server is down, and hides the cause of each failed attempt
// that Status must report.
func (p *Programmer) connect(ctx context.Context, dbm model.ClientDBModel) (client.Client, error) {
	opts := []client.Option{client.WithEndpoint(p.endpoint), client.WithLogger(&p.libLog)}
	if p.cfg.TLS != nil {
		opts = append(opts, client.WithTLSConfig(p.cfg.TLS))
	}
	cli, err := client.NewOVSDBClient(dbm, opts...)
	if err != nil {
		return nil, p.errorf("client", err)
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := cli.Connect(cctx); err != nil {
		cli.Close()
		return nil, p.errorf("connect", connectCause(err))
	}
	tc := cli.Cache()
	if tc == nil { // the server hung up right after the handshake
		cli.Close()
		return nil, p.errorf("connect", errors.New("connection lost"))
	}
	tc.AddEventHandler(&cache.EventHandlerFuncs{
		AddFunc:    func(string, model.Model) { p.poke() },
		UpdateFunc: func(string, model.Model, model.Model) { p.poke() },
		DeleteFunc: func(string, model.Model) { p.poke() },
	})
	var (
		o  ovsRow
		b  bridgeRow
		pt portRow
		i  ifaceRow
		s  sflowRow
	)
	mon := cli.NewMonitor(
		client.WithTable(&o, &o.Bridges),
		client.WithTable(&b, &b.Name, &b.SFlow, &b.DatapathID, &b.Ports),
		client.WithTable(&pt, &pt.Name, &pt.Interfaces),
		client.WithTable(&i, &i.Name, &i.IfIndex, &i.LinkSpeed, &i.Type, &i.OFPort),
		client.WithTable(&s, &s.Agent, &s.Header, &s.Polling, &s.Sampling, &s.Targets, &s.ExternalIDs),
	)
	if _, err := cli.Monitor(cctx, mon); err != nil {
		cli.Close()
		return nil, p.errorf("monitor", err)
	}
	return cli, nil
}

// connectCause strips what libovsdb and net wrap around a dial error, so
// that Status reads "ovsdb unix:/x/db.sock: connect: no such file or
// directory"; errors.Is still finds the errno.
func connectCause(err error) error {
	if inner := errors.Unwrap(err); inner != nil {
		err = inner // libovsdb's "failed to connect to <endpoint>: "
	}
	var op *net.OpError
	if errors.As(err, &op) {
		err = op.Err
	}
	var sys *os.SyscallError
	if errors.As(err, &sys) {
		err = sys.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %v: %w", connectTimeout, err)
	}
	return err
}

func (p *Programmer) errorf(step string, err error) error {
	return fmt.Errorf("ovsdb %s: %s: %w", p.endpoint, step, err)
}

// serve converges on every cache event (coalesced) and every echo tick
// until ctx ends (then it cleans up, see Run) or the connection is lost.
func (p *Programmer) serve(ctx context.Context, cli client.Client) error {
	defer cli.Close()
	lost, done := make(chan struct{}), make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-cli.DisconnectNotify():
			close(lost)
		case <-done:
		}
	}()
	p.setState(true, nil)
	echo := time.NewTicker(echoInterval)
	defer echo.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	var soon <-chan time.Time
	pending := true
	for {
		if pending {
			pending = false
			at, err := p.converge(ctx, cli)
			if errors.Is(err, client.ErrNotConnected) {
				return p.errorf("transact", errors.New("connection lost"))
			}
			if ctx.Err() == nil {
				p.setState(true, err)
			}
			if !at.IsZero() {
				retry.Reset(max(time.Until(at), 0))
			}
		}
		select {
		case <-retry.C:
			pending = true
		case <-ctx.Done():
			return p.shutdown(ctx, cli)
		case <-lost:
			return p.errorf("connection", errors.New("connection lost"))
		case <-p.kick:
			if soon == nil {
				soon = time.After(coalesce)
			}
		case <-soon:
			soon, pending = nil, true
		case <-echo.C:
			ectx, cancel := context.WithTimeout(ctx, echoInterval)
			err := cli.Echo(ectx)
			cancel()
			if err != nil && ctx.Err() == nil {
				return p.errorf("echo", err)
			}
			pending = true
		}
	}
}

// shutdown removes gwd's row when so configured: every bridge pointing at
// an owned row loses its sflow reference, and OVSDB collects the row.
func (p *Programmer) shutdown(ctx context.Context, cli client.Client) error {
	if !p.cfg.RemoveOnExit {
		return nil
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	sn, err := read(cctx, cli)
	if err != nil {
		return p.errorf("removing gwd's sFlow row", err)
	}
	pl := makePlan(sn, p.sel, p.cfg.Policy, nil, p.samplingFor)
	if pl.empty() {
		return nil
	}
	if y := p.own.yielded(sn, pl.keeper); y != nil {
		p.log.Info("leaving OVS's sFlow row in place: it belongs to another gwd", "other", y.Other.String())
		return nil
	}
	if err := p.apply(cctx, cli, sn, pl); err != nil {
		p.log.Warn("could not remove gwd's sFlow row", "err", err)
		return fmt.Errorf("removing gwd's sFlow row: %w", err)
	}
	p.log.Info("removed gwd's sFlow row", "bridges", len(pl.detach))
	return nil
}

// converge reads the cache, publishes the view and, once Set was called,
// writes what differs from the settings in one transaction, unless that
// write would undo somebody else's change too soon, or the row belongs to
// an older gwd (see owner.go). A non-zero retry is when to converge again
// although nothing else happens.
func (p *Programmer) converge(ctx context.Context, cli client.Client) (retry time.Time, err error) {
	sn, err := read(ctx, cli)
	if err != nil {
		return time.Time{}, p.errorf("cache", err)
	}
	p.publish(sn.view(p.sel))
	p.mu.Lock()
	want := p.want
	p.mu.Unlock()
	if want == nil {
		return time.Time{}, nil // nothing desired yet: never touch a row before Set
	}
	now := p.now()
	pl, d := p.next(sn, want, now)
	if !d.write {
		return d.retry, d.err
	}
	if err := p.apply(ctx, cli, sn, pl); err != nil {
		if d.correction {
			p.own.lastWrite = now // a failed correction is paced like one that went through
		}
		return time.Time{}, err
	}
	p.own.wrote(sn, pl, now, d.correction)
	level := slog.LevelInfo
	if d.correction {
		level = slog.LevelDebug // the episode's WARN said it
	}
	p.log.Log(ctx, level, "ovsdb sFlow row converged", "created", pl.create, "updated", pl.update,
		"attached", len(pl.attach), "detached", len(pl.detach), "targets", pl.row.targets,
		"sampling", deref(pl.row.sampling), "polling", deref(pl.row.polling), "header", deref(pl.row.header),
		"correction", d.correction)
	return time.Time{}, nil
}

// next plans how to converge snapshot sn to want and decides whether to
// write the plan now (see owner.go). After a write, converge reports it
// with p.own.wrote.
func (p *Programmer) next(sn *snapshot, want *Settings, now time.Time) (plan, decision) {
	pl := makePlan(sn, p.sel, p.cfg.Policy, want, p.samplingFor)
	p.noteForeign(pl.foreign)
	if y := p.own.yielded(sn, pl.keeper); y != nil {
		if pl.empty() {
			return pl, decision{}
		}
		return pl, decision{err: y}
	}
	if pl.empty() {
		p.own.settle(sn, pl, now)
		return pl, decision{}
	}
	return pl, p.own.decide(sn, pl, now)
}

// read copies the monitored tables out of the client's cache.
func read(ctx context.Context, cli client.Client) (*snapshot, error) {
	var (
		bs []bridgeRow
		ps []portRow
		is []ifaceRow
		ss []sflowRow
	)
	for _, l := range []any{&bs, &ps, &is, &ss} {
		if err := cli.List(ctx, l); err != nil {
			return nil, fmt.Errorf("list: %w", err)
		}
	}
	sn := &snapshot{
		bridges: make(map[string]bridgeRow, len(bs)),
		ports:   make(map[string]portRow, len(ps)),
		ifaces:  make(map[string]ifaceRow, len(is)),
		sflows:  make(map[string]sflowRow, len(ss)),
	}
	for _, r := range bs {
		sn.bridges[r.UUID] = r
	}
	for _, r := range ps {
		sn.ports[r.UUID] = r
	}
	for _, r := range is {
		sn.ifaces[r.UUID] = r
	}
	for _, r := range ss {
		sn.sflows[r.UUID] = r
	}
	return sn, nil
}

// apply turns a plan into operations and commits them in one transaction.
// Each bridge update is guarded by a wait on the bridge's current sflow
// column, so a concurrent writer makes the transaction fail (and converge
// runs again on the resulting cache update) instead of being overwritten.
func (p *Programmer) apply(ctx context.Context, cli client.Client, sn *snapshot, pl plan) error {
	var ops []ovsdb.Operation
	add := func(o []ovsdb.Operation, err error) error {
		ops = append(ops, o...)
		return err
	}
	target := pl.keeper
	row := &sflowRow{
		UUID: pl.keeper, Agent: pl.row.agent, Header: pl.row.header, Polling: pl.row.polling,
		Sampling: pl.row.sampling, Targets: pl.row.targets,
	}
	switch {
	case pl.create:
		// The insert and the references to it go in one transaction: an
		// sFlow row that no bridge references is garbage-collected.
		row.UUID, target = namedRow, namedRow
		row.ExternalIDs = mergeIDs(nil, p.cfg.Identity)
		if err := add(cli.Create(row)); err != nil {
			return p.errorf("insert sFlow", err)
		}
	case pl.update:
		// Field pointers make Update write unset columns too. The other
		// external_ids entries are kept; the identity becomes this one.
		row.ExternalIDs = mergeIDs(sn.sflows[pl.keeper].ExternalIDs, p.cfg.Identity)
		if err := add(cli.Where(row).Update(row, &row.Agent, &row.Header, &row.Polling, &row.Sampling, &row.Targets, &row.ExternalIDs)); err != nil {
			return p.errorf("update sFlow", err)
		}
	}
	zero := 0
	point := func(u string, to *string) error {
		cur := &bridgeRow{UUID: u, SFlow: sn.bridges[u].SFlow}
		if err := add(cli.Where(cur).Wait(ovsdb.WaitConditionEqual, &zero, cur, &cur.SFlow)); err != nil {
			return err
		}
		// Bridge.sflow is an optional reference: Mutate cannot set it,
		// Update with the field pointer can (nil clears it).
		nb := &bridgeRow{UUID: u, SFlow: to}
		return add(cli.Where(nb).Update(nb, &nb.SFlow))
	}
	for _, u := range pl.attach {
		if err := point(u, &target); err != nil {
			return p.errorf("update Bridge", err)
		}
	}
	for _, u := range pl.detach {
		if err := point(u, nil); err != nil {
			return p.errorf("update Bridge", err)
		}
	}
	return p.transact(ctx, cli, ops)
}

// transact commits ops and checks every operation's result.
func (p *Programmer) transact(ctx context.Context, cli client.Client, ops []ovsdb.Operation) error {
	tctx, cancel := context.WithTimeout(ctx, txnTimeout)
	defer cancel()
	p.txns.Add(1)
	res, err := cli.Transact(tctx, ops...)
	if err != nil {
		return p.errorf("transact", err)
	}
	if opErrs, err := ovsdb.CheckOperationResults(res, ops); err != nil {
		errs := []error{err}
		for _, e := range opErrs {
			errs = append(errs, e)
		}
		return p.errorf("transact", errors.Join(errs...))
	}
	return nil
}

// poke asks the running session to converge (coalesced).
func (p *Programmer) poke() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// exitDisconnected ends Run while OVSDB is unreachable: nothing can be
// removed.
func (p *Programmer) exitDisconnected() error {
	p.mu.Lock()
	wanted := p.want != nil
	p.mu.Unlock()
	p.setState(false, nil)
	if p.cfg.RemoveOnExit && wanted {
		p.log.Warn("ovsdb unreachable at exit: gwd's sFlow row, if any, stays in OVSDB", "endpoint", p.endpoint)
	}
	return nil
}

// publish replaces the view and signals Changed when it differs.
func (p *Programmer) publish(v []Bridge) {
	p.mu.Lock()
	same := reflect.DeepEqual(p.bridges, v)
	if !same {
		p.bridges = v
	}
	p.mu.Unlock()
	if !same {
		select {
		case p.changed <- struct{}{}:
		default:
		}
	}
}

// noteForeign logs, once per change, the bridges left alone under
// PolicyLeave.
func (p *Programmer) noteForeign(names []string) {
	p.mu.Lock()
	same := slices.Equal(p.foreign, names)
	p.foreign = names
	p.mu.Unlock()
	if !same && len(names) > 0 {
		p.log.Info("bridges carry a foreign sFlow row, left alone (policy leave)", "bridges", names)
	}
}

// setState records the connection state and the last error, logging once
// per change.
func (p *Programmer) setState(connected bool, err error) {
	msg := fmt.Sprint(connected)
	if err != nil {
		msg += err.Error()
	}
	p.mu.Lock()
	p.connected, p.err = connected, err
	changed := msg != p.logged
	p.logged = msg
	p.mu.Unlock()
	var yield *YieldError
	switch {
	case !changed:
	case errors.As(err, &yield):
		p.log.Warn("another gwd, started earlier, keeps OVS's sFlow row: this one leaves it alone; stop one of them",
			"other_host", yield.Other.Host, "other_pid", yield.Other.PID, "other_start", yield.Other.Start.Format(time.RFC3339))
	case err != nil && connected:
		p.log.Warn("ovsdb transaction failed", "endpoint", p.endpoint, "err", err)
	case err != nil:
		p.log.Warn("ovsdb unavailable, retrying", "endpoint", p.endpoint, "err", err)
	case connected:
		p.log.Info("ovsdb connected", "endpoint", p.endpoint)
	}
}

// slogSink is a logr sink that hands libovsdb's messages, errors included,
// to slog at debug level: the library stays silent by default.
type slogSink struct{ log *slog.Logger }

func (s slogSink) Init(logr.RuntimeInfo) {}
func (s slogSink) Enabled(int) bool {
	return s.log.Enabled(context.Background(), slog.LevelDebug)
}
func (s slogSink) Info(level int, msg string, kv ...any) {
	s.log.Debug(msg, append(kv, "v", level)...)
}
func (s slogSink) Error(err error, msg string, kv ...any) {
	s.log.Debug(msg, append(kv, "err", err)...)
}
func (s slogSink) WithValues(kv ...any) logr.LogSink { return slogSink{s.log.With(kv...)} }
func (s slogSink) WithName(name string) logr.LogSink { return slogSink{s.log.With("logger", name)} }

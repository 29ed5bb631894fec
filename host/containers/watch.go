package containers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gwd/agent"
	"gwd/host"
	"gwd/internal/textscan"
)

// Entities is what the watcher needs of the agent: registration and the
// virtual-entity data sources. *agent.Agent implements it.
type Entities interface {
	agent.Registrar
	ClaimEntity(key string) (agent.DataSource, error)
	ReleaseEntity(key string)
}

// Config configures one kind's watcher.
type Config struct {
	Kind Kind
	// CgroupRoot is the cgroup v2 mount (/sys/fs/cgroup); ProcRoot procfs.
	CgroupRoot, ProcRoot string
	// Namespaces are containerd's cgroup parents (relative to CgroupRoot).
	Namespaces []string
	// DockerRoot is docker's data directory (names); LogDir the kubelet's
	// container log links (k8s names). "" reads no names.
	DockerRoot, LogDir string
	// UseHostname names docker containers by their hostname instead of
	// their name (hsflowd's docker { hostname = on }).
	UseHostname bool
	// Refresh is the discovery interval; Forget the grace period after
	// which a vanished container's data source is released.
	Refresh, Forget time.Duration
}

// hostInfo is what every container's sample shares with the host.
type hostInfo struct {
	cpus        uint32
	memory      uint64
	machineType uint32
	osRelease   string
	netns       string // gwd's own network namespace ("net:[...]")
}

// Watcher discovers one kind's containers and keeps a poller registered
// for each.
type Watcher struct {
	cfg    Config
	log    *slog.Logger
	ents   Entities
	source string
	sc     scanner
	host   atomic.Pointer[hostInfo]
	hostAt time.Time // when host was read
	done   chan struct{}

	// Owned by the refresh loop (or a test calling Refresh).
	live    map[string]*container
	gone    map[string]time.Time // key -> when it vanished
	scratch []found
	lastErr string

	mu    sync.Mutex // guards count, for Describe and Labels
	count int
	names map[agent.DataSource]string
}

// claims keeps one owner per entity key and agent, so that two modules
// enabled together (say containerd with namespace "docker" next to docker)
// never export one container twice.
var claims = struct {
	sync.Mutex
	m map[Entities]map[string]Kind
}{m: map[Entities]map[string]Kind{}}

func claim(e Entities, key string, k Kind) (Kind, bool) {
	claims.Lock()
	defer claims.Unlock()
	m := claims.m[e]
	if m == nil {
		m = map[string]Kind{}
		claims.m[e] = m
	}
	if o, ok := m[key]; ok && o != k {
		return o, false
	}
	m[key] = k
	return k, true
}

func unclaim(e Entities, key string, k Kind) {
	claims.Lock()
	defer claims.Unlock()
	if m := claims.m[e]; m != nil && m[key] == k {
		delete(m, key)
		if len(m) == 0 {
			delete(claims.m, e)
		}
	}
}

// ErrNoCgroup2 says that the cgroup root is not a cgroup v2 hierarchy.
var ErrNoCgroup2 = errors.New("cgroup v2 not mounted")

// CheckCgroup2 returns an error wrapping ErrNoCgroup2 unless root is a
// cgroup v2 (unified) hierarchy: it has a cgroup.controllers file.
func CheckCgroup2(root string) error {
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err != nil {
		return fmt.Errorf("%w at %s (no cgroup.controllers: a cgroup v1 host; point cgroup_root at the cgroup2 mount, see /proc/mounts): %w", ErrNoCgroup2, root, err)
	}
	return nil
}

// ResolveCgroup2 returns the cgroup v2 hierarchy to read for root: root
// itself when it is one, else root/unified when that is (systemd's hybrid
// layout: v1 controllers under root, the v2 tree beside them), hybrid
// true. On a hybrid host the controllers that stayed on v1 (often memory
// and io) have no files in the v2 tree: their records carry unknowns.
func ResolveCgroup2(root string) (dir string, hybrid bool, err error) {
	err = CheckCgroup2(root)
	if err == nil {
		return root, false, nil
	}
	unified := filepath.Join(root, "unified")
	if CheckCgroup2(unified) == nil {
		return unified, true, nil
	}
	return "", false, err
}

// NewWatcher returns a watcher for cfg.Kind registering under the kind's
// name as source.
func NewWatcher(cfg Config, ents Entities, log *slog.Logger) *Watcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 10 * time.Second
	}
	w := &Watcher{cfg: cfg, log: log, ents: ents, source: cfg.Kind.String(), done: make(chan struct{}),
		sc:   scanner{root: cfg.CgroupRoot, kind: cfg.Kind, namespaces: cfg.Namespaces},
		live: map[string]*container{}, gone: map[string]time.Time{}}
	w.host.Store(w.readHost())
	w.hostAt = time.Now()
	return w
}

// Source is the name the watcher registers its pollers under.
func (w *Watcher) Source() string { return w.source }

// Done is closed once Run has unregistered everything after ctx ended.
func (w *Watcher) Done() <-chan struct{} { return w.done }

// Run refreshes every Config.Refresh until ctx ends, then unregisters
// every container and releases their data sources. Call Refresh once
// before, for containers to be there when Run starts.
func (w *Watcher) Run(ctx context.Context) {
	defer close(w.done)
	t := time.NewTicker(w.cfg.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			w.stop()
			return
		case now := <-t.C:
			w.Refresh(now)
		}
	}
}

func (w *Watcher) stop() {
	for key, c := range w.live {
		w.ents.Unregister(w.source, c.ds())
		w.release(key)
	}
	for key := range w.gone {
		w.release(key)
	}
	clear(w.live)
	clear(w.gone)
	w.publish()
}

func (w *Watcher) release(key string) {
	w.ents.ReleaseEntity(key)
	unclaim(w.ents, key, w.cfg.Kind)
}

func (c *container) ds() agent.DataSource { return c.dsrc }

// Refresh scans the cgroup tree once: new containers get a data source
// and a poller, vanished ones are unregistered at once and their data
// source released after Config.Forget (a container that comes back within
// it, such as a restarted docker container, keeps its data source).
func (w *Watcher) Refresh(now time.Time) {
	// The host's CPU count, memory and kernel release change seldom (a
	// hot-plugged CPU, a resize): read at most every hostEvery.
	if now.Sub(w.hostAt) >= hostEvery || now.Before(w.hostAt) {
		w.host.Store(w.readHost())
		w.hostAt = now
	}
	if err := CheckCgroup2(w.cfg.CgroupRoot); err != nil {
		w.health(err)
	} else {
		w.health(nil)
	}
	w.scratch = w.sc.scan(w.scratch)
	var k8s map[string]k8sName
	if w.cfg.Kind == K8s {
		k8s = k8sNames(w.cfg.LogDir)
	}
	seen := make(map[string]bool, len(w.scratch))
	for _, f := range w.scratch {
		seen[f.key] = true
		c := w.live[f.key]
		if c == nil {
			if owner, ok := claim(w.ents, f.key, w.cfg.Kind); !ok {
				w.log.Debug("container already reported by another module", "id", f.key, "module", owner)
				continue
			}
			ds, err := w.ents.ClaimEntity(f.key)
			if err != nil {
				unclaim(w.ents, f.key, w.cfg.Kind)
				w.health(err)
				continue
			}
			c = &container{f: f, w: w, dsrc: ds, paths: pathsOf(f.dir)}
			c.setName(shortID(f.id), false)
			w.live[f.key] = c
			delete(w.gone, f.key)
			w.log.Debug("container found", "id", f.key, "cgroup", f.dir, "data_source", ds.String())
		}
		if !c.named {
			w.name(c, k8s)
		}
		if c.f.dir != f.dir { // moved between layouts (driver change): follow it
			c.mu.Lock()
			c.f, c.paths = f, pathsOf(f.dir)
			c.mu.Unlock()
		}
		if !c.registered {
			w.ents.Register(w.source, c.dsrc, c)
			c.registered = true
		}
	}
	for key, c := range w.live {
		if !seen[key] {
			w.ents.Unregister(w.source, c.dsrc)
			delete(w.live, key)
			w.gone[key] = now
			w.log.Debug("container gone", "id", key)
		}
	}
	for key, t := range w.gone {
		if now.Sub(t) >= w.cfg.Forget {
			delete(w.gone, key)
			w.release(key)
		}
	}
	w.publish()
}

// name looks up c's name: docker's config.v2.json, the kubelet's log
// links; until one is found the short ID stands in.
func (w *Watcher) name(c *container, k8s map[string]k8sName) {
	switch c.f.kind {
	case Docker:
		name, hostname := dockerNames(w.cfg.DockerRoot, c.f.id)
		if w.cfg.UseHostname && hostname != "" {
			c.setName(hostname, true)
		} else if name != "" {
			c.setName(name, true)
		}
	case K8s:
		if n, ok := k8s[c.f.id]; ok {
			c.setName(n.String(), true)
		}
	case Containerd:
		if !isHexID(c.f.id) { // ctr: the ID is the name the user gave
			c.setName(c.f.id, true)
		}
	}
}

func (w *Watcher) health(err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if msg == w.lastErr {
		return
	}
	w.lastErr = msg
	w.ents.SetHealth(w.source, err)
}

func (w *Watcher) publish() {
	names := make(map[agent.DataSource]string, len(w.live))
	for _, c := range w.live {
		c.mu.Lock()
		names[c.dsrc] = w.source + " container " + c.name
		c.mu.Unlock()
	}
	w.mu.Lock()
	w.count, w.names = len(w.live), names
	w.mu.Unlock()
}

// Count is the number of containers reported now.
func (w *Watcher) Count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.count
}

// Labels names the containers' data sources.
func (w *Watcher) Labels() map[agent.DataSource]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.names
}

// Names lists the containers reported now (for tests and logs), sorted.
func (w *Watcher) Names() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.names))
	for _, n := range w.names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// readHost reads what the containers' samples share with the host: CPUs
// (cpu lines of /proc/stat), memory (MemTotal), kernel release, and the
// network namespace whose interfaces gwd reports (its own: <proc>/self).
// hostEvery is how often Refresh reads the host facts again.
const hostEvery = 10 * time.Minute

func (w *Watcher) readHost() *hostInfo {
	h := &hostInfo{cpus: uint32(runtime.NumCPU()), machineType: host.MachineType(runtime.GOARCH)}
	p := w.cfg.ProcRoot
	if b, err := os.ReadFile(filepath.Join(p, "stat")); err == nil {
		n := uint32(0)
		for _, line := range strings.Split(string(b), "\n") {
			if len(line) > 3 && strings.HasPrefix(line, "cpu") && line[3] >= '0' && line[3] <= '9' {
				n++
			}
		}
		if n > 0 {
			h.cpus = n
		}
	}
	if b, err := os.ReadFile(filepath.Join(p, "meminfo")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				f, _ := textscan.NextField([]byte(rest))
				if kb, ok := parseUint(f); ok {
					h.memory = kb * 1024
				}
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(p, "sys", "kernel", "osrelease")); err == nil {
		h.osRelease = truncate(strings.TrimSpace(string(b)), maxOSRelease)
	}
	h.netns, _ = os.Readlink(filepath.Join(p, "self", "ns", "net"))
	return h
}

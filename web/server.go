package web

import (
	"crypto/subtle"
	"embed"
	"encoding/json"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"gwd/agent"
	"gwd/config"
	"gwd/internal/app"
)

//go:embed static
var staticFiles embed.FS

// server answers the page, the API and /metrics.
type server struct {
	agent    *agent.Agent
	rt       *app.Runtime
	token    string
	loopback bool
	url      string
	tap      *tapQueue
	state    *state
	metrics  *prometheus.Registry

	mu  sync.Mutex
	cfg *config.Config
}

func newServer(env app.Env, o Options, addr string) *server {
	s := &server{agent: env.Agent, rt: env.Runtime, token: o.Token, loopback: loopback(o.Listen),
		url: "http://" + addr + "/", tap: newTapQueue(tapBytes), state: newState(), cfg: env.Config}
	s.metrics = prometheus.NewPedanticRegistry()
	s.metrics.MustRegister(&collector{s: s})
	return s
}

func (s *server) setConfig(cfg *config.Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg = cfg
}

func (s *server) config() *config.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	sub, _ := fs.Sub(staticFiles, "static")
	mux.Handle("GET /", http.FileServerFS(sub))
	mux.HandleFunc("GET /api/v1/status", s.json(s.status))
	mux.HandleFunc("GET /api/v1/collectors", s.json(func() any { return s.collectors() }))
	mux.HandleFunc("GET /api/v1/sources", s.json(s.sources))
	mux.HandleFunc("GET /api/v1/datasources", s.json(func() any { return s.dataSources() }))
	mux.HandleFunc("GET /api/v1/flows", s.json(s.flows))
	mux.HandleFunc("POST /api/v1/reload", s.reload)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	return s.auth(mux)
}

// authorized reports whether r carries the configured token.
func (s *server) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && s.token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) == 1
}

// auth lets reads through on a loopback listen address; everything else
// (every request on another address, every POST) needs the token.
func (s *server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		read := r.Method == http.MethodGet || r.Method == http.MethodHead
		if (!read || !s.loopback) && !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gwd"`)
			msg := "this request needs Authorization: Bearer <modules.web.token>"
			if s.token == "" {
				msg = "no modules.web.token is configured: state-changing requests are refused"
			}
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": msg})
			return
		}
		if read && s.loopback && !s.authorized(r) && !loopbackHost(r.Host) {
			// A page of another site whose name was rebound to 127.0.0.1
			// must not read the API through the visitor's browser.
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "Host " + r.Host + " is not a loopback name: use http://127.0.0.1 or localhost, or send the token"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header names this box's loopback
// (localhost or a loopback address, with or without a port).
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	enc.Encode(v)
}

func (s *server) json(f func() any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, f()) }
}

func (s *server) reload(w http.ResponseWriter, r *http.Request) {
	p := s.rt.Process()
	if p.Reload == nil {
		writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "this process cannot reload its configuration"})
		return
	}
	if err := p.Reload(); err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"result": "reloaded"})
}

// Status is GET /api/v1/status.
type Status struct {
	Version       string         `json:"version"`
	Agent         AgentAddress   `json:"agent"`
	SubAgent      uint32         `json:"sub_agent"`
	Hostname      string         `json:"hostname"`
	UUID          string         `json:"uuid"`
	Started       time.Time      `json:"started"`
	UptimeSeconds float64        `json:"uptime_seconds"`
	Polling       float64        `json:"polling_seconds"`
	Modules       []ModuleStatus `json:"modules"`
	Tap           TapStatus      `json:"tap"`
}

// AgentAddress is the elected agent address and why.
type AgentAddress struct {
	Address   string `json:"address"`
	Interface string `json:"interface"`
	Reason    string `json:"reason"`
}

// ModuleStatus is one module's state (app.Runtime.Status).
type ModuleStatus struct {
	Name    string `json:"name"`
	Mode    string `json:"mode"`
	Running bool   `json:"running"`
	Detail  string `json:"detail"`
}

// TapStatus counts the datagrams the page saw.
type TapStatus struct {
	Datagrams    uint64 `json:"datagrams"`
	Dropped      uint64 `json:"dropped"`
	Decoded      uint64 `json:"decoded"`
	DecodeErrors uint64 `json:"decode_errors"`
}

func (s *server) status() any {
	p := s.rt.Process()
	e := s.agent.Address()
	cfg := s.config()
	st := Status{Version: p.Version, SubAgent: cfg.Core.Identity.SubAgent, Started: p.Started, Polling: cfg.Core.Polling.Seconds(),
		Agent: AgentAddress{Interface: e.Interface, Reason: e.Reason}, Modules: s.modules(), Tap: s.tapStatus()}
	if e.Addr.IsValid() {
		st.Agent.Address = e.Addr.String()
	}
	s.state.mu.Lock()
	st.Hostname, st.UUID = s.state.hostname, s.state.uuid
	s.state.mu.Unlock()
	if !p.Started.IsZero() {
		st.UptimeSeconds = time.Since(p.Started).Round(time.Second).Seconds()
	}
	return st
}

func (s *server) tapStatus() TapStatus {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	return TapStatus{Datagrams: s.tap.seen.Load(), Dropped: s.tap.dropped.Load(), Decoded: s.state.datagrams, DecodeErrors: s.state.decodeErrors}
}

func (s *server) modules() []ModuleStatus {
	var out []ModuleStatus
	for _, m := range s.rt.Status() {
		out = append(out, ModuleStatus{Name: m.Name, Mode: m.Mode.String(), Running: m.Running, Detail: m.Detail})
	}
	return out
}

// Collector is one entry of GET /api/v1/collectors.
type Collector struct {
	Collector string `json:"collector"`
	Datagrams uint64 `json:"datagrams"`
	Bytes     uint64 `json:"bytes"`
	Errors    uint64 `json:"errors"`
	LastError string `json:"last_error"`
}

func (s *server) collectors() []Collector {
	out := []Collector{}
	for _, c := range s.agent.Collectors() {
		out = append(out, Collector(c))
	}
	return out
}

// Source is one source of GET /api/v1/sources: a name that registers
// pollers (host, ovs, nvml, asic...).
type Source struct {
	Name       string `json:"name"`
	Healthy    bool   `json:"healthy"`
	LastError  string `json:"last_error"`
	PollErrors uint64 `json:"poll_errors"`
}

// Sources is GET /api/v1/sources.
type Sources struct {
	Sources []Source       `json:"sources"`
	Modules []ModuleStatus `json:"modules"`
}

func (s *server) sources() any {
	h, pe := s.agent.Health(), s.agent.PollErrors()
	out := Sources{Sources: []Source{}, Modules: s.modules()}
	for name, msg := range h {
		out.Sources = append(out.Sources, Source{Name: name, Healthy: msg == "", LastError: msg, PollErrors: pe[name]})
	}
	sort.Slice(out.Sources, func(i, j int) bool { return out.Sources[i].Name < out.Sources[j].Name })
	return out
}

// DataSource is one entry of GET /api/v1/datasources.
type DataSource struct {
	ID           string             `json:"id"`
	Type         uint32             `json:"type"`
	Index        uint32             `json:"index"`
	Kind         string             `json:"kind"`
	Label        string             `json:"label"`
	Contributors []string           `json:"contributors"`
	LastSample   *time.Time         `json:"last_sample"`
	Samples      uint64             `json:"samples"`
	FlowSamples  uint64             `json:"flow_samples"`
	Records      []string           `json:"records"`
	Counters     map[string]uint64  `json:"counters"`
	Gauges       map[string]float64 `json:"gauges"`
	InBps        []float64          `json:"in_bps"`
	OutBps       []float64          `json:"out_bps"`
}

// kind names a data source by the plan of agent/plan.go.
func kind(ds agent.DataSource) string {
	switch {
	case ds.Type == 0:
		return "interface"
	case ds == agent.HostSource:
		return "host"
	case ds.Type == 2 && ds.Index >= 1000 && ds.Index < 2000:
		return "bridge"
	case ds.Type == 2 && ds.Index >= 2000 && ds.Index < 3000:
		return "gpu"
	case ds.Type == 3:
		return "virtual"
	}
	return "other"
}

func (s *server) dataSources() []DataSource {
	reg := s.agent.DataSources()
	keys := make(map[agent.DataSource]bool, len(reg))
	for ds := range reg {
		keys[ds] = true
	}
	s.state.mu.Lock()
	for ds := range s.state.sources {
		keys[ds] = true
	}
	s.state.mu.Unlock()
	sorted := make([]agent.DataSource, 0, len(keys))
	for ds := range keys {
		sorted = append(sorted, ds)
	}
	agent.SortDataSources(sorted)
	labels := make([]string, len(sorted))
	all := s.rt.Labels() // outside the state's lock
	for i, ds := range sorted {
		labels[i] = all[ds]
	}
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	out := make([]DataSource, 0, len(sorted))
	for i, ds := range sorted {
		d := DataSource{ID: ds.String(), Type: ds.Type, Index: ds.Index, Kind: kind(ds), Label: labels[i],
			Contributors: reg[ds], Records: []string{}, InBps: []float64{}, OutBps: []float64{}}
		if d.Contributors == nil {
			d.Contributors = []string{} // seen only in what was sent (flows, or unregistered since)
		}
		if st := s.state.sources[ds]; st != nil {
			if !st.last.IsZero() {
				t := st.last
				d.LastSample = &t
			}
			d.Samples, d.FlowSamples = st.samples, st.flows
			d.Records = append(d.Records, st.records...)
			d.Counters, d.Gauges = st.values()
			d.InBps = append(d.InBps, st.in...)
			d.OutBps = append(d.OutBps, st.out...)
		}
		out = append(out, d)
	}
	return out
}

// values are the key counters and gauges of a data source's latest sample.
func (d *dsState) values() (map[string]uint64, map[string]float64) {
	c, g := map[string]uint64{}, map[string]float64{}
	if f := d.ifc; f != nil {
		c["in_octets"], c["out_octets"] = f.InOctets, f.OutOctets
		c["in_packets"] = known(f.InUcastPkts, f.InMulticastPkts, f.InBroadcastPkts)
		c["out_packets"] = known(f.OutUcastPkts, f.OutMulticastPkts, f.OutBroadcastPkts)
		c["in_errors"], c["out_errors"] = known(f.InErrors), known(f.OutErrors)
		c["in_discards"], c["out_discards"] = known(f.InDiscards), known(f.OutDiscards)
		g["speed_bps"] = float64(f.IfSpeed)
		g["oper_up"] = float64((f.IfStatus >> 1) & 1)
	}
	if h := d.net; h != nil {
		c["in_octets"], c["out_octets"] = h.BytesIn, h.BytesOut
		c["in_packets"], c["out_packets"] = uint64(h.PktsIn), uint64(h.PktsOut)
	}
	if h := d.cpu; h != nil {
		g["load_one"], g["cpu_num"] = float64(h.LoadOne), float64(h.CPUNum)
		c["cpu_user_ms"], c["cpu_system_ms"], c["cpu_idle_ms"] = uint64(h.User), uint64(h.System), uint64(h.Idle)
	}
	if h := d.mem; h != nil {
		g["mem_total_bytes"], g["mem_free_bytes"] = float64(h.MemTotal), float64(h.MemFree)
	}
	if h := d.gpu; h != nil {
		g["gpu_count"], g["gpu_temperature_c"] = float64(h.DeviceCount), float64(h.Temperature)
		g["gpu_mem_total_bytes"], g["gpu_mem_free_bytes"] = float64(h.MemTotal), float64(h.MemFree)
	}
	return c, g
}

// Flows is GET /api/v1/flows.
type Flows struct {
	Recent        []Flow   `json:"recent"`
	TopTalkers    []Talker `json:"top_talkers"`
	WindowSeconds int      `json:"window_seconds"`
}

func (s *server) flows() any {
	top := s.state.topTalkers(10)
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	out := Flows{Recent: make([]Flow, 0, len(s.state.recent)), TopTalkers: top, WindowSeconds: int(talkerWindow.Seconds())}
	for i := len(s.state.recent) - 1; i >= 0; i-- { // newest first
		out.Recent = append(out.Recent, s.state.recent[i])
	}
	return out
}

// unknown is the value of an if_counters field the device does not count.
const unknown = 0xffffffff

// known sums the 32-bit counters that are not unknown.
func known(vs ...uint32) uint64 {
	var n uint64
	for _, v := range vs {
		if v != unknown {
			n += uint64(v)
		}
	}
	return n
}

package gpu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"gwd/agent"
	"gwd/sflow"
)

// SourceName is the source name of the aggregate poller on the host data
// source, and NVML's health entry: it covers every GPU, per-GPU data
// sources included.
const SourceName = "nvml"

// PerGPUSourceName is the source name of the per-GPU pollers. They report
// no errors of their own: the agent derives a source's health from each
// poll, and data sources polled at different seconds would otherwise flip
// one shared entry back and forth.
const PerGPUSourceName = "nvml-gpu"

// DefaultRescan is how often GPUs are re-enumerated unless configured.
const DefaultRescan = 5 * time.Minute

// sampleEvery is the utilization and energy sampling period. NVML averages
// utilization over at most one second, so sampling more slowly would miss
// activity and sampling faster would only cost CPU.
const sampleEvery = time.Second

// maxElapsed caps the time one sample accounts for, so that a stalled or
// suspended process does not extrapolate one utilization reading over
// minutes.
const maxElapsed = 2 * sampleEvery

// maxPerGPU bounds the per-GPU data sources (agent.GPUSource(i), i < 1000).
const maxPerGPU = 1000

// Config configures the GPU source.
type Config struct {
	// PerGPU gives every GPU a data source of its own, agent.GPUSource(i),
	// with one 5703:1 record (device_count 1), in addition to the aggregate
	// on the host sample. Off by default.
	PerGPU bool
	// Rescan is how often GPUs are re-enumerated (hot plug, GPU reset, MIG
	// changes); 0 means DefaultRescan, and at least one second is used.
	Rescan time.Duration
}

// lib is the hardware edge: the part of NVML the source uses. nvml.go
// implements it over go-nvml (cgo), nvml_nocgo.go is the stub of a build
// without cgo. Errors are *Error (or ErrNotBuiltIn).
type lib interface {
	// Init loads and initializes NVML. When it fails no other method may
	// be called, Shutdown included.
	Init() error
	Shutdown() error
	DriverVersion() (string, error)
	DeviceCount() (int, error)
	Device(index int) (device, error)
}

// device is one GPU's handle.
type device interface {
	UUID() (string, error)
	Name() (string, error)
	// Utilization is the percent of the last sample period (1/6 s to 1 s)
	// in which a kernel ran (gpu) and device memory was read or written.
	Utilization() (gpu, mem uint32, err error)
	// Memory is the framebuffer total and free, bytes.
	Memory() (total, free uint64, err error)
	// ECCUncorrected is the volatile (since driver load) count of
	// uncorrected ECC errors.
	ECCUncorrected() (uint64, error)
	// TotalEnergy is the energy used since the driver loaded, mJ.
	TotalEnergy() (uint64, error)
	// Power is the current draw, mW.
	Power() (uint32, error)
	// Temperature is the GPU die temperature, degrees C.
	Temperature() (uint32, error)
	// FanSpeed is the fan speed, percent.
	FanSpeed() (uint32, error)
	// ComputeProcesses and GraphicsProcesses append the PIDs running on
	// the GPU to pids.
	ComputeProcesses(pids []uint32) ([]uint32, error)
	GraphicsProcesses(pids []uint32) ([]uint32, error)
	// PCIBusID is the GPU's PCI address as NVML writes it
	// ("00000000:3B:00.0").
	PCIBusID() (string, error)
}

// Source is the NVML data source. Create it with New, then Start it.
type Source struct {
	cfg Config
	log *slog.Logger
	lib lib

	// Owned by the sampling goroutine (or a test driving open, sample and
	// rescan by hand): NVML is called from there only.
	started     bool
	done        chan struct{}
	registered  map[int]string            // per-GPU data source index -> GPU key
	owners      DeviceOwners              // nil: no passthrough
	passthrough map[agent.DataSource]bool // owners' data sources with a poller
	pids        []uint32                  // scratch
	readings    []reading                 // scratch

	mu      sync.Mutex // guards what Poll reads
	gpus    []*gpu     // enumeration order
	byKey   map[string]*gpu
	host    accum
	hostRec sflow.NVIDIAGPU
	health  error
	enumErr error
}

// accum holds the counters of one record: uint32, wrapping modulo 2^32.
type accum struct {
	gpuTime, memTime, energy, ecc uint32
}

// New returns the NVML source (the real library; "NVML support not built
// in" without cgo). log receives state changes only.
func New(cfg Config, log *slog.Logger) *Source { return newWith(newLib(), cfg, log) }

func newWith(l lib, cfg Config, log *slog.Logger) *Source {
	if cfg.Rescan == 0 {
		cfg.Rescan = DefaultRescan
	}
	if cfg.Rescan < time.Second {
		cfg.Rescan = time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{
		cfg: cfg, log: log, lib: l, done: make(chan struct{}),
		registered: map[int]string{}, byKey: map[string]*gpu{},
		passthrough: map[agent.DataSource]bool{},
	}
}

// Start initializes NVML and, when that works, registers the aggregate
// poller on agent.HostSource under SourceName (plus, with Config.PerGPU,
// one per GPU under PerGPUSourceName) before it returns, then samples
// every second and re-enumerates every Config.Rescan until ctx ends; then
// it unregisters its pollers and shuts NVML down, and Done is closed.
//
// When NVML cannot be initialized (no driver: ERROR_LIBRARY_NOT_FOUND; a
// build without cgo: ErrNotBuiltIn; or any other Init failure) Start makes
// no further NVML call, sets the health of SourceName (the agent logs that
// once, and the message names NVML) and returns an error wrapping
// ErrUnavailable and the cause. Start does not log it itself: a caller
// should not log it again, only decide what it means (with nvml "auto" it
// is the normal state of a box without GPUs).
func (s *Source) Start(ctx context.Context, reg agent.Registrar) error {
	if s.started {
		return errors.New("gpu: source started twice")
	}
	s.started = true
	if err := s.open(reg, time.Now()); err != nil {
		close(s.done)
		return err
	}
	go s.run(ctx, reg)
	return nil
}

// Done is closed when the source has stopped: after ctx ended and NVML was
// shut down, or at once when Start failed.
func (s *Source) Done() <-chan struct{} { return s.done }

// open initializes NVML, enumerates the GPUs, takes the first sample and
// registers the pollers.
func (s *Source) open(reg agent.Registrar, now time.Time) error {
	if err := s.lib.Init(); err != nil {
		err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		reg.SetHealth(SourceName, err)
		return err
	}
	drv, err := s.lib.DriverVersion()
	if err != nil {
		drv = "unknown (" + err.Error() + ")"
	}
	// Enumerate and take the baseline sample before registering, so that
	// the first poll already has the gauges.
	s.enumerateAll()
	if o, ok := reg.(DeviceOwners); ok {
		s.owners = o
	}
	s.assignOwners(reg)
	s.sample(now)
	reg.Register(SourceName, agent.HostSource, agent.PollerFunc(s.pollHost))
	if s.cfg.PerGPU {
		s.registerPerGPU(reg, s.gpus)
	}
	n := len(s.gpus)
	s.log.Info("NVML started", "driver", drv, "gpus", n, "per_gpu_sources", s.cfg.PerGPU, "rescan", s.cfg.Rescan)
	return nil
}

// run samples and re-enumerates until ctx ends.
func (s *Source) run(ctx context.Context, reg agent.Registrar) {
	defer close(s.done)
	samples := time.NewTicker(sampleEvery)
	defer samples.Stop()
	rescans := time.NewTicker(s.cfg.Rescan)
	defer rescans.Stop()
	for {
		select {
		case <-ctx.Done():
			s.close(reg)
			return
		case now := <-samples.C:
			s.safely("sample", func() { s.assignOwners(reg); s.sample(now) })
		case <-rescans.C:
			s.safely("rescan", func() { s.rescan(reg) })
		}
	}
}

// safely runs f, turning a panic into a health error: the GPU source must
// not take the agent down.
func (s *Source) safely(what string, f func()) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("GPU "+what+" panicked", "panic", r)
			s.mu.Lock()
			s.health = fmt.Errorf("gpu: %s panicked: %v", what, r)
			s.mu.Unlock()
		}
	}()
	f()
}

// close unregisters every poller and shuts NVML down.
func (s *Source) close(reg agent.Registrar) {
	for i := range s.registered {
		reg.Unregister(PerGPUSourceName, agent.GPUSource(uint32(i)))
		delete(s.registered, i)
	}
	for ds := range s.passthrough {
		reg.Unregister(PassthroughSourceName, ds)
		delete(s.passthrough, ds)
	}
	reg.Unregister(SourceName, agent.HostSource)
	if err := s.lib.Shutdown(); err != nil {
		s.log.Warn("NVML shutdown failed", "err", err)
	}
}

// rescan enumerates the GPUs again and makes the per-GPU data sources
// follow.
func (s *Source) rescan(reg agent.Registrar) {
	s.enumerateAll()
	if s.cfg.PerGPU {
		s.mu.Lock()
		list := s.gpus
		s.mu.Unlock()
		s.registerPerGPU(reg, list)
	}
}

// enumerateAll enumerates the GPUs: new ones are added, gone ones dropped,
// known ones (by UUID) keep their state and get a fresh handle. When
// enumeration fails the last list stays.
func (s *Source) enumerateAll() {
	n, err := s.lib.DeviceCount()
	if err != nil {
		s.mu.Lock()
		s.enumErr = fmt.Errorf("enumerate GPUs: %w", err)
		s.health = s.healthLocked()
		s.mu.Unlock()
		return
	}
	// NVML calls first, without the lock (only this goroutine writes
	// byKey, so reading it here is safe).
	found := make([]enumerated, n)
	for i := range found {
		found[i] = s.enumerate(i)
	}
	s.mu.Lock()
	old := s.byKey
	list := make([]*gpu, 0, n)
	byKey := make(map[string]*gpu, n)
	for _, f := range found {
		if byKey[f.key] != nil { // two GPUs with one UUID: keep them apart
			f.key = fmt.Sprintf("index-%d", f.index)
		}
		g := old[f.key]
		if g == nil {
			g = &gpu{key: f.key, uuid: f.uuid, name: f.name}
		}
		if g.down != nil && f.down == nil {
			g.last = time.Time{} // back: restart the utilization baseline
		}
		g.index, g.dev, g.down = f.index, f.dev, f.down
		if f.pci != "" {
			g.pci = f.pci
		}
		g.unsupported = 0 // a reset or a MIG change may change what is supported
		g.errs = [nFields]error{}
		list = append(list, g)
		byKey[g.key] = g
	}
	s.gpus, s.byKey, s.enumErr = list, byKey, nil
	s.health = s.healthLocked()
	s.mu.Unlock()
	for k, g := range old {
		if byKey[k] == nil {
			s.log.Info("GPU gone", "index", g.index, "uuid", g.uuid, "name", g.name)
		}
	}
	for _, f := range found {
		if old[f.key] == nil {
			s.log.Info("GPU found", "index", f.index, "uuid", f.uuid, "name", f.name, "err", f.down)
		}
	}
}

// enumerated is what enumeration learned of one GPU index.
type enumerated struct {
	index      int
	key        string // the UUID, or index-N when it has none
	uuid, name string
	dev        device
	pci        string // 0000:bb:dd.f, "" when unknown
	down       error  // the handle or the UUID failed: the GPU is left out
}

// enumerate gets GPU i's handle and identity; the name only for a GPU not
// known yet.
func (s *Source) enumerate(i int) enumerated {
	e := enumerated{index: i, key: fmt.Sprintf("index-%d", i)}
	d, err := s.lib.Device(i)
	if err != nil {
		e.down = err
		e.key, e.uuid, e.name = s.previous(i, e.key)
		return e
	}
	e.dev = d
	uuid, err := d.UUID()
	switch {
	case err == nil && uuid != "":
		e.key, e.uuid = uuid, uuid
	case errors.Is(err, ErrGPULost):
		e.down = err
	}
	if e.uuid == "" {
		e.key, e.uuid, e.name = s.previous(i, e.key)
	}
	if e.down != nil {
		return e
	}
	if s.byKey[e.key] == nil {
		e.name, _ = d.Name()
	} else {
		e.name = s.byKey[e.key].name
	}
	if id, err := d.PCIBusID(); err == nil {
		e.pci = normalizePCI(id)
	}
	return e
}

// previous is the identity of the GPU that index i had at the last
// enumeration: a GPU whose handle or UUID cannot be read now (lost) is
// taken to be the same GPU. key is the answer when there was none.
func (s *Source) previous(i int, key string) (string, string, string) {
	for _, g := range s.gpus {
		if g.index == i {
			return g.key, g.uuid, g.name
		}
	}
	return key, "", ""
}

// registerPerGPU keeps one data source per GPU index, registered afresh
// when a different GPU takes the index.
func (s *Source) registerPerGPU(reg agent.Registrar, list []*gpu) {
	want := make(map[int]string, len(list))
	for _, g := range list {
		if g.index < maxPerGPU {
			want[g.index] = g.key
		}
	}
	for i, key := range s.registered {
		if want[i] != key {
			reg.Unregister(PerGPUSourceName, agent.GPUSource(uint32(i)))
			delete(s.registered, i)
		}
	}
	for i, key := range want {
		if _, ok := s.registered[i]; !ok {
			reg.Register(PerGPUSourceName, agent.GPUSource(uint32(i)), &gpuPoller{s: s, key: key})
			s.registered[i] = key
		}
	}
}

// pollHost is the aggregate poller on the host data source.
func (s *Source) pollHost(recs []sflow.Record) ([]sflow.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.gpus) == 0 {
		return recs, s.health
	}
	r := &s.hostRec
	*r = sflow.NVIDIAGPU{
		GPUTime: s.host.gpuTime, MemTime: s.host.memTime,
		Energy: s.host.energy, ECCErrors: s.host.ecc,
	}
	for _, g := range s.gpus {
		if g.owner == (agent.DataSource{}) { // a passed-through GPU is its VM's
			g.addGauges(r)
		}
	}
	return append(recs, r), s.health
}

// gpuPoller is the poller of one GPU's own data source. Its GPU's problems
// are in the health of SourceName.
type gpuPoller struct {
	s   *Source
	key string
	rec sflow.NVIDIAGPU
}

func (p *gpuPoller) Poll(recs []sflow.Record) ([]sflow.Record, error) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	g := p.s.byKey[p.key]
	if g == nil {
		return recs, nil
	}
	p.rec = sflow.NVIDIAGPU{
		GPUTime: g.acc.gpuTime, MemTime: g.acc.memTime,
		Energy: g.acc.energy, ECCErrors: g.acc.ecc,
	}
	g.addGauges(&p.rec)
	return append(recs, &p.rec), nil
}

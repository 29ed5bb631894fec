package gpu

import (
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"gwd/agent"
	"gwd/sflow"
)

// field is one NVML reading of a GPU.
type field uint8

const (
	fUtil field = iota
	fMemory
	fECC
	fEnergyTotal
	fPower
	fTemp
	fFan
	fCompute
	fGraphics
	nFields
)

func (f field) bit() uint16 { return 1 << f }

// gpu is the state of one GPU. The sampling goroutine is the only writer;
// fields that Poll reads are written under Source.mu.
type gpu struct {
	key, uuid, name string
	index           int
	dev             device
	pci             string           // PCI address, 0000:bb:dd.f ("" unknown)
	owner           agent.DataSource // the VM it is passed through to (under mu); zero: the host's
	down            error            // lost or without a handle: left out (under mu)
	last            time.Time        // the last sample; zero: not sampled yet (under mu)

	// Sampling state, used by the sampling goroutine only.
	unsupported                uint16 // fields that answered ERROR_NOT_SUPPORTED
	energyBase, eccBase        bool
	energyLast, eccLast        uint64
	utilRem, memRem, energyRem uint64
	fallbackLogged             bool

	// What the last sample read (under mu).
	memTotal, memFree uint64
	temp, fan, procs  uint32
	good              uint16         // fields read well
	errs              [nFields]error // each field's last failure
	acc               accum          // this GPU's counters
}

// reading is one second's NVML reads of one GPU, taken without the lock.
type reading struct {
	at               time.Time
	util, memUtil    uint32
	total, free      uint64
	ecc, energy      uint64
	power, temp, fan uint32
	procs            uint32
	good             uint16
	errs             [nFields]error
	lost             error
}

// call runs one read of field f unless f is known to be unsupported on g or
// g was lost earlier in this reading; it records the outcome.
func (r *reading) call(g *gpu, f field, read func() error) bool {
	if r.lost != nil {
		return false
	}
	if g.unsupported&f.bit() != 0 {
		r.errs[f] = g.errs[f]
		return false
	}
	if err := read(); err != nil {
		if errors.Is(err, ErrGPULost) {
			r.lost = err
		}
		r.errs[f] = err
		return false
	}
	r.good |= f.bit()
	return true
}

// read takes one second's readings of g.
func (s *Source) read(g *gpu, r *reading, now time.Time) {
	*r = reading{at: now}
	d := g.dev
	var err error
	r.call(g, fUtil, func() error { r.util, r.memUtil, err = d.Utilization(); return err })
	// Energy from the driver's total where it keeps one; power x time only
	// where it does not (a failed total read keeps the baseline, and the
	// next delta covers the gap exactly).
	power := func() error { r.power, err = d.Power(); return err }
	switch {
	case g.unsupported&fEnergyTotal.bit() != 0:
		r.call(g, fPower, power)
	case !r.call(g, fEnergyTotal, func() error { r.energy, err = d.TotalEnergy(); return err }) &&
		errors.Is(r.errs[fEnergyTotal], ErrNotSupported):
		r.call(g, fPower, power)
	}
	r.call(g, fMemory, func() error { r.total, r.free, err = d.Memory(); return err })
	r.call(g, fECC, func() error { r.ecc, err = d.ECCUncorrected(); return err })
	r.call(g, fTemp, func() error { r.temp, err = d.Temperature(); return err })
	r.call(g, fFan, func() error { r.fan, err = d.FanSpeed(); return err })
	pids := s.pids[:0]
	r.call(g, fCompute, func() error { pids, err = d.ComputeProcesses(pids); return err })
	r.call(g, fGraphics, func() error { pids, err = d.GraphicsProcesses(pids); return err })
	r.procs = countDistinct(pids)
	s.pids = pids[:0]
}

// countDistinct counts the distinct values of v (sorting it): a process
// that is both a compute and a graphics process counts once.
func countDistinct(v []uint32) uint32 {
	if len(v) == 0 {
		return 0
	}
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	n := uint32(1)
	for i := 1; i < len(v); i++ {
		if v[i] != v[i-1] {
			n++
		}
	}
	return n
}

// sample reads every GPU that answers and folds the readings into the
// counters and gauges.
func (s *Source) sample(now time.Time) {
	// Only this goroutine writes gpus and down: reading them needs no lock.
	gpus := s.gpus
	if cap(s.readings) < len(gpus) {
		s.readings = make([]reading, len(gpus))
	}
	rs := s.readings[:len(gpus)]
	for i, g := range gpus {
		if g.down == nil && g.dev != nil {
			s.read(g, &rs[i], now)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, g := range gpus {
		if g.down == nil && g.dev != nil {
			s.apply(g, &rs[i])
		}
	}
	s.health = s.healthLocked()
}

// apply folds one reading into g's and the host's counters and g's gauges.
func (s *Source) apply(g *gpu, r *reading) {
	if r.lost != nil {
		g.down, g.good = r.lost, 0
		return
	}
	for f, err := range r.errs {
		g.errs[f] = err
		if errors.Is(err, ErrNotSupported) {
			g.unsupported |= field(f).bit()
		}
	}
	g.good = r.good
	ok := func(f field) bool { return r.good&f.bit() != 0 }

	var us uint64 // microseconds this reading accounts for
	if !g.last.IsZero() {
		d := min(r.at.Sub(g.last), maxElapsed)
		if d > 0 {
			us = uint64(d / time.Microsecond)
		}
	}
	g.last = r.at

	var inc accum
	if ok(fUtil) && us > 0 {
		// percent x us / 100 / 1000 = ms
		inc.gpuTime = addFrac(&g.utilRem, uint64(min(r.util, 100))*us, 100_000)
		inc.memTime = addFrac(&g.memRem, uint64(min(r.memUtil, 100))*us, 100_000)
	}
	switch {
	case ok(fEnergyTotal):
		if g.energyBase {
			if r.energy >= g.energyLast {
				inc.energy = uint32(r.energy - g.energyLast) // mod 2^32, like the counter
			} else {
				inc.energy = uint32(r.energy) // the driver reloaded: all of it is new
			}
		}
		g.energyBase, g.energyLast = true, r.energy
	case ok(fPower):
		if !g.fallbackLogged {
			s.log.Info("GPU has no total energy counter: energy from power draw x time", "index", g.index, "uuid", g.uuid)
			g.fallbackLogged = true
		}
		g.energyBase = false // a later total reading starts a new baseline
		if us > 0 {
			inc.energy = addFrac(&g.energyRem, uint64(r.power)*us, 1_000_000) // mW x us = nJ
		}
	}
	if ok(fECC) {
		if g.eccBase && r.ecc >= g.eccLast {
			inc.ecc = uint32(r.ecc - g.eccLast)
		} else {
			// First sight: the errors since the driver loaded are new to
			// the collector; after a driver reload all of them are new.
			inc.ecc = uint32(r.ecc)
		}
		g.eccBase, g.eccLast = true, r.ecc
	}
	g.acc.add(inc)
	if g.owner == (agent.DataSource{}) { // a passed-through GPU counts for its VM only
		s.host.add(inc)
	}
	g.memTotal, g.memFree, g.temp, g.fan, g.procs = r.total, r.free, r.temp, r.fan, r.procs
}

// addFrac adds n/div to a counter in whole units, carrying the remainder in
// rem so that integer division loses nothing over time.
func addFrac(rem *uint64, n, div uint64) uint32 {
	n += *rem
	*rem = n % div
	return uint32(n / div)
}

func (a *accum) add(b accum) {
	a.gpuTime += b.gpuTime
	a.memTime += b.memTime
	a.energy += b.energy
	a.ecc += b.ecc
}

// addGauges adds g's device count and gauges to an aggregate record: sums
// of memory and processes, maxima of temperature and fan speed, over the
// GPUs that answered. Callers hold mu.
func (g *gpu) addGauges(r *sflow.NVIDIAGPU) {
	if g.down != nil || g.dev == nil || g.last.IsZero() { // lost, or not sampled yet
		return
	}
	r.DeviceCount++
	if g.good&fMemory.bit() != 0 {
		r.MemTotal += g.memTotal
		r.MemFree += g.memFree
	}
	if g.good&(fCompute.bit()|fGraphics.bit()) != 0 {
		r.Processes += g.procs
	}
	if g.good&fTemp.bit() != 0 {
		r.Temperature = max(r.Temperature, g.temp)
	}
	if g.good&fFan.bit() != 0 {
		r.FanSpeed = max(r.FanSpeed, g.fan)
	}
}

// healthLocked summarizes what is wrong in one line, grouping the GPUs
// that have the same problem: "gpu 0-7: nvmlDeviceGetFanSpeed:
// ERROR_NOT_SUPPORTED; gpu 3: left out: nvmlDeviceGetUtilizationRates:
// ERROR_GPU_IS_LOST". nil when all is well. Callers hold mu.
func (s *Source) healthLocked() error {
	type group struct {
		idx []int
		err error
	}
	groups := map[string]*group{}
	var order []string
	add := func(text string, i int, err error) {
		g := groups[text]
		if g == nil {
			g = &group{err: err}
			groups[text] = g
			order = append(order, text)
		}
		g.idx = append(g.idx, i)
	}
	for _, g := range s.gpus {
		if g.down != nil {
			add("left out: "+g.down.Error(), g.index, g.down)
			continue
		}
		for f, err := range g.errs {
			if err == nil || field(f) == fEnergyTotal && errors.Is(err, ErrNotSupported) {
				continue // the power fallback covers it
			}
			add(err.Error(), g.index, err)
		}
	}
	var parts []string
	var errs []error
	if s.enumErr != nil {
		parts = append(parts, s.enumErr.Error())
		errs = append(errs, s.enumErr)
	}
	sort.SliceStable(order, func(i, j int) bool { return groups[order[i]].idx[0] < groups[order[j]].idx[0] })
	for _, text := range order {
		g := groups[text]
		parts = append(parts, "gpu "+ranges(g.idx)+": "+text)
		errs = append(errs, g.err)
	}
	if len(parts) == 0 {
		return nil
	}
	msg := strings.Join(parts, "; ")
	if old, ok := s.health.(*healthError); ok && old.msg == msg {
		return old
	}
	return &healthError{msg: msg, errs: errs}
}

// ranges writes ascending indexes compactly: 0-3,5.
func ranges(idx []int) string {
	var b []byte
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(idx[i]), 10)
		if j > i {
			b = append(b, '-')
			b = strconv.AppendInt(b, int64(idx[j]), 10)
		}
		i = j + 1
	}
	return string(b)
}

//go:build cgo

package gpu

import (
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
)

// sim is the state one mock GPU reports. ret makes a function fail:
// "util", "mem", "ecc", "energy", "power", "temp", "fan", "compute",
// "graphics", "uuid", "handle".
type sim struct {
	mu                sync.Mutex
	util, memUtil     uint32
	memTotal, memFree uint64
	ecc               uint64
	energy            uint64 // mJ since driver load
	power             uint32 // mW
	temp, fan         uint32
	compute, graphics []uint32
	ret               map[string]nvml.Return
}

func (s *sim) fail(fn string, r nvml.Return) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ret == nil {
		s.ret = map[string]nvml.Return{}
	}
	s.ret[fn] = r
}

func (s *sim) set(f func(s *sim)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *sim) r(fn string) nvml.Return {
	if r, ok := s.ret[fn]; ok {
		return r
	}
	return nvml.SUCCESS
}

func procs(pids []uint32) []nvml.ProcessInfo {
	var out []nvml.ProcessInfo
	for _, p := range pids {
		out = append(out, nvml.ProcessInfo{Pid: p})
	}
	return out
}

// attach makes the dgxa100 mock device d report s.
func attach(d *dgxa100.Device, s *sim) {
	lock := func() func() { s.mu.Lock(); return s.mu.Unlock }
	d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
		defer lock()()
		return nvml.Utilization{Gpu: s.util, Memory: s.memUtil}, s.r("util")
	}
	d.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
		defer lock()()
		return nvml.Memory{Total: s.memTotal, Free: s.memFree, Used: s.memTotal - s.memFree}, s.r("mem")
	}
	d.GetTotalEccErrorsFunc = func(et nvml.MemoryErrorType, ct nvml.EccCounterType) (uint64, nvml.Return) {
		defer lock()()
		if et != nvml.MEMORY_ERROR_TYPE_UNCORRECTED || ct != nvml.VOLATILE_ECC {
			return 0, nvml.ERROR_INVALID_ARGUMENT
		}
		return s.ecc, s.r("ecc")
	}
	d.GetTotalEnergyConsumptionFunc = func() (uint64, nvml.Return) {
		defer lock()()
		return s.energy, s.r("energy")
	}
	d.GetPowerUsageFunc = func() (uint32, nvml.Return) {
		defer lock()()
		return s.power, s.r("power")
	}
	d.GetTemperatureFunc = func(sensor nvml.TemperatureSensors) (uint32, nvml.Return) {
		defer lock()()
		if sensor != nvml.TEMPERATURE_GPU {
			return 0, nvml.ERROR_INVALID_ARGUMENT
		}
		return s.temp, s.r("temp")
	}
	d.GetFanSpeedFunc = func() (uint32, nvml.Return) {
		defer lock()()
		return s.fan, s.r("fan")
	}
	d.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		defer lock()()
		return procs(s.compute), s.r("compute")
	}
	d.GetGraphicsRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
		defer lock()()
		return procs(s.graphics), s.r("graphics")
	}
	uuid := d.UUID
	d.GetUUIDFunc = func() (string, nvml.Return) {
		defer lock()()
		return uuid, s.r("uuid")
	}
}

// box is a dgxa100 server whose GPU list can change (hot plug).
type box struct {
	*dgxa100.Server
	mu   sync.Mutex
	devs []*dgxa100.Device
	sims []*sim
}

// newBox is a DGX A100 (8 GPUs, from mock/dgxa100) whose GPUs report sims
// (a fresh idle sim for each one not given).
func newBox(sims ...*sim) *box {
	b := &box{Server: dgxa100.New()}
	for i, d := range b.Server.Devices {
		s := &sim{memTotal: 40 << 30, memFree: 40 << 30}
		if i < len(sims) {
			s = sims[i]
		}
		b.devs = append(b.devs, d.(*dgxa100.Device))
		b.sims = append(b.sims, s)
		attach(b.devs[i], s)
	}
	b.DeviceGetCountFunc = func() (int, nvml.Return) {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.devs), nvml.SUCCESS
	}
	b.DeviceGetHandleByIndexFunc = func(i int) (nvml.Device, nvml.Return) {
		b.mu.Lock()
		defer b.mu.Unlock()
		if i < 0 || i >= len(b.devs) {
			return nil, nvml.ERROR_INVALID_ARGUMENT
		}
		b.sims[i].mu.Lock()
		defer b.sims[i].mu.Unlock()
		if r := b.sims[i].r("handle"); r != nvml.SUCCESS {
			return nil, r
		}
		return b.devs[i], nvml.SUCCESS
	}
	return b
}

// setDevices keeps only the GPUs at the given current positions, in that
// order, plus the new ones.
func (b *box) setDevices(keep []int, add ...*sim) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var devs []*dgxa100.Device
	var sims []*sim
	for _, i := range keep {
		devs = append(devs, b.devs[i])
		sims = append(sims, b.sims[i])
	}
	for _, s := range add {
		d := dgxa100.NewDevice(len(devs))
		attach(d, s)
		devs = append(devs, d)
		sims = append(sims, s)
	}
	b.devs, b.sims = devs, sims
}

// all applies f to every GPU's sim.
func (b *box) all(f func(i int, s *sim)) {
	for i, s := range b.sims {
		s.set(func(s *sim) { f(i, s) })
	}
}

// clock is a fake time for driving open and sample by hand.
type clock struct{ t time.Time }

func newClock() *clock { return &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) tick(d time.Duration) time.Time { c.t = c.t.Add(d); return c.t }

// bareInterface is a go-nvml mock with nothing but Init: any other call
// panics ("method is nil but ... was just called").
func bareInterface(ret nvml.Return) *mock.Interface {
	return &mock.Interface{InitFunc: func() nvml.Return { return ret }}
}

//go:build cgo

package gpu

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/google/go-cmp/cmp"

	"gwd/agent"
	"gwd/internal/testutil/fakeagent"
	"gwd/sflow"
)

const gib = 1 << 30

// The return codes repeated in errors.go are go-nvml's.
func TestReturnCodesMatchNVML(t *testing.T) {
	for code, want := range map[int]nvml.Return{
		retSuccess: nvml.SUCCESS, retNotSupported: nvml.ERROR_NOT_SUPPORTED, retNoPermission: nvml.ERROR_NO_PERMISSION,
		retDriverNotLoaded: nvml.ERROR_DRIVER_NOT_LOADED, retLibraryNotFound: nvml.ERROR_LIBRARY_NOT_FOUND,
		retFunctionNotFound: nvml.ERROR_FUNCTION_NOT_FOUND, retGPUIsLost: nvml.ERROR_GPU_IS_LOST, retUnknown: nvml.ERROR_UNKNOWN,
	} {
		if nvml.Return(code) != want {
			t.Errorf("code %d is %v in go-nvml", code, want)
		}
	}
	for code, name := range map[int]string{27: "ERROR_NOT_READY", 28: "ERROR_GPU_NOT_FOUND", 29: "ERROR_INVALID_STATE", 30: "ERROR_RESET_TYPE_NOT_SUPPORTED"} {
		if retNames[code] != name {
			t.Errorf("code %d named %q, want %q", code, retNames[code], name)
		}
	}
	if nvml.ERROR_NOT_READY != 27 || nvml.ERROR_GPU_NOT_FOUND != 28 || nvml.ERROR_INVALID_STATE != 29 || nvml.ERROR_RESET_TYPE_NOT_SUPPORTED != 30 {
		t.Error("go-nvml numbers codes 27-30 differently")
	}
	if nvml.ERROR_NOT_SUPPORTED.Error() != "ERROR_NOT_SUPPORTED" {
		t.Skip("the real NVML is loaded: go-nvml's names come from nvmlErrorString")
	}
	for code, name := range retNames {
		got := nvml.Return(code).Error()
		if got != name && !strings.HasPrefix(got, "unknown return value") { // go-nvml names codes up to 26
			t.Errorf("code %d: %q here, %q in go-nvml", code, name, got)
		}
	}
}

// dgxSims is eight A100s with distinct values: GPU i runs at 10*i %
// (memory 5*i %), has i+1 GiB free, i ECC errors, (i+1) x 1000 J used,
// 30+2i C, fan 40+i %, and compute process 100+i which is also a graphics
// process, next to graphics process 200.
func dgxSims() []*sim {
	var sims []*sim
	for i := range 8 {
		u := uint32(i)
		sims = append(sims, &sim{
			util: 10 * u, memUtil: 5 * u, memTotal: 40 * gib, memFree: uint64(i+1) * gib,
			ecc: uint64(i), energy: uint64(i+1) * 1_000_000, power: 100_000,
			temp: 30 + 2*u, fan: 40 + u,
			compute: []uint32{100 + u}, graphics: []uint32{100 + u, 200},
		})
	}
	return sims
}

// start opens a source over b by hand (no goroutine): the test drives
// sample and rescan with its own clock.
func start(t *testing.T, b *box, cfg Config) (*Source, *fakeagent.Registrar, *clock) {
	t.Helper()
	s := newWith(fromNVML(b), cfg, nil)
	reg, c := newFakeReg(), newClock()
	if err := s.open(reg, c.t); err != nil {
		t.Fatal(err)
	}
	return s, reg, c
}

func host(t *testing.T, reg *fakeagent.Registrar) (sflow.NVIDIAGPU, error) {
	t.Helper()
	r, err := poll(t, reg, agent.HostSource)
	if r == nil {
		t.Fatalf("no 5703:1 on the host sample (health %v)", err)
	}
	return *r, err
}

func TestDGXA100Values(t *testing.T) {
	b := newBox(dgxSims()...)
	s, reg, c := start(t, b, Config{})
	b.all(func(i int, s *sim) { s.energy += uint64(i+1) * 1000 })
	s.sample(c.tick(time.Second))

	got, err := host(t, reg)
	if err != nil {
		t.Fatalf("health: %v", err)
	}
	want := sflow.NVIDIAGPU{
		DeviceCount: 8,
		Processes:   16,                                          // {100+i, 200} on each GPU
		GPUTime:     (0 + 10 + 20 + 30 + 40 + 50 + 60 + 70) * 10, // % x 1000 ms / 100
		MemTime:     (0 + 5 + 10 + 15 + 20 + 25 + 30 + 35) * 10,
		MemTotal:    8 * 40 * gib,
		MemFree:     (1 + 2 + 3 + 4 + 5 + 6 + 7 + 8) * gib,
		ECCErrors:   0 + 1 + 2 + 3 + 4 + 5 + 6 + 7, // since driver load, at first sight
		Energy:      (1 + 2 + 3 + 4 + 5 + 6 + 7 + 8) * 1000,
		Temperature: 44,
		FanSpeed:    47,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("5703:1 (-want +got):\n%s", d)
	}
	if len(reg.Sources()) != 1 {
		t.Fatalf("data sources %v, want only the host", reg.Sources())
	}

	// Gauges follow the devices, counters grow.
	b.sims[2].set(func(s *sim) { s.ecc += 5; s.temp = 81; s.compute = nil; s.graphics = nil })
	b.all(func(i int, s *sim) { s.energy += 500 })
	s.sample(c.tick(time.Second))
	got, _ = host(t, reg)
	want.GPUTime *= 2
	want.MemTime *= 2
	want.ECCErrors += 5
	want.Energy += 8 * 500
	want.Temperature = 81
	want.Processes -= 2
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("second poll (-want +got):\n%s", d)
	}
}

func TestAccumulationAcrossPolls(t *testing.T) {
	b := newBox()
	s, reg, c := start(t, b, Config{})
	steps := []struct {
		util    uint32
		elapsed time.Duration
		gpuMS   uint32 // per GPU, this step
	}{
		{50, time.Second, 500},
		{100, 1500 * time.Millisecond, 1500},
		{20, 500 * time.Millisecond, 100},
		{10, 3 * time.Second, 200}, // a stall: capped at 2 s
		{50, 1001 * time.Millisecond, 500},
		{50, 1001 * time.Millisecond, 501}, // 500.5 + 500.5: the remainder carries
		{0, 0, 0},                          // a repeated tick adds nothing
	}
	var total uint32
	for i, st := range steps {
		b.all(func(_ int, s *sim) { s.util, s.memUtil = st.util, st.util/2 })
		s.sample(c.tick(st.elapsed))
		total += 8 * st.gpuMS
		for range 2 { // polling does not change the counters
			got, _ := host(t, reg)
			if got.GPUTime != total {
				t.Fatalf("step %d: gpu_time %d, want %d", i, got.GPUTime, total)
			}
		}
	}
	got, _ := host(t, reg)
	if got.MemTime == 0 || got.MemTime >= got.GPUTime {
		t.Fatalf("mem_time %d, want about half of gpu_time %d", got.MemTime, got.GPUTime)
	}
}

func TestCountersWrap(t *testing.T) {
	b := newBox(dgxSims()...)
	s, reg, c := start(t, b, Config{PerGPU: true})
	s.mu.Lock()
	s.host = accum{gpuTime: math.MaxUint32 - 99, memTime: math.MaxUint32, energy: math.MaxUint32 - 999, ecc: math.MaxUint32}
	s.byKey[b.devs[7].UUID].acc.energy = math.MaxUint32 - 7999
	s.mu.Unlock()
	// The driver's own energy counter is 64-bit and far past 2^32.
	b.sims[7].set(func(s *sim) { s.energy = 1 << 40 })
	s.sample(c.tick(time.Second))
	b.all(func(i int, s *sim) { s.energy += uint64(i+1) * 1000; s.ecc++ })
	s.sample(c.tick(time.Second))

	got, _ := host(t, reg)
	// gpu_time grew by 2 x 2800, mem_time by 2 x 1400, ecc_errors by 8.
	if want := uint32(2*2800 - 100); got.GPUTime != want {
		t.Errorf("gpu_time %d, want %d (wrapped)", got.GPUTime, want)
	}
	if want := uint32(2*1400 - 1); got.MemTime != want {
		t.Errorf("mem_time %d, want %d (wrapped)", got.MemTime, want)
	}
	if want := uint32(8 - 1); got.ECCErrors != want {
		t.Errorf("ecc_errors %d, want %d (wrapped)", got.ECCErrors, want)
	}
	// GPU 7 jumped from 8e6 mJ to 2^40 + 8000 mJ: the delta counts modulo
	// 2^32, like the wire counter.
	var total7 uint64 = 1<<40 + 8000
	jump := uint32(total7 - 8_000_000)
	if want := jump + (1+2+3+4+5+6+7)*1000 + (math.MaxUint32 - 999); got.Energy != want {
		t.Errorf("energy %d, want %d (wrapped)", got.Energy, want)
	}
	g7, _ := poll(t, reg, agent.GPUSource(7))
	if want := jump + (math.MaxUint32 - 7999); g7.Energy != want {
		t.Errorf("gpu 7 energy %d, want %d (wrapped)", g7.Energy, want)
	}
}

// A driver reload restarts the driver's counters: what they show is new.
func TestDriverCountersRestart(t *testing.T) {
	b := newBox(dgxSims()...)
	s, reg, c := start(t, b, Config{})
	b.all(func(i int, s *sim) { s.ecc = 100 })
	s.sample(c.tick(time.Second))
	before, _ := host(t, reg)
	b.all(func(i int, s *sim) { s.energy, s.ecc = 700, 1 })
	s.sample(c.tick(time.Second))
	after, _ := host(t, reg)
	if after.Energy-before.Energy != 8*700 || after.ECCErrors-before.ECCErrors != 8 {
		t.Fatalf("after restart: energy +%d ecc +%d, want +5600 +8", after.Energy-before.Energy, after.ECCErrors-before.ECCErrors)
	}
}

func TestNotSupportedFields(t *testing.T) {
	b := newBox(dgxSims()...)
	b.all(func(i int, s *sim) {
		s.ret = map[string]nvml.Return{"temp": nvml.ERROR_NOT_SUPPORTED}
		if i != 5 {
			s.ret["fan"] = nvml.ERROR_NOT_SUPPORTED // passively cooled
		}
		if i < 2 {
			s.ret["ecc"] = nvml.ERROR_NOT_SUPPORTED // ECC off
		}
		if i == 2 {
			s.ret["energy"] = nvml.ERROR_NOT_SUPPORTED
			s.power = 250_000
		}
		if i == 6 {
			s.ret["graphics"] = nvml.ERROR_NOT_SUPPORTED
		}
	})
	s, reg, c := start(t, b, Config{})
	for range 3 {
		b.all(func(i int, s *sim) { s.energy += 1000 })
		s.sample(c.tick(time.Second))
	}
	got, err := host(t, reg)
	want := sflow.NVIDIAGPU{
		DeviceCount: 8, Processes: 15, GPUTime: 3 * 2800, MemTime: 3 * 1400,
		MemTotal: 320 * gib, MemFree: 36 * gib,
		ECCErrors:   2 + 3 + 4 + 5 + 6 + 7, // GPUs 0 and 1 left out
		Energy:      3*7*1000 + 3*250_000,  // GPU 2 from power x time
		Temperature: 0,                     // no GPU reports it
		FanSpeed:    45,                    // GPU 5 alone
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("5703:1 (-want +got):\n%s", d)
	}
	wantHealth := "gpu 0-1: nvmlDeviceGetTotalEccErrors: ERROR_NOT_SUPPORTED; " +
		"gpu 0-7: nvmlDeviceGetTemperature: ERROR_NOT_SUPPORTED; " +
		"gpu 0-4,6-7: nvmlDeviceGetFanSpeed: ERROR_NOT_SUPPORTED; " +
		"gpu 6: nvmlDeviceGetGraphicsRunningProcesses: ERROR_NOT_SUPPORTED"
	if err == nil || err.Error() != wantHealth {
		t.Fatalf("health:\n got %v\nwant %s", err, wantHealth)
	}
	if !errors.Is(err, ErrNotSupported) || errors.Is(err, ErrGPULost) {
		t.Fatalf("health %v: errors.Is does not see NOT_SUPPORTED", err)
	}
	// An unsupported function is asked once, not every second.
	d0 := b.devs[0]
	if n := len(d0.GetFanSpeedCalls()); n != 1 {
		t.Errorf("GetFanSpeed called %d times on a GPU without a fan, want 1", n)
	}
	if n := len(b.devs[2].GetTotalEnergyConsumptionCalls()); n != 1 {
		t.Errorf("GetTotalEnergyConsumption called %d times where unsupported, want 1", n)
	}
	if n := len(b.devs[3].GetPowerUsageCalls()); n != 0 {
		t.Errorf("GetPowerUsage called %d times where total energy works, want 0", n)
	}
	// Re-enumeration asks again (a reset or a MIG change may add support).
	s.rescan(reg)
	b.sims[0].fail("fan", nvml.SUCCESS)
	b.sims[0].set(func(s *sim) { s.fan = 90 })
	s.sample(c.tick(time.Second))
	if got, _ := host(t, reg); got.FanSpeed != 90 {
		t.Errorf("fan_speed %d after the fan became readable, want 90", got.FanSpeed)
	}
}

// A GPU whose handle cannot be had (here: no permission) is left out; a
// transient failure of one function leaves out that field for that second.
func TestOtherFailures(t *testing.T) {
	b := newBox(dgxSims()...)
	b.sims[1].fail("handle", nvml.ERROR_NO_PERMISSION)
	s, reg, c := start(t, b, Config{})
	b.sims[4].fail("mem", nvml.ERROR_UNKNOWN)
	s.sample(c.tick(time.Second))
	got, err := host(t, reg)
	if got.DeviceCount != 7 || got.MemTotal != 6*40*gib || got.GPUTime != 2800-10*10 {
		t.Errorf("record %+v: want 7 GPUs, 6 with memory, GPU 1 left out", got)
	}
	wantHealth := "gpu 1: left out: nvmlDeviceGetHandleByIndex: ERROR_NO_PERMISSION; gpu 4: nvmlDeviceGetMemoryInfo: ERROR_UNKNOWN"
	if err == nil || err.Error() != wantHealth {
		t.Fatalf("health:\n got %v\nwant %s", err, wantHealth)
	}
	b.sims[4].fail("mem", nvml.SUCCESS)
	s.sample(c.tick(time.Second))
	if _, err := host(t, reg); err == nil || strings.Contains(err.Error(), "gpu 4") {
		t.Fatalf("health %v: gpu 4 still reported after it recovered", err)
	}
	if n := len(b.devs[4].GetMemoryInfoCalls()); n != 3 {
		t.Errorf("GetMemoryInfo called %d times, want 3 (a transient error is retried)", n)
	}
}

func TestGPULostMidRun(t *testing.T) {
	b := newBox(dgxSims()...)
	s, reg, c := start(t, b, Config{PerGPU: true})
	s.sample(c.tick(time.Second))
	s.sample(c.tick(time.Second))
	before, _ := host(t, reg)
	gpu3, _ := poll(t, reg, agent.GPUSource(3))

	for _, fn := range []string{"util", "mem", "ecc", "energy", "power", "temp", "fan", "compute", "graphics", "uuid"} {
		b.sims[3].fail(fn, nvml.ERROR_GPU_IS_LOST)
	}
	calls := len(b.devs[3].GetUtilizationRatesCalls())
	for range 3 {
		s.sample(c.tick(time.Second))
	}
	got, err := host(t, reg)
	if got.DeviceCount != 7 {
		t.Errorf("device_count %d, want 7", got.DeviceCount)
	}
	if want := before.GPUTime + 3*(2800-300); got.GPUTime != want {
		t.Errorf("gpu_time %d, want %d (7 GPUs for 3 s on top of %d)", got.GPUTime, want, before.GPUTime)
	}
	if got.MemTotal != 7*40*gib || got.MemFree != (36-4)*gib || got.ECCErrors != before.ECCErrors {
		t.Errorf("record %+v: GPU 3's gauges still in, or a counter went back", got)
	}
	wantHealth := "gpu 3: left out: nvmlDeviceGetUtilizationRates: ERROR_GPU_IS_LOST"
	if err == nil || err.Error() != wantHealth || !errors.Is(err, ErrGPULost) {
		t.Fatalf("health %v, want %q", err, wantHealth)
	}
	if n := len(b.devs[3].GetUtilizationRatesCalls()) - calls; n != 1 {
		t.Errorf("a lost GPU was asked %d more times, want 1 (the call that found it lost)", n)
	}
	if n := len(b.devs[3].GetMemoryInfoCalls()); n != 3 {
		t.Errorf("GetMemoryInfo on the lost GPU: %d calls, want 3 (none after the loss)", n)
	}
	// Its own data source stays, with device_count 0 and frozen counters.
	lost, _ := poll(t, reg, agent.GPUSource(3))
	if want := (sflow.NVIDIAGPU{GPUTime: gpu3.GPUTime, MemTime: gpu3.MemTime, Energy: gpu3.Energy, ECCErrors: gpu3.ECCErrors}); *lost != want {
		t.Errorf("lost GPU's record %+v, want %+v", *lost, want)
	}
	if other, _ := poll(t, reg, agent.GPUSource(4)); other.DeviceCount != 1 {
		t.Errorf("GPU 4 record %+v", *other)
	}

	// Re-enumeration while it is still lost keeps it out, and keeps its
	// identity (its UUID cannot be read now: it is known by its index).
	reg.TakeEvents()
	s.rescan(reg)
	s.sample(c.tick(time.Second))
	if got, _ := host(t, reg); got.DeviceCount != 7 {
		t.Errorf("device_count %d after a rescan of a lost GPU, want 7", got.DeviceCount)
	}
	if ev := reg.TakeEvents(); len(ev) != 0 {
		t.Errorf("rescan re-registered: %v", ev)
	}
	// ...and brings it back once it answers.
	b.sims[3].set(func(s *sim) { s.ret = nil })
	s.rescan(reg)
	s.sample(c.tick(time.Second))
	got, err = host(t, reg)
	if got.DeviceCount != 8 || err != nil {
		t.Fatalf("after recovery: device_count %d, health %v", got.DeviceCount, err)
	}
}

func TestInitFailureMakesNoOtherCall(t *testing.T) {
	for _, ret := range []nvml.Return{nvml.ERROR_LIBRARY_NOT_FOUND, nvml.ERROR_DRIVER_NOT_LOADED, nvml.ERROR_NO_PERMISSION, nvml.ERROR_UNKNOWN} {
		t.Run(nvml.ErrorString(ret), func(t *testing.T) {
			// Any call but Init panics in this mock.
			m := bareInterface(ret)
			reg := newFakeReg()
			s := newWith(fromNVML(m), Config{PerGPU: true}, nil)
			ctx, cancel := context.WithCancel(context.Background())
			err := s.Start(ctx, reg)
			cancel()
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Start: %v, want ErrUnavailable", err)
			}
			if errors.Is(err, ErrLibraryNotFound) != (ret == nvml.ERROR_LIBRARY_NOT_FOUND) {
				t.Errorf("Start: %v: errors.Is(ErrLibraryNotFound) wrong", err)
			}
			if n := len(m.InitCalls()); n != 1 {
				t.Errorf("Init called %d times", n)
			}
			if len(m.ShutdownCalls())+len(m.DeviceGetCountCalls())+len(m.SystemGetDriverVersionCalls()) != 0 {
				t.Error("NVML called after a failed Init")
			}
			if h := reg.Health(SourceName); reg.HealthSets() != 1 || h == nil || !strings.HasPrefix(h.Error(), "NVML unavailable") {
				t.Errorf("health %v after %d SetHealth calls", h, reg.HealthSets())
			}
			if len(reg.Sources()) != 0 {
				t.Errorf("registered %v", reg.Sources())
			}
			<-s.Done()
		})
	}
}

func TestRescanHotPlug(t *testing.T) {
	b := newBox()
	b.all(func(_ int, s *sim) { s.util = 100 })
	s, reg, c := start(t, b, Config{PerGPU: true})
	s.sample(c.tick(time.Second))
	s.sample(c.tick(time.Second))
	uuid4 := b.devs[4].UUID
	reg.TakeEvents()

	// GPU 3 is pulled: GPUs 4-7 move down to indexes 3-6.
	b.setDevices([]int{0, 1, 2, 4, 5, 6, 7})
	s.rescan(reg)
	s.sample(c.tick(time.Second))
	got, _ := host(t, reg)
	if got.DeviceCount != 7 || got.GPUTime != 8*2000+7*1000 {
		t.Fatalf("after unplug: %+v, want 7 GPUs and gpu_time 23000", got)
	}
	wantLog := []string{
		"-nvml-gpu 2:2003", "-nvml-gpu 2:2004", "-nvml-gpu 2:2005", "-nvml-gpu 2:2006", "-nvml-gpu 2:2007",
		"+nvml-gpu 2:2003", "+nvml-gpu 2:2004", "+nvml-gpu 2:2005", "+nvml-gpu 2:2006",
	}
	gotLog := reg.TakeEvents()
	slices.Sort(gotLog)
	slices.Sort(wantLog)
	if d := cmp.Diff(wantLog, gotLog); d != "" {
		t.Fatalf("registrations (-want +got):\n%s", d)
	}
	// The GPU now at index 3 kept its counters (state follows the UUID).
	if b.devs[3].UUID != uuid4 {
		t.Fatal("test setup: wrong GPU at index 3")
	}
	if g3, _ := poll(t, reg, agent.GPUSource(3)); g3.GPUTime != 3000 || g3.DeviceCount != 1 {
		t.Fatalf("GPU at index 3: %+v, want gpu_time 3000", *g3)
	}

	// A new GPU is plugged in at index 7.
	b.setDevices([]int{0, 1, 2, 3, 4, 5, 6}, &sim{util: 50, memTotal: 80 * gib})
	reg.TakeEvents()
	s.rescan(reg)
	s.sample(c.tick(time.Second))
	s.sample(c.tick(time.Second))
	got, _ = host(t, reg)
	if got.DeviceCount != 8 || got.MemTotal != 7*40*gib+80*gib || got.GPUTime != 23000+2*7000+500 {
		t.Fatalf("after plug: %+v", got)
	}
	if d := cmp.Diff([]string{"+nvml-gpu 2:2007"}, reg.TakeEvents()); d != "" {
		t.Fatalf("registrations (-want +got):\n%s", d)
	}
	if len(reg.Sources()) != 9 {
		t.Fatalf("data sources %v, want host + 8", reg.Sources())
	}

	// Enumeration itself fails: the last list stays, health says why.
	b.DeviceGetCountFunc = func() (int, nvml.Return) { return 0, nvml.ERROR_UNKNOWN }
	s.rescan(reg)
	if got, err := host(t, reg); got.DeviceCount != 8 || err == nil || !strings.HasPrefix(err.Error(), "enumerate GPUs: nvmlDeviceGetCount: ERROR_UNKNOWN") {
		t.Fatalf("after a failed enumeration: %+v, health %v", got, err)
	}
}

// A driver without nvmlDeviceGetTotalEnergyConsumption: the function is
// never called (go-nvml binds lazily: the call would kill the process).
func TestMissingSymbol(t *testing.T) {
	b := newBox(dgxSims()...)
	b.LookupSymbolFunc = func(name string) error {
		if name == "nvmlDeviceGetTotalEnergyConsumption" {
			return errors.New("undefined symbol")
		}
		return nil
	}
	s, reg, c := start(t, b, Config{})
	s.sample(c.tick(time.Second))
	got, err := host(t, reg)
	if got.Energy != 8*100_000 || err != nil {
		t.Fatalf("energy %d (health %v), want 8 x 100 W x 1 s = 800000 mJ", got.Energy, err)
	}
	for i, d := range b.devs {
		if n := len(d.GetTotalEnergyConsumptionCalls()); n != 0 {
			t.Errorf("GPU %d: missing function called %d times", i, n)
		}
	}
}

func TestStartRegistersAndStops(t *testing.T) {
	b := newBox(dgxSims()...)
	reg := newFakeReg()
	log, logs := testLog()
	s := newWith(fromNVML(b), Config{PerGPU: true, Rescan: time.Hour}, log)
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx, reg); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx, reg); err == nil {
		t.Error("second Start accepted")
	}
	if n := len(reg.Sources()); n != 9 {
		t.Fatalf("%d data sources, want host + 8 GPUs", n)
	}
	if r, _ := poll(t, reg, agent.HostSource); r == nil || r.DeviceCount != 8 {
		t.Fatalf("first poll right after Start: %+v", r)
	}
	if !strings.Contains(logs.String(), `msg="NVML started" driver=550.54.15 gpus=8`) {
		t.Errorf("start not logged:\n%s", logs)
	}
	cancel()
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("not stopped 5 s after ctx ended")
	}
	if n := len(reg.Sources()); n != 0 {
		t.Errorf("%d data sources left registered", n)
	}
	if n := len(b.ShutdownCalls()); n != 1 {
		t.Errorf("Shutdown called %d times, want 1", n)
	}
}

// The go-nvml adapter passes the right arguments and maps the results.
func TestAdapter(t *testing.T) {
	b := newBox(dgxSims()...)
	l := fromNVML(b)
	if err := l.Init(); err != nil {
		t.Fatal(err)
	}
	d, err := l.Device(3)
	if err != nil {
		t.Fatal(err)
	}
	name, _ := d.Name()
	util, mem, _ := d.Utilization()
	total, free, _ := d.Memory()
	ecc, _ := d.ECCUncorrected()
	energy, _ := d.TotalEnergy()
	power, _ := d.Power()
	temp, _ := d.Temperature()
	fan, _ := d.FanSpeed()
	pids, _ := d.ComputeProcesses([]uint32{1})
	pids, _ = d.GraphicsProcesses(pids)
	got := []any{name, util, mem, total, free, ecc, energy, power, temp, fan, pids}
	want := []any{"Mock NVIDIA A100-SXM4-40GB", uint32(30), uint32(15), uint64(40 * gib), uint64(4 * gib), uint64(3), uint64(4_000_000),
		uint32(100_000), uint32(36), uint32(43), []uint32{1, 103, 103, 200}}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	if _, err := l.Device(9); !strings.Contains(err.Error(), "nvmlDeviceGetHandleByIndex: ERROR_INVALID_ARGUMENT") {
		t.Errorf("Device(9): %v", err)
	}
}

//go:build cgo

package gpu

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// newLib is the real NVML: go-nvml dlopens libnvidia-ml.so.1 in Init, so a
// box without the driver gets ERROR_LIBRARY_NOT_FOUND there, not a crash.
func newLib() lib { return fromNVML(nvml.New()) }

// fromNVML adapts an nvml.Interface: the real library or go-nvml's mock.
func fromNVML(nv nvml.Interface) lib { return &nvmlLib{nv: nv} }

// The NVML functions the device reads call. go-nvml binds lazily, so
// calling one the installed driver lacks (an old driver: no total energy
// counter; a future one that drops a deprecated function) would kill the
// process. Each is looked up once after Init, in any of its versions (go-nvml
// calls the newest one present), and a missing one reads as
// ERROR_FUNCTION_NOT_FOUND, which counts as not supported.
const (
	symUtilization = iota
	symMemory
	symECC
	symEnergy
	symPower
	symTemperature
	symFan
	symCompute
	symGraphics
	nSyms
)

var symbols = [nSyms][]string{
	symUtilization: {"nvmlDeviceGetUtilizationRates"},
	symMemory:      {"nvmlDeviceGetMemoryInfo"},
	symECC:         {"nvmlDeviceGetTotalEccErrors"},
	symEnergy:      {"nvmlDeviceGetTotalEnergyConsumption"},
	symPower:       {"nvmlDeviceGetPowerUsage"},
	symTemperature: {"nvmlDeviceGetTemperature"},
	symFan:         {"nvmlDeviceGetFanSpeed"},
	symCompute:     {"nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetComputeRunningProcesses_v2", "nvmlDeviceGetComputeRunningProcesses_v3"},
	symGraphics:    {"nvmlDeviceGetGraphicsRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses_v2", "nvmlDeviceGetGraphicsRunningProcesses_v3"},
}

type nvmlLib struct {
	nv      nvml.Interface
	missing [nSyms]bool
}

func nvErr(fn string, r nvml.Return) error { return &Error{Func: fn, Code: int(r)} }

// result turns an NVML (value, return code) pair into (value, error).
func result[T any](v T, r nvml.Return, fn string) (T, error) {
	if r != nvml.SUCCESS {
		var zero T
		return zero, nvErr(fn, r)
	}
	return v, nil
}

func (l *nvmlLib) Init() error {
	if r := l.nv.Init(); r != nvml.SUCCESS {
		return nvErr("nvmlInit", r)
	}
	ext := l.nv.Extensions()
	for i, names := range symbols {
		l.missing[i] = true
		for _, name := range names {
			if ext.LookupSymbol(name) == nil {
				l.missing[i] = false
				break
			}
		}
	}
	return nil
}

func (l *nvmlLib) Shutdown() error {
	if r := l.nv.Shutdown(); r != nvml.SUCCESS {
		return nvErr("nvmlShutdown", r)
	}
	return nil
}

func (l *nvmlLib) DriverVersion() (string, error) {
	v, r := l.nv.SystemGetDriverVersion()
	return result(v, r, "nvmlSystemGetDriverVersion")
}

func (l *nvmlLib) DeviceCount() (int, error) {
	n, r := l.nv.DeviceGetCount()
	return result(n, r, "nvmlDeviceGetCount")
}

func (l *nvmlLib) Device(i int) (device, error) {
	d, r := l.nv.DeviceGetHandleByIndex(i)
	if r != nvml.SUCCESS {
		return nil, nvErr("nvmlDeviceGetHandleByIndex", r)
	}
	return &nvmlDevice{d: d, l: l}, nil
}

// nvmlDevice calls the nvml.Device methods (which go-nvml's mock and
// mock/dgxa100 implement per device).
type nvmlDevice struct {
	d nvml.Device
	l *nvmlLib
}

func (d *nvmlDevice) UUID() (string, error) {
	v, r := d.d.GetUUID()
	return result(v, r, "nvmlDeviceGetUUID")
}

func (d *nvmlDevice) Name() (string, error) {
	v, r := d.d.GetName()
	return result(v, r, "nvmlDeviceGetName")
}

// absent is the error of a function the driver lacks, or nil.
func (d *nvmlDevice) absent(sym int) error {
	if d.l.missing[sym] {
		return nvErr(symbols[sym][0], nvml.ERROR_FUNCTION_NOT_FOUND)
	}
	return nil
}

func (d *nvmlDevice) Utilization() (uint32, uint32, error) {
	if err := d.absent(symUtilization); err != nil {
		return 0, 0, err
	}
	u, r := d.d.GetUtilizationRates()
	if r != nvml.SUCCESS {
		return 0, 0, nvErr(symbols[symUtilization][0], r)
	}
	return u.Gpu, u.Memory, nil
}

func (d *nvmlDevice) Memory() (uint64, uint64, error) {
	if err := d.absent(symMemory); err != nil {
		return 0, 0, err
	}
	m, r := d.d.GetMemoryInfo()
	if r != nvml.SUCCESS {
		return 0, 0, nvErr(symbols[symMemory][0], r)
	}
	return m.Total, m.Free, nil
}

func (d *nvmlDevice) ECCUncorrected() (uint64, error) {
	return readField(d, symECC, func() (uint64, nvml.Return) {
		return d.d.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_UNCORRECTED, nvml.VOLATILE_ECC)
	})
}

func (d *nvmlDevice) TotalEnergy() (uint64, error) {
	return readField(d, symEnergy, d.d.GetTotalEnergyConsumption)
}

func (d *nvmlDevice) Power() (uint32, error) { return readField(d, symPower, d.d.GetPowerUsage) }

func (d *nvmlDevice) Temperature() (uint32, error) {
	return readField(d, symTemperature, func() (uint32, nvml.Return) { return d.d.GetTemperature(nvml.TEMPERATURE_GPU) })
}

func (d *nvmlDevice) FanSpeed() (uint32, error) { return readField(d, symFan, d.d.GetFanSpeed) }

func (d *nvmlDevice) ComputeProcesses(pids []uint32) ([]uint32, error) {
	return d.procs(symCompute, d.d.GetComputeRunningProcesses, pids)
}

func (d *nvmlDevice) GraphicsProcesses(pids []uint32) ([]uint32, error) {
	return d.procs(symGraphics, d.d.GetGraphicsRunningProcesses, pids)
}

func (d *nvmlDevice) PCIBusID() (string, error) {
	p, r := d.d.GetPciInfo()
	if r != nvml.SUCCESS {
		return "", nvErr("nvmlDeviceGetPciInfo", r)
	}
	b := make([]byte, 0, len(p.BusId))
	for _, c := range p.BusId {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	switch {
	case len(b) > 0:
		return string(b), nil
	case p.Domain != 0 || p.Bus != 0 || p.Device != 0: // a driver that left it empty
		return fmt.Sprintf("%08x:%02x:%02x.0", p.Domain, p.Bus, p.Device), nil
	}
	return "", nvErr("nvmlDeviceGetPciInfo", nvml.ERROR_NOT_SUPPORTED)
}

// readField reads one device value through get, unless the driver lacks the
// function (then absent's error).
func readField[T uint32 | uint64](d *nvmlDevice, sym int, get func() (T, nvml.Return)) (T, error) {
	if err := d.absent(sym); err != nil {
		return 0, err
	}
	v, r := get()
	return result(v, r, symbols[sym][0])
}

func (d *nvmlDevice) procs(sym int, get func() ([]nvml.ProcessInfo, nvml.Return), pids []uint32) ([]uint32, error) {
	if err := d.absent(sym); err != nil {
		return pids, err
	}
	ps, r := get()
	if r != nvml.SUCCESS {
		return pids, nvErr(symbols[sym][0], r)
	}
	for _, p := range ps {
		pids = append(pids, p.Pid)
	}
	return pids, nil
}

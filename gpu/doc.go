// Package gpu exports NVIDIA GPU counters through NVML: one nvidia_gpu
// (5703:1) record that aggregates every GPU of the box and rides on the host
// sample 2:1, next to the host source's records, and optionally one more per
// GPU on its own data source (agent.GPUSource, 2:(2000+i)).
//
// # The hardware edge
//
// NVML sits behind the small lib and device interfaces of source.go. nvml.go
// (cgo) implements them over github.com/NVIDIA/go-nvml, which dlopens
// libnvidia-ml.so.1 at Init: a binary built with cgo runs on a box without
// the NVIDIA driver, and Init then fails with ERROR_LIBRARY_NOT_FOUND.
// nvml_nocgo.go is the stub of a build without cgo: its Init fails with
// ErrNotBuiltIn ("NVML support not built in"). Init gates everything: after a
// failed Init no other NVML function is called (NVML may abort the process),
// not even Shutdown; Start reports the failure in the agent's health (which
// logs it once, naming NVML) and returns an error wrapping ErrUnavailable.
// The tests drive the same adapter with go-nvml's mock package.
//
// # Sampling and semantics
//
// A goroutine reads every GPU once a second; Poll only aggregates what the
// last second read, so a slow or hung NVML call never holds up the agent.
// Per record field:
//
//	device_count  GPUs enumerated and answering (a lost GPU is left out)
//	processes     distinct PIDs in the compute and graphics running-process
//	              lists, summed over GPUs
//	gpu_time      ms, counter: each second, per GPU, utilization.gpu% x
//	              elapsed ms / 100, summed (the remainder is carried, so
//	              nothing is lost to integer division)
//	mem_time      ms, counter: the same with utilization.memory%
//	mem_total     bytes, sum of nvmlDeviceGetMemoryInfo total
//	mem_free      bytes, sum of nvmlDeviceGetMemoryInfo free
//	ecc_errors    counter: volatile uncorrected ECC errors (errors since the
//	              driver loaded), summed; kept monotonic by adding each
//	              GPU's increase, so a GPU that goes away or a driver reload
//	              never makes it go backwards
//	energy        mJ, counter: deltas of nvmlDeviceGetTotalEnergyConsumption
//	              where supported, else power (mW) x elapsed ms / 1000
//	temperature   degrees C, the maximum over GPUs (NVML_TEMPERATURE_GPU)
//	fan_speed     percent, the maximum over GPUs
//
// The counters are uint32 and wrap modulo 2^32 like every 32-bit sFlow
// counter; collectors take deltas modulo 2^32. energy wraps soonest: eight
// 400 W GPUs (3.2 kW) wrap it every 22 minutes, so poll more often than that
// (the default 20 s is far inside). gpu_time of eight busy GPUs wraps after
// about 6 days. Elapsed time per second is capped at 2 s, so a stall or a
// suspend does not extrapolate a utilization over minutes.
//
// # Unknown values
//
// The nvml structure (sflow.org/sflow_nvml.txt) defines no "unknown" value
// for any field, and hsflowd's mod_nvml leaves a field it cannot read out of
// the sum or the maximum. gwd does the same: a GPU whose fan, ECC, energy,
// temperature, memory, utilization or process list cannot be read
// (ERROR_NOT_SUPPORTED on many data-center GPUs for the fan, on consumer
// GPUs for ECC) is left out of that field only; a field no GPU reports is 0.
// No all-ones sentinel is sent: collectors would graph 4294967295 C. A
// function that answered ERROR_NOT_SUPPORTED is not called again on that GPU
// until the next re-enumeration. A GPU that answers ERROR_GPU_IS_LOST is
// left out entirely (device_count too) and not called again until the next
// re-enumeration finds it answering. Every such condition is in the
// source's health (source "nvml"), one line naming the GPUs and the NVML
// function and return code; the agent logs it once per change.
//
// # Devices
//
// GPUs are re-enumerated every Config.Rescan (5 minutes by default): hot
// plug, a GPU reset, MIG mode changes. State follows a GPU by UUID, so
// counters stay monotonic when indexes move. With Config.PerGPU, GPU i gets
// data source agent.GPUSource(i) (source name PerGPUSourceName, whose
// problems are reported in SourceName's health); when a different GPU
// appears at index i,
// its data source is registered afresh (sequence numbers restart), and a
// lost GPU keeps its data source with device_count 0 and frozen counters.
//
// # Passthrough
//
// A GPU passed through to a virtual machine is that VM's: the VM module
// (host/kvm) reads the PCI addresses of a running domain's <hostdev
// type='pci'> and calls agent.SetDeviceOwner. Each second, before reading
// the GPUs, the source looks up the owner of every GPU by its PCI bus id
// (nvmlDeviceGetPciInfo, written 0000:bb:dd.f). An owned GPU leaves the
// host's aggregate (its gauges and its counter increments while owned) and
// counts in one 5703:1 on its owner's data source instead (source name
// PassthroughSourceName; device_count: the GPUs that VM has), registered
// while the VM owns a GPU and unregistered when it no longer does. The
// host's counters stay monotonic through such moves. A registrar without
// DeviceOwner (the tests' fakes) means no passthrough.
package gpu

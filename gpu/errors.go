package gpu

import (
	"errors"
	"strconv"
)

var (
	// ErrUnavailable wraps every reason Start could not use NVML; the
	// source then exports nothing.
	ErrUnavailable = errors.New("NVML unavailable, GPU counters (5703:1) disabled")
	// ErrNotBuiltIn is the reason in a build without cgo.
	ErrNotBuiltIn = errors.New("NVML support not built in (gwd was built without cgo)")
	// ErrLibraryNotFound matches an *Error with ERROR_LIBRARY_NOT_FOUND:
	// libnvidia-ml.so.1 could not be loaded (no NVIDIA driver).
	ErrLibraryNotFound = errors.New("NVML library not found")
	// ErrNotSupported matches an *Error with ERROR_NOT_SUPPORTED or
	// ERROR_FUNCTION_NOT_FOUND: this GPU or driver cannot report the value.
	ErrNotSupported = errors.New("not supported")
	// ErrGPULost matches an *Error with ERROR_GPU_IS_LOST.
	ErrGPULost = errors.New("GPU is lost")
)

// NVML return codes (nvmlReturn_t, a stable C ABI). They are repeated here
// because go-nvml's types exist only in cgo builds; a cgo test checks them
// against go-nvml's constants.
const (
	retSuccess          = 0
	retNotSupported     = 3
	retNoPermission     = 4
	retDriverNotLoaded  = 9
	retLibraryNotFound  = 12
	retFunctionNotFound = 13
	retGPUIsLost        = 15
	retUnknown          = 999
)

var retNames = map[int]string{
	0: "SUCCESS", 1: "ERROR_UNINITIALIZED", 2: "ERROR_INVALID_ARGUMENT", 3: "ERROR_NOT_SUPPORTED",
	4: "ERROR_NO_PERMISSION", 5: "ERROR_ALREADY_INITIALIZED", 6: "ERROR_NOT_FOUND", 7: "ERROR_INSUFFICIENT_SIZE",
	8: "ERROR_INSUFFICIENT_POWER", 9: "ERROR_DRIVER_NOT_LOADED", 10: "ERROR_TIMEOUT", 11: "ERROR_IRQ_ISSUE",
	12: "ERROR_LIBRARY_NOT_FOUND", 13: "ERROR_FUNCTION_NOT_FOUND", 14: "ERROR_CORRUPTED_INFOROM",
	15: "ERROR_GPU_IS_LOST", 16: "ERROR_RESET_REQUIRED", 17: "ERROR_OPERATING_SYSTEM",
	18: "ERROR_LIB_RM_VERSION_MISMATCH", 19: "ERROR_IN_USE", 20: "ERROR_MEMORY", 21: "ERROR_NO_DATA",
	22: "ERROR_VGPU_ECC_NOT_SUPPORTED", 23: "ERROR_INSUFFICIENT_RESOURCES", 24: "ERROR_FREQ_NOT_SUPPORTED",
	25: "ERROR_ARGUMENT_VERSION_MISMATCH", 26: "ERROR_DEPRECATED", 27: "ERROR_NOT_READY",
	28: "ERROR_GPU_NOT_FOUND", 29: "ERROR_INVALID_STATE", 30: "ERROR_RESET_TYPE_NOT_SUPPORTED",
	999: "ERROR_UNKNOWN",
}

// Error is a failed NVML call: the C function and its return code. Its
// text comes from a table here, never from nvmlErrorString, so formatting
// it makes no NVML call (which matters after a failed Init).
type Error struct {
	Func string // the NVML function, e.g. "nvmlDeviceGetFanSpeed"
	Code int    // its nvmlReturn_t
}

func (e *Error) Error() string {
	name, ok := retNames[e.Code]
	if !ok {
		name = "return code " + strconv.Itoa(e.Code)
	}
	s := e.Func + ": " + name
	switch e.Code {
	case retLibraryNotFound:
		s += " (libnvidia-ml.so.1 could not be loaded: is the NVIDIA driver installed?)"
	case retDriverNotLoaded:
		s += " (the NVIDIA kernel driver is not loaded)"
	}
	return s
}

// Is lets errors.Is match the sentinel errors of this package.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotSupported:
		return e.Code == retNotSupported || e.Code == retFunctionNotFound
	case ErrGPULost:
		return e.Code == retGPUIsLost
	case ErrLibraryNotFound:
		return e.Code == retLibraryNotFound
	}
	return false
}

// healthError is the source's state in one line, with the errors it
// summarizes inside (errors.Is sees them).
type healthError struct {
	msg  string
	errs []error
}

func (h *healthError) Error() string   { return h.msg }
func (h *healthError) Unwrap() []error { return h.errs }

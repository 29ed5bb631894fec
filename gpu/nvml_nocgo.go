//go:build !cgo

package gpu

// newLib is the NVML of a build without cgo: nothing. Init fails with
// ErrNotBuiltIn, so no other method is ever called.
func newLib() lib { return noLib{} }

type noLib struct{}

func (noLib) Init() error                    { return ErrNotBuiltIn }
func (noLib) Shutdown() error                { return ErrNotBuiltIn }
func (noLib) DriverVersion() (string, error) { return "", ErrNotBuiltIn }
func (noLib) DeviceCount() (int, error)      { return 0, ErrNotBuiltIn }
func (noLib) Device(int) (device, error)     { return nil, ErrNotBuiltIn }

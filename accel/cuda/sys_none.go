//go:build !linux || !cgo || purego

package cuda

import (
	"errors"
	"unsafe"
)

// Without cgo (or with the purego tag, or off Linux) CUDA cannot be loaded: Open reports
// why, and these primitives are never reached.

const built = false

type (
	cuDevice   = int32
	cuContext  = unsafe.Pointer
	cuModule   = unsafe.Pointer
	cuFunction = unsafe.Pointer
	cuStream   = unsafe.Pointer
)

var errNotBuilt = errors.New("CUDA support is not compiled into this binary (it needs cgo on Linux, without the purego tag)")

func loadDriver(string) error                                             { return errNotBuilt }
func loadNVRTC(string) error                                              { return errNotBuilt }
func driverInit() error                                                   { return errNotBuilt }
func driverVersion() (int, error)                                         { return 0, errNotBuilt }
func deviceCount() (int, error)                                           { return 0, errNotBuilt }
func deviceInfo(int) (cuDevice, Info, error)                              { return 0, Info{}, errNotBuilt }
func retainContext(cuDevice) (cuContext, error)                           { return nil, errNotBuilt }
func releaseContext(cuDevice)                                             {}
func (d *Device) bind() (func(), error)                                   { return nil, errNotBuilt }
func loadModule([]byte) (cuModule, error)                                 { return nil, errNotBuilt }
func unloadModule(cuModule)                                               {}
func moduleFunction(cuModule, string) (cuFunction, error)                 { return nil, errNotBuilt }
func memAlloc(int) (devptr, error)                                        { return 0, errNotBuilt }
func memFree(devptr)                                                      {}
func hostAlloc(int) (unsafe.Pointer, error)                               { return nil, errNotBuilt }
func hostFree(unsafe.Pointer)                                             {}
func htod(devptr, []byte) error                                           { return errNotBuilt }
func dtoh([]byte, devptr) error                                           { return errNotBuilt }
func htodAsync(devptr, unsafe.Pointer, int, cuStream) error               { return errNotBuilt }
func dtohAsync(unsafe.Pointer, devptr, int, cuStream) error               { return errNotBuilt }
func dtodAsync(devptr, devptr, int, cuStream) error                       { return errNotBuilt }
func newStream() (cuStream, error)                                        { return nil, errNotBuilt }
func destroyStream(cuStream)                                              {}
func syncStream(cuStream) error                                           { return errNotBuilt }
func launch(string, cuFunction, int, int, int, cuStream, ...uint64) error { return errNotBuilt }
func nvrtcVersion() (int, int, error)                                     { return 0, 0, errNotBuilt }
func nvrtcArchs() []int                                                   { return nil }
func nvrtcHasCubin() bool                                                 { return false }
func nvrtcCompile(string, string, []string, bool) ([]byte, error)         { return nil, errNotBuilt }

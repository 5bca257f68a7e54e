//go:build linux && cgo && !purego

package cuda

/*
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "loader.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"strings"
	"unsafe"
)

// The primitives the rest of the package is written against, on top of the dlopen'ed
// driver (loader.c). Every one returns a *Error naming the driver call on failure.

const built = true

type (
	cuDevice   = C.CUdevice
	cuContext  = C.CUcontext
	cuModule   = C.CUmodule
	cuFunction = C.CUfunction
	cuStream   = C.CUstream
)

func cuErr(op string, r C.CUresult) error {
	if r == 0 {
		return nil
	}
	return &Error{Op: op, Code: int(r), Name: C.GoString(C.mc_cu_error_name(r)), Msg: C.GoString(C.mc_cu_error_string(r))}
}

func loadDriver(path string) error {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var buf [512]C.char
	if C.mc_cuda_load_driver(cpath, &buf[0], C.size_t(len(buf))) != 0 {
		return fmt.Errorf("%s", oneLine(C.GoString(&buf[0])))
	}
	return nil
}

func loadNVRTC(path string) error {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var buf [512]C.char
	if C.mc_cuda_load_nvrtc(cpath, &buf[0], C.size_t(len(buf))) != 0 {
		return fmt.Errorf("%s", oneLine(C.GoString(&buf[0])))
	}
	return nil
}

func driverInit() error { return cuErr("cuInit", C.mc_cuInit()) }

func driverVersion() (int, error) {
	var v C.int
	return int(v), cuErr("cuDriverGetVersion", C.mc_cuDriverGetVersion(&v))
}

func deviceCount() (int, error) {
	var n C.int
	return int(n), cuErr("cuDeviceGetCount", C.mc_cuDeviceGetCount(&n))
}

// deviceInfo reads what modelc needs to know about device ordinal i.
func deviceInfo(i int) (cuDevice, Info, error) {
	var dev C.CUdevice
	if err := cuErr("cuDeviceGet", C.mc_cuDeviceGet(&dev, C.int(i))); err != nil {
		return 0, Info{}, err
	}
	var name [256]C.char
	if err := cuErr("cuDeviceGetName", C.mc_cuDeviceGetName(&name[0], C.int(len(name)), dev)); err != nil {
		return 0, Info{}, err
	}
	attr := func(a C.int) (int, error) {
		var v C.int
		return int(v), cuErr("cuDeviceGetAttribute", C.mc_cuDeviceGetAttribute(&v, a, dev))
	}
	info := Info{Ordinal: i, Name: C.GoString(&name[0])}
	var err error
	for _, f := range []struct {
		dst  *int
		attr C.int
	}{
		{&info.Major, C.MC_ATTR_CC_MAJOR}, {&info.Minor, C.MC_ATTR_CC_MINOR},
		{&info.SMs, C.MC_ATTR_MULTIPROCESSOR_COUNT}, {&info.ClockKHz, C.MC_ATTR_CLOCK_RATE},
		{&info.MemClockKHz, C.MC_ATTR_MEMORY_CLOCK_RATE}, {&info.BusWidth, C.MC_ATTR_GLOBAL_MEMORY_BUS_WIDTH},
		{&info.CopyEngines, C.MC_ATTR_ASYNC_ENGINE_COUNT},
	} {
		if *f.dst, err = attr(f.attr); err != nil {
			return 0, Info{}, err
		}
	}
	var mem C.size_t
	if err := cuErr("cuDeviceTotalMem", C.mc_cuDeviceTotalMem(&mem, dev)); err != nil {
		return 0, Info{}, err
	}
	info.MemoryBytes = uint64(mem)
	return dev, info, nil
}

func retainContext(dev cuDevice) (cuContext, error) {
	var ctx C.CUcontext
	return ctx, cuErr("cuDevicePrimaryCtxRetain", C.mc_cuDevicePrimaryCtxRetain(&ctx, dev))
}

func releaseContext(dev cuDevice) { C.mc_cuDevicePrimaryCtxRelease(dev) }

// bind makes d's context current on this goroutine's OS thread, locked for the duration
// of one call (the driver keeps the current context per thread).
func (d *Device) bind() (func(), error) {
	runtime.LockOSThread()
	if err := cuErr("cuCtxSetCurrent", C.mc_cuCtxSetCurrent(d.ctx)); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	return runtime.UnlockOSThread, nil
}

func loadModule(image []byte) (cuModule, error) {
	var mod C.CUmodule
	p := C.CBytes(image) // the driver reads the image during the call only; a C copy keeps cgo's rules simple
	defer C.free(p)
	return mod, cuErr("cuModuleLoadData", C.mc_cuModuleLoadData(&mod, p))
}

func unloadModule(m cuModule) { C.mc_cuModuleUnload(m) }

func moduleFunction(m cuModule, name string) (cuFunction, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var f C.CUfunction
	return f, cuErr("cuModuleGetFunction("+name+")", C.mc_cuModuleGetFunction(&f, m, cname))
}

func memAlloc(n int) (devptr, error) {
	if n == 0 {
		return 0, nil
	}
	var p C.CUdeviceptr
	if err := cuErr(fmt.Sprintf("cuMemAlloc(%d bytes)", n), C.mc_cuMemAlloc(&p, C.size_t(n))); err != nil {
		return 0, err
	}
	return devptr(p), nil
}

func memFree(p devptr) {
	if p != 0 {
		C.mc_cuMemFree(C.CUdeviceptr(p))
	}
}

// hostAlloc returns page-locked host memory (the only kind an asynchronous copy can
// overlap with a kernel), allocated by the driver in C memory.
func hostAlloc(n int) (unsafe.Pointer, error) {
	var p unsafe.Pointer
	return p, cuErr(fmt.Sprintf("cuMemHostAlloc(%d bytes)", n), C.mc_cuMemHostAlloc(&p, C.size_t(n)))
}

func hostFree(p unsafe.Pointer) {
	if p != nil {
		C.mc_cuMemFreeHost(p)
	}
}

// htod and dtoh copy synchronously; src/dst may be Go memory, which the driver reads or
// writes only during the call.
func htod(dst devptr, src []byte) error {
	if len(src) == 0 {
		return nil
	}
	return cuErr("cuMemcpyHtoD", C.mc_cuMemcpyHtoD(C.CUdeviceptr(dst), unsafe.Pointer(&src[0]), C.size_t(len(src))))
}

func dtoh(dst []byte, src devptr) error {
	if len(dst) == 0 {
		return nil
	}
	return cuErr("cuMemcpyDtoH", C.mc_cuMemcpyDtoH(unsafe.Pointer(&dst[0]), C.CUdeviceptr(src), C.size_t(len(dst))))
}

// The asynchronous copies take pinned C memory only (see hostAlloc).
func htodAsync(dst devptr, src unsafe.Pointer, n int, s cuStream) error {
	return cuErr("cuMemcpyHtoDAsync", C.mc_cuMemcpyHtoDAsync(C.CUdeviceptr(dst), src, C.size_t(n), s))
}

func dtohAsync(dst unsafe.Pointer, src devptr, n int, s cuStream) error {
	return cuErr("cuMemcpyDtoHAsync", C.mc_cuMemcpyDtoHAsync(dst, C.CUdeviceptr(src), C.size_t(n), s))
}

func dtodAsync(dst, src devptr, n int, s cuStream) error {
	return cuErr("cuMemcpyDtoDAsync", C.mc_cuMemcpyDtoDAsync(C.CUdeviceptr(dst), C.CUdeviceptr(src), C.size_t(n), s))
}

func newStream() (cuStream, error) {
	var s C.CUstream
	return s, cuErr("cuStreamCreate", C.mc_cuStreamCreate(&s))
}

func destroyStream(s cuStream) {
	if s != nil {
		C.mc_cuStreamDestroy(s)
	}
}

func syncStream(s cuStream) error { return cuErr("cuStreamSynchronize", C.mc_cuStreamSynchronize(s)) }

// launch runs kernel f on a gx×gy grid of bx-thread blocks. Each argument is 8 bytes: a
// device pointer, an int64, or a 32-bit int / float in the low half (see arg32, argF).
func launch(name string, f cuFunction, gx, gy, bx int, s cuStream, args ...uint64) error {
	return cuErr("cuLaunchKernel("+name+")", C.mc_launch(f, C.uint(gx), C.uint(gy), C.uint(bx), 1, s,
		C.int(len(args)), (*C.uint64_t)(unsafe.Pointer(&args[0]))))
}

// ---- NVRTC ------------------------------------------------------------------------------------

func nvrtcErr(op string, r C.nvrtcResult) error {
	if r == 0 {
		return nil
	}
	return fmt.Errorf("%s: %s", op, C.GoString(C.mc_nvrtc_error_string(r)))
}

func nvrtcVersion() (int, int, error) {
	var maj, min C.int
	return int(maj), int(min), nvrtcErr("nvrtcVersion", C.mc_nvrtcVersion(&maj, &min))
}

// nvrtcArchs lists the sm_XY numbers (XY) this NVRTC compiles for, or nil when it is too
// old to say.
func nvrtcArchs() []int {
	if C.mc_nvrtc_has_supported_archs() == 0 {
		return nil
	}
	var n C.int
	if C.mc_nvrtcGetNumSupportedArchs(&n) != 0 || n <= 0 || n > 256 {
		return nil
	}
	out := make([]C.int, n)
	if C.mc_nvrtcGetSupportedArchs(&out[0]) != 0 {
		return nil
	}
	archs := make([]int, n)
	for i, a := range out {
		archs[i] = int(a)
	}
	return archs
}

func nvrtcHasCubin() bool { return C.mc_nvrtc_has_cubin() != 0 }

// nvrtcCompile compiles src with opts and returns the CUBIN (cubin true) or PTX image, or
// the compiler's log as the error.
func nvrtcCompile(src, name string, opts []string, cubin bool) ([]byte, error) {
	csrc, cname := C.CString(src), C.CString(name)
	defer C.free(unsafe.Pointer(csrc))
	defer C.free(unsafe.Pointer(cname))
	var prog C.nvrtcProgram
	if err := nvrtcErr("nvrtcCreateProgram", C.mc_nvrtcCreateProgram(&prog, csrc, cname)); err != nil {
		return nil, err
	}
	defer C.mc_nvrtcDestroyProgram(&prog)
	copts := make([]*C.char, len(opts))
	for i, o := range opts {
		copts[i] = C.CString(o)
		defer C.free(unsafe.Pointer(copts[i]))
	}
	// copts is Go memory holding C pointers only, so it may be passed to C.
	if r := C.mc_nvrtcCompileProgram(prog, C.int(len(copts)), (**C.char)(unsafe.Pointer(&copts[0]))); r != 0 {
		var n C.size_t
		log := ""
		if C.mc_nvrtcGetProgramLogSize(prog, &n) == 0 && n > 1 {
			buf := make([]byte, n)
			if C.mc_nvrtcGetProgramLog(prog, (*C.char)(unsafe.Pointer(&buf[0]))) == 0 {
				log = strings.TrimRight(string(buf[:n-1]), "\x00\n ")
			}
		}
		return nil, fmt.Errorf("%s: %s", C.GoString(C.mc_nvrtc_error_string(r)), log)
	}
	var n C.size_t
	var img []byte
	if cubin {
		if err := nvrtcErr("nvrtcGetCUBINSize", C.mc_nvrtcGetCUBINSize(prog, &n)); err != nil {
			return nil, err
		}
		img = make([]byte, n)
		if err := nvrtcErr("nvrtcGetCUBIN", C.mc_nvrtcGetCUBIN(prog, (*C.char)(unsafe.Pointer(&img[0])))); err != nil {
			return nil, err
		}
		return img, nil
	}
	if err := nvrtcErr("nvrtcGetPTXSize", C.mc_nvrtcGetPTXSize(prog, &n)); err != nil {
		return nil, err
	}
	img = make([]byte, n) // NUL-terminated, as cuModuleLoadData wants PTX
	if err := nvrtcErr("nvrtcGetPTX", C.mc_nvrtcGetPTX(prog, (*C.char)(unsafe.Pointer(&img[0])))); err != nil {
		return nil, err
	}
	return img, nil
}

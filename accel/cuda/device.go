package cuda

import (
	"fmt"
	"math"
	"sync"
	"unsafe"
)

// Device is one opened GPU with its compiled kernels. Its methods may be called from
// any goroutine; calls run one at a time.
type Device struct {
	Info Info

	mu    sync.Mutex
	dev   cuDevice
	ctx   cuContext
	mod   cuModule
	fns   map[string]cuFunction
	dnan  float32 // this CPU's default NaN (see kernels.cu)
	slots []*slot // staging for pipelined element-wise calls, made on first use
}

// kernelNames are the entry points of kernels.cu.
var kernelNames = []string{
	"mc_f32_to_f16", "mc_f16_to_f32", "mc_f32_to_bf16", "mc_bf16_to_f32",
	"mc_quant_s8", "mc_quant_u8", "mc_dequant_s8", "mc_dequant_u8",
	"mc_q8_0", "mc_dq8_0", "mc_q4_0", "mc_dq4_0",
	"mc_sgemm", "mc_hgemm_f16", "mc_hgemm_bf16", "mc_gemm_s8s8", "mc_gemm_u8s8",
}

// compileHook, when set by a test, replaces the NVRTC step (to test its failure path).
var compileHook func(major, minor int) ([]byte, string, error)

func openDevice(ord int) (*Device, error) {
	if err := loadDriverOnce(); err != nil {
		return nil, err
	}
	n, err := deviceCount()
	if err != nil {
		return nil, fmt.Errorf("no CUDA device: %v", err)
	}
	if n == 0 {
		return nil, fmt.Errorf("no CUDA device: the driver reports none")
	}
	if ord >= n {
		return nil, fmt.Errorf("no CUDA device %d: the driver reports %d (%s)", ord, n, EnvDevice)
	}
	dev, info, err := deviceInfo(ord)
	if err != nil {
		return nil, err
	}
	v, err := driverVersion()
	if err != nil {
		return nil, err
	}
	info.Driver = fmt.Sprintf("%d.%d", v/1000, v%1000/10)
	if err := loadNVRTCOnce(); err != nil {
		return nil, err
	}
	info.DriverLib, info.NVRTCLib = driverLib, nvrtcLib
	if maj, min, err := nvrtcVersion(); err == nil {
		info.NVRTC = fmt.Sprintf("%d.%d", maj, min)
	}
	info.TensorCores = info.Major >= 8

	compile := compileKernels
	if compileHook != nil {
		compile = compileHook
	}
	image, target, err := compile(info.Major, info.Minor)
	if err != nil {
		return nil, err
	}
	info.Target = target

	d := &Device{Info: info, dev: dev, fns: map[string]cuFunction{}, dnan: defaultNaN()}
	if d.ctx, err = retainContext(dev); err != nil {
		return nil, err
	}
	err = d.do(func() error {
		if d.mod, err = loadModule(image); err != nil {
			return fmt.Errorf("the driver cannot load the kernels compiled for %s: %v", target, err)
		}
		for _, name := range kernelNames {
			f, err := moduleFunction(d.mod, name)
			if err != nil {
				return err
			}
			d.fns[name] = f
		}
		return nil
	})
	if err != nil {
		releaseContext(dev)
		return nil, err
	}
	return d, nil
}

// compileKernels compiles kernels.cu with NVRTC for compute capability major.minor: to a
// CUBIN for exactly that GPU when NVRTC knows it, else to PTX for the newest
// architecture NVRTC has that the device can run, which the driver compiles on load.
func compileKernels(major, minor int) ([]byte, string, error) {
	cc := major*10 + minor
	arch, cubin := cc, nvrtcHasCubin()
	if archs := nvrtcArchs(); len(archs) > 0 {
		best := -1
		for _, a := range archs {
			if a <= cc && a > best {
				best = a
			}
		}
		if best < 0 {
			return nil, "", fmt.Errorf("NVRTC %s is too new for this sm_%d GPU (its oldest target is sm_%d)", nvrtcVersionString(), cc, archs[0])
		}
		if best != cc {
			arch, cubin = best, false // PTX is forward-compatible, a CUBIN is not
		}
	}
	target := fmt.Sprintf("sm_%d (cubin)", arch)
	opt := fmt.Sprintf("--gpu-architecture=sm_%d", arch)
	if !cubin {
		target = fmt.Sprintf("compute_%d (PTX, compiled by the driver)", arch)
		opt = fmt.Sprintf("--gpu-architecture=compute_%d", arch)
	}
	img, err := nvrtcCompile(kernelSource, "modelc_kernels.cu", []string{opt}, cubin)
	if err != nil {
		return nil, "", fmt.Errorf("NVRTC %s could not compile the kernels for %s: %v", nvrtcVersionString(), target, err)
	}
	return img, target, nil
}

func nvrtcVersionString() string {
	maj, min, err := nvrtcVersion()
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%d.%d", maj, min)
}

// CompileCheck compiles the embedded kernels for sm_<major><minor> with the NVRTC this
// process finds, without a GPU or driver, and returns the target used. Tests use it to
// check that the kernel source builds for every architecture.
func CompileCheck(major, minor int) (string, error) {
	if err := loadNVRTCOnce(); err != nil {
		return "", err
	}
	_, target, err := compileKernels(major, minor)
	return target, err
}

//go:noinline
func mulF32(a, b float32) float32 { return a * b }

// defaultNaN is the NaN this CPU produces for 0·Inf (0xffc00000 on x86, 0x7fc00000 on
// arm64): the GPU kernels return it where the CPU reference would.
func defaultNaN() float32 { return mulF32(0, float32(math.Inf(1))) }

// do runs fn with d's context current and no other call on d in progress.
func (d *Device) do(fn func() error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	unbind, err := d.bind()
	if err != nil {
		return err
	}
	defer unbind()
	return fn()
}

// fn returns a compiled kernel.
func (d *Device) fn(name string) cuFunction { return d.fns[name] }

// ReleaseBuffers frees the staging buffers kept between calls (page-locked host memory,
// device memory and streams); the next large call allocates them again.
func (d *Device) ReleaseBuffers() error {
	return d.do(func() error {
		for _, s := range d.slots {
			s.free()
		}
		d.slots = nil
		return nil
	})
}

// asBytes views a slice of plain values as its bytes.
func asBytes[T any](s []T) []byte {
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(z)))
}

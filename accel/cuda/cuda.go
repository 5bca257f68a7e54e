// Package cuda runs modelc's heavy kernels on an NVIDIA GPU, from the same binary that
// runs everywhere else: nothing CUDA is needed to build or link it.
//
// At first use (Open) it dlopens the driver API (libcuda.so.1) and the newest NVRTC it
// finds (libnvrtc.so.*), compiles the CUDA C kernels embedded in the binary
// (kernels.cu) for the device's compute capability, and keeps the compiled module per
// device for the life of the process. When any of that fails, Open returns an error
// whose message is a single line saying why (no driver, no device, no NVRTC, compile
// error), which `modelc backends` shows; package accel then keeps the CPU kernels.
//
// Kernels: f32 GEMM, f16/bf16 GEMM with f32 accumulation (tensor cores, mma.sync
// m16n8k16, on sm_80 and newer), int8×int8 and uint8×int8 GEMM, f32↔f16/bf16
// conversions, ONNX QuantizeLinear/DequantizeLinear to int8/uint8 per tensor or per
// axis, and ggml Q8_0/Q4_0 (de)quantization. Integer and conversion kernels are
// bit-exact with accel's pure-Go reference, NaN payloads included; the GEMMs are within
// the same error bound as the CPU GEMMs (f32 accumulation, another summation order).
//
// Memory: device buffers come from cuMemAlloc (never managed memory) and are freed when
// the call returns; staging buffers in page-locked host memory, used to overlap copies
// with kernels on large element-wise calls, are kept per device until ReleaseBuffers.
// Calls on one device are serialised; every call is synchronous for its caller.
//
// Environment: MODELC_CUDA_LIB (path of libcuda), MODELC_NVRTC_LIB (path of libnvrtc),
// MODELC_CUDA_DEVICE (ordinal, default 0).
package cuda

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

//go:embed kernels.cu
var kernelSource string

// Environment variables that override discovery.
const (
	EnvDriverLib = "MODELC_CUDA_LIB"
	EnvNVRTCLib  = "MODELC_NVRTC_LIB"
	EnvDevice    = "MODELC_CUDA_DEVICE"
)

// Error is a failed driver call.
type Error struct {
	Op   string // the driver call, e.g. "cuMemAlloc(1073741824 bytes)"
	Code int    // CUresult
	Name string // e.g. CUDA_ERROR_OUT_OF_MEMORY
	Msg  string // the driver's description
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s (%s)", e.Op, e.Name, e.Msg) }

// Info describes an opened device and the toolchain that compiled its kernels.
type Info struct {
	Ordinal     int    `json:"ordinal"`
	Name        string `json:"name"`
	Major       int    `json:"cc_major"`
	Minor       int    `json:"cc_minor"`
	SMs         int    `json:"multiprocessors"`
	ClockKHz    int    `json:"clock_khz"`
	MemClockKHz int    `json:"memory_clock_khz"`
	BusWidth    int    `json:"memory_bus_bits"`
	CopyEngines int    `json:"copy_engines"`
	MemoryBytes uint64 `json:"memory_bytes"`
	Driver      string `json:"driver"`       // CUDA version the driver supports, e.g. "12.4"
	DriverLib   string `json:"driver_lib"`   // the libcuda path opened
	NVRTC       string `json:"nvrtc"`        // e.g. "12.9"
	NVRTCLib    string `json:"nvrtc_lib"`    // the libnvrtc path opened
	Target      string `json:"target"`       // e.g. "sm_90 (cubin)" or "compute_90 (PTX, JIT by the driver)"
	TensorCores bool   `json:"tensor_cores"` // the f16/bf16 GEMM uses mma.sync (sm_80+)
}

// String is a one-line summary.
func (i Info) String() string {
	return fmt.Sprintf("%s (device %d, sm_%d%d, %d SMs, %.1f GiB; driver CUDA %s, NVRTC %s, %s)",
		i.Name, i.Ordinal, i.Major, i.Minor, i.SMs, float64(i.MemoryBytes)/(1<<30), i.Driver, i.NVRTC, i.Target)
}

// Built reports whether this binary can load CUDA at all (cgo on Linux, no purego tag).
func Built() bool { return built }

type devptr uint64

// Process-wide state: the libraries are loaded once, each device opened once.
var (
	drvOnce   sync.Once
	drvErr    error
	driverLib string
	nvOnce    sync.Once
	nvErr     error
	nvrtcLib  string

	devMu   sync.Mutex
	devices = map[int]*Device{}
	devErrs = map[int]error{}
)

// Open returns the device MODELC_CUDA_DEVICE names (0 by default), ready to run kernels,
// or an error with a one-line reason why CUDA cannot be used. The result, error
// included, is cached for the life of the process.
func Open() (*Device, error) {
	ord := 0
	if s := strings.TrimSpace(os.Getenv(EnvDevice)); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("cuda: %s=%q is not a device ordinal", EnvDevice, s)
		}
		ord = n
	}
	return OpenDevice(ord)
}

// OpenDevice is Open for device ordinal i.
func OpenDevice(i int) (*Device, error) {
	devMu.Lock()
	defer devMu.Unlock()
	if d := devices[i]; d != nil {
		return d, nil
	}
	if err := devErrs[i]; err != nil {
		return nil, err
	}
	d, err := openDevice(i)
	if err != nil {
		err = fmt.Errorf("cuda: %s", oneLine(err.Error()))
		devErrs[i] = err
		return nil, err
	}
	devices[i] = d
	return d, nil
}

// Reason is "" when Open succeeds, or the one-line reason CUDA cannot be used.
func Reason() string {
	if _, err := Open(); err != nil {
		return strings.TrimPrefix(err.Error(), "cuda: ")
	}
	return ""
}

// loadDriver once: the driver library, initialised.
func loadDriverOnce() error {
	drvOnce.Do(func() {
		if !built {
			drvErr = loadDriver("")
			return
		}
		driverLib = os.Getenv(EnvDriverLib)
		if driverLib == "" {
			driverLib = "libcuda.so.1"
		}
		if err := loadDriver(driverLib); err != nil {
			drvErr = fmt.Errorf("no NVIDIA driver: cannot load %s: %v", driverLib, err)
			return
		}
		if err := driverInit(); err != nil {
			drvErr = fmt.Errorf("the NVIDIA driver does not initialise: %v", err)
		}
	})
	return drvErr
}

// loadNVRTCOnce loads the newest NVRTC found (or the one MODELC_NVRTC_LIB names).
func loadNVRTCOnce() error {
	nvOnce.Do(func() {
		if !built {
			nvErr = loadNVRTC("")
			return
		}
		var tried []string
		var last error
		for _, p := range nvrtcCandidates(os.Getenv(EnvNVRTCLib), nvrtcDirs()) {
			if last = loadNVRTC(p); last == nil {
				nvrtcLib = p
				return
			}
			tried = append(tried, p)
		}
		if len(tried) == 0 {
			nvErr = fmt.Errorf("no NVRTC: no libnvrtc.so.* found (install the CUDA runtime compiler, or set %s)", EnvNVRTCLib)
		} else {
			nvErr = fmt.Errorf("no NVRTC: none of %s loads (last: %v; set %s)", strings.Join(tried, ", "), last, EnvNVRTCLib)
		}
	})
	return nvErr
}

// nvrtcDirs are the folders searched for libnvrtc.so.*: LD_LIBRARY_PATH, then the usual
// CUDA toolkit and distribution locations.
func nvrtcDirs() []string {
	var dirs []string
	for _, d := range filepath.SplitList(os.Getenv("LD_LIBRARY_PATH")) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	dirs = append(dirs, "/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib",
		"/usr/local/cuda/targets/sbsa-linux/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
		"/usr/lib64", "/usr/lib")
	if more, _ := filepath.Glob("/usr/local/cuda-*/lib64"); len(more) > 0 {
		dirs = append(dirs, more...)
	}
	return dirs
}

// nvrtcCandidates lists the libnvrtc files to try, newest version first: the override
// alone when set, else every libnvrtc.so.<version> in dirs, then the bare sonames the
// dynamic loader may know from its cache.
func nvrtcCandidates(override string, dirs []string) []string {
	if override != "" {
		return []string{override}
	}
	type cand struct {
		path string
		ver  []int
	}
	var cs []cand
	seen := map[string]bool{}
	for _, d := range dirs {
		matches, _ := filepath.Glob(filepath.Join(d, "libnvrtc.so.*"))
		for _, m := range matches {
			ver, ok := sonameVersion(filepath.Base(m), "libnvrtc.so.")
			if !ok || seen[m] {
				continue
			}
			seen[m] = true
			cs = append(cs, cand{m, ver})
		}
	}
	for _, v := range []string{"13", "12", "11.2", "11.1", "11.0"} {
		ver, _ := sonameVersion("libnvrtc.so."+v, "libnvrtc.so.")
		cs = append(cs, cand{"libnvrtc.so." + v, ver})
	}
	sort.SliceStable(cs, func(i, j int) bool { return versionLess(cs[j].ver, cs[i].ver) })
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.path
	}
	return out
}

// sonameVersion parses "libnvrtc.so.12.4.99" into [12 4 99]; names with anything but
// dotted numbers after the prefix (libnvrtc.so.12.alt) are not candidates.
func sonameVersion(name, prefix string) ([]int, bool) {
	if !strings.HasPrefix(name, prefix) {
		return nil, false
	}
	var ver []int
	for _, f := range strings.Split(strings.TrimPrefix(name, prefix), ".") {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, false
		}
		ver = append(ver, n)
	}
	return ver, len(ver) > 0
}

func versionLess(a, b []int) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}

// oneLine folds a multi-line message (a compiler log) into one line of bounded length.
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	s = strings.Join(parts, " | ")
	const maxLen = 400
	if len(s) > maxLen {
		s = s[:maxLen] + "…"
	}
	return s
}

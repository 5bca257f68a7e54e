package accel

import (
	"fmt"
	"sync/atomic"

	"github.com/modelc/modelc/accel/cuda"
)

// CUDA offload. The GPU kernels live in accel/cuda; here the table decides, per call,
// whether a call goes there. With MODELC_ACCEL=cuda every call above the small-size
// cut-over does (the CPU kernels serve the rest and the kernels CUDA lacks). With auto,
// only calls whose work exceeds the thresholds below go to the GPU, and only if one is
// usable: the driver is probed at the first such call, so small jobs never pay for
// loading CUDA or compiling kernels.
//
// If a GPU call fails at run time (out of device memory, say), the call is redone on the
// CPU, which gives the same bytes for the exact kernels; the failure is counted and the
// last one shown by Describe. Choosing the backend is never silent: MODELC_ACCEL=cuda on
// a machine without a usable GPU is an Init error.

// Auto-offload thresholds. NOT MEASURED: this session had no GPU. They are estimates
// from PCIe ≈ 25 GB/s against a multi-core AVX2/AVX-512 CPU, and must be replaced by
// the crossover that bench/gpu (BenchmarkCrossover) measures on a GPU machine.
const (
	// CUDAMinGEMMWork is the m·n·k from which auto sends a GEMM to the GPU (512³):
	// moving 4·(mk+kn+mn) bytes over PCIe then costs less than the CPU's arithmetic.
	CUDAMinGEMMWork = 1 << 27
	// CUDAMinElems is the element count from which auto sends a conversion or
	// quantizer to the GPU (64 MiB of float32): these are memory-bound, so the GPU only
	// wins when the copies overlap the kernels on large tensors.
	CUDAMinElems = 1 << 24
)

// gpuOffload is the CUDA side of a table; nil in a CPU-only table.
type gpuOffload struct {
	forced    bool // MODELC_ACCEL=cuda
	calls     atomic.Int64
	fallbacks atomic.Int64
	lastErr   atomic.Pointer[string]
}

// gpuKernels are the table entries CUDA serves.
var gpuKernels = map[string]string{
	"sgemm": "128×128-tile f32 GEMM (FMA)", "gemm_f16": "f16 tensor-core GEMM (mma.sync, sm_80+), f32 accumulation",
	"gemm_bf16": "bf16 tensor-core GEMM (mma.sync, sm_80+), f32 accumulation",
	"gemm_s8s8": "int8 GEMM, exact int32", "gemm_u8s8": "uint8×int8 GEMM, exact int32",
	"f32_to_f16": "bit-exact conversion", "f16_to_f32": "bit-exact conversion",
	"f32_to_bf16": "bit-exact conversion", "bf16_to_f32": "bit-exact conversion",
	"quantize_s8": "QuantizeLinear, bit-exact", "quantize_u8": "QuantizeLinear, bit-exact",
	"dequantize_s8": "DequantizeLinear, bit-exact", "dequantize_u8": "DequantizeLinear, bit-exact",
	"quantize_q8_0": "one warp per block, byte-exact", "dequantize_q8_0": "one warp per block, bit-exact",
	"quantize_q4_0": "one warp per block, byte-exact", "dequantize_q4_0": "one warp per block, bit-exact",
}

// withGPU adds the CUDA offload to a CPU table.
func withGPU(t *table, forced bool) *table {
	t.gpu = &gpuOffload{forced: forced}
	if forced {
		t.backend = BackendCUDA
	}
	return t
}

// gpuFor returns the device a call of the given work should run on, or nil for the CPU.
// small is the size below which the CPU always runs it; autoMin the auto threshold.
func (t *table) gpuFor(work, small, autoMin int) *cuda.Device {
	g := t.gpu
	if g == nil || work < small || (!g.forced && work < autoMin) {
		return nil
	}
	d, err := cuda.Open()
	if err != nil {
		return nil
	}
	g.calls.Add(1)
	return d
}

// gpuFailed records a GPU call that failed; the caller then runs the CPU kernel.
// offload runs gpu on the CUDA device when the table sends work of this size there (see
// gpuFor). It reports whether the GPU did the work; a GPU error is counted, shown by
// `modelc backends`, and the caller runs its CPU path instead.
func (t *table) offload(fn string, work, small, autoMin int, gpu func(*cuda.Device) error) bool {
	d := t.gpuFor(work, small, autoMin)
	if d == nil {
		return false
	}
	if err := gpu(d); err != nil {
		t.gpuFailed(fn, err)
		return false
	}
	return true
}

func (t *table) gpuFailed(fn string, err error) {
	t.gpu.fallbacks.Add(1)
	msg := fmt.Sprintf("%s: %v", fn, err)
	t.gpu.lastErr.Store(&msg)
}

// CUDAReport is the CUDA part of Report.
type CUDAReport struct {
	Built       bool       `json:"built"`
	Usable      bool       `json:"usable"`
	Reason      string     `json:"reason,omitempty"` // why not usable, one line
	Device      *cuda.Info `json:"device,omitempty"`
	Mode        string     `json:"mode"` // off, auto or forced
	MinGEMMWork int        `json:"auto_min_gemm_mnk"`
	MinElems    int        `json:"auto_min_elements"`
	Calls       int64      `json:"gpu_calls"`
	Fallbacks   int64      `json:"cpu_fallbacks"`
	LastError   string     `json:"last_error,omitempty"`
}

func describeCUDA(t *table) CUDAReport {
	r := CUDAReport{Built: cuda.Built(), Mode: "off", MinGEMMWork: CUDAMinGEMMWork, MinElems: CUDAMinElems}
	if d, err := cuda.Open(); err == nil {
		r.Usable = true
		info := d.Info
		r.Device = &info
	} else {
		r.Reason = cuda.Reason()
	}
	if t != nil && t.gpu != nil {
		r.Mode = "auto"
		if t.gpu.forced {
			r.Mode = "forced"
		}
		r.Calls, r.Fallbacks = t.gpu.calls.Load(), t.gpu.fallbacks.Load()
		if p := t.gpu.lastErr.Load(); p != nil {
			r.LastError = *p
		}
	}
	return r
}

func (r CUDAReport) line() string {
	if !r.Usable {
		return "unavailable: " + r.Reason
	}
	s := r.Device.String()
	switch r.Mode {
	case "forced":
		s += "; every kernel it has runs there"
	case "auto":
		s += fmt.Sprintf("; auto offload for GEMM m·n·k ≥ %d and ≥ %d elements (thresholds not yet measured)",
			r.MinGEMMWork, r.MinElems)
	}
	return s
}

// gpuImpl is the report line of a kernel CUDA serves in table t, if any.
func gpuImpl(t *table, kernel string, cpu implInfo, usable bool) implInfo {
	what, ok := gpuKernels[kernel]
	if !ok || t.gpu == nil || !usable {
		return cpu
	}
	if t.gpu.forced {
		return implInfo{"cuda", "CUDA " + what + "; tiny calls stay on " + cpu.impl}
	}
	return implInfo{"cuda|" + cpu.impl, "CUDA " + what + " above the auto threshold, else " + cpu.reason}
}

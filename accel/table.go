package accel

import (
	"strings"

	"github.com/modelc/modelc/accel/cuda"
)

// The kernel table. Each entry is one kernel working on one chunk, single-threaded,
// with arguments already checked by the exported wrapper in api.go; splitting work over
// the worker pool and the small-size cut-over to Go happen there, once for all backends.
type table struct {
	backend Backend
	impl    map[string]implInfo

	sgemm    func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, bias []float32)
	gemmS8S8 func(transB bool, m, n, k int, a []int8, lda int, b []int8, ldb int, c []int32, ldc int)
	gemmU8S8 func(transB bool, m, n, k int, a []uint8, lda int, b []int8, ldb int, c []int32, ldc int)
	pack8    *packer8 // PackB8's layout and the packed int8 GEMMs (packed.go)

	f32ToF16  func(dst []uint16, src []float32)
	f16ToF32  func(dst []float32, src []uint16)
	f32ToBF16 func(dst []uint16, src []float32)
	bf16ToF32 func(dst []float32, src []uint16)

	quantS8   func(dst []int8, src []float32, g0, inner, ch int, scale []float32, zp []int8)
	quantU8   func(dst []uint8, src []float32, g0, inner, ch int, scale []float32, zp []uint8)
	dequantS8 func(dst []float32, src []int8, g0, inner, ch int, scale []float32, zp []int8)
	dequantU8 func(dst []float32, src []uint8, g0, inner, ch int, scale []float32, zp []uint8)
	// qdqU8: QuantDequantU8 in one pass; nil where the backend has none (quantU8 and
	// dequantU8 then run in turn).
	qdqU8 func(dst, src []float32, scale float32, zp uint8)
	// quantScaledU8: QuantizeScaledU8Rows' rows in one pass; nil where the backend has
	// none (the products, then quantU8).
	quantScaledU8 func(dst []uint8, src []float32, rows, cols int, mul []float32, scale float32, zp uint8)

	minMaxRows func(src []float32, rows, cols, ld int, mn, mx []float32)
	absMaxRows func(src []float32, rows, cols, ld int, out []float32)
	sumSqRows  func(src []float32, rows, cols, ld int, out []float64)

	quantQ8_0   func(dst []byte, src []float32)
	dequantQ8_0 func(dst []float32, src []byte)
	quantQ4_0   func(dst []byte, src []float32)
	dequantQ4_0 func(dst []float32, src []byte)
	fitQKX2     func(scales, mins []float32, levels []uint8, x []float32, nmax int, rmin, rdelta float32, nstep int)
	fitQX       func(scales []float32, levels []int8, x []float32, nmax int)

	relu        func(dst, src []float32)
	gelu        func(dst, src []float32)
	silu        func(dst, src []float32)
	exp         func(dst, src []float32)
	sigmoid     func(dst, src []float32) // nil: Sigmoid runs three passes around exp
	softmaxRows func(dst, src []float32, rows, cols int)
	dwconv2d    func(p *Window2D, x, w, bias, y []float32, channels int)
	// dwconv2dAct: dwconv2d with the activation applied before the store; nil where the
	// backend has none (DepthwiseConv2D then runs BiasAct or SiLU on each finished run).
	dwconv2dAct func(p *Window2D, x, w, bias, y []float32, channels int, act Act)
	biasAct     func(y []float32, rows, cols int, bias []float32, act Act)
	addAct      func(y, a, b []float32, act Act)
	windowRows8 func(dst []int8, ld int, x []byte, planes int, p *Window2D, flip byte, pad int8)
	minMaxNaN   func(src []float32, rows, cols, ld int, mn, mx []float32)
	rowMeans    func(src []float32, rows, cols int, out []float32)
	requantRows func(dst []float32, ldd int, acc []int32, lda int, rows, n int, fix, zw, cs []int32, scale []float32)
	maxPool2D   func(p *Window2D, x, y []float32, planes int)
	// qgemmDequant: GEMMS8S8Dequant in one pass on A packed by packA8 in blocks of
	// packA8Block rows (qgemm.go); nil where the backend has none (the product,
	// RequantRows and BiasAct then run in turn).
	qgemmDequant qgemmKernel
	packA8       func(pa []uint8, a []int8, m, k int)
	packA8Block  int
	// convImplicit2D: nil where the backend has no implicit-GEMM kernel.
	convImplicit2D func(m, cg int, p *Window2D, wt, x, y []float32, j0, j1 int)
	// pointwise: 1×1 convolution with its epilogue (pointwise.go); nil where the backend
	// has no such kernel.
	pointwise func(m, k, n int, w, x, bias, y []float32, j0, j1 int, act Act)
	// gemvPacked: GEMVPacked's one-row product on outputs [j0, j1) of a B packed by
	// PackGEMV (gemv_packed.go); nil where the backend has none.
	gemvPacked func(j0, j1, k int, alpha float32, a, q []float32, beta float32, c, bias []float32)
	// pointwiseT: PointwiseConvPacked's kernel on slivers [s0, s1) of 48 output channels
	// of weights packed by PackPointwise; nil where the backend has none.
	pointwiseT func(m, k, n int, wp, x, bias, y []float32, s0, s1 int, act Act)
	// convRows2D: few-channel direct convolution by output rows (convrows.go); nil where
	// the backend has none.
	convRows2D func(m, cin int, p *Window2D, w, x, bias, y []float32, r0, r1, lrow int, act Act)
	// convT2x2: ConvTranspose 2×2 / stride 2 by groups of row segments (convt2x2.go); nil
	// where the backend has none.
	convT2x2 func(cin, cout, h, w int, x, wt, bias, y []float32, g0, g1 int, act Act)
	// Winograd F(4×4, 3×3) transforms (winograd.go): nil where the backend has none.
	winoIn   winoInFunc
	winoGEMM winoGEMMFunc
	winoOut  winoOutFunc
	// Recurrent cells (rnncell.go): one step's gates and state update.
	lstmCell   func(hr, xw, c, h []float32)
	gruCellLBR func(hr, xw, h []float32)

	// dwconv2dRows: dwconv2dAct on output rows [r0, r1) of each plane, for the geometries
	// dwconv2dFits takes; nil where the backend has none.
	dwconv2dRows func(p *Window2D, x, w, bias, y []float32, channels int, act Act, r0, r1 int) bool
	dwconv2dFits func(p *Window2D) bool

	gpu *gpuOffload // CUDA offload (cuda_offload.go); nil for a CPU-only table
}

type implInfo struct{ impl, reason string }

// kernelNames lists every entry, in the order reports show them.
var kernelNames = []string{
	"sgemm", "gemm_f16", "gemm_bf16", "gemm_s8s8", "gemm_u8s8", "gemm_s8s8_packed", "gemm_u8s8_packed",
	"f32_to_f16", "f16_to_f32", "f32_to_bf16", "bf16_to_f32",
	"quantize_s8", "quantize_u8", "dequantize_s8", "dequantize_u8", "quant_dequant_u8", "quantize_scaled_u8",
	"minmax", "absmax", "sumsq",
	"quantize_q8_0", "dequantize_q8_0", "quantize_q4_0", "dequantize_q4_0", "fit_qkx2", "fit_qx",
	"relu", "gelu", "silu", "exp", "softmax", "dwconv2d", "bias_act", "add_act", "maxpool2d", "requant_rows", "minmax_nan", "window_rows8", "row_means",
	"lstm_cell", "gru_cell",
	"pointwise", "convrows2d", "convtranspose2x2", "sigmoid", "qgemm_dequant", "gemv_packed",
	"pointwise_packed",
}

// goTable is the pure-Go backend: the reference kernels, and a blocked GEMM.
func goTable() *table {
	t := &table{
		backend:  BackendGo,
		impl:     map[string]implInfo{},
		sgemm:    goSGEMM,
		gemmS8S8: goIGEMM[int8], gemmU8S8: goIGEMM[uint8], pack8: goPacker8,
		f32ToF16: refF32ToF16, f16ToF32: refF16ToF32, f32ToBF16: refF32ToBF16, bf16ToF32: refBF16ToF32,
		quantS8: refQuantS8, quantU8: refQuantU8, dequantS8: refDequantS8, dequantU8: refDequantU8,
		minMaxRows: refMinMaxRows, absMaxRows: refAbsMaxRows, sumSqRows: refSumSqRows,
		quantQ8_0: refQuantizeQ8_0, dequantQ8_0: refDequantizeQ8_0,
		quantQ4_0: refQuantizeQ4_0, dequantQ4_0: refDequantizeQ4_0, fitQKX2: refFitQKX2, fitQX: refFitQX,
		relu: refReLU, gelu: refGELU, silu: refSiLU, exp: refExp, softmaxRows: refSoftmaxRows,
		dwconv2d: refDWConv2D, biasAct: refBiasAct, addAct: refAddAct, maxPool2D: refMaxPool2D, requantRows: refRequantRows,
		lstmCell: refLSTMCell, gruCellLBR: refGRUCellLBR, minMaxNaN: refMinMaxNaNRows,
		windowRows8: refWindowRows8, rowMeans: refRowMeans,
	}
	for _, k := range kernelNames {
		t.impl[k] = implInfo{"go", "pure-Go reference"}
	}
	t.impl["sgemm"] = implInfo{"go", "pure-Go blocked GEMM"}
	t.impl["gemm_f16"] = implInfo{"f32+sgemm", "inputs widened to f32 (exact), then the sgemm kernel"}
	t.impl["gemm_bf16"] = implInfo{"f32+sgemm", "inputs widened to f32 (exact), then the sgemm kernel"}
	t.impl["gemm_s8s8"] = implInfo{"go", "pure-Go blocked GEMM"}
	t.impl["gemm_u8s8"] = implInfo{"go", "pure-Go blocked GEMM"}
	t.impl["pointwise"] = implInfo{"sgemm+bias_act", "the caller runs the sgemm kernel, then bias_act"}
	t.impl["convrows2d"] = implInfo{"im2col+sgemm", "the caller runs its implicit-GEMM or im2col path, then bias_act"}
	t.impl["convtranspose2x2"] = implInfo{"sgemm+col2im", "the caller runs its GEMM, col2im and epilogue"}
	t.impl["sigmoid"] = implInfo{"exp", "negate, the exp kernel, 1/(1+e)"}
	t.impl["quant_dequant_u8"] = implInfo{"quantize+dequantize", "the quantize_u8 kernel, then dequantize_u8"}
	t.impl["quantize_scaled_u8"] = implInfo{"mul+quantize", "the products, then the quantize_u8 kernel"}
	t.impl["qgemm_dequant"] = implInfo{"gemm+requant", "the gemm_s8s8 kernel, then requant_rows and bias_act"}
	t.impl["gemv_packed"] = implInfo{"sgemm", "weights kept as stored, the sgemm kernel's one-row path"}
	t.impl["pointwise_packed"] = implInfo{"pointwise", "weights kept as stored, the pointwise kernel"}
	t.setPack8(goPacker8)
	return t
}

// tableFor builds the table of backend b for a CPU with features f. Tests call it with
// features switched off to reach every path this machine can run.
func tableFor(b Backend, f features) *table {
	t := goTable()
	if b != BackendGo {
		fillSIMD(t, b, f)
	}
	return t
}

// tableForRequest is the table a MODELC_ACCEL request runs on: backend b's table, with
// the CUDA offload attached for cuda (every call) and for auto (large calls, when a GPU
// turns out to be usable). For cuda, the CPU kernels under it are auto's choice.
func tableForRequest(req string, b Backend, f features) *table {
	switch {
	case b == BackendCUDA:
		cpu, _, _ := choose(string(BackendAuto), f)
		return withGPU(tableFor(cpu, f), true)
	case isAuto(req) && cuda.Built():
		return withGPU(tableFor(b, f), false)
	}
	return tableFor(b, f)
}

func isAuto(req string) bool {
	req = strings.ToLower(strings.TrimSpace(req))
	return req == "" || req == string(BackendAuto)
}

// setPack8 installs a packed-B int8 GEMM family with its report lines.
func (t *table) setPack8(p *packer8) {
	t.pack8 = p
	t.set("gemm_s8s8_packed", p.name, p.reason)
	t.set("gemm_u8s8_packed", p.name, p.reason)
}

// set installs one kernel with its report line.
func (t *table) set(name, impl, reason string) { t.impl[name] = implInfo{impl, reason} }

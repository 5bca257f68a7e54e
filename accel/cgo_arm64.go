//go:build arm64 && cgo && !purego

package accel

/*
#cgo CFLAGS: -O3 -std=c11
#cgo LDFLAGS: -lm
#include <stdint.h>

void mc_sgemm_neon(int, int, int64_t, int64_t, int64_t, float, const float *, int64_t, const float *, int64_t, float, float *, int64_t, const float *);
void mc_gemm_s8s8_sdot(int, int64_t, int64_t, int64_t, const int8_t *, int64_t, const int8_t *, int64_t, int32_t *, int64_t);
void mc_gemm_u8s8_sdot(int, int64_t, int64_t, int64_t, const uint8_t *, int64_t, const int8_t *, int64_t, int32_t *, int64_t);
void mc_gemm_s8s8_smlal(int, int64_t, int64_t, int64_t, const int8_t *, int64_t, const int8_t *, int64_t, int32_t *, int64_t);
void mc_gemm_u8s8_smlal(int, int64_t, int64_t, int64_t, const uint8_t *, int64_t, const int8_t *, int64_t, int32_t *, int64_t);
void mc_f32_to_f16_neon(uint16_t *, const float *, int64_t);
void mc_f16_to_f32_neon(float *, const uint16_t *, int64_t);
void mc_f32_to_bf16_neon(uint16_t *, const float *, int64_t);
void mc_bf16_to_f32_neon(float *, const uint16_t *, int64_t);
void mc_quant_s8_neon(int8_t *, const float *, int64_t, int64_t, int64_t, int64_t, const float *, const int8_t *);
void mc_quant_u8_neon(uint8_t *, const float *, int64_t, int64_t, int64_t, int64_t, const float *, const uint8_t *);
void mc_minmax_rows_neon(const float *, int64_t, int64_t, int64_t, float *, float *);
void mc_absmax_rows_neon(const float *, int64_t, int64_t, int64_t, float *);
void mc_q8_0_neon(uint8_t *, const float *, int64_t);
void mc_dq8_0_neon(float *, const uint8_t *, int64_t);
void mc_relu_neon(float *, const float *, int64_t);
void mc_lstm_cell_neon(const float *, const float *, float *, float *, int64_t);
void mc_gru_cell_lbr_neon(const float *, const float *, float *, int64_t);
void mc_maxpool2d_neon(const float *, float *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);
void mc_bias_act_neon(float *, int64_t, int64_t, const float *, int, float, float);
void mc_add_act_neon(float *, const float *, const float *, int64_t, int, float, float);
void mc_dwconv2d_neon(const float *, const float *, const float *, float *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);
*/
import "C"

const buildNote = "AVX kernels are built only for amd64"

func simdBuilt(b Backend) bool { return b == BackendNEON }

func fillSIMD(t *table, b Backend, f features) {
	if b != BackendNEON {
		return
	}
	t.backend = BackendNEON
	for _, k := range kernelNames {
		t.set(k, "go", "no NEON kernel yet: pure-Go reference")
	}
	t.sgemm = func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, bias []float32) {
		C.mc_sgemm_neon(cbool(transA), cbool(transB), C.int64_t(m), C.int64_t(n), C.int64_t(k), C.float(alpha), pf32(a), C.int64_t(lda), pf32(b), C.int64_t(ldb), C.float(beta), pf32(c), C.int64_t(ldc), pf32(bias))
	}
	t.set("sgemm", "neon", "NEON 8×12 micro-kernel (fmla by lane), packed and cache-blocked")
	if f.asimddp {
		t.gemmS8S8 = func(transB bool, m, n, k int, a []int8, lda int, b []int8, ldb int, c []int32, ldc int) {
			C.mc_gemm_s8s8_sdot(cbool(transB), C.int64_t(m), C.int64_t(n), C.int64_t(k), pi8(a), C.int64_t(lda), pi8(b), C.int64_t(ldb), pi32(c), C.int64_t(ldc))
		}
		t.gemmU8S8 = func(transB bool, m, n, k int, a []uint8, lda int, b []int8, ldb int, c []int32, ldc int) {
			C.mc_gemm_u8s8_sdot(cbool(transB), C.int64_t(m), C.int64_t(n), C.int64_t(k), pu8(a), C.int64_t(lda), pi8(b), C.int64_t(ldb), pi32(c), C.int64_t(ldc))
		}
		t.set("gemm_s8s8", "neon-dotprod", "sdot by lane on k-quads")
		t.set("gemm_u8s8", "neon-dotprod", "sdot on a−128 with a column-sum correction")
	} else {
		t.gemmS8S8 = func(transB bool, m, n, k int, a []int8, lda int, b []int8, ldb int, c []int32, ldc int) {
			C.mc_gemm_s8s8_smlal(cbool(transB), C.int64_t(m), C.int64_t(n), C.int64_t(k), pi8(a), C.int64_t(lda), pi8(b), C.int64_t(ldb), pi32(c), C.int64_t(ldc))
		}
		t.gemmU8S8 = func(transB bool, m, n, k int, a []uint8, lda int, b []int8, ldb int, c []int32, ldc int) {
			C.mc_gemm_u8s8_smlal(cbool(transB), C.int64_t(m), C.int64_t(n), C.int64_t(k), pu8(a), C.int64_t(lda), pi8(b), C.int64_t(ldb), pi32(c), C.int64_t(ldc))
		}
		t.set("gemm_s8s8", "neon-smlal", "this CPU lacks dotprod: int16 widening, smlal by lane")
		t.set("gemm_u8s8", "neon-smlal", "this CPU lacks dotprod: int16 widening, smlal by lane")
	}
	t.f32ToF16 = func(d []uint16, s []float32) { C.mc_f32_to_f16_neon(pu16(d), pf32(s), C.int64_t(len(s))) }
	t.f16ToF32 = func(d []float32, s []uint16) { C.mc_f16_to_f32_neon(pf32(d), pu16(s), C.int64_t(len(s))) }
	t.f32ToBF16 = func(d []uint16, s []float32) { C.mc_f32_to_bf16_neon(pu16(d), pf32(s), C.int64_t(len(s))) }
	t.bf16ToF32 = func(d []float32, s []uint16) { C.mc_bf16_to_f32_neon(pf32(d), pu16(s), C.int64_t(len(s))) }
	t.set("f32_to_f16", "neon", "fcvtn")
	t.set("f16_to_f32", "neon", "fcvtl")
	t.set("f32_to_bf16", "neon", "NEON integer round-to-nearest-even")
	t.set("bf16_to_f32", "neon", "NEON shift")
	t.quantS8 = func(d []int8, s []float32, g0, inner, ch int, sc []float32, zp []int8) {
		C.mc_quant_s8_neon(pi8(d), pf32(s), C.int64_t(g0), C.int64_t(len(s)), C.int64_t(inner), C.int64_t(ch), pf32(sc), pi8(zp))
	}
	t.quantU8 = func(d []uint8, s []float32, g0, inner, ch int, sc []float32, zp []uint8) {
		C.mc_quant_u8_neon(pu8(d), pf32(s), C.int64_t(g0), C.int64_t(len(s)), C.int64_t(inner), C.int64_t(ch), pf32(sc), pu8(zp))
	}
	t.set("quantize_s8", "neon", "NEON frintn, 8 per step (one scale per channel-run; inner=1 runs scalar C)")
	t.set("quantize_u8", "neon", "NEON frintn, 8 per step (one scale per channel-run; inner=1 runs scalar C)")
	t.minMaxRows = func(s []float32, rows, cols, ld int, mn, mx []float32) {
		C.mc_minmax_rows_neon(pf32(s), C.int64_t(rows), C.int64_t(cols), C.int64_t(ld), pf32(mn), pf32(mx))
	}
	t.absMaxRows = func(s []float32, rows, cols, ld int, out []float32) {
		C.mc_absmax_rows_neon(pf32(s), C.int64_t(rows), C.int64_t(cols), C.int64_t(ld), pf32(out))
	}
	t.set("minmax", "neon", "NEON fmin/fmax, NaN lanes masked")
	t.set("absmax", "neon", "NEON fmax of |x|, NaN lanes masked")
	t.quantQ8_0 = func(d []byte, s []float32) { C.mc_q8_0_neon(pu8(d), pf32(s), C.int64_t(len(s)/QK8_0)) }
	t.dequantQ8_0 = func(d []float32, s []byte) { C.mc_dq8_0_neon(pf32(d), pu8(s), C.int64_t(len(d)/QK8_0)) }
	t.set("quantize_q8_0", "neon", "NEON frinta (roundf), one block per step")
	t.set("dequantize_q8_0", "neon", "NEON widen and multiply")
	t.relu = func(d, s []float32) { C.mc_relu_neon(pf32(d), pf32(s), C.int64_t(len(s))) }
	t.set("relu", "neon", "NEON compare and select")
	fillRowMeans(t)
	t.lstmCell = func(hr, xw, c, h []float32) {
		C.mc_lstm_cell_neon(pf32(hr), pf32(xw), pf32(c), pf32(h), C.int64_t(len(h)))
	}
	t.gruCellLBR = func(hr, xw, h []float32) { C.mc_gru_cell_lbr_neon(pf32(hr), pf32(xw), pf32(h), C.int64_t(len(h))) }
	t.set("lstm_cell", "neon", "fused gates and state update, polynomial exp")
	t.set("gru_cell", "neon", "fused gates and state update, polynomial exp")
	t.dwconv2d = func(p *Window2D, x, w, bias, y []float32, channels int) {
		C.mc_dwconv2d_neon(pf32(x), pf32(w), pf32(bias), pf32(y), C.int64_t(channels), C.int64_t(p.H), C.int64_t(p.W), C.int64_t(p.OH), C.int64_t(p.OW),
			C.int64_t(p.KH), C.int64_t(p.KW), C.int64_t(p.SH), C.int64_t(p.SW), C.int64_t(p.PH), C.int64_t(p.PW), C.int64_t(p.DH), C.int64_t(p.DW))
	}
	t.biasAct = func(y []float32, rows, cols int, bias []float32, act Act) {
		C.mc_bias_act_neon(pf32(y), C.int64_t(rows), C.int64_t(cols), pf32(bias), C.int(act.Kind), C.float(act.P), C.float(act.Q))
	}
	t.set("bias_act", "neon", "compare-and-select, compiler-vectorised")
	t.addAct = func(y, a, b []float32, act Act) {
		C.mc_add_act_neon(pf32(y), pf32(a), pf32(b), C.int64_t(len(y)), C.int(act.Kind), C.float(act.P), C.float(act.Q))
	}
	t.set("add_act", "neon", "compare-and-select, compiler-vectorised")
	t.maxPool2D = func(p *Window2D, x, y []float32, planes int) {
		C.mc_maxpool2d_neon(pf32(x), pf32(y), C.int64_t(planes), C.int64_t(p.H), C.int64_t(p.W), C.int64_t(p.OH), C.int64_t(p.OW),
			C.int64_t(p.KH), C.int64_t(p.KW), C.int64_t(p.SH), C.int64_t(p.SW), C.int64_t(p.PH), C.int64_t(p.PW), C.int64_t(p.DH), C.int64_t(p.DW))
	}
	t.set("maxpool2d", "neon", "row by row over the valid columns, compiler-vectorised")
	t.set("dwconv2d", "neon", "per-row axpy over the valid columns, compiler-vectorised")
}

//go:build amd64 && cgo && !purego

package accel

/*
#cgo CFLAGS: -O3 -std=c11
#cgo LDFLAGS: -lm
#include <stdint.h>

#define DECL_ISA(S) \
void mc_sgemm_##S(int, int, int64_t, int64_t, int64_t, float, const float *, int64_t, const float *, int64_t, float, float *, int64_t, const float *); \
void mc_f32_to_f16_##S(uint16_t *, const float *, int64_t); \
void mc_f16_to_f32_##S(float *, const uint16_t *, int64_t); \
void mc_f32_to_bf16_##S(uint16_t *, const float *, int64_t); \
void mc_bf16_to_f32_##S(float *, const uint16_t *, int64_t); \
void mc_quant_s8_##S(int8_t *, const float *, int64_t, int64_t, int64_t, int64_t, const float *, const int8_t *); \
void mc_quant_u8_##S(uint8_t *, const float *, int64_t, int64_t, int64_t, int64_t, const float *, const uint8_t *); \
void mc_dequant_s8_##S(float *, const int8_t *, int64_t, int64_t, int64_t, int64_t, const float *, const int8_t *); \
void mc_dequant_u8_##S(float *, const uint8_t *, int64_t, int64_t, int64_t, int64_t, const float *, const uint8_t *); \
void mc_minmax_rows_##S(const float *, int64_t, int64_t, int64_t, float *, float *); \
void mc_absmax_rows_##S(const float *, int64_t, int64_t, int64_t, float *); \
void mc_sumsq_rows_##S(const float *, int64_t, int64_t, int64_t, double *); \
void mc_q8_0_##S(uint8_t *, const float *, int64_t); \
void mc_dq8_0_##S(float *, const uint8_t *, int64_t); \
void mc_q4_0_##S(uint8_t *, const float *, int64_t); \
void mc_dq4_0_##S(float *, const uint8_t *, int64_t); \
void mc_relu_##S(float *, const float *, int64_t); \
void mc_maxpool2d_##S(const float *, float *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t); \
void mc_bias_act_##S(float *, int64_t, int64_t, const float *, int, float, float); \
void mc_add_act_##S(float *, const float *, const float *, int64_t, int, float, float); \
void mc_dwconv2d_##S(const float *, const float *, const float *, float *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t); \
void mc_gelu_##S(float *, const float *, int64_t); \
void mc_silu_##S(float *, const float *, int64_t); \
void mc_exp_##S(float *, const float *, int64_t); \
void mc_softmax_rows_##S(float *, const float *, int64_t, int64_t); \
void mc_fit_qkx2_##S(float *, float *, uint8_t *, const float *, int64_t, int32_t, float, float, int32_t); \
void mc_fit_qx_##S(float *, int8_t *, const float *, int64_t, int32_t);

DECL_ISA(avx512)
void mc_sconv_implicit_avx512(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, const float *, int64_t, const float *, float *, int64_t, int64_t, int64_t);
DECL_ISA(avx2)
void mc_lstm_cell_avx512(const float *, const float *, float *, float *, int64_t);
void mc_gru_cell_lbr_avx512(const float *, const float *, float *, int64_t);
void mc_lstm_cell_avx2(const float *, const float *, float *, float *, int64_t);
void mc_gru_cell_lbr_avx2(const float *, const float *, float *, int64_t);

void mc_gemm_s8s8_vnni(int, int64_t, int64_t, int64_t, const int8_t *, int64_t, const int8_t *, int64_t, int32_t *, int64_t);
void mc_gemm_u8s8_vnni(int, int64_t, int64_t, int64_t, const uint8_t *, int64_t, const int8_t *, int64_t, int32_t *, int64_t);
void mc_gemm_s8s8_avx2(int, int64_t, int64_t, int64_t, const int8_t *, int64_t, const int8_t *, int64_t, int32_t *, int64_t);
void mc_gemm_u8s8_avx2(int, int64_t, int64_t, int64_t, const uint8_t *, int64_t, const int8_t *, int64_t, int32_t *, int64_t);
void mc_pack_b8_vnni(int8_t *, int32_t *, const int8_t *, int64_t, int64_t, int64_t);
void mc_qdq_u8_avx512(float *, const float *, int64_t, float, uint8_t);
void mc_quant_scaled_u8_avx512(uint8_t *, const float *, int64_t, int64_t, const float *, float, uint8_t);
void mc_pack_a8_vnni(uint8_t *, const int8_t *, int64_t, int64_t, int64_t);
void mc_qgemm_f32_vnni(int64_t, int64_t, int64_t, const uint8_t *, const int8_t *, int64_t, uint8_t, float *, uint8_t *,
                       int64_t, const int32_t *, const int32_t *, int32_t, const float *, const float *, int, float, float,
                       float, float, float, float);
void mc_gemm_s8s8_packed_vnni(int64_t, int64_t, int64_t, int64_t, const int8_t *, int64_t, const int8_t *, const int32_t *, int32_t *, int64_t, int32_t);
void mc_gemm_u8s8_packed_vnni(int64_t, int64_t, int64_t, int64_t, const uint8_t *, int64_t, const int8_t *, const int32_t *, int32_t *, int64_t, int32_t);
void mc_pack_b8_avx2(int16_t *, const int8_t *, int64_t, int64_t, int64_t);
void mc_gemm_s8s8_packed_avx2(int64_t, int64_t, int64_t, int64_t, const int8_t *, int64_t, const int16_t *, const int32_t *, int32_t, int32_t *, int64_t);
void mc_gemm_u8s8_packed_avx2(int64_t, int64_t, int64_t, int64_t, const uint8_t *, int64_t, const int16_t *, const int32_t *, int32_t, int32_t *, int64_t);
*/
import "C"

import "unsafe"

const buildNote = "NEON kernels are built only for arm64"

func simdBuilt(b Backend) bool { return b == BackendAVX2 || b == BackendAVX512 }

func fillSIMD(t *table, b Backend, f features) {
	switch b {
	case BackendAVX512:
		fillAVX512(t, f)
	case BackendAVX2:
		fillAVX2(t)
	}
}

func fillAVX2(t *table) {
	t.backend = BackendAVX2
	t.sgemm = func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, bias []float32) {
		C.mc_sgemm_avx2(cbool(transA), cbool(transB), C.int64_t(m), C.int64_t(n), C.int64_t(k), C.float(alpha), pf32(a), C.int64_t(lda), pf32(b), C.int64_t(ldb), C.float(beta), pf32(c), C.int64_t(ldc), pf32(bias))
	}
	t.set("sgemm", "avx2", "AVX2+FMA 6×16 micro-kernel, packed and cache-blocked")
	t.gemmS8S8 = func(transB bool, m, n, k int, a []int8, lda int, b []int8, ldb int, c []int32, ldc int) {
		C.mc_gemm_s8s8_avx2(cbool(transB), C.int64_t(m), C.int64_t(n), C.int64_t(k), pi8(a), C.int64_t(lda), pi8(b), C.int64_t(ldb), pi32(c), C.int64_t(ldc))
	}
	t.gemmU8S8 = func(transB bool, m, n, k int, a []uint8, lda int, b []int8, ldb int, c []int32, ldc int) {
		C.mc_gemm_u8s8_avx2(cbool(transB), C.int64_t(m), C.int64_t(n), C.int64_t(k), pu8(a), C.int64_t(lda), pi8(b), C.int64_t(ldb), pi32(c), C.int64_t(ldc))
	}
	t.set("gemm_s8s8", "avx2-pmaddwd", "AVX2 vpmaddwd on int16-widened operands (exact; no VNNI in this backend)")
	t.set("gemm_u8s8", "avx2-pmaddwd", "AVX2 vpmaddwd on int16-widened operands (exact; no VNNI in this backend)")
	t.setPack8(avx2Packer8)
	t.f32ToF16 = func(d []uint16, s []float32) { C.mc_f32_to_f16_avx2(pu16(d), pf32(s), C.int64_t(len(s))) }
	t.f16ToF32 = func(d []float32, s []uint16) { C.mc_f16_to_f32_avx2(pf32(d), pu16(s), C.int64_t(len(s))) }
	t.f32ToBF16 = func(d []uint16, s []float32) { C.mc_f32_to_bf16_avx2(pu16(d), pf32(s), C.int64_t(len(s))) }
	t.bf16ToF32 = func(d []float32, s []uint16) { C.mc_bf16_to_f32_avx2(pf32(d), pu16(s), C.int64_t(len(s))) }
	t.set("f32_to_f16", "avx2", "F16C vcvtps2ph")
	t.set("f16_to_f32", "avx2", "F16C vcvtph2ps")
	t.set("f32_to_bf16", "avx2", "AVX2 integer round-to-nearest-even")
	t.set("bf16_to_f32", "avx2", "AVX2 shift")
	t.quantS8 = func(d []int8, s []float32, g0, inner, ch int, sc []float32, zp []int8) {
		C.mc_quant_s8_avx2(pi8(d), pf32(s), C.int64_t(g0), C.int64_t(len(s)), C.int64_t(inner), C.int64_t(ch), pf32(sc), pi8(zp))
	}
	t.quantU8 = func(d []uint8, s []float32, g0, inner, ch int, sc []float32, zp []uint8) {
		C.mc_quant_u8_avx2(pu8(d), pf32(s), C.int64_t(g0), C.int64_t(len(s)), C.int64_t(inner), C.int64_t(ch), pf32(sc), pu8(zp))
	}
	t.dequantS8 = func(d []float32, s []int8, g0, inner, ch int, sc []float32, zp []int8) {
		C.mc_dequant_s8_avx2(pf32(d), pi8(s), C.int64_t(g0), C.int64_t(len(s)), C.int64_t(inner), C.int64_t(ch), pf32(sc), pi8(zp))
	}
	t.dequantU8 = func(d []float32, s []uint8, g0, inner, ch int, sc []float32, zp []uint8) {
		C.mc_dequant_u8_avx2(pf32(d), pu8(s), C.int64_t(g0), C.int64_t(len(s)), C.int64_t(inner), C.int64_t(ch), pf32(sc), pu8(zp))
	}
	for _, k := range []string{"quantize_s8", "quantize_u8", "dequantize_s8", "dequantize_u8"} {
		t.set(k, "avx2", "AVX2, 8 lanes")
	}
	t.minMaxRows = func(s []float32, rows, cols, ld int, mn, mx []float32) {
		C.mc_minmax_rows_avx2(pf32(s), C.int64_t(rows), C.int64_t(cols), C.int64_t(ld), pf32(mn), pf32(mx))
	}
	t.absMaxRows = func(s []float32, rows, cols, ld int, out []float32) {
		C.mc_absmax_rows_avx2(pf32(s), C.int64_t(rows), C.int64_t(cols), C.int64_t(ld), pf32(out))
	}
	t.sumSqRows = func(s []float32, rows, cols, ld int, out []float64) {
		C.mc_sumsq_rows_avx2(pf32(s), C.int64_t(rows), C.int64_t(cols), C.int64_t(ld), pf64(out))
	}
	t.set("minmax", "avx2", "AVX2, 16 per step")
	t.set("absmax", "avx2", "AVX2, 16 per step")
	t.set("sumsq", "avx2", "AVX2 FMA in float64")
	t.quantQ8_0 = func(d []byte, s []float32) { C.mc_q8_0_avx2(pu8(d), pf32(s), C.int64_t(len(s)/QK8_0)) }
	t.dequantQ8_0 = func(d []float32, s []byte) { C.mc_dq8_0_avx2(pf32(d), pu8(s), C.int64_t(len(d)/QK8_0)) }
	t.quantQ4_0 = func(d []byte, s []float32) { C.mc_q4_0_avx2(pu8(d), pf32(s), C.int64_t(len(s)/QK4_0)) }
	t.dequantQ4_0 = func(d []float32, s []byte) { C.mc_dq4_0_avx2(pf32(d), pu8(s), C.int64_t(len(d)/QK4_0)) }
	t.set("quantize_q8_0", "avx2", "AVX2, 8 blocks per step: amax by a transposing reduction, scale and f16 as vectors (a block holding NaN: scalar, in ggml's order)")
	t.set("quantize_q4_0", "avx2", "AVX2, one 32-value block per step (a block holding NaN: scalar, in ggml's order)")
	t.set("dequantize_q8_0", "avx2", "AVX2 widen and multiply")
	t.set("dequantize_q4_0", "avx2", "AVX2 widen and multiply")
	t.fitQKX2 = func(sc, mn []float32, l []uint8, x []float32, nmax int, rmin, rdelta float32, nstep int) {
		C.mc_fit_qkx2_avx2(pf32(sc), pf32(mn), pu8(l), pf32(x), C.int64_t(len(x)/QKX2Sub), C.int32_t(nmax), C.float(rmin), C.float(rdelta), C.int32_t(nstep))
	}
	t.set("fit_qkx2", "avx2", "AVX2, 8 sub-blocks per step, one per lane, each in ggml's scalar order")
	t.fitQX = func(sc []float32, l []int8, x []float32, nmax int) {
		C.mc_fit_qx_avx2(pf32(sc), pi8(l), pf32(x), C.int64_t(len(x)/QXSub), C.int32_t(nmax))
	}
	t.set("fit_qx", "avx2", "AVX2, 8 sub-blocks per step, one per lane, each in ggml's scalar order")
	t.relu = func(d, s []float32) { C.mc_relu_avx2(pf32(d), pf32(s), C.int64_t(len(s))) }
	t.dwconv2d = func(p *Window2D, x, w, bias, y []float32, channels int) {
		C.mc_dwconv2d_avx2(pf32(x), pf32(w), pf32(bias), pf32(y), C.int64_t(channels), C.int64_t(p.H), C.int64_t(p.W), C.int64_t(p.OH), C.int64_t(p.OW),
			C.int64_t(p.KH), C.int64_t(p.KW), C.int64_t(p.SH), C.int64_t(p.SW), C.int64_t(p.PH), C.int64_t(p.PW), C.int64_t(p.DH), C.int64_t(p.DW))
	}
	t.biasAct = func(y []float32, rows, cols int, bias []float32, act Act) {
		C.mc_bias_act_avx2(pf32(y), C.int64_t(rows), C.int64_t(cols), pf32(bias), C.int(act.Kind), C.float(act.P), C.float(act.Q))
	}
	t.set("bias_act", "avx2", "compare-and-select, compiler-vectorised for AVX2")
	t.addAct = func(y, a, b []float32, act Act) {
		C.mc_add_act_avx2(pf32(y), pf32(a), pf32(b), C.int64_t(len(y)), C.int(act.Kind), C.float(act.P), C.float(act.Q))
	}
	t.set("add_act", "avx2", "compare-and-select, compiler-vectorised for AVX2")
	fillRequant(t, false)
	fillMinMaxNaN(t, false)
	fillRowMeans(t, false)
	fillWindowRows8(t, false)
	t.maxPool2D = func(p *Window2D, x, y []float32, planes int) {
		C.mc_maxpool2d_avx2(pf32(x), pf32(y), C.int64_t(planes), C.int64_t(p.H), C.int64_t(p.W), C.int64_t(p.OH), C.int64_t(p.OW),
			C.int64_t(p.KH), C.int64_t(p.KW), C.int64_t(p.SH), C.int64_t(p.SW), C.int64_t(p.PH), C.int64_t(p.PW), C.int64_t(p.DH), C.int64_t(p.DW))
	}
	t.set("maxpool2d", "avx2", "row by row over the valid columns, compiler-vectorised")
	t.set("dwconv2d", "avx2", "per-row axpy over the valid columns, compiler-vectorised for AVX2")
	t.gelu = func(d, s []float32) { C.mc_gelu_avx2(pf32(d), pf32(s), C.int64_t(len(s))) }
	t.silu = func(d, s []float32) { C.mc_silu_avx2(pf32(d), pf32(s), C.int64_t(len(s))) }
	t.exp = func(d, s []float32) { C.mc_exp_avx2(pf32(d), pf32(s), C.int64_t(len(s))) }
	t.softmaxRows = func(d, s []float32, rows, cols int) {
		C.mc_softmax_rows_avx2(pf32(d), pf32(s), C.int64_t(rows), C.int64_t(cols))
	}
	for _, k := range []string{"gelu", "silu", "exp", "softmax"} {
		t.set(k, "avx2", "AVX2+FMA polynomial exp/erfc")
	}
	t.set("relu", "avx2", "AVX2 max")
	t.lstmCell = func(hr, xw, c, h []float32) {
		C.mc_lstm_cell_avx2(pf32(hr), pf32(xw), pf32(c), pf32(h), C.int64_t(len(h)))
	}
	t.gruCellLBR = func(hr, xw, h []float32) { C.mc_gru_cell_lbr_avx2(pf32(hr), pf32(xw), pf32(h), C.int64_t(len(h))) }
	t.set("lstm_cell", "avx2", "fused gates and state update, polynomial exp")
	t.set("gru_cell", "avx2", "fused gates and state update, polynomial exp")
}

func fillAVX512(t *table, f features) {
	fillAVX2(t) // the int8 GEMM falls back to it without VNNI
	t.backend = BackendAVX512
	t.sgemm = func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, bias []float32) {
		C.mc_sgemm_avx512(cbool(transA), cbool(transB), C.int64_t(m), C.int64_t(n), C.int64_t(k), C.float(alpha), pf32(a), C.int64_t(lda), pf32(b), C.int64_t(ldb), C.float(beta), pf32(c), C.int64_t(ldc), pf32(bias))
	}
	t.set("sgemm", "avx512", "AVX-512F 12×32 micro-kernel, packed and cache-blocked")
	fillWinogradAVX512(t)
	if f.avx512vnni {
		t.gemmS8S8 = func(transB bool, m, n, k int, a []int8, lda int, b []int8, ldb int, c []int32, ldc int) {
			C.mc_gemm_s8s8_vnni(cbool(transB), C.int64_t(m), C.int64_t(n), C.int64_t(k), pi8(a), C.int64_t(lda), pi8(b), C.int64_t(ldb), pi32(c), C.int64_t(ldc))
		}
		t.gemmU8S8 = func(transB bool, m, n, k int, a []uint8, lda int, b []int8, ldb int, c []int32, ldc int) {
			C.mc_gemm_u8s8_vnni(cbool(transB), C.int64_t(m), C.int64_t(n), C.int64_t(k), pu8(a), C.int64_t(lda), pi8(b), C.int64_t(ldb), pi32(c), C.int64_t(ldc))
		}
		t.set("gemm_s8s8", "avx512vnni", "AVX512-VNNI vpdpbusd on a+128 with a column-sum correction")
		t.set("gemm_u8s8", "avx512vnni", "AVX512-VNNI vpdpbusd")
		t.setPack8(vnniPacker8)
		t.qgemmDequant = func(m, n, k int, pa []uint8, b []int8, ldb int, bflip uint8, y []float32, yq []byte, ldy int,
			d *Dequant, q *OutQuant) {
			qs, qz, lo, hi := float32(1), float32(0), float32(0), float32(255)
			if q != nil {
				qs, qz = q.Scale, float32(q.ZP)
				if q.Signed {
					lo, hi = -128, 127
				}
			}
			C.mc_qgemm_f32_vnni(C.int64_t(m), C.int64_t(n), C.int64_t(k), pu8(pa), pi8(b), C.int64_t(ldb), C.uint8_t(bflip),
				pf32(y), pu8(yq), C.int64_t(ldy), pi32(d.Fix), pi32(d.ZW), C.int32_t(d.KBZ), pf32(d.Scale), pf32(d.Bias),
				C.int(d.Act.Kind), C.float(d.Act.P), C.float(d.Act.Q), C.float(qs), C.float(qz), C.float(lo), C.float(hi))
		}
		t.packA8 = func(pa []uint8, a []int8, m, k int) {
			C.mc_pack_a8_vnni(pu8(pa), pi8(a), C.int64_t(k), C.int64_t(m), C.int64_t(k))
		}
		t.packA8Block = 12
		t.set("qgemm_dequant", "avx512vnni", "vpdpbusd tiles dequantized in L1, never stored as int32")
	} else {
		t.set("gemm_s8s8", "avx2-pmaddwd", "this CPU lacks AVX512-VNNI: AVX2 vpmaddwd kernel")
		t.set("gemm_u8s8", "avx2-pmaddwd", "this CPU lacks AVX512-VNNI: AVX2 vpmaddwd kernel")
	}
	t.f32ToF16 = func(d []uint16, s []float32) { C.mc_f32_to_f16_avx512(pu16(d), pf32(s), C.int64_t(len(s))) }
	t.f16ToF32 = func(d []float32, s []uint16) { C.mc_f16_to_f32_avx512(pf32(d), pu16(s), C.int64_t(len(s))) }
	t.f32ToBF16 = func(d []uint16, s []float32) { C.mc_f32_to_bf16_avx512(pu16(d), pf32(s), C.int64_t(len(s))) }
	t.bf16ToF32 = func(d []float32, s []uint16) { C.mc_bf16_to_f32_avx512(pf32(d), pu16(s), C.int64_t(len(s))) }
	t.set("f32_to_f16", "avx512", "AVX-512 vcvtps2ph, masked tails")
	t.set("f16_to_f32", "avx512", "AVX-512 vcvtph2ps, masked tails")
	bfWhy := "AVX-512 integer round-to-nearest-even"
	if f.avx512bf16 {
		bfWhy += " (vcvtneps2bf16 not used: it flushes subnormals)"
	}
	t.set("f32_to_bf16", "avx512", bfWhy)
	t.set("bf16_to_f32", "avx512", "AVX-512 shift")
	t.quantS8 = func(d []int8, s []float32, g0, inner, ch int, sc []float32, zp []int8) {
		C.mc_quant_s8_avx512(pi8(d), pf32(s), C.int64_t(g0), C.int64_t(len(s)), C.int64_t(inner), C.int64_t(ch), pf32(sc), pi8(zp))
	}
	t.quantU8 = func(d []uint8, s []float32, g0, inner, ch int, sc []float32, zp []uint8) {
		C.mc_quant_u8_avx512(pu8(d), pf32(s), C.int64_t(g0), C.int64_t(len(s)), C.int64_t(inner), C.int64_t(ch), pf32(sc), pu8(zp))
	}
	t.dequantS8 = func(d []float32, s []int8, g0, inner, ch int, sc []float32, zp []int8) {
		C.mc_dequant_s8_avx512(pf32(d), pi8(s), C.int64_t(g0), C.int64_t(len(s)), C.int64_t(inner), C.int64_t(ch), pf32(sc), pi8(zp))
	}
	t.dequantU8 = func(d []float32, s []uint8, g0, inner, ch int, sc []float32, zp []uint8) {
		C.mc_dequant_u8_avx512(pf32(d), pu8(s), C.int64_t(g0), C.int64_t(len(s)), C.int64_t(inner), C.int64_t(ch), pf32(sc), pu8(zp))
	}
	t.qdqU8 = func(d, s []float32, scale float32, zp uint8) {
		C.mc_qdq_u8_avx512(pf32(d), pf32(s), C.int64_t(len(s)), C.float(scale), C.uint8_t(zp))
	}
	t.quantScaledU8 = func(d []uint8, s []float32, rows, cols int, mul []float32, scale float32, zp uint8) {
		C.mc_quant_scaled_u8_avx512(pu8(d), pf32(s), C.int64_t(rows), C.int64_t(cols), pf32(mul), C.float(scale), C.uint8_t(zp))
	}
	for _, k := range []string{"quantize_s8", "quantize_u8", "dequantize_s8", "dequantize_u8", "quant_dequant_u8", "quantize_scaled_u8"} {
		t.set(k, "avx512", "AVX-512, 16 lanes, masked tails")
	}
	t.minMaxRows = func(s []float32, rows, cols, ld int, mn, mx []float32) {
		C.mc_minmax_rows_avx512(pf32(s), C.int64_t(rows), C.int64_t(cols), C.int64_t(ld), pf32(mn), pf32(mx))
	}
	t.absMaxRows = func(s []float32, rows, cols, ld int, out []float32) {
		C.mc_absmax_rows_avx512(pf32(s), C.int64_t(rows), C.int64_t(cols), C.int64_t(ld), pf32(out))
	}
	t.sumSqRows = func(s []float32, rows, cols, ld int, out []float64) {
		C.mc_sumsq_rows_avx512(pf32(s), C.int64_t(rows), C.int64_t(cols), C.int64_t(ld), pf64(out))
	}
	t.set("minmax", "avx512", "AVX-512, 32 per step")
	t.set("absmax", "avx512", "AVX-512, 32 per step")
	t.set("sumsq", "avx512", "AVX-512 FMA in float64")
	t.quantQ8_0 = func(d []byte, s []float32) { C.mc_q8_0_avx512(pu8(d), pf32(s), C.int64_t(len(s)/QK8_0)) }
	t.dequantQ8_0 = func(d []float32, s []byte) { C.mc_dq8_0_avx512(pf32(d), pu8(s), C.int64_t(len(d)/QK8_0)) }
	t.quantQ4_0 = func(d []byte, s []float32) { C.mc_q4_0_avx512(pu8(d), pf32(s), C.int64_t(len(s)/QK4_0)) }
	t.dequantQ4_0 = func(d []float32, s []byte) { C.mc_dq4_0_avx512(pf32(d), pu8(s), C.int64_t(len(d)/QK4_0)) }
	t.set("quantize_q8_0", "avx512", "AVX-512, 16 blocks per step: amax by a transposing reduction, scale and f16 as vectors (a block holding NaN: scalar, in ggml's order)")
	t.set("quantize_q4_0", "avx512", "AVX-512, one 32-value block per step (a block holding NaN: scalar, in ggml's order)")
	t.set("dequantize_q8_0", "avx512", "AVX-512 widen and multiply")
	t.set("dequantize_q4_0", "avx512", "AVX-512 widen and multiply")
	t.fitQKX2 = func(sc, mn []float32, l []uint8, x []float32, nmax int, rmin, rdelta float32, nstep int) {
		C.mc_fit_qkx2_avx512(pf32(sc), pf32(mn), pu8(l), pf32(x), C.int64_t(len(x)/QKX2Sub), C.int32_t(nmax), C.float(rmin), C.float(rdelta), C.int32_t(nstep))
	}
	t.set("fit_qkx2", "avx512", "AVX-512, 16 sub-blocks per step, one per lane, each in ggml's scalar order")
	t.fitQX = func(sc []float32, l []int8, x []float32, nmax int) {
		C.mc_fit_qx_avx512(pf32(sc), pi8(l), pf32(x), C.int64_t(len(x)/QXSub), C.int32_t(nmax))
	}
	t.set("fit_qx", "avx512", "AVX-512, 16 sub-blocks per step, one per lane, each in ggml's scalar order")
	t.relu = func(d, s []float32) { C.mc_relu_avx512(pf32(d), pf32(s), C.int64_t(len(s))) }
	t.dwconv2d, t.dwconv2dAct = dwConv2DAVX512, dwConv2DActAVX512
	t.dwconv2dRows, t.dwconv2dFits = dwConv2DRowsAVX512, dwConv16Fits
	t.biasAct = func(y []float32, rows, cols int, bias []float32, act Act) {
		C.mc_bias_act_avx512(pf32(y), C.int64_t(rows), C.int64_t(cols), pf32(bias), C.int(act.Kind), C.float(act.P), C.float(act.Q))
	}
	t.set("bias_act", "avx512", "compare-and-select, compiler-vectorised for AVX-512")
	t.addAct = func(y, a, b []float32, act Act) {
		C.mc_add_act_avx512(pf32(y), pf32(a), pf32(b), C.int64_t(len(y)), C.int(act.Kind), C.float(act.P), C.float(act.Q))
	}
	t.set("add_act", "avx512", "compare-and-select, compiler-vectorised for AVX-512")
	fillRequant(t, true)
	fillMinMaxNaN(t, true)
	fillRowMeans(t, true)
	fillWindowRows8(t, true)
	t.maxPool2D = maxPool2DAVX512
	t.set("maxpool2d", "avx512", "stride 2, 2-3 wide: each input row loaded once per 16 outputs, split into taps by permutes; whole windows in registers (stride 1), row by row otherwise")
	t.convImplicit2D = func(m, cg int, p *Window2D, wt, x, y []float32, j0, j1 int) {
		C.mc_sconv_implicit_avx512(C.int64_t(m), C.int64_t(cg), C.int64_t(p.H), C.int64_t(p.W), C.int64_t(p.OH), C.int64_t(p.OW), C.int64_t(p.KH), C.int64_t(p.KW),
			C.int64_t(p.SH), C.int64_t(p.SW), C.int64_t(p.DH), C.int64_t(p.DW), C.int64_t(p.PH), C.int64_t(p.PW),
			pf32(wt), C.int64_t(cg*p.KH*p.KW), pf32(x), pf32(y), C.int64_t(p.OH*p.OW), C.int64_t(j0), C.int64_t(j1))
	}
	t.set("dwconv2d", "avx512", "16 channels per vector: planes transposed into a padded band, one FMA per tap and pixel")
	t.pointwise = pointwiseAVX512
	t.gemvPacked = gemvPackedAVX512
	t.pointwiseT = pointwiseTAVX512
	t.set("pointwise_packed", "avx512", "7 pixels × 48 output channels per register tile, channels in the lanes, from weights packed per 48 channels")
	t.set("gemv_packed", "avx512", "weights in groups of four rows × 16-float blocks, read as one stream; gemv_t's lanes and epilogue")
	t.convRows2D = convRowsAVX512
	t.set("convrows2d", "avx512", "stride phases of each input row, 8 channels × 48 outputs per register tile")
	t.convT2x2, t.sigmoid = convT2x2AVX512, sigmoidAVX512
	t.set("convtranspose2x2", "avx512", "4 taps × 4 row segments of 16 pixels in registers, interleaved, epilogue before the only store")
	t.set("sigmoid", "avx512", "one pass: the exp kernel's polynomial and an IEEE division")
	t.set("pointwise", "avx512", "sgemm's 8×48 direct tile with bias and activation applied before the only store")
	t.gelu = func(d, s []float32) { C.mc_gelu_avx512(pf32(d), pf32(s), C.int64_t(len(s))) }
	t.silu = func(d, s []float32) { C.mc_silu_avx512(pf32(d), pf32(s), C.int64_t(len(s))) }
	t.exp = func(d, s []float32) { C.mc_exp_avx512(pf32(d), pf32(s), C.int64_t(len(s))) }
	t.softmaxRows = func(d, s []float32, rows, cols int) {
		C.mc_softmax_rows_avx512(pf32(d), pf32(s), C.int64_t(rows), C.int64_t(cols))
	}
	for _, k := range []string{"gelu", "silu", "exp", "softmax"} {
		t.set(k, "avx512", "AVX-512F polynomial exp/erfc, masked tails")
	}
	t.set("relu", "avx512", "AVX-512 max, masked tails")
	t.lstmCell = func(hr, xw, c, h []float32) {
		C.mc_lstm_cell_avx512(pf32(hr), pf32(xw), pf32(c), pf32(h), C.int64_t(len(h)))
	}
	t.gruCellLBR = func(hr, xw, h []float32) { C.mc_gru_cell_lbr_avx512(pf32(hr), pf32(xw), pf32(h), C.int64_t(len(h))) }
	t.set("lstm_cell", "avx512", "fused gates and state update, polynomial exp")
	t.set("gru_cell", "avx512", "fused gates and state update, polynomial exp")
}

// Packed-B int8 GEMMs (packed.go). Panel widths: 32 columns (VNNI), 16 (AVX2); the padded
// panels are zero, so the kernels read whole panels and write only columns < n.

func vnniPanels(k, n int) (kq, cols int) { return (k + 3) / 4, (n + 31) &^ 31 }

func avx2Panels(k, n int) (kp, cols int) { return (k + 1) / 2, (n + 15) &^ 15 }

var vnniPacker8 = &packer8{
	name: "avx512vnni", reason: "AVX512-VNNI vpdpbusd on B packed once (k-quads, 32-column panels, column sums)",
	pack: func(p *PackedB8, b []int8, ldb int) {
		kq, cols := vnniPanels(p.k, p.n)
		p.q8 = alignedSlice[int8](kq * 4 * cols)
		p.colsum = make([]int32, cols)
		C.mc_pack_b8_vnni(pi8(p.q8), pi32(p.colsum), pi8(b), C.int64_t(p.k), C.int64_t(p.n), C.int64_t(ldb))
	},
	s8: func(m, j0, j1, k int, a []int8, lda int, azp int32, p *PackedB8, c []int32, ldc int) {
		C.mc_gemm_s8s8_packed_vnni(C.int64_t(m), C.int64_t(j0), C.int64_t(j1), C.int64_t(k), pi8(a), C.int64_t(lda), pi8(p.q8), pi32(p.colsum), pi32(c), C.int64_t(ldc), C.int32_t(azp))
	},
	u8: func(m, j0, j1, k int, a []uint8, lda int, azp int32, p *PackedB8, c []int32, ldc int) {
		C.mc_gemm_u8s8_packed_vnni(C.int64_t(m), C.int64_t(j0), C.int64_t(j1), C.int64_t(k), pu8(a), C.int64_t(lda), pi8(p.q8), pi32(p.colsum), pi32(c), C.int64_t(ldc), C.int32_t(azp))
	},
}

var avx2Packer8 = &packer8{
	name: "avx2-pmaddwd", reason: "AVX2 vpmaddwd on B packed once (int16 pairs, 16-column panels)",
	pack: func(p *PackedB8, b []int8, ldb int) {
		kp, cols := avx2Panels(p.k, p.n)
		p.w16 = alignedSlice[int16](kp * 2 * cols)
		C.mc_pack_b8_avx2(pi16(p.w16), pi8(b), C.int64_t(p.k), C.int64_t(p.n), C.int64_t(ldb))
		p.colsum = colSums8(b, p.k, p.n, ldb)
	},
	s8: func(m, j0, j1, k int, a []int8, lda int, azp int32, p *PackedB8, c []int32, ldc int) {
		C.mc_gemm_s8s8_packed_avx2(C.int64_t(m), C.int64_t(j0), C.int64_t(j1), C.int64_t(k), pi8(a), C.int64_t(lda), pi16(p.w16), pi32(p.colsum), C.int32_t(azp), pi32(c), C.int64_t(ldc))
	},
	u8: func(m, j0, j1, k int, a []uint8, lda int, azp int32, p *PackedB8, c []int32, ldc int) {
		C.mc_gemm_u8s8_packed_avx2(C.int64_t(m), C.int64_t(j0), C.int64_t(j1), C.int64_t(k), pu8(a), C.int64_t(lda), pi16(p.w16), pi32(p.colsum), C.int32_t(azp), pi32(c), C.int64_t(ldc))
	},
}

func pi16(s []int16) *C.int16_t {
	if len(s) == 0 {
		return nil
	}
	return (*C.int16_t)(unsafe.Pointer(&s[0]))
}

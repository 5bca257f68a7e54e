// Shared declarations and scalar helpers of the C kernels. The scalar helpers are the C
// twins of the Go reference (ref.go) and serve tails and rare cases (a Q8_0 block holding
// a NaN, for instance) inside the SIMD kernels. Every C file of this package is compiled
// with -std=c11 (cgo does not accept -ffp-contract=off; GCC's ISO C modes imply it), so
// a*b+c is never fused unless a kernel asks for an FMA: the byte-exact quantizers rely on it.
#ifndef MODELC_ACCEL_KERNELS_H
#define MODELC_ACCEL_KERNELS_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define mc_glue2(a, b) a##b
#define glue(a, b) mc_glue2(a, b)

#define QK 32           // values per Q8_0 / Q4_0 block
#define Q8_0_BYTES 34
#define Q4_0_BYTES 18

static inline uint32_t mc_f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float mc_u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

// Round-to-nearest-even float -> IEEE half; NaN stays NaN (quiet, top payload bits kept).
static inline uint16_t mc_f32_to_f16(float f) {
	uint32_t x = mc_f2u(f);
	uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
	int exp = (int)((x >> 23) & 0xff);
	uint32_t mant = x & 0x7fffff;
	if (exp == 0xff) return mant ? (uint16_t)(sign | 0x7e00 | (mant >> 13)) : (uint16_t)(sign | 0x7c00);
	int e = exp - 127 + 15;
	if (e >= 0x1f) return sign | 0x7c00;
	if (e <= 0) {
		if (e < -10) return sign;
		uint32_t m = mant | 0x800000;
		unsigned shift = (unsigned)(14 - e);
		uint32_t h = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
		if (rem > half || (rem == half && (h & 1))) h++;
		return (uint16_t)(sign | h);
	}
	uint32_t h = ((uint32_t)e << 10) | (mant >> 13), rem = mant & 0x1fff;
	if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
	return (uint16_t)(sign | h);
}

static inline float mc_f16_to_f32(uint16_t h) {
	uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
	if (exp == 0x1f) return mc_u2f(sign | (mant ? 0x7fc00000 | (mant << 13) : 0x7f800000));
	if (exp == 0) {
		if (!mant) return mc_u2f(sign);
		uint32_t e = 127 - 15 + 1;
		while (!(mant & 0x400)) { mant <<= 1; e--; }
		return mc_u2f(sign | (e << 23) | ((mant & 0x3ff) << 13));
	}
	return mc_u2f(sign | ((exp + 127 - 15) << 23) | (mant << 13));
}

static inline uint16_t mc_f32_to_bf16(float f) {
	uint32_t x = mc_f2u(f);
	if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40);
	return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

// C's (int8_t) of a float as x86 compilers emit it: truncate; NaN/out of range -> 0.
static inline int32_t mc_cint8(float v) {
	if (!(v >= -2147483648.0f && v < 2147483648.0f)) return 0;
	return (int32_t)(int8_t)(uint8_t)(uint32_t)(int32_t)v;
}

static inline float mc_round_away(float v) {
	float t = truncf(v), d = v - t;
	if (d >= 0.5f) t += 1.0f; else if (d <= -0.5f) t -= 1.0f;
	return t;
}

// ggml quantize_row_q8_0_ref for one block.
static inline void mc_q8_0_block(uint8_t *y, const float *x) {
	float amax = 0.0f;
	for (int j = 0; j < QK; j++) { float av = fabsf(x[j]); amax = amax > av ? amax : av; }
	const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
	uint16_t h = mc_f32_to_f16(d);
	y[0] = (uint8_t)h; y[1] = (uint8_t)(h >> 8);
	for (int j = 0; j < QK; j++) y[2 + j] = (uint8_t)mc_cint8(mc_round_away(x[j] * id));
}

// ggml quantize_row_q4_0_ref for one block.
static inline void mc_q4_0_block(uint8_t *y, const float *x) {
	float amax = 0.0f, max = 0.0f;
	for (int j = 0; j < QK; j++) { float av = fabsf(x[j]); if (amax < av) { amax = av; max = x[j]; } }
	const float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
	uint16_t h = mc_f32_to_f16(d);
	y[0] = (uint8_t)h; y[1] = (uint8_t)(h >> 8);
	for (int j = 0; j < QK / 2; j++) {
		int32_t q0 = mc_cint8(x[j] * id + 8.5f), q1 = mc_cint8(x[j + 16] * id + 8.5f);
		if (q0 > 15) q0 = 15;
		if (q1 > 15) q1 = 15;
		y[2 + j] = (uint8_t)(((uint32_t)q0 & 0x0f) | ((uint32_t)q1 << 4));
	}
}

// ONNX QuantizeLinear of one value (NaN -> zero point).
static inline int32_t mc_quant1(float x, float scale, int32_t zp, int32_t lo, int32_t hi) {
	float v = x / scale;
	if (v != v) return zp;
	float r = nearbyintf(v) + (float)zp; // nearbyint rounds half to even in the default mode
	if (r < (float)lo) return lo;
	if (r > (float)hi) return hi;
	return (int32_t)r;
}

// The channel of flat element g (tensor viewed as [outer, ch, inner]).
static inline int64_t mc_chan(int64_t g, int64_t inner, int64_t ch) { return (g / inner) % ch; }

// Packing buffers: 64-byte aligned, from the C heap (never Go memory kept past a call).
static inline void *mc_alloc(size_t n) {
	n = (n + 63) & ~(size_t)63;
	return aligned_alloc(64, n ? n : 64);
}

#endif

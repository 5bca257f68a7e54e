// AVX-512 helpers shared by the float32 kernels that apply the runtime's epilogue in
// registers, before their only store (pointwise_avx512.c, convrows_avx512.c,
// dwconv16_avx512.c): the tail
// mask of a partial vector and the activation. Each kernel file includes it after
// <immintrin.h>; the functions carry their own target so that any AVX-512 caller can
// inline them.
#ifndef MC_EPILOGUE_AVX512_H
#define MC_EPILOGUE_AVX512_H

#include <immintrin.h>
#include <stdint.h>

#define EP_TGT __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))

// ep_tailmask selects the first min(n, 16) lanes.
static inline __attribute__((always_inline)) EP_TGT __mmask16 ep_tailmask(int64_t n) {
	return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
}

// ep_act is biasact_driver.h's activation on 16 lanes: act 0 none, 1 Relu, 2 Clip(p, q),
// 3 HardSigmoid (clamp(p·v + q, 0, 1)), 4 HardSwish (v·HardSigmoid(v)); SiLU (5) needs
// an exponential and is applied by mc_silu_avx512 on each finished row instead.
// max(c, v) returns v unless c > v, which is v < c ? c : v, so NaN passes through as in
// the reference (min likewise). p·v + q is unfused, as the reference computes it.
static inline __attribute__((always_inline)) EP_TGT __m512 ep_act(__m512 v, int act, __m512 p, __m512 q) {
	const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
	switch (act) {
	case 1:
		return _mm512_max_ps(zero, v);
	case 2:
		return _mm512_min_ps(q, _mm512_max_ps(p, v));
	case 3:
	case 4: {
		__m512 u = _mm512_add_ps(_mm512_mul_ps(p, v), q);
		u = _mm512_min_ps(one, _mm512_max_ps(zero, u));
		return act == 4 ? _mm512_mul_ps(v, u) : u;
	}
	}
	return v;
}

#endif

// AVX-512 helpers shared by the float32 kernels that apply the runtime's epilogue in
// registers, before their only store (pointwise_avx512.c, convrows_avx512.c,
// dwconv16_avx512.c), and by the activation loops of kernels_avx512.c: the tail mask of
// a partial vector, e^x, SiLU and the activation. Each kernel file includes it after
// <immintrin.h>; the functions carry their own target so that any AVX-512 caller can
// inline them, and a value gets the same bits wherever it is computed.
#ifndef MC_EPILOGUE_AVX512_H
#define MC_EPILOGUE_AVX512_H

#include <immintrin.h>
#include <stdint.h>

#define EP_TGT __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))

// ep_tailmask selects the first min(n, 16) lanes.
static inline __attribute__((always_inline)) EP_TGT __mmask16 ep_tailmask(int64_t n) {
	return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
}

// e^x: Cody–Waite reduction x = n·ln2 + r, a degree-6 polynomial for e^r (Cephes expf),
// and 2^n applied as two factors so subnormal results come out right. NaN propagates.
static inline __attribute__((always_inline)) EP_TGT __m512 ep_exp(__m512 x) {
	x = _mm512_min_ps(_mm512_set1_ps(89.0f), _mm512_max_ps(_mm512_set1_ps(-104.0f), x)); // NaN kept (2nd operand)
	__m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
	r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
	__m512 p = _mm512_set1_ps(1.9875691500e-4f);
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
	p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
	__m512i ni = _mm512_cvtps_epi32(n);
	__m512i n1 = _mm512_srai_epi32(ni, 1), n2 = _mm512_sub_epi32(ni, n1);
	__m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n1, _mm512_set1_epi32(127)), 23));
	__m512 s2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n2, _mm512_set1_epi32(127)), 23));
	return _mm512_mul_ps(_mm512_mul_ps(p, s1), s2);
}

// ep_silu is x·sigmoid(x) = x / (1 + e^−x).
static inline __attribute__((always_inline)) EP_TGT __m512 ep_silu(__m512 x) {
	return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), ep_exp(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

// ep_sigmoid is 1/(1 + e^−x), −x by flipping the sign bit (exact, as Go's −v): the bits
// of the runtime's negate, Exp, 1/(1+e) passes on AVX-512.
static inline __attribute__((always_inline)) EP_TGT __m512 ep_sigmoid(__m512 x) {
	const __m512 e = ep_exp(_mm512_xor_ps(x, _mm512_set1_ps(-0.0f)));
	return _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

// ep_act is biasact_driver.h's activation on 16 lanes: act 0 none, 1 Relu, 2 Clip(p, q),
// 3 HardSigmoid (clamp(p·v + q, 0, 1)), 4 HardSwish (v·HardSigmoid(v)), 5 SiLU (the
// same bits as mc_silu_avx512 on the stored value), 6 Sigmoid (ep_sigmoid).
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
	case 5:
		return ep_silu(v);
	case 6:
		return ep_sigmoid(v);
	}
	return v;
}

#endif

//go:build amd64 && cgo

// Measures the core clock and the FMA throughput the GEMM numbers are compared with.
#include <immintrin.h>
#include <stdint.h>
#include <time.h>

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

// A chain of dependent 64-bit adds retires one per cycle on every x86-64 core of the
// last fifteen years: iterations·8 / seconds is the clock the core really ran at.
double cpupeak_clock_ghz(int64_t iters) {
	uint64_t x = 0;
	double t = now();
	__asm__ volatile(
	    "mov %1, %%rcx\n"
	    "1:\n"
	    "add $1, %0\n add $1, %0\n add $1, %0\n add $1, %0\n"
	    "add $1, %0\n add $1, %0\n add $1, %0\n add $1, %0\n"
	    "dec %%rcx\n"
	    "jnz 1b\n"
	    : "+r"(x)
	    : "r"(iters)
	    : "rcx", "cc");
	t = now() - t;
	return (double)iters * 8.0 / t / 1e9;
}

// 24 independent FMA chains (more than latency × pipes on any current core).
__attribute__((target("avx512f"))) double cpupeak_fma512_gflops(int64_t iters) {
	__m512 c[24];
	for (int i = 0; i < 24; i++) c[i] = _mm512_set1_ps((float)i);
	const __m512 a = _mm512_set1_ps(1.0000001f), b = _mm512_set1_ps(0.9999999f);
	double t = now();
	for (int64_t k = 0; k < iters; k++) {
#pragma GCC unroll 24
		for (int i = 0; i < 24; i++) c[i] = _mm512_fmadd_ps(c[i], a, b);
	}
	t = now() - t;
	volatile float sink = 0;
	for (int i = 0; i < 24; i++) sink += _mm512_reduce_add_ps(c[i]);
	return (double)iters * 24 * 16 * 2 / t / 1e9;
}

__attribute__((target("avx2,fma"))) double cpupeak_fma256_gflops(int64_t iters) {
	__m256 c[12];
	for (int i = 0; i < 12; i++) c[i] = _mm256_set1_ps((float)i);
	const __m256 a = _mm256_set1_ps(1.0000001f), b = _mm256_set1_ps(0.9999999f);
	double t = now();
	for (int64_t k = 0; k < iters; k++) {
#pragma GCC unroll 12
		for (int i = 0; i < 12; i++) c[i] = _mm256_fmadd_ps(c[i], a, b);
	}
	t = now() - t;
	volatile float sink = 0;
	float tmp[8];
	for (int i = 0; i < 12; i++) { _mm256_storeu_ps(tmp, c[i]); sink += tmp[0]; }
	return (double)iters * 12 * 8 * 2 / t / 1e9;
}

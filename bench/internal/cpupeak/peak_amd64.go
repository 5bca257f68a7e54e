//go:build amd64 && cgo

// Package cpupeak measures the clock of the core it runs on and that core's FMA
// throughput, the yardsticks for the GEMM benchmarks.
package cpupeak

/*
#cgo CFLAGS: -O2
#include <stdint.h>
double cpupeak_clock_ghz(int64_t iters);
double cpupeak_fma512_gflops(int64_t iters);
double cpupeak_fma256_gflops(int64_t iters);
*/
import "C"

import (
	"runtime"

	"github.com/klauspost/cpuid/v2"
)

// ClockGHz times 8·iters dependent integer adds (one per cycle) and returns the clock
// in GHz. Best of reps runs.
func ClockGHz() float64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	best := 0.0
	for i := 0; i < 5; i++ {
		best = max(best, float64(C.cpupeak_clock_ghz(50_000_000)))
	}
	return best
}

// FMAGFLOPS returns the measured single-core f32 FMA throughput with 512-bit (if the
// CPU has AVX-512F) and 256-bit vectors; 0 where not available.
func FMAGFLOPS() (zmm, ymm float64) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for i := 0; i < 3; i++ {
		if cpuid.CPU.Supports(cpuid.AVX512F) {
			zmm = max(zmm, float64(C.cpupeak_fma512_gflops(20_000_000)))
		}
		if cpuid.CPU.Supports(cpuid.AVX2, cpuid.FMA3) {
			ymm = max(ymm, float64(C.cpupeak_fma256_gflops(20_000_000)))
		}
	}
	return zmm, ymm
}

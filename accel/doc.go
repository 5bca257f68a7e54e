// Package accel holds modelc's compute kernels and picks, at run time, the best
// implementation of each for the CPU it runs on.
//
// # Kernels
//
// f32 GEMM (SGEMM, SGEMMBias: transposes, alpha/beta, bias; packed, cache-blocked and
// split over a bounded worker pool), int8×int8 and uint8×int8 → int32 GEMM (GEMMS8S8,
// GEMMU8S8, and on a weight packed once by PackB8: GEMMS8S8Packed, GEMMU8S8Packed and
// their ZP forms that take A's zero point off in the kernel), f32 ↔ f16 / bf16 conversions, ONNX QuantizeLinear / DequantizeLinear to
// int8 and uint8 (per tensor and per axis), reductions (MinMax, AbsMax, SumSquares per
// tensor, per row and per block), ggml Q8_0 and Q4_0 blocks, and the activations ReLU,
// GELU (erf form), SiLU, Exp and row Softmax, and one step of an LSTM or GRU cell
// (LSTMCell, GRUCellLBR). All are plain functions on slices; they
// panic, like gonum's BLAS, when a slice is too short for the sizes given.
//
// # Dispatch
//
// CPU features are read once with github.com/klauspost/cpuid/v2. A table of kernels is
// filled at start-up from them: AVX-512 (with VNNI for the integer GEMM), AVX2+FMA,
// NEON on arm64, and pure Go everywhere. MODELC_ACCEL=go|avx2|avx512|neon|cuda|auto
// overrides the choice; a backend this binary or CPU cannot run is an error reported
// by Init (and a kernel called anyway panics with it), never a silent fallback. cuda
// sends the GEMMs, conversions and quantizers to an NVIDIA GPU through accel/cuda (the
// other kernels run on auto's CPU choice); auto does so only for calls above
// CUDAMinGEMMWork / CUDAMinElems, when a GPU is usable (cuda_offload.go). Describe returns the CPU, its
// features, and the implementation chosen for each kernel with the reason, as a
// JSON-serialisable Report whose String method prints a table (`modelc backends`).
//
// Every kernel has a pure-Go reference (ref.go) that is its specification. The tests run
// every backend this machine can execute against it, including backends with optional
// features switched off; integer results are bit-exact, float results within tolerances
// stated in the tests. The go backend is the reference itself, except for the GEMMs,
// which use a blocked Go version. Calls too small to repay a cgo call (about 64 elements,
// or a 16³ GEMM) run the Go kernel on the calling goroutine; big calls are cut into
// fixed-size chunks (not per-thread shares), so results never depend on the number of
// threads.
//
// # Why C with target attributes, not Go assembly
//
// The SIMD kernels are C compiled by cgo into the same binary, one file per ISA
// (kernels_avx512.c, kernels_avx2.c on amd64; kernels_neon.c on arm64 only). Each
// function carries __attribute__((target("avx512f,…"))) (or target("arch=armv8.2-a+dotprod")
// for sdot), so the files are compiled for the baseline architecture and one x86-64
// binary carries every x86 path and picks among them at run time. C rather than Go
// assembly because:
//
//   - readability: a micro-kernel is a dozen lines of intrinsics (_mm512_fmadd_ps,
//     _mm512_dpbusd_epi32, vdotq_laneq_s32) instead of hundreds of lines of assembly,
//     and one blocked GEMM driver (gemm_f32_driver.h) serves every ISA;
//   - intrinsics cover everything we need (masked tails, F16C, VNNI, sdot) and read
//     the same as the vendors' manuals;
//   - the compiler does register allocation, instruction scheduling and unrolling, which
//     is most of the work and most of the bugs when writing assembly by hand.
//
// The price is cgo's call overhead (tens of nanoseconds), paid once per big chunk — a
// whole GEMM block or 64K elements — never per element, and avoided for tiny calls. The
// C files are compiled with -std=c11, which in GCC implies -ffp-contract=off: a*b+c is
// never silently fused, which the byte-exact quantizers rely on.
//
// A build with CGO_ENABLED=0 or the purego tag compiles only the go backend
// (accel_noasm.go).
package accel

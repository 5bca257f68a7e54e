package bench

// Benchmarks of every accel kernel on every backend this machine runs, at the sizes the
// engine meets (GEMM 256–2048, quantizers over 64 MiB of float32), with 1 and 2 threads,
// plus gonum's pure-Go GEMM as the reference point. Run:
//
//	go test ./bench/ -run '^$' -bench 'Accel|Gonum|Peak' -benchtime 3x
//
// Metrics: GFLOP/s (2·m·n·k per GEMM), GOPS for the integer GEMM (same count), GB/s of
// input bytes for everything else; BenchmarkPeak reports the measured clock and FMA
// throughput that the GEMM numbers are compared with in README.md.

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/bench/internal/cpupeak"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

var gemmSizes = []int{256, 512, 1024, 2048}

// quantElems is 64 MiB of float32.
const quantElems = 64 << 20 / 4

func threadCounts() []int {
	if runtime.NumCPU() >= 2 {
		return []int{1, 2}
	}
	return []int{1}
}

// use selects a backend and a thread count for one benchmark and restores the defaults.
func use(b *testing.B, be accel.Backend, threads int) {
	b.Helper()
	if err := accel.Use(be); err != nil {
		b.Skip(err)
	}
	accel.SetMaxThreads(threads)
	b.Cleanup(func() {
		_ = accel.Use(accel.BackendAuto)
		accel.SetMaxThreads(0)
	})
}

func randSlice(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 99))
	x := make([]float32, n)
	for i := range x {
		x[i] = r.Float32()*2 - 1
	}
	return x
}

func BenchmarkPeak(b *testing.B) {
	var ghz, zmm, ymm float64
	for i := 0; i < b.N; i++ {
		ghz = cpupeak.ClockGHz()
		zmm, ymm = cpupeak.FMAGFLOPS()
	}
	b.ReportMetric(ghz, "GHz")
	b.ReportMetric(zmm, "zmm-FMA-GFLOP/s")
	b.ReportMetric(ymm, "ymm-FMA-GFLOP/s")
}

func BenchmarkAccelSGEMM(b *testing.B) {
	for _, be := range accel.Available() {
		for _, n := range gemmSizes {
			for _, th := range threadCounts() {
				b.Run(fmt.Sprintf("%s/n=%d/threads=%d", be, n, th), func(b *testing.B) {
					if be == accel.BackendGo && n > 1024 {
						b.Skip("go backend at 2048³ takes minutes; 1024 shows its level")
					}
					use(b, be, th)
					a, bm, c := randSlice(n*n, 1), randSlice(n*n, 2), make([]float32, n*n)
					accel.SGEMM(false, false, n, n, n, 1, a, n, bm, n, 0, c, n) // warm up
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						accel.SGEMM(false, false, n, n, n, 1, a, n, bm, n, 0, c, n)
					}
					b.ReportMetric(2*float64(n)*float64(n)*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}

func BenchmarkGonumGEMM(b *testing.B) {
	impl := gonum.Implementation{}
	for _, n := range gemmSizes {
		for _, th := range threadCounts() {
			b.Run(fmt.Sprintf("Sgemm/n=%d/threads=%d", n, th), func(b *testing.B) {
				if n > 1024 && th > 1 {
					b.Skip("one thread at 2048 is enough for the comparison")
				}
				prev := runtime.GOMAXPROCS(th) // gonum splits its GEMM over GOMAXPROCS
				defer runtime.GOMAXPROCS(prev)
				a, bm, c := randSlice(n*n, 1), randSlice(n*n, 2), make([]float32, n*n)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					impl.Sgemm(blas.NoTrans, blas.NoTrans, n, n, n, 1, a, n, bm, n, 0, c, n)
				}
				b.ReportMetric(2*float64(n)*float64(n)*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
		if n <= 1024 {
			b.Run(fmt.Sprintf("Dgemm/n=%d/threads=1", n), func(b *testing.B) {
				prev := runtime.GOMAXPROCS(1)
				defer runtime.GOMAXPROCS(prev)
				a, bm, c := make([]float64, n*n), make([]float64, n*n), make([]float64, n*n)
				for i, v := range randSlice(n*n, 3) {
					a[i], bm[i] = float64(v), float64(-v)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					impl.Dgemm(blas.NoTrans, blas.NoTrans, n, n, n, 1, a, n, bm, n, 0, c, n)
				}
				b.ReportMetric(2*float64(n)*float64(n)*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

func BenchmarkAccelIGEMM(b *testing.B) {
	for _, be := range accel.Available() {
		for _, n := range gemmSizes {
			for _, th := range threadCounts() {
				for _, kind := range []string{"s8s8", "u8s8"} {
					b.Run(fmt.Sprintf("%s/%s/n=%d/threads=%d", be, kind, n, th), func(b *testing.B) {
						if be == accel.BackendGo && n > 1024 {
							b.Skip("go backend at 2048³ takes minutes; 1024 shows its level")
						}
						use(b, be, th)
						r := rand.New(rand.NewPCG(5, 6))
						a8, au, bm := make([]int8, n*n), make([]uint8, n*n), make([]int8, n*n)
						for i := range a8 {
							a8[i], au[i], bm[i] = int8(r.Uint32()), uint8(r.Uint32()), int8(r.Uint32())
						}
						c := make([]int32, n*n)
						run := func() {
							if kind == "s8s8" {
								accel.GEMMS8S8(false, n, n, n, a8, n, bm, n, c, n)
							} else {
								accel.GEMMU8S8(false, n, n, n, au, n, bm, n, c, n)
							}
						}
						run()
						b.ResetTimer()
						for i := 0; i < b.N; i++ {
							run()
						}
						b.ReportMetric(2*float64(n)*float64(n)*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOPS")
					})
				}
			}
		}
	}
}

// streamKernels are the kernels measured in GB/s of input, each over 64 MiB of float32
// (or the equivalent number of elements of its input type).
func streamKernels() []struct {
	name  string
	bytes int64
	run   func()
} {
	ks := streamKernelsN(quantElems, "")
	// the same quantizers on 4 MiB, which stays in L3: there threads are not bound by DRAM
	ks = append(ks, streamKernelsN(1<<20, "_4MiB")[:3]...)
	return ks
}

func streamKernelsN(n int, suffix string) []struct {
	name  string
	bytes int64
	run   func()
} {
	src := randSlice(n, 7)
	q8 := make([]byte, n/32*accel.Q8_0Bytes)
	q4 := make([]byte, n/32*accel.Q4_0Bytes)
	i8 := make([]int8, n)
	u8 := make([]uint8, n)
	h := make([]uint16, n)
	f := make([]float32, n)
	const rows = 4096
	cols := n / rows
	scales := make([]float32, rows)
	zps := make([]int8, rows)
	for i := range scales {
		scales[i] = 0.01 + float32(i%7)*0.001
	}
	mn, mx, am := make([]float32, rows), make([]float32, rows), make([]float32, rows)
	ss := make([]float64, rows)
	accel.QuantizeQ8_0(q8, src)
	accel.QuantizeQ4_0(q4, src)
	accel.F32ToF16(h, src)
	fb := int64(n) * 4
	ks := []struct {
		name  string
		bytes int64
		run   func()
	}{
		{"quantize_q8_0", fb, func() { accel.QuantizeQ8_0(q8, src) }},
		{"quantize_s8_per_channel", fb, func() { accel.QuantizeS8Axis(i8, src, cols, scales, zps) }},
		{"memcpy_f32", fb, func() { parallelCopy(f, src) }},
		{"quantize_q4_0", fb, func() { accel.QuantizeQ4_0(q4, src) }},
		{"quantize_s8_per_tensor", fb, func() { accel.QuantizeS8(i8, src, 0.01, 3) }},
		{"quantize_u8_per_tensor", fb, func() { accel.QuantizeU8(u8, src, 0.01, 128) }},
		{"dequantize_s8_per_channel", int64(n), func() { accel.DequantizeS8Axis(f, i8, cols, scales, zps) }},
		{"dequantize_q8_0", int64(len(q8)), func() { accel.DequantizeQ8_0(f, q8) }},
		{"dequantize_q4_0", int64(len(q4)), func() { accel.DequantizeQ4_0(f, q4) }},
		{"f32_to_f16", fb, func() { accel.F32ToF16(h, src) }},
		{"f16_to_f32", int64(n) * 2, func() { accel.F16ToF32(f, h) }},
		{"f32_to_bf16", fb, func() { accel.F32ToBF16(h, src) }},
		{"bf16_to_f32", int64(n) * 2, func() { accel.BF16ToF32(f, h) }},
		{"minmax_rows", fb, func() { accel.MinMaxRows(src, rows, cols, mn, mx) }},
		{"absmax_rows", fb, func() { accel.AbsMaxRows(src, rows, cols, am) }},
		{"sumsq_rows", fb, func() { accel.SumSquaresRows(src, rows, cols, ss) }},
		{"relu", fb, func() { accel.ReLU(f, src) }},
		{"gelu", fb, func() { accel.GELU(f, src) }},
		{"silu", fb, func() { accel.SiLU(f, src) }},
		{"exp", fb, func() { accel.Exp(f, src) }},
		{"softmax_rows", fb, func() { accel.Softmax(f, src, cols) }},
	}
	for i := range ks {
		ks[i].name += suffix
	}
	return ks
}

// parallelCopy is the memory-bandwidth yardstick: Go's copy over accel.MaxThreads()
// goroutines (the same split the kernels use).
func parallelCopy(dst, src []float32) {
	t := accel.MaxThreads()
	step := (len(src) + t - 1) / t
	done := make(chan struct{}, t)
	for lo := 0; lo < len(src); lo += step {
		hi := min(len(src), lo+step)
		go func() { copy(dst[lo:hi], src[lo:hi]); done <- struct{}{} }()
	}
	for lo := 0; lo < len(src); lo += step {
		<-done
	}
}

func BenchmarkAccelStream(b *testing.B) {
	ks := streamKernels()
	for _, k := range ks {
		backends := accel.Available()
		if k.name == "memcpy_f32" || k.name == "memcpy_f32_4MiB" {
			backends = backends[:1] // not a kernel: one run is enough
		}
		for _, be := range backends {
			for _, th := range threadCounts() {
				b.Run(fmt.Sprintf("%s/%s/threads=%d", k.name, be, th), func(b *testing.B) {
					use(b, be, th)
					k.run()
					b.SetBytes(k.bytes)
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						k.run()
					}
					b.ReportMetric(float64(k.bytes)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
				})
			}
		}
	}
}

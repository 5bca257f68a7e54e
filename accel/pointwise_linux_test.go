package accel

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkPointwiseConv: the fused kernel against the path it replaces (SGEMM, then
// BiasAct over the output) on the mobile nets' 1×1 layers (pointwiseShapes: m, n, k),
// one thread, best run by thread CPU time where the platform has it.
func BenchmarkPointwiseConv(b *testing.B) {
	r := onePointwiseThread(b)
	act := Act{Kind: ActClip, P: 0, Q: 6}
	for _, s := range pointwiseShapes {
		m, n, k := s[0], s[1], s[2]
		w, x, bias, y := randF32(r, m*k, 1), randF32(r, k*n, 1), randF32(r, m, 1), make([]float32, m*n)
		flops := float64(2 * m * n * k)
		b.Run(fmt.Sprintf("fused/%dx%dx%d", m, n, k), func(b *testing.B) {
			bestGFLOPs(b, flops, func() { PointwiseConv(m, k, n, w, x, bias, y, act) })
		})
		b.Run(fmt.Sprintf("sgemm+biasact/%dx%dx%d", m, n, k), func(b *testing.B) {
			bestGFLOPs(b, flops, func() {
				SGEMM(false, false, m, n, k, 1, w, k, x, n, 0, y, n)
				BiasAct(y, m, n, bias, act)
			})
		})
		if m*n*k <= 1<<22 {
			b.Run(fmt.Sprintf("ref/%dx%dx%d", m, n, k), func(b *testing.B) {
				bestGFLOPs(b, flops, func() { refPointwise(m, k, n, w, x, bias, y, act) })
			})
		}
	}
}

// BenchmarkPointwiseConvActs: the fused kernel per activation on narrow layers (k =
// 16–24, the OCR detector's and MobileNetV3's), where the epilogue is a large share of
// the work; each activation should cost little more than none (HardSwish, compiled
// with a run-time switch, took twice as long). One thread, best run.
func BenchmarkPointwiseConvActs(b *testing.B) {
	r := onePointwiseThread(b)
	for _, s := range [][3]int{{24, 1920, 16}, {24, 1920, 24}, {48, 480, 24}} {
		m, n, k := s[0], s[1], s[2]
		w, x, bias, y := randF32(r, m*k, 1), randF32(r, k*n, 1), randF32(r, m, 1), make([]float32, m*n)
		for _, act := range pointwiseActs {
			b.Run(fmt.Sprintf("act%d/%dx%dx%d", act.Kind, m, n, k), func(b *testing.B) {
				bestGFLOPs(b, float64(2*m*n*k), func() { PointwiseConv(m, k, n, w, x, bias, y, act) })
			})
		}
	}
}

// BenchmarkPointwiseConvOnePixel: the squeeze-and-excitation 1×1 convolutions of
// MobileNetV3 and EfficientNet (one pixel), SGEMM's matrix-vector path (what
// PointwiseConv runs) against the register-tile kernel it replaced, one thread.
func BenchmarkPointwiseConvOnePixel(b *testing.B) {
	r := onePointwiseThread(b)
	act := Act{Kind: ActRelu}
	for _, s := range [][2]int{{144, 576}, {576, 144}, {48, 1152}, {1152, 48}} {
		m, k := s[0], s[1]
		w, x, bias, y := randF32(r, m*k, 1), randF32(r, k, 1), randF32(r, m, 1), make([]float32, m)
		flops := float64(2 * m * k)
		b.Run(fmt.Sprintf("gemv/%dx%d", m, k), func(b *testing.B) {
			bestGFLOPs(b, flops, func() { PointwiseConv(m, k, 1, w, x, bias, y, act) })
		})
		b.Run(fmt.Sprintf("tiles/%dx%d", m, k), func(b *testing.B) {
			bestGFLOPs(b, flops, func() { tab().pointwise(m, k, 1, w, x, bias, y, 0, 1, act) })
		})
	}
}

// BenchmarkPointwiseConvCold: the shapes whose weights or output do not stay in cache
// inside a model (a 112² expansion writes 4.8 MB, the 7×7 layers read 1.2–1.6 MB of
// weights), with the caches emptied before each call by writing 64 MB; one thread,
// best run. The figure to compare is the fused kernel's with and without its software
// prefetches (git stash), and with the cache warm (BenchmarkPointwiseConv).
func BenchmarkPointwiseConvCold(b *testing.B) {
	r := onePointwiseThread(b)
	junk := make([]float32, 16<<20)
	act := Act{Kind: ActClip, P: 0, Q: 6}
	for _, s := range [][3]int{{96, 12544, 16}, {320, 49, 960}, {1280, 49, 320}} {
		m, n, k := s[0], s[1], s[2]
		w, x, bias, y := randF32(r, m*k, 1), randF32(r, k*n, 1), randF32(r, m, 1), make([]float32, m*n)
		b.Run(fmt.Sprintf("%dx%dx%d", m, n, k), func(b *testing.B) {
			var best time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				for j := range junk {
					junk[j]++
				}
				b.StartTimer()
				t0 := time.Now()
				PointwiseConv(m, k, n, w, x, bias, y, act)
				if d := time.Since(t0); i == 0 || d < best {
					best = d
				}
			}
			b.ReportMetric(float64(best.Nanoseconds())/1e3, "best-µs")
			b.ReportMetric(2*float64(m*n*k)/best.Seconds()/1e9, "GFLOP/s")
		})
	}
}

// onePointwiseThread skips b where the backend has no pointwise kernel, runs it on one
// thread (restored after) and returns its random source.
func onePointwiseThread(b *testing.B) *rand.Rand {
	if !HasPointwise() {
		b.Skip("no pointwise kernel on this backend")
	}
	old := SetMaxThreads(1)
	b.Cleanup(func() { SetMaxThreads(old) })
	return rand.New(rand.NewPCG(1, 2))
}

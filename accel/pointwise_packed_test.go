package accel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestPointwiseConvPacked: with output channels in the lanes, the packed kernel gives
// PointwiseConv's bits for every activation, at one and two threads, writing nothing
// outside y: planes of 2–57 pixels, k over one to four k-blocks of 256, m with a
// partial last sliver of 48 (one, two or three vectors), with and without bias.
func TestPointwiseConvPacked(t *testing.T) {
	if tab().pointwiseT == nil {
		t.Skip("no packed pointwise kernel on this backend")
	}
	r := rand.New(rand.NewPCG(31, 32))
	old := SetMaxThreads(1)
	defer SetMaxThreads(old)
	cases := [][3]int{{1280, 320, 49}, {320, 960, 49}, {960, 160, 49}, {49, 64, 49}, {16, 64, 2}, {100, 257, 25},
		{33, 300, 36}, {17, 1000, 9}, {200, 96, 57}, {48, 513, 7}, {96, 72, 4}}
	for i := 0; i < 10; i++ {
		cases = append(cases, [3]int{16 + r.IntN(150), 64 + r.IntN(600), 2 + r.IntN(40)})
	}
	ran := 0
	for _, c := range cases {
		m, k, n := c[0], c[1], c[2]
		w, x := randF32(r, m*k, 1), randF32(r, k*n, 1)
		pw := PackPointwise(w, m, k, n)
		if pw == nil {
			continue
		}
		ran++
		var bias []float32
		if r.IntN(3) > 0 {
			bias = randF32(r, m, 1)
		}
		for _, act := range pointwiseActs {
			want := make([]float32, m*n)
			PointwiseConv(m, k, n, w, x, bias, want, act)
			for _, threads := range []int{1, 2} {
				SetMaxThreads(threads)
				name := fmt.Sprintf("%dx%dx%d/act%d/%d threads", m, k, n, act.Kind, threads)
				full, y := guardedF32(m*n, float32(math.NaN()))
				PointwiseConvPacked(pw, n, x, bias, y, act)
				checkGuardsF32(t, name, full, m*n)
				for i := range want {
					if math.Float32bits(y[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s: y[%d][%d] = %g, PointwiseConv gives %g", name, i/n, i%n, y[i], want[i])
					}
				}
			}
			SetMaxThreads(1)
		}
	}
	if ran < 15 {
		t.Errorf("only %d of %d shapes packed", ran, len(cases))
	}
	// Where the pixels fill the vectors, or k is small, PointwiseConv stays.
	for _, c := range [][3]int{{96, 160, 48}, {96, 160, 64}, {96, 160, 196}, {96, 32, 49}, {96, 160, 1}, {8, 160, 49}} {
		if PackPointwise(make([]float32, c[0]*c[1]), c[0], c[1], c[2]) != nil {
			t.Errorf("%v packed", c)
		}
	}
}

// BenchmarkPointwiseConvPacked: the 7×7 layers of MobileNetV2 (320→1280, 960→320,
// 160→960) and EfficientNet-B0 (320→1280 is the same; 1152→192, 192→1152), the packed
// kernel against PointwiseConv (pixels in the lanes), one thread, weights warm (the
// run before) and with the caches emptied by writing 64 MB first.
func BenchmarkPointwiseConvPacked(b *testing.B) {
	r := onePointwiseThread(b)
	if tab().pointwiseT == nil {
		b.Skip("no packed pointwise kernel on this backend")
	}
	junk := make([]float32, 16<<20)
	act := Act{Kind: ActClip, P: 0, Q: 6}
	for _, s := range [][3]int{{1280, 49, 320}, {320, 49, 960}, {960, 49, 160}, {192, 49, 1152}, {1152, 49, 192}} {
		m, n, k := s[0], s[1], s[2]
		w, x, bias, y := randF32(r, m*k, 1), randF32(r, k*n, 1), randF32(r, m, 1), make([]float32, m*n)
		pw := PackPointwise(w, m, k, n)
		flops := float64(2 * m * n * k)
		for _, cold := range []bool{false, true} {
			for _, packed := range []bool{false, true} {
				name := fmt.Sprintf("%dx%dx%d/cold=%v/packed=%v", m, n, k, cold, packed)
				b.Run(name, func(b *testing.B) {
					best := float64(bestRun(b, cold, junk, func() {
						if packed {
							PointwiseConvPacked(pw, n, x, bias, y, act)
						} else {
							PointwiseConv(m, k, n, w, x, bias, y, act)
						}
					}).Nanoseconds())
					b.ReportMetric(best/1e3, "best-µs")
					b.ReportMetric(flops/best, "GFLOP/s")
				})
			}
		}
	}
}

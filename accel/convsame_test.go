package accel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

type convSameCase struct{ m, cg, h, w, kh, kw, dh, dw, ph, pw int }

func convSameCases(r *rand.Rand) []convSameCase {
	cs := []convSameCase{
		{1, 1, 1, 1, 3, 3, 1, 1, 1, 1}, {8, 3, 7, 7, 3, 3, 1, 1, 1, 1}, {16, 30, 13, 11, 3, 3, 1, 1, 1, 1}, // k = 270 > one k-block
		{9, 5, 6, 17, 5, 5, 1, 1, 2, 2}, {17, 4, 9, 9, 3, 3, 2, 2, 2, 2}, {5, 2, 8, 10, 3, 1, 1, 1, 0, 0}, // asymmetric padding
		{12, 64, 14, 14, 3, 3, 1, 1, 1, 1}, {3, 2, 1, 50, 1, 7, 1, 1, 1, 3}, {24, 3, 16, 3, 3, 3, 1, 1, 2, 0},
	}
	for i := 0; i < 12; i++ {
		kh, kw, dh, dw := 1+2*r.IntN(3), 1+r.IntN(5), 1+r.IntN(2), 1+r.IntN(2)
		cs = append(cs, convSameCase{1 + r.IntN(20), 1 + r.IntN(40), 1 + r.IntN(20), 1 + r.IntN(20), kh, kw, dh, dw,
			r.IntN(dh*(kh-1) + 1), r.IntN(dw*(kw-1) + 1)})
	}
	return cs
}

// TestConvSame2D checks every backend's implicit-GEMM kernel against the Go reference on
// random geometries (odd sizes, asymmetric padding, dilation, k beyond one k-block),
// on a sub-range of the output pixels with guard values around and between.
func TestConvSame2D(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, bt := range backendsUnderTest() {
		kern := bt.t.convSame2D
		if kern == nil {
			continue
		}
		for _, c := range convSameCases(r) {
			name := fmt.Sprintf("%s/%+v", bt.name, c)
			k, n := c.cg*c.kh*c.kw, c.h*c.w
			wt, x := randF32(r, c.m*k, 1), randF32(r, c.cg*n, 1)
			j0 := r.IntN(n)
			j1 := j0 + 1 + r.IntN(n-j0)
			want := make([]float32, c.m*n)
			refConvSame2D(c.m, c.cg, c.h, c.w, c.kh, c.kw, c.dh, c.dw, c.ph, c.pw, wt, x, want, j0, j1)
			absW, absX := make([]float32, len(wt)), make([]float32, len(x))
			for i, v := range wt {
				absW[i] = float32(math.Abs(float64(v)))
			}
			for i, v := range x {
				absX[i] = float32(math.Abs(float64(v)))
			}
			bound := make([]float32, c.m*n)
			refConvSame2D(c.m, c.cg, c.h, c.w, c.kh, c.kw, c.dh, c.dw, c.ph, c.pw, absW, absX, bound, j0, j1)
			full, y := guardedF32(c.m*n, float32(math.NaN()))
			kern(c.m, c.cg, c.h, c.w, c.kh, c.kw, c.dh, c.dw, c.ph, c.pw, wt, x, y, j0, j1)
			checkGuardsF32(t, name, full, c.m*n)
			tol := float64(k+2) * math.Pow(2, -23)
			for i := 0; i < c.m; i++ {
				for j := 0; j < n; j++ {
					got := y[i*n+j]
					if j < j0 || j >= j1 {
						if got == got {
							t.Fatalf("%s: y[%d][%d] outside [%d,%d) written", name, i, j, j0, j1)
						}
						continue
					}
					w := want[i*n+j]
					if math.Abs(float64(got-w)) > tol*float64(bound[i*n+j])+1e-30 || got != got {
						t.Fatalf("%s: y[%d][%d] = %g, want %g", name, i, j, got, w)
					}
				}
			}
		}
	}
}

// TestConvSame2DThreads: the public entry point gives the same bits at 1 and 2 threads.
func TestConvSame2DThreads(t *testing.T) {
	if tab().convSame2D == nil {
		t.Skip("no implicit-GEMM kernel on this backend")
	}
	r := rand.New(rand.NewPCG(5, 6))
	m, cg, h, w := 32, 16, 40, 40
	wt, x := randF32(r, m*cg*9, 1), randF32(r, cg*h*w, 1)
	y1, y2 := make([]float32, m*h*w), make([]float32, m*h*w)
	old := SetMaxThreads(1)
	defer SetMaxThreads(old)
	ConvSame2D(m, cg, h, w, 3, 3, 1, 1, 1, 1, wt, x, y1)
	SetMaxThreads(2)
	ConvSame2D(m, cg, h, w, 3, 3, 1, 1, 1, 1, wt, x, y2)
	for i := range y1 {
		if math.Float32bits(y1[i]) != math.Float32bits(y2[i]) {
			t.Fatalf("y[%d]: %g at 1 thread, %g at 2", i, y1[i], y2[i])
		}
	}
}

// BenchmarkConvSame2D: implicit GEMM against the path it replaces (Go im2col + SGEMM on
// the same backend) and the Go reference, on 3×3 same-size convolutions of the bench set.
func BenchmarkConvSame2D(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range [][4]int{{64, 64, 56, 56}, {16, 16, 32, 32}, {32, 3, 64, 64}, {256, 256, 14, 14}} {
		m, cg, h, w := s[0], s[1], s[2], s[3]
		k, n := cg*9, h*w
		wt, x, y := randF32(r, m*k, 1), randF32(r, cg*n, 1), make([]float32, m*n)
		col := make([]float32, k*n)
		flops := float64(2*m*n*k) / 1e9
		for _, bt := range backendsUnderTest() {
			if bt.t.convSame2D != nil {
				b.Run(fmt.Sprintf("%s/implicit/%dx%dx%dx%d", bt.name, m, cg, h, w), func(b *testing.B) {
					for i := 0; i < b.N; i++ {
						bt.t.convSame2D(m, cg, h, w, 3, 3, 1, 1, 1, 1, wt, x, y, 0, n)
					}
					b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds(), "GFLOP/s")
				})
			}
			b.Run(fmt.Sprintf("%s/im2col+sgemm/%dx%dx%dx%d", bt.name, m, cg, h, w), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					refIm2col3x3(col, x, cg, h, w)
					bt.t.sgemm(false, false, m, n, k, 1, wt, k, col, n, 0, y, n, nil)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds(), "GFLOP/s")
			})
		}
		if m*n*k <= 1<<24 {
			b.Run(fmt.Sprintf("ref/%dx%dx%dx%d", m, cg, h, w), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					refConvSame2D(m, cg, h, w, 3, 3, 1, 1, 1, 1, wt, x, y, 0, n)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds(), "GFLOP/s")
			})
		}
	}
}

// refIm2col3x3 builds the im2col matrix of a 3×3, pad-1, stride-1 convolution by rows.
func refIm2col3x3(col, x []float32, cg, h, w int) {
	n := h * w
	for ci := 0; ci < cg; ci++ {
		for t := 0; t < 9; t++ {
			row := col[(ci*9+t)*n : (ci*9+t+1)*n]
			dy, dx := t/3-1, t%3-1
			for y := 0; y < h; y++ {
				for xo := 0; xo < w; xo++ {
					yy, xx := y+dy, xo+dx
					if yy >= 0 && yy < h && xx >= 0 && xx < w {
						row[y*w+xo] = x[ci*n+yy*w+xx]
					} else {
						row[y*w+xo] = 0
					}
				}
			}
		}
	}
}

package accel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

type convCase struct {
	m, cg int
	p     Window2D
}

// convCases: same-size stride-1 windows (the masked-load path) and strided, valid or
// asymmetric ones (the gather path), odd sizes, dilation, k beyond one k-block.
func convCases(r *rand.Rand) []convCase {
	same := func(m, cg, h, w, kh, kw, dh, dw, ph, pw int) convCase {
		return convCase{m, cg, Window2D{H: h, W: w, OH: h, OW: w, KH: kh, KW: kw, SH: 1, SW: 1, PH: ph, PW: pw, DH: dh, DW: dw}}
	}
	cs := []convCase{
		same(1, 1, 1, 1, 3, 3, 1, 1, 1, 1), same(8, 3, 7, 7, 3, 3, 1, 1, 1, 1), same(16, 30, 13, 11, 3, 3, 1, 1, 1, 1),
		same(9, 5, 6, 17, 5, 5, 1, 1, 2, 2), same(17, 4, 9, 9, 3, 3, 2, 2, 2, 2), same(5, 2, 8, 10, 3, 1, 1, 1, 0, 0),
		same(12, 64, 14, 14, 3, 3, 1, 1, 1, 1), same(3, 2, 1, 50, 1, 7, 1, 1, 1, 3), same(24, 3, 16, 3, 3, 3, 1, 1, 2, 0),
		// 49..64 output pixels: the 6×64 tile, with row tails and two k-blocks.
		same(13, 40, 7, 7, 3, 3, 1, 1, 1, 1), same(7, 3, 1, 60, 1, 3, 1, 1, 0, 1),
		{11, 9, Window2D{H: 15, W: 15, OH: 8, OW: 8, KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1, DH: 1, DW: 1}},
	}
	for i := 0; i < 24; i++ {
		kh, kw, dh, dw := 1+r.IntN(5), 1+r.IntN(5), 1+r.IntN(2), 1+r.IntN(2)
		sh, sw, ph, pw := 1+r.IntN(3), 1+r.IntN(3), r.IntN(dh*(kh-1)+1), r.IntN(dw*(kw-1)+1)
		h, w := 1+r.IntN(30), 1+r.IntN(30)
		oh, ow := (h+2*ph-dh*(kh-1)-1)/sh+1, (w+2*pw-dw*(kw-1)-1)/sw+1
		if oh < 1 || ow < 1 {
			continue
		}
		cs = append(cs, convCase{1 + r.IntN(20), 1 + r.IntN(40), Window2D{H: h, W: w, OH: oh, OW: ow, KH: kh, KW: kw, SH: sh, SW: sw, PH: ph, PW: pw, DH: dh, DW: dw}})
	}
	return cs
}

// TestConvImplicit2D checks every backend's implicit-GEMM kernel against the Go
// reference on a sub-range of the output pixels with guard values around and between.
func TestConvImplicit2D(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, bt := range backendsUnderTest() {
		kern := bt.t.convImplicit2D
		if kern == nil {
			continue
		}
		for _, c := range convCases(r) {
			name := fmt.Sprintf("%s/m=%d,cg=%d,%+v", bt.name, c.m, c.cg, c.p)
			k, n := c.cg*c.p.KH*c.p.KW, c.p.OH*c.p.OW
			wt, x := randF32(r, c.m*k, 1), randF32(r, c.cg*c.p.H*c.p.W, 1)
			j0 := r.IntN(n)
			j1 := j0 + 1 + r.IntN(n-j0)
			want := make([]float32, c.m*n)
			refConvImplicit2D(c.m, c.cg, &c.p, wt, x, want, j0, j1)
			absW, absX := make([]float32, len(wt)), make([]float32, len(x))
			for i, v := range wt {
				absW[i] = float32(math.Abs(float64(v)))
			}
			for i, v := range x {
				absX[i] = float32(math.Abs(float64(v)))
			}
			bound := make([]float32, c.m*n)
			refConvImplicit2D(c.m, c.cg, &c.p, absW, absX, bound, j0, j1)
			full, y := guardedF32(c.m*n, float32(math.NaN()))
			kern(c.m, c.cg, &c.p, wt, x, y, j0, j1)
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

// TestConvImplicit2DThreads: the public entry point gives the same bits at 1 and 2 threads.
func TestConvImplicit2DThreads(t *testing.T) {
	if tab().convImplicit2D == nil {
		t.Skip("no implicit-GEMM kernel on this backend")
	}
	r := rand.New(rand.NewPCG(5, 6))
	m, cg, h, w := 32, 16, 40, 40
	wt, x := randF32(r, m*cg*9, 1), randF32(r, cg*h*w, 1)
	y1, y2 := make([]float32, m*h*w), make([]float32, m*h*w)
	old := SetMaxThreads(1)
	defer SetMaxThreads(old)
	p := Window2D{H: h, W: w, OH: h, OW: w, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, DH: 1, DW: 1}
	q := Window2D{H: h, W: w, OH: h / 2, OW: w / 2, KH: 3, KW: 3, SH: 2, SW: 2, PH: 1, PW: 1, DH: 1, DW: 1}
	z1, z2 := make([]float32, m*h*w/4), make([]float32, m*h*w/4)
	ConvImplicit2D(m, cg, p, wt, x, y1)
	ConvImplicit2D(m, cg, q, wt, x, z1)
	SetMaxThreads(2)
	ConvImplicit2D(m, cg, p, wt, x, y2)
	ConvImplicit2D(m, cg, q, wt, x, z2)
	y1, y2 = append(y1, z1...), append(y2, z2...)
	for i := range y1 {
		if math.Float32bits(y1[i]) != math.Float32bits(y2[i]) {
			t.Fatalf("y[%d]: %g at 1 thread, %g at 2", i, y1[i], y2[i])
		}
	}
}

// TestConvImplicit2DWideTile: a 7×7 map computed as one 64-column sliver (the 6×64 tile)
// gives the same bits as in two calls that take the 8×48 and 8×16 tiles.
func TestConvImplicit2DWideTile(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	m, cg := 29, 35
	p := Window2D{H: 7, W: 7, OH: 7, OW: 7, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, DH: 1, DW: 1}
	wt, x := randF32(r, m*cg*9, 1), randF32(r, cg*49, 1)
	for _, bt := range backendsUnderTest() {
		kern := bt.t.convImplicit2D
		if kern == nil {
			continue
		}
		whole, split := make([]float32, m*49), make([]float32, m*49)
		kern(m, cg, &p, wt, x, whole, 0, 49)
		kern(m, cg, &p, wt, x, split, 0, 48)
		kern(m, cg, &p, wt, x, split, 48, 49)
		for i := range whole {
			if math.Float32bits(whole[i]) != math.Float32bits(split[i]) {
				t.Fatalf("%s: y[%d] = %g in one call, %g in two", bt.name, i, whole[i], split[i])
			}
		}
	}
}

// BenchmarkConvImplicit2D: implicit GEMM against the path it replaces (Go im2col + SGEMM on
// the same backend) and the Go reference, on 3×3 same-size convolutions of the bench set.
func BenchmarkConvImplicit2D(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range [][4]int{{64, 64, 56, 56}, {16, 16, 32, 32}, {32, 3, 64, 64}, {256, 256, 14, 14}} {
		m, cg, h, w := s[0], s[1], s[2], s[3]
		k, n := cg*9, h*w
		wt, x, y := randF32(r, m*k, 1), randF32(r, cg*n, 1), make([]float32, m*n)
		col := make([]float32, k*n)
		flops := float64(2*m*n*k) / 1e9
		for _, bt := range backendsUnderTest() {
			if bt.t.convImplicit2D != nil {
				b.Run(fmt.Sprintf("%s/implicit/%dx%dx%dx%d", bt.name, m, cg, h, w), func(b *testing.B) {
					for i := 0; i < b.N; i++ {
						p := Window2D{H: h, W: w, OH: h, OW: w, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, DH: 1, DW: 1}
						bt.t.convImplicit2D(m, cg, &p, wt, x, y, 0, n) // same-size: the masked-load path
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
					p := Window2D{H: h, W: w, OH: h, OW: w, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, DH: 1, DW: 1}
					refConvImplicit2D(m, cg, &p, wt, x, y, 0, n)
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

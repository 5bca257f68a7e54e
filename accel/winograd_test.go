package accel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

type winoCase struct {
	c, m int
	g    WinogradGeom
}

// winoCases: same and valid padding, asymmetric pads, odd sizes, images narrower than
// 8 tiles (the gather path) and wider (the row path, with partial groups of 16 tiles),
// batches whose tiles span images, channel counts off multiples of 16, and a filter
// bank with enough tiles for several blocks (TestWinograd3x3 makes blocks small on
// every other case).
func winoCases(r *rand.Rand) []winoCase {
	mk := func(n, c, m, h, w, pt, pb, pl, pr int) winoCase {
		return winoCase{c, m, WinogradGeom{N: n, H: h, W: w, PT: pt, PL: pl, OH: h + pt + pb - 2, OW: w + pl + pr - 2}}
	}
	cs := []winoCase{
		mk(1, 1, 1, 1, 1, 1, 1, 1, 1), mk(1, 3, 5, 4, 4, 1, 1, 1, 1), mk(2, 7, 9, 7, 9, 1, 1, 1, 1),
		mk(1, 16, 16, 8, 8, 0, 0, 0, 0), mk(3, 5, 17, 8, 8, 1, 1, 1, 1), mk(1, 9, 3, 33, 35, 1, 1, 1, 1),
		mk(1, 4, 6, 67, 29, 1, 0, 0, 1), mk(2, 20, 12, 31, 64, 0, 1, 1, 1), mk(1, 30, 50, 20, 20, 1, 1, 1, 1),
		mk(16, 8, 16, 8, 8, 1, 1, 1, 1), mk(1, 2, 2, 3, 130, 0, 0, 1, 1),
	}
	for i := 0; i < 16; i++ {
		h, w := 1+r.IntN(40), 1+r.IntN(80)
		pt, pb, pl, pr := r.IntN(2), r.IntN(2), r.IntN(2), r.IntN(2)
		if h+pt+pb < 3 || w+pl+pr < 3 {
			continue
		}
		cs = append(cs, mk(1+r.IntN(3), 1+r.IntN(40), 1+r.IntN(40), h, w, pt, pb, pl, pr))
	}
	return cs
}

// directConv3x3 is the float64 reference: y and, per output, Σ|w·x| + |bias| (the
// scale of its rounding error).
func directConv3x3(c, m int, g WinogradGeom, x, w, bias []float32) (y, mag []float64) {
	ohw, hw := g.OH*g.OW, g.H*g.W
	y, mag = make([]float64, g.N*m*ohw), make([]float64, g.N*m*ohw)
	for img := 0; img < g.N; img++ {
		for o := 0; o < m; o++ {
			for oy := 0; oy < g.OH; oy++ {
				for ox := 0; ox < g.OW; ox++ {
					var s, a float64
					if bias != nil {
						s, a = float64(bias[o]), math.Abs(float64(bias[o]))
					}
					for ci := 0; ci < c; ci++ {
						for ky := 0; ky < 3; ky++ {
							for kx := 0; kx < 3; kx++ {
								yy, xx := oy+ky-g.PT, ox+kx-g.PL
								if yy < 0 || yy >= g.H || xx < 0 || xx >= g.W {
									continue
								}
								p := float64(w[((o*c+ci)*3+ky)*3+kx]) * float64(x[(img*c+ci)*hw+yy*g.W+xx])
								s, a = s+p, a+math.Abs(p)
							}
						}
					}
					i := (img*m+o)*ohw + oy*g.OW + ox
					y[i], mag[i] = s, a
				}
			}
		}
	}
	return y, mag
}

// winoTol is the documented error bound of Winograd F(4×4, 3×3) in float32: every
// output within winoTol·(Σ|w·x| + |bias|) of the exact convolution. The transforms'
// coefficients (up to 8·5 in Aᵀ·Bᵀ, 1/6 and 1/24 in G) cost a few bits against a
// direct sum; TestWinograd3x3 logs the worst ratio seen (2⁻¹⁸ on these cases, uniform
// data in [−1, 1]), the bound leaves a factor 8 for less friendly data.
const winoTol = 1.0 / (1 << 15)

type winoKernels struct {
	name string
	in   winoInFunc
	out  winoOutFunc
	gemm winoGEMMFunc
}

func winoKernelsUnderTest() []winoKernels {
	ks := []winoKernels{{"go", refWinogradIn, refWinogradOut, refWinogradGEMM}}
	for _, bt := range backendsUnderTest() {
		if bt.t.winoIn != nil {
			ks = append(ks, winoKernels{bt.name, bt.t.winoIn, bt.t.winoOut, bt.t.winoGEMM})
		}
	}
	return ks
}

// TestWinograd3x3 checks the whole convolution (Go reference transforms and every
// backend's kernels) against the float64 direct convolution, with NaN in the output
// beforehand (every output must be written) and guard values after it.
func TestWinograd3x3(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 3))
	worst, tested := 0.0, map[string]bool{}
	defer func(b int) { winoBlockBytes = b }(winoBlockBytes)
	for ci, c := range winoCases(r) {
		winoBlockBytes = []int{1 << 22, 1 << 15}[ci%2] // 16 tiles a block for the second
		x, w := randF32(r, c.g.N*c.c*c.g.H*c.g.W, 1), randF32(r, c.m*c.c*9, 1)
		var bias []float32
		if r.IntN(2) == 0 {
			bias = randF32(r, c.m, 1)
		}
		want, mag := directConv3x3(c.c, c.m, c.g, x, w, bias)
		act := []Act{{Kind: ActNone}, {Kind: ActRelu}, {Kind: ActClip, P: -0.5, Q: 0.75}}[ci%3]
		lo, hi := winoBounds(act)
		for i, v := range want {
			want[i] = min(max(v, float64(lo)), float64(hi))
		}
		wt := NewWinogradWeights(w, c.m, c.c)
		for _, k := range winoKernelsUnderTest() {
			tested[k.name] = true
			name := fmt.Sprintf("%s/c=%d,m=%d,%+v", k.name, c.c, c.m, c.g)
			const guard = 7.25
			y := make([]float32, len(want)+16)
			for i := range y {
				y[i] = float32(math.NaN())
			}
			for i := len(want); i < len(y); i++ {
				y[i] = guard
			}
			scratch := make([]float32, WinogradScratchLen(wt, c.g))
			winograd3x3(k.in, k.out, k.gemm, wt, c.g, x, bias, act, y, scratch)
			for i, v := range want {
				d := math.Abs(float64(y[i]) - v)
				if !(d <= winoTol*mag[i]+1e-30) {
					t.Fatalf("%s: y[%d] = %g, want %g (error %.3g, bound %.3g)", name, i, y[i], v, d, winoTol*mag[i])
				}
				if mag[i] > 0 {
					worst = max(worst, d/mag[i])
				}
			}
			for i := len(want); i < len(y); i++ {
				if y[i] != guard {
					t.Fatalf("%s: wrote past the output at %d", name, i)
				}
			}
		}
	}
	t.Logf("kernels tested: %v", tested)
	t.Logf("worst error / (Σ|w·x| + |bias|) = %.3g = 2^%.1f (bound 2^%.0f)", worst, math.Log2(worst), math.Log2(winoTol))
}

// TestWinogradKernelsMatchRef checks each backend's transforms against the Go
// reference transforms on sub-ranges of channels and tiles, with NaN in the unwritten
// parts of the scratch kept as they were.
func TestWinogradKernelsMatchRef(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 8))
	for _, k := range winoKernelsUnderTest()[1:] {
		for _, c := range winoCases(r) {
			name := fmt.Sprintf("%s/c=%d,m=%d,%+v", k.name, c.c, c.m, c.g)
			_, _, tiles := c.g.tiles()
			t0 := r.IntN(tiles)
			t1 := t0 + 1 + r.IntN(tiles-t0)
			c0 := r.IntN(c.c)
			c1 := c0 + 1 + r.IntN(c.c-c0)
			nt := t1 - t0
			x := randF32(r, c.g.N*c.c*c.g.H*c.g.W, 1)
			got, want := make([]float32, 36*c.c*nt), make([]float32, 36*c.c*nt)
			for i := range got {
				got[i], want[i] = -3, -3
			}
			k.in(x, c.c, &c.g, c0, c1, t0, t1, got, nt, c.c*nt)
			refWinogradIn(x, c.c, &c.g, c0, c1, t0, t1, want, nt, c.c*nt)
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*(1+math.Abs(float64(want[i]))) {
					t.Fatalf("%s: input transform [%d] = %g, want %g", name, i, got[i], want[i])
				}
			}
			mm := randF32(r, 36*c.m*nt, 1)
			bias := randF32(r, c.m, 1)
			o0 := r.IntN(c.m)
			o1 := o0 + 1 + r.IntN(c.m-o0)
			n := c.g.N * c.m * c.g.OH * c.g.OW
			yg, yw := make([]float32, n), make([]float32, n)
			for i := range yg {
				yg[i], yw[i] = -5, -5
			}
			k.out(mm, nt, c.m*nt, c.m, &c.g, o0, o1, t0, t1, bias, -0.25, 0.5, yg)
			refWinogradOut(mm, nt, c.m*nt, c.m, &c.g, o0, o1, t0, t1, bias, -0.25, 0.5, yw)
			for i := range yw {
				if d := math.Abs(float64(yg[i] - yw[i])); d > 1e-5*(1+math.Abs(float64(yw[i]))) {
					t.Fatalf("%s: output transform [%d] = %g, want %g", name, i, yg[i], yw[i])
				}
			}
		}
	}
}

// TestWinogradGEMM checks each backend's product kernel against the Go reference on
// odd sizes (rows off the 12-row panels, columns off 16 and 32), with guards around M.
func TestWinogradGEMM(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, k := range winoKernelsUnderTest()[1:] {
		for i := 0; i < 40; i++ {
			m, n, kk := 1+r.IntN(40), 1+r.IntN(70), 1+r.IntN(50)
			ldv, ldm := n+r.IntN(3), n+r.IntN(3)
			wt := NewWinogradWeights(randF32(r, m*kk*9, 1), m, kk)
			up := wt.u[:wt.stride()]
			v := randF32(r, kk*ldv, 1)
			got, want := make([]float32, m*ldm+8), make([]float32, m*ldm+8)
			for j := range got {
				got[j], want[j] = 9, 9
			}
			k.gemm(m, n, kk, up, v, ldv, got, ldm)
			refWinogradGEMM(m, n, kk, up, v, ldv, want, ldm)
			for j := range want {
				if d := math.Abs(float64(got[j] - want[j])); d > 1e-5*float64(kk) {
					t.Fatalf("%s: m=%d n=%d k=%d: M[%d] = %g, want %g", k.name, m, n, kk, j, got[j], want[j])
				}
			}
		}
	}
}

// TestWinogradWeights checks the filter transform on a filter that is one tap: U_e is
// then G's column products, known in closed form.
func TestWinogradWeights(t *testing.T) {
	for tap := 0; tap < 9; tap++ {
		w := make([]float32, 9)
		w[tap] = 1
		wt := NewWinogradWeights(w, 1, 1)
		for i := 0; i < 6; i++ {
			for j := 0; j < 6; j++ {
				want := float32(winoG[i][tap/3] * winoG[j][tap%3])
				if got := wt.at(i*6+j, 0, 0); got != want {
					t.Fatalf("tap %d: U[%d][%d] = %g, want %g", tap, i, j, got, want)
				}
			}
		}
	}
}

// BenchmarkWinograd3x3 compares Winograd with the implicit GEMM it replaces on the 3×3
// stride-1 layers of resnet18 (224²), the UNet (64²) and the batch-16 small CNN (8²).
func BenchmarkWinograd3x3(b *testing.B) {
	type shape struct {
		name          string
		n, c, m, h, w int // w 0: square
	}
	for _, s := range []shape{
		{"resnet-56x56x64", 1, 64, 64, 56, 0}, {"resnet-28x28x128", 1, 128, 128, 28, 0}, {"resnet-14x14x256", 1, 256, 256, 14, 0},
		{"unet-64x64x16", 1, 16, 16, 64, 0}, {"unet-32x32x32", 1, 32, 32, 32, 0}, {"smallcnn-16x8x8x32", 16, 16, 32, 8, 0}, {"smallcnn-16x8x8x32to64", 16, 32, 64, 8, 0},
		{"ocrhead-24x80x32to16", 1, 32, 16, 24, 80},
	} {
		if s.w == 0 {
			s.w = s.h
		}
		r := rand.New(rand.NewPCG(1, 2))
		g := WinogradGeom{N: s.n, H: s.h, W: s.w, PT: 1, PL: 1, OH: s.h, OW: s.w}
		x, w := randF32(r, s.n*s.c*s.h*s.w, 1), randF32(r, s.m*s.c*9, 1)
		y := make([]float32, s.n*s.m*s.h*s.w)
		flops := float64(2 * s.n * s.m * s.c * 9 * s.h * s.w)
		wt := NewWinogradWeights(w, s.m, s.c)
		scratch := make([]float32, WinogradScratchLen(wt, g))
		if HasWinograd3x3() {
			b.Run(s.name+"/winograd", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					Winograd3x3(wt, g, x, nil, Act{}, y, scratch)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s-direct")
			})
		}
		if HasConvImplicit2D() {
			p := Window2D{H: s.h, W: s.w, OH: s.h, OW: s.w, KH: 3, KW: 3, SH: 1, SW: 1, PH: 1, PW: 1, DH: 1, DW: 1}
			b.Run(s.name+"/implicit", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					for img := 0; img < s.n; img++ {
						ConvImplicit2D(s.m, s.c, p, w, x[img*s.c*s.h*s.w:], y[img*s.m*s.h*s.w:])
					}
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s-direct")
			})
		}
		b.Run(s.name+"/go-reference", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				winograd3x3(refWinogradIn, refWinogradOut, refWinogradGEMM, wt, g, x, nil, Act{}, y, scratch)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s-direct")
		})
	}
}

// TestWinograd3x3SameBitsAnyPlan: one thread, two threads splitting the tiles between
// them (winogradPlan), and small blocks give the same bits, and a scratch sized for one
// thread makes a two-thread call fall back to what fits.
func TestWinograd3x3SameBitsAnyPlan(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 4))
	defer SetMaxThreads(SetMaxThreads(0))
	defer func(b int) { winoBlockBytes = b }(winoBlockBytes)
	for _, s := range []struct{ n, c, m, h, w int }{{1, 16, 24, 55, 55}, {2, 8, 8, 60, 34}, {1, 16, 16, 64, 64}} {
		g := WinogradGeom{N: s.n, H: s.h, W: s.w, PT: 1, PL: 1, OH: s.h, OW: s.w}
		x, w, bias := randF32(r, s.n*s.c*s.h*s.w, 1), randF32(r, s.m*s.c*9, 1), randF32(r, s.m, 1)
		wt := NewWinogradWeights(w, s.m, s.c)
		_, _, tiles := g.tiles()
		if _, slots := winogradPlan(s.m, s.c, tiles, 2); slots < 2 {
			t.Fatalf("%+v: %d tiles are not split between two threads", s, tiles)
		}
		for _, k := range winoKernelsUnderTest() {
			run := func(threads, blockBytes, scratchThreads int) []float32 {
				winoBlockBytes = blockBytes
				SetMaxThreads(scratchThreads)
				scratch := make([]float32, WinogradScratchLen(wt, g))
				SetMaxThreads(threads)
				y := make([]float32, s.n*s.m*s.h*s.w)
				winograd3x3(k.in, k.out, k.gemm, wt, g, x, bias, Act{Kind: ActRelu}, y, scratch)
				return y
			}
			want := run(1, 1<<22, 1)
			for _, p := range [][3]int{{2, 1 << 22, 2}, {2, 1 << 15, 2}, {3, 1 << 22, 3}, {2, 1 << 22, 1}, {1, 1 << 15, 1}} {
				got := run(p[0], p[1], p[2])
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s, %+v, plan %v: y[%d] = %g, one thread %g", k.name, s, p, i, got[i], want[i])
					}
				}
			}
		}
	}
}

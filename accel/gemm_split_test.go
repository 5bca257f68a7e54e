package accel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestGEMMTilesSlabs: the slabs cover the output once, row slabs start on multiples of
// gemmRows, and a row is alone in a slab only when m = 1 (the one-row path sums in
// another order).
func TestGEMMTilesSlabs(t *testing.T) {
	for _, th := range []int{2, 3, 4} {
		withThreads(t, th, func() {
			for _, s := range [][3]int{{25, 20, 1100}, {13, 12, 4000}, {1, 1, 1 << 19}, {97, 61, 100}, {300, 7, 300},
				{13, 2000, 33}, {64, 3136, 16}, {49, 48, 300}, {37, 5, 5000}, {1, 512, 128}, {2, 4096, 16}} {
				m, n, k := s[0], s[1], s[2]
				count := make([]int, m*n)
				rows := make(chan [2]int, 64)
				gemmTiles(m, n, k, func(i0, i1, j0, j1 int) {
					rows <- [2]int{i0, i1}
					for i := i0; i < i1; i++ {
						for j := j0; j < j1; j++ {
							count[i*n+j]++ // slabs are disjoint, so no race when correct
						}
					}
				})
				close(rows)
				for c, v := range count {
					if v != 1 {
						t.Fatalf("%d threads, %v: element %d covered %d times", th, s, c, v)
					}
				}
				for r := range rows {
					if r[0]%gemmRows != 0 || (r[1]-r[0] == 1 && m > 1) {
						t.Fatalf("%d threads, %v: row slab [%d, %d)", th, s, r[0], r[1])
					}
				}
			}
		})
	}
}

// TestGEMMThreadsSameBits: SGEMM (every transpose, with bias and beta), GEMMU8S8 and
// ConvImplicit2D give the same bits at 2 and 3 threads as at 1, on shapes just above
// the split thresholds with odd sizes and a lone last row.
func TestGEMMThreadsSameBits(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 17))
	shapes := [][3]int{{25, 20, 1100}, {1, 600, 1000}, {97, 61, 100}, {300, 7, 300}, {13, 2000, 33}, {49, 48, 300},
		{37, 5, 5000}, {2, 2, 1 << 17},
		// Matrix-vector products split from gemvPar (an LSTM step, SE blocks' 1×1 convs).
		{1, 512, 128}, {1, 48, 1152}, {2, 4096, 16}, {3, 100, 400}}
	run := func(th int, f func()) { withThreads(t, th, f) }
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		a, b := randF32(r, m*k, 1), randF32(r, k*n, 1)
		bias, c0 := randF32(r, n, 1), randF32(r, m*n, 1)
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			lda, ldb := k, n
			if tr[0] {
				lda = m
			}
			if tr[1] {
				ldb = k
			}
			var want []float32
			for _, th := range []int{1, 2, 3} {
				c := append([]float32(nil), c0...)
				run(th, func() { SGEMMBias(tr[0], tr[1], m, n, k, 1.5, a, lda, b, ldb, 0.5, c, n, bias) })
				if want == nil {
					want = c
					continue
				}
				for i := range c {
					if math.Float32bits(c[i]) != math.Float32bits(want[i]) {
						t.Fatalf("SGEMM %v trans %v: c[%d] = %g at %d threads, %g at 1", s, tr, i, c[i], th, want[i])
					}
				}
			}
		}
		a8, b8 := make([]uint8, m*k), make([]int8, k*n)
		for i := range a8 {
			a8[i] = uint8(r.IntN(256))
		}
		for i := range b8 {
			b8[i] = int8(r.IntN(256) - 128)
		}
		var want []int32
		for _, th := range []int{1, 2, 3} {
			c := make([]int32, m*n)
			run(th, func() { GEMMU8S8(false, m, n, k, a8, k, b8, n, c, n) })
			if want == nil {
				want = c
				continue
			}
			for i := range c {
				if c[i] != want[i] {
					t.Fatalf("GEMMU8S8 %v: c[%d] = %d at %d threads, %d at 1", s, i, c[i], th, want[i])
				}
			}
		}
	}
	if tab().convImplicit2D == nil {
		return
	}
	for _, cs := range [][5]int{{37, 24, 9, 9, 1}, {25, 48, 14, 14, 2}, {13, 128, 7, 7, 1}, {200, 32, 5, 5, 1}} {
		m, cg, h, w, st := cs[0], cs[1], cs[2], cs[3], cs[4]
		p := Window2D{H: h, W: w, OH: (h-1)/st + 1, OW: (w-1)/st + 1, KH: 3, KW: 3, SH: st, SW: st, PH: 1, PW: 1, DH: 1, DW: 1}
		wt, x := randF32(r, m*cg*9, 1), randF32(r, cg*h*w, 1)
		var want []float32
		for _, th := range []int{1, 2, 3} {
			y := make([]float32, m*p.OH*p.OW)
			run(th, func() { ConvImplicit2D(m, cg, p, wt, x, y) })
			if want == nil {
				want = y
				continue
			}
			for i := range y {
				if math.Float32bits(y[i]) != math.Float32bits(want[i]) {
					t.Fatalf("ConvImplicit2D %v: y[%d] = %g at %d threads, %g at 1", cs, i, y[i], th, want[i])
				}
			}
		}
	}
}

// BenchmarkGEMMSplit times 1×1-convolution-sized products between 2¹⁹ and 2²¹
// multiply-adds (which the pool used to leave to one thread) at 1 thread (the previous
// behaviour) and at 2.
func BenchmarkGEMMSplit(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range [][3]int{{24, 784, 48}, {40, 196, 120}, {96, 49, 288}, {144, 196, 24}} {
		m, n, k := s[0], s[1], s[2]
		a, bb, c := randF32(r, m*k, 1), randF32(r, k*n, 1), make([]float32, m*n)
		for _, th := range []int{1, 2} {
			b.Run(fmt.Sprintf("%dx%dx%d/threads=%d", m, n, k, th), func(b *testing.B) {
				withThreads(b, th, func() {
					for i := 0; i < b.N; i++ {
						SGEMM(false, false, m, n, k, 1, a, k, bb, n, 0, c, n)
					}
				})
			})
		}
	}
}

// TestSoftmaxThreadsSameBits: Softmax splits rows over threads from softmaxTaskElems
// values; every thread count gives the same bits.
func TestSoftmaxThreadsSameBits(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, s := range [][2]int{{256, 128}, {1000, 9}, {3, 5000}, {97, 200}} {
		rows, cols := s[0], s[1]
		src := randF32(r, rows*cols, 20)
		var want []float32
		for _, th := range []int{1, 2, 3} {
			got := make([]float32, len(src))
			withThreads(t, th, func() { Softmax(got, src, cols) })
			if want == nil {
				want = got
				continue
			}
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("Softmax %dx%d: [%d] = %g at %d threads, %g at 1", rows, cols, i, got[i], th, want[i])
				}
			}
		}
	}
}

package accel

import "math"

// Winograd F(4×4, 3×3) convolution for 3×3 filters, stride 1, dilation 1, no groups.
//
// Each 4×4 block ("tile") of output pixels is computed from the 6×6 input patch under it
// as Y = Aᵀ [U ⊙ V] A, where V = Bᵀ d B is the patch transformed and U = G g Gᵀ the filter
// transformed (once, when the weights are fixed). Summed over input channels, the 36
// element-wise products become 36 independent GEMMs M_e (m × tiles) = U_e (m × c) · V_e
// (c × tiles): 36·m·c multiply-adds per tile instead of direct convolution's 144·m·c, a
// 4× cut in arithmetic, paid for by the transforms (linear in m + c) and by rounding:
// the transforms multiply by up to 8·5 (Aᵀ, Bᵀ) and divide by 6 and 24 (G), so a result
// carries several times the rounding error of a direct sum: within 2⁻¹⁵·Σ|w·x| of the
// exact convolution (TestWinograd3x3 checks that bound against a float64 reference).
//
// The tiles of all images of a batch are numbered together (t = image·TY·TX + ty·TX + tx),
// so small images still give the GEMMs a useful width. Work is split in fixed blocks of
// tiles, fixed channel ranges and the 36 GEMMs: every thread count gives the same bits.

// WinogradWeights is a 3×3 filter bank (m outputs × c inputs) in the Winograd domain:
// 36 matrices U_e of m×c, each packed in panels of winoMR rows ([panel][c][winoMR], rows
// past m zero) so that the GEMMs read them as they are, never repacking. Read-only once
// made; it takes 36/9 = 4× the memory of the filters (a little more when m is not a
// multiple of winoMR).
type WinogradWeights struct {
	M, C int
	u    []float32
}

// winoMR is the row count of the GEMM kernel's register tile, and of U's panels.
const winoMR = 12

// stride is the size of one packed U_e.
func (wt *WinogradWeights) stride() int { return (wt.M + winoMR - 1) / winoMR * winoMR * wt.C }

// at is U_e[o][ci].
func (wt *WinogradWeights) at(e, o, ci int) float32 {
	return wt.u[e*wt.stride()+(o/winoMR)*wt.C*winoMR+ci*winoMR+o%winoMR]
}

// winoG is G of F(4×4, 3×3) (Lavin & Gray 2015): U = G g Gᵀ.
var winoG = [6][3]float64{
	{1.0 / 4, 0, 0},
	{-1.0 / 6, -1.0 / 6, -1.0 / 6},
	{-1.0 / 6, 1.0 / 6, -1.0 / 6},
	{1.0 / 24, 1.0 / 12, 1.0 / 6},
	{1.0 / 24, -1.0 / 12, 1.0 / 6},
	{0, 0, 1},
}

// NewWinogradWeights transforms the filters w (m×c×3×3, ONNX's OIHW layout) once. The
// transform is computed in float64 and rounded once, so U carries no extra error.
func NewWinogradWeights(w []float32, m, c int) *WinogradWeights {
	const fn = "NewWinogradWeights"
	if !(m > 0 && c > 0 && len(w) >= m*c*9) {
		fail(fn, "bad filter bank: %d values for %d×%d×3×3", len(w), m, c)
	}
	wt := &WinogradWeights{M: m, C: c}
	es := wt.stride()
	wt.u = make([]float32, 36*es)
	for o := 0; o < m; o++ {
		for ci := 0; ci < c; ci++ {
			g := w[(o*c+ci)*9:]
			var tmp [6][3]float64 // G g
			for i := 0; i < 6; i++ {
				for j := 0; j < 3; j++ {
					for k := 0; k < 3; k++ {
						tmp[i][j] += winoG[i][k] * float64(g[k*3+j])
					}
				}
			}
			for i := 0; i < 6; i++ {
				for j := 0; j < 6; j++ {
					var s float64 // (G g) Gᵀ
					for k := 0; k < 3; k++ {
						s += tmp[i][k] * winoG[j][k]
					}
					wt.u[(i*6+j)*es+(o/winoMR)*c*winoMR+ci*winoMR+o%winoMR] = float32(s)
				}
			}
		}
	}
	return wt
}

// WinogradGeom is one Winograd convolution's geometry: n images of c planes H×W, read
// with PT rows and PL columns of zero padding before them, giving OH×OW outputs (the
// padding after is whatever OH and OW make it: reads past the image are zeros).
type WinogradGeom struct {
	N, H, W, PT, PL, OH, OW int
}

// tiles returns the tile grid of one image and the number of tiles of the batch.
func (g WinogradGeom) tiles() (ty, tx, total int) {
	ty, tx = (g.OH+3)/4, (g.OW+3)/4
	return ty, tx, g.N * ty * tx
}

// WinogradTiles is the number of 4×4 output tiles of the whole batch (the GEMMs' width).
func WinogradTiles(g WinogradGeom) int {
	_, _, t := g.tiles()
	return t
}

// HasWinograd3x3 reports whether the selected backend has Winograd transform kernels
// (AVX-512 only: elsewhere the implicit GEMM or im2col is as fast or faster).
func HasWinograd3x3() bool { return tab().winoIn != nil }

// winoBlockBytes bounds one block's transformed input and output (36·(c+m)·tiles
// floats, 4 MB: measured on resnet18's and the UNet's layers against 1 and 16 MB), so
// that a block's GEMMs read and write what is still in cache. A variable so that tests
// can make blocks small.
var winoBlockBytes = 1 << 22

// winogradBlock is the number of tiles per block: a multiple of 16 (the kernels' lane
// count), at least 16, at most the whole batch.
func winogradBlock(m, c, tiles int) int {
	b := winoBlockBytes / (36 * 4 * (m + c))
	b = max(16, b&^15)
	return min(b, tiles)
}

// winoTaskTiles is the fewest tiles per thread worth splitting the tiles between threads
// (at two threads: SqueezeNet's 55² layers, 98 a thread, and the UNet's 64² ones, 128,
// ran 10 % faster split; the OCR head's 24×80, 60 a thread, 10 % slower).
const winoTaskTiles = 96

// winoTaskBytes bounds one thread's share of the transformed data (36·(c+m) floats per
// tile) for the tiles to be split between threads: past it, the share no longer stays
// in the core's cache and splitting each phase was faster (resnet18's 56² layer, 2.1 MB
// a thread: 0.63–0.81 → 0.77–0.88 ms; the UNet's 64²×16 layer, 0.6 MB: 0.11–0.21 →
// 0.08–0.10 ms at two threads).
const winoTaskBytes = 3 << 19

// winogradPlan returns the tiles per block and the number of blocks in flight at once
// (each with its own scratch) for threads threads. With tiles enough for every thread,
// each thread takes whole blocks and runs the three phases on them alone, so a block's
// data stays in its core's cache and the threads meet once; otherwise one block at a
// time, its phases split between the threads. A tile's result does not depend on the
// block it is in, so the bits are the same for any plan.
func winogradPlan(m, c, tiles, threads int) (blk, slots int) {
	blk = winogradBlock(m, c, tiles)
	perThread := ((tiles+threads-1)/threads + 15) &^ 15
	if threads <= 1 || tiles < threads*winoTaskTiles || 36*4*(m+c)*perThread > winoTaskBytes {
		return blk, 1
	}
	blk = min(blk, perThread)
	return blk, min(threads, (tiles+blk-1)/blk)
}

// WinogradScratchLen is the number of floats Winograd3x3 needs as scratch (at the
// current MaxThreads; with less, Winograd3x3 uses fewer threads).
func WinogradScratchLen(wt *WinogradWeights, g WinogradGeom) int {
	_, _, t := g.tiles()
	blk, slots := winogradPlan(wt.M, wt.C, t, MaxThreads())
	return 36 * (wt.M + wt.C) * blk * slots
}

// Winograd3x3 computes y = act(conv(x, w) + bias) for n images: x is n×c×H×W, y
// n×m×OH×OW (overwritten), bias nil or m values, act ActNone, ActRelu or ActClip (applied
// in the output transform, as BiasAct would: NaN stays NaN). scratch holds
// WinogradScratchLen floats; its contents are overwritten. It returns false, touching
// nothing, when the backend has no Winograd kernels.
func Winograd3x3(wt *WinogradWeights, g WinogradGeom, x, bias []float32, act Act, y, scratch []float32) bool {
	t := tab()
	if t.winoIn == nil || len(x) >= 1<<31 { // the gather path indexes x with int32
		return false
	}
	winograd3x3(t.winoIn, t.winoOut, t.winoGEMM, wt, g, x, bias, act, y, scratch)
	return true
}

// winoBounds returns act as the clamp [lo, hi] the output transform applies.
func winoBounds(act Act) (lo, hi float32) {
	inf := float32(math.Inf(1))
	switch act.Kind {
	case ActNone:
		return -inf, inf
	case ActRelu:
		return 0, inf
	case ActClip:
		return act.P, act.Q
	}
	fail("Winograd3x3", "activation %d is not None, Relu or Clip", act.Kind)
	return 0, 0
}

type winoInFunc func(x []float32, c int, g *WinogradGeom, c0, c1, t0, t1 int, v []float32, ldv, es int)
type winoOutFunc func(mm []float32, ldm, es int, m int, g *WinogradGeom, o0, o1, t0, t1 int, bias []float32, lo, hi float32, y []float32)
type winoGEMMFunc func(m, n, k int, up, v []float32, ldv int, mm []float32, ldm int)

// winograd3x3 runs the three phases block by block with the given kernels (tests pass
// the Go references): blocks split between the threads, or each block's phases split
// (winogradPlan).
func winograd3x3(in winoInFunc, out winoOutFunc, gemm winoGEMMFunc, wt *WinogradWeights, g WinogradGeom, x, bias []float32, act Act, y, scratch []float32) {
	const fn = "Winograd3x3"
	m, c := wt.M, wt.C
	_, _, tiles := g.tiles()
	if !(g.N >= 0 && g.H > 0 && g.W > 0 && g.PT >= 0 && g.PL >= 0 && g.OH > 0 && g.OW > 0) {
		fail(fn, "bad geometry %+v", g)
	}
	if !(len(x) >= g.N*c*g.H*g.W && len(y) >= g.N*m*g.OH*g.OW && (bias == nil || len(bias) >= m)) {
		fail(fn, "buffers too short for %+v, %d→%d channels", g, c, m)
	}
	if tiles == 0 {
		return
	}
	lo, hi := winoBounds(act)
	// The plan for as many threads as the scratch allows (MaxThreads may have changed
	// since the caller sized it).
	threads := MaxThreads()
	blk, slots := winogradPlan(m, c, tiles, threads)
	for ; 36*(m+c)*blk*slots > len(scratch) && threads > 1; threads-- {
		blk, slots = winogradPlan(m, c, tiles, threads-1)
	}
	if 36*(m+c)*blk*slots > len(scratch) {
		fail(fn, "scratch has %d floats, need %d", len(scratch), 36*(m+c)*blk*slots)
	}
	es := wt.stride()
	block := func(sc []float32, t0 int, split bool) {
		t1 := min(t0+blk, tiles)
		nt := t1 - t0
		v := sc[:36*c*blk]
		mm := sc[36*c*blk : 36*(c+m)*blk]
		// Input transform: V_e[ci][t] for every channel, fixed channel ranges per task.
		phase(split, c, max(1, 256/nt), func(c0, c1 int) {
			in(x, c, &g, c0, c1, t0, t1, v, nt, c*nt)
		})
		// 36 GEMMs M_e = U_e · V_e, one per task.
		phase(split, 36, 1, func(e0, e1 int) {
			for e := e0; e < e1; e++ {
				gemm(m, nt, c, wt.u[e*es:(e+1)*es], v[e*c*nt:], nt, mm[e*m*nt:], nt)
			}
		})
		// Output transform with the bias and clamp, fixed output-channel ranges per task.
		phase(split, m, max(1, 256/nt), func(o0, o1 int) {
			out(mm, nt, m*nt, m, &g, o0, o1, t0, t1, bias, lo, hi, y)
		})
	}
	if slots == 1 {
		for t0 := 0; t0 < tiles; t0 += blk {
			block(scratch, t0, true)
		}
		return
	}
	// Blocks dealt round-robin to the slots, one thread each.
	per := 36 * (m + c) * blk
	ParallelFor(slots, 1, func(s0, s1 int) {
		for sl := s0; sl < s1; sl++ {
			for t0 := sl * blk; t0 < tiles; t0 += slots * blk {
				block(scratch[sl*per:(sl+1)*per], t0, false)
			}
		}
	})
}

// phase runs fn over [0, n) in pieces of grain: on the pool when split, else here.
func phase(split bool, n, grain int, fn func(lo, hi int)) {
	if split {
		ParallelFor(n, grain, fn)
	} else {
		fn(0, n)
	}
}

// refWinogradIn is the Go reference of the input transform: for channels [c0, c1) and
// tiles [t0, t1) of the batch, V_e[ci][t−t0] = (Bᵀ d B)_e with d the tile's 6×6 patch
// (zeros outside the image), stored at v[e·es + ci·ldv + t−t0].
func refWinogradIn(x []float32, c int, g *WinogradGeom, c0, c1, t0, t1 int, v []float32, ldv, es int) {
	ty, tx, _ := g.tiles()
	hw := g.H * g.W
	for t := t0; t < t1; t++ {
		img, r := t/(ty*tx), t%(ty*tx)
		y0, x0 := (r/tx)*4-g.PT, (r%tx)*4-g.PL
		for ci := c0; ci < c1; ci++ {
			plane := x[(img*c+ci)*hw : (img*c+ci+1)*hw]
			var d [6][6]float32
			for i := 0; i < 6; i++ {
				for j := 0; j < 6; j++ {
					if yy, xx := y0+i, x0+j; yy >= 0 && yy < g.H && xx >= 0 && xx < g.W {
						d[i][j] = plane[yy*g.W+xx]
					}
				}
			}
			var rows [6][6]float32 // d B, row by row
			for i := 0; i < 6; i++ {
				rows[i] = winoBT(d[i])
			}
			for j := 0; j < 6; j++ {
				col := winoBT([6]float32{rows[0][j], rows[1][j], rows[2][j], rows[3][j], rows[4][j], rows[5][j]})
				for i := 0; i < 6; i++ {
					v[(i*6+j)*es+ci*ldv+t-t0] = col[i]
				}
			}
		}
	}
}

// winoBT is Bᵀ·d for one column d (the same sums, in the same order, as the kernels).
func winoBT(d [6]float32) [6]float32 {
	return [6]float32{
		4*d[0] - 5*d[2] + d[4],
		-4*d[1] - 4*d[2] + d[3] + d[4],
		4*d[1] - 4*d[2] - d[3] + d[4],
		-2*d[1] - d[2] + 2*d[3] + d[4],
		2*d[1] - d[2] - 2*d[3] + d[4],
		4*d[1] - 5*d[3] + d[5],
	}
}

// winoAT is Aᵀ·s for one column s of the 6×6 product.
func winoAT(s [6]float32) [4]float32 {
	return [4]float32{
		s[0] + s[1] + s[2] + s[3] + s[4],
		s[1] - s[2] + 2*s[3] - 2*s[4],
		s[1] + s[2] + 4*s[3] + 4*s[4],
		s[1] - s[2] + 8*s[3] - 8*s[4] + s[5],
	}
}

// refWinogradOut is the Go reference of the output transform: for output channels
// [o0, o1) and tiles [t0, t1), the tile's 4×4 outputs Aᵀ M A + bias clamped to [lo, hi]
// (NaN kept), M_e read at mm[e·es + o·ldm + t−t0]; outputs past OH×OW are dropped.
func refWinogradOut(mm []float32, ldm, es int, m int, g *WinogradGeom, o0, o1, t0, t1 int, bias []float32, lo, hi float32, y []float32) {
	ty, tx, _ := g.tiles()
	ohw := g.OH * g.OW
	for t := t0; t < t1; t++ {
		img, r := t/(ty*tx), t%(ty*tx)
		y0, x0 := (r/tx)*4, (r%tx)*4
		for o := o0; o < o1; o++ {
			var cols [6][4]float32 // Aᵀ applied to each column of M
			for j := 0; j < 6; j++ {
				var s [6]float32
				for i := 0; i < 6; i++ {
					s[i] = mm[(i*6+j)*es+o*ldm+t-t0]
				}
				cols[j] = winoAT(s)
			}
			var b float32
			if bias != nil {
				b = bias[o]
			}
			plane := y[(img*m+o)*ohw : (img*m+o+1)*ohw]
			for i := 0; i < 4; i++ {
				row := winoAT([6]float32{cols[0][i], cols[1][i], cols[2][i], cols[3][i], cols[4][i], cols[5][i]})
				for j := 0; j < 4; j++ {
					if yy, xx := y0+i, x0+j; yy < g.OH && xx < g.OW {
						v := row[j] + b
						if v < lo {
							v = lo
						}
						if v > hi {
							v = hi
						}
						plane[yy*g.OW+xx] = v
					}
				}
			}
		}
	}
}

// refWinogradGEMM is the Go reference of the product M = U·V of winoGEMMFunc: U packed
// in panels of winoMR rows (up), V k×n (leading dimension ldv), M m×n (ldm) overwritten.
func refWinogradGEMM(m, n, k int, up, v []float32, ldv int, mm []float32, ldm int) {
	for o := 0; o < m; o++ {
		a := up[(o/winoMR)*k*winoMR+o%winoMR:]
		row := mm[o*ldm : o*ldm+n]
		clear(row)
		for p := 0; p < k; p++ {
			ap := a[p*winoMR]
			for j, b := range v[p*ldv : p*ldv+n] {
				row[j] += ap * b
			}
		}
	}
}

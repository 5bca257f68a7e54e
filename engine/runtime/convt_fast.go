package runtime

import (
	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/ir"
)

// 2-D ConvTranspose's col2im without the landing table: for each kernel tap the input
// rows land on output rows oy = iy·sh + ky·dh − ph, each input row's valid columns a
// strided run of one output row, so the loop computes its range once per row instead of
// reading one table entry per value. A UNet's upsampling (kernel = stride = 2, no
// padding) writes every output exactly once, row by row, two taps interleaved: no
// zeroed output to add into. Output channels are split over the pool; every value sums
// its taps in the table path's order (kernel taps ascending).

// convTRows switches this path on; BenchmarkConvTranspose2x turns it off to time the
// landing table.
var convTRows = true

// convT2D holds the 2-D geometry of one ConvTranspose.
type convT2D struct {
	h, w, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw int
}

// tiles reports whether every output is written exactly once: kernel = stride, no
// dilation, padding or output padding.
func (g convT2D) tiles() bool {
	return g.kh == g.sh && g.kw == g.sw && g.dh == 1 && g.dw == 1 && g.ph == 0 && g.pw == 0 &&
		g.oh == g.h*g.sh && g.ow == g.w*g.sw
}

// col2im2D writes (tiles) or adds the mg·K rows of col (each h·w, one per output channel
// and kernel tap) into the mg output planes of y.
func (g convT2D) col2im2D(y, col []float32, mg int) {
	K, S, O := g.kh*g.kw, g.h*g.w, g.oh*g.ow
	accel.ParallelFor(mg, max(1, (1<<14)/max(K*S, 1)), func(j0, j1 int) {
		for j := j0; j < j1; j++ {
			plane, rows := y[j*O:(j+1)*O], col[j*K*S:(j+1)*K*S]
			if g.tiles() {
				g.tile(plane, rows)
			} else {
				g.scatter(plane, rows)
			}
		}
	})
}

// tile fills one output plane when kernel = stride: output (iy·sh + ky, ix·sw + kx) is
// tap (ky, kx) of input (iy, ix).
func (g convT2D) tile(plane, rows []float32) {
	S := g.h * g.w
	for iy := 0; iy < g.h; iy++ {
		for ky := 0; ky < g.kh; ky++ {
			orow := plane[(iy*g.sh+ky)*g.ow : (iy*g.sh+ky+1)*g.ow]
			if g.kw == 2 {
				r0 := rows[(ky*2)*S+iy*g.w : (ky*2)*S+(iy+1)*g.w]
				r1 := rows[(ky*2+1)*S+iy*g.w : (ky*2+1)*S+(iy+1)*g.w]
				r1 = r1[:len(r0)]
				orow = orow[:2*len(r0)]
				for ix, v := range r0 {
					orow[2*ix], orow[2*ix+1] = v, r1[ix]
				}
				continue
			}
			for kx := 0; kx < g.kw; kx++ {
				r := rows[(ky*g.kw+kx)*S+iy*g.w : (ky*g.kw+kx)*S+(iy+1)*g.w]
				for ix, v := range r {
					orow[ix*g.sw+kx] = v
				}
			}
		}
	}
}

// scatter adds every tap's rows into a zeroed output plane, kernel taps ascending.
func (g convT2D) scatter(plane, rows []float32) {
	S := g.h * g.w
	for ky := 0; ky < g.kh; ky++ {
		for kx := 0; kx < g.kw; kx++ {
			r := rows[(ky*g.kw+kx)*S : (ky*g.kw+kx+1)*S]
			ox0 := kx*g.dw - g.pw // output column of input column 0
			// Input columns landing inside the plane: 0 ≤ ix·sw + ox0 < ow.
			lo := 0
			if ox0 < 0 {
				lo = (-ox0 + g.sw - 1) / g.sw
			}
			hi := min(g.w, (g.ow-ox0+g.sw-1)/g.sw)
			if hi <= lo {
				continue
			}
			for iy := 0; iy < g.h; iy++ {
				oy := iy*g.sh + ky*g.dh - g.ph
				if oy < 0 || oy >= g.oh {
					continue
				}
				src := r[iy*g.w+lo : iy*g.w+hi]
				dst := plane[oy*g.ow+lo*g.sw+ox0:]
				if g.sw == 1 {
					dst = dst[:len(src)]
					for i, v := range src {
						dst[i] += v
					}
					continue
				}
				for i, v := range src {
					dst[i*g.sw] += v
				}
			}
		}
	}
}

// convTKey files a node's transposed weights in the session's table cache.
type convTKey struct{ n *ir.Node }

type convTWeightsEntry struct {
	w, wT []float32
}

// convTWeights returns W (per group cg × rows) transposed to rows × cg per group, kept
// per node when W is an initializer: the GEMM then takes both operands untransposed,
// the backend's unpacked kernel instead of packing Wᵀ on every run. Nil when W changes
// from run to run.
func (c *opContext) convTWeights(w []float32, group, cg, rows int) []float32 {
	if c.sess == nil || !c.inputFixed(1) || len(w) < group*cg*rows {
		return nil
	}
	if v, ok := c.sess.tables.Load(convTKey{c.node}); ok {
		if e := v.(*convTWeightsEntry); len(e.w) == len(w) && &e.w[0] == &w[0] {
			return e.wT
		}
	}
	wT := make([]float32, group*cg*rows)
	for gi := 0; gi < group; gi++ {
		src, dst := w[gi*cg*rows:(gi+1)*cg*rows], wT[gi*cg*rows:(gi+1)*cg*rows]
		for ci := 0; ci < cg; ci++ {
			for r := 0; r < rows; r++ {
				dst[r*cg+ci] = src[ci*rows+r]
			}
		}
	}
	c.sess.tables.Store(convTKey{c.node}, &convTWeightsEntry{w: w, wT: wT})
	return wT
}

// convT2x2Direct switches the direct 2×2 / stride-2 kernel on; BenchmarkConvTranspose2x2
// turns it off to time the GEMM, col2im and epilogue passes it replaces.
var convT2x2Direct = true

// convTDirect runs a ConvTranspose with kernel = stride = 2 (no padding or dilation)
// through accel.ConvTranspose2x2, per image and group: the four taps of each input pixel
// in registers, written interleaved with the bias and the activation applied before the
// only store, where the GEMM path writes a column buffer, copies it into the output and
// runs the epilogue as passes of their own. It reports false, writing nothing, where the
// backend has no such kernel or the epilogue is more than one activation.
func convTDirect(g convT2D, xf, wf, bias, y []float32, n, ch, m, group int, stages []epStage) bool {
	if !convT2x2Direct || g.kh != 2 || g.kw != 2 || !g.tiles() || !accel.HasConvTranspose2x2() {
		return false
	}
	act, ok := convTAct(stages)
	if !ok {
		return false
	}
	cg, mg, S, O := ch/group, m/group, g.h*g.w, g.oh*g.ow
	for img := 0; img < n; img++ {
		for gi := 0; gi < group; gi++ {
			var bs []float32
			if bias != nil {
				bs = bias[gi*mg : (gi+1)*mg]
			}
			accel.ConvTranspose2x2(cg, mg, g.h, g.w, xf[(img*ch+gi*cg)*S:(img*ch+(gi+1)*cg)*S], wf[gi*cg*mg*4:(gi+1)*cg*mg*4],
				bs, y[(img*m+gi*mg)*O:(img*m+(gi+1)*mg)*O], act)
		}
	}
	return true
}

// convTAct is the kernel activation of a fused ConvTranspose's epilogue: pointwiseAct's,
// and a lone Sigmoid (the kernel's has sigmoid32's bits on AVX-512, see accel.Sigmoid).
func convTAct(stages []epStage) (accel.Act, bool) {
	if len(stages) == 1 && stages[0].kind == 'g' {
		return accel.Act{Kind: accel.ActSigmoid}, true
	}
	return pointwiseAct(stages)
}

package runtime

import (
	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/ir"
)

// Winograd F(4×4, 3×3) for dense 3×3 convolutions (accel/winograd.go): a quarter of the
// multiply-adds of the implicit GEMM, for a few bits more rounding (within 2⁻¹⁵·Σ|w·x|).
// Taken for 3×3, stride-1, undilated, ungrouped float32 Convs whose weights are fixed,
// with enough output tiles (all images' 4×4 output blocks together) to fill the GEMMs,
// on backends with Winograd kernels only (AVX-512); everything else keeps the implicit
// GEMM or im2col. The transformed filters are made once per node and kept by the
// session: 36/9 = 4× the filters' memory (resnet18 at 224²: 2.4 M weights in the layers
// taken, 38 MB more resident).

// winogradMinTiles is the fewest 4×4 output tiles worth the transforms: below it the
// 36 GEMMs are too narrow.
const winogradMinTiles = 16

// winogradMinChannels is the fewest input and output channels worth it: the transforms
// cost in proportion to c + m, the saving to c·m.
const winogradMinChannels = 8

// winogradConv runs the convolution by Winograd and returns its output (bias added,
// epilogue stages applied), or nil when it does not apply.
func winogradConv(c *opContext, x, w, bias []float32, n, ch, m, group int, g *convGeom, fixedW bool, stages []epStage) []float32 {
	if !fastPaths || !fixedW || group != 1 || len(g.in) != 2 || ch < winogradMinChannels || m < winogradMinChannels ||
		!accel.HasWinograd3x3() || c.sess == nil || len(w) != m*ch*9 {
		return nil
	}
	if g.kernel[0] != 3 || g.kernel[1] != 3 || !allPositive(g.strides, 1) || !allPositive(g.dil, 1) {
		return nil
	}
	wg := accel.WinogradGeom{N: n, H: g.in[0], W: g.in[1], PT: g.padBegin[0], PL: g.padBegin[1], OH: g.out[0], OW: g.out[1]}
	if wg.OH <= 0 || wg.OW <= 0 || accel.WinogradTiles(wg) < winogradMinTiles {
		return nil
	}
	wt := c.winogradWeights(w, m, ch)
	O := wg.OH * wg.OW
	y := c.outputF32(n * m * O) // every output is written by the output transform
	scratch := allocRaw[float32](c, accel.WinogradScratchLen(wt, wg))
	// A Relu or Clip right after the bias is applied in the output transform, saving a
	// pass over the output; the rest of the epilogue runs after.
	act := accel.Act{Kind: accel.ActNone}
	if len(stages) > 0 {
		switch s := stages[0]; s.kind {
		case 'r':
			act, stages = accel.Act{Kind: accel.ActRelu}, stages[1:]
		case 'c':
			act, stages = accel.Act{Kind: accel.ActClip, P: s.lo, Q: s.hi}, stages[1:]
		}
	}
	if !accel.Winograd3x3(wt, wg, x, bias, act, y, scratch) {
		return nil
	}
	if len(stages) > 0 {
		for img := 0; img < n; img++ {
			epilogueBlock(y[img*m*O:(img+1)*m*O], m, O, 0, nil, stages)
		}
	}
	return y
}

// winogradKey keys a node's transformed filters in the session's tables.
type winogradKey struct{ node *ir.Node }

// winogradWeights returns the node's filters w (m×ch×3×3) transformed, made once and kept
// by the session (w is fixed: the same slice, unchanged, on every run).
func (c *opContext) winogradWeights(w []float32, m, ch int) *accel.WinogradWeights {
	type entry struct {
		p    *float32
		m, c int
		wt   *accel.WinogradWeights
	}
	key := winogradKey{c.node}
	if v, ok := c.sess.tables.Load(key); ok {
		if e := v.(*entry); e.p == &w[0] && e.m == m && e.c == ch {
			return e.wt
		}
	}
	wt := accel.NewWinogradWeights(w, m, ch)
	c.sess.tables.Store(key, &entry{p: &w[0], m: m, c: ch, wt: wt})
	return wt
}

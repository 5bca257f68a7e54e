package runtime

import "github.com/modelc/modelc/accel"

// convRows runs a 2-D float32 Conv without groups on at most accel.ConvRowsMaxChannels
// input channels (a network's RGB stem) through accel.ConvRows2D, per image, with the
// epilogue of at most one activation applied before the only store. The implicit GEMM
// spends more on gathering such a layer's 27-long columns than on its FMAs. It reports
// false, writing nothing, where the kernel, the window or the epilogue does not fit;
// convF32 then takes its other paths.
func convRows(x, w, bias, y []float32, n, ch, m int, g *convGeom, stages []epStage) bool {
	act, ok := pointwiseAct(stages)
	if !ok || len(g.in) != 2 || !accel.HasConvRows2D() {
		return false
	}
	p := accel.Window2D{H: g.in[0], W: g.in[1], OH: g.out[0], OW: g.out[1], KH: g.kernel[0], KW: g.kernel[1],
		SH: g.strides[0], SW: g.strides[1], PH: g.padBegin[0], PW: g.padBegin[1], DH: g.dil[0], DW: g.dil[1]}
	S, O := p.H*p.W, p.OH*p.OW
	image := func(img int) bool {
		return accel.ConvRows2D(m, ch, p, w, x[img*ch*S:(img+1)*ch*S], bias, y[img*m*O:(img+1)*m*O], act)
	}
	if n == 0 {
		return true
	}
	// A decline depends on the window only, so it can only come at the first image.
	if !image(0) {
		return false
	}
	// The other images in parallel too: a batch of small images (32² in a batch of 16)
	// is too little work per image for ConvRows2D to split its rows, and would run on
	// one thread. Each image's outputs are the same whichever thread computes them.
	accel.ParallelFor(n-1, max(1, convRowsImageMACs/max(1, m*O*ch*p.KH*p.KW)), func(i0, i1 int) {
		for img := i0 + 1; img <= i1; img++ {
			image(img)
		}
	})
	return true
}

// convRowsImageMACs is the least work (multiply-adds) of one task of images.
const convRowsImageMACs = 1 << 17

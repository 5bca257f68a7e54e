package runtime

import "github.com/modelc/modelc/accel"

// convPointwise runs a 1×1, stride-1, unpadded float32 Conv without groups through
// accel.PointwiseConv: per image, y = act(W·x + bias) with the epilogue applied to each
// register tile before its only store (the k = 16–32 expansions of MobileNet and
// EfficientNet at 112² are bound by streaming their output, which a separate bias and
// activation pass streams twice more). It reports false, writing nothing, where the
// backend has no such kernel or the epilogue is more than one activation; convF32 then
// takes its SGEMM path, which gives the same bits on AVX-512. Planes of few pixels
// whose fixed weight the session keeps packed (pointwiseWeights; c may be nil, fixedW
// false) run through accel.PointwiseConvPacked, output channels in the lanes, with the
// same bits.
func convPointwise(c *opContext, x, w, bias, y []float32, n, ch, m, O int, stages []epStage, fixedW bool) bool {
	act, ok := pointwiseAct(stages)
	if !ok || ch == 0 || !accel.HasPointwise() {
		return false
	}
	packed := c.pointwiseWeights(w, m, ch, O, fixedW)
	for img := 0; img < n; img++ {
		xi, yi := x[img*ch*O:(img+1)*ch*O], y[img*m*O:(img+1)*m*O]
		if packed != nil {
			accel.PointwiseConvPacked(packed, O, xi, bias, yi, act)
		} else {
			accel.PointwiseConv(m, ch, O, w, xi, bias, yi, act)
		}
	}
	return true
}

// pointwiseWeights returns a 1×1 convolution's weight w (m×k) packed for
// accel.PointwiseConvPacked on planes of O pixels (a 7×7 map), packed once per node
// and kept by the session; nil where the weight is not fixed (fixedW: the same in every
// run, as convRun decides it) or accel.PackPointwise keeps the pixels in the lanes.
func (c *opContext) pointwiseWeights(w []float32, m, k, O int, fixedW bool) *accel.PointwiseWeights {
	if c == nil || c.sess == nil || len(w) == 0 || !fixedW {
		return nil
	}
	// matrixID's third size is the plane's pixels here: the packing depends on them.
	return nodeCached(c, "pointwise-w", matrixID{&w[0], m, k, O}, func() *accel.PointwiseWeights { return accel.PackPointwise(w, m, k, O) })
}

// pointwiseAct is the kernel activation of an epilogue of at most one stage: Relu, Clip,
// HardSigmoid, HardSwish or SiLU, with the parameters epilogueBlock gives BiasAct.
func pointwiseAct(stages []epStage) (accel.Act, bool) {
	if len(stages) == 0 {
		return accel.Act{Kind: accel.ActNone}, true
	}
	if len(stages) > 1 {
		return accel.Act{}, false
	}
	switch s := stages[0]; s.kind {
	case 'r':
		return accel.Act{Kind: accel.ActRelu}, true
	case 'c':
		return accel.Act{Kind: accel.ActClip, P: s.lo, Q: s.hi}, true
	case 's':
		return accel.Act{Kind: accel.ActHardSigmoid, P: s.lo, Q: s.hi}, true
	case 'h':
		return accel.Act{Kind: accel.ActHardSwish, P: s.lo, Q: s.hi}, true
	case 'w':
		return accel.Act{Kind: accel.ActSiLU}, true
	}
	return accel.Act{}, false
}

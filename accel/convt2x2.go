package accel

// ConvTranspose2x2 computes a ConvTranspose with a 2×2 kernel and stride 2, without
// padding, dilation or groups, on one image: y[co][2·iy+ky][2·ix+kx] =
// act(Σ_ci w[ci][co][ky][kx]·x[ci][iy][ix] + bias[co]) for cin input planes of h×w (x),
// cout output planes of 2h×2w (y) and w laid out as ONNX's cin × cout × 2 × 2; bias may
// be nil and act is any Act, ActSiLU and ActSigmoid included. Every output pixel gets
// exactly one tap per input channel, so each is written once, with the epilogue applied
// before the store. The work is split over the worker pool by groups of input pixels;
// every output sums its input channels in ascending order whatever the split, so results
// depend on the backend only. It returns false, touching nothing, where the backend has
// no such kernel (the caller then runs its GEMM, col2im and epilogue).
func ConvTranspose2x2(cin, cout, h, w int, x, wt, bias, y []float32, act Act) bool {
	const fn = "ConvTranspose2x2"
	kern := tab().convT2x2
	if kern == nil {
		return false
	}
	if !(cin >= 0 && cout >= 0 && h >= 0 && w >= 0) {
		fail(fn, "negative size cin %d, cout %d, %d×%d", cin, cout, h, w)
	}
	if !(len(x) >= cin*h*w && len(wt) >= cin*cout*4 && len(y) >= cout*4*h*w) {
		fail(fn, "buffers too short for %d→%d channels of %d×%d: x %d, w %d, y %d", cin, cout, h, w, len(x), len(wt), len(y))
	}
	if !(bias == nil || len(bias) >= cout) {
		fail(fn, "len(bias) = %d < cout = %d", len(bias), cout)
	}
	if !(act.Kind >= ActNone && act.Kind <= ActSigmoid) {
		fail(fn, "unknown activation %d", act.Kind)
	}
	if cout == 0 || h == 0 || w == 0 {
		return true
	}
	// Groups of convT2x2Segs row segments of up to 16 pixels (the kernel's unit), enough
	// of them per task to be worth a hand-off.
	groups := (h*((w+15)/16) + convT2x2Segs - 1) / convT2x2Segs
	grain := max(1, convT2x2Grain/max(1, cout*max(cin, 1)*convT2x2Segs*16*4))
	ParallelFor(groups, grain, func(g0, g1 int) {
		kern(cin, cout, h, w, x, wt, bias, y, g0, g1, act)
	})
	return true
}

// HasConvTranspose2x2 reports whether ConvTranspose2x2 has a kernel on the selected backend.
func HasConvTranspose2x2() bool { return tab().convT2x2 != nil }

// convT2x2Segs is the number of 16-pixel row segments in one group (CT_NV in
// convt2x2_avx512.c).
const convT2x2Segs = 4

// convT2x2Grain is the number of multiply-adds one ConvTranspose2x2 task does at least.
const convT2x2Grain = 1 << 17

// refConvTranspose2x2 is ConvTranspose2x2's reference: the sums in float64, then the
// bias and activation in the pure-Go kernels.
func refConvTranspose2x2(cin, cout, h, w int, x, wt, bias, y []float32, act Act) {
	S, ow := h*w, 2*w
	for co := 0; co < cout; co++ {
		plane := y[co*4*S : (co+1)*4*S]
		for iy := 0; iy < h; iy++ {
			for ix := 0; ix < w; ix++ {
				for t := 0; t < 4; t++ {
					var s float64
					for ci := 0; ci < cin; ci++ {
						s += float64(wt[(ci*cout+co)*4+t]) * float64(x[ci*S+iy*w+ix])
					}
					plane[(2*iy+t/2)*ow+2*ix+t%2] = float32(s)
				}
			}
		}
	}
	refEpilogue(y, cout, 4*S, bias, act)
}

// refSigmoidRow: 1/(1 + e^−x), evaluated in float64.
func refSigmoidRow(dst, src []float32) {
	for i, v := range src {
		dst[i] = float32(refSigmoid(float64(v)))
	}
}

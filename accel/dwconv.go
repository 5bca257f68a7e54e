package accel

// Window2D is the geometry of a 2-D sliding window over NCHW planes (a depthwise
// convolution's filter, a pooling window): KH×KW window, input H×W, output OH×OW,
// strides SH, SW, dilations DH, DW and leading (top, left) padding PH, PW. Trailing
// padding is implied by OH, OW.
type Window2D struct {
	H, W, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW int
}

// DepthwiseConv2D computes y[c] = act(bias[c] + w[c] ⊛ x[c]) for channels c in
// [0, channels): x holds channels H×W planes, w channels KH×KW filters, y channels
// OH×OW planes; bias may be nil, act any Act (ActSiLU included). No im2col.
// Channels are split over the worker pool; post, when not nil, is called once for each
// run of channels [c0, c1) with their finished output planes (on the thread that
// computed them, while they are in cache), for the rest of an epilogue. The sum for
// each output runs in tap order on every backend, so results are the same for every
// thread count; SIMD backends may differ from the Go reference by float32 rounding of
// that same sum (the AVX-512 kernel fuses its multiply-adds).
func DepthwiseConv2D(p Window2D, x, w, bias, y []float32, channels int, act Act, post func(c0, c1 int, planes []float32)) {
	const fn = "DepthwiseConv2D"
	if !(channels >= 0 && p.H >= 0 && p.W >= 0 && p.OH >= 0 && p.OW >= 0 && p.KH > 0 && p.KW > 0) {
		fail(fn, "bad geometry %+v", p)
	}
	if !(p.SH > 0 && p.SW > 0 && p.DH > 0 && p.DW > 0 && p.PH >= 0 && p.PW >= 0) {
		fail(fn, "bad strides, dilations or pads %+v", p)
	}
	in, k, out := p.H*p.W, p.KH*p.KW, p.OH*p.OW
	if !(len(x) >= channels*in && len(w) >= channels*k && len(y) >= channels*out) {
		fail(fn, "buffers too short for %d channels of %+v", channels, p)
	}
	if !(bias == nil || len(bias) >= channels) {
		fail(fn, "len(bias) = %d < %d channels", len(bias), channels)
	}
	if !(act.Kind >= ActNone && act.Kind <= ActSiLU) {
		fail(fn, "unknown activation %d", act.Kind)
	}
	if channels == 0 || out == 0 {
		return
	}
	t := tab()
	kern, fused := t.dwconv2d, t.dwconv2dAct
	// Enough channels per task to amortise the call, in whole blocks of 16 (the AVX-512
	// kernel's vector); a fixed split, so the same work lands in the same order whatever
	// the thread count.
	per := (max(1, dwTaskWork/max(out*k, 1)) + 15) &^ 15
	if bands, rows := dwBands(&p, t, channels, per, post != nil); bands > 1 {
		// Fewer channel tasks than threads (MobileNetV3's 16-channel layers, the late
		// layers' few blocks): each plane is split by output rows too. No sum depends on
		// the rows asked for, so the bits are those of whole planes.
		parallel((channels+per-1)/per*bands, func(i int) {
			lo, r0 := i/bands*per, i%bands*rows
			hi := min(channels, lo+per)
			var bs []float32
			if bias != nil {
				bs = bias[lo:hi]
			}
			t.dwconv2dRows(&p, x[lo*in:hi*in], w[lo*k:hi*k], bs, y[lo*out:hi*out], hi-lo, act, r0, min(p.OH, r0+rows))
		})
		return
	}
	chunks(channels, per, func(lo, hi int) {
		var bs []float32
		if bias != nil {
			bs = bias[lo:hi]
		}
		if fused != nil {
			fused(&p, x[lo*in:hi*in], w[lo*k:hi*k], bs, y[lo*out:hi*out], hi-lo, act)
		} else {
			kern(&p, x[lo*in:hi*in], w[lo*k:hi*k], bs, y[lo*out:hi*out], hi-lo)
			dwAct(y[lo*out:hi*out], hi-lo, out, act)
		}
		if post != nil {
			post(lo, hi, y[lo*out:hi*out])
		}
	})
}

// dwBands is how many bands of output rows (and rows per band) DepthwiseConv2D splits
// each plane into: more than one where the channel tasks of per channels are fewer than
// two per thread, the backend computes row ranges of this geometry, no post pass needs
// whole planes, and a band is still dwTaskWork multiply-adds.
func dwBands(p *Window2D, t *table, channels, per int, post bool) (bands, rows int) {
	threads, blocks := MaxThreads(), (channels+per-1)/per
	if threads < 2 || blocks >= 2*threads || post || t.dwconv2dRows == nil || !t.dwconv2dFits(p) {
		return 1, p.OH
	}
	work := min(per, channels) * p.OH * p.OW * p.KH * p.KW
	bands = min(p.OH, (2*threads+blocks-1)/blocks, max(1, work/dwTaskWork))
	rows = (p.OH + bands - 1) / bands
	return (p.OH + rows - 1) / rows, rows
}

// dwAct applies act to rows×cols finished outputs, on this thread: the activation of
// a depthwise kernel that does not apply it itself.
func dwAct(y []float32, rows, cols int, act Act) {
	n := rows * cols
	switch {
	case act.Kind == ActNone || n == 0:
	case act.Kind == ActSiLU && n < smallElems:
		refSiLU(y[:n], y[:n])
	case act.Kind == ActSiLU:
		tab().silu(y[:n], y[:n])
	case n < smallElems:
		refBiasAct(y, rows, cols, nil, act)
	default:
		tab().biasAct(y, rows, cols, nil, act)
	}
}

// dwTaskWork is the multiply-adds one DepthwiseConv2D task aims at.
const dwTaskWork = 1 << 15

// prevDWConv2DAVX512 is the previous AVX-512 depthwise kernel (one channel at a time),
// set where it is built: the new kernel's fallback, and the benchmarks' comparison.
var prevDWConv2DAVX512 func(p *Window2D, x, w, bias, y []float32, channels int)

// dw16Transpose transposes a 16×16 matrix in place with the AVX-512 depthwise kernel's
// register transpose, set where it is built, for its test.
var dw16Transpose func(m []float32)

// refDWConv2D is the pure-Go reference of the depthwise kernel, in the C kernels' order.
func refDWConv2D(p *Window2D, x, w, bias, y []float32, channels int) {
	in, k, out := p.H*p.W, p.KH*p.KW, p.OH*p.OW
	for c := 0; c < channels; c++ {
		xc, wc, yc := x[c*in:(c+1)*in], w[c*k:(c+1)*k], y[c*out:(c+1)*out]
		var b float32
		if bias != nil {
			b = bias[c]
		}
		for r := 0; r < p.OH; r++ {
			yr := yc[r*p.OW : (r+1)*p.OW]
			for o := range yr {
				yr[o] = b
			}
			for i := 0; i < p.KH; i++ {
				ih := r*p.SH + i*p.DH - p.PH
				if ih < 0 || ih >= p.H {
					continue
				}
				xr := xc[ih*p.W : (ih+1)*p.W]
				for j := 0; j < p.KW; j++ {
					wv := wc[i*p.KW+j]
					off := j*p.DW - p.PW
					lo, hi := max(ceilDiv(-off, p.SW), 0), min(ceilDiv(p.W-off, p.SW), p.OW)
					for o := lo; o < hi; o++ {
						yr[o] += wv * xr[o*p.SW+off]
					}
				}
			}
		}
	}
}

// ceilDiv is ⌈a/b⌉ for b > 0.
func ceilDiv(a, b int) int {
	if a >= 0 {
		return (a + b - 1) / b
	}
	return -((-a) / b)
}

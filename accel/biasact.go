package accel

// ActKind selects the activation of BiasAct.
type ActKind int

const (
	ActNone        ActKind = iota // identity
	ActRelu                       // max(x, 0)
	ActClip                       // min(max(x, P), Q)
	ActHardSigmoid                // min(max(P·x + Q, 0), 1)
	ActHardSwish                  // x·min(max(P·x + Q, 0), 1)
	ActSiLU                       // x·sigmoid(x), as SiLU computes it: PointwiseConv only, BiasAct refuses it
	ActSigmoid                    // 1/(1 + e^−x), as Sigmoid computes it: ConvTranspose2x2 only
)

// Act is an activation with its parameters.
type Act struct {
	Kind ActKind
	P, Q float32
}

// BiasAct computes y[r][c] = act(y[r][c] + bias[r]) in place over a rows×cols matrix
// (bias may be nil): a convolution's per-channel bias and activation in one pass. NaN
// passes through every activation. The result is the same on every backend up to the
// rounding of P·x + Q (the Go reference does not fuse it; the C kernels are built with
// contraction off), so in practice bit for bit.
func BiasAct(y []float32, rows, cols int, bias []float32, act Act) {
	const fn = "BiasAct"
	if !(rows >= 0 && cols >= 0 && len(y) >= rows*cols) {
		fail(fn, "len(y) = %d < %d×%d", len(y), rows, cols)
	}
	if !(bias == nil || len(bias) >= rows) {
		fail(fn, "len(bias) = %d < rows = %d", len(bias), rows)
	}
	if !(act.Kind >= ActNone && act.Kind <= ActHardSwish) {
		fail(fn, "unknown activation %d", act.Kind)
	}
	if rows == 0 || cols == 0 {
		return
	}
	kern := tab().biasAct
	if rows*cols < smallElems {
		kern = refBiasAct
	}
	kern(y, rows, cols, bias, act)
}

// AddAct computes dst[i] = act(a[i] + b[i]) for i < len(dst): a residual connection's
// Add and the activation after it in one pass. dst may be a or b. The activation is
// BiasAct's (ActSiLU is refused), so the result is bit for bit that of the sum followed by
// BiasAct, on every backend up to the rounding of P·x + Q (see BiasAct).
func AddAct(dst, a, b []float32, act Act) {
	const fn = "AddAct"
	checkLen(fn, len(a), len(dst))
	checkLen(fn, len(b), len(dst))
	if !(act.Kind >= ActNone && act.Kind <= ActHardSwish) {
		fail(fn, "unknown activation %d", act.Kind)
	}
	kern := tab().addAct
	elementwise(len(dst), func(lo, hi int) { refAddAct(dst[lo:hi], a[lo:hi], b[lo:hi], act) },
		func(lo, hi int) { kern(dst[lo:hi], a[lo:hi], b[lo:hi], act) })
}

// refAddAct is the pure-Go reference of AddAct.
func refAddAct(dst, a, b []float32, act Act) {
	a, b = a[:len(dst)], b[:len(dst)]
	for i := range dst {
		dst[i] = refAct(a[i]+b[i], act)
	}
}

// refBiasAct is the pure-Go reference of BiasAct.
func refBiasAct(y []float32, rows, cols int, bias []float32, act Act) {
	for r := 0; r < rows; r++ {
		yr := y[r*cols : (r+1)*cols]
		var b float32
		if bias != nil {
			b = bias[r]
		}
		for c, v := range yr {
			yr[c] = refAct(v+b, act)
		}
	}
}

// refAct is BiasAct's activation of one value.
func refAct(v float32, act Act) float32 {
	p, q := act.P, act.Q
	switch act.Kind {
	case ActRelu:
		if v < 0 {
			v = 0
		}
	case ActClip:
		if v < p {
			v = p
		}
		if v > q {
			v = q
		}
	case ActHardSigmoid, ActHardSwish:
		// float32(p*v) keeps Go from fusing the multiply-add on arm64: the C
		// kernels round twice (-std=c11 implies -ffp-contract=off).
		u := float32(p*v) + q
		if u < 0 {
			u = 0
		}
		if u > 1 {
			u = 1
		}
		if act.Kind == ActHardSwish {
			u *= v
		}
		v = u
	}
	return v
}

// refEpilogue applies bias and act to the rows×cols block y in the pure-Go kernels, SiLU
// (which BiasAct does not take) as a pass of its own: the fused C epilogues' reference.
func refEpilogue(y []float32, rows, cols int, bias []float32, act Act) {
	post := act.Kind
	if post == ActSiLU || post == ActSigmoid {
		act = Act{Kind: ActNone}
	}
	refBiasAct(y, rows, cols, bias, act)
	switch post {
	case ActSiLU:
		refSiLU(y[:rows*cols], y[:rows*cols])
	case ActSigmoid:
		refSigmoidRow(y[:rows*cols], y[:rows*cols])
	}
}

package runtime

import (
	"strings"

	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/ir"
)

// rnnFast is LSTM, GRU and RNN on float32 with the default activations: the input
// projection of every time step is one GEMM per direction (X·Wᵀ + biases, all steps at
// once), each step's recurrent projection one GEMM over the batch (H·Rᵀ), and the gates
// run over whole rows with vectorised exponentials. It reports false (and the generic
// float64 kernel runs) for other dtypes, custom activations, or inputs the generic
// kernel must reject with its own error.
func rnnFast(c *opContext, kind byte, in []*Tensor) ([]*Tensor, bool) {
	if !fastPaths {
		return nil, false
	}
	x, w, rw := in[0], in[1], in[2]
	b, seqLens, h0 := opt(in, 3), opt(in, 4), opt(in, 5)
	var c0, peep *Tensor
	if kind == 'L' {
		c0, peep = opt(in, 6), opt(in, 7)
	}
	for _, t := range []*Tensor{x, w, rw, b, h0, c0, peep} {
		if t != nil && t.DType != ir.Float32 {
			return nil, false
		}
	}
	gates, defaults := rnnGates[kind], rnnDefaults[kind]
	if c.has("activation_alpha") || c.has("activation_beta") || c.attrInt("input_forget", 0) != 0 {
		return nil, false
	}
	dirName := c.attrString("direction", "forward")
	dirs := 1
	if dirName == "bidirectional" {
		dirs = 2
	} else if dirName != "forward" && dirName != "reverse" {
		return nil, false
	}
	if a := c.node.Attr("activations"); a != nil {
		if len(a.Strings) != dirs*len(defaults) {
			return nil, false
		}
		for i, s := range a.Strings {
			if !strings.EqualFold(string(s), defaults[i%len(defaults)]) {
				return nil, false
			}
		}
	}
	layout := c.attrInt("layout", 0)
	if len(x.Shape) != 3 || len(w.Shape) != 3 || len(rw.Shape) != 3 || (layout != 0 && layout != 1) {
		return nil, false
	}
	seq, batch, inSize := x.Shape[0], x.Shape[1], x.Shape[2]
	if layout == 1 {
		batch, seq = seq, batch
	}
	H := int(c.attrInt("hidden_size", int64(rw.Shape[2])))
	G := gates * H
	if H <= 0 || w.Shape[0] != dirs || w.Shape[1] != G || w.Shape[2] != inSize || rw.Shape[0] != dirs || rw.Shape[1] != G || rw.Shape[2] != H {
		return nil, false
	}
	if b != nil && b.Len() != dirs*2*G || h0 != nil && h0.Len() != dirs*batch*H || c0 != nil && c0.Len() != dirs*batch*H ||
		peep != nil && peep.Len() != dirs*3*H {
		return nil, false
	}
	lens := make([]int, batch)
	maxLen := 0
	for i := range lens {
		lens[i] = seq
		if seqLens != nil && i < seqLens.Len() {
			lens[i] = clamp(ints(seqLens)[i], 0, seq)
		}
		maxLen = max(maxLen, lens[i])
	}
	clip := c.attrFloat("clip", 0)
	lbr := c.attrInt("linear_before_reset", 0) == 1
	xv, wv, rv := x.Data.([]float32), w.Data.([]float32), rw.Data.([]float32)

	// row(t, b) is the row of X (and of its projection) holding step t of sequence b.
	row := func(t, bi int) int {
		if layout == 1 {
			return bi*seq + t
		}
		return t*batch + bi
	}
	// yAt is the offset of Y[t, d, b, :] (layout 0) or Y[b, t, d, :] (layout 1).
	yAt := func(t, d, bi int) int {
		if layout == 1 {
			return ((bi*seq+t)*dirs + d) * H
		}
		return ((t*dirs+d)*batch + bi) * H
	}
	// sAt is the offset of a state [d, b, :] (layout 0) or [b, d, :] (layout 1).
	sAt := func(d, bi int) int {
		if layout == 1 {
			return (bi*dirs + d) * H
		}
		return (d*batch + bi) * H
	}
	Y := allocZero[float32](c, seq*dirs*batch*H) // steps past a sequence's end stay 0
	// Outputs and scratch come from the run's pool; the scratch goes back after the node.
	hOut := allocZero[float32](c, dirs*batch*H)
	var cOut []float32
	if kind == 'L' {
		cOut = allocZero[float32](c, dirs*batch*H)
	}
	if h0 != nil {
		copy(hOut, h0.Data.([]float32))
	}
	if c0 != nil {
		copy(cOut, c0.Data.([]float32))
	}
	// Each direction has its own scratch, so the two directions of a bidirectional layer
	// run side by side on the pool: they share nothing but disjoint slices of the outputs.
	type dirScratch struct{ xw, hs, cs, hr, tmp, rh, rhr, xBias, rBiasHidden []float32 }
	scratch := make([]dirScratch, dirs)
	for d := range scratch {
		s := &scratch[d]
		s.xw = allocRaw[float32](c, seq*batch*G)
		s.hs = allocRaw[float32](c, batch*H) // this direction's h, batch-major
		s.cs = allocRaw[float32](c, batch*H) // and c (LSTM)
		s.hr = allocRaw[float32](c, batch*G) // H·Rᵀ for the current step
		s.tmp = allocRaw[float32](c, max(G, 2*H))
		if kind == 'G' && !lbr { // GRU without linear_before_reset: r ⊙ h, and its product with R_h
			s.rh, s.rhr = allocRaw[float32](c, batch*H), allocRaw[float32](c, batch*H)
		}
		s.xBias = allocRaw[float32](c, G)
		if kind == 'G' && lbr && clip == 0 && b != nil { // the fused GRU cell's step bias: 0 for z and r, Rb for h
			s.rBiasHidden = allocRaw[float32](c, G)
		}
	}
	// The two directions of a bidirectional layer run side by side, one thread each
	// (below); their steps' products then stay on their own thread.
	stepGEMM := accel.SGEMMBias
	if dirs > 1 && accel.MaxThreads() > 1 {
		stepGEMM = accel.SGEMMBiasSerial
	}
	runDirection := func(d int) {
		s := &scratch[d]
		xw, hs, cs, hr, tmp, rh, rhr, xBias, rBiasHidden := s.xw, s.hs, s.cs, s.hr, s.tmp, s.rh, s.rhr, s.xBias, s.rBiasHidden
		reverse := dirName == "reverse" || d == 1
		W, R := wv[d*G*inSize:(d+1)*G*inSize], rv[d*G*H:(d+1)*G*H]
		// Biases folded into the input projection: Wb + Rb, except GRU's Rb of the
		// hidden gate, which sits inside the reset gate's product.
		clear(xBias)
		var rbh []float32
		if b != nil {
			bv := b.Data.([]float32)[d*2*G : (d+1)*2*G]
			for j := 0; j < G; j++ {
				xBias[j] = bv[j] + bv[G+j]
			}
			if kind == 'G' {
				rbh = bv[G+2*H : 2*G]
				for j := 0; j < H; j++ {
					xBias[2*H+j] = bv[2*H+j]
				}
			}
		}
		// A fixed W is transposed once per session, so the projection takes the SGEMM's
		// direct path instead of packing Wᵀ on every run.
		if wT := c.transposedFixed(W, seq*batch, G, inSize, inSize, 1, rnnWTags[d]); wT != nil {
			accel.SGEMMBias(false, false, seq*batch, G, inSize, 1, xv, max(inSize, 1), wT, G, 0, xw, G, xBias)
		} else {
			accel.SGEMMBias(false, true, seq*batch, G, inSize, 1, xv, max(inSize, 1), W, max(inSize, 1), 0, xw, G, xBias)
		}
		for bi := 0; bi < batch; bi++ {
			copy(hs[bi*H:(bi+1)*H], hOut[sAt(d, bi):sAt(d, bi)+H])
			if kind == 'L' {
				copy(cs[bi*H:(bi+1)*H], cOut[sAt(d, bi):sAt(d, bi)+H])
			}
		}
		// The fused accel cells cover the common case: no clip, no peepholes, and for GRU
		// linear_before_reset (its hidden gate's Rb then rides on the step's GEMM).
		fusedLSTM := kind == 'L' && peep == nil && clip == 0
		fusedGRU := kind == 'G' && lbr && clip == 0
		var stepBias []float32
		if fusedGRU && rbh != nil {
			stepBias = rBiasHidden[:G]
			clear(stepBias[:2*H])
			copy(stepBias[2*H:], rbh)
		}
		var pi, po, pf []float32
		if peep != nil {
			pv := peep.Data.([]float32)[d*3*H : (d+1)*3*H]
			pi, po, pf = pv[:H], pv[H:2*H], pv[2*H:]
		}
		for step := 0; step < maxLen; step++ {
			// H·Rᵀ straight from R (G×H): for one sequence a matrix-vector product, split
			// between the threads unless the directions already are.
			stepGEMM(false, true, batch, G, H, 1, hs, max(H, 1), R, max(H, 1), 0, hr, max(G, 1), stepBias)
			if kind == 'G' && !lbr {
				// z and r first, then R_h·(r ⊙ h) for the hidden gate.
				for bi := 0; bi < batch; bi++ {
					if step >= lens[bi] {
						continue
					}
					t := step
					if reverse {
						t = lens[bi] - 1 - step
					}
					g, hrow := xw[row(t, bi)*G:(row(t, bi)+1)*G], hr[bi*G:(bi+1)*G]
					for j := 0; j < 2*H; j++ {
						hrow[j] = clipf(g[j]+hrow[j], clip)
					}
					sigmoid32(hrow[:2*H], hrow[:2*H])
					for j := 0; j < H; j++ {
						rh[bi*H+j] = hrow[H+j] * hs[bi*H+j]
					}
				}
				stepGEMM(false, true, batch, H, H, 1, rh, max(H, 1), R[2*H*H:], max(H, 1), 0, rhr, max(H, 1), nil)
			}
			for bi := 0; bi < batch; bi++ {
				if step >= lens[bi] {
					continue
				}
				t := step
				if reverse {
					t = lens[bi] - 1 - step
				}
				g := xw[row(t, bi)*G : (row(t, bi)+1)*G]
				hrow := hr[bi*G : (bi+1)*G]
				h, cc := hs[bi*H:(bi+1)*H], cs[bi*H:(bi+1)*H]
				switch {
				case fusedLSTM:
					accel.LSTMCell(hrow, g, cc, h)
				case fusedGRU:
					accel.GRUCellLBR(hrow, g, h)
				case kind == 'L': // gates i, o, f, c
					for j := 0; j < G; j++ {
						hrow[j] += g[j]
					}
					gi, gO, gf, gc := hrow[:H], hrow[H:2*H], hrow[2*H:3*H], hrow[3*H:]
					if pi != nil {
						for j := 0; j < H; j++ {
							gi[j] += pi[j] * cc[j]
							gf[j] += pf[j] * cc[j]
						}
					}
					clipAll(gi, clip)
					clipAll(gf, clip)
					clipAll(gc, clip)
					sigmoid32(gi, gi)
					sigmoid32(gf, gf)
					copy(tmp, gc)
					tanh32(gc, tmp[:H])
					for j := 0; j < H; j++ {
						cc[j] = gf[j]*cc[j] + gi[j]*gc[j]
					}
					for j := 0; j < H; j++ { // the output gate sees the new cell state
						if po != nil {
							gO[j] += po[j] * cc[j]
						}
						gO[j] = clipf(gO[j], clip)
					}
					sigmoid32(gO, gO)
					tanh32(tmp[:H], cc)
					for j := 0; j < H; j++ {
						h[j] = gO[j] * tmp[j]
					}
				case kind == 'G': // gates z, r, h
					gz, gr, gh := hrow[:H], hrow[H:2*H], hrow[2*H:]
					if lbr {
						for j := 0; j < 2*H; j++ {
							hrow[j] = clipf(hrow[j]+g[j], clip)
						}
						sigmoid32(hrow[:2*H], hrow[:2*H])
						for j := 0; j < H; j++ {
							rb := float32(0)
							if rbh != nil {
								rb = rbh[j]
							}
							tmp[j] = clipf(g[2*H+j]+gr[j]*(gh[j]+rb), clip)
						}
					} else {
						for j := 0; j < H; j++ {
							rb := float32(0)
							if rbh != nil {
								rb = rbh[j]
							}
							tmp[j] = clipf(g[2*H+j]+rhr[bi*H+j]+rb, clip)
						}
					}
					tanh32(tmp[H:2*H], tmp[:H])
					for j := 0; j < H; j++ {
						h[j] = (1-gz[j])*tmp[H+j] + gz[j]*h[j]
					}
				case kind == 'R':
					for j := 0; j < H; j++ {
						tmp[j] = clipf(hrow[j]+g[j], clip)
					}
					tanh32(h, tmp[:H])
				}
				copy(Y[yAt(t, d, bi):yAt(t, d, bi)+H], h)
			}
		}
		for bi := 0; bi < batch; bi++ {
			copy(hOut[sAt(d, bi):sAt(d, bi)+H], hs[bi*H:(bi+1)*H])
			if kind == 'L' {
				copy(cOut[sAt(d, bi):sAt(d, bi)+H], cs[bi*H:(bi+1)*H])
			}
		}
	}
	accel.ParallelFor(dirs, 1, func(d0, d1 int) {
		for d := d0; d < d1; d++ {
			runDirection(d)
		}
	})
	yShape, hShape := []int{seq, dirs, batch, H}, []int{dirs, batch, H}
	if layout == 1 {
		yShape, hShape = []int{batch, seq, dirs, H}, []int{batch, dirs, H}
	}
	outs := []*Tensor{{DType: x.DType, Shape: yShape, Data: Y}, {DType: x.DType, Shape: hShape, Data: hOut}}
	if kind == 'L' {
		outs = append(outs, &Tensor{DType: x.DType, Shape: append([]int{}, hShape...), Data: cOut})
	}
	return outs, true
}

// rnnGates and rnnDefaults are each kind's gate count and default activations (package
// level: a map literal in rnnFast would be built on every call).
var (
	rnnGates    = map[byte]int{'L': 4, 'G': 3, 'R': 1}
	rnnDefaults = map[byte][]string{'L': {"sigmoid", "tanh", "tanh"}, 'G': {"sigmoid", "tanh"}, 'R': {"tanh"}}
)

// rnnWTags name the session's cached Wᵀ of each direction.
var rnnWTags = [2]string{"rnn-wT-fwd", "rnn-wT-bwd"}

// clipf bounds v to [−clip, clip] when clip > 0 (the RNN ops' clip attribute).
func clipf(v, clip float32) float32 {
	if clip > 0 {
		return max(-clip, min(clip, v))
	}
	return v
}

func clipAll(v []float32, clip float32) {
	if clip > 0 {
		for i := range v {
			v[i] = max(-clip, min(clip, v[i]))
		}
	}
}

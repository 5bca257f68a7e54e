package runtime

import (
	"math"
	"strings"
)

// Recurrent layers: LSTM, GRU and RNN with forward, reverse and bidirectional
// directions, sequence_lens, initial states, LSTM peepholes and input_forget, GRU's
// linear_before_reset, clip, custom activations and layout 0/1. Computed in float64.

func init() {
	register(rnnKernel('L'), "LSTM")
	register(rnnKernel('G'), "GRU")
	register(rnnKernel('R'), "RNN")
}

// activation returns the named ONNX RNN activation with its optional alpha and beta.
func activation(name string, alpha, beta float64, hasA, hasB bool) (func(float64) float64, error) {
	def := func(v float64, has bool, d float64) float64 {
		if has {
			return v
		}
		return d
	}
	switch strings.ToLower(name) {
	case "sigmoid":
		return sigmoid, nil
	case "tanh":
		return math.Tanh, nil
	case "relu":
		return func(x float64) float64 { return math.Max(0, x) }, nil
	case "affine":
		a, b := def(alpha, hasA, 1), def(beta, hasB, 0)
		return func(x float64) float64 { return a*x + b }, nil
	case "leakyrelu":
		a := def(alpha, hasA, 0.01)
		return func(x float64) float64 {
			if x < 0 {
				return a * x
			}
			return x
		}, nil
	case "thresholdedrelu":
		a := def(alpha, hasA, 1)
		return func(x float64) float64 {
			if x > a {
				return x
			}
			return 0
		}, nil
	case "scaledtanh":
		a, b := def(alpha, hasA, 1), def(beta, hasB, 1)
		return func(x float64) float64 { return a * math.Tanh(b*x) }, nil
	case "hardsigmoid":
		a, b := def(alpha, hasA, 0.2), def(beta, hasB, 0.5)
		return func(x float64) float64 { return math.Max(0, math.Min(1, a*x+b)) }, nil
	case "elu":
		a := def(alpha, hasA, 1)
		return func(x float64) float64 {
			if x < 0 {
				return a * (math.Exp(x) - 1)
			}
			return x
		}, nil
	case "softsign":
		return func(x float64) float64 { return x / (1 + math.Abs(x)) }, nil
	case "softplus":
		return softplus, nil
	}
	return nil, unsupported("RNN activation %q", name)
}

func rnnKernel(kind byte) kernel {
	return func(c *opContext, in []*Tensor) ([]*Tensor, error) {
		if err := need(in, 3); err != nil {
			return nil, err
		}
		if outs, ok := rnnFast(c, kind, in); ok {
			return outs, nil
		}
		x, w, rw := in[0], in[1], in[2]
		b, seqLens, h0, c0, peep := opt(in, 3), opt(in, 4), opt(in, 5), opt(in, 6), opt(in, 7)
		gates := map[byte]int{'L': 4, 'G': 3, 'R': 1}[kind]
		nAct := map[byte]int{'L': 3, 'G': 2, 'R': 1}[kind]
		layout := c.attrInt("layout", 0)
		if len(x.Shape) != 3 || len(w.Shape) != 3 || len(rw.Shape) != 3 {
			return nil, errf("X, W and R must be 3-D")
		}
		xv := float64s(x)
		seq, batch, inSize := x.Shape[0], x.Shape[1], x.Shape[2]
		if layout == 1 {
			batch, seq = seq, batch
		}
		xAt := func(t, bi, i int) float64 {
			if layout == 1 {
				return xv[(bi*seq+t)*inSize+i]
			}
			return xv[(t*batch+bi)*inSize+i]
		}
		dirName := c.attrString("direction", "forward")
		dirs := 1
		if dirName == "bidirectional" {
			dirs = 2
		}
		H := int(c.attrInt("hidden_size", int64(rw.Shape[2])))
		if w.Shape[0] != dirs || w.Shape[1] != gates*H || w.Shape[2] != inSize || rw.Shape[1] != gates*H || rw.Shape[2] != H {
			return nil, errf("W %v / R %v do not fit %d direction(s), hidden size %d, input size %d", w.Shape, rw.Shape, dirs, H, inSize)
		}
		wv, rv := float64s(w), float64s(rw)
		bv := make([]float64, dirs*2*gates*H)
		if b != nil {
			if b.Len() != len(bv) {
				return nil, errf("B has %d values, expected %d", b.Len(), len(bv))
			}
			bv = float64s(b)
		}
		lens := make([]int, batch)
		for i := range lens {
			lens[i] = seq
		}
		if seqLens != nil {
			for i, l := range ints(seqLens) {
				if i < batch {
					lens[i] = clamp(l, 0, seq)
				}
			}
		}
		state := func(t *Tensor) ([]float64, error) {
			if t == nil {
				return make([]float64, dirs*batch*H), nil
			}
			if t.Len() != dirs*batch*H {
				return nil, errf("initial state %v does not fit [%d, %d, %d]", t.Shape, dirs, batch, H)
			}
			v := float64s(t)
			if layout == 1 { // [batch, dirs, H] → [dirs, batch, H]
				o := make([]float64, len(v))
				for bi := 0; bi < batch; bi++ {
					for d := 0; d < dirs; d++ {
						copy(o[(d*batch+bi)*H:(d*batch+bi+1)*H], v[(bi*dirs+d)*H:(bi*dirs+d+1)*H])
					}
				}
				v = o
			}
			return append([]float64{}, v...), nil
		}
		hs, err := state(h0)
		if err != nil {
			return nil, err
		}
		cs, err := state(c0)
		if err != nil {
			return nil, err
		}
		var pv []float64
		if peep != nil {
			pv = float64s(peep)
		}
		// Activations: per direction, in the order the op defines.
		names, _ := c.node.Attr("activations"), 0
		alphas, hasA := c.attrFloats("activation_alpha")
		betas, hasB := c.attrFloats("activation_beta")
		defaults := map[byte][]string{'L': {"Sigmoid", "Tanh", "Tanh"}, 'G': {"Sigmoid", "Tanh"}, 'R': {"Tanh"}}[kind]
		acts := make([]func(float64) float64, dirs*nAct)
		for i := range acts {
			name := defaults[i%nAct]
			if names != nil && i < len(names.Strings) {
				name = string(names.Strings[i])
			}
			var a, bb float64
			ha, hb := hasA && i < len(alphas), hasB && i < len(betas)
			if ha {
				a = float64(alphas[i])
			}
			if hb {
				bb = float64(betas[i])
			}
			if acts[i], err = activation(name, a, bb, ha, hb); err != nil {
				return nil, err
			}
		}
		clip := float64(c.attrFloat("clip", 0))
		doClip := func(v float64) float64 {
			if clip > 0 {
				return math.Max(-clip, math.Min(clip, v))
			}
			return v
		}
		inputForget := c.attrInt("input_forget", 0) == 1
		lbr := c.attrInt("linear_before_reset", 0) == 1
		Y := make([]float64, seq*dirs*batch*H)
		gx := make([]float64, gates*H)
		gh := make([]float64, gates*H)
		for d := 0; d < dirs; d++ {
			reverse := dirName == "reverse" || d == 1
			W := wv[d*gates*H*inSize:]
			R := rv[d*gates*H*H:]
			Wb, Rb := bv[d*2*gates*H:], bv[d*2*gates*H+gates*H:]
			f, g, hAct := acts[d*nAct], acts[d*nAct], acts[d*nAct]
			if nAct > 1 {
				g = acts[d*nAct+1]
			}
			if nAct > 2 {
				hAct = acts[d*nAct+2]
			}
			for bi := 0; bi < batch; bi++ {
				h := hs[(d*batch+bi)*H : (d*batch+bi+1)*H]
				cc := cs[(d*batch+bi)*H : (d*batch+bi+1)*H]
				for step := 0; step < lens[bi]; step++ {
					t := step
					if reverse {
						t = lens[bi] - 1 - step
					}
					for j := 0; j < gates*H; j++ {
						s := Wb[j]
						for i := 0; i < inSize; i++ {
							s += W[j*inSize+i] * xAt(t, bi, i)
						}
						gx[j] = s
						r := Rb[j]
						for i := 0; i < H; i++ {
							r += R[j*H+i] * h[i]
						}
						gh[j] = r
					}
					switch kind {
					case 'L': // gates i, o, f, c
						for j := 0; j < H; j++ {
							pi, po, pf := 0.0, 0.0, 0.0
							if pv != nil {
								pi, po, pf = pv[d*3*H+j], pv[d*3*H+H+j], pv[d*3*H+2*H+j]
							}
							it := f(doClip(gx[j] + gh[j] + pi*cc[j]))
							ft := f(doClip(gx[2*H+j] + gh[2*H+j] + pf*cc[j]))
							if inputForget {
								ft = 1 - it
							}
							ct := g(doClip(gx[3*H+j] + gh[3*H+j]))
							cNew := ft*cc[j] + it*ct
							ot := f(doClip(gx[H+j] + gh[H+j] + po*cNew))
							cc[j] = cNew
							gx[j] = ot * hAct(cNew) // reuse as the new h
						}
						copy(h, gx[:H])
					case 'G': // gates z, r, h
						hn := make([]float64, H)
						rs := make([]float64, H)
						for j := 0; j < H; j++ {
							rs[j] = f(doClip(gx[H+j] + gh[H+j]))
						}
						for j := 0; j < H; j++ {
							z := f(doClip(gx[j] + gh[j]))
							r := f(doClip(gx[H+j] + gh[H+j]))
							var ht float64
							if lbr {
								ht = g(doClip(gx[2*H+j] + r*gh[2*H+j]))
							} else {
								// (r ⊙ h)·R_hᵀ: every r_i scales its own h_i.
								s := Rb[2*H+j]
								for i := 0; i < H; i++ {
									s += R[(2*H+j)*H+i] * rs[i] * h[i]
								}
								ht = g(doClip(gx[2*H+j] + s))
							}
							hn[j] = (1-z)*ht + z*h[j]
						}
						copy(h, hn)
					case 'R':
						for j := 0; j < H; j++ {
							gx[j] = f(doClip(gx[j] + gh[j]))
						}
						copy(h, gx[:H])
					}
					for j := 0; j < H; j++ {
						if layout == 1 {
							Y[((bi*seq+t)*dirs+d)*H+j] = h[j]
						} else {
							Y[((t*dirs+d)*batch+bi)*H+j] = h[j]
						}
					}
				}
			}
		}
		yShape, hShape := []int{seq, dirs, batch, H}, []int{dirs, batch, H}
		if layout == 1 {
			yShape, hShape = []int{batch, seq, dirs, H}, []int{batch, dirs, H}
			hs, cs = toBatchMajor(hs, dirs, batch, H), toBatchMajor(cs, dirs, batch, H)
		}
		outs := []*Tensor{fromFloat64s(x.DType, yShape, Y), fromFloat64s(x.DType, hShape, hs)}
		if kind == 'L' {
			outs = append(outs, fromFloat64s(x.DType, append([]int{}, hShape...), cs))
		}
		return outs, nil
	}
}

func toBatchMajor(v []float64, dirs, batch, H int) []float64 {
	o := make([]float64, len(v))
	for d := 0; d < dirs; d++ {
		for bi := 0; bi < batch; bi++ {
			copy(o[(bi*dirs+d)*H:(bi*dirs+d+1)*H], v[(d*batch+bi)*H:(d*batch+bi+1)*H])
		}
	}
	return o
}

package tflite

import (
	"github.com/modelc/modelc/engine/format/tflite/schema/tfl"
	"github.com/modelc/modelc/engine/ir"
)

// gru lowers an ONNX GRU (layout 0, the sequence length known) unrolled as lstm does:
// one FULLY_CONNECTED for every step's input projection, then per step FULLY_CONNECTED
// of the hidden state, SPLIT into z, r, h, LOGISTIC/TANH, and h' = h̃ + z·(h − h̃).
// Both values of linear_before_reset (torch exports 1), both directions and a constant
// initial state are supported; sequence_lens, clip and other activations are refused.
func (l *lowerer) gru(n *ir.Node) error {
	x, err := l.in(n, 0)
	if err != nil {
		return err
	}
	if attrInt(n, "layout", 0) != 0 {
		return unsupported(n, "layout 1 (batch major) is not supported")
	}
	if a := n.Attr("activations"); a != nil {
		for i, s := range a.Strings {
			if want := []string{"Sigmoid", "Tanh"}[i%2]; string(s) != want {
				return unsupported(n, "activation %q (only Sigmoid, Tanh)", s)
			}
		}
	}
	if v := l.optIn(n, 4); v != nil {
		return unsupported(n, "sequence_lens is not supported")
	}
	if attrFloat(n, "clip", 0) != 0 {
		return unsupported(n, "clip is not supported")
	}
	W, R, dirs, H, I, err := l.rnnWeights(n, x)
	if err != nil {
		return err
	}
	var B []float32
	if bv := l.optIn(n, 3); bv != nil {
		if bv.konst == nil {
			return unsupported(n, "B must be a constant")
		}
		if B, err = floats(bv.konst); err != nil {
			return unsupported(n, "%v", err)
		}
	}
	direction := attrString(n, "direction", "forward")
	if (direction == "bidirectional") != (dirs == 2) || dirs < 1 || dirs > 2 ||
		int64(len(W)) != dirs*3*H*I || int64(len(R)) != dirs*3*H*H || (B != nil && int64(len(B)) != dirs*6*H) {
		return unsupported(n, "W, R or B do not match direction %q and hidden_size %d", direction, H)
	}
	if B == nil {
		B = make([]float32, dirs*6*H)
	}
	lbr := attrInt(n, "linear_before_reset", 0) != 0
	S, N := x.shape[0], x.shape[1]
	if S < 1 || S > 4096 {
		return unsupported(n, "a sequence length of %d (the GRU is unrolled: it must be known)", S)
	}
	h0 := make([]float32, dirs*N*H)
	if v := l.optIn(n, 5); v != nil {
		f, err := floats(v.konst)
		if v.konst == nil || err != nil || int64(len(f)) != dirs*N*H {
			return unsupported(n, "the initial state must be a constant of shape [%d, %d, %d]", dirs, N, H)
		}
		h0 = f
	}
	name := n.Outputs[0]
	if name == "" {
		name = n.Name + "_Y"
	}
	xin, int8 := l.rnnInput(x, name)
	if int8 {
		defer func() { l.int8 = true }()
	}
	st := rnnSteps{l: l, n: N, h: H}
	f32, k, fc, bin, un := st.f32, st.konst, st.fc, st.bin, st.un
	axis1 := l.constTensor(name+"_axis1", ir.Int32, nil, i32bytes([]int32{1}))
	split := func(z int32, parts int, nm string) []int32 {
		outs := make([]int32, parts)
		for i := range outs {
			outs[i] = f32(nm, N, H)
		}
		l.b.op(tfl.BuiltinOperatorSPLIT, 1, []int32{axis1, z}, outs, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsSplitOptions, Value: &tfl.SplitOptionsT{NumSplits: int32(parts)}})
		return outs
	}
	x2 := l.reshape(xin, []int64{S * N, I}, name+"_x2d", ir.Float32)
	var ys [][]int32
	var hs []int32
	for d := range dirs {
		sfx := []string{"_fw", "_bw"}[d]
		reverse := direction == "reverse" || d == 1
		wb, rb := B[int64(d)*6*H:int64(d)*6*H+3*H], B[int64(d)*6*H+3*H:int64(d+1)*6*H]
		bias := make([]float32, 3*H)
		for j := range 3 * H {
			bias[j] = wb[j]
			if j < 2*H || !lbr {
				bias[j] += rb[j]
			}
		}
		xw := f32(name+sfx+"_xw", S*N, 3*H)
		fc(x2, k(name+sfx+"_W", []int64{3 * H, I}, W[int64(d)*3*H*I:int64(d+1)*3*H*I]), k(name+sfx+"_B", []int64{3 * H}, bias), xw)
		xw3 := l.reshape(xw, []int64{S, N, 3 * H}, name+sfx+"_xw3", ir.Float32)
		steps := make([]int32, S)
		if S == 1 {
			steps[0] = l.reshape(xw3, []int64{N, 3 * H}, name+sfx+"_xw_step", ir.Float32)
		} else {
			for t := range steps {
				steps[t] = f32(name+sfx+"_xw_step", N, 3*H)
			}
			l.b.op(tfl.BuiltinOperatorUNPACK, 1, []int32{xw3}, steps, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsUnpackOptions, Value: &tfl.UnpackOptionsT{Num: int32(S), Axis: 0}})
		}
		Rd := R[int64(d)*3*H*H : int64(d+1)*3*H*H]
		var rAll, rZR, rH, rBias int32
		if lbr {
			hb := make([]float32, 3*H)
			copy(hb[2*H:], rb[2*H:])
			rAll, rBias = k(name+sfx+"_R", []int64{3 * H, H}, Rd), k(name+sfx+"_Rb", []int64{3 * H}, hb)
		} else {
			rZR, rH = k(name+sfx+"_Rzr", []int64{2 * H, H}, Rd[:2*H*H]), k(name+sfx+"_Rh", []int64{H, H}, Rd[2*H*H:])
		}
		h := k(name+sfx+"_h0", []int64{N, H}, h0[int64(d)*N*H:int64(d+1)*N*H])
		y := make([]int32, S)
		for i := range S {
			t := i
			if reverse {
				t = S - 1 - i
			}
			xs := split(steps[t], 3, name+sfx+"_x")
			var hz, hr, hh int32
			if lbr {
				hp := f32(name+sfx+"_hR", N, 3*H)
				fc(h, rAll, rBias, hp)
				p := split(hp, 3, name+sfx+"_hp")
				hz, hr, hh = p[0], p[1], p[2]
			} else {
				hp := f32(name+sfx+"_hR", N, 2*H)
				fc(h, rZR, -1, hp)
				p := split(hp, 2, name+sfx+"_hp")
				hz, hr = p[0], p[1]
			}
			z := un(tfl.BuiltinOperatorLOGISTIC, bin(tfl.BuiltinOperatorADD, xs[0], hz, name+sfx+"_zp"), name+sfx+"_z")
			r := un(tfl.BuiltinOperatorLOGISTIC, bin(tfl.BuiltinOperatorADD, xs[1], hr, name+sfx+"_rp"), name+sfx+"_r")
			var rh int32
			if lbr {
				rh = bin(tfl.BuiltinOperatorMUL, r, hh, name+sfx+"_rh")
			} else {
				rh = f32(name+sfx+"_rh", N, H)
				fc(bin(tfl.BuiltinOperatorMUL, r, h, name+sfx+"_rhp"), rH, -1, rh)
			}
			ht := un(tfl.BuiltinOperatorTANH, bin(tfl.BuiltinOperatorADD, xs[2], rh, name+sfx+"_htp"), name+sfx+"_ht")
			// h' = h̃ + z·(h − h̃)
			h = bin(tfl.BuiltinOperatorADD, ht, bin(tfl.BuiltinOperatorMUL, z, bin(tfl.BuiltinOperatorSUB, h, ht, name+sfx+"_dh"), name+sfx+"_zdh"), name+sfx+"_h")
			y[t] = h
		}
		ys = append(ys, y)
		hs = append(hs, l.reshape(h, []int64{1, N, H}, name+sfx+"_hlast", ir.Float32))
	}
	var yd []int32
	for d, y := range ys {
		sfx := []string{"_fw", "_bw"}[d]
		t := y[0]
		if S > 1 {
			t = f32(name+sfx+"_seq", S, N, H)
			l.b.op(tfl.BuiltinOperatorPACK, 1, y, []int32{t}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsPackOptions, Value: &tfl.PackOptionsT{ValuesCount: int32(S), Axis: 0}})
		}
		yd = append(yd, l.reshape(t, []int64{S, 1, N, H}, name+sfx+"_4d", ir.Float32))
	}
	l.rnnOutput(n.Outputs[0], yd, []int64{S, dirs, N, H}, 1, int8)
	if len(n.Outputs) > 1 {
		l.rnnOutput(n.Outputs[1], hs, []int64{dirs, N, H}, 0, int8)
	}
	return nil
}

// rnnOutput gives the recurrent op's output out the value of parts concatenated along
// axis (float; QUANTIZEd in a full-integer model).
func (l *lowerer) rnnOutput(out string, parts []int32, shape []int64, axis int32, int8 bool) {
	if out == "" {
		return
	}
	t := parts[0]
	if len(parts) > 1 {
		t = l.b.tensor(out+"_cat", tfl.TensorTypeFLOAT32, shape, nil, nil)
		l.b.op(tfl.BuiltinOperatorCONCATENATION, 1, parts, []int32{t}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsConcatenationOptions, Value: &tfl.ConcatenationOptionsT{Axis: axis}})
	}
	if !int8 {
		l.b.sg.Tensors[t].Name = l.b.uniqueName(out)
		l.vals[out] = &value{name: out, shape: shape, dtype: ir.Float32, t: t}
		return
	}
	l.int8 = true
	v := l.out(out, shape, nil, ir.Float32)
	l.int8 = false
	l.b.op(tfl.BuiltinOperatorQUANTIZE, 1, []int32{t}, []int32{v.t}, nil)
}

// rnnInput returns the recurrent op's input x as a float32 tensor. In a full-int8 model
// the recurrence runs in float between DEQUANTIZE and QUANTIZE: l.int8 is switched off
// and int8 reports that the caller must switch it back on when done.
func (l *lowerer) rnnInput(x *value, name string) (xin int32, int8 bool) {
	xin = l.plain(x)
	if !l.int8 {
		return xin, false
	}
	f := l.b.tensor(name+"_in_float", tfl.TensorTypeFLOAT32, l.b.shapeOf(xin), nil, nil)
	l.b.op(tfl.BuiltinOperatorDEQUANTIZE, 2, []int32{xin}, []int32{f}, nil)
	l.int8 = false
	return f, true
}

// rnnSteps emits the float32 ops of an unrolled recurrence whose states are [n, h].
type rnnSteps struct {
	l    *lowerer
	n, h int64
}

func (r rnnSteps) f32(nm string, shape ...int64) int32 {
	return r.l.b.tensor(nm, tfl.TensorTypeFLOAT32, shape, nil, nil)
}

func (r rnnSteps) konst(nm string, shape []int64, v []float32) int32 {
	return r.l.constTensor(nm, ir.Float32, shape, f32bytes(v))
}

func (r rnnSteps) fc(in, w, b int32, out int32) {
	r.l.b.op(tfl.BuiltinOperatorFULLY_CONNECTED, 1, []int32{in, w, b}, []int32{out}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsFullyConnectedOptions, Value: &tfl.FullyConnectedOptionsT{}})
}

// bin is ADD, SUB or MUL of two [n, h] states.
func (r rnnSteps) bin(code tfl.BuiltinOperator, a, b int32, nm string) int32 {
	out := r.f32(nm, r.n, r.h)
	var opt *tfl.BuiltinOptionsT
	switch code {
	case tfl.BuiltinOperatorADD:
		opt = &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsAddOptions, Value: &tfl.AddOptionsT{}}
	case tfl.BuiltinOperatorSUB:
		opt = &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsSubOptions, Value: &tfl.SubOptionsT{}}
	case tfl.BuiltinOperatorMUL:
		opt = &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsMulOptions, Value: &tfl.MulOptionsT{}}
	}
	r.l.b.op(code, 1, []int32{a, b}, []int32{out}, opt)
	return out
}

// un is an activation (LOGISTIC, TANH, ...) of an [n, h] state.
func (r rnnSteps) un(code tfl.BuiltinOperator, a int32, nm string) int32 {
	out := r.f32(nm, r.n, r.h)
	r.l.b.op(code, 1, []int32{a}, []int32{out}, nil)
	return out
}

// rnnWeights reads an LSTM's or GRU's constant W [dirs, gates·H, I] and R [dirs, gates·H, H]
// for an input X of rank 3.
func (l *lowerer) rnnWeights(n *ir.Node, x *value) (W, R []float32, dirs, H, I int64, err error) {
	wv, err := l.in(n, 1)
	if err != nil {
		return nil, nil, 0, 0, 0, err
	}
	rv, err := l.in(n, 2)
	if err != nil {
		return nil, nil, 0, 0, 0, err
	}
	if wv.konst == nil || rv.konst == nil || len(x.shape) != 3 || len(wv.shape) != 3 || len(rv.shape) != 3 {
		return nil, nil, 0, 0, 0, unsupported(n, "W and R must be constants and X of rank 3")
	}
	if W, err = floats(wv.konst); err != nil {
		return nil, nil, 0, 0, 0, unsupported(n, "%v", err)
	}
	if R, err = floats(rv.konst); err != nil {
		return nil, nil, 0, 0, 0, unsupported(n, "%v", err)
	}
	return W, R, wv.shape[0], rv.shape[2], wv.shape[2], nil
}

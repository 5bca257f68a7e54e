package tflite

import (
	"github.com/modelc/modelc/engine/format/tflite/schema/tfl"
	"github.com/modelc/modelc/engine/ir"
)

// lstm lowers an ONNX LSTM (layout 0: X[seq, batch, input], the sequence length known)
// unrolled: one FULLY_CONNECTED for the input projection of every step, then per step a
// FULLY_CONNECTED of the hidden state, SPLIT into gates, LOGISTIC/TANH, MUL and ADD; the
// steps are PACKed into Y. Not UNIDIRECTIONAL_SEQUENCE_LSTM: its state lives in variable
// tensors that carry over from one invocation to the next, where ONNX's LSTM starts each
// run afresh. Peepholes, both directions and constant initial states are supported;
// sequence_lens, clip, input_forget and activations other than Sigmoid/Tanh/Tanh are
// refused. In a full-integer model the LSTM runs in float between a DEQUANTIZE and
// QUANTIZEs.
func (l *lowerer) lstm(n *ir.Node) error {
	x, err := l.in(n, 0)
	if err != nil {
		return err
	}
	if attrInt(n, "layout", 0) != 0 {
		return unsupported(n, "layout 1 (batch major) is not supported")
	}
	if attrInt(n, "input_forget", 0) != 0 {
		return unsupported(n, "input_forget is not supported")
	}
	if a := n.Attr("activations"); a != nil {
		for i, s := range a.Strings {
			if want := []string{"Sigmoid", "Tanh", "Tanh"}[i%3]; string(s) != want {
				return unsupported(n, "activation %q (TFLite's LSTM computes Sigmoid, Tanh, Tanh)", s)
			}
		}
	}
	if v := l.optIn(n, 4); v != nil {
		return unsupported(n, "sequence_lens is not supported")
	}
	W, R, dirs, H, I, err := l.rnnWeights(n, x)
	if err != nil {
		return err
	}
	var B, P []float32
	if bv := l.optIn(n, 3); bv != nil {
		if bv.konst == nil {
			return unsupported(n, "B must be a constant")
		}
		if B, err = floats(bv.konst); err != nil {
			return unsupported(n, "%v", err)
		}
	}
	if pv := l.optIn(n, 7); pv != nil {
		if pv.konst == nil {
			return unsupported(n, "P must be a constant")
		}
		if P, err = floats(pv.konst); err != nil {
			return unsupported(n, "%v", err)
		}
	}
	direction := attrString(n, "direction", "forward")
	if (direction == "bidirectional") != (dirs == 2) || dirs < 1 || dirs > 2 ||
		int64(len(W)) != dirs*4*H*I || int64(len(R)) != dirs*4*H*H ||
		(B != nil && int64(len(B)) != dirs*8*H) || (P != nil && int64(len(P)) != dirs*3*H) {
		return unsupported(n, "W, R, B or P do not match direction %q and hidden_size %d", direction, H)
	}
	if attrFloat(n, "clip", 0) != 0 {
		return unsupported(n, "clip is not supported")
	}
	S, N := x.shape[0], x.shape[1]
	if S < 1 || S > 4096 {
		return unsupported(n, "a sequence length of %d (the LSTM is unrolled: it must be known)", S)
	}
	init := make([][]float32, 2) // initial h and c, nil for zeros
	for k, i := range []int{5, 6} {
		v := l.optIn(n, i)
		if v == nil {
			continue
		}
		f, err := floats(v.konst)
		if v.konst == nil || err != nil || int64(len(f)) != dirs*N*H {
			return unsupported(n, "an initial state must be a constant of shape [%d, %d, %d]", dirs, N, H)
		}
		for _, z := range f {
			if z != 0 {
				init[k] = f
				break
			}
		}
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
	// X·Wᵀ + Wb + Rb of every step at once: [S·N, 4H], then one [N, 4H] per step
	x2 := l.reshape(xin, []int64{S * N, I}, name+"_x2d", ir.Float32)
	axis1 := l.constTensor(name+"_axis1", ir.Int32, nil, i32bytes([]int32{1}))
	var ys [][]int32
	var hs, cs []int32
	for d := range dirs {
		sfx := []string{"_fw", "_bw"}[d]
		reverse := direction == "reverse" || d == 1
		bias := make([]float32, 4*H)
		if B != nil {
			for j := range 4 * H {
				bias[j] = B[int64(d)*8*H+j] + B[int64(d)*8*H+4*H+j]
			}
		}
		xw := f32(name+sfx+"_xw", S*N, 4*H)
		fc(x2, k(name+sfx+"_W", []int64{4 * H, I}, W[int64(d)*4*H*I:int64(d+1)*4*H*I]), k(name+sfx+"_B", []int64{4 * H}, bias), xw)
		xw3 := l.reshape(xw, []int64{S, N, 4 * H}, name+sfx+"_xw3", ir.Float32)
		steps := make([]int32, S)
		for t := range steps {
			steps[t] = f32(name+sfx+"_xw_step", N, 4*H)
		}
		if S == 1 {
			steps[0] = l.reshape(xw3, []int64{N, 4 * H}, name+sfx+"_xw_step", ir.Float32)
		} else {
			l.b.op(tfl.BuiltinOperatorUNPACK, 1, []int32{xw3}, steps, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsUnpackOptions, Value: &tfl.UnpackOptionsT{Num: int32(S), Axis: 0}})
		}
		rt := k(name+sfx+"_R", []int64{4 * H, H}, R[int64(d)*4*H*H:int64(d+1)*4*H*H])
		var pi, po, pf int32 = -1, -1, -1
		if P != nil {
			off := int64(d) * 3 * H
			pi, po, pf = k(name+sfx+"_Pi", []int64{H}, P[off:off+H]), k(name+sfx+"_Po", []int64{H}, P[off+H:off+2*H]), k(name+sfx+"_Pf", []int64{H}, P[off+2*H:off+3*H])
		}
		state := func(k2 int, nm string) int32 {
			if init[k2] == nil {
				return -1
			}
			return k(name+sfx+nm, []int64{N, H}, init[k2][int64(d)*N*H:int64(d+1)*N*H])
		}
		h, c := state(0, "_h0"), state(1, "_c0")
		y := make([]int32, S)
		for i := range S {
			t := i
			if reverse {
				t = S - 1 - i
			}
			z := steps[t]
			if h >= 0 {
				hr := f32(name+sfx+"_hR", N, 4*H)
				fc(h, rt, -1, hr)
				z2 := f32(name+sfx+"_z", N, 4*H)
				l.b.op(tfl.BuiltinOperatorADD, 1, []int32{z, hr}, []int32{z2}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsAddOptions, Value: &tfl.AddOptionsT{}})
				z = z2
			}
			g4 := []int32{f32(name+sfx+"_zi", N, H), f32(name+sfx+"_zo", N, H), f32(name+sfx+"_zf", N, H), f32(name+sfx+"_zc", N, H)}
			l.b.op(tfl.BuiltinOperatorSPLIT, 1, []int32{axis1, z}, g4, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsSplitOptions, Value: &tfl.SplitOptionsT{NumSplits: 4}})
			zi, zo, zf, zc := g4[0], g4[1], g4[2], g4[3]
			if c >= 0 && pi >= 0 {
				zi = bin(tfl.BuiltinOperatorADD, zi, bin(tfl.BuiltinOperatorMUL, c, pi, name+sfx+"_pic"), name+sfx+"_zi_p")
				zf = bin(tfl.BuiltinOperatorADD, zf, bin(tfl.BuiltinOperatorMUL, c, pf, name+sfx+"_pfc"), name+sfx+"_zf_p")
			}
			ig := un(tfl.BuiltinOperatorLOGISTIC, zi, name+sfx+"_i")
			gg := un(tfl.BuiltinOperatorTANH, zc, name+sfx+"_g")
			nc := bin(tfl.BuiltinOperatorMUL, ig, gg, name+sfx+"_ig")
			if c >= 0 {
				fg := un(tfl.BuiltinOperatorLOGISTIC, zf, name+sfx+"_f")
				nc = bin(tfl.BuiltinOperatorADD, bin(tfl.BuiltinOperatorMUL, fg, c, name+sfx+"_fc"), nc, name+sfx+"_c")
			}
			c = nc
			if pi >= 0 {
				zo = bin(tfl.BuiltinOperatorADD, zo, bin(tfl.BuiltinOperatorMUL, c, po, name+sfx+"_poc"), name+sfx+"_zo_p")
			}
			h = bin(tfl.BuiltinOperatorMUL, un(tfl.BuiltinOperatorLOGISTIC, zo, name+sfx+"_o"), un(tfl.BuiltinOperatorTANH, c, name+sfx+"_tc"), name+sfx+"_h")
			y[t] = h
		}
		ys = append(ys, y)
		hs = append(hs, l.reshape(h, []int64{1, N, H}, name+sfx+"_hlast", ir.Float32))
		cs = append(cs, l.reshape(c, []int64{1, N, H}, name+sfx+"_clast", ir.Float32))
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
	if len(n.Outputs) > 2 {
		l.rnnOutput(n.Outputs[2], cs, []int64{dirs, N, H}, 0, int8)
	}
	return nil
}

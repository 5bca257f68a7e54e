package tf

// SavedModel export of ONNX LSTM and GRU as a TensorFlow While loop over the time steps.
// A loop, not an unrolled sequence: the exported models keep a sequence length that is
// only known at run time (the project's lstm fixture has a "steps" dimension), which
// unrolling cannot serve. The input projection of all steps is one BatchMatMulV2 before
// the loop; each iteration gathers its step, adds the hidden state's projection, applies
// the gates and writes h into a TensorList, stacked into Y after the loop. The weights
// enter the loop as loop variables, as tf.while_loop passes captured tensors.

import (
	"fmt"
	"strings"

	"github.com/modelc/modelc/engine/ir"
)

const (
	dtBool    = 10
	dtVariant = 21
)

// loopVar is one variable of a While loop.
type loopVar struct {
	name  string // the argument's name in the loop's functions
	value string // the initial value, a tensor of the serving function
	dtype uint64
}

func (e *exporter) rnn(n *ir.Node, unsupported func(string, ...any) error) error {
	if len(n.Inputs) < 3 || n.Inputs[0] == "" {
		return unsupported("X, W and R are needed")
	}
	lstm := n.OpType == "LSTM"
	gates := int64(3)
	if lstm {
		gates = 4
	}
	if nodeInt(n, "layout", 0) != 0 {
		return unsupported("layout 1 (batch major) is not supported")
	}
	if nodeInt(n, "input_forget", 0) != 0 || nodeFloat(n, "clip", 0) != 0 {
		return unsupported("input_forget and clip are not supported")
	}
	if a := n.Attr("activations"); a != nil {
		want := []string{"Sigmoid", "Tanh", "Tanh"}
		if !lstm {
			want = []string{"Sigmoid", "Tanh"}
		}
		for i, s := range a.Strings {
			if string(s) != want[i%len(want)] {
				return unsupported("activation %q (only the default Sigmoid/Tanh)", s)
			}
		}
	}
	opt := func(i int) string {
		if i < len(n.Inputs) {
			return n.Inputs[i]
		}
		return ""
	}
	if opt(4) != "" {
		return unsupported("sequence_lens is not supported")
	}
	if lstm && opt(7) != "" {
		return unsupported("peepholes are not supported")
	}
	H := nodeInt(n, "hidden_size", 0)
	w, okW := e.consts[opt(1)]
	r, okR := e.consts[opt(2)]
	if !okW || !okR || len(w.Shape) != 3 || H <= 0 {
		return unsupported("W and R must be constants and hidden_size set")
	}
	dirs, I := w.Shape[0], w.Shape[2]
	direction := "forward"
	if a := n.Attr("direction"); a != nil {
		direction = string(a.String)
	}
	if (direction == "bidirectional") != (dirs == 2) || w.Shape[1] != gates*H || len(r.Shape) != 3 || r.Shape[0] != dirs || r.Shape[1] != gates*H || r.Shape[2] != H {
		return unsupported("W %v and R %v do not match direction %q and hidden_size %d", w.Shape, r.Shape, direction, H)
	}
	wv, err := w.Float32s()
	if err != nil {
		return unsupported("%v", err)
	}
	rv, err := r.Float32s()
	if err != nil {
		return unsupported("%v", err)
	}
	bv := make([]float32, dirs*2*gates*H)
	if opt(3) != "" {
		b, ok := e.consts[opt(3)]
		if !ok {
			return unsupported("B must be a constant")
		}
		if bv, err = b.Float32s(); err != nil || int64(len(bv)) != dirs*2*gates*H {
			return unsupported("B of %d values", len(bv))
		}
	}
	x, err := e.cf(n.Inputs[0])
	if err != nil {
		return err
	}
	out := n.Outputs[0]
	if out == "" {
		out = n.Name + "_Y"
	}
	T := attrType("T", dtFloat)
	dims := e.add("Shape", out+"_xshape", []string{x}, T, attrType("out_type", dtInt32))
	dim := func(i int64) string {
		return e.add("StridedSlice", fmt.Sprintf("%s_xdim%d", out, i), []string{dims, e.constI32(out+"_db", i), e.constI32(out+"_de", i+1), e.constI32(out+"_ds", 1)},
			attrType("T", dtInt32), attrType("Index", dtInt32), attrInt("shrink_axis_mask", 1))
	}
	steps, batch := dim(0), dim(1)
	stateShape := e.add("Pack", out+"_state_shape", []string{batch, e.scalarI32(out+"_hidden", H)}, attrType("T", dtInt32), attrInt("N", 2), attrInt("axis", 0))
	initial := func(input int, d int64) (string, error) {
		if opt(input) == "" {
			return e.add("Fill", fmt.Sprintf("%s_zeros%d_%d", out, input, d), []string{stateShape, e.constF(out+"_zero", []int64{}, []float32{0})}, T, attrType("index_type", dtInt32)), nil
		}
		s, err := e.cf(opt(input))
		if err != nil {
			return "", err
		}
		return e.add("GatherV2", fmt.Sprintf("%s_init%d_%d", out, input, d), []string{s, e.scalarI32(out+"_dir", d), e.scalarI32(out+"_axis0", 0)},
			attrType("Tparams", dtFloat), attrType("Tindices", dtInt32), attrType("Taxis", dtInt32)), nil
	}
	GH := gates * H
	var ys, hs, cs []string
	for d := int64(0); d < dirs; d++ {
		reverse := direction == "reverse" || d == 1
		pre := fmt.Sprintf("%s_d%d", out, d)
		wd := wv[d*GH*I : (d+1)*GH*I]
		rd := rv[d*GH*H : (d+1)*GH*H]
		wb := bv[d*2*GH : d*2*GH+GH]
		rb := bv[d*2*GH+GH : (d+1)*2*GH]
		xd := x
		if reverse {
			xd = e.add("ReverseV2", pre+"_xrev", []string{x, e.constI32(pre+"_xrev_axis", 0)}, T, attrType("Tidx", dtInt32))
		}
		// The input projection of every step, with W's bias (and, for an LSTM, R's).
		xbias := append([]float32{}, wb...)
		if lstm {
			for i := range xbias {
				xbias[i] += rb[i]
			}
		}
		wt, wts := transpose2(wd, GH, I)
		xp := e.add("BatchMatMulV2", pre+"_xproj", []string{xd, e.constF(pre+"_WT", wts, wt)}, T)
		xp = e.add("AddV2", pre+"_xproj_bias", []string{xp, e.constF(pre+"_Wb", []int64{GH}, xbias)}, T)

		h0, err := initial(5, d)
		if err != nil {
			return err
		}
		vars := []loopVar{{"t", e.scalarI32(pre+"_t0", 0), dtInt32}, {"steps", steps, dtInt32}, {"h", h0, dtFloat}}
		if lstm {
			c0, err := initial(6, d)
			if err != nil {
				return err
			}
			vars = append(vars, loopVar{"c", c0, dtFloat})
		}
		list := e.add("TensorListReserve", pre+"_ys", []string{e.constI32(pre+"_elem", -1, H), steps}, attrType("element_dtype", dtFloat), attrType("shape_type", dtInt32))
		vars = append(vars, loopVar{"ys", list, dtVariant}, loopVar{"xproj", xp, dtFloat})
		if lstm {
			rt, rts := transpose2(rd, GH, H)
			vars = append(vars, loopVar{"rt", e.constF(pre+"_RT", rts, rt), dtFloat})
		} else {
			rzr, rzrs := transpose2(rd[:2*H*H], 2*H, H)
			rh, rhs := transpose2(rd[2*H*H:], H, H)
			vars = append(vars, loopVar{"rzr", e.constF(pre+"_RzrT", rzrs, rzr), dtFloat}, loopVar{"bzr", e.constF(pre+"_Rbzr", []int64{2 * H}, rb[:2*H]), dtFloat},
				loopVar{"rh", e.constF(pre+"_RhT", rhs, rh), dtFloat}, loopVar{"bh", e.constF(pre+"_Rbh", []int64{H}, rb[2*H:]), dtFloat})
		}
		name := e.fresh(sanitizeFunctionName(pre))
		cond, err := loopCond(name+"_cond", vars, e.file)
		if err != nil {
			return err
		}
		body, err := e.rnnBody(name+"_body", vars, lstm, nodeInt(n, "linear_before_reset", 0) != 0)
		if err != nil {
			return err
		}
		e.functions = append(e.functions, cond, body)
		var types []uint64
		var inputs []string
		for _, v := range vars {
			types = append(types, v.dtype)
			inputs = append(inputs, v.value)
		}
		loop := e.add("While", pre+"_loop", inputs, attrTypes("T", types...), attrFuncName("cond", name+"_cond"), attrFuncName("body", name+"_body"),
			attrInt("parallel_iterations", 10))
		listAt := 3
		if lstm {
			listAt = 4
		}
		y := e.add("TensorListStack", pre+"_y", []string{fmt.Sprintf("%s:%d", loop, listAt), e.constI32(pre+"_yelem", -1, H)}, attrType("element_dtype", dtFloat), attrInt("num_elements", -1))
		if reverse {
			y = e.add("ReverseV2", pre+"_yrev", []string{y, e.constI32(pre+"_yrev_axis", 0)}, T, attrType("Tidx", dtInt32))
		}
		ys = append(ys, y)
		hs = append(hs, loop+":2")
		cs = append(cs, loop+":3")
	}
	pack := func(i int, parts []string, axis int64, rank int) {
		if i >= len(n.Outputs) || n.Outputs[i] == "" {
			return
		}
		e.layout[n.Outputs[i]] = e.add("Pack", n.Outputs[i], parts, T, attrInt("N", int64(len(parts))), attrInt("axis", axis))
		e.rank[n.Outputs[i]] = rank
	}
	pack(0, ys, 1, 4)
	pack(1, hs, 0, 3)
	if lstm {
		pack(2, cs, 0, 3)
	}
	return nil
}

// transpose2 transposes a rows×cols matrix.
func transpose2(v []float32, rows, cols int64) ([]float32, []int64) {
	t := make([]float32, len(v))
	for i := int64(0); i < rows; i++ {
		for j := int64(0); j < cols; j++ {
			t[j*rows+i] = v[i*cols+j]
		}
	}
	return t, []int64{cols, rows}
}

func sanitizeFunctionName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

// loopArgs starts a loop function: a Placeholder per loop variable.
func loopArgs(vars []loopVar, file string) (*exporter, []sigTensor) {
	f := &exporter{used: map[string]bool{}, layout: map[string]string{}, nhwc: map[string]string{}, rank: map[string]int{},
		consts: map[string]*ir.Tensor{}, dtype: map[string]uint64{}, length: map[string]int{}, file: file}
	var ins []sigTensor
	for _, v := range vars {
		ins = append(ins, sigTensor{key: v.name, node: f.add("Placeholder", v.name, nil), dtype: v.dtype})
	}
	return f, ins
}

// loopCond is the While's condition: t < steps.
func loopCond(name string, vars []loopVar, file string) ([]byte, error) {
	f, ins := loopArgs(vars, file)
	less := f.add("Less", "less", []string{ins[0].node, ins[1].node}, attrType("T", dtInt32))
	return functionDef(name, f.nodes, ins, nil, []sigTensor{{key: "more", node: less, dtype: dtBool}}, file)
}

// rnnBody is one time step: it returns the loop variables with t, h (and c) advanced and
// h written to the list.
func (e *exporter) rnnBody(name string, vars []loopVar, lstm, linearBeforeReset bool) ([]byte, error) {
	f, ins := loopArgs(vars, e.file)
	arg := map[string]string{}
	for _, in := range ins {
		arg[in.key] = in.node
	}
	T := attrType("T", dtFloat)
	op := func(op, base string, inputs ...string) string { return f.add(op, base, inputs, T) }
	xt := f.add("GatherV2", "xt", []string{arg["xproj"], arg["t"], f.scalarI32("axis0", 0)}, attrType("Tparams", dtFloat), attrType("Tindices", dtInt32), attrType("Taxis", dtInt32))
	split := func(v string, k int64) string {
		return f.add("Split", v+"_split", []string{f.scalarI32(v+"_split_axis", 1), v}, T, attrInt("num_split", k))
	}
	outs := map[string]string{}
	if lstm {
		g := op("AddV2", "gates", xt, f.add("MatMul", "hR", []string{arg["h"], arg["rt"]}, T))
		s := split(g, 4) // ONNX's order: input, output, forget, cell
		i, o, fg, cc := op("Sigmoid", "i", s+":0"), op("Sigmoid", "o", s+":1"), op("Sigmoid", "f", s+":2"), op("Tanh", "cc", s+":3")
		c := op("AddV2", "c_next", op("Mul", "fc", fg, arg["c"]), op("Mul", "ic", i, cc))
		outs["c"] = c
		outs["h"] = op("Mul", "h_next", o, op("Tanh", "tanh_c", c))
	} else {
		xs := split(xt, 3) // ONNX's order: update, reset, hidden
		hzr := op("AddV2", "hzr", f.add("MatMul", "hRzr", []string{arg["h"], arg["rzr"]}, T), arg["bzr"])
		hs := split(hzr, 2)
		z := op("Sigmoid", "z", op("AddV2", "z_in", xs+":0", hs+":0"))
		r := op("Sigmoid", "r", op("AddV2", "r_in", xs+":1", hs+":1"))
		var hh string
		if linearBeforeReset {
			hh = op("Mul", "r_hRh", r, op("AddV2", "hRh", f.add("MatMul", "hRh_mm", []string{arg["h"], arg["rh"]}, T), arg["bh"]))
		} else {
			hh = op("AddV2", "rhRh", f.add("MatMul", "rhRh_mm", []string{op("Mul", "rh_in", r, arg["h"]), arg["rh"]}, T), arg["bh"])
		}
		nn := op("Tanh", "n", op("AddV2", "n_in", xs+":2", hh))
		// h' = (1 - z)·n + z·h = n + z·(h - n)
		outs["h"] = op("AddV2", "h_next", nn, op("Mul", "z_dh", z, op("Sub", "dh", arg["h"], nn)))
	}
	outs["ys"] = f.add("TensorListSetItem", "ys_next", []string{arg["ys"], arg["t"], outs["h"]}, attrType("element_dtype", dtFloat))
	outs["t"] = f.add("AddV2", "t_next", []string{arg["t"], f.scalarI32("one", 1)}, attrType("T", dtInt32))
	var results []sigTensor
	for _, v := range vars {
		node, ok := outs[v.name]
		if !ok { // loop-invariant: passed through
			node = f.add("Identity", v.name+"_same", []string{arg[v.name]}, attrType("T", v.dtype))
		}
		results = append(results, sigTensor{key: v.name, node: node, dtype: v.dtype})
	}
	return functionDef(name, f.nodes, ins, nil, results, e.file)
}

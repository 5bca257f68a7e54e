package tf

// Keras' recurrent layers in a SavedModel: a While (or StatelessWhile) loop whose body
// is one LSTM or GRU cell step, reading the time-major input from a TensorList and
// writing each step's output to another. Keras 3 and tf_keras both write this shape of
// loop (Keras 3 inlines the cell into the body; tf_keras calls standard_lstm /
// standard_gru and passes the weights in as tensors). The loop is recognised as a
// whole and becomes one ONNX LSTM or GRU, as the .keras reader makes, rather than an
// ONNX Loop: the runtime and onnxruntime run those as single kernels, and a generic
// TensorList-carrying Loop would need sequence ops to stay general. A loop that is not
// a plain Keras cell (masking, other activations, a custom cell) is refused by name.

import (
	"fmt"
	"strings"

	"github.com/modelc/modelc/engine/ir"
)

// rnnBodyOps are the ops a Keras LSTM or GRU cell step with its default activations
// (tanh, sigmoid) and no mask is made of.
var rnnBodyOps = map[string]bool{
	"TensorListGetItem": true, "TensorListSetItem": true, "ReadVariableOp": true, "MatMul": true, "BiasAdd": true,
	"AddV2": true, "Add": true, "Sub": true, "Mul": true, "Split": true, "SplitV": true, "Squeeze": true, "Unpack": true,
	"StridedSlice": true, "Sigmoid": true, "Tanh": true, "Const": true, "Identity": true, "NoOp": true,
}

// attrFuncNamed is the function a func-valued attribute (While's body, cond) names.
func attrFuncNamed(n *tfNodeDef, key string) string {
	return string(attrField(attrField(n.attrs[key], 10), 1))
}

// bodySource follows Identity nodes inside a function body from an input string to the
// node or argument that makes the tensor; it returns that name.
func bodySource(fn *tfFunction, nodes map[string]*tfNodeDef, in string) string {
	for i := 0; i < 100; i++ {
		name := strings.SplitN(in, ":", 2)[0]
		n := nodes[name]
		if n == nil || n.op != "Identity" || len(n.inputs) == 0 {
			return name
		}
		in = n.inputs[0]
	}
	return in
}

// variableBehind follows a tensor back through reads, identities, squeezes and slices
// to the variable (or constant) it is a view of, and returns that whole tensor.
func (im *importer) variableBehind(r ref) (*ir.Tensor, error) {
	for i := 0; i < 100; i++ {
		if r.arg != "" {
			t := im.vars[im.handles[r.arg]]
			if t == nil {
				return nil, fmt.Errorf("variable %s has no value in variables/", r.arg)
			}
			return t, nil
		}
		n := r.sc.nodes[r.node]
		if n == nil {
			break
		}
		next := -1
		switch n.op {
		case "VarHandleOp":
			if r.sc.fn == nil {
				r.arg = n.name
				continue
			}
		case "Const":
			t, _, err := constValue(n, n.name)
			if err != nil || t == nil {
				return nil, fmt.Errorf("constant %s: %v", n.name, err)
			}
			return t, nil
		case "Identity", "ReadVariableOp", "Squeeze", "StridedSlice", "Unpack":
			next = 0
		case "Split":
			next = 1
		case "SplitV":
			next = 0
		}
		if next < 0 || next >= len(n.inputs) {
			break
		}
		var err error
		if r, err = im.parseRef(r.sc, n.inputs[next], r.sc.fn == nil); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("tensor %s is not read from a variable", r.key())
}

// kerasRNNLoop converts a While node whose body is a Keras LSTM or GRU step. Its
// outputs: the output TensorList as the stacked (time, batch, units) tensor (or
// (1, batch, units) when Keras keeps only the last step), the final states, and no
// value for the loop's counters and captured weights.
func (im *importer) kerasRNNLoop(sc *scope, n *tfNodeDef) ([]kval, error) {
	b := im.b
	unsupported := func(why string, args ...any) error {
		return ir.Errorf(ir.KindUnsupported, "", "TensorFlow node %s (%s): %s", n.name, n.op, fmt.Sprintf(why, args...))
	}
	body := im.sm.functions[attrFuncNamed(n, "body")]
	if body == nil {
		return nil, unsupported("body function %q not in the library", attrFuncNamed(n, "body"))
	}
	var outer []string
	for _, in := range n.inputs {
		if !strings.HasPrefix(in, "^") {
			outer = append(outer, in)
		}
	}
	if len(outer) != len(body.inArgs) || len(body.outArgs) != len(body.inArgs) {
		return nil, unsupported("%d loop variables for a body of %d arguments", len(outer), len(body.inArgs))
	}
	argIndex := map[string]int{}
	inner := &scope{fn: body, nodes: map[string]*tfNodeDef{}, args: map[string]ref{}, id: sc.id + "/" + n.name}
	for _, x := range body.nodes {
		inner.nodes[x.name] = x
	}
	for i, a := range body.inArgs {
		argIndex[a] = i
		r, err := im.parseRef(sc, outer[i], sc.fn == nil)
		if err != nil {
			return nil, err
		}
		if h, err := im.handle(r); err == nil {
			r.arg = h
		}
		inner.args[a] = r
	}
	arg := func(in string) (int, bool) {
		i, ok := argIndex[bodySource(body, inner.nodes, in)]
		return i, ok
	}

	// The cell's parts, found by what they read.
	listIn, timeArg, listOut, hArg, cArg := -1, -1, -1, -1, -1
	var getItem, setItem *tfNodeDef
	count := map[string]int{}
	for _, x := range body.nodes {
		if !rnnBodyOps[x.op] {
			return nil, unsupported("the loop body %s holds a %s (%s): only Keras LSTM and GRU cells with tanh/sigmoid and no mask are read", body.name, x.name, x.op)
		}
		count[x.op]++
		switch x.op {
		case "TensorListGetItem":
			if getItem != nil || len(x.inputs) < 2 {
				return nil, unsupported("the loop body reads more than one TensorList")
			}
			getItem = x
			listIn, _ = arg(x.inputs[0])
			timeArg, _ = arg(x.inputs[1])
		case "TensorListSetItem":
			if setItem != nil || len(x.inputs) < 3 {
				return nil, unsupported("the loop body writes more than one TensorList")
			}
			setItem = x
			listOut, _ = arg(x.inputs[0])
		}
	}
	if getItem == nil || setItem == nil || listIn < 0 || timeArg < 0 || listOut < 0 {
		return nil, unsupported("the loop body is not a recurrent layer's step (no TensorList read and write)")
	}
	var kernel, recurrent, bias *ir.Tensor
	same := func(have **ir.Tensor, t *ir.Tensor) error {
		if *have != nil && *have != t {
			return unsupported("the cell multiplies by two different weights")
		}
		*have = t
		return nil
	}
	for _, x := range body.nodes {
		if x.op != "MatMul" || len(x.inputs) < 2 || attrB(x, "transpose_a") || attrB(x, "transpose_b") {
			continue
		}
		r, err := im.parseRef(inner, x.inputs[1], false)
		if err != nil {
			return nil, err
		}
		w, err := im.variableBehind(r)
		if err != nil {
			return nil, unsupported("weight of %s: %v", x.name, err)
		}
		if bodySource(body, inner.nodes, x.inputs[0]) == getItem.name {
			err = same(&kernel, w)
		} else {
			err = same(&recurrent, w)
			if i, ok := arg(x.inputs[0]); ok {
				hArg = i
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if kernel == nil || recurrent == nil || hArg < 0 || len(kernel.Shape) != 2 || len(recurrent.Shape) != 2 || recurrent.Shape[0] <= 0 {
		return nil, unsupported("no input and recurrent kernels found in the loop body")
	}
	u := recurrent.Shape[0]
	class := map[int64]string{4: "LSTM", 3: "GRU"}[recurrent.Shape[1]/u]
	if recurrent.Shape[1]%u != 0 || class == "" {
		return nil, unsupported("recurrent kernel %v is neither an LSTM's nor a GRU's", recurrent.Shape)
	}
	want := map[string][2]int{"LSTM": {3, 2}, "GRU": {2, 1}}[class] // sigmoids, tanhs
	if count["Sigmoid"] != want[0] || count["Tanh"] != want[1] {
		return nil, unsupported("a %s cell with %d sigmoids and %d tanhs is not Keras' default one", class, count["Sigmoid"], count["Tanh"])
	}
	// The bias is the variable an addition reads: (gates·u), or (2, gates·u) for a GRU
	// with reset_after; none when use_bias is off.
	gu := recurrent.Shape[1]
	for _, x := range body.nodes {
		if x.op != "BiasAdd" && x.op != "AddV2" && x.op != "Add" {
			continue
		}
		for _, in := range x.inputs {
			r, err := im.parseRef(inner, in, false)
			if err != nil {
				continue
			}
			t, err := im.variableBehind(r)
			if err != nil || t == kernel || t == recurrent || len(t.Shape) == 0 || t.DType != ir.Float32 {
				continue // a loop state, a product or the step counter's increment, not a weight
			}
			if !(len(t.Shape) == 1 && t.Shape[0] == gu) && !(len(t.Shape) == 2 && t.Shape[0] == 2 && t.Shape[1] == gu && class == "GRU") {
				return nil, unsupported("bias of shape %v for a %s of %d units", t.Shape, class, u)
			}
			if err := same(&bias, t); err != nil {
				return nil, err
			}
		}
	}
	if class == "LSTM" {
		// The cell state: the other loop state the step multiplies.
		for _, x := range body.nodes {
			if x.op != "Mul" {
				continue
			}
			for _, in := range x.inputs {
				if i, ok := arg(in); ok && i != hArg && i != timeArg {
					cArg = i
				}
			}
		}
		if cArg < 0 {
			return nil, unsupported("no cell state found in the LSTM loop")
		}
	}

	// The input: the tensor the input TensorList was made from, time-major.
	lr, err := im.parseRef(sc, outer[listIn], sc.fn == nil)
	if err != nil {
		return nil, err
	}
	for i := 0; i < 100; i++ {
		src := lr.sc.nodes[lr.node]
		if src == nil || src.op != "Identity" || len(src.inputs) == 0 {
			break
		}
		if lr, err = im.parseRef(lr.sc, src.inputs[0], lr.sc.fn == nil); err != nil {
			return nil, err
		}
	}
	from := lr.sc.nodes[lr.node]
	if from == nil || from.op != "TensorListFromTensor" || len(from.inputs) == 0 {
		return nil, unsupported("the loop's input list is not made by TensorListFromTensor")
	}
	xr, err := im.parseRef(lr.sc, from.inputs[0], lr.sc.fn == nil)
	if err != nil {
		return nil, err
	}
	x, err := im.value(xr)
	if err != nil {
		return nil, err
	}
	if x = b.toCL(x); x.rank != 3 {
		return nil, unsupported("input of rank %d", x.rank)
	}
	state := func(i int) (string, error) {
		if i < 0 {
			return "", nil
		}
		v, err := im.value(inner.args[body.inArgs[i]])
		if err != nil {
			return "", err
		}
		return b.toCL(v).name, nil
	}
	h0, err := state(hArg)
	if err != nil {
		return nil, err
	}
	c0, err := state(cArg)
	if err != nil {
		return nil, err
	}
	resetAfter := bias != nil && len(bias.Shape) == 2
	outs, err := b.rnnOp(n.name, class, x.name, kernel, recurrent, bias, resetAfter, h0, c0)
	if err != nil {
		return nil, err
	}
	res := make([]kval, len(body.outArgs))
	lastOnly := func(s string) kval {
		return kval{name: b.op("Squeeze", n.name+"_"+s, []string{outs[map[string]int{"h": 1, "c": 2}[s]], b.constI(n.name+"_"+s+"_axis", 0)}), rank: 2, dtype: ir.Float32}
	}
	res[hArg] = lastOnly("h")
	if cArg >= 0 {
		res[cArg] = lastOnly("c")
	}
	if i, ok := arg(setItem.inputs[1]); ok && i == timeArg {
		// Every step's output: Y (time, 1, batch, u) → (time, batch, u).
		res[listOut] = kval{name: b.op("Squeeze", n.name+"_sequence", []string{outs[0], b.constI(n.name+"_sequence_axis", 1)}), rank: 3, dtype: ir.Float32}
	} else {
		// Keras keeps a list of one element, the last output, when return_sequences is off.
		res[listOut] = kval{name: outs[1], rank: 3, dtype: ir.Float32}
	}
	return res, nil
}

package tflite

import (
	"math"

	"github.com/modelc/modelc/engine/format/tflite/schema/tfl"
	"github.com/modelc/modelc/engine/ir"
)

// geometry of a 2-D sliding window (conv or pool) over an NCHW input.
type geometry struct {
	out      [2]int64
	padding  tfl.Padding
	explicit []int64 // [top, left, bottom, right] when neither SAME nor VALID fits
}

func windowGeometry(n *ir.Node, in, k, s, d [2]int64) (geometry, error) {
	var g geometry
	pads := attrInts(n, "pads")
	if pads == nil {
		pads = make([]int64, 4)
	}
	if len(pads) != 4 {
		return g, unsupported(n, "pads %v: only 2-D windows are supported", pads)
	}
	pb := [2]int64{pads[0], pads[1]}
	pe := [2]int64{pads[2], pads[3]}
	ceil := attrInt(n, "ceil_mode", 0) == 1
	auto := attrString(n, "auto_pad", "NOTSET")
	for i := range 2 {
		ek := (k[i]-1)*d[i] + 1
		switch auto {
		case "SAME_UPPER", "SAME_LOWER":
			o := (in[i] + s[i] - 1) / s[i]
			total := max((o-1)*s[i]+ek-in[i], 0)
			pb[i], pe[i] = total/2, total-total/2
			if auto == "SAME_LOWER" {
				pb[i], pe[i] = pe[i], pb[i]
			}
		case "VALID":
			pb[i], pe[i] = 0, 0
		}
	}
	same, valid := true, true
	for i := range 2 {
		ek := (k[i]-1)*d[i] + 1
		num := in[i] + pb[i] + pe[i] - ek
		if num < 0 {
			return g, unsupported(n, "window larger than its padded input")
		}
		g.out[i] = num/s[i] + 1
		if ceil && num%s[i] != 0 {
			g.out[i]++
			if (g.out[i]-1)*s[i] >= in[i]+pb[i] {
				g.out[i]--
			}
			if g.out[i] != num/s[i]+1 {
				return g, unsupported(n, "ceil_mode changes the output size; TFLite pools round down")
			}
		}
		o := (in[i] + s[i] - 1) / s[i]
		total := max((o-1)*s[i]+ek-in[i], 0)
		if pb[i] != total/2 || pe[i] != total-total/2 || g.out[i] != o {
			same = false
		}
		if pb[i] != 0 || pe[i] != 0 {
			valid = false
		}
	}
	switch {
	case valid:
		g.padding = tfl.PaddingVALID
	case same:
		g.padding = tfl.PaddingSAME
	default:
		g.padding = tfl.PaddingVALID
		g.explicit = []int64{pb[0], pb[1], pe[0], pe[1]}
	}
	return g, nil
}

func pair(v []int64, def int64) [2]int64 {
	if len(v) >= 2 {
		return [2]int64{v[0], v[1]}
	}
	return [2]int64{def, def}
}

// padNHWC emits a PAD (or PADV2 with fill) of an NHWC tensor by [top, left, bottom, right].
func (l *lowerer) padNHWC(t int32, p []int64, fill float32, name string) int32 {
	s := l.b.shapeOf(t)
	paddings := []int32{0, 0, int32(p[0]), int32(p[2]), int32(p[1]), int32(p[3]), 0, 0}
	pt := l.b.tensor(name+"_paddings", tfl.TensorTypeINT32, []int64{4, 2}, i32bytes(paddings), nil)
	os := []int64{s[0], s[1] + p[0] + p[2], s[2] + p[1] + p[3], s[3]}
	out := l.b.tensor(name+"_padded", l.b.sg.Tensors[t].Type, os, nil, l.b.sg.Tensors[t].Quantization)
	if fill == 0 {
		l.b.op(tfl.BuiltinOperatorPAD, l.ver(1, 2), []int32{t, pt}, []int32{out}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsPadOptions, Value: &tfl.PadOptionsT{}})
	} else {
		ft := l.b.tensor(name+"_fill", tfl.TensorTypeFLOAT32, []int64{}, f32bytes([]float32{fill}), nil)
		if l.int8 {
			ft = l.b.tensor(name+"_fill", tfl.TensorTypeINT8, []int64{}, []byte{0x80}, l.b.sg.Tensors[t].Quantization)
		}
		l.b.op(tfl.BuiltinOperatorPADV2, l.ver(1, 2), []int32{t, pt, ft}, []int32{out}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsPadV2Options, Value: &tfl.PadV2OptionsT{}})
	}
	return out
}

func (l *lowerer) conv(n *ir.Node) error {
	x, err := l.in(n, 0)
	if err != nil {
		return err
	}
	w, err := l.in(n, 1)
	if err != nil {
		return err
	}
	if len(x.shape) != 4 || w.konst == nil || len(w.shape) != 4 {
		return unsupported(n, "only 2-D convolutions with constant weights are supported")
	}
	group := attrInt(n, "group", 1)
	O, cin := w.shape[0], x.shape[1]
	k := [2]int64{w.shape[2], w.shape[3]}
	s, d := pair(attrInts(n, "strides"), 1), pair(attrInts(n, "dilations"), 1)
	g, err := windowGeometry(n, [2]int64{x.shape[2], x.shape[3]}, k, s, d)
	if err != nil {
		return err
	}
	xin := l.inLayout(x, nhwc)
	if g.explicit != nil {
		xin = l.padNHWC(xin, g.explicit, 0, n.Outputs[0])
	}
	bias := l.optIn(n, 2)
	if bias != nil && bias.konst == nil {
		return unsupported(n, "the bias must be a constant")
	}
	out, act := l.fusedOut(n, []int64{x.shape[0], O, g.out[0], g.out[1]}, nhwc)
	switch {
	case group == 1:
		wt, wq := l.weight(w, []int{0, 2, 3, 1}, 0, n)
		bt := l.bias(bias, O, xin, wq, n)
		opt := &tfl.Conv2DOptionsT{Padding: g.padding, StrideW: int32(s[1]), StrideH: int32(s[0]), DilationWFactor: int32(d[1]), DilationHFactor: int32(d[0]), FusedActivationFunction: act}
		// versions as LiteRT's op_version.cc: int8 3, hybrid per-channel 5 (dilation: 1)
		v := l.weightVersion(1, wq, 3, 5)
		l.b.op(tfl.BuiltinOperatorCONV_2D, v, []int32{xin, wt, bt}, []int32{out.t}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsConv2DOptions, Value: opt})
	case group == cin && w.shape[1] == 1:
		// depthwise: ONNX [C·M, 1, kh, kw] -> TFLite [1, kh, kw, C·M]
		wt, wq := l.weight(w, []int{1, 2, 3, 0}, 3, n)
		bt := l.bias(bias, O, xin, wq, n)
		opt := &tfl.DepthwiseConv2DOptionsT{Padding: g.padding, StrideW: int32(s[1]), StrideH: int32(s[0]), DepthMultiplier: int32(O / cin), DilationWFactor: int32(d[1]), DilationHFactor: int32(d[0]), FusedActivationFunction: act}
		v := int32(1)
		if d[0] != 1 || d[1] != 1 {
			v = 2
		}
		v = l.weightVersion(v, wq, 3, 6)
		l.b.op(tfl.BuiltinOperatorDEPTHWISE_CONV_2D, v, []int32{xin, wt, bt}, []int32{out.t}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsDepthwiseConv2DOptions, Value: opt})
	default:
		return unsupported(n, "grouped convolution (group %d of %d channels) has no TFLite builtin", group, cin)
	}
	return nil
}

func (l *lowerer) convTranspose(n *ir.Node) error {
	x, err := l.in(n, 0)
	if err != nil {
		return err
	}
	w, err := l.in(n, 1)
	if err != nil {
		return err
	}
	if len(x.shape) != 4 || w.konst == nil || len(w.shape) != 4 {
		return unsupported(n, "only 2-D transposed convolutions with constant weights are supported")
	}
	if attrInt(n, "group", 1) != 1 {
		return unsupported(n, "grouped transposed convolution has no TFLite builtin")
	}
	s, d := pair(attrInts(n, "strides"), 1), pair(attrInts(n, "dilations"), 1)
	if d != [2]int64{1, 1} {
		return unsupported(n, "dilated transposed convolution has no TFLite builtin")
	}
	O := w.shape[1]
	k := [2]int64{w.shape[2], w.shape[3]}
	pads := attrInts(n, "pads")
	if pads == nil {
		pads = make([]int64, 4)
	}
	op := pair(attrInts(n, "output_padding"), 0)
	var out [2]int64
	padding := tfl.PaddingVALID
	for i := range 2 {
		in := x.shape[2+i]
		out[i] = s[i]*(in-1) + op[i] + k[i] - pads[i] - pads[i+2]
		if os := attrInts(n, "output_shape"); len(os) == 2 {
			out[i] = os[i]
		}
	}
	same, valid := true, true
	for i := range 2 {
		in := x.shape[2+i]
		full := s[i]*(in-1) + k[i]
		if out[i] != in*s[i] {
			same = false
		} else {
			total := max(full-out[i], 0)
			if pads[i] != total/2 {
				same = false
			}
		}
		if out[i] != full || pads[i] != 0 {
			valid = false
		}
	}
	switch {
	case valid:
	case same:
		padding = tfl.PaddingSAME
	default:
		return unsupported(n, "pads %v with output_padding %v fit neither SAME nor VALID", pads, op)
	}
	xin := l.inLayout(x, nhwc)
	// ONNX [Cin, Cout, kh, kw] -> TFLite [Cout, kh, kw, Cin]
	wt, wq := l.weight(w, []int{1, 2, 3, 0}, 0, n)
	res, act := l.fusedOut(n, []int64{x.shape[0], O, out[0], out[1]}, nhwc)
	osz := i32bytes([]int32{int32(x.shape[0]), int32(out[0]), int32(out[1]), int32(O)})
	ost := l.b.tensor(n.Outputs[0]+"_output_shape", tfl.TensorTypeINT32, []int64{4}, osz, nil)
	bt := l.bias(l.optIn(n, 2), O, xin, wq, n)
	opt := &tfl.TransposeConvOptionsT{Padding: padding, StrideW: int32(s[1]), StrideH: int32(s[0]), FusedActivationFunction: act}
	v := int32(3) // with the bias input
	if act != tfl.ActivationFunctionTypeNONE {
		v = 4
	}
	l.b.op(tfl.BuiltinOperatorTRANSPOSE_CONV, v, []int32{ost, wt, xin, bt}, []int32{res.t}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsTransposeConvOptions, Value: opt})
	return nil
}

func (l *lowerer) pool(n *ir.Node) error {
	x, err := l.in(n, 0)
	if err != nil {
		return err
	}
	if len(x.shape) != 4 {
		return unsupported(n, "only 2-D pools are supported")
	}
	k := pair(attrInts(n, "kernel_shape"), 1)
	s, d := pair(attrInts(n, "strides"), 1), pair(attrInts(n, "dilations"), 1)
	if d != [2]int64{1, 1} {
		return unsupported(n, "dilated pools have no TFLite builtin")
	}
	g, err := windowGeometry(n, [2]int64{x.shape[2], x.shape[3]}, k, s, d)
	if err != nil {
		return err
	}
	code := tfl.BuiltinOperatorMAX_POOL_2D
	xin := l.inLayout(x, nhwc)
	if n.OpType == "AveragePool" {
		code = tfl.BuiltinOperatorAVERAGE_POOL_2D
		if g.explicit != nil || (g.padding == tfl.PaddingSAME && attrInt(n, "count_include_pad", 0) == 1) {
			return unsupported(n, "average pool padding that counts the pad has no TFLite builtin")
		}
	} else if g.explicit != nil {
		xin = l.padNHWC(xin, g.explicit, float32(math.Inf(-1)), n.Outputs[0])
	}
	out, act := l.fusedOut(n, []int64{x.shape[0], x.shape[1], g.out[0], g.out[1]}, nhwc)
	opt := &tfl.Pool2DOptionsT{Padding: g.padding, StrideW: int32(s[1]), StrideH: int32(s[0]), FilterWidth: int32(k[1]), FilterHeight: int32(k[0]), FusedActivationFunction: act}
	l.b.op(code, l.ver(1, 2), []int32{xin}, []int32{out.t}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsPool2DOptions, Value: opt})
	if act == tfl.ActivationFunctionTypeNONE {
		l.sameQuant(out.t, xin)
	}
	return nil
}

func (l *lowerer) globalPool(n *ir.Node) error {
	x, err := l.in(n, 0)
	if err != nil {
		return err
	}
	r := len(x.shape)
	axes := make([]int64, 0, r-2)
	for i := 2; i < r; i++ {
		axes = append(axes, int64(i))
	}
	code := tfl.BuiltinOperatorMEAN
	if n.OpType == "GlobalMaxPool" {
		code = tfl.BuiltinOperatorREDUCE_MAX
	}
	return l.reduceAxes(n, x, axes, true, code)
}

// reduceAxes reduces x over logical axes, in x's stored layout.
func (l *lowerer) reduceAxes(n *ir.Node, x *value, axes []int64, keep bool, code tfl.BuiltinOperator) error {
	r := len(x.shape)
	perm := x.storedPerm()
	if x.flat != nil {
		perm = identity(r)
	}
	inv := inverse(perm)
	reduced := make([]bool, r)
	stAxes := make([]int32, len(axes))
	for i, a := range axes {
		a := normAxis(a, r)
		reduced[a] = true
		stAxes[i] = int32(inv[a])
	}
	shape := make([]int64, 0, r)
	var outPerm []int
	if keep {
		for i, s := range x.shape {
			if reduced[i] {
				s = 1
			}
			shape = append(shape, s)
		}
		outPerm = perm
	} else {
		newIdx := make([]int, r)
		j := 0
		for i, s := range x.shape {
			if !reduced[i] {
				shape = append(shape, s)
				newIdx[i] = j
				j++
			}
		}
		for _, p := range perm {
			if !reduced[p] {
				outPerm = append(outPerm, newIdx[p])
			}
		}
	}
	if isIdentity(outPerm) {
		outPerm = nil
	}
	var xin int32
	if x.flat != nil {
		xin = l.plain(x)
	} else {
		xin = l.stored(x)
	}
	out := l.out(n.Outputs[0], shape, outPerm, x.dtype)
	at := l.b.tensor(n.Outputs[0]+"_axes", tfl.TensorTypeINT32, []int64{int64(len(stAxes))}, i32bytes(stAxes), nil)
	l.b.op(code, l.ver(1, 2), []int32{xin, at}, []int32{out.t}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsReducerOptions, Value: &tfl.ReducerOptionsT{KeepDims: keep}})
	if code == tfl.BuiltinOperatorREDUCE_MAX || code == tfl.BuiltinOperatorREDUCE_MIN {
		l.sameQuant(out.t, xin)
	}
	return nil
}

func (l *lowerer) reduce(n *ir.Node) error {
	x, err := l.in(n, 0)
	if err != nil {
		return err
	}
	axes := attrInts(n, "axes")
	if v := l.optIn(n, 1); v != nil {
		if axes, err = constInts(n, v); err != nil {
			return err
		}
	}
	if len(axes) == 0 {
		if attrInt(n, "noop_with_empty_axes", 0) == 1 {
			l.vals[n.Outputs[0]] = x
			return nil
		}
		for i := range x.shape {
			axes = append(axes, int64(i))
		}
	}
	code := map[string]tfl.BuiltinOperator{"ReduceMean": tfl.BuiltinOperatorMEAN, "ReduceMax": tfl.BuiltinOperatorREDUCE_MAX,
		"ReduceSum": tfl.BuiltinOperatorSUM, "ReduceMin": tfl.BuiltinOperatorREDUCE_MIN}[n.OpType]
	return l.reduceAxes(n, x, axes, attrInt(n, "keepdims", 1) == 1, code)
}

// gemm lowers Gemm (and MatMul with a constant 2-D right side) to FULLY_CONNECTED.
func (l *lowerer) gemm(n *ir.Node) error {
	a, err := l.in(n, 0)
	if err != nil {
		return err
	}
	bv, err := l.in(n, 1)
	if err != nil {
		return err
	}
	if attrInt(n, "transA", 0) != 0 || bv.konst == nil || len(a.shape) != 2 {
		return l.batchMatmul(n, a, bv, attrInt(n, "transA", 0) != 0, attrInt(n, "transB", 0) != 0, l.optIn(n, 2), attrFloat(n, "alpha", 1), attrFloat(n, "beta", 1))
	}
	// a read-only view of the weights (it may alias the input file): transposed or scaled
	// copies are made only where needed
	wv, err := bv.konst.Float32s()
	if err != nil {
		return unsupported(n, "%v", err)
	}
	var K, M int64
	if attrInt(n, "transB", 0) == 0 { // B [K, M] -> weights [M, K]
		K, M = bv.shape[0], bv.shape[1]
		wv = transpose2(wv, K, M)
	} else {
		M, K = bv.shape[0], bv.shape[1]
	}
	// now wv is [M(out), K(in)]
	if alpha := attrFloat(n, "alpha", 1); alpha != 1 {
		if attrInt(n, "transB", 0) != 0 {
			wv = append([]float32(nil), wv...)
		}
		for i := range wv {
			wv[i] *= alpha
		}
	}
	var bias []float32
	if c := l.optIn(n, 2); c != nil {
		if c.konst == nil || ir.NumElements(c.shape) != M {
			return l.batchMatmul(n, a, bv, false, attrInt(n, "transB", 0) != 0, c, attrFloat(n, "alpha", 1), attrFloat(n, "beta", 1))
		}
		if bias, err = floats(c.konst); err != nil {
			return unsupported(n, "%v", err)
		}
		beta := attrFloat(n, "beta", 1)
		for i := range bias {
			bias[i] *= beta
		}
	}
	return l.fullyConnected(n, a, wv, M, K, bias, false)
}

func transpose2(v []float32, r, c int64) []float32 {
	out := make([]float32, len(v))
	for i := range r {
		for j := range c {
			out[j*r+i] = v[i*c+j]
		}
	}
	return out
}

// fullyConnected emits FULLY_CONNECTED of a by weights w [M, K] and bias (nil: none).
func (l *lowerer) fullyConnected(n *ir.Node, a *value, w []float32, M, K int64, bias []float32, keepDims bool) error {
	var ain int32
	if a.flat != nil {
		// a is stored as the flattening of a channels-last value: permute the weight
		// columns to that order instead of transposing the activations.
		src := a.flat
		sp := src.storedPerm()
		sshape := permute(src.shape, sp)
		logStrides := strides(src.shape)
		per := K / a.shape[0] * 1
		_ = per
		cols := make([]int64, K) // stored column j holds logical column cols[j]
		idx := make([]int64, len(sshape))
		for j := range K {
			var lf int64
			for i := 1; i < len(sshape); i++ {
				lf += idx[i] * logStrides[sp[i]]
			}
			cols[j] = lf
			for d := len(sshape) - 1; d >= 1; d-- {
				idx[d]++
				if idx[d] < sshape[d] {
					break
				}
				idx[d] = 0
			}
		}
		nw := make([]float32, len(w))
		for m := range M {
			for j := range K {
				nw[m*K+j] = w[m*K+cols[j]]
			}
		}
		w = nw
		ain = a.t
	} else {
		ain = l.plain(a)
	}
	outShape := append(append([]int64(nil), a.shape[:len(a.shape)-1]...), M)
	if !keepDims {
		outShape = []int64{ir.NumElements(a.shape) / K, M}
	}
	out, act := l.fusedOut(n, outShape, nil)
	wc := newConst(n.Outputs[0]+"_weights", ir.Float32, []int64{M, K}, ir.Float32Bytes(w)) // no copy
	wt, wq := l.weight(wc, []int{0, 1}, 0, n)
	var bv *value
	if bias != nil {
		bv = constF32(n.Outputs[0]+"_bias", []int64{M}, bias)
	}
	bt := l.bias(bv, M, ain, wq, n)
	v := int32(1)
	if keepDims {
		v = 5
	}
	v = l.weightVersion(v, wq, 4, 3)
	if keepDims && v < 5 {
		v = 5
	}
	opt := &tfl.FullyConnectedOptionsT{FusedActivationFunction: act, KeepNumDims: keepDims}
	l.b.op(tfl.BuiltinOperatorFULLY_CONNECTED, v, []int32{ain, wt, bt}, []int32{out.t}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsFullyConnectedOptions, Value: opt})
	return nil
}

func strides(shape []int64) []int64 {
	s := make([]int64, len(shape))
	p := int64(1)
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = p
		p *= shape[i]
	}
	return s
}

func (l *lowerer) matmul(n *ir.Node) error {
	a, err := l.in(n, 0)
	if err != nil {
		return err
	}
	bv, err := l.in(n, 1)
	if err != nil {
		return err
	}
	if bv.konst == nil || len(bv.shape) != 2 || len(a.shape) < 2 {
		return l.batchMatmul(n, a, bv, false, false, nil, 1, 1)
	}
	wv, err := bv.konst.Float32s() // read-only view; transpose2 copies
	if err != nil {
		return unsupported(n, "%v", err)
	}
	K, M := bv.shape[0], bv.shape[1]
	w := transpose2(wv, K, M)
	// A following Add of a constant [M] vector becomes the bias.
	var bias []float32
	name := n.Outputs[0]
	if cs := l.consumers[name]; len(cs) == 1 && cs[0].OpType == "Add" && !l.outputs[name] {
		add := cs[0]
		other := add.Inputs[0]
		if other == name {
			other = add.Inputs[1]
		}
		if c := l.vals[other]; c != nil && c.konst != nil && ir.NumElements(c.shape) == M && len(c.shape) <= 1+0*len(c.shape) {
			if bias, err = floats(c.konst); err == nil {
				l.skip[add] = true
				fused := *n
				fused.Outputs = add.Outputs
				n = &fused
			} else {
				bias = nil
			}
		}
	}
	return l.fullyConnected(n, a, w, M, K, bias, len(a.shape) > 2)
}

// batchMatmul lowers a product of two activations (or a Gemm that FULLY_CONNECTED cannot
// express) to BATCH_MATMUL, then scales and adds C.
func (l *lowerer) batchMatmul(n *ir.Node, a, bv *value, ta, tb bool, c *value, alpha, beta float32) error {
	ra, rb := len(a.shape), len(bv.shape)
	if ra < 2 || rb < 2 {
		return unsupported(n, "matrix products of vectors are not supported")
	}
	M, N := a.shape[ra-2], bv.shape[rb-1]
	if ta {
		M = a.shape[ra-1]
	}
	if tb {
		N = bv.shape[rb-2]
	}
	batch := broadcastShape(a.shape[:ra-2], bv.shape[:rb-2])
	shape := append(append(batch, M), N)
	at, bt := l.plain(a), l.plain(bv)
	name := n.Outputs[0]
	if c != nil || alpha != 1 {
		name += "_mm"
	}
	out := l.out(name, shape, nil, ir.Float32)
	opt := &tfl.BatchMatMulOptionsT{AdjX: ta, AdjY: tb}
	l.b.op(tfl.BuiltinOperatorBATCH_MATMUL, l.ver(1, 2), []int32{at, bt}, []int32{out.t}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsBatchMatMulOptions, Value: opt})
	res := out
	if alpha != 1 {
		res = l.binaryOp(name+"_alpha", tfl.BuiltinOperatorMUL, res, constF32(name+"_alphav", nil, []float32{alpha}), tfl.ActivationFunctionTypeNONE)
	}
	if c != nil {
		if beta != 1 {
			c = l.binaryOp(name+"_beta", tfl.BuiltinOperatorMUL, c, constF32(name+"_betav", nil, []float32{beta}), tfl.ActivationFunctionTypeNONE)
		}
		res = l.binaryOp(n.Outputs[0], tfl.BuiltinOperatorADD, res, c, tfl.ActivationFunctionTypeNONE)
	}
	l.vals[n.Outputs[0]] = res
	return nil
}

func broadcastShape(a, b []int64) []int64 {
	r := max(len(a), len(b))
	out := make([]int64, r)
	for i := range r {
		da, db := int64(1), int64(1)
		if j := len(a) - r + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - r + i; j >= 0 {
			db = b[j]
		}
		out[i] = max(da, db)
	}
	return out
}

// expandTo gives v's value with its logical shape padded with leading ones to rank r.
func (l *lowerer) expandTo(v *value, r int) *value {
	if len(v.shape) >= r {
		return v
	}
	shape := append(make([]int64, r-len(v.shape)), v.shape...)
	for i := 0; i < r-len(v.shape); i++ {
		shape[i] = 1
	}
	if v.konst != nil {
		t := *v.konst
		t.Shape = shape
		return &value{name: v.name, shape: shape, dtype: v.dtype, t: -1, konst: &t}
	}
	t := l.reshape(l.plain(v), shape, v.name+"_x", v.dtype)
	return &value{name: v.name, shape: shape, dtype: v.dtype, t: t}
}

var binaryCodes = map[string]tfl.BuiltinOperator{
	"Add": tfl.BuiltinOperatorADD, "Sub": tfl.BuiltinOperatorSUB, "Mul": tfl.BuiltinOperatorMUL,
	"Div": tfl.BuiltinOperatorDIV, "Max": tfl.BuiltinOperatorMAXIMUM, "Min": tfl.BuiltinOperatorMINIMUM,
	"Pow": tfl.BuiltinOperatorPOW,
}

func (l *lowerer) binary(n *ir.Node) error {
	if len(n.Inputs) != 2 {
		return unsupported(n, "only two inputs are supported")
	}
	a, err := l.in(n, 0)
	if err != nil {
		return err
	}
	b, err := l.in(n, 1)
	if err != nil {
		return err
	}
	if n.OpType == "Pow" && b.konst != nil {
		if e, err := b.konst.Float32s(); err == nil && len(e) == 1 {
			switch e[0] {
			case 2:
				l.vals[n.Outputs[0]] = l.binaryOp(n.Outputs[0], tfl.BuiltinOperatorMUL, a, a, tfl.ActivationFunctionTypeNONE)
				return nil
			case 0.5:
				return l.unaryCode(n, a, tfl.BuiltinOperatorSQRT, nil)
			}
		}
	}
	code := binaryCodes[n.OpType]
	act := tfl.ActivationFunctionTypeNONE
	name := n.Outputs[0]
	switch code {
	case tfl.BuiltinOperatorADD, tfl.BuiltinOperatorSUB, tfl.BuiltinOperatorMUL, tfl.BuiltinOperatorDIV:
		var c *ir.Node
		if act, c = l.activation(name); c != nil {
			l.skip[c] = true
			name = c.Outputs[0]
		}
	}
	v := l.binaryOp(name, code, a, b, act)
	l.vals[n.Outputs[0]] = v
	return nil
}

// binaryOp emits an element-wise binary op, in channels-last layout when either side is.
func (l *lowerer) binaryOp(name string, code tfl.BuiltinOperator, a, b *value, act tfl.ActivationFunctionType) *value {
	shape := broadcastShape(a.shape, b.shape)
	r := len(shape)
	var perm []int
	for _, v := range []*value{a, b} {
		if v.konst == nil && v.flat == nil && v.perm != nil && len(v.shape) == r {
			perm = v.perm
			break
		}
	}
	var at, bt int32
	if perm != nil {
		at, bt = l.inLayout(l.expandTo(a, r), perm), l.inLayout(l.expandTo(b, r), perm)
	} else {
		at, bt = l.plain(a), l.plain(b)
	}
	out := l.out(name, shape, perm, a.dtype)
	if l.int8 && l.b.sg.Tensors[out.t].Quantization == nil {
		// an intermediate of a lowering (BatchNormalization's scale, HardSigmoid's steps)
		// has no calibrated range: bound it from its operands' ranges
		if lo, hi, ok := intervalOf(code, l.rangeOf(at), l.rangeOf(bt)); ok {
			l.b.sg.Tensors[out.t].Quantization = quantParamsFor(lo, hi)
		}
	}
	var opt *tfl.BuiltinOptionsT
	switch code {
	case tfl.BuiltinOperatorADD:
		opt = &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsAddOptions, Value: &tfl.AddOptionsT{FusedActivationFunction: act, PotScaleInt16: true}}
	case tfl.BuiltinOperatorSUB:
		opt = &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsSubOptions, Value: &tfl.SubOptionsT{FusedActivationFunction: act, PotScaleInt16: true}}
	case tfl.BuiltinOperatorMUL:
		opt = &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsMulOptions, Value: &tfl.MulOptionsT{FusedActivationFunction: act}}
	case tfl.BuiltinOperatorDIV:
		opt = &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsDivOptions, Value: &tfl.DivOptionsT{FusedActivationFunction: act}}
	case tfl.BuiltinOperatorMAXIMUM, tfl.BuiltinOperatorMINIMUM:
		opt = &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsMaximumMinimumOptions, Value: &tfl.MaximumMinimumOptionsT{}}
	case tfl.BuiltinOperatorPOW:
		opt = &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsPowOptions, Value: &tfl.PowOptionsT{}}
	case tfl.BuiltinOperatorSQUARED_DIFFERENCE:
		opt = &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsSquaredDifferenceOptions, Value: &tfl.SquaredDifferenceOptionsT{}}
	}
	v := l.ver(1, 2)
	if r > 4 && (code == tfl.BuiltinOperatorADD || code == tfl.BuiltinOperatorSUB || code == tfl.BuiltinOperatorMUL) {
		v = 4 // broadcasting beyond 4-D
	}
	l.b.op(code, v, []int32{at, bt}, []int32{out.t}, opt)
	return out
}

var unaryCodes = map[string]tfl.BuiltinOperator{
	"Relu": tfl.BuiltinOperatorRELU, "Sigmoid": tfl.BuiltinOperatorLOGISTIC, "Tanh": tfl.BuiltinOperatorTANH,
	"HardSwish": tfl.BuiltinOperatorHARD_SWISH, "Exp": tfl.BuiltinOperatorEXP, "Sqrt": tfl.BuiltinOperatorSQRT,
	"Neg": tfl.BuiltinOperatorNEG, "Abs": tfl.BuiltinOperatorABS, "Gelu": tfl.BuiltinOperatorGELU,
	"LeakyRelu": tfl.BuiltinOperatorLEAKY_RELU, "Log": tfl.BuiltinOperatorLOG, "Floor": tfl.BuiltinOperatorFLOOR,
	"Ceil": tfl.BuiltinOperatorCEIL,
}

func (l *lowerer) unary(n *ir.Node) error {
	x, err := l.in(n, 0)
	if err != nil {
		return err
	}
	switch n.OpType {
	case "Reciprocal":
		l.vals[n.Outputs[0]] = l.binaryOp(n.Outputs[0], tfl.BuiltinOperatorDIV, constF32(n.Outputs[0]+"_one", nil, []float32{1}), x, tfl.ActivationFunctionTypeNONE)
		return nil
	case "Erf":
		return unsupported(n, "Erf has no TFLite builtin (a GELU written with Erf is not matched yet)")
	}
	var opt *tfl.BuiltinOptionsT
	switch n.OpType {
	case "Gelu":
		opt = &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsGeluOptions, Value: &tfl.GeluOptionsT{Approximate: attrString(n, "approximate", "none") == "tanh"}}
	case "LeakyRelu":
		opt = &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsLeakyReluOptions, Value: &tfl.LeakyReluOptionsT{Alpha: attrFloat(n, "alpha", 0.01)}}
	}
	return l.unaryCode(n, x, unaryCodes[n.OpType], opt)
}

func (l *lowerer) unaryCode(n *ir.Node, x *value, code tfl.BuiltinOperator, opt *tfl.BuiltinOptionsT) error {
	xin := l.stored(x)
	perm := x.perm
	if x.flat != nil {
		xin, perm = l.plain(x), nil
	}
	out := l.out(n.Outputs[0], x.shape, perm, x.dtype)
	v := l.ver(1, 2)
	if code == tfl.BuiltinOperatorHARD_SWISH || code == tfl.BuiltinOperatorRELU_N1_TO_1 {
		v = 1 // one version for every type
	}
	l.b.op(code, v, []int32{xin}, []int32{out.t}, opt)
	l.fixedQuant(out.t, code)
	return nil
}

func (l *lowerer) clip(n *ir.Node) error {
	x, err := l.in(n, 0)
	if err != nil {
		return err
	}
	lo, hi, ok := l.clipBounds(n)
	if !ok {
		return unsupported(n, "Clip bounds must be constants")
	}
	switch {
	case lo == 0 && hi == 6:
		return l.unaryCode(n, x, tfl.BuiltinOperatorRELU6, nil)
	case lo == 0 && math.IsInf(float64(hi), 1):
		return l.unaryCode(n, x, tfl.BuiltinOperatorRELU, nil)
	case lo == -1 && hi == 1:
		return l.unaryCode(n, x, tfl.BuiltinOperatorRELU_N1_TO_1, nil)
	}
	v := x
	if !math.IsInf(float64(hi), 1) {
		v = l.binaryOp(n.Outputs[0]+"_min", tfl.BuiltinOperatorMINIMUM, v, constF32(n.Outputs[0]+"_hi", nil, []float32{hi}), tfl.ActivationFunctionTypeNONE)
	}
	if !math.IsInf(float64(lo), -1) {
		v = l.binaryOp(n.Outputs[0], tfl.BuiltinOperatorMAXIMUM, v, constF32(n.Outputs[0]+"_lo", nil, []float32{lo}), tfl.ActivationFunctionTypeNONE)
	}
	l.vals[n.Outputs[0]] = v
	return nil
}

// batchNorm (inference) becomes MUL and ADD by per-channel constants.
func (l *lowerer) batchNorm(n *ir.Node) error {
	x, err := l.in(n, 0)
	if err != nil {
		return err
	}
	var p [4][]float32
	for i := range 4 {
		v, err := l.in(n, i+1)
		if err != nil {
			return err
		}
		if v.konst == nil {
			return unsupported(n, "scale, bias, mean and variance must be constants")
		}
		if p[i], err = floats(v.konst); err != nil {
			return unsupported(n, "%v", err)
		}
	}
	eps := attrFloat(n, "epsilon", 1e-5)
	C := int64(len(p[0]))
	mul, add := make([]float32, C), make([]float32, C)
	for c := range C {
		mul[c] = p[0][c] / float32(math.Sqrt(float64(p[3][c]+eps)))
		add[c] = p[1][c] - p[2][c]*mul[c]
	}
	shape := make([]int64, len(x.shape))
	for i := range shape {
		shape[i] = 1
	}
	shape[1] = C
	m := l.binaryOp(n.Outputs[0]+"_bn_mul", tfl.BuiltinOperatorMUL, x, constF32(n.Outputs[0]+"_bn_scale", shape, mul), tfl.ActivationFunctionTypeNONE)
	name := n.Outputs[0]
	act, c := l.activation(name)
	if c != nil {
		l.skip[c] = true
		name = c.Outputs[0]
	}
	v := l.binaryOp(name, tfl.BuiltinOperatorADD, m, constF32(n.Outputs[0]+"_bn_shift", shape, add), act)
	l.vals[n.Outputs[0]] = v
	return nil
}

func (l *lowerer) softmax(n *ir.Node) error {
	x, err := l.in(n, 0)
	if err != nil {
		return err
	}
	r := len(x.shape)
	def := int64(-1)
	axis := normAxis(attrInt(n, "axis", def), r)
	opt := &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsSoftmaxOptions, Value: &tfl.SoftmaxOptionsT{Beta: 1}}
	if x.flat == nil && x.perm != nil && x.perm[r-1] == axis {
		return l.unaryCode(n, x, tfl.BuiltinOperatorSOFTMAX, opt)
	}
	if axis != r-1 {
		return unsupported(n, "softmax over axis %d of %d; TFLite's SOFTMAX works on the last axis", axis, r)
	}
	xin := l.plain(x)
	out := l.out(n.Outputs[0], x.shape, nil, x.dtype)
	l.b.op(tfl.BuiltinOperatorSOFTMAX, l.ver(1, 2), []int32{xin}, []int32{out.t}, opt)
	l.fixedQuant(out.t, tfl.BuiltinOperatorSOFTMAX)
	return nil
}

func (l *lowerer) reshapeNode(n *ir.Node) error {
	x, err := l.in(n, 0)
	if err != nil {
		return err
	}
	var shape []int64
	switch n.OpType {
	case "Flatten":
		axis := normAxis(attrInt(n, "axis", 1), len(x.shape))
		shape = []int64{ir.NumElements(x.shape[:axis]), ir.NumElements(x.shape[axis:])}
	case "Reshape":
		spec, err := constInts(n, l.optIn(n, 1))
		if err != nil {
			return err
		}
		shape = make([]int64, len(spec))
		infer, known := -1, int64(1)
		for i, s := range spec {
			switch {
			case s == 0 && attrInt(n, "allowzero", 0) == 0:
				if i >= len(x.shape) {
					return unsupported(n, "shape %v copies a dimension the input lacks", spec)
				}
				shape[i] = x.shape[i]
			case s == -1:
				infer = i
				continue
			default:
				shape[i] = s
			}
			known *= shape[i]
		}
		if infer >= 0 {
			if known == 0 {
				return unsupported(n, "cannot infer a dimension next to a zero")
			}
			shape[infer] = ir.NumElements(x.shape) / known
		}
	case "Squeeze", "Unsqueeze":
		axes := attrInts(n, "axes")
		if v := l.optIn(n, 1); v != nil {
			if axes, err = constInts(n, v); err != nil {
				return err
			}
		}
		if n.OpType == "Squeeze" {
			drop := map[int]bool{}
			for _, a := range axes {
				drop[normAxis(a, len(x.shape))] = true
			}
			for i, s := range x.shape {
				if (len(axes) == 0 && s == 1) || drop[i] {
					continue
				}
				shape = append(shape, s)
			}
		} else {
			r := len(x.shape) + len(axes)
			add := map[int]bool{}
			for _, a := range axes {
				add[normAxis(a, r)] = true
			}
			j := 0
			for i := range r {
				if add[i] {
					shape = append(shape, 1)
				} else {
					shape = append(shape, x.shape[j])
					j++
				}
			}
		}
	}
	if ir.NumElements(shape) != ir.NumElements(x.shape) {
		return unsupported(n, "reshape of %v to %v changes the element count", x.shape, shape)
	}
	if x.konst != nil {
		t := *x.konst
		t.Shape = shape
		t.Name = n.Outputs[0]
		l.vals[n.Outputs[0]] = &value{name: t.Name, shape: shape, dtype: t.DType, t: -1, konst: &t}
		return nil
	}
	// [N, ...] -> [N, K] of a channels-last value: keep its element order (see layout.go).
	if x.flat == nil && x.perm != nil && x.perm[0] == 0 && len(shape) == 2 && shape[0] == x.shape[0] {
		st := permute(x.shape, x.perm)
		if onlyUnitsMove(st, inverse(x.perm)) { // the orders agree: a plain reshape
			out := l.out(n.Outputs[0], shape, nil, x.dtype)
			l.reshapeTo(x.t, out.t, shape)
			l.sameQuant(out.t, x.t)
			return nil
		}
		out := l.out(n.Outputs[0], shape, nil, x.dtype)
		out.flat = x
		l.reshapeTo(x.t, out.t, shape)
		l.sameQuant(out.t, x.t)
		return nil
	}
	xin := l.plain(x)
	out := l.out(n.Outputs[0], shape, nil, x.dtype)
	l.reshapeTo(xin, out.t, shape)
	l.sameQuant(out.t, xin)
	return nil
}

// transposeNode only relabels: the output is the input's tensor with another layout.
func (l *lowerer) transposeNode(n *ir.Node) error {
	x, err := l.in(n, 0)
	if err != nil {
		return err
	}
	r := len(x.shape)
	q := attrInts(n, "perm")
	if q == nil {
		for i := r - 1; i >= 0; i-- {
			q = append(q, int64(i))
		}
	}
	qi := make([]int, r)
	for i, v := range q {
		qi[i] = int(v)
	}
	shape := make([]int64, r)
	for i, p := range qi {
		shape[i] = x.shape[p]
	}
	if x.flat != nil || x.konst != nil {
		t := l.transpose(l.plain(x), x.shape, qi, n.Outputs[0], x.dtype)
		v := &value{name: n.Outputs[0], shape: shape, dtype: x.dtype, t: t}
		l.vals[n.Outputs[0]] = v
		return nil
	}
	// out logical j = in logical q[j]; stored i = in logical have[i] = out logical qinv[have[i]].
	have := x.storedPerm()
	qinv := inverse(qi)
	perm := make([]int, r)
	for i, h := range have {
		perm[i] = qinv[h]
	}
	if isIdentity(perm) {
		perm = nil
	}
	l.vals[n.Outputs[0]] = &value{name: n.Outputs[0], shape: shape, dtype: x.dtype, perm: perm, t: x.t}
	return nil
}

func (l *lowerer) concat(n *ir.Node) error {
	var ins []*value
	for i := range n.Inputs {
		v, err := l.in(n, i)
		if err != nil {
			return err
		}
		ins = append(ins, v)
	}
	r := len(ins[0].shape)
	axis := normAxis(attrInt(n, "axis", 0), r)
	shape := append([]int64(nil), ins[0].shape...)
	shape[axis] = 0
	var perm []int
	for _, v := range ins {
		shape[axis] += v.shape[axis]
		if v.konst == nil && v.flat == nil && v.perm != nil && perm == nil {
			perm = v.perm
		}
	}
	want := identity(r)
	if perm != nil {
		want = perm
	}
	var ts []int32
	for _, v := range ins {
		ts = append(ts, l.inLayout(v, want))
	}
	stAxis := inverse(want)[axis]
	out := l.out(n.Outputs[0], shape, perm, ins[0].dtype)
	if l.int8 {
		// int8 CONCATENATION needs every input on the output's grid: requantize the others
		oq := l.b.sg.Tensors[out.t].Quantization
		for i, t := range ts {
			if q := l.b.sg.Tensors[t].Quantization; oq != nil && q != nil && (q.Scale[0] != oq.Scale[0] || q.ZeroPoint[0] != oq.ZeroPoint[0]) {
				r := l.b.tensor(n.Outputs[0]+"_requantized", tfl.TensorTypeINT8, l.b.shapeOf(t), nil, oq)
				l.b.op(tfl.BuiltinOperatorQUANTIZE, 1, []int32{t}, []int32{r}, nil)
				ts[i] = r
			}
		}
	}
	opt := &tfl.ConcatenationOptionsT{Axis: int32(stAxis)}
	l.b.op(tfl.BuiltinOperatorCONCATENATION, l.ver(1, 2), ts, []int32{out.t}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsConcatenationOptions, Value: opt})
	return nil
}

func (l *lowerer) pad(n *ir.Node) error {
	x, err := l.in(n, 0)
	if err != nil {
		return err
	}
	pads := attrInts(n, "pads")
	if v := l.optIn(n, 1); v != nil {
		if pads, err = constInts(n, v); err != nil {
			return err
		}
	}
	r := len(x.shape)
	if len(pads) != 2*r {
		return unsupported(n, "pads %v for rank %d", pads, r)
	}
	var fill float32
	if v := l.optIn(n, 2); v != nil {
		if v.konst == nil {
			return unsupported(n, "the pad value must be a constant")
		}
		f, _ := v.konst.Float32s()
		if len(f) == 1 {
			fill = f[0]
		}
	}
	mode := attrString(n, "mode", "constant")
	perm := x.storedPerm()
	xin := l.stored(x)
	if x.flat != nil {
		perm, xin = identity(r), l.plain(x)
	}
	shape := make([]int64, r)
	p := make([]int32, 2*r)
	for i := range r {
		shape[i] = x.shape[i] + pads[i] + pads[i+r]
	}
	for i, lg := range perm {
		p[2*i], p[2*i+1] = int32(pads[lg]), int32(pads[lg+r])
	}
	var outPerm []int
	if !isIdentity(perm) {
		outPerm = perm
	}
	out := l.out(n.Outputs[0], shape, outPerm, x.dtype)
	pt := l.b.tensor(n.Outputs[0]+"_paddings", tfl.TensorTypeINT32, []int64{int64(r), 2}, i32bytes(p), nil)
	l.sameQuant(out.t, xin)
	switch mode {
	case "constant":
		if fill == 0 {
			l.b.op(tfl.BuiltinOperatorPAD, l.ver(1, 2), []int32{xin, pt}, []int32{out.t}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsPadOptions, Value: &tfl.PadOptionsT{}})
		} else {
			ft := l.b.tensor(n.Outputs[0]+"_fill", tfl.TensorTypeFLOAT32, []int64{}, f32bytes([]float32{fill}), nil)
			l.b.op(tfl.BuiltinOperatorPADV2, 1, []int32{xin, pt, ft}, []int32{out.t}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsPadV2Options, Value: &tfl.PadV2OptionsT{}})
		}
	case "reflect", "edge":
		if mode == "edge" {
			return unsupported(n, "edge padding has no TFLite builtin")
		}
		l.b.op(tfl.BuiltinOperatorMIRROR_PAD, 1, []int32{xin, pt}, []int32{out.t}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsMirrorPadOptions, Value: &tfl.MirrorPadOptionsT{Mode: tfl.MirrorPadModeREFLECT}})
	default:
		return unsupported(n, "pad mode %q", mode)
	}
	return nil
}

func (l *lowerer) resize(n *ir.Node) error {
	x, err := l.in(n, 0)
	if err != nil {
		return err
	}
	if len(x.shape) != 4 {
		return unsupported(n, "only 4-D (NCHW) resizes are supported")
	}
	var scales []float32
	var sizes []int64
	if n.OpType == "Upsample" {
		if v := l.optIn(n, 1); v != nil && v.konst != nil {
			scales, _ = floats(v.konst)
		}
	} else {
		if v := l.optIn(n, 2); v != nil {
			if v.konst == nil {
				return unsupported(n, "scales must be constants")
			}
			scales, _ = floats(v.konst)
		}
		if v := l.optIn(n, 3); v != nil {
			if sizes, err = constInts(n, v); err != nil {
				return err
			}
		}
	}
	oh, ow := x.shape[2], x.shape[3]
	switch {
	case len(sizes) == 4:
		if sizes[0] != x.shape[0] || sizes[1] != x.shape[1] {
			return unsupported(n, "resizing the batch or channel axis")
		}
		oh, ow = sizes[2], sizes[3]
	case len(scales) == 4:
		if scales[0] != 1 || scales[1] != 1 {
			return unsupported(n, "resizing the batch or channel axis")
		}
		oh, ow = int64(math.Floor(float64(x.shape[2])*float64(scales[2]))), int64(math.Floor(float64(x.shape[3])*float64(scales[3])))
	default:
		return unsupported(n, "needs constant scales or sizes of rank 4")
	}
	mode := attrString(n, "mode", "nearest")
	ctm := attrString(n, "coordinate_transformation_mode", "half_pixel")
	if n.OpType == "Upsample" {
		ctm = "asymmetric"
	}
	align, half := false, false
	switch ctm {
	case "align_corners":
		align = true
	case "asymmetric":
	case "half_pixel", "pytorch_half_pixel":
		half = true
		if ctm == "pytorch_half_pixel" && (oh == 1 || ow == 1) {
			return unsupported(n, "pytorch_half_pixel to a size of 1")
		}
	default:
		return unsupported(n, "coordinate_transformation_mode %q has no TFLite equivalent", ctm)
	}
	xin := l.inLayout(x, nhwc)
	out := l.out(n.Outputs[0], []int64{x.shape[0], x.shape[1], oh, ow}, nhwc, x.dtype)
	st := l.b.tensor(n.Outputs[0]+"_size", tfl.TensorTypeINT32, []int64{2}, i32bytes([]int32{int32(oh), int32(ow)}), nil)
	l.sameQuant(out.t, xin)
	v := int32(1)
	if half {
		v = 3
	} else if l.int8 {
		v = 2
	}
	switch mode {
	case "linear", "bilinear":
		l.b.op(tfl.BuiltinOperatorRESIZE_BILINEAR, v, []int32{xin, st}, []int32{out.t}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsResizeBilinearOptions, Value: &tfl.ResizeBilinearOptionsT{AlignCorners: align, HalfPixelCenters: half}})
	case "nearest":
		nm := attrString(n, "nearest_mode", "round_prefer_floor")
		if n.OpType == "Upsample" {
			nm = "floor"
		}
		// TFLite: asymmetric + floor; align_corners + round; half_pixel + round (half up).
		ok := (ctm == "asymmetric" && nm == "floor") || (align && nm == "round_prefer_ceil") || (half && nm == "round_prefer_ceil")
		if !ok && oh%x.shape[2] == 0 && ow%x.shape[3] == 0 && !align {
			// integer upscale: every nearest mode picks the same pixels
			ok, half, v = true, false, l.ver(1, 2)
		}
		if !ok {
			return unsupported(n, "nearest resize with %s/%s has no TFLite equivalent", ctm, nm)
		}
		if align {
			v = 3 // align_corners or half_pixel_centers
		}
		l.b.op(tfl.BuiltinOperatorRESIZE_NEAREST_NEIGHBOR, v, []int32{xin, st}, []int32{out.t}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsResizeNearestNeighborOptions, Value: &tfl.ResizeNearestNeighborOptionsT{AlignCorners: align, HalfPixelCenters: half}})
	default:
		return unsupported(n, "resize mode %q", mode)
	}
	return nil
}

func (l *lowerer) gather(n *ir.Node) error {
	x, err := l.in(n, 0)
	if err != nil {
		return err
	}
	idx, err := l.in(n, 1)
	if err != nil {
		return err
	}
	r := len(x.shape)
	axis := normAxis(attrInt(n, "axis", 0), r)
	shape := append(append(append([]int64(nil), x.shape[:axis]...), idx.shape...), x.shape[axis+1:]...)
	if x.konst != nil && idx.konst != nil && len(x.shape) == 1 {
		// shape arithmetic: fold
		xs, is := int64s(x.konst), int64s(idx.konst)
		d := make([]byte, 8*len(is))
		for i, j := range is {
			if j < 0 {
				j += int64(len(xs))
			}
			if j < 0 || j >= int64(len(xs)) {
				return unsupported(n, "index %d out of range", j)
			}
			putI64(d[8*i:], xs[j])
		}
		l.vals[n.Outputs[0]] = newConst(n.Outputs[0], ir.Int64, idx.shape, d)
		return nil
	}
	it := l.plain(idx)
	if idx.konst == nil && idx.dtype == ir.Int64 {
		c := l.b.tensor(idx.name+"_i32", tfl.TensorTypeINT32, idx.shape, nil, nil)
		l.b.op(tfl.BuiltinOperatorCAST, 1, []int32{it}, []int32{c}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsCastOptions, Value: &tfl.CastOptionsT{InDataType: tfl.TensorTypeINT64, OutDataType: tfl.TensorTypeINT32}})
		it = c
	}
	xin := l.plain(x)
	out := l.out(n.Outputs[0], shape, nil, x.dtype)
	l.b.op(tfl.BuiltinOperatorGATHER, l.ver(1, 2), []int32{xin, it}, []int32{out.t}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsGatherOptions, Value: &tfl.GatherOptionsT{Axis: int32(axis)}})
	l.sameQuant(out.t, xin)
	return nil
}

func putI64(b []byte, v int64) {
	for i := range 8 {
		b[i] = byte(uint64(v) >> (8 * i))
	}
}

func (l *lowerer) slice(n *ir.Node) error {
	x, err := l.in(n, 0)
	if err != nil {
		return err
	}
	var starts, ends, axes, steps []int64
	for i, p := range []*[]int64{&starts, &ends, &axes, &steps} {
		if v := l.optIn(n, i+1); v != nil {
			if *p, err = constInts(n, v); err != nil {
				return err
			}
		}
	}
	r := len(x.shape)
	if axes == nil {
		for i := range starts {
			axes = append(axes, int64(i))
		}
	}
	b, e, s := make([]int64, r), append([]int64(nil), x.shape...), make([]int64, r)
	for i := range s {
		s[i] = 1
	}
	shape := append([]int64(nil), x.shape...)
	for i, a := range axes {
		ax := normAxis(a, r)
		st := int64(1)
		if steps != nil {
			st = steps[i]
		}
		if st <= 0 {
			return unsupported(n, "negative slice steps are not supported")
		}
		d := x.shape[ax]
		lo, hi := starts[i], ends[i]
		if lo < 0 {
			lo += d
		}
		if hi < 0 {
			hi += d
		}
		lo, hi = min(max(lo, 0), d), min(max(hi, 0), d)
		b[ax], e[ax], s[ax] = lo, hi, st
		shape[ax] = max((hi-lo+st-1)/st, 0)
	}
	if x.konst != nil && r == 1 && s[0] == 1 && x.dtype == ir.Int64 {
		vals := int64s(x.konst)[b[0]:e[0]]
		d := make([]byte, 8*len(vals))
		for i, v := range vals {
			putI64(d[8*i:], v)
		}
		l.vals[n.Outputs[0]] = newConst(n.Outputs[0], ir.Int64, []int64{int64(len(vals))}, d)
		return nil
	}
	perm := x.storedPerm()
	xin := l.stored(x)
	if x.flat != nil {
		perm, xin = identity(r), l.plain(x)
	}
	sb, se, ss := make([]int32, r), make([]int32, r), make([]int32, r)
	for i, lg := range perm {
		sb[i], se[i], ss[i] = int32(b[lg]), int32(e[lg]), int32(s[lg])
	}
	var outPerm []int
	if !isIdentity(perm) {
		outPerm = perm
	}
	out := l.out(n.Outputs[0], shape, outPerm, x.dtype)
	bt := l.b.tensor(n.Outputs[0]+"_begin", tfl.TensorTypeINT32, []int64{int64(r)}, i32bytes(sb), nil)
	et := l.b.tensor(n.Outputs[0]+"_end", tfl.TensorTypeINT32, []int64{int64(r)}, i32bytes(se), nil)
	stt := l.b.tensor(n.Outputs[0]+"_strides", tfl.TensorTypeINT32, []int64{int64(r)}, i32bytes(ss), nil)
	v := l.ver(1, 2)
	if r > 4 {
		v = 4
	}
	l.b.op(tfl.BuiltinOperatorSTRIDED_SLICE, v, []int32{xin, bt, et, stt}, []int32{out.t}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsStridedSliceOptions, Value: &tfl.StridedSliceOptionsT{}})
	l.sameQuant(out.t, xin)
	return nil
}

// layerNorm lowers LayerNormalization as converters do: MEAN, SQUARED_DIFFERENCE, MEAN,
// ADD eps, RSQRT, MUL, MUL scale, ADD bias. In a full-integer model these run in float
// between a DEQUANTIZE of the input and a QUANTIZE of the output: as eight int8 ops
// they doubled the error of the residual stream they read (transformer encoder top-1
// agreement 98% instead of 100%).
func (l *lowerer) layerNorm(n *ir.Node) error {
	x, err := l.in(n, 0)
	if err != nil {
		return err
	}
	r := len(x.shape)
	axis := normAxis(attrInt(n, "axis", -1), r)
	if len(n.Outputs) > 1 && (n.Outputs[1] != "" || (len(n.Outputs) > 2 && n.Outputs[2] != "")) {
		return unsupported(n, "the mean and inverse standard deviation outputs are not supported")
	}
	var axes []int64
	for i := axis; i < r; i++ {
		axes = append(axes, int64(i))
	}
	name := n.Outputs[0]
	xp := &value{name: x.name, shape: x.shape, dtype: x.dtype, t: l.plain(x)}
	final := name
	if l.int8 {
		final = name + "_float"
		q := l.b.tensor(name+"_in_float", tfl.TensorTypeFLOAT32, l.b.shapeOf(xp.t), nil, nil)
		l.b.op(tfl.BuiltinOperatorDEQUANTIZE, 2, []int32{xp.t}, []int32{q}, nil)
		xp.t = q
		l.int8 = false
		defer func() {
			l.int8 = true
			f := l.vals[name]
			if f == nil {
				return
			}
			qv := l.out(name, f.shape, f.perm, ir.Float32)
			l.b.op(tfl.BuiltinOperatorQUANTIZE, 1, []int32{f.t}, []int32{qv.t}, nil)
		}()
	}
	mean := &ir.Node{Name: n.Name + "_mean", OpType: "ReduceMean", Outputs: []string{name + "_mean"}}
	if err := l.reduceAxes(mean, xp, axes, true, tfl.BuiltinOperatorMEAN); err != nil {
		return err
	}
	mv := l.vals[name+"_mean"]
	sd := l.binaryOp(name+"_sqdiff", tfl.BuiltinOperatorSQUARED_DIFFERENCE, xp, mv, tfl.ActivationFunctionTypeNONE)
	vn := &ir.Node{Name: n.Name + "_var", OpType: "ReduceMean", Outputs: []string{name + "_var"}}
	if err := l.reduceAxes(vn, sd, axes, true, tfl.BuiltinOperatorMEAN); err != nil {
		return err
	}
	varv := l.binaryOp(name+"_vareps", tfl.BuiltinOperatorADD, l.vals[name+"_var"], constF32(name+"_eps", nil, []float32{attrFloat(n, "epsilon", 1e-5)}), tfl.ActivationFunctionTypeNONE)
	rs := l.out(name+"_rsqrt", varv.shape, nil, ir.Float32)
	l.b.op(tfl.BuiltinOperatorRSQRT, l.ver(1, 2), []int32{varv.t}, []int32{rs.t}, nil)
	cen := l.binaryOp(name+"_centered", tfl.BuiltinOperatorSUB, xp, mv, tfl.ActivationFunctionTypeNONE)
	norm := l.binaryOp(name+"_norm", tfl.BuiltinOperatorMUL, cen, rs, tfl.ActivationFunctionTypeNONE)
	outName := final
	bias := l.optIn(n, 2)
	if bias != nil {
		outName = name + "_scaled"
	}
	scale, err := l.in(n, 1)
	if err != nil {
		return err
	}
	res := l.binaryOp(outName, tfl.BuiltinOperatorMUL, norm, scale, tfl.ActivationFunctionTypeNONE)
	if bias != nil {
		res = l.binaryOp(final, tfl.BuiltinOperatorADD, res, bias, tfl.ActivationFunctionTypeNONE)
	}
	l.vals[name] = res
	return nil
}

// foldBatchNorms folds each inference BatchNormalization that alone reads a Conv's output
// into that Conv's weights and bias (as converters do), returning the nodes to lower: the
// Conv, rewritten to produce the BatchNormalization's output, replaces both. The source
// model is not modified.
func (l *lowerer) foldBatchNorms(nodes []*ir.Node) []*ir.Node {
	folded := map[*ir.Node]*ir.Node{} // conv -> its replacement
	drop := map[*ir.Node]bool{}
	for _, bn := range nodes {
		if bn.OpType != "BatchNormalization" || len(bn.Inputs) < 5 || (len(bn.Outputs) > 1 && bn.Outputs[1] != "") {
			continue
		}
		var conv *ir.Node
		for _, n := range nodes {
			if (n.OpType == "Conv") && len(n.Outputs) == 1 && n.Outputs[0] == bn.Inputs[0] {
				conv = n
			}
		}
		if conv == nil || len(l.consumers[conv.Outputs[0]]) != 1 || l.outputs[conv.Outputs[0]] || len(conv.Inputs) < 2 {
			continue
		}
		w := l.vals[conv.Inputs[1]]
		if w == nil || w.konst == nil || len(w.shape) != 4 {
			continue
		}
		var p [4][]float32
		ok := true
		for i := range 4 {
			v := l.vals[bn.Inputs[i+1]]
			if v == nil || v.konst == nil {
				ok = false
				break
			}
			var err error
			if p[i], err = floats(v.konst); err != nil || int64(len(p[i])) != w.shape[0] {
				ok = false
				break
			}
		}
		wf, err := floats(w.konst)
		if !ok || err != nil {
			continue
		}
		O := w.shape[0]
		bias := make([]float32, O)
		if len(conv.Inputs) > 2 && conv.Inputs[2] != "" {
			bv := l.vals[conv.Inputs[2]]
			if bv == nil || bv.konst == nil {
				continue
			}
			if bias, err = floats(bv.konst); err != nil || int64(len(bias)) != O {
				continue
			}
		}
		eps := attrFloat(bn, "epsilon", 1e-5)
		per := int64(len(wf)) / O
		for o := range O {
			k := p[0][o] / float32(math.Sqrt(float64(p[3][o]+eps)))
			for j := range per {
				wf[o*per+j] *= k
			}
			bias[o] = (bias[o]-p[2][o])*k + p[1][o]
		}
		wn, bn2 := bn.Outputs[0]+"_folded_weights", bn.Outputs[0]+"_folded_bias"
		l.vals[wn] = constF32(wn, w.shape, wf)
		l.vals[bn2] = constF32(bn2, []int64{O}, bias)
		c := *conv
		c.Inputs = []string{conv.Inputs[0], wn, bn2}
		c.Outputs = []string{bn.Outputs[0]}
		folded[conv] = &c
		drop[bn] = true
	}
	if len(folded) == 0 {
		return nodes
	}
	out := make([]*ir.Node, 0, len(nodes))
	for _, n := range nodes {
		if drop[n] {
			continue
		}
		if c, ok := folded[n]; ok {
			n = c
		}
		out = append(out, n)
	}
	// consumers of the rewritten convs' outputs (for activation fusion)
	l.consumers = map[string][]*ir.Node{}
	for _, n := range out {
		for _, in := range n.Inputs {
			if in != "" {
				l.consumers[in] = append(l.consumers[in], n)
			}
		}
	}
	return out
}

// rangeOf is the real range an int8 tensor's quantization covers.
func (l *lowerer) rangeOf(t int32) *[2]float32 {
	q := l.b.sg.Tensors[t].Quantization
	if q == nil || len(q.Scale) != 1 || len(q.ZeroPoint) != 1 {
		return nil
	}
	zp := float32(q.ZeroPoint[0])
	return &[2]float32{(-128 - zp) * q.Scale[0], (127 - zp) * q.Scale[0]}
}

// intervalOf bounds the result of an element-wise op on values in the intervals a and b.
func intervalOf(code tfl.BuiltinOperator, a, b *[2]float32) (lo, hi float32, ok bool) {
	if a == nil || b == nil {
		return 0, 0, false
	}
	switch code {
	case tfl.BuiltinOperatorADD:
		return a[0] + b[0], a[1] + b[1], true
	case tfl.BuiltinOperatorSUB:
		return a[0] - b[1], a[1] - b[0], true
	case tfl.BuiltinOperatorMUL:
		p := []float32{a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]}
		lo, hi = p[0], p[0]
		for _, v := range p[1:] {
			lo, hi = min(lo, v), max(hi, v)
		}
		return lo, hi, true
	case tfl.BuiltinOperatorMINIMUM:
		return min(a[0], b[0]), min(a[1], b[1]), true
	case tfl.BuiltinOperatorMAXIMUM:
		return max(a[0], b[0]), max(a[1], b[1]), true
	}
	return 0, 0, false
}

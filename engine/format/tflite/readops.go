package tflite

import (
	"fmt"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/modelc/modelc/engine/format/tflite/schema/tfl"
	"github.com/modelc/modelc/engine/ir"
)

// opCtx is one TFLite operator being converted.
type opCtx struct {
	r    *reader
	op   *tfl.Operator
	code tfl.BuiltinOperator
	idx  int
	ins  []int32
	outs []int32
	tab  flatbuffers.Table // builtin options
	has  bool
}

func (c *opCtx) unsupported(format string, args ...any) error {
	return ir.Errorf(ir.KindUnsupported, c.r.name, "operator %d (%s): %s", c.idx, opName(c.code), fmt.Sprintf(format, args...))
}

func (c *opCtx) in(k int) (int32, error) {
	if k >= len(c.ins) || c.ins[k] < 0 {
		return 0, c.unsupported("input %d is missing", k)
	}
	_, err := c.r.tensor(c.ins[k])
	return c.ins[k], err
}

// fin is the float value of input k.
func (c *opCtx) fin(k int) (string, error) {
	i, err := c.in(k)
	if err != nil {
		return "", err
	}
	return c.r.float(i)
}

func (c *opCtx) shapeIn(k int) ([]int64, error) {
	i, err := c.in(k)
	if err != nil {
		return nil, err
	}
	return c.r.shape(c.r.tensors[i])
}

// result returns the name the float result of output k is to be computed into, and the
// function that finishes it: the fused activation, then a QuantizeLinear into the
// output tensor when that is quantized.
func (c *opCtx) result(k int, act tfl.ActivationFunctionType) (string, func() error, error) {
	if k >= len(c.outs) {
		return "", nil, c.unsupported("output %d is missing", k)
	}
	o := c.outs[k]
	if _, err := c.r.tensor(o); err != nil {
		return "", nil, err
	}
	r := c.r
	name := r.names[o]
	q, quantized := r.isQuantized(o)
	f := name
	if quantized || act != tfl.ActivationFunctionTypeNONE {
		f = r.tmp(name + "_float")
	}
	finish := func() error {
		cur := f
		final := name
		if quantized {
			final = r.tmp(name + "_float_act")
		}
		switch act {
		case tfl.ActivationFunctionTypeNONE:
			final = cur
		case tfl.ActivationFunctionTypeRELU:
			r.node("Relu", []string{cur}, []string{final})
		case tfl.ActivationFunctionTypeRELU6:
			r.node("Clip", []string{cur, r.constFloat("zero", []float32{0}), r.constFloat("six", []float32{6})}, []string{final})
		case tfl.ActivationFunctionTypeRELU_N1_TO_1:
			r.node("Clip", []string{cur, r.constFloat("minus_one", []float32{-1}), r.constFloat("one", []float32{1})}, []string{final})
		case tfl.ActivationFunctionTypeTANH:
			r.node("Tanh", []string{cur}, []string{final})
		default:
			return c.unsupported("fused activation %s", act)
		}
		if quantized {
			dt, _ := r.dtype(r.tensors[o])
			sname := r.constFloat(name+"_scale", q.scale[:1])
			zt, err := zeroPoints(r.tmp(name+"_zero_point"), dt, nil, q.zp[:1])
			if err != nil {
				return err
			}
			r.g.Initializers = append(r.g.Initializers, zt)
			r.node("QuantizeLinear", []string{final, sname, zt.Name}, []string{name})
		}
		return nil
	}
	return f, finish, nil
}

func (r *reader) operator(op *tfl.Operator, i int) error {
	oi := int(op.OpcodeIndex())
	if oi >= r.model.OperatorCodesLength() {
		return r.corrupt("operator %d: opcode index %d out of range", i, oi)
	}
	oc := &tfl.OperatorCode{}
	if !r.model.OperatorCodes(oc, oi) {
		return r.corrupt("operator code %d is missing", oi)
	}
	code := oc.BuiltinCode()
	if d := tfl.BuiltinOperator(oc.DeprecatedBuiltinCode()); d > code {
		code = d
	}
	c := &opCtx{r: r, op: op, code: code, idx: i}
	if code == tfl.BuiltinOperatorCUSTOM {
		return c.unsupported("custom operator %q", string(oc.CustomCode()))
	}
	c.ins = r.indices(op.InputsLength(), op.Inputs, "operator inputs")
	c.outs = r.indices(op.OutputsLength(), op.Outputs, "operator outputs")
	c.has = op.BuiltinOptions(&c.tab)
	if c.has {
		if err := r.checkTable(&c.tab.Pos, "operator options"); err != nil {
			return err
		}
	}
	return c.convert()
}

func (c *opCtx) opts(t interface {
	Init([]byte, flatbuffers.UOffsetT)
}) bool {
	if !c.has {
		return false
	}
	t.Init(c.tab.Bytes, c.tab.Pos)
	return true
}

var readBinary = map[tfl.BuiltinOperator]string{
	tfl.BuiltinOperatorADD: "Add", tfl.BuiltinOperatorSUB: "Sub", tfl.BuiltinOperatorMUL: "Mul",
	tfl.BuiltinOperatorDIV: "Div", tfl.BuiltinOperatorMAXIMUM: "Max", tfl.BuiltinOperatorMINIMUM: "Min",
	tfl.BuiltinOperatorPOW: "Pow",
}

var readUnary = map[tfl.BuiltinOperator]string{
	tfl.BuiltinOperatorRELU: "Relu", tfl.BuiltinOperatorLOGISTIC: "Sigmoid", tfl.BuiltinOperatorTANH: "Tanh",
	tfl.BuiltinOperatorHARD_SWISH: "HardSwish", tfl.BuiltinOperatorEXP: "Exp", tfl.BuiltinOperatorSQRT: "Sqrt",
	tfl.BuiltinOperatorLOG: "Log", tfl.BuiltinOperatorABS: "Abs", tfl.BuiltinOperatorNEG: "Neg",
	tfl.BuiltinOperatorFLOOR: "Floor", tfl.BuiltinOperatorCEIL: "Ceil", tfl.BuiltinOperatorELU: "Elu",
	tfl.BuiltinOperatorDEQUANTIZE: "Identity", tfl.BuiltinOperatorQUANTIZE: "Identity",
}

func (c *opCtx) convert() error {
	r := c.r
	switch c.code {
	case tfl.BuiltinOperatorADD, tfl.BuiltinOperatorSUB, tfl.BuiltinOperatorMUL, tfl.BuiltinOperatorDIV,
		tfl.BuiltinOperatorMAXIMUM, tfl.BuiltinOperatorMINIMUM, tfl.BuiltinOperatorPOW:
		act := tfl.ActivationFunctionTypeNONE
		switch c.code {
		case tfl.BuiltinOperatorADD:
			o := &tfl.AddOptions{}
			if c.opts(o) {
				act = o.FusedActivationFunction()
			}
		case tfl.BuiltinOperatorSUB:
			o := &tfl.SubOptions{}
			if c.opts(o) {
				act = o.FusedActivationFunction()
			}
		case tfl.BuiltinOperatorMUL:
			o := &tfl.MulOptions{}
			if c.opts(o) {
				act = o.FusedActivationFunction()
			}
		case tfl.BuiltinOperatorDIV:
			o := &tfl.DivOptions{}
			if c.opts(o) {
				act = o.FusedActivationFunction()
			}
		}
		return c.simple(readBinary[c.code], 2, act)
	case tfl.BuiltinOperatorSQUARED_DIFFERENCE:
		a, err := c.fin(0)
		if err != nil {
			return err
		}
		b, err := c.fin(1)
		if err != nil {
			return err
		}
		out, fin, err := c.result(0, tfl.ActivationFunctionTypeNONE)
		if err != nil {
			return err
		}
		d := r.tmp("diff")
		r.node("Sub", []string{a, b}, []string{d})
		r.node("Mul", []string{d, d}, []string{out})
		return fin()
	case tfl.BuiltinOperatorRSQRT:
		x, err := c.fin(0)
		if err != nil {
			return err
		}
		out, fin, err := c.result(0, tfl.ActivationFunctionTypeNONE)
		if err != nil {
			return err
		}
		s := r.tmp("sqrt")
		r.node("Sqrt", []string{x}, []string{s})
		r.node("Reciprocal", []string{s}, []string{out})
		return fin()
	case tfl.BuiltinOperatorRELU6:
		return c.simpleAct(tfl.ActivationFunctionTypeRELU6)
	case tfl.BuiltinOperatorRELU_N1_TO_1:
		return c.simpleAct(tfl.ActivationFunctionTypeRELU_N1_TO_1)
	case tfl.BuiltinOperatorLEAKY_RELU:
		o := &tfl.LeakyReluOptions{}
		alpha := float32(0.2)
		if c.opts(o) {
			alpha = o.Alpha()
		}
		return c.simple("LeakyRelu", 1, tfl.ActivationFunctionTypeNONE, floatAttr("alpha", alpha))
	case tfl.BuiltinOperatorGELU:
		o := &tfl.GeluOptions{}
		approx := "none"
		if c.opts(o) && o.Approximate() {
			approx = "tanh"
		}
		return c.simple("Gelu", 1, tfl.ActivationFunctionTypeNONE, strAttr("approximate", approx))
	case tfl.BuiltinOperatorSOFTMAX:
		o := &tfl.SoftmaxOptions{}
		beta := float32(1)
		if c.opts(o) {
			beta = o.Beta()
		}
		x, err := c.fin(0)
		if err != nil {
			return err
		}
		if beta != 1 {
			s := r.tmp("scaled")
			r.node("Mul", []string{x, r.constFloat("beta", []float32{beta})}, []string{s})
			x = s
		}
		out, fin, err := c.result(0, tfl.ActivationFunctionTypeNONE)
		if err != nil {
			return err
		}
		r.node("Softmax", []string{x}, []string{out}, intAttr("axis", -1))
		return fin()
	case tfl.BuiltinOperatorCONV_2D, tfl.BuiltinOperatorDEPTHWISE_CONV_2D:
		return c.conv()
	case tfl.BuiltinOperatorTRANSPOSE_CONV:
		return c.transposeConv()
	case tfl.BuiltinOperatorMAX_POOL_2D, tfl.BuiltinOperatorAVERAGE_POOL_2D:
		return c.pool()
	case tfl.BuiltinOperatorFULLY_CONNECTED:
		return c.fullyConnected()
	case tfl.BuiltinOperatorBATCH_MATMUL:
		o := &tfl.BatchMatMulOptions{}
		var ax, ay bool
		if c.opts(o) {
			ax, ay = o.AdjX(), o.AdjY()
		}
		a, err := c.fin(0)
		if err != nil {
			return err
		}
		b, err := c.fin(1)
		if err != nil {
			return err
		}
		for k, adj := range []bool{ax, ay} {
			if !adj {
				continue
			}
			s, err := c.shapeIn(k)
			if err != nil {
				return err
			}
			p := identity(len(s))
			p[len(p)-1], p[len(p)-2] = p[len(p)-2], p[len(p)-1]
			t := r.tmp("adj")
			r.node("Transpose", []string{[]string{a, b}[k]}, []string{t}, intsAttr("perm", ints64(p)...))
			if k == 0 {
				a = t
			} else {
				b = t
			}
		}
		out, fin, err := c.result(0, tfl.ActivationFunctionTypeNONE)
		if err != nil {
			return err
		}
		r.node("MatMul", []string{a, b}, []string{out})
		return fin()
	case tfl.BuiltinOperatorRESHAPE, tfl.BuiltinOperatorSQUEEZE, tfl.BuiltinOperatorEXPAND_DIMS:
		return c.reshape()
	case tfl.BuiltinOperatorTRANSPOSE:
		x, err := c.fin(0)
		if err != nil {
			return err
		}
		pi, err := c.in(1)
		if err != nil {
			return err
		}
		perm, err := r.ints(pi)
		if err != nil {
			return err
		}
		out, fin, err := c.result(0, tfl.ActivationFunctionTypeNONE)
		if err != nil {
			return err
		}
		r.node("Transpose", []string{x}, []string{out}, intsAttr("perm", perm...))
		return fin()
	case tfl.BuiltinOperatorCONCATENATION:
		o := &tfl.ConcatenationOptions{}
		axis, act := int64(0), tfl.ActivationFunctionTypeNONE
		if c.opts(o) {
			axis, act = int64(o.Axis()), o.FusedActivationFunction()
		}
		var xs []string
		for k := range c.ins {
			x, err := c.fin(k)
			if err != nil {
				return err
			}
			xs = append(xs, x)
		}
		out, fin, err := c.result(0, act)
		if err != nil {
			return err
		}
		r.node("Concat", xs, []string{out}, intAttr("axis", axis))
		return fin()
	case tfl.BuiltinOperatorPAD, tfl.BuiltinOperatorPADV2, tfl.BuiltinOperatorMIRROR_PAD:
		return c.pad()
	case tfl.BuiltinOperatorMEAN, tfl.BuiltinOperatorSUM, tfl.BuiltinOperatorREDUCE_MAX, tfl.BuiltinOperatorREDUCE_MIN, tfl.BuiltinOperatorREDUCE_PROD:
		x, err := c.fin(0)
		if err != nil {
			return err
		}
		ai, err := c.in(1)
		if err != nil {
			return err
		}
		axes, err := r.ints(ai)
		if err != nil {
			return err
		}
		o := &tfl.ReducerOptions{}
		keep := int64(0)
		if c.opts(o) && o.KeepDims() {
			keep = 1
		}
		out, fin, err := c.result(0, tfl.ActivationFunctionTypeNONE)
		if err != nil {
			return err
		}
		op := map[tfl.BuiltinOperator]string{tfl.BuiltinOperatorMEAN: "ReduceMean", tfl.BuiltinOperatorSUM: "ReduceSum",
			tfl.BuiltinOperatorREDUCE_MAX: "ReduceMax", tfl.BuiltinOperatorREDUCE_MIN: "ReduceMin", tfl.BuiltinOperatorREDUCE_PROD: "ReduceProd"}[c.code]
		r.node(op, []string{x, r.constInt64("axes", axes)}, []string{out}, intAttr("keepdims", keep))
		return fin()
	case tfl.BuiltinOperatorGATHER:
		o := &tfl.GatherOptions{}
		axis := int64(0)
		if c.opts(o) {
			axis = int64(o.Axis())
			if o.BatchDims() != 0 {
				return c.unsupported("batch_dims %d", o.BatchDims())
			}
		}
		x, err := c.fin(0)
		if err != nil {
			return err
		}
		ii, err := c.in(1)
		if err != nil {
			return err
		}
		out, fin, err := c.result(0, tfl.ActivationFunctionTypeNONE)
		if err != nil {
			return err
		}
		r.node("Gather", []string{x, r.names[ii]}, []string{out}, intAttr("axis", axis))
		return fin()
	case tfl.BuiltinOperatorSTRIDED_SLICE:
		return c.stridedSlice()
	case tfl.BuiltinOperatorRESIZE_BILINEAR, tfl.BuiltinOperatorRESIZE_NEAREST_NEIGHBOR:
		return c.resize()
	case tfl.BuiltinOperatorTILE, tfl.BuiltinOperatorBROADCAST_TO:
		x, err := c.fin(0)
		if err != nil {
			return err
		}
		mi, err := c.in(1)
		if err != nil {
			return err
		}
		m, err := r.ints(mi)
		if err != nil {
			return err
		}
		out, fin, err := c.result(0, tfl.ActivationFunctionTypeNONE)
		if err != nil {
			return err
		}
		op := "Tile"
		if c.code == tfl.BuiltinOperatorBROADCAST_TO {
			op = "Expand"
		}
		r.node(op, []string{x, r.constInt64("repeats", m)}, []string{out})
		return fin()
	case tfl.BuiltinOperatorSPLIT, tfl.BuiltinOperatorUNPACK:
		return c.split()
	case tfl.BuiltinOperatorPACK:
		o := &tfl.PackOptions{}
		axis := int64(0)
		if c.opts(o) {
			axis = int64(o.Axis())
		}
		var xs []string
		for k := range c.ins {
			x, err := c.fin(k)
			if err != nil {
				return err
			}
			u := r.tmp(x + "_unsqueezed")
			r.node("Unsqueeze", []string{x, r.constInt64("axes", []int64{axis})}, []string{u})
			xs = append(xs, u)
		}
		out, fin, err := c.result(0, tfl.ActivationFunctionTypeNONE)
		if err != nil {
			return err
		}
		r.node("Concat", xs, []string{out}, intAttr("axis", axis))
		return fin()
	case tfl.BuiltinOperatorSHAPE:
		x, err := c.in(0)
		if err != nil {
			return err
		}
		out, fin, err := c.result(0, tfl.ActivationFunctionTypeNONE)
		if err != nil {
			return err
		}
		dt, err := r.dtype(r.tensors[c.outs[0]])
		if err != nil {
			return err
		}
		s64 := r.tmp(out + "_i64")
		r.node("Shape", []string{r.names[x]}, []string{s64})
		r.node("Cast", []string{s64}, []string{out}, intAttr("to", int64(dt)))
		return fin()
	case tfl.BuiltinOperatorCAST:
		x, err := c.in(0)
		if err != nil {
			return err
		}
		out, fin, err := c.result(0, tfl.ActivationFunctionTypeNONE)
		if err != nil {
			return err
		}
		dt, err := r.dtype(r.tensors[c.outs[0]])
		if err != nil {
			return err
		}
		r.node("Cast", []string{r.names[x]}, []string{out}, intAttr("to", int64(dt)))
		return fin()
	}
	if op, ok := readUnary[c.code]; ok {
		return c.simple(op, 1, tfl.ActivationFunctionTypeNONE)
	}
	return c.unsupported("no ONNX mapping in modelc")
}

func ints64(p []int) []int64 {
	out := make([]int64, len(p))
	for i, v := range p {
		out[i] = int64(v)
	}
	return out
}

// simple maps an op with n float inputs and one output to an ONNX op of the same meaning.
func (c *opCtx) simple(op string, n int, act tfl.ActivationFunctionType, attrs ...*ir.Attribute) error {
	var xs []string
	for k := range n {
		x, err := c.fin(k)
		if err != nil {
			return err
		}
		xs = append(xs, x)
	}
	out, fin, err := c.result(0, act)
	if err != nil {
		return err
	}
	c.r.node(op, xs, []string{out}, attrs...)
	return fin()
}

// simpleAct is an activation op written as Identity plus that fused activation.
func (c *opCtx) simpleAct(act tfl.ActivationFunctionType) error {
	return c.simple("Identity", 1, act)
}

// samePads are TF's SAME paddings [begin, end] for one dimension.
func samePads(in, k, s, d int64) (int64, int64) {
	out := (in + s - 1) / s
	total := max((out-1)*s+(k-1)*d+1-in, 0)
	return total / 2, total - total/2
}

// toNCHW transposes NHWC value x to NCHW.
func (c *opCtx) toNCHW(x string) string {
	t := c.r.tmp(x + "_nchw")
	c.r.node("Transpose", []string{x}, []string{t}, intsAttr("perm", 0, 3, 1, 2))
	return t
}

// weight returns an ONNX-layout constant of tensor i, permuted by perm: float constants
// are permuted in place; quantized ones are dequantized and transposed by nodes.
func (c *opCtx) weight(i int32, perm []int) (string, error) {
	r := c.r
	f, err := r.float(i)
	if err != nil {
		return "", err
	}
	if init := r.g.Initializer(f); init != nil && init.DType == ir.Float32 {
		size := int64(4)
		data := permuteData(init.Bytes(), init.Shape, perm, int(size))
		name := r.tmp(f + "_onnx")
		t, err := ir.NewTensor(name, ir.Float32, permute(init.Shape, perm), data)
		if err != nil {
			return "", r.corrupt("%v", err)
		}
		r.g.Initializers = append(r.g.Initializers, t)
		return name, nil
	}
	t := r.tmp(f + "_onnx")
	r.node("Transpose", []string{f}, []string{t}, intsAttr("perm", ints64(perm)...))
	return t, nil
}

func (c *opCtx) conv() error {
	var pad tfl.Padding
	var sh, sw, dh, dw int64 = 1, 1, 1, 1
	act := tfl.ActivationFunctionTypeNONE
	dw1 := c.code == tfl.BuiltinOperatorDEPTHWISE_CONV_2D
	if dw1 {
		o := &tfl.DepthwiseConv2DOptions{}
		if c.opts(o) {
			pad, sh, sw, dh, dw, act = o.Padding(), int64(o.StrideH()), int64(o.StrideW()), int64(o.DilationHFactor()), int64(o.DilationWFactor()), o.FusedActivationFunction()
		}
	} else {
		o := &tfl.Conv2DOptions{}
		if c.opts(o) {
			pad, sh, sw, dh, dw, act = o.Padding(), int64(o.StrideH()), int64(o.StrideW()), int64(o.DilationHFactor()), int64(o.DilationWFactor()), o.FusedActivationFunction()
		}
	}
	xs, err := c.shapeIn(0)
	if err != nil {
		return err
	}
	ws, err := c.shapeIn(1)
	if err != nil {
		return err
	}
	if len(xs) != 4 || len(ws) != 4 || sh < 1 || sw < 1 || dh < 1 || dw < 1 {
		return c.unsupported("input %v, filter %v, strides %d×%d, dilations %d×%d", xs, ws, sh, sw, dh, dw)
	}
	x, err := c.fin(0)
	if err != nil {
		return err
	}
	wi, _ := c.in(1)
	var w string
	group := int64(1)
	if dw1 {
		w, err = c.weight(wi, []int{3, 0, 1, 2}) // [1, kh, kw, C·M] -> [C·M, 1, kh, kw]
		group = xs[3]
	} else {
		w, err = c.weight(wi, []int{0, 3, 1, 2}) // OHWI -> OIHW
		if ws[3] != xs[3] {
			group = xs[3] / max(ws[3], 1)
		}
	}
	if err != nil {
		return err
	}
	kh, kw := ws[1], ws[2]
	pads := []int64{0, 0, 0, 0}
	if pad == tfl.PaddingSAME {
		pads[0], pads[2] = samePads(xs[1], kh, sh, dh)
		pads[1], pads[3] = samePads(xs[2], kw, sw, dw)
	}
	ins := []string{c.toNCHW(x), w}
	if len(c.ins) > 2 && c.ins[2] >= 0 {
		b, err := c.fin(2)
		if err != nil {
			return err
		}
		ins = append(ins, b)
	}
	return c.nchwOp("Conv", ins, act, intsAttr("kernel_shape", kh, kw), intsAttr("strides", sh, sw),
		intsAttr("dilations", dh, dw), intsAttr("pads", pads...), intAttr("group", group))
}

// nchwOp runs an ONNX NCHW op and transposes its result back to the NHWC output.
func (c *opCtx) nchwOp(op string, ins []string, act tfl.ActivationFunctionType, attrs ...*ir.Attribute) error {
	out, fin, err := c.result(0, act)
	if err != nil {
		return err
	}
	t := c.r.tmp(out + "_nchw")
	c.r.node(op, ins, []string{t}, attrs...)
	c.r.node("Transpose", []string{t}, []string{out}, intsAttr("perm", 0, 2, 3, 1))
	return fin()
}

func (c *opCtx) transposeConv() error {
	r := c.r
	o := &tfl.TransposeConvOptions{}
	var pad tfl.Padding
	var sh, sw int64 = 1, 1
	act := tfl.ActivationFunctionTypeNONE
	if c.opts(o) {
		pad, sh, sw, act = o.Padding(), int64(o.StrideH()), int64(o.StrideW()), o.FusedActivationFunction()
	}
	osi, err := c.in(0)
	if err != nil {
		return err
	}
	oshape, err := r.ints(osi)
	if err != nil {
		return err
	}
	ws, err := c.shapeIn(1)
	if err != nil {
		return err
	}
	xs, err := c.shapeIn(2)
	if err != nil {
		return err
	}
	if len(oshape) != 4 || len(ws) != 4 || len(xs) != 4 || sh < 1 || sw < 1 {
		return c.unsupported("output shape %v, filter %v, input %v", oshape, ws, xs)
	}
	wi, _ := c.in(1)
	w, err := c.weight(wi, []int{3, 0, 1, 2}) // [O, kh, kw, I] -> [I, O, kh, kw]
	if err != nil {
		return err
	}
	x, err := c.fin(2)
	if err != nil {
		return err
	}
	pads := make([]int64, 4)
	outPad := make([]int64, 2)
	for d, s := range []int64{sh, sw} {
		in, k, out := xs[1+d], ws[1+d], oshape[1+d]
		full := (in-1)*s + k
		total := int64(0)
		if pad == tfl.PaddingSAME {
			total = max(full-out, 0)
		}
		pads[d], pads[d+2] = total/2, total-total/2
		outPad[d] = out - (full - total)
		if outPad[d] < 0 || outPad[d] >= s {
			return c.unsupported("output size %d from input %d, kernel %d, stride %d", out, in, k, s)
		}
	}
	ins := []string{c.toNCHW(x), w}
	if len(c.ins) > 3 && c.ins[3] >= 0 {
		b, err := c.fin(3)
		if err != nil {
			return err
		}
		ins = append(ins, b)
	}
	return c.nchwOp("ConvTranspose", ins, act, intsAttr("kernel_shape", ws[1], ws[2]), intsAttr("strides", sh, sw),
		intsAttr("pads", pads...), intsAttr("output_padding", outPad...))
}

func (c *opCtx) pool() error {
	o := &tfl.Pool2DOptions{}
	if !c.opts(o) {
		return c.unsupported("no pool options")
	}
	xs, err := c.shapeIn(0)
	if err != nil {
		return err
	}
	kh, kw, sh, sw := int64(o.FilterHeight()), int64(o.FilterWidth()), int64(o.StrideH()), int64(o.StrideW())
	if len(xs) != 4 || kh < 1 || kw < 1 || sh < 1 || sw < 1 {
		return c.unsupported("input %v, window %d×%d, strides %d×%d", xs, kh, kw, sh, sw)
	}
	pads := []int64{0, 0, 0, 0}
	if o.Padding() == tfl.PaddingSAME {
		pads[0], pads[2] = samePads(xs[1], kh, sh, 1)
		pads[1], pads[3] = samePads(xs[2], kw, sw, 1)
	}
	x, err := c.fin(0)
	if err != nil {
		return err
	}
	op := "MaxPool"
	if c.code == tfl.BuiltinOperatorAVERAGE_POOL_2D {
		op = "AveragePool"
	}
	return c.nchwOp(op, []string{c.toNCHW(x)}, o.FusedActivationFunction(), intsAttr("kernel_shape", kh, kw),
		intsAttr("strides", sh, sw), intsAttr("pads", pads...))
}

func (c *opCtx) fullyConnected() error {
	r := c.r
	o := &tfl.FullyConnectedOptions{}
	act, keep := tfl.ActivationFunctionTypeNONE, false
	if c.opts(o) {
		act, keep = o.FusedActivationFunction(), o.KeepNumDims()
		if o.WeightsFormat() != tfl.FullyConnectedOptionsWeightsFormatDEFAULT {
			return c.unsupported("shuffled weights format")
		}
	}
	xs, err := c.shapeIn(0)
	if err != nil {
		return err
	}
	ws, err := c.shapeIn(1)
	if err != nil {
		return err
	}
	if len(ws) != 2 || len(xs) == 0 {
		return c.unsupported("input %v, weights %v", xs, ws)
	}
	x, err := c.fin(0)
	if err != nil {
		return err
	}
	wi, _ := c.in(1)
	w, err := c.weight(wi, []int{1, 0}) // [M, K] -> [K, M]
	if err != nil {
		return err
	}
	if !keep && len(xs) != 2 {
		t := r.tmp(x + "_2d")
		r.node("Reshape", []string{x, r.constInt64("shape", []int64{-1, ws[1]})}, []string{t})
		x = t
	}
	out, fin, err := c.result(0, act)
	if err != nil {
		return err
	}
	if len(c.ins) > 2 && c.ins[2] >= 0 {
		b, err := c.fin(2)
		if err != nil {
			return err
		}
		mm := r.tmp(out + "_matmul")
		r.node("MatMul", []string{x, w}, []string{mm})
		r.node("Add", []string{mm, b}, []string{out})
	} else {
		r.node("MatMul", []string{x, w}, []string{out})
	}
	return fin()
}

// split maps SPLIT (equal parts along a constant axis) and UNPACK (parts of size 1,
// squeezed) to ONNX Split.
func (c *opCtx) split() error {
	r := c.r
	xi, axis := 1, int64(0)
	if c.code == tfl.BuiltinOperatorUNPACK {
		xi = 0
		o := &tfl.UnpackOptions{}
		if c.opts(o) {
			axis = int64(o.Axis())
		}
	} else {
		ai, err := c.in(0)
		if err != nil {
			return err
		}
		a, err := r.ints(ai)
		if err != nil || len(a) != 1 {
			return c.unsupported("the axis must be a constant scalar")
		}
		axis = a[0]
	}
	x, err := c.fin(xi)
	if err != nil {
		return err
	}
	shape, err := c.shapeIn(xi)
	if err != nil {
		return err
	}
	if axis < 0 {
		axis += int64(len(shape))
	}
	k := int64(len(c.outs))
	if axis < 0 || axis >= int64(len(shape)) || k == 0 || shape[axis] <= 0 || shape[axis]%k != 0 {
		return c.unsupported("%d parts of shape %v along axis %d", k, shape, axis)
	}
	sizes := make([]int64, k)
	for i := range sizes {
		sizes[i] = shape[axis] / k
	}
	outs := make([]string, k)
	fins := make([]func() error, k)
	parts := make([]string, k)
	for i := range outs {
		if outs[i], fins[i], err = c.result(i, tfl.ActivationFunctionTypeNONE); err != nil {
			return err
		}
		parts[i] = outs[i]
		if c.code == tfl.BuiltinOperatorUNPACK {
			parts[i] = r.tmp(outs[i] + "_part")
		}
	}
	r.node("Split", []string{x, r.constInt64("split", sizes)}, parts, intAttr("axis", axis))
	for i := range outs {
		if c.code == tfl.BuiltinOperatorUNPACK {
			r.node("Squeeze", []string{parts[i], r.constInt64("axes", []int64{axis})}, []string{outs[i]})
		}
		if err := fins[i](); err != nil {
			return err
		}
	}
	return nil
}

func (c *opCtx) reshape() error {
	r := c.r
	x, err := c.fin(0)
	if err != nil {
		return err
	}
	var shape []int64
	if c.code == tfl.BuiltinOperatorRESHAPE && len(c.ins) > 1 && c.ins[1] >= 0 {
		if t := r.tensors[c.ins[1]]; t != nil {
			if d, _ := r.bufferData(t.Buffer()); len(d) > 0 {
				shape, err = r.ints(c.ins[1])
				if err != nil {
					return err
				}
			} else if r.names[c.ins[1]] != "" {
				// a target computed at run time (SHAPE, CONCATENATION, GATHER of a
				// dynamic size): ONNX's Reshape takes it as int64
				out, fin, err := c.result(0, tfl.ActivationFunctionTypeNONE)
				if err != nil {
					return err
				}
				s64 := r.tmp(out + "_shape")
				r.node("Cast", []string{r.names[c.ins[1]]}, []string{s64}, intAttr("to", int64(ir.Int64)))
				r.node("Reshape", []string{x, s64}, []string{out})
				return fin()
			}
		}
	}
	if shape == nil {
		o := &tfl.ReshapeOptions{}
		if c.code == tfl.BuiltinOperatorRESHAPE && c.opts(o) && o.NewShapeLength() > 0 {
			if err := r.checkLen(o.NewShapeLength(), 4, "new shape"); err != nil {
				return err
			}
			for k := range o.NewShapeLength() {
				shape = append(shape, int64(o.NewShape(k)))
			}
		}
	}
	if shape == nil {
		if len(c.outs) == 0 {
			return c.unsupported("no output")
		}
		ot, err := r.tensor(c.outs[0])
		if err != nil {
			return err
		}
		if shape, err = r.shape(ot); err != nil {
			return err
		}
		if ot.ShapeSignatureLength() == len(shape) && len(shape) > 0 && ot.ShapeSignature(0) < 0 {
			shape[0] = -1
		}
	}
	out, fin, err := c.result(0, tfl.ActivationFunctionTypeNONE)
	if err != nil {
		return err
	}
	r.node("Reshape", []string{x, r.constInt64("shape", shape)}, []string{out})
	return fin()
}

func (c *opCtx) pad() error {
	r := c.r
	x, err := c.fin(0)
	if err != nil {
		return err
	}
	pi, err := c.in(1)
	if err != nil {
		return err
	}
	p, err := r.ints(pi)
	if err != nil {
		return err
	}
	rank := len(p) / 2
	pads := make([]int64, 2*rank)
	for d := range rank {
		pads[d], pads[d+rank] = p[2*d], p[2*d+1]
	}
	ins := []string{x, r.constInt64("pads", pads)}
	mode := "constant"
	switch c.code {
	case tfl.BuiltinOperatorPADV2:
		v, err := c.fin(2)
		if err != nil {
			return err
		}
		ins = append(ins, v)
	case tfl.BuiltinOperatorMIRROR_PAD:
		o := &tfl.MirrorPadOptions{}
		if c.opts(o) && o.Mode() == tfl.MirrorPadModeSYMMETRIC {
			return c.unsupported("symmetric mirror padding has no ONNX equivalent")
		}
		mode = "reflect"
	}
	out, fin, err := c.result(0, tfl.ActivationFunctionTypeNONE)
	if err != nil {
		return err
	}
	r.node("Pad", ins, []string{out}, strAttr("mode", mode))
	return fin()
}

func (c *opCtx) stridedSlice() error {
	r := c.r
	o := &tfl.StridedSliceOptions{}
	var bm, em, shrink int32
	if c.opts(o) {
		if o.EllipsisMask() != 0 || o.NewAxisMask() != 0 || o.Offset() {
			return c.unsupported("ellipsis, new-axis masks and offset are not supported")
		}
		bm, em, shrink = o.BeginMask(), o.EndMask(), o.ShrinkAxisMask()
	}
	x, err := c.fin(0)
	if err != nil {
		return err
	}
	xs, err := c.shapeIn(0)
	if err != nil {
		return err
	}
	var vals [3][]int64
	for k := range 2 { // begin or end computed at run time (a size read from a SHAPE)
		i, err := c.in(k + 1)
		if err != nil {
			return err
		}
		if t := r.tensors[i]; t == nil || r.names[i] == "" {
			continue
		} else if d, _ := r.bufferData(t.Buffer()); len(d) > 0 {
			continue
		}
		return c.dynamicSlice(x, bm|em|shrink)
	}
	for k := range 3 {
		i, err := c.in(k + 1)
		if err != nil {
			return err
		}
		if vals[k], err = r.ints(i); err != nil {
			return err
		}
	}
	b, e, s := vals[0], vals[1], vals[2]
	n := len(b)
	if len(e) != n || len(s) != n || n > len(xs) {
		return c.unsupported("begin/end/strides of lengths %d/%d/%d for rank %d", len(b), len(e), len(s), len(xs))
	}
	const big = int64(1) << 62
	axes := make([]int64, n)
	var squeeze []int64
	for d := range n {
		axes[d] = int64(d)
		if s[d] == 0 {
			return c.unsupported("stride 0")
		}
		if bm&(1<<d) != 0 {
			if s[d] > 0 {
				b[d] = 0
			} else {
				b[d] = big
			}
		}
		if em&(1<<d) != 0 {
			if s[d] > 0 {
				e[d] = big
			} else {
				e[d] = -big
			}
		}
		if shrink&(1<<d) != 0 {
			e[d], s[d] = b[d]+1, 1
			if b[d] == -1 {
				e[d] = big
			}
			squeeze = append(squeeze, int64(d))
		}
	}
	out, fin, err := c.result(0, tfl.ActivationFunctionTypeNONE)
	if err != nil {
		return err
	}
	sl := out
	if squeeze != nil {
		sl = r.tmp(out + "_slice")
	}
	r.node("Slice", []string{x, r.constInt64("starts", b), r.constInt64("ends", e), r.constInt64("axes", axes), r.constInt64("steps", s)}, []string{sl})
	if squeeze != nil {
		r.node("Squeeze", []string{sl, r.constInt64("axes", squeeze)}, []string{out})
	}
	return fin()
}

// dynamicSlice maps a STRIDED_SLICE whose begin or end is computed to an ONNX Slice on
// every axis with the same operands (cast to int64); masks are not supported there.
func (c *opCtx) dynamicSlice(x string, masks int32) error {
	r := c.r
	if masks != 0 {
		return c.unsupported("begin, end and shrink masks with a computed begin or end")
	}
	si, err := c.in(3)
	if err != nil {
		return err
	}
	steps, err := r.ints(si)
	if err != nil {
		return err
	}
	axes := make([]int64, len(steps))
	for d := range axes {
		axes[d] = int64(d)
	}
	ins := []string{x}
	for k := 1; k <= 2; k++ {
		i, _ := c.in(k)
		t := r.tmp("slice_bound")
		if r.names[i] != "" {
			r.node("Cast", []string{r.names[i]}, []string{t}, intAttr("to", int64(ir.Int64)))
		} else {
			v, err := r.ints(i)
			if err != nil {
				return err
			}
			t = r.constInt64("slice_bound", v)
		}
		ins = append(ins, t)
	}
	out, fin, err := c.result(0, tfl.ActivationFunctionTypeNONE)
	if err != nil {
		return err
	}
	r.node("Slice", append(ins, r.constInt64("axes", axes), r.constInt64("steps", steps)), []string{out})
	return fin()
}

func (c *opCtx) resize() error {
	r := c.r
	var align, half bool
	if c.code == tfl.BuiltinOperatorRESIZE_BILINEAR {
		o := &tfl.ResizeBilinearOptions{}
		if c.opts(o) {
			align, half = o.AlignCorners(), o.HalfPixelCenters()
		}
	} else {
		o := &tfl.ResizeNearestNeighborOptions{}
		if c.opts(o) {
			align, half = o.AlignCorners(), o.HalfPixelCenters()
		}
	}
	xs, err := c.shapeIn(0)
	if err != nil {
		return err
	}
	si, err := c.in(1)
	if err != nil {
		return err
	}
	size, err := r.ints(si)
	if err != nil {
		return err
	}
	if len(xs) != 4 || len(size) != 2 {
		return c.unsupported("input %v, size %v", xs, size)
	}
	x, err := c.fin(0)
	if err != nil {
		return err
	}
	attrs := []*ir.Attribute{}
	ctm := "asymmetric"
	if align {
		ctm = "align_corners"
	} else if half {
		ctm = "half_pixel"
	}
	if c.code == tfl.BuiltinOperatorRESIZE_BILINEAR {
		attrs = append(attrs, strAttr("mode", "linear"))
	} else {
		nm := "floor"
		if align || half {
			nm = "round_prefer_ceil"
		}
		attrs = append(attrs, strAttr("mode", "nearest"), strAttr("nearest_mode", nm))
	}
	attrs = append(attrs, strAttr("coordinate_transformation_mode", ctm))
	sizes := r.constInt64("sizes", []int64{xs[0], xs[3], size[0], size[1]})
	return c.nchwOp("Resize", []string{c.toNCHW(x), "", "", sizes}, tfl.ActivationFunctionTypeNONE, attrs...)
}

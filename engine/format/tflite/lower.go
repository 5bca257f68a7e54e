package tflite

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/modelc/modelc/engine/format/tflite/schema/tfl"
	"github.com/modelc/modelc/engine/ir"
)

// lowerer turns an ONNX-semantics graph into TFLite operators.
type lowerer struct {
	b         *builder
	opts      WriteOptions
	vals      map[string]*value
	consumers map[string][]*ir.Node
	outputs   map[string]bool
	skip      map[*ir.Node]bool // nodes fused into an earlier one
	int8      bool              // full-integer quantization
	dynBatch  bool              // an input's leading dimension is not fixed
	// sized: values computed from a Shape; with keepSized (sizes under comparison, see
	// lower) an op mixing them with float data is lowered, not folded, so that the size
	// stays an operand dynamicDims can compute at run time
	sized     map[string]bool
	keepSized bool
}

func unsupported(n *ir.Node, format string, args ...any) error {
	return ir.Errorf(ir.KindUnsupported, "", "node %s (%s): %s", n.DisplayName(), n.OpType, fmt.Sprintf(format, args...))
}

func lower(m *ir.Model, opts WriteOptions) (*builder, error) {
	if !otherDynamicDims(m.Graph) {
		return lowerSized(m, opts, 0)
	}
	// Unknown sizes past the batch (a sequence length): lower twice with different sizes
	// for them and keep them dynamic where only tensor shapes and RESHAPE targets differ
	// (see dynamicDims); otherwise fix them at 1 as before.
	if a, err := lowerSized(m, opts, 2); err == nil {
		if b, err := lowerSized(m, opts, 3); err == nil && dynamicDims(a, b) {
			return a, nil
		}
	}
	return lowerSized(m, opts, 1)
}

// otherDynamicDims reports whether a graph input has an unknown size past its first
// dimension.
func otherDynamicDims(g *ir.Graph) bool {
	for _, in := range g.Inputs {
		if in.Type != nil && in.Type.Shape != nil {
			for i, d := range in.Type.Shape.Dims {
				if i > 0 && !(d.HasValue && d.Value > 0) {
					return true
				}
			}
		}
	}
	return false
}

// lowerSized lowers m. unknown 0: a leading unknown dimension stays dynamic (size 1);
// unknown 1: every unknown size is fixed at 1; unknown ≥ 2: the k-th distinct unknown
// dimension (by name) is given the size unknown+2k, for dynamicDims to compare.
func lowerSized(m *ir.Model, opts WriteOptions, unknown int64) (*builder, error) {
	switch opts.Quantize {
	case "", "fp16", "int8-dynamic":
	case "int8":
		if opts.Ranges == nil {
			return nil, ir.Errorf(ir.KindInvalidArgument, "", "full-integer int8 TFLite needs calibration ranges (--calibration data.npz)")
		}
	default:
		return nil, ir.Errorf(ir.KindInvalidArgument, "", "TFLite quantization %q: use fp16, int8-dynamic or int8", opts.Quantize)
	}
	if opts.Int8IO && opts.Quantize != "int8" {
		return nil, ir.Errorf(ir.KindInvalidArgument, "", "int8 inputs and outputs need full-integer quantization (--quantize int8 --calibration)")
	}
	g := m.Graph
	nodes, err := ir.TopoOrder(g, nil)
	if err != nil {
		return nil, err
	}
	l := &lowerer{b: newBuilder(), opts: opts, vals: map[string]*value{}, consumers: map[string][]*ir.Node{},
		outputs: map[string]bool{}, skip: map[*ir.Node]bool{}, int8: opts.Quantize == "int8",
		sized: map[string]bool{}, keepSized: unknown >= 2}
	for _, t := range g.Initializers {
		l.vals[t.Name] = &value{name: t.Name, shape: t.Shape, dtype: t.DType, t: -1, konst: t}
	}
	for _, n := range nodes {
		for _, in := range n.Inputs {
			if in != "" {
				l.consumers[in] = append(l.consumers[in], n)
			}
		}
	}
	for _, o := range g.Outputs {
		l.outputs[o.Name] = true
	}
	for _, n := range nodes { // Constant nodes are known before the pattern rewrites look
		if a := n.Attr("value"); n.OpType == "Constant" && a != nil && a.Tensor != nil && len(n.Outputs) == 1 {
			t := *a.Tensor
			t.Name = n.Outputs[0]
			l.vals[t.Name] = &value{name: t.Name, shape: t.Shape, dtype: t.DType, t: -1, konst: &t}
		}
	}
	nodes = l.matchGelu(l.foldBatchNorms(nodes))
	sig := &tfl.SignatureDefT{SignatureKey: "serving_default"}
	// The writer computes every shape once. unknown 0: a leading (batch) dimension taken as
	// 1 stays dynamic, with -1 where a RESHAPE keeps it. unknown 1: every unknown size is
	// fixed at 1 and the signature is static, so the interpreter refuses a resize instead of
	// computing with stale shapes. unknown ≥ 2: see lower and dynamicDims.
	otherDynamic := unknown > 0
	syms := map[string]int64{}
	for _, in := range g.Inputs {
		if _, ok := l.vals[in.Name]; ok {
			continue // an initializer listed as input (old ONNX files)
		}
		if in.Type == nil || in.Type.Kind != ir.TypeTensor || in.Type.Shape == nil {
			return nil, ir.Errorf(ir.KindUnsupported, "", "graph input %q: TFLite needs a tensor of known rank", in.Name)
		}
		shape := make([]int64, len(in.Type.Shape.Dims))
		sigShape := make([]int32, len(shape))
		for i, d := range in.Type.Shape.Dims {
			shape[i], sigShape[i] = 1, -1
			if d.HasValue && d.Value > 0 {
				shape[i], sigShape[i] = d.Value, int32(d.Value)
			} else if i == 0 && !otherDynamic {
				l.dynBatch = true
			} else if unknown >= 2 {
				key := d.Param
				if key == "" {
					key = fmt.Sprintf("%s:%d", in.Name, i)
				}
				if _, ok := syms[key]; !ok {
					syms[key] = unknown + 2*int64(len(syms))
				}
				shape[i] = syms[key]
			} else {
				sigShape[i] = 1 // fixed at 1: see otherDynamic
			}
		}
		v := &value{name: in.Name, shape: shape, dtype: in.Type.ElemType}
		stored := shape
		if opts.NHWCIO && len(shape) == 4 {
			v.perm = nhwc
			stored = permute(shape, nhwc)
			sigShape = permute32(sigShape, nhwc)
		}
		dt := in.Type.ElemType
		if dt == ir.Int64 {
			return nil, ir.Errorf(ir.KindUnsupported, "", "graph input %q: int64 inputs are not supported in TFLite; use int32", in.Name)
		}
		v.t = l.b.tensor(in.Name, l.ttype(dt), stored, nil, l.actQuant(in.Name))
		l.b.sg.Tensors[v.t].ShapeSignature = sigShape
		l.vals[in.Name] = v
		outer := v.t
		if l.int8 && dt == ir.Float32 && !opts.Int8IO {
			// float in, QUANTIZE to the int8 the graph computes on
			outer = v.t
			l.b.sg.Tensors[outer].Type = tfl.TensorTypeFLOAT32
			l.b.sg.Tensors[outer].Quantization = nil
			v.t = l.b.tensor(in.Name+"_int8", tfl.TensorTypeINT8, stored, nil, l.actQuant(in.Name))
			l.b.op(tfl.BuiltinOperatorQUANTIZE, 1, []int32{outer}, []int32{v.t}, nil)
		}
		l.b.sg.Inputs = append(l.b.sg.Inputs, outer)
		sig.Inputs = append(sig.Inputs, &tfl.TensorMapT{Name: in.Name, TensorIndex: uint32(outer)})
	}
	for _, n := range nodes {
		if l.skip[n] {
			continue
		}
		if err := l.node(n); err != nil {
			return nil, err
		}
	}
	for _, o := range g.Outputs {
		v := l.vals[o.Name]
		if v == nil {
			return nil, ir.Errorf(ir.KindCorrupt, "", "graph output %q is computed by no node", o.Name)
		}
		want := identity(len(v.shape))
		if opts.NHWCIO && len(v.shape) == 4 {
			want = nhwc
		}
		t := l.inLayout(v, want)
		if v.konst != nil || l.isGraphInput(t) {
			t = l.reshape(t, permute(v.shape, want), o.Name, v.dtype)
		}
		if l.int8 && l.b.sg.Tensors[t].Type == tfl.TensorTypeINT8 && !opts.Int8IO {
			// int8 inside, DEQUANTIZE to a float output
			l.b.sg.Tensors[t].Name = l.b.uniqueName(o.Name + "_int8")
			f := l.b.tensor(o.Name, tfl.TensorTypeFLOAT32, l.b.shapeOf(t), nil, nil)
			l.b.op(tfl.BuiltinOperatorDEQUANTIZE, 2, []int32{t}, []int32{f}, nil)
			t = f
		}
		l.b.sg.Tensors[t].Name = o.Name
		if st := l.b.sg.Tensors[t]; l.dynBatch && len(st.Shape) > 0 && st.ShapeSignature == nil {
			st.ShapeSignature = append([]int32{-1}, st.Shape[1:]...)
		}
		l.b.sg.Outputs = append(l.b.sg.Outputs, t)
		sig.Outputs = append(sig.Outputs, &tfl.TensorMapT{Name: o.Name, TensorIndex: uint32(t)})
	}
	l.b.model.SignatureDefs = []*tfl.SignatureDefT{sig}
	if l.int8 {
		for _, t := range l.b.sg.Tensors {
			if t.Type == tfl.TensorTypeINT8 && t.Quantization == nil {
				return nil, ir.Errorf(ir.KindUnsupported, "", "full-integer int8: value %q has no calibrated range (an op modelc lowers to several TFLite ops is not supported in int8 yet)", t.Name)
			}
		}
	}
	return l.b, nil
}

func permute32(s []int32, perm []int) []int32 {
	out := make([]int32, len(perm))
	for i, p := range perm {
		out[i] = s[p]
	}
	return out
}

func (l *lowerer) isGraphInput(t int32) bool {
	for _, i := range l.b.sg.Inputs {
		if i == t {
			return true
		}
	}
	return false
}

// ttype maps an IR dtype to a TFLite tensor type (activations of a full-integer model are int8).
func (l *lowerer) ttype(dt ir.DType) tfl.TensorType {
	switch dt {
	case ir.Float32:
		if l.int8 {
			return tfl.TensorTypeINT8
		}
		return tfl.TensorTypeFLOAT32
	case ir.Float16:
		return tfl.TensorTypeFLOAT16
	case ir.Int32:
		return tfl.TensorTypeINT32
	case ir.Int64:
		return tfl.TensorTypeINT64
	case ir.Int8:
		return tfl.TensorTypeINT8
	case ir.Uint8:
		return tfl.TensorTypeUINT8
	case ir.Bool:
		return tfl.TensorTypeBOOL
	case ir.Int16:
		return tfl.TensorTypeINT16
	case ir.Float64:
		return tfl.TensorTypeFLOAT64
	}
	return tfl.TensorTypeFLOAT32
}

// ver picks an operator version: float for float models, int8 for full-integer ones.
func (l *lowerer) ver(float, int8 int32) int32 {
	if l.int8 {
		return int8
	}
	return float
}

// constTensor adds a constant tensor (data already in stored layout).
func (l *lowerer) constTensor(name string, dt ir.DType, shape []int64, data []byte) int32 {
	var tt tfl.TensorType
	switch dt {
	case ir.Float32:
		tt = tfl.TensorTypeFLOAT32
	default:
		tt = l.ttype(dt)
	}
	return l.b.tensor(name, tt, shape, data, nil)
}

// out adds the output tensor of node output name with the given logical shape and layout.
func (l *lowerer) out(name string, shape []int64, perm []int, dt ir.DType) *value {
	v := &value{name: name, shape: shape, dtype: dt, perm: perm}
	stored := shape
	if perm != nil {
		stored = permute(shape, perm)
	}
	v.t = l.b.tensor(name, l.ttype(dt), stored, nil, l.actQuant(name))
	l.vals[name] = v
	return v
}

func (l *lowerer) in(n *ir.Node, i int) (*value, error) {
	if i >= len(n.Inputs) || n.Inputs[i] == "" {
		return nil, unsupported(n, "input %d is missing", i)
	}
	v := l.vals[n.Inputs[i]]
	if v == nil {
		return nil, unsupported(n, "input %q is not computed before it", n.Inputs[i])
	}
	return v, nil
}

func (l *lowerer) optIn(n *ir.Node, i int) *value {
	if i >= len(n.Inputs) || n.Inputs[i] == "" {
		return nil
	}
	return l.vals[n.Inputs[i]]
}

func attrInt(n *ir.Node, name string, def int64) int64 {
	if a := n.Attr(name); a != nil {
		return a.Int
	}
	return def
}

func attrFloat(n *ir.Node, name string, def float32) float32 {
	if a := n.Attr(name); a != nil {
		return a.Float
	}
	return def
}

func attrInts(n *ir.Node, name string) []int64 {
	if a := n.Attr(name); a != nil {
		return a.Ints
	}
	return nil
}

func attrString(n *ir.Node, name, def string) string {
	if a := n.Attr(name); a != nil {
		return string(a.String)
	}
	return def
}

func int64s(t *ir.Tensor) []int64 {
	d := t.Bytes()
	n := t.NumElements()
	out := make([]int64, n)
	switch t.DType {
	case ir.Int64:
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(d[8*i:]))
		}
	case ir.Int32:
		for i := range out {
			out[i] = int64(int32(binary.LittleEndian.Uint32(d[4*i:])))
		}
	default:
		f, _ := t.Float32s()
		for i := range out {
			out[i] = int64(f[i])
		}
	}
	return out
}

func floats(t *ir.Tensor) ([]float32, error) {
	f, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	return append([]float32(nil), f...), nil
}

func constInts(n *ir.Node, v *value) ([]int64, error) {
	if v == nil || v.konst == nil {
		return nil, unsupported(n, "needs a constant there (shapes, axes, pads must be known when converting)")
	}
	return int64s(v.konst), nil
}

func newConst(name string, dt ir.DType, shape []int64, data []byte) *value {
	t, _ := ir.NewTensor(name, dt, shape, data)
	return &value{name: name, shape: shape, dtype: dt, t: -1, konst: t}
}

func constF32(name string, shape []int64, v []float32) *value {
	return newConst(name, ir.Float32, shape, f32bytes(v))
}

func normAxis(a int64, rank int) int {
	if a < 0 {
		a += int64(rank)
	}
	return int(a)
}

// activation returns the fused activation a single Relu/Clip consumer of name allows, and
// that consumer, which then is skipped.
func (l *lowerer) activation(name string) (tfl.ActivationFunctionType, *ir.Node) {
	if l.outputs[name] || len(l.consumers[name]) != 1 {
		return tfl.ActivationFunctionTypeNONE, nil
	}
	c := l.consumers[name][0]
	switch c.OpType {
	case "Relu":
		return tfl.ActivationFunctionTypeRELU, c
	case "Clip":
		lo, hi, ok := l.clipBounds(c)
		if ok && lo == 0 && hi == 6 {
			return tfl.ActivationFunctionTypeRELU6, c
		}
		if ok && lo == 0 && math.IsInf(float64(hi), 1) {
			return tfl.ActivationFunctionTypeRELU, c
		}
		if ok && lo == -1 && hi == 1 {
			return tfl.ActivationFunctionTypeRELU_N1_TO_1, c
		}
	}
	return tfl.ActivationFunctionTypeNONE, nil
}

func (l *lowerer) clipBounds(n *ir.Node) (lo, hi float32, ok bool) {
	lo, hi = float32(math.Inf(-1)), float32(math.Inf(1))
	if a := n.Attr("min"); a != nil {
		lo = a.Float
	}
	if a := n.Attr("max"); a != nil {
		hi = a.Float
	}
	for i, p := range []*float32{&lo, &hi} {
		if v := l.optIn(n, i+1); v != nil {
			if v.konst == nil {
				return 0, 0, false
			}
			f, err := v.konst.Float32s()
			if err != nil || len(f) != 1 {
				return 0, 0, false
			}
			*p = f[0]
		}
	}
	return lo, hi, true
}

// fusedOut creates the output of node n, or of its fused activation consumer.
func (l *lowerer) fusedOut(n *ir.Node, shape []int64, perm []int) (*value, tfl.ActivationFunctionType) {
	act, c := l.activation(n.Outputs[0])
	name := n.Outputs[0]
	if c != nil {
		l.skip[c] = true
		name = c.Outputs[0]
	}
	v := l.out(name, shape, perm, ir.Float32)
	if c != nil {
		l.vals[n.Outputs[0]] = v
	}
	return v, act
}

func (l *lowerer) node(n *ir.Node) error {
	if n.Domain != "" && n.Domain != "ai.onnx" {
		return unsupported(n, "domain %q has no TFLite equivalent", n.Domain)
	}
	if l.fold(n) {
		return nil
	}
	switch n.OpType {
	case "Identity", "Dropout":
		v, err := l.in(n, 0)
		if err != nil {
			return err
		}
		l.vals[n.Outputs[0]] = v
		return nil
	case "Constant":
		a := n.Attr("value")
		if a == nil || a.Tensor == nil {
			return unsupported(n, "only Constant with a tensor value is supported")
		}
		t := *a.Tensor
		t.Name = n.Outputs[0]
		l.vals[t.Name] = &value{name: t.Name, shape: t.Shape, dtype: t.DType, t: -1, konst: &t}
		return nil
	case "DequantizeLinear", "QuantizeLinear":
		return l.qdq(n)
	case "Conv":
		return l.conv(n)
	case "ConvTranspose":
		return l.convTranspose(n)
	case "MaxPool", "AveragePool":
		return l.pool(n)
	case "GlobalAveragePool", "GlobalMaxPool":
		return l.globalPool(n)
	case "Gemm":
		return l.gemm(n)
	case "MatMul":
		return l.matmul(n)
	case "Add", "Sub", "Mul", "Div", "Max", "Min", "Pow":
		return l.binary(n)
	case "Relu", "Sigmoid", "Tanh", "HardSwish", "Exp", "Sqrt", "Neg", "Abs", "Gelu", "LeakyRelu", "Log", "Erf", "Reciprocal", "Floor", "Ceil":
		return l.unary(n)
	case "Clip":
		return l.clip(n)
	case "BatchNormalization":
		return l.batchNorm(n)
	case "Softmax":
		return l.softmax(n)
	case "Reshape", "Flatten", "Squeeze", "Unsqueeze":
		return l.reshapeNode(n)
	case "Transpose":
		return l.transposeNode(n)
	case "Concat":
		return l.concat(n)
	case "Pad":
		return l.pad(n)
	case "ReduceMean", "ReduceMax", "ReduceSum", "ReduceMin":
		return l.reduce(n)
	case "Resize", "Upsample":
		return l.resize(n)
	case "Gather":
		return l.gather(n)
	case "Slice":
		return l.slice(n)
	case "LayerNormalization":
		return l.layerNorm(n)
	case "LSTM":
		return l.lstm(n)
	case "GRU":
		return l.gru(n)
	case "Cast":
		return l.cast(n)
	case "Tile":
		return l.tile(n)
	case "HardSigmoid":
		return l.hardSigmoid(n)
	case "Shape":
		v, err := l.in(n, 0)
		if err != nil {
			return err
		}
		d := make([]byte, 8*len(v.shape))
		for i, s := range v.shape {
			binary.LittleEndian.PutUint64(d[8*i:], uint64(s))
		}
		l.vals[n.Outputs[0]] = newConst(n.Outputs[0], ir.Int64, []int64{int64(len(v.shape))}, d)
		l.sized[n.Outputs[0]] = true
		return nil
	}
	return unsupported(n, "op %s has no TFLite lowering in modelc", n.OpType)
}

// noFold are ops never evaluated at conversion time (random, or producing big tensors
// from small inputs).
var noFold = map[string]bool{"RandomNormal": true, "RandomUniform": true, "RandomNormalLike": true,
	"RandomUniformLike": true, "Multinomial": true, "Bernoulli": true, "If": true, "Loop": true, "Scan": true}

// fold evaluates n with opts.Fold when all its inputs are constants of modest size.
func (l *lowerer) fold(n *ir.Node) bool {
	if l.opts.Fold == nil || noFold[n.OpType] || len(n.Inputs) == 0 || n.OpType == "DequantizeLinear" || n.OpType == "QuantizeLinear" {
		return false
	}
	var ins []*ir.Tensor
	sized, data := false, false
	for _, in := range n.Inputs {
		if in == "" {
			continue
		}
		if l.sized[in] {
			sized = true
		} else if v := l.vals[in]; v != nil && (v.dtype == ir.Float32 || v.dtype == ir.Float16 || v.dtype == ir.Float64) {
			data = true
		}
		v := l.vals[in]
		if v == nil || v.konst == nil || v.konst.ByteSize() > 1<<20 {
			return false
		}
		t := *v.konst
		t.Name = in
		ins = append(ins, &t)
	}
	if len(ins) == 0 || (sized && data && l.keepSized) {
		return false
	}
	outs, err := l.opts.Fold(n, ins)
	if err != nil || len(outs) != len(n.Outputs) {
		return false
	}
	for i, o := range outs {
		if n.Outputs[i] == "" || o == nil {
			continue
		}
		o.Name = n.Outputs[i]
		l.vals[o.Name] = &value{name: o.Name, shape: o.Shape, dtype: o.DType, t: -1, konst: o}
		l.sized[o.Name] = sized
	}
	return true
}

func (l *lowerer) cast(n *ir.Node) error {
	x, err := l.in(n, 0)
	if err != nil {
		return err
	}
	to := ir.DType(attrInt(n, "to", int64(ir.Float32)))
	if to == x.dtype {
		l.vals[n.Outputs[0]] = x
		return nil
	}
	tt := l.ttype(to)
	if to == ir.Int64 {
		to, tt = ir.Int32, tfl.TensorTypeINT32 // TFLite computes indices in int32
	}
	if x.dtype == ir.Int64 && to == ir.Int32 {
		l.vals[n.Outputs[0]] = x
		return nil
	}
	xin := l.stored(x)
	perm := x.perm
	if x.flat != nil {
		xin, perm = l.plain(x), nil
	}
	out := l.out(n.Outputs[0], x.shape, perm, to)
	l.b.sg.Tensors[out.t].Type = tt
	l.b.op(tfl.BuiltinOperatorCAST, 1, []int32{xin}, []int32{out.t}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsCastOptions,
		Value: &tfl.CastOptionsT{InDataType: l.b.sg.Tensors[xin].Type, OutDataType: tt}})
	return nil
}

// hardSigmoid is max(0, min(1, alpha·x + beta)): MUL, ADD, then clipped.
func (l *lowerer) hardSigmoid(n *ir.Node) error {
	x, err := l.in(n, 0)
	if err != nil {
		return err
	}
	name := n.Outputs[0]
	a, b := attrFloat(n, "alpha", 0.2), attrFloat(n, "beta", 0.5)
	v := l.binaryOp(name+"_scaled", tfl.BuiltinOperatorMUL, x, constF32(name+"_alpha", nil, []float32{a}), tfl.ActivationFunctionTypeNONE)
	v = l.binaryOp(name+"_shifted", tfl.BuiltinOperatorADD, v, constF32(name+"_beta", nil, []float32{b}), tfl.ActivationFunctionTypeNONE)
	v = l.binaryOp(name+"_min", tfl.BuiltinOperatorMINIMUM, v, constF32(name+"_one", nil, []float32{1}), tfl.ActivationFunctionTypeNONE)
	l.vals[name] = l.binaryOp(name, tfl.BuiltinOperatorMAXIMUM, v, constF32(name+"_zero", nil, []float32{0}), tfl.ActivationFunctionTypeNONE)
	return nil
}

// scalarConst is the value of a one-element float constant input.
func (l *lowerer) scalarConst(name string) (float32, bool) {
	v := l.vals[name]
	if v == nil || v.konst == nil || v.konst.NumElements() != 1 {
		return 0, false
	}
	f, err := v.konst.Float32s()
	if err != nil {
		return 0, false
	}
	return f[0], true
}

// matchGelu replaces the exact GELU as exporters spell it, x·0.5·(1 + erf(x/√2)) (Div or
// Mul by 1/√2; the 0.5 applied first or last), with one Gelu node, so it lowers to GELU.
func (l *lowerer) matchGelu(nodes []*ir.Node) []*ir.Node {
	prod := map[string]*ir.Node{}
	for _, n := range nodes {
		for _, o := range n.Outputs {
			prod[o] = n
		}
	}
	near := func(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-3 }
	one := func(n *ir.Node) *ir.Node { // the only consumer of n's output
		if len(n.Outputs) != 1 || l.outputs[n.Outputs[0]] || len(l.consumers[n.Outputs[0]]) != 1 {
			return nil
		}
		return l.consumers[n.Outputs[0]][0]
	}
	other := func(n *ir.Node, name string) string {
		if len(n.Inputs) != 2 {
			return ""
		}
		if n.Inputs[0] == name {
			return n.Inputs[1]
		}
		if n.Inputs[1] == name {
			return n.Inputs[0]
		}
		return ""
	}
	drop := map[*ir.Node]bool{}
	repl := map[*ir.Node]*ir.Node{}
	for _, erf := range nodes {
		if erf.OpType != "Erf" || len(erf.Inputs) != 1 {
			continue
		}
		scale := prod[erf.Inputs[0]]
		if scale == nil || one(scale) != erf || len(scale.Inputs) != 2 {
			continue
		}
		x := scale.Inputs[0]
		c, ok := l.scalarConst(scale.Inputs[1])
		if !ok || !((scale.OpType == "Div" && near(c, math.Sqrt2)) || (scale.OpType == "Mul" && near(c, 1/math.Sqrt2))) {
			continue
		}
		add := one(erf)
		if add == nil || add.OpType != "Add" {
			continue
		}
		if c, ok := l.scalarConst(other(add, erf.Outputs[0])); !ok || c != 1 {
			continue
		}
		m1 := one(add)
		if m1 == nil || m1.OpType != "Mul" {
			continue
		}
		var last *ir.Node
		var half *ir.Node
		o := other(m1, add.Outputs[0])
		if o == x { // (x · (1+erf)) · 0.5
			m2 := one(m1)
			if m2 == nil || m2.OpType != "Mul" {
				continue
			}
			if c, ok := l.scalarConst(other(m2, m1.Outputs[0])); !ok || c != 0.5 {
				continue
			}
			last = m2
		} else if h := prod[o]; h != nil && h.OpType == "Mul" && other(h, x) != "" { // (x·0.5) · (1+erf)
			if c, ok := l.scalarConst(other(h, x)); !ok || c != 0.5 || len(l.consumers[h.Outputs[0]]) != 1 {
				continue
			}
			half, last = h, m1
		} else {
			continue
		}
		g := &ir.Node{Name: erf.Name + "_gelu", OpType: "Gelu", Inputs: []string{x}, Outputs: []string{last.Outputs[0]}}
		for _, d := range []*ir.Node{scale, erf, add, m1, last, half} {
			if d != nil {
				drop[d] = true
			}
		}
		repl[last] = g
	}
	if len(repl) == 0 {
		return nodes
	}
	out := make([]*ir.Node, 0, len(nodes))
	for _, n := range nodes {
		if g, ok := repl[n]; ok {
			out = append(out, g)
			continue
		}
		if !drop[n] {
			out = append(out, n)
		}
	}
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

// tile repeats x in its stored layout (the repeats permuted to match).
func (l *lowerer) tile(n *ir.Node) error {
	x, err := l.in(n, 0)
	if err != nil {
		return err
	}
	reps, err := constInts(n, l.optIn(n, 1))
	if err != nil {
		return err
	}
	if len(reps) != len(x.shape) {
		return unsupported(n, "repeats %v for rank %d", reps, len(x.shape))
	}
	perm := x.storedPerm()
	xin := l.stored(x)
	if x.flat != nil {
		perm, xin = identity(len(x.shape)), l.plain(x)
	}
	shape := make([]int64, len(x.shape))
	for i := range shape {
		shape[i] = x.shape[i] * reps[i]
	}
	m := make([]int32, len(perm))
	for i, p := range perm {
		m[i] = int32(reps[p])
	}
	var outPerm []int
	if !isIdentity(perm) {
		outPerm = perm
	}
	out := l.out(n.Outputs[0], shape, outPerm, x.dtype)
	mt := l.b.tensor(n.Outputs[0]+"_multiples", tfl.TensorTypeINT32, []int64{int64(len(m))}, i32bytes(m), nil)
	l.b.op(tfl.BuiltinOperatorTILE, l.ver(1, 3), []int32{xin, mt}, []int32{out.t}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsTileOptions, Value: &tfl.TileOptionsT{}})
	l.sameQuant(out.t, xin)
	return nil
}

package quant

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/ir"
	"github.com/modelc/modelc/engine/ir/schema"
)

// FloatOptions control the float16/bfloat16 conversion.
type FloatOptions struct {
	Type ir.DType // Float16 or BFloat16
	// KeepIO keeps the graph's float32 inputs and outputs float32, with Cast nodes inside.
	KeepIO bool
	// Exclude keeps matching nodes in float32.
	Exclude compress.Exclude
}

// Fragile lists the ops kept in float32 by default: reductions and normalisations whose
// sums overflow or lose too much in 16 bits, exponentials and logarithms, and index or
// shape computations that must stay exact (the set onnxconverter-common's float16
// converter blocks, plus the normalisations).
var Fragile = map[string]bool{
	"Softmax": true, "LogSoftmax": true, "LayerNormalization": true, "InstanceNormalization": true,
	"GroupNormalization": true, "RMSNormalization": true, "ReduceMean": true, "ReduceSum": true,
	"ReduceSumSquare": true, "ReduceLogSumExp": true, "ReduceL2": true, "ReduceProd": true,
	"Exp": true, "Log": true, "Pow": true, "Sqrt": true, "Reciprocal": true, "Erf": true,
	"CumSum": true, "Range": true, "TopK": true, "NonMaxSuppression": true, "RoiAlign": true,
	"Resize": true, "Upsample": true, "RandomUniformLike": true, "RandomNormalLike": true,
	"Einsum": true,
	// Recurrent cells: their state runs through many steps of sigmoid/tanh, and
	// onnxruntime's CPU provider has no float16 kernels for them.
	"LSTM": true, "GRU": true, "RNN": true,
}

// noConvert are ops whose float inputs keep their type whatever their neighbours do:
// Cast converts by itself, and the quantization ops take float32 scales.
var noConvert = map[string]bool{
	"Cast": true, "QuantizeLinear": true, "DequantizeLinear": true, "DynamicQuantizeLinear": true,
	"MatMulInteger": true, "ConvInteger": true, "Shape": true, "Size": true,
}

// sourceOps make float values from attributes, not from float inputs: their output type
// is fixed by the attribute, so they never compute in 16 bits (a Cast follows where
// needed).
var sourceOps = map[string]bool{
	"ConstantOfShape": true, "RandomNormal": true, "RandomUniform": true, "EyeLike": true,
	"Multinomial": true, "Bernoulli": true,
}

// movement ops only move or select values: converting one whose float inputs all arrive
// in float32 would only put a Cast before it and another after (and that pattern
// crashes onnxruntime 1.2x's full graph optimiser in front of an LSTM), so it then
// stays float32 and the Cast moves to where 16-bit arithmetic starts.
var movement = map[string]bool{
	"Transpose": true, "Reshape": true, "Squeeze": true, "Unsqueeze": true, "Flatten": true, "Identity": true,
	"Gather": true, "GatherElements": true, "GatherND": true, "Slice": true, "Concat": true, "Split": true,
	"Expand": true, "Tile": true, "DepthToSpace": true, "SpaceToDepth": true,
}

// controlFlow are the subgraph ops whose float inputs and outputs follow their bodies:
// converted, the body's formal inputs and outputs become 16-bit with them.
var controlFlow = map[string]bool{"If": true, "Loop": true, "Scan": true}

// Underflow and precision bounds of the range check: a constant is kept in float32 when
// any of its values overflows the 16-bit type, or when its relative error after
// conversion, ‖w − ŵ‖/‖w‖, exceeds this (float16 rounding alone gives about 3e-4,
// bfloat16 about 2e-3; values lost to underflow or to the few bits of a subnormal give
// more: a Clip minimum of 1e-10 becomes 0, relative error 1).
const (
	maxHalfRelError   = 1e-2
	maxBFloatRelError = 2e-2
)

// fp16 is the float conversion's state: the value types before (orig) and as converted
// so far (cur), which nodes compute in 16 bits, and the names handed out.
type fp16 struct {
	half      ir.DType
	opset     int64 // the model's ai.onnx opset, whose schemas say which ops take half
	orig, cur map[string]ir.DType
	isHalf    map[*ir.Node]bool
	names     *compress.Names
	r         *compress.Report
}

// Float16 converts the model's float32 computation to float16 (or bfloat16): float32
// constants become 16-bit, and Cast nodes join the parts kept in float32 (fragile ops,
// excluded nodes, ops of other domains, constants out of the 16-bit range and the ops
// reading them) to the rest. Subgraphs (If branches, Loop and Scan bodies) are converted
// with their nodes: their formal inputs and outputs take the types their node gives and
// expects, and values read from the outer scope come in the type they have there.
//
// Every float32 constant is checked against the 16-bit range first: a tensor with a
// value that overflows (|x| > 65504 in float16: a BatchNormalization variance of 1e8),
// or whose relative error after conversion exceeds 1 % (2 % for bfloat16: values that
// underflow to zero or to subnormals, a Clip minimum of 1e-10), stays float32 and so do
// the nodes that read it; the report names each.
func Float16(m *ir.Model, o FloatOptions) (*compress.Report, error) {
	half := o.Type
	if half != ir.Float16 && half != ir.BFloat16 {
		return nil, fmt.Errorf("float conversion to %v is not supported (float16, bfloat16)", half)
	}
	if half == ir.BFloat16 {
		// bfloat16 is in the type constraints of Cast and the arithmetic ops from opset 13.
		if err := compress.RequireOpset(m, 13); err != nil {
			return nil, err
		}
	}
	compress.LiftConstants(m)
	r := &compress.Report{Pass: "convert to " + half.String()}
	g := m.Graph
	c := &fp16{half: half, orig: inferTypes(g), cur: map[string]ir.DType{}, isHalf: map[*ir.Node]bool{},
		names: compress.NewNames(m), r: r}
	for k, v := range c.orig {
		c.cur[k] = v
	}
	if !o.KeepIO {
		for _, v := range g.Inputs {
			if c.cur[v.Name] == ir.Float32 && g.Initializer(v.Name) == nil {
				c.cur[v.Name] = half
				v.Type.ElemType = half
			}
		}
	}
	// The range check: the float32 constants of every graph that 16 bits cannot hold.
	unsafe := map[string]string{}
	var err error
	ir.WalkGraphs(g, func(sg *ir.Graph) {
		for _, t := range sg.Initializers {
			if t.DType != ir.Float32 || err != nil {
				continue
			}
			var v []float32
			if v, err = t.Float32s(); err == nil {
				if why := c.outOfRange(v); why != "" {
					unsafe[t.Name] = why
				}
			}
		}
	})
	if err != nil {
		return nil, err
	}
	var kept, rangeNotes []string
	for _, name := range compress.SortedKeys(unsafe) {
		rangeNotes = append(rangeNotes, fmt.Sprintf("%s (%s)", name, unsafe[name]))
	}
	opsetNow := m.OpsetVersion("")
	c.opset = opsetNow
	// Integers of 32 or 64 bits cast to float (the int32 accumulators of MatMulInteger
	// and ConvInteger, before their scale is applied) can exceed the 16-bit range: the
	// nodes reading them compute in float32.
	wideInts := map[string]bool{}
	ir.WalkGraphs(g, func(sg *ir.Graph) {
		for _, n := range sg.Nodes {
			if n.OpType == "Cast" && len(n.Inputs) > 0 && len(n.Outputs) > 0 && c.orig[n.Outputs[0]] == ir.Float32 {
				switch c.orig[n.Inputs[0]] {
				case ir.Int32, ir.Uint32, ir.Int64, ir.Uint64:
					wideInts[n.Outputs[0]] = true
				}
			}
		}
	})
	ir.WalkGraphs(g, func(sg *ir.Graph) {
		for _, n := range sg.Nodes {
			if !touchesFloat32(n, c.orig) || noConvert[n.OpType] || sourceOps[n.OpType] {
				continue
			}
			why := ""
			switch {
			case n.Domain != "" && n.Domain != "ai.onnx":
				why = "domain " + n.Domain
			case Fragile[n.OpType]:
				kept = append(kept, fmt.Sprintf("%s (%s)", compress.NodeName(n), n.OpType))
				continue
			case !c.schemaAllowsHalf(n, opsetNow):
				why = fmt.Sprintf("its schema at opset %d has no %v", opsetNow, half)
			case o.Exclude.Matches(n):
				why = "excluded"
			case len(n.Subgraphs()) > 0 && !controlFlow[n.OpType]:
				why = "has subgraphs"
			case n.OpType == "Scan" && m.OpsetVersion("") < 9:
				why = "Scan-8"
			case n.OpType == "Constant":
				a := n.Attr("value")
				if a == nil || a.Tensor == nil || a.Tensor.DType != ir.Float32 {
					continue // value_float and kin: float32 by definition
				}
				v, err := a.Tensor.Float32s()
				if err != nil {
					return
				}
				if w := c.outOfRange(v); w != "" {
					rangeNotes = append(rangeNotes, fmt.Sprintf("%s (%s)", n.Outputs[0], w))
					continue
				}
			default:
				for _, x := range n.Inputs {
					if u, ok := unsafe[x]; ok {
						why = fmt.Sprintf("reads %s: %s", x, u)
						break
					}
					if wideInts[x] {
						why = fmt.Sprintf("reads %s, an integer that can exceed the %v range", x, half)
						break
					}
				}
				if why == "" && n.OpType == "Clip" {
					for _, a := range []string{"min", "max"} {
						if at := n.Attr(a); at != nil {
							if w := c.outOfRange([]float32{at.Float}); w != "" {
								why = fmt.Sprintf("attribute %s: %s", a, w)
							}
						}
					}
				}
			}
			if why != "" {
				kept = append(kept, fmt.Sprintf("%s (%s, %s)", compress.NodeName(n), n.OpType, why))
				continue
			}
			c.isHalf[n] = true
		}
	})
	// A float32 initializer is converted when every node reading it (in its graph or,
	// through the outer scope, in a subgraph) computes in 16 bits, it is in range, and it
	// is not an overridable graph input; otherwise the half nodes get a Cast.
	consumers := map[string][]*ir.Node{}
	ir.WalkGraphs(g, func(sg *ir.Graph) {
		for _, n := range sg.Nodes {
			for _, in := range n.Inputs {
				if in != "" {
					consumers[in] = append(consumers[in], n)
				}
			}
		}
	})
	// onnxruntime (1.24 to at least 1.31 on x86-64) crashes loading a 16-bit Transpose in
	// front of a MatMul: its CPU provider computes the MatMul in float32 behind a Cast of
	// its own, and the NCHWc layout pass then dereferences that Cast's missing schema
	// (microsoft/onnxruntime#28392). Such a Transpose moves float32 values instead, the
	// Cast to 16 bits follows it, and the MatMul still computes in 16 bits.
	ir.WalkGraphs(g, func(sg *ir.Graph) {
		for _, n := range sg.Nodes {
			if n.OpType != "Transpose" || !c.isHalf[n] {
				continue
			}
			for _, r := range consumers[n.Outputs[0]] {
				if r.OpType == "MatMul" || r.OpType == "Gemm" {
					c.isHalf[n] = false
				}
			}
		}
	})
	ir.WalkGraphs(g, func(sg *ir.Graph) {
		for _, t := range sg.Initializers {
			if err != nil || t.DType != ir.Float32 || unsafe[t.Name] != "" || compress.IsGraphInput(sg, t.Name) ||
				compress.IsGraphOutput(sg, t.Name) || len(consumers[t.Name]) == 0 {
				continue
			}
			all := true
			for _, n := range consumers[t.Name] {
				all = all && c.isHalf[n]
			}
			if all {
				err = c.convertInit(t)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	if err := c.graph(g, false); err != nil {
		return nil, err
	}
	// Graph outputs: cast back to float32 when asked to keep the I/O types.
	for _, v := range g.Outputs {
		if c.cur[v.Name] != half || c.orig[v.Name] != ir.Float32 {
			continue
		}
		if !o.KeepIO {
			if v.Type != nil {
				v.Type.ElemType = half
			}
			continue
		}
		inner := c.names.New(v.Name + "_" + half.String())
		renameValue(g, v.Name, inner)
		g.Nodes = append(g.Nodes, &ir.Node{Name: c.names.New(v.Name + "/Cast_float32"), OpType: "Cast", Inputs: []string{inner},
			Outputs: []string{v.Name}, Attrs: []*ir.Attribute{attrInt("to", int64(ir.Float32))}})
	}
	sort.Strings(kept)
	if len(rangeNotes) > 0 {
		sort.Strings(rangeNotes)
		r.Notes = append(r.Notes, fmt.Sprintf("kept in float32, out of %s range: %s", half, strings.Join(rangeNotes, ", ")))
	}
	if len(kept) > 0 {
		r.Notes = append(r.Notes, "kept in float32: "+strings.Join(kept, ", "))
	}
	if o.KeepIO {
		r.Notes = append(r.Notes, "graph inputs and outputs kept float32")
	}
	return r, nil
}

// outOfRange says why float32 values cannot become c.half ("" if they can).
func (c *fp16) outOfRange(v []float32) string {
	_, back := c.roundTrip(v)
	limit := maxHalfRelError
	if c.half == ir.BFloat16 {
		limit = maxBFloatRelError
	}
	var big float32
	zeroed := 0
	var tiny float32
	for i, x := range v {
		if math.IsInf(float64(back[i]), 0) && !math.IsInf(float64(x), 0) {
			big = max(big, float32(math.Abs(float64(x))))
		}
		if back[i] == 0 && x != 0 {
			zeroed++
			if tiny == 0 || float32(math.Abs(float64(x))) < tiny {
				tiny = float32(math.Abs(float64(x)))
			}
		}
	}
	if big > 0 {
		return fmt.Sprintf("|x| up to %.3g overflows %s to inf", big, c.half)
	}
	if e := compress.RelError(v, back); e > limit {
		if zeroed > 0 {
			return fmt.Sprintf("%d of %d nonzero values underflow to 0 (|x| down to %.3g), relative error %.3g", zeroed, len(v), tiny, e)
		}
		return fmt.Sprintf("relative error %.3g in %s (subnormal values)", e, c.half)
	}
	return ""
}

// convertInit stores a float32 initializer in c.half and reports it.
func (c *fp16) convertInit(t *ir.Tensor) error {
	v, err := t.Float32s()
	if err != nil {
		return err
	}
	b, back := c.convertValues(v)
	c.r.Layers = append(c.r.Layers, compress.LayerReport{Tensor: t.Name, Op: "initializer",
		ParamsBefore: t.NumElements(), ParamsAfter: t.NumElements(), RelError: compress.RelError(v, back), Detail: c.half.String()})
	t.DType = c.half
	if err := t.SetBytes(b); err != nil {
		return err
	}
	c.cur[t.Name] = c.half
	return nil
}

// roundTrip converts v to c.half (h) and back to float32 (back).
func (c *fp16) roundTrip(v []float32) (h []uint16, back []float32) {
	h, back = make([]uint16, len(v)), make([]float32, len(v))
	if c.half == ir.Float16 {
		accel.F32ToF16(h, v)
		accel.F16ToF32(back, h)
	} else {
		accel.F32ToBF16(h, v)
		accel.BF16ToF32(back, h)
	}
	return h, back
}

// convertValues encodes v in c.half (little-endian bytes) and decodes it back.
func (c *fp16) convertValues(v []float32) ([]byte, []float32) {
	h, back := c.roundTrip(v)
	b := make([]byte, 2*len(h))
	for i, x := range h {
		b[2*i], b[2*i+1] = byte(x), byte(x>>8)
	}
	return b, back
}

// isFloat reports whether t is float32 or the 16-bit type.
func (c *fp16) isFloat(t ir.DType) bool { return t == ir.Float32 || t == c.half }

// graph rewrites the nodes of g in order: each node's float inputs are cast to the type
// it computes in, its outputs get their new types, and the bodies of its subgraphs are
// converted where the node is (after the outer values they may read).
func (c *fp16) graph(g *ir.Graph, _ bool) error {
	casts := map[[2]string]string{}
	var nodes []*ir.Node
	castTo := func(x string, to ir.DType) string {
		key := [2]string{x, to.String()}
		if out, ok := casts[key]; ok {
			return out
		}
		out := c.names.New(x + "_" + to.String())
		nodes = append(nodes, &ir.Node{Name: c.names.New(x + "/Cast_" + to.String()), OpType: "Cast", Inputs: []string{x}, Outputs: []string{out},
			Attrs: []*ir.Attribute{attrInt("to", int64(to))}})
		casts[key] = out
		c.cur[out] = to
		return out
	}
	for _, n := range g.Nodes {
		half := c.isHalf[n]
		if half && movement[n.OpType] {
			allFloat32 := true
			for _, x := range n.Inputs {
				if x != "" && c.isFloat(c.cur[x]) && c.cur[x] != ir.Float32 {
					allFloat32 = false
				}
			}
			if allFloat32 {
				half = false
				c.isHalf[n] = false
			}
		}
		if n.OpType == "Constant" && half {
			a := n.Attr("value")
			v, err := a.Tensor.Float32s()
			if err != nil {
				return err
			}
			b, _ := c.convertValues(v)
			a.Tensor.DType = c.half
			if err := a.Tensor.SetBytes(b); err != nil {
				return err
			}
		}
		if noConvert[n.OpType] {
			// These keep the types they are given, where their schema allows them
			// (DynamicQuantizeLinear takes float32 only).
			if s := schema.Lookup(n.Domain, n.OpType, c.opset); s != nil {
				for i, x := range n.Inputs {
					if f := s.Input(i); x != "" && f != nil && c.cur[x] == c.half && c.orig[x] == ir.Float32 &&
						!s.Allows(f.Type, schema.TensorTypeString(c.half)) {
						n.Inputs[i] = castTo(x, ir.Float32)
					}
				}
			}
		} else {
			for i, x := range n.Inputs {
				if x == "" {
					continue
				}
				switch t := c.cur[x]; {
				case half && t == ir.Float32:
					n.Inputs[i] = castTo(x, c.half)
				case !half && t == c.half && c.orig[x] == ir.Float32:
					n.Inputs[i] = castTo(x, ir.Float32)
				}
			}
		}
		// Output types: by default 16-bit where the node computes in 16 bits.
		outs := make([]ir.DType, len(n.Outputs))
		for i, out := range n.Outputs {
			outs[i] = c.orig[out]
			if half && c.orig[out] == ir.Float32 {
				outs[i] = c.half
			}
		}
		if subs := n.Subgraphs(); len(subs) > 0 {
			if err := c.bodies(n, outs); err != nil {
				return err
			}
		}
		nodes = append(nodes, n)
		for i, out := range n.Outputs {
			if out != "" {
				c.cur[out] = outs[i]
			}
		}
	}
	g.Nodes = nodes
	for _, v := range g.ValueInfos {
		if v.Type != nil && v.Type.Kind == ir.TypeTensor && c.isFloat(v.Type.ElemType) && c.isFloat(c.cur[v.Name]) {
			v.Type.ElemType = c.cur[v.Name]
		}
	}
	return nil
}

// bodies converts the subgraphs of n, whose outputs will have the types outs: each
// body's formal inputs take the types n hands them (the types of n's inputs, as cast for
// n), and each body output is cast, where needed, to the type n's matching output has.
func (c *fp16) bodies(n *ir.Node, outs []ir.DType) error {
	in := func(i int) ir.DType {
		if i < len(n.Inputs) && n.Inputs[i] != "" {
			return c.cur[n.Inputs[i]]
		}
		return ir.Undefined
	}
	for _, a := range n.Attrs {
		for _, b := range append([]*ir.Graph{a.Graph}, a.Graphs...) {
			if b == nil {
				continue
			}
			formal := make([]ir.DType, len(b.Inputs))
			want := make([]ir.DType, len(b.Outputs))
			for i, v := range b.Inputs {
				formal[i] = c.orig[v.Name]
			}
			for i, v := range b.Outputs {
				want[i] = c.orig[v.Name]
			}
			switch {
			case n.OpType == "If":
				for i := range want {
					if i < len(outs) {
						want[i] = outs[i]
					}
				}
			case n.OpType == "Loop" && a.Name == "body":
				// Body inputs: iteration, condition, then the carried values (node inputs
				// 2...); outputs: condition, carried (node outputs 0..N-1), scan outputs.
				carried := len(n.Inputs) - 2
				for i := 2; i < len(formal); i++ {
					if t := in(i); c.isFloat(t) && c.isFloat(formal[i]) {
						formal[i] = t
					}
				}
				for i := 1; i < len(want); i++ {
					if i-1 < len(outs) {
						want[i] = outs[i-1]
					}
					if i-1 < carried && c.isFloat(formal[i+1]) && c.isFloat(want[i]) {
						want[i] = formal[i+1] // a carried value keeps one type across iterations
					}
				}
			case n.OpType == "Scan" && a.Name == "body":
				// Body inputs: the states, then one slice of each scan input; outputs: the
				// states, then the scan outputs. The node's inputs and outputs match them
				// one to one.
				for i := range formal {
					if t := in(i); c.isFloat(t) && c.isFloat(formal[i]) {
						formal[i] = t
					}
				}
				for i := range want {
					if i < len(outs) {
						want[i] = outs[i]
					}
				}
				for i := range want {
					if i < len(formal) && i < len(n.Inputs) && c.isFloat(formal[i]) && c.isFloat(want[i]) && n.Attr("num_scan_inputs") != nil {
						if states := len(n.Inputs) - int(n.Attr("num_scan_inputs").Int); i < states {
							want[i] = formal[i]
						}
					}
				}
			}
			for i, v := range b.Inputs {
				if formal[i] != ir.Undefined {
					c.cur[v.Name] = formal[i]
					if v.Type != nil && v.Type.Kind == ir.TypeTensor && c.isFloat(v.Type.ElemType) && c.isFloat(formal[i]) {
						v.Type.ElemType = formal[i]
					}
				}
			}
			if err := c.graph(b, true); err != nil {
				return err
			}
			for i, v := range b.Outputs {
				have := c.cur[v.Name]
				if c.isFloat(have) && c.isFloat(want[i]) && have != want[i] {
					out := c.names.New(v.Name + "_" + want[i].String())
					b.Nodes = append(b.Nodes, &ir.Node{Name: c.names.New(v.Name + "/Cast_" + want[i].String()), OpType: "Cast",
						Inputs: []string{v.Name}, Outputs: []string{out}, Attrs: []*ir.Attribute{attrInt("to", int64(want[i]))}})
					c.cur[out] = want[i]
					v.Name = out
					have = want[i]
				}
				if v.Type != nil && v.Type.Kind == ir.TypeTensor && c.isFloat(v.Type.ElemType) && c.isFloat(have) {
					v.Type.ElemType = have
				}
				if i < len(outs) && n.OpType == "If" && c.isFloat(have) {
					outs[i] = have
				}
			}
			// A Loop or Scan output is the body output it collects.
			switch n.OpType {
			case "Loop":
				for i := range outs {
					if i+1 < len(b.Outputs) && c.isFloat(c.cur[b.Outputs[i+1].Name]) {
						outs[i] = c.cur[b.Outputs[i+1].Name]
					}
				}
			case "Scan":
				for i := range outs {
					if i < len(b.Outputs) && c.isFloat(c.cur[b.Outputs[i].Name]) {
						outs[i] = c.cur[b.Outputs[i].Name]
					}
				}
			}
		}
	}
	return nil
}

// renameValue gives value from the name to in g: its producer writes to and every
// reader (nested graphs included) reads to.
func renameValue(g *ir.Graph, from, to string) {
	for _, n := range g.Nodes {
		for i := range n.Outputs {
			if n.Outputs[i] == from {
				n.Outputs[i] = to
			}
		}
	}
	ir.WalkGraphs(g, func(sg *ir.Graph) {
		for _, n := range sg.Nodes {
			for i := range n.Inputs {
				if n.Inputs[i] == from {
					n.Inputs[i] = to
				}
			}
		}
	})
}

// touchesFloat32 reports whether n reads or writes a float32 value.
func touchesFloat32(n *ir.Node, types map[string]ir.DType) bool {
	for _, x := range n.Inputs {
		if types[x] == ir.Float32 {
			return true
		}
	}
	for _, x := range n.Outputs {
		if types[x] == ir.Float32 {
			return true
		}
	}
	return false
}

// inferTypes gives the element type of every value of g and of its subgraphs it can
// tell: from the inputs, initializers and recorded value infos, then node by node from a
// small table of how ops type their outputs (most: like their first typed input; If,
// Loop and Scan: like their bodies' outputs). Value names are unique across a model's
// graphs, so one map holds them all.
func inferTypes(g *ir.Graph) map[string]ir.DType {
	t := map[string]ir.DType{}
	inferGraph(g, t)
	return t
}

func inferGraph(g *ir.Graph, t map[string]ir.DType) {
	for _, v := range append(append(append([]*ir.ValueInfo{}, g.Inputs...), g.ValueInfos...), g.Outputs...) {
		if v.Type != nil && v.Type.Kind == ir.TypeTensor && v.Type.ElemType != ir.Undefined {
			t[v.Name] = v.Type.ElemType
		}
	}
	for _, x := range g.Initializers {
		t[x.Name] = x.DType
	}
	first := func(n *ir.Node) ir.DType {
		for _, x := range n.Inputs {
			if d, ok := t[x]; ok && x != "" {
				return d
			}
		}
		return ir.Undefined
	}
	for _, n := range g.Nodes {
		var out []ir.DType
		// Subgraphs first: a body's formal inputs take their types from the node's inputs
		// where the body does not declare them.
		for _, a := range n.Attrs {
			for _, b := range append([]*ir.Graph{a.Graph}, a.Graphs...) {
				if b == nil {
					continue
				}
				for i, v := range b.Inputs {
					if _, ok := t[v.Name]; ok {
						continue
					}
					switch {
					case n.OpType == "Loop" && i == 0:
						t[v.Name] = ir.Int64
					case n.OpType == "Loop" && i == 1:
						t[v.Name] = ir.Bool
					case n.OpType == "Loop" && i < len(n.Inputs):
						if d, ok := t[n.Inputs[i]]; ok {
							t[v.Name] = d
						}
					case n.OpType == "Scan" && i < len(n.Inputs):
						if d, ok := t[n.Inputs[i]]; ok {
							t[v.Name] = d
						}
					}
				}
				inferGraph(b, t)
			}
		}
		body := func(name string) *ir.Graph {
			if a := n.Attr(name); a != nil {
				return a.Graph
			}
			return nil
		}
		bodyOuts := func(b *ir.Graph, skip int) []ir.DType {
			var d []ir.DType
			if b == nil {
				return nil
			}
			for _, v := range b.Outputs[min(skip, len(b.Outputs)):] {
				d = append(d, t[v.Name])
			}
			return d
		}
		switch n.OpType {
		case "If":
			out = bodyOuts(body("then_branch"), 0)
		case "Loop":
			out = bodyOuts(body("body"), 1)
		case "Scan":
			out = bodyOuts(body("body"), 0)
		case "Cast":
			if a := n.Attr("to"); a != nil {
				out = []ir.DType{ir.DType(a.Int)}
			}
		case "Shape", "Size", "ArgMax", "ArgMin", "NonZero":
			out = []ir.DType{ir.Int64}
		case "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or", "Xor", "IsNaN", "IsInf":
			out = []ir.DType{ir.Bool}
		case "Constant":
			if a := n.Attr("value"); a != nil && a.Tensor != nil {
				out = []ir.DType{a.Tensor.DType}
			} else if n.Attr("value_float") != nil || n.Attr("value_floats") != nil {
				out = []ir.DType{ir.Float32}
			} else if n.Attr("value_int") != nil || n.Attr("value_ints") != nil {
				out = []ir.DType{ir.Int64}
			}
		case "ConstantOfShape":
			out = []ir.DType{ir.Float32}
			if a := n.Attr("value"); a != nil && a.Tensor != nil {
				out = []ir.DType{a.Tensor.DType}
			}
		case "RandomNormal", "RandomUniform":
			out = []ir.DType{ir.Float32}
			if a := n.Attr("dtype"); a != nil {
				out = []ir.DType{ir.DType(a.Int)}
			}
		case "DynamicQuantizeLinear":
			out = []ir.DType{ir.Uint8, ir.Float32, ir.Uint8}
		case "QuantizeLinear":
			out = []ir.DType{ir.Uint8}
			if len(n.Inputs) > 2 {
				if d, ok := t[n.Inputs[2]]; ok {
					out = []ir.DType{d}
				}
			}
		case "DequantizeLinear":
			out = []ir.DType{ir.Float32}
			if len(n.Inputs) > 1 {
				if d, ok := t[n.Inputs[1]]; ok {
					out = []ir.DType{d}
				}
			}
		case "MatMulInteger", "ConvInteger":
			out = []ir.DType{ir.Int32}
		case "TopK":
			out = []ir.DType{first(n), ir.Int64}
		case "MaxPool":
			out = []ir.DType{first(n), ir.Int64}
		default:
			out = []ir.DType{first(n)}
		}
		if len(out) == 0 {
			continue
		}
		for i, o := range n.Outputs {
			if _, known := t[o]; known || o == "" {
				continue
			}
			d := out[min(i, len(out)-1)]
			if n.OpType == "If" || n.OpType == "Loop" || n.OpType == "Scan" {
				d = ir.Undefined
				if i < len(out) {
					d = out[i]
				}
			}
			if d != ir.Undefined {
				t[o] = d
			}
		}
	}
}

// schemaAllowsHalf reports whether n's schema at the given opset lets every float32 value
// it reads or writes be of the 16-bit type. ONNX added float16 and bfloat16 to ops' type
// constraints over the opsets (BatchNormalization, HardSigmoid, If, Conv have no
// bfloat16 at 13), and onnxruntime refuses a node whose types its schema does not allow:
// such a node computes in float32. An op without a schema is left to the other rules.
func (c *fp16) schemaAllowsHalf(n *ir.Node, opset int64) bool {
	s := schema.Lookup(n.Domain, n.OpType, opset)
	if s == nil {
		return true
	}
	t := schema.TensorTypeString(c.half)
	for i, x := range n.Inputs {
		if f := s.Input(i); x != "" && f != nil && c.orig[x] == ir.Float32 && !s.Allows(f.Type, t) {
			return false
		}
	}
	for i, x := range n.Outputs {
		if f := s.Output(i); x != "" && f != nil && c.orig[x] == ir.Float32 && !s.Allows(f.Type, t) {
			return false
		}
	}
	return true
}

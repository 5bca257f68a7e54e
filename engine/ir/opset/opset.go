// Package opset converts a model from one version of the ai.onnx operator set to another,
// up or down, in place: the main graph, every subgraph and the bodies of model-local
// functions.
//
// Each op is walked through the versions between the model's opset and the target one
// at a time, as onnx's version converter does. Where a version changed an op's signature
// (an attribute became an input, an input or output appeared, a default or a meaning
// changed) an adapter rewrites the node; where only the allowed element types changed
// nothing needs doing and the checker (schema.Check) verifies the result. A downgrade
// that the older version cannot express — an op that did not exist yet, an attribute
// value or element type it lacks, a value that must be a constant for the attribute form
// but is computed — is refused with an error naming the node, the op and why.
package opset

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/modelc/modelc/engine/ir"
	"github.com/modelc/modelc/engine/ir/schema"
)

// The targets Convert accepts. Adapters cover every signature change up to MaxTarget;
// models of newer opsets are converted down through the versions above it too, as far
// as their changes are attribute defaults and element types.
const (
	MinTarget int64 = 7
	MaxTarget int64 = 23
)

// Convert rewrites m so that it imports ai.onnx opset target, converting every node of
// the default domain (main graph, subgraphs, functions) and raising the model's IR
// version when the target needs a newer one. The result passes schema.Check. On error
// the model may be partly converted: convert a copy (or re-read the file) when the
// original is still needed.
//
// Errors are *ir.Error of kind KindInvalidArgument (a target out of range) or
// KindUnsupported (a node that cannot be expressed at the target; the error says which
// node, op and why, and wraps a *Refusal).
func Convert(m *ir.Model, target int64) error {
	if m == nil || m.Graph == nil {
		return &ir.Error{Kind: ir.KindInvalidArgument, Err: errors.New("opset conversion: no model")}
	}
	if target < MinTarget || target > MaxTarget {
		return &ir.Error{Kind: ir.KindInvalidArgument, Err: fmt.Errorf("opset conversion: target opset %d is outside the range modelc converts (%d to %d)", target, MinTarget, MaxTarget)}
	}
	from := m.OpsetVersion("")
	if from > schema.LatestOpset("") {
		return &ir.Error{Kind: ir.KindUnsupported, Err: fmt.Errorf("opset conversion: the model imports ai.onnx opset %d, newer than the newest modelc knows (%d)", from, schema.LatestOpset(""))}
	}
	hasOnnx := from != 0
	if from == 0 {
		// A model that imports no ai.onnx opset has no default-domain nodes; it gets the
		// target's import only if some node needs one.
		from = target
		for _, n := range m.Graph.Nodes {
			if isOnnx(n.Domain) {
				return &ir.Error{Kind: ir.KindCorrupt, Err: fmt.Errorf("node %q (%s): the model has ai.onnx nodes but imports no ai.onnx opset", n.DisplayName(), n.OpType)}
			}
		}
	}
	c := &conv{m: m, target: target, names: map[string]bool{}}
	c.constNodes = m.IRVersion > 0 && m.IRVersion < 4
	c.collectNames()

	if hasOnnx && from != target {
		gc := c.newGraph(m.Graph, nil, from)
		if err := gc.run(); err != nil {
			return err
		}
	}
	for _, f := range m.Functions {
		fv := opsetOf(f.Opsets)
		if fv == 0 || fv == target {
			continue
		}
		gc := c.newFunction(f, fv)
		if err := gc.run(); err != nil {
			return err
		}
		setOpset(&f.Opsets, target)
	}
	if hasOnnx {
		setOpset(&m.Opsets, target)
	}
	if need := schema.MinIRVersion(target); m.IRVersion < need {
		m.IRVersion = need
	}
	if err := schema.Check(m); err != nil {
		var se *schema.Error
		if errors.As(err, &se) && len(se.Problems) > 0 {
			p := se.Problems[0]
			r := &Refusal{Node: p.Node, Op: p.Op, Why: "after conversion: " + p.Rule, Target: target}
			if len(se.Problems) > 1 {
				r.Why += fmt.Sprintf(" (and %d more problems)", len(se.Problems)-1)
			}
			return r.asError()
		}
		return &ir.Error{Kind: ir.KindUnsupported, Err: fmt.Errorf("opset conversion to %d: %w", target, err)}
	}
	return nil
}

// Refusal says why a node cannot be converted.
type Refusal struct {
	Node, Op string
	Target   int64
	Why      string
}

func (r *Refusal) Error() string {
	where := ""
	if r.Node != "" {
		where = fmt.Sprintf("node %q (%s): ", r.Node, r.Op)
	}
	return fmt.Sprintf("cannot convert to opset %d: %s%s", r.Target, where, r.Why)
}

func (r *Refusal) asError() *ir.Error {
	return &ir.Error{Kind: ir.KindUnsupported, Err: r}
}

func isOnnx(domain string) bool { return domain == "" || domain == "ai.onnx" }

func opsetOf(ops []ir.OpsetImport) int64 {
	for _, o := range ops {
		if isOnnx(o.Domain) {
			return o.Version
		}
	}
	return 0
}

// setOpset makes v the model's one ai.onnx import: some producers (skl2onnx) repeat the
// entry, and a copy left at the old version would contradict the converted nodes.
func setOpset(ops *[]ir.OpsetImport, v int64) {
	kept := (*ops)[:0]
	found := false
	for _, o := range *ops {
		if isOnnx(o.Domain) {
			if found {
				continue
			}
			found = true
			o.Version = v
		}
		kept = append(kept, o)
	}
	if !found {
		kept = append(kept, ir.OpsetImport{Domain: "", Version: v})
	}
	*ops = kept
}

// conv is one conversion of a model.
type conv struct {
	m          *ir.Model
	target     int64
	constNodes bool // write new constants as Constant nodes (IR < 4 wants initializers listed as inputs)
	names      map[string]bool
	seq        int
}

// collectNames records every value and node name, so new ones are unique.
func (c *conv) collectNames() {
	add := func(g *ir.Graph) {
		for _, v := range g.Inputs {
			c.names[v.Name] = true
		}
		for _, t := range g.Initializers {
			c.names[t.Name] = true
		}
		for _, n := range g.Nodes {
			c.names[n.Name] = true
			for _, o := range n.Outputs {
				c.names[o] = true
			}
		}
	}
	ir.WalkGraphs(c.m.Graph, add)
	for _, f := range c.m.Functions {
		for _, n := range f.Nodes {
			for _, o := range n.Outputs {
				c.names[o] = true
			}
			for _, sub := range n.Subgraphs() {
				ir.WalkGraphs(sub, add)
			}
		}
		for _, in := range f.Inputs {
			c.names[in] = true
		}
	}
}

// fresh returns a new unique name built from base.
func (c *conv) fresh(base string) string {
	for {
		c.seq++
		name := base + "_opset" + strconv.Itoa(c.seq)
		if !c.names[name] {
			c.names[name] = true
			return name
		}
	}
}

// graphConv converts one graph (or function body) and knows its values: their types
// as far as declared or inferred, and which are constants.
type graphConv struct {
	c       *conv
	g       *ir.Graph    // nil for a function body
	f       *ir.Function // the function, for a body
	parent  *graphConv   // the enclosing graph of a subgraph
	from    int64        // the opset the nodes are written for
	types   map[string]*ir.Type
	consts  map[string]*ir.Tensor
	cnode   map[string]*ir.Node // Constant nodes by output
	inputs  map[string]bool     // graph inputs (never constant, except initializers of IR < 4 graphs)
	defined map[string]bool     // values computed by the graph's nodes
	// consumed are constants an adapter read and moved into an attribute: removed at the
	// end if nothing else uses them.
	consumed map[string]bool
}

func (c *conv) newGraph(g *ir.Graph, parent *graphConv, from int64) *graphConv {
	gc := &graphConv{c: c, g: g, parent: parent, from: from, types: map[string]*ir.Type{},
		consts: map[string]*ir.Tensor{}, cnode: map[string]*ir.Node{}, inputs: map[string]bool{}, defined: map[string]bool{}, consumed: map[string]bool{}}
	for _, v := range g.Inputs {
		gc.inputs[v.Name] = true
		gc.types[v.Name] = v.Type
	}
	for _, v := range g.ValueInfos {
		gc.types[v.Name] = v.Type
	}
	for _, v := range g.Outputs {
		if v.Type != nil {
			gc.types[v.Name] = v.Type
		}
	}
	for _, t := range g.Initializers {
		gc.types[t.Name] = tensorType(t)
		// An initializer that is also a graph input is a default the caller may override,
		// except in IR < 4 models, where every initializer had to be listed as an input.
		if !gc.inputs[t.Name] || (c.m.IRVersion > 0 && c.m.IRVersion < 4) {
			gc.consts[t.Name] = t
		}
	}
	return gc
}

func (c *conv) newFunction(f *ir.Function, from int64) *graphConv {
	gc := &graphConv{c: c, f: f, from: from, types: map[string]*ir.Type{},
		consts: map[string]*ir.Tensor{}, cnode: map[string]*ir.Node{}, inputs: map[string]bool{}, defined: map[string]bool{}, consumed: map[string]bool{}}
	for _, in := range f.Inputs {
		gc.inputs[in] = true
	}
	return gc
}

func tensorType(t *ir.Tensor) *ir.Type {
	return ir.TensorType(t.DType, t.Shape...)
}

func (gc *graphConv) nodes() []*ir.Node {
	if gc.g != nil {
		return gc.g.Nodes
	}
	return gc.f.Nodes
}

func (gc *graphConv) setNodes(ns []*ir.Node) {
	if gc.g != nil {
		gc.g.Nodes = ns
	} else {
		gc.f.Nodes = ns
	}
}

// run converts every node of the graph from gc.from to the target.
func (gc *graphConv) run() error {
	var out []*ir.Node
	for _, n := range gc.nodes() {
		if !isOnnx(n.Domain) {
			// Other domains keep their own opsets; their subgraphs may hold ai.onnx nodes.
			if err := gc.subgraphs(n); err != nil {
				return err
			}
			out = append(out, n)
			continue
		}
		gc.learn(n, gc.from)
		ns, err := gc.convert(n, gc.from)
		if err != nil {
			return err
		}
		out = append(out, ns...)
	}
	gc.setNodes(out)
	gc.dropConsumed()
	return nil
}

// subgraphs converts the graphs in n's attributes.
func (gc *graphConv) subgraphs(n *ir.Node) error {
	for _, sub := range n.Subgraphs() {
		sc := gc.c.newGraph(sub, gc, gc.from)
		if err := sc.run(); err != nil {
			return err
		}
	}
	return nil
}

// learn records what n tells about its values before conversion: the value of a Constant,
// the element types of its outputs as far as the schema at opset says.
func (gc *graphConv) learn(n *ir.Node, opset int64) {
	if n.OpType == "Constant" && len(n.Outputs) == 1 {
		if t := constantValue(n); t != nil {
			gc.consts[n.Outputs[0]] = t
			gc.cnode[n.Outputs[0]] = n
			if gc.types[n.Outputs[0]] == nil {
				gc.types[n.Outputs[0]] = tensorType(t)
			}
		}
		return
	}
	for _, o := range n.Outputs {
		gc.defined[o] = true
	}
	s := schema.Lookup("", n.OpType, opset)
	if s == nil {
		return
	}
	bound := map[string]ir.DType{}
	for i, name := range n.Inputs {
		if i >= len(s.Inputs) && (len(s.Inputs) == 0 || s.Inputs[len(s.Inputs)-1].Option != schema.Variadic) {
			break
		}
		f := s.Inputs[min(i, len(s.Inputs)-1)]
		if t := gc.typeOf(name); t != nil && t.Kind == ir.TypeTensor && t.ElemType != ir.Undefined {
			bound[f.Type] = t.ElemType
		}
	}
	for i, name := range n.Outputs {
		if name == "" || gc.types[name] != nil || len(s.Outputs) == 0 {
			continue
		}
		f := s.Outputs[min(i, len(s.Outputs)-1)]
		var d ir.DType
		if b, ok := bound[f.Type]; ok {
			d = b
		} else if allowed := s.Types[f.Type]; len(allowed) == 1 {
			d = dtypeOfString(allowed[0])
		} else if _, param := s.Types[f.Type]; !param {
			d = dtypeOfString(f.Type)
		}
		if n.OpType == "Cast" && i == 0 {
			if a := n.Attr("to"); a != nil && a.Type == ir.AttrInt {
				d = ir.DType(a.Int)
			}
		}
		t := &ir.Type{Kind: ir.TypeTensor, ElemType: d}
		// Ops that keep their first input's shape keep its rank too.
		if sameShape[n.OpType] && i == 0 && len(n.Inputs) > 0 {
			if it := gc.typeOf(n.Inputs[0]); it != nil && it.Shape != nil {
				t.Shape = it.Shape
			}
		}
		if t.Shape == nil && (i == 0 || n.OpType == "Split" || n.OpType == "TopK") {
			if r := gc.outRank(n, opset); r >= 0 {
				t.Shape = &ir.Shape{Dims: make([]ir.Dim, r)}
			}
		}
		if d != ir.Undefined || t.Shape != nil {
			gc.types[name] = t
		}
	}
}

// outRank infers the rank of n's first output from its inputs' ranks (-1 when unknown),
// for the ops adapters most often need it after: the ranks are what Softmax, negative
// axes and LayerNormalization rewrites need.
func (gc *graphConv) outRank(n *ir.Node, opset int64) int {
	in := func(i int) int {
		if i >= len(n.Inputs) || n.Inputs[i] == "" {
			return -1
		}
		return gc.rank(n.Inputs[i])
	}
	maxIn := func() int {
		r := -1
		for i := range n.Inputs {
			ri := in(i)
			if ri < 0 {
				return -1
			}
			r = max(r, ri)
		}
		return r
	}
	countAxes := func() int {
		if a, ok := attrInts(n, "axes"); ok {
			return len(a)
		}
		if len(n.Inputs) > 1 && n.Inputs[1] != "" {
			if t := gc.constant(n.Inputs[1]); t != nil {
				return int(t.NumElements())
			}
			return -2
		}
		return -1 // no axes
	}
	switch n.OpType {
	case "Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor", "Equal", "Greater", "Less", "GreaterOrEqual",
		"LessOrEqual", "Where", "Max", "Min", "Sum", "Mean", "Mod", "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor":
		return maxIn()
	case "Transpose", "Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool",
		"GlobalLpPool", "Concat", "Split", "Slice", "Pad", "Tile", "Resize", "Upsample", "TopK", "DepthToSpace",
		"SpaceToDepth", "QuantizeLinear", "DequantizeLinear", "Gemm", "ReverseSequence", "GatherElements":
		return in(0)
	case "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin",
		"ReduceProd", "ReduceSum", "ReduceSumSquare", "ArgMax", "ArgMin":
		r := in(0)
		if r < 0 || attrInt(n, "keepdims", 1) == 1 {
			return r
		}
		if n.OpType == "ArgMax" || n.OpType == "ArgMin" {
			return r - 1
		}
		switch k := countAxes(); k {
		case -1:
			return 0
		case -2:
			return -1
		default:
			return r - k
		}
	case "Squeeze", "Unsqueeze":
		r, k := in(0), countAxes()
		if r < 0 || k < 0 {
			return -1
		}
		if n.OpType == "Squeeze" {
			return r - k
		}
		return r + k
	case "MatMul":
		a, b := in(0), in(1)
		if a < 2 || b < 2 {
			return -1
		}
		return max(a, b)
	case "Flatten":
		return 2
	case "Shape", "NonZero":
		if n.OpType == "NonZero" {
			return 2
		}
		return 1
	case "Size":
		return 0
	case "Gather":
		a, b := in(0), in(1)
		if a < 0 || b < 0 {
			return -1
		}
		return a + b - 1
	case "Reshape", "Expand", "ConstantOfShape":
		i := 1
		if n.OpType == "ConstantOfShape" {
			i = 0
		}
		if a, ok := attrInts(n, "shape"); ok {
			return len(a)
		}
		if i < len(n.Inputs) {
			if t := gc.constant(n.Inputs[i]); t != nil {
				k := int(t.NumElements())
				if n.OpType == "Expand" {
					if r := in(0); r >= 0 {
						return max(k, r)
					}
					return -1
				}
				return k
			}
		}
	}
	return -1
}

// sameShape are ops whose first output has the shape of their first input.
var sameShape = map[string]bool{}

func init() {
	for _, op := range []string{"Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "Ceil", "Celu", "Cos", "Cosh",
		"Elu", "Erf", "Exp", "Floor", "Gelu", "HardSigmoid", "HardSwish", "Hardmax", "Identity", "IsInf", "IsNaN",
		"LeakyRelu", "Log", "LogSoftmax", "Mish", "Neg", "Not", "Reciprocal", "Relu", "Round", "Selu", "Sigmoid",
		"Sign", "Sin", "Sinh", "Softmax", "Softplus", "Softsign", "Sqrt", "Tan", "Tanh", "ThresholdedRelu", "Cast",
		"CastLike", "Clip", "Dropout", "LayerNormalization", "BatchNormalization", "InstanceNormalization",
		"LRN", "MeanVarianceNormalization", "CumSum", "Trilu", "GroupNormalization", "PRelu", "BitwiseNot"} {
		sameShape[op] = true
	}
}

func dtypeOfString(s string) ir.DType {
	for d := ir.DType(1); d <= ir.Float6E3M2; d++ {
		if schema.TensorTypeString(d) == s {
			return d
		}
	}
	return ir.Undefined
}

// typeOf is the type of a value visible in this graph (nil when unknown).
func (gc *graphConv) typeOf(name string) *ir.Type {
	for g := gc; g != nil; g = g.parent {
		if t, ok := g.types[name]; ok {
			return t
		}
		if g.inputs[name] {
			return nil
		}
	}
	return nil
}

// elemType is the element type of a tensor value (Undefined when unknown).
func (gc *graphConv) elemType(name string) ir.DType {
	if t := gc.typeOf(name); t != nil && (t.Kind == ir.TypeTensor || t.Kind == ir.TypeUnknown) {
		return t.ElemType
	}
	return ir.Undefined
}

// rank is the rank of a tensor value (-1 when unknown).
func (gc *graphConv) rank(name string) int {
	if t := gc.typeOf(name); t != nil && t.Kind == ir.TypeTensor && t.Shape != nil {
		return len(t.Shape.Dims)
	}
	return -1
}

// dims is the static shape of a value, or nil when some dimension is unknown.
func (gc *graphConv) dims(name string) []int64 {
	t := gc.typeOf(name)
	if t == nil || t.Kind != ir.TypeTensor || t.Shape == nil {
		return nil
	}
	out := make([]int64, len(t.Shape.Dims))
	for i, d := range t.Shape.Dims {
		if !d.HasValue || d.Value < 0 {
			return nil
		}
		out[i] = d.Value
	}
	return out
}

// constant is the value of a constant input (an initializer or a Constant node's output,
// here or in an enclosing graph), or nil.
func (gc *graphConv) constant(name string) *ir.Tensor {
	if name == "" {
		return nil
	}
	for g := gc; g != nil; g = g.parent {
		if t, ok := g.consts[name]; ok {
			return t
		}
		if g.inputs[name] || g.defined[name] {
			return nil
		}
	}
	return nil
}

// consume marks a constant as moved into an attribute.
func (gc *graphConv) consume(name string) {
	for g := gc; g != nil; g = g.parent {
		if _, ok := g.consts[name]; ok {
			g.consumed[name] = true
			return
		}
	}
}

// dropConsumed removes the constants adapters moved into attributes when nothing else
// uses them (in this graph, its subgraphs or its outputs).
func (gc *graphConv) dropConsumed() {
	if len(gc.consumed) == 0 {
		return
	}
	used := map[string]bool{}
	var mark func(ns []*ir.Node)
	mark = func(ns []*ir.Node) {
		for _, n := range ns {
			for _, in := range n.Inputs {
				used[in] = true
			}
			for _, sub := range n.Subgraphs() {
				ir.WalkGraphs(sub, func(g *ir.Graph) {
					for _, sn := range g.Nodes {
						for _, in := range sn.Inputs {
							used[in] = true
						}
					}
					for _, o := range g.Outputs {
						used[o.Name] = true
					}
				})
			}
		}
	}
	mark(gc.nodes())
	if gc.g != nil {
		for _, o := range gc.g.Outputs {
			used[o.Name] = true
		}
	} else {
		for _, o := range gc.f.Outputs {
			used[o] = true
		}
	}
	dead := map[string]bool{}
	for name := range gc.consumed {
		if !used[name] && !gc.inputs[name] {
			dead[name] = true
		}
	}
	if len(dead) == 0 {
		return
	}
	var keep []*ir.Node
	for _, n := range gc.nodes() {
		if n.OpType == "Constant" && isOnnx(n.Domain) && len(n.Outputs) == 1 && dead[n.Outputs[0]] {
			continue
		}
		keep = append(keep, n)
	}
	gc.setNodes(keep)
	if gc.g != nil {
		var inits []*ir.Tensor
		for _, t := range gc.g.Initializers {
			if !dead[t.Name] {
				inits = append(inits, t)
			}
		}
		gc.g.Initializers = inits
		var vis []*ir.ValueInfo
		for _, v := range gc.g.ValueInfos {
			if !dead[v.Name] {
				vis = append(vis, v)
			}
		}
		gc.g.ValueInfos = vis
	}
}

// addConst makes a constant value of t (named after base) visible to the nodes being
// converted: an initializer of the graph, or a Constant node put in pre for function
// bodies and IR < 4 models.
func (gc *graphConv) addConst(base string, t *ir.Tensor, s *step) string {
	name := gc.c.fresh(base)
	t.Name = name
	gc.types[name] = tensorType(t)
	gc.consts[name] = t
	if gc.g != nil && !gc.c.constNodes {
		gc.g.Initializers = append(gc.g.Initializers, t)
		return name
	}
	cn := &ir.Node{OpType: "Constant", Name: gc.c.fresh("Constant"), Outputs: []string{name},
		Attrs: []*ir.Attribute{{Name: "value", Type: ir.AttrTensor, Tensor: t}}}
	gc.cnode[name] = cn
	s.pre = append(s.pre, emitted{n: cn, done: true})
	return name
}

// convert walks n from opset from to the target, one version boundary at a time, and
// returns the nodes that replace it (helpers included, in order).
func (gc *graphConv) convert(n *ir.Node, from int64) ([]*ir.Node, error) {
	if err := gc.subgraphs(n); err != nil {
		return nil, err
	}
	target := gc.c.target
	at := from
	st := &step{gc: gc, n: n}
	for guard := 0; at != target; guard++ {
		if guard > 64 {
			return nil, st.refuse("internal: the conversion does not converge")
		}
		if at < target {
			// Up: the next version of the op introduced after at, up to the target.
			next := int64(0)
			if s := schema.Lookup("", n.OpType, at); s == nil && len(schema.Versions("", n.OpType)) == 0 {
				return nil, st.refuse("%s is not an ai.onnx operator modelc knows", n.OpType)
			}
			for _, v := range schema.Versions("", n.OpType) {
				if v > at && v <= target {
					next = v
					break
				}
			}
			if next == 0 {
				at = target
				break
			}
			st.up, st.at = true, next
			if err := st.apply(); err != nil {
				return nil, err
			}
			at = next
			continue
		}
		// Down: cross the version in force at opset at, if it is newer than the target.
		s := schema.Lookup("", n.OpType, at)
		if s == nil {
			vs := schema.Versions("", n.OpType)
			if len(vs) == 0 {
				return nil, st.refuse("%s is not an ai.onnx operator modelc knows", n.OpType)
			}
			return nil, st.refuse("%s does not exist at opset %d (it was added in opset %d)", n.OpType, target, vs[0])
		}
		if s.SinceVersion <= target {
			if s.Deprecated {
				return nil, st.refuse("%s is deprecated at opset %d", n.OpType, target)
			}
			break
		}
		st.up, st.at = false, s.SinceVersion
		if err := st.apply(); err != nil {
			return nil, err
		}
		if st.removed {
			break
		}
		at = s.SinceVersion - 1
	}
	if !st.removed {
		if s := schema.Lookup("", n.OpType, target); s == nil {
			vs := schema.Versions("", n.OpType)
			if len(vs) == 0 {
				return nil, st.refuse("%s is not an ai.onnx operator modelc knows", n.OpType)
			}
			return nil, st.refuse("%s does not exist at opset %d (it was added in opset %d)", n.OpType, target, vs[0])
		} else if s.Deprecated {
			return nil, st.refuse("%s is deprecated at opset %d", n.OpType, target)
		}
	}
	// Helpers were written for the opset of the step that made them: convert them on.
	var out []*ir.Node
	for _, e := range st.pre {
		ns, err := gc.helper(e)
		if err != nil {
			return nil, err
		}
		out = append(out, ns...)
	}
	if !st.removed {
		out = append(out, n)
	}
	for _, e := range st.post {
		ns, err := gc.helper(e)
		if err != nil {
			return nil, err
		}
		out = append(out, ns...)
	}
	return out, nil
}

func (gc *graphConv) helper(e emitted) ([]*ir.Node, error) {
	if e.done || e.opset == gc.c.target {
		gc.learn(e.n, gc.c.target)
		return []*ir.Node{e.n}, nil
	}
	gc.learn(e.n, e.opset)
	return gc.convert(e.n, e.opset)
}

// emitted is a helper node an adapter added, written for the given opset.
type emitted struct {
	n     *ir.Node
	opset int64
	done  bool // already in its final form (constants)
}

// step is one version boundary of one node being crossed.
type step struct {
	gc      *graphConv
	n       *ir.Node
	up      bool  // crossing upwards (into version at) or downwards (out of it)
	at      int64 // the SinceVersion of the boundary
	pre     []emitted
	post    []emitted
	removed bool // the node was replaced by its helpers
}

// side is the opset on the far side of the boundary: where helper nodes are written.
func (s *step) side() int64 {
	if s.up {
		return s.at
	}
	return s.at - 1
}

func (s *step) refuse(format string, args ...any) error {
	return (&Refusal{Node: s.n.DisplayName(), Op: s.n.OpType, Target: s.gc.c.target, Why: fmt.Sprintf(format, args...)}).asError()
}

// before and after add helper nodes written for the far side of the boundary.
func (s *step) before(n *ir.Node) { s.pre = append(s.pre, emitted{n: n, opset: s.side()}) }
func (s *step) after(n *ir.Node)  { s.post = append(s.post, emitted{n: n, opset: s.side()}) }

// node makes a helper node.
func (s *step) node(op string, ins, outs []string, attrs ...*ir.Attribute) *ir.Node {
	return &ir.Node{OpType: op, Name: s.gc.c.fresh(s.n.DisplayName() + "_" + op), Inputs: ins, Outputs: outs, Attrs: attrs}
}

// value makes a new value name derived from the node's.
func (s *step) value(what string) string { return s.gc.c.fresh(s.n.DisplayName() + "_" + what) }

// constInput makes a constant tensor and returns its name.
func (s *step) constInput(what string, t *ir.Tensor) string {
	return s.gc.addConst(s.n.DisplayName()+"_"+what, t, s)
}

// input i's name, "" when absent.
func (s *step) input(i int) string {
	if i < len(s.n.Inputs) {
		return s.n.Inputs[i]
	}
	return ""
}

// setInput sets input i, padding with "" and trimming trailing omitted inputs.
func (s *step) setInput(i int, name string) {
	for len(s.n.Inputs) <= i {
		s.n.Inputs = append(s.n.Inputs, "")
	}
	s.n.Inputs[i] = name
	trimInputs(s.n)
}

func trimInputs(n *ir.Node) {
	for len(n.Inputs) > 0 && n.Inputs[len(n.Inputs)-1] == "" {
		n.Inputs = n.Inputs[:len(n.Inputs)-1]
	}
}

// constOf is the value of input i when it is a constant; required says the attribute
// form needs it, so a computed value is refused.
func (s *step) constOf(i int, what string) (*ir.Tensor, error) {
	name := s.input(i)
	if name == "" {
		return nil, nil
	}
	t := s.gc.constant(name)
	if t == nil {
		return nil, s.refuse("input %q (%s) is computed at run time, but opset %d takes %s as an attribute: it must be an initializer or a Constant", name, what, s.at-1, what)
	}
	s.gc.consume(name)
	return t, nil
}

// apply runs the adapter for the boundary, then the generic attribute rules.
func (s *step) apply() error {
	if a, ok := adapters[s.n.OpType][s.at]; ok {
		fn := a.down
		if s.up {
			fn = a.up
		}
		if fn != nil {
			op := s.n.OpType
			if err := fn(s); err != nil {
				return err
			}
			if s.n.OpType != op || s.removed {
				return nil // renamed: the new op's own versions take over
			}
		}
	}
	return s.generic()
}

// generic applies the rules that hold for every op at a boundary: attributes the far
// side does not know are dropped when they hold the value that version implies, and
// refused otherwise.
func (s *step) generic() error {
	far := schema.Lookup("", s.n.OpType, s.side())
	if far == nil {
		return nil
	}
	var keep []*ir.Attribute
	for _, a := range s.n.Attrs {
		if _, ok := far.Attrs[a.Name]; ok {
			keep = append(keep, a)
			continue
		}
		if a.Name == "consumed_inputs" || (s.up && a.Name == "is_test") {
			continue // in-place hints and inference flags the newer versions dropped
		}
		if !s.up {
			if isDefault, known := attrDefault(s.n.OpType, a); known && isDefault {
				continue
			}
			return s.refuse("attribute %s=%s has no equivalent before opset %d", a.Name, attrString(a), s.at)
		}
		return s.refuse("attribute %s=%s was removed in opset %d and has no equivalent there", a.Name, attrString(a), s.at)
	}
	s.n.Attrs = keep
	if !s.up {
		if len(s.n.Inputs) > far.MaxInputs {
			for i := far.MaxInputs; i < len(s.n.Inputs); i++ {
				if s.n.Inputs[i] != "" {
					return s.refuse("input %d (%q) has no equivalent before opset %d", i, s.n.Inputs[i], s.at)
				}
			}
			trimInputs(s.n)
		}
		if len(s.n.Outputs) > far.MaxOutputs {
			for i := far.MaxOutputs; i < len(s.n.Outputs); i++ {
				if s.n.Outputs[i] != "" {
					return s.refuse("output %d (%q) has no equivalent before opset %d", i, s.n.Outputs[i], s.at)
				}
			}
			s.n.Outputs = s.n.Outputs[:far.MaxOutputs]
		}
	}
	return nil
}

func attrString(a *ir.Attribute) string {
	switch a.Type {
	case ir.AttrInt:
		return strconv.FormatInt(a.Int, 10)
	case ir.AttrFloat:
		return strconv.FormatFloat(float64(a.Float), 'g', -1, 32)
	case ir.AttrString:
		return strconv.Quote(string(a.String))
	case ir.AttrInts:
		return fmt.Sprint(a.Ints)
	case ir.AttrFloats:
		return fmt.Sprint(a.Floats)
	}
	return "(set)"
}

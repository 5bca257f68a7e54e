package schema

import (
	"fmt"
	"strings"

	"github.com/modelc/modelc/engine/ir"
)

// Problem is one way a model breaks ONNX's rules: where (graph and node) and which rule.
type Problem struct {
	Graph string `json:"graph,omitempty"` // "" for the main graph; subgraphs are named "node/attribute"
	Node  string `json:"node,omitempty"`  // the node's name, or its op and first output when it has none
	Op    string `json:"op,omitempty"`
	Rule  string `json:"rule"`
}

func (p Problem) String() string {
	where := "graph"
	if p.Node != "" {
		where = fmt.Sprintf("node %q (%s)", p.Node, p.Op)
	}
	if p.Graph != "" {
		where = fmt.Sprintf("graph %q, %s", p.Graph, where)
	}
	return where + ": " + p.Rule
}

// Error is what Check returns for an invalid model: every problem found.
type Error struct{ Problems []Problem }

// maxShown is how many problems an Error's message lists before summing up the rest.
const maxShown = 5

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("the model breaks the ONNX operator schemas (onnx " + ONNXVersion() + "): ")
	for i, p := range e.Problems {
		if i == maxShown {
			fmt.Fprintf(&b, "; and %d more", len(e.Problems)-maxShown)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Check validates every node of m — main graph, subgraphs and their nodes — against the
// ONNX operator schema of the model's opset, as onnxruntime does when it loads a model:
// the op exists at that opset, its attributes are known, of the right type and the
// required ones present, its input and output counts fit, and the element types of its
// values are allowed and consistent (one type per type parameter). It also checks that
// every input is defined before use and every name is defined once. Ops of domains the
// ONNX schemas do not cover (com.microsoft, custom domains) and model-local functions are
// not checked, nor what follows from their outputs. It returns nil or an *Error.
func Check(m *ir.Model) error {
	if ps := Problems(m); len(ps) > 0 {
		return &Error{Problems: ps}
	}
	return nil
}

// Problems is Check's list of problems (nil for a valid model).
func Problems(m *ir.Model) []Problem {
	if m == nil || m.Graph == nil {
		return nil
	}
	c := &checker{m: m, opsets: map[string]int64{}, functions: map[opKey]bool{}}
	for _, o := range m.Opsets {
		c.opsets[canonDomain(o.Domain)] = o.Version
	}
	for _, f := range m.Functions {
		c.functions[opKey{canonDomain(f.Domain), f.Name}] = true
	}
	if v, ok := c.opsets[""]; ok && v > LatestOpset("") {
		c.add("", nil, "opset %d of ai.onnx is newer than the newest this checker knows (%d, onnx %s)", v, LatestOpset(""), ONNXVersion())
	}
	c.graph(m.Graph, "", nil)
	return c.problems
}

type checker struct {
	m         *ir.Model
	opsets    map[string]int64
	functions map[opKey]bool
	problems  []Problem
}

func (c *checker) add(graph string, n *ir.Node, format string, args ...any) {
	p := Problem{Graph: graph, Rule: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Node, p.Op = n.DisplayName(), n.OpType
	}
	c.problems = append(c.problems, p)
}

// scope holds the value types visible in a graph: its own, then its enclosing graphs'.
type scope struct {
	parent *scope
	types  map[string]*ir.Type // nil: defined, type unknown
}

func (s *scope) lookup(name string) (*ir.Type, bool) {
	for ; s != nil; s = s.parent {
		if t, ok := s.types[name]; ok {
			return t, true
		}
	}
	return nil, false
}

// graph checks g's nodes in order with the values of outer (nil for the main graph)
// visible, and returns the types of g's outputs as its nodes produce them.
func (c *checker) graph(g *ir.Graph, gname string, outer *scope) []*ir.Type {
	sc := &scope{parent: outer, types: map[string]*ir.Type{}}
	define := func(n *ir.Node, name string, t *ir.Type) {
		if _, dup := sc.types[name]; dup {
			c.add(gname, n, "value %q is defined more than once", name)
		}
		sc.types[name] = t
	}
	for _, in := range g.Inputs {
		define(nil, in.Name, in.Type)
	}
	for _, t := range g.Initializers {
		if _, isInput := sc.types[t.Name]; isInput {
			continue // IR < 4 lists initializers among the inputs too
		}
		define(nil, t.Name, &ir.Type{Kind: ir.TypeTensor, ElemType: t.DType})
	}
	for _, t := range g.SparseInitializers {
		if t.Values != nil {
			define(nil, t.Values.Name, &ir.Type{Kind: ir.TypeSparseTensor, ElemType: t.Values.DType})
		}
	}
	declared := map[string]*ir.Type{}
	for _, vi := range g.ValueInfos {
		declared[vi.Name] = vi.Type
	}
	for _, vi := range g.Outputs {
		declared[vi.Name] = vi.Type
	}
	producedLater := map[string]bool{}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			producedLater[o] = true
		}
	}
	// onnxruntime accepts nodes in any order that can be sorted, so they are checked in
	// topological order; one that cannot be sorted (a cycle) is a problem of its own.
	order, err := ir.TopoOrder(g, func(name string) bool { _, ok := outer.lookup(name); return ok })
	if err != nil {
		order = g.Nodes // the walk below names the nodes that cannot be ordered
	}
	for _, n := range order {
		ins := make([]*ir.Type, len(n.Inputs))
		for i, name := range n.Inputs {
			if name == "" {
				continue
			}
			t, ok := sc.lookup(name)
			if !ok {
				if producedLater[name] {
					c.add(gname, n, "input %q comes from a node that cannot be ordered before this one (a cycle, or an input missing upstream)", name)
				} else {
					c.add(gname, n, "input %q is not produced by any node, graph input or initializer", name)
				}
				continue
			}
			ins[i] = t
		}
		outs := c.node(gname, n, ins, sc)
		for i, name := range n.Outputs {
			if name == "" {
				continue
			}
			var t *ir.Type
			if i < len(outs) {
				t = outs[i]
			}
			if d := declared[name]; d != nil {
				dt, tt := TypeString(d), TypeString(t)
				if dt != "" && tt != "" && dt != tt {
					c.add(gname, n, "output %q is %s, but the graph declares it %s", name, tt, dt)
				}
				if t == nil {
					t = d
				}
			}
			define(n, name, t)
		}
	}
	out := make([]*ir.Type, len(g.Outputs))
	for i, vi := range g.Outputs {
		t, ok := sc.lookup(vi.Name)
		if !ok {
			c.add(gname, nil, "graph output %q is not produced by any node, graph input or initializer", vi.Name)
			continue
		}
		out[i] = t
		if t == nil {
			out[i] = vi.Type
		}
	}
	return out
}

// node checks one node against its schema and returns the types of its outputs (nil
// where unknown).
func (c *checker) node(gname string, n *ir.Node, ins []*ir.Type, sc *scope) []*ir.Type {
	domain := canonDomain(n.Domain)
	opset, imported := c.opsets[domain]
	if c.functions[opKey{domain, n.OpType}] {
		return nil
	}
	if !KnownDomain(domain) {
		if !imported {
			c.add(gname, n, "domain %q is not imported by the model (no opset_import for it)", n.Domain)
		}
		return nil
	}
	if !imported {
		c.add(gname, n, "domain %q is not imported by the model (no opset_import for it)", displayDomain(domain))
		return nil
	}
	s := Lookup(domain, n.OpType, opset)
	if s == nil {
		if vs := Versions(domain, n.OpType); len(vs) > 0 {
			c.add(gname, n, "%s does not exist in opset %d of %s (it was added in opset %d)", n.OpType, opset, displayDomain(domain), vs[0])
		} else {
			c.add(gname, n, "no operator %s in %s", n.OpType, displayDomain(domain))
		}
		return nil
	}
	if s.Deprecated {
		c.add(gname, n, "%s is deprecated in opset %d of %s", n.OpType, opset, displayDomain(domain))
		return nil
	}
	c.attrs(gname, n, s)

	if len(n.Inputs) < s.MinInputs || len(n.Inputs) > s.MaxInputs {
		c.add(gname, n, "%s-%d takes %s inputs, the node has %d", n.OpType, s.SinceVersion, countRange(s.MinInputs, s.MaxInputs), len(n.Inputs))
	}
	if len(n.Outputs) < s.MinOutputs || len(n.Outputs) > s.MaxOutputs {
		c.add(gname, n, "%s-%d has %s outputs, the node has %d", n.OpType, s.SinceVersion, countRange(s.MinOutputs, s.MaxOutputs), len(n.Outputs))
	}

	// Bind each type parameter to the types of the values it stands for: the inputs',
	// then the outputs' as the inputs and attributes determine them.
	bound := map[string]string{}
	c.bindAll(gname, n, s, "input", n.Inputs, s.Inputs, ins, bound)
	outs := c.outputTypes(gname, n, s, ins, bound, sc)
	c.bindAll(gname, n, s, "output", n.Outputs, s.Outputs, outs, bound)
	return outs
}

// bindAll checks the node's inputs or outputs (names, of the given types) against the
// schema's formal parameters: a required one is present, and each value's type binds.
func (c *checker) bindAll(gname string, n *ir.Node, s *Schema, role string, names []string, formals []Formal, types []*ir.Type, bound map[string]string) {
	for i, name := range names {
		f := formalAt(formals, i)
		if f == nil {
			return
		}
		if name == "" {
			if f.Option == Single {
				c.add(gname, n, "required %s %d (%s) of %s is missing", role, i, f.Name, n.OpType)
			}
			continue
		}
		c.bind(gname, n, s, f, role, name, TypeString(types[i]), bound)
	}
}

// bind checks that the value name of type t (a type string, "" when unknown) may stand
// for formal f, and that every value of one type parameter has the same type.
func (c *checker) bind(gname string, n *ir.Node, s *Schema, f *Formal, role, name, t string, bound map[string]string) {
	if t == "" {
		return
	}
	if !s.Allows(f.Type, t) {
		c.add(gname, n, "%s %q is %s, which %s-%d does not allow for %s (%s)", role, name, t, s.Name, s.SinceVersion, f.Name, allowedList(s, f.Type))
		return
	}
	if _, isParam := s.Types[f.Type]; !isParam || (f.Option == Variadic && !f.Homogeneous) {
		return
	}
	if prev, ok := bound[f.Type]; ok && prev != t {
		c.add(gname, n, "type parameter %s of %s is bound to different types (%s and %s)", f.Type, s.Name, prev, t)
		return
	}
	bound[f.Type] = t
}

// attrs checks n's attributes against s: known, of the declared type, required present.
func (c *checker) attrs(gname string, n *ir.Node, s *Schema) {
	seen := map[string]bool{}
	for _, a := range n.Attrs {
		if seen[a.Name] {
			c.add(gname, n, "attribute %q is given twice", a.Name)
		}
		seen[a.Name] = true
		want, ok := s.Attrs[a.Name]
		if !ok {
			c.add(gname, n, "%s-%d has no attribute %q", n.OpType, s.SinceVersion, a.Name)
			continue
		}
		if a.Type != ir.AttrUndefined && a.Type != want.Type {
			c.add(gname, n, "attribute %q is of type %s, %s-%d wants %s", a.Name, attrTypeName(a.Type), n.OpType, s.SinceVersion, attrTypeName(want.Type))
		}
	}
	for _, a := range s.Attrs {
		if a.Required && !seen[a.Name] {
			c.add(gname, n, "required attribute %q of %s-%d is missing", a.Name, n.OpType, s.SinceVersion)
		}
	}
}

// outputTypes infers the types of n's outputs: from the type parameters the inputs bound,
// from the attributes that name a type (Cast's to, ...), and from subgraphs' outputs
// (If, Loop, Scan), whose nodes it checks on the way.
func (c *checker) outputTypes(gname string, n *ir.Node, s *Schema, ins []*ir.Type, bound map[string]string, sc *scope) []*ir.Type {
	outs := make([]*ir.Type, len(n.Outputs))
	for i := range outs {
		f := formalAt(s.Outputs, i)
		if f == nil {
			continue
		}
		if t, ok := bound[f.Type]; ok {
			outs[i] = parseTensorType(t)
		} else if _, isParam := s.Types[f.Type]; !isParam {
			outs[i] = parseTensorType(f.Type)
		} else if allowed := s.Types[f.Type]; len(allowed) == 1 {
			outs[i] = parseTensorType(allowed[0])
		}
	}
	tensorOf := func(d ir.DType) *ir.Type { return &ir.Type{Kind: ir.TypeTensor, ElemType: d} }
	attrDType := func(name string) (ir.DType, bool) {
		if a := n.Attr(name); a != nil && a.Type == ir.AttrInt && a.Int != 0 {
			return ir.DType(a.Int), true
		}
		return 0, false
	}
	if canonDomain(n.Domain) == "" && len(outs) > 0 {
		switch n.OpType {
		case "Cast":
			if d, ok := attrDType("to"); ok {
				outs[0] = tensorOf(d)
			}
		case "Constant":
			outs[0] = constantType(n)
		case "ConstantOfShape":
			outs[0] = tensorOf(ir.Float32)
			if a := n.Attr("value"); a != nil && a.Tensor != nil {
				outs[0] = tensorOf(a.Tensor.DType)
			}
		case "QuantizeLinear":
			if d, ok := attrDType("output_dtype"); ok {
				outs[0] = tensorOf(d)
			} else if len(ins) > 2 && ins[2] != nil {
				outs[0] = tensorOf(ins[2].ElemType)
			} else if len(n.Inputs) < 3 || n.Inputs[2] == "" {
				outs[0] = tensorOf(ir.Uint8)
			}
		case "DequantizeLinear":
			if d, ok := attrDType("output_dtype"); ok {
				outs[0] = tensorOf(d)
			}
		case "RandomNormal", "RandomUniform", "EyeLike", "RandomNormalLike", "RandomUniformLike", "Bernoulli", "Multinomial":
			if d, ok := attrDType("dtype"); ok {
				outs[0] = tensorOf(d)
			} else if n.OpType == "RandomNormal" || n.OpType == "RandomUniform" {
				outs[0] = tensorOf(ir.Float32)
			} else if n.OpType == "Multinomial" {
				outs[0] = tensorOf(ir.Int32)
			} else if len(ins) > 0 && ins[0] != nil && n.OpType != "Bernoulli" {
				outs[0] = ins[0]
			}
		}
	}
	// Subgraphs: check their nodes with this graph's values in scope; If's outputs are its
	// branches', Loop's and Scan's follow their bodies' outputs.
	for _, a := range n.Attrs {
		for gi, sub := range append(append([]*ir.Graph{}, a.Graph), a.Graphs...) {
			if sub == nil {
				continue
			}
			name := n.DisplayName() + "/" + a.Name
			if len(a.Graphs) > 1 {
				name = fmt.Sprintf("%s[%d]", name, gi)
			}
			if gname != "" {
				name = gname + "/" + name
			}
			got := c.graph(sub, name, sc)
			switch {
			case n.OpType == "If":
				for i := range outs {
					if i < len(got) && got[i] != nil && outs[i] == nil {
						outs[i] = got[i]
					}
				}
				if a.Name == "else_branch" {
					c.sameBranchTypes(gname, n)
				}
			case n.OpType == "Loop" && a.Name == "body":
				// body outputs: cond, then N loop-carried values, then scan outputs.
				for i := range outs {
					if i+1 < len(got) && got[i+1] != nil && got[i+1].Kind == ir.TypeTensor && outs[i] == nil {
						outs[i] = &ir.Type{Kind: ir.TypeTensor, ElemType: got[i+1].ElemType}
					}
				}
			case n.OpType == "Scan" && a.Name == "body":
				for i := range outs {
					if i < len(got) && got[i] != nil && got[i].Kind == ir.TypeTensor && outs[i] == nil {
						outs[i] = &ir.Type{Kind: ir.TypeTensor, ElemType: got[i].ElemType}
					}
				}
			}
		}
	}
	return outs
}

// sameBranchTypes reports an If whose branches declare different output element types
// (onnxruntime refuses them).
func (c *checker) sameBranchTypes(gname string, n *ir.Node) {
	thenA, elseA := n.Attr("then_branch"), n.Attr("else_branch")
	if thenA == nil || elseA == nil || thenA.Graph == nil || elseA.Graph == nil {
		return
	}
	to, eo := thenA.Graph.Outputs, elseA.Graph.Outputs
	if len(to) != len(eo) {
		c.add(gname, n, "the branches have %d and %d outputs", len(to), len(eo))
		return
	}
	for i := range to {
		a, b := TypeString(to[i].Type), TypeString(eo[i].Type)
		if a != "" && b != "" && a != b {
			c.add(gname, n, "output %d is %s in then_branch but %s in else_branch", i, a, b)
		}
	}
}

// constantType is the type of a Constant node's output, from whichever value attribute
// it holds.
func constantType(n *ir.Node) *ir.Type {
	for _, a := range n.Attrs {
		d := ir.Undefined
		switch a.Name {
		case "value":
			if a.Tensor != nil {
				d = a.Tensor.DType
			}
		case "sparse_value":
			if a.SparseTensor != nil && a.SparseTensor.Values != nil {
				return &ir.Type{Kind: ir.TypeSparseTensor, ElemType: a.SparseTensor.Values.DType}
			}
		case "value_float", "value_floats":
			d = ir.Float32
		case "value_int", "value_ints":
			d = ir.Int64
		case "value_string", "value_strings":
			d = ir.String
		}
		if d != ir.Undefined {
			return &ir.Type{Kind: ir.TypeTensor, ElemType: d}
		}
	}
	return nil
}

// parseTensorType turns "tensor(float)" into a tensor type (nil for other type strings:
// sequences, maps and optionals are not followed).
func parseTensorType(s string) *ir.Type {
	name, ok := strings.CutPrefix(s, "tensor(")
	if !ok {
		return nil
	}
	name = strings.TrimSuffix(name, ")")
	for d, n := range onnxTypeNames {
		if n == name {
			return &ir.Type{Kind: ir.TypeTensor, ElemType: d}
		}
	}
	return nil
}

func allowedList(s *Schema, typ string) string {
	allowed, ok := s.Types[typ]
	if !ok {
		return typ
	}
	if len(allowed) > 8 {
		return fmt.Sprintf("%s: %s, … %d types", typ, strings.Join(allowed[:8], ", "), len(allowed))
	}
	return typ + ": " + strings.Join(allowed, ", ")
}

func countRange(lo, hi int) string {
	switch {
	case lo == hi:
		return fmt.Sprint(lo)
	case hi >= 1<<30:
		return fmt.Sprintf("at least %d", lo)
	}
	return fmt.Sprintf("%d to %d", lo, hi)
}

func displayDomain(d string) string {
	if d == "" {
		return "ai.onnx"
	}
	return d
}

var attrTypeNames = map[ir.AttrType]string{
	ir.AttrFloat: "FLOAT", ir.AttrInt: "INT", ir.AttrString: "STRING", ir.AttrTensor: "TENSOR",
	ir.AttrGraph: "GRAPH", ir.AttrFloats: "FLOATS", ir.AttrInts: "INTS", ir.AttrStrings: "STRINGS",
	ir.AttrTensors: "TENSORS", ir.AttrGraphs: "GRAPHS", ir.AttrSparseTensor: "SPARSE_TENSOR",
	ir.AttrSparseTensors: "SPARSE_TENSORS", ir.AttrTypeProto: "TYPE_PROTO", ir.AttrTypeProtos: "TYPE_PROTOS",
}

func attrTypeName(t ir.AttrType) string {
	if s, ok := attrTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("type %d", int(t))
}

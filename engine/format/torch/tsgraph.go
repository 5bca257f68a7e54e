package torch

// The interpreter that turns a traced module's code/ into an ONNX-semantics graph. It
// walks forward() symbolically: submodule method calls are inlined, attribute reads
// give initializers (by their dotted names) or constants, and each aten call becomes
// one or a few ONNX nodes. Shapes are not known (a trace keeps none); ranks are, from
// the rank the inputs are given (see readScriptGraph).

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/modelc/modelc/engine/ir"
)

// scriptOpset is the ONNX opset of the graphs read from TorchScript.
const scriptOpset = 18

type (
	tsTensor struct {
		name  string
		rank  int // -1: unknown
		dtype ir.DType
	}
	tsModule struct {
		obj  *pyObject
		path string // dotted, "" for the root
	}
	tsQual   struct{ name string } // torch, torch.add, ops.prim.NumToTensor, CONSTANTS
	tsMethod struct {
		mod  *tsModule
		name string
	}
	tsList struct {
		items []any
		tuple bool
	}
	tsOpaque struct{ what string } // a device, a layout
)

// tsErr is a refusal at a code line.
type tsErr struct {
	where string
	msg   string
}

func (e *tsErr) Error() string { return e.where + ": " + e.msg }

// errTSUnsupported marks refusals of what the subset does not cover.
var errTSUnsupported = errors.New("unsupported")

// Budgets: statements interpreted and nodes emitted (a module calling itself, or a
// crafted archive, must not run forever), and the depth of inlined calls.
const (
	maxTSSteps = 4 << 20
	maxTSDepth = 64
)

type tsBuilder struct {
	a      *archive
	files  map[string]*tsFile
	g      *ir.Graph
	inits  map[string]*ir.Tensor
	consts *tsList
	n      int
	steps  int
	depth  int
	where  string
	// inputs not yet given a rank/dtype by use are fixed by the trial in buildScriptGraph
	inputs []*tsTensor
}

func (b *tsBuilder) fail(format string, a ...any) error {
	return &tsErr{where: b.where, msg: fmt.Sprintf(format, a...)}
}

func (b *tsBuilder) fresh(prefix string) string {
	b.n++
	return fmt.Sprintf("%s_%d", prefix, b.n)
}

// node emits one node with nout outputs.
func (b *tsBuilder) node(op string, ins []string, nout int, attrs ...*ir.Attribute) []string {
	outs := make([]string, nout)
	for i := range outs {
		outs[i] = b.fresh(strings.ToLower(op))
	}
	b.g.Nodes = append(b.g.Nodes, &ir.Node{Name: b.fresh("n_" + op), OpType: op, Inputs: ins, Outputs: outs, Attrs: attrs})
	return outs
}

func (b *tsBuilder) node1(op string, ins []string, attrs ...*ir.Attribute) string {
	return b.node(op, ins, 1, attrs...)[0]
}

func attrInt(name string, v int64) *ir.Attribute {
	return &ir.Attribute{Name: name, Type: ir.AttrInt, Int: v}
}
func attrInts(name string, v []int64) *ir.Attribute {
	return &ir.Attribute{Name: name, Type: ir.AttrInts, Ints: v}
}
func attrFloat(name string, v float64) *ir.Attribute {
	return &ir.Attribute{Name: name, Type: ir.AttrFloat, Float: float32(v)}
}
func attrString(name, v string) *ir.Attribute {
	return &ir.Attribute{Name: name, Type: ir.AttrString, String: []byte(v)}
}

// constI64 adds a 1-D (or 0-D when scalar) int64 initializer.
func (b *tsBuilder) constI64(v []int64, scalar bool) string {
	data := make([]byte, 8*len(v))
	for i, x := range v {
		u := uint64(x)
		for k := 0; k < 8; k++ {
			data[8*i+k] = byte(u >> (8 * k))
		}
	}
	shape := []int64{int64(len(v))}
	if scalar {
		shape = nil
	}
	return b.addInit(ir.Int64, shape, data)
}

func (b *tsBuilder) constF(v float64, dt ir.DType) string {
	return b.addInit(scalarTensorType(dt), nil, scalarBytes(v, dt))
}

func scalarTensorType(dt ir.DType) ir.DType {
	switch dt {
	case ir.Float64, ir.Int64, ir.Int32, ir.Bool:
		return dt
	}
	return ir.Float32
}

// scalarBytes encodes v as one element of dtype (float32 for the others).
func scalarBytes(v float64, dt ir.DType) []byte {
	var u uint64
	n := 4
	switch dt {
	case ir.Float64:
		u, n = math.Float64bits(v), 8
	case ir.Int64:
		u, n = uint64(int64(v)), 8
	case ir.Int32:
		u = uint64(uint32(int32(v)))
	case ir.Bool:
		n = 1
		if v != 0 {
			u = 1
		}
	default:
		u = uint64(math.Float32bits(float32(v)))
	}
	data := make([]byte, n)
	for k := range data {
		data[k] = byte(u >> (8 * k))
	}
	return data
}

// addInit adds a constant the graph needs as a Constant node (not an initializer: the
// initializers are the archive's own weights, which a weights-only output lists).
func (b *tsBuilder) addInit(dt ir.DType, shape []int64, data []byte) string {
	name := b.fresh("const")
	t, _ := ir.NewTensor(name, dt, shape, data)
	b.g.Nodes = append(b.g.Nodes, &ir.Node{Name: "n_" + name, OpType: "Constant", Outputs: []string{name}, Attrs: []*ir.Attribute{{Name: "value", Type: ir.AttrTensor, Tensor: t}}})
	b.inits[name] = t
	return name
}

// ---- code lookup ------------------------------------------------------------------------

// class finds the parsed class of a qualified name __torch__.a.b.C in code/__torch__/a/b.py.
func (b *tsBuilder) class(qual string) (*tsClass, error) {
	i := strings.LastIndex(qual, ".")
	if i < 0 {
		return nil, b.fail("class %q has no module", qual)
	}
	file := "code/" + strings.ReplaceAll(qual[:i], ".", "/") + ".py"
	f, err := b.file(file)
	if err != nil {
		return nil, err
	}
	c := f.classes[qual[i+1:]]
	if c == nil {
		return nil, b.fail("class %s is not defined in %s", qual, file)
	}
	return c, nil
}

func (b *tsBuilder) file(name string) (*tsFile, error) {
	if f, ok := b.files[name]; ok {
		return f, nil
	}
	if path.Clean(name) != name || strings.Contains(name, "..") {
		return nil, b.fail("code path %q is not a plain path", name)
	}
	e := b.a.entries[b.a.prefix+name]
	if e == nil {
		return nil, b.fail("the archive has no %s%s", b.a.prefix, name)
	}
	if e.UncompressedSize64 > maxCodeFileBytes {
		return nil, b.fail("%s is %d bytes, more than code of a traced module", name, e.UncompressedSize64)
	}
	data, err := b.a.entry(e)
	if err != nil {
		return nil, err
	}
	f, err := parseTSFile(name, string(data))
	if err != nil {
		return nil, &tsErr{where: name, msg: err.Error()}
	}
	b.files[name] = f
	return f, nil
}

// ---- interpretation ---------------------------------------------------------------------

func (b *tsBuilder) callMethod(mod *tsModule, name string, args []any) (any, error) {
	b.depth++
	defer func() { b.depth-- }()
	if b.depth > maxTSDepth {
		return nil, b.fail("method calls nested deeper than %d (a module calling itself?)", maxTSDepth)
	}
	c, err := b.class(mod.obj.class)
	if err != nil {
		return nil, err
	}
	fn := c.methods[name]
	if fn == nil {
		return nil, b.fail("class %s has no method %s", mod.obj.class, name)
	}
	file := "code/" + strings.ReplaceAll(mod.obj.class[:strings.LastIndex(mod.obj.class, ".")], ".", "/") + ".py"
	if len(fn.params) != len(args)+1 {
		return nil, b.fail("%s.%s takes %d arguments, called with %d", mod.obj.class, name, len(fn.params)-1, len(args))
	}
	env := map[string]any{fn.params[0]: mod}
	for i, a := range args {
		env[fn.params[i+1]] = a
	}
	saved := b.where
	defer func() { b.where = saved }()
	for _, st := range fn.body {
		b.where = fmt.Sprintf("%s%s:%d", b.a.prefix, file, st.line)
		if b.steps++; b.steps > maxTSSteps {
			return nil, b.fail("more than %d statements to interpret", maxTSSteps)
		}
		switch st.kind {
		case "pass":
		case "nested", "unsupported":
			what := st.text
			if st.value != nil && st.kind == "unsupported" {
				what = st.value.s
			}
			return nil, b.fail("`%s`: scripted control flow or statements (%s) are not in the traced subset modelc converts to a graph; trace the module with torch.jit.trace, or extract its weights (convert to .safetensors)", st.text, firstWord(what))
		case "expr":
			if _, err := b.eval(st.value, env); err != nil {
				return nil, err
			}
		case "assign", "unpack":
			v, err := b.eval(st.value, env)
			if err != nil {
				return nil, err
			}
			if st.kind == "assign" {
				env[st.targets[0]] = v
				continue
			}
			l, ok := v.(*tsList)
			if !ok || len(l.items) != len(st.targets) {
				return nil, b.fail("cannot unpack %s into %d names", tsTypeName(v), len(st.targets))
			}
			for i, t := range st.targets {
				env[t] = l.items[i]
			}
		case "return":
			return b.eval(st.value, env)
		}
	}
	return nil, nil
}

func firstWord(s string) string {
	if i := strings.IndexAny(s, " (:"); i > 0 {
		return s[:i]
	}
	return s
}

func tsTypeName(v any) string {
	switch x := v.(type) {
	case *tsTensor:
		return "a tensor"
	case *tsModule:
		return "module " + x.obj.class
	case *tsList:
		if x.tuple {
			return fmt.Sprintf("a tuple of %d", len(x.items))
		}
		return fmt.Sprintf("a list of %d", len(x.items))
	case tsQual:
		return x.name
	case nil:
		return "None"
	}
	return fmt.Sprintf("%T", v)
}

var tsBuiltins = map[string]bool{"torch": true, "ops": true, "CONSTANTS": true, "int": true, "float": true, "bool": true, "getattr": true, "annotate": true, "uninitialized": true, "len": true, "str": true, "__torch__": true, "math": true,
	"List": true, "Optional": true, "Tensor": true, "Tuple": true, "Dict": true, "NoneType": true}

func (b *tsBuilder) eval(e *tsExpr, env map[string]any) (any, error) {
	switch e.kind {
	case "name":
		if v, ok := env[e.s]; ok {
			return v, nil
		}
		if tsBuiltins[e.s] {
			return tsQual{e.s}, nil
		}
		return nil, b.fail("name %q is not defined", e.s)
	case "int":
		return e.i, nil
	case "float":
		return e.f, nil
	case "str":
		return e.s, nil
	case "bool":
		return e.b, nil
	case "none":
		return nil, nil
	case "list", "tuple":
		l := &tsList{tuple: e.kind == "tuple"}
		for _, a := range e.args {
			v, err := b.eval(a, env)
			if err != nil {
				return nil, err
			}
			l.items = append(l.items, v)
		}
		return l, nil
	case "attr":
		x, err := b.eval(e.x, env)
		if err != nil {
			return nil, err
		}
		return b.attr(x, e.s)
	case "index":
		x, err := b.eval(e.x, env)
		if err != nil {
			return nil, err
		}
		y, err := b.eval(e.y, env)
		if err != nil {
			return nil, err
		}
		if q, ok := x.(tsQual); ok { // a type: List[int]
			return q, nil
		}
		l, ok1 := x.(*tsList)
		i, ok2 := y.(int64)
		if !ok1 || !ok2 {
			return nil, b.fail("indexing %s with %s is not supported", tsTypeName(x), tsTypeName(y))
		}
		if i < 0 {
			i += int64(len(l.items))
		}
		if i < 0 || i >= int64(len(l.items)) {
			return nil, b.fail("index %d out of range", i)
		}
		return l.items[i], nil
	case "unary":
		x, err := b.eval(e.x, env)
		if err != nil {
			return nil, err
		}
		switch v := x.(type) {
		case int64:
			if e.s == "-" {
				return -v, nil
			}
		case float64:
			if e.s == "-" {
				return -v, nil
			}
		case bool:
			if e.s == "not" {
				return !v, nil
			}
		case *tsTensor:
			if e.s == "-" {
				return &tsTensor{b.node1("Neg", []string{v.name}), v.rank, v.dtype}, nil
			}
		}
		return nil, b.fail("%s on %s is not supported", e.s, tsTypeName(x))
	case "binary":
		x, err := b.eval(e.x, env)
		if err != nil {
			return nil, err
		}
		y, err := b.eval(e.y, env)
		if err != nil {
			return nil, err
		}
		return b.binaryPy(e.s, x, y)
	case "call":
		f, err := b.eval(e.x, env)
		if err != nil {
			return nil, err
		}
		var pos []any
		kw := map[string]any{}
		for i, a := range e.args {
			v, err := b.eval(a, env)
			if err != nil {
				return nil, err
			}
			if e.kw[i] != "" {
				kw[e.kw[i]] = v
			} else {
				pos = append(pos, v)
			}
		}
		switch fn := f.(type) {
		case *tsMethod:
			if len(kw) > 0 {
				return nil, b.fail("keyword arguments to %s are not supported", fn.name)
			}
			return b.callMethod(fn.mod, fn.name, pos)
		case tsQual:
			v, err := b.call(fn.name, pos, kw)
			if err != nil {
				return nil, err
			}
			// An in-place op (relu_, add_) also changes the tensor its first argument
			// names: later reads of that name see the result.
			if strings.HasSuffix(fn.name, "_") && !strings.HasSuffix(fn.name, "__") && len(e.args) > 0 && e.args[0].kind == "name" && e.kw[0] == "" {
				if _, isT := v.(*tsTensor); isT {
					env[e.args[0].s] = v
				}
			}
			return v, nil
		}
		return nil, b.fail("calling %s is not supported", tsTypeName(f))
	}
	return nil, b.fail("expression %s is not supported", e)
}

// attr reads x.name.
func (b *tsBuilder) attr(x any, name string) (any, error) {
	switch v := x.(type) {
	case tsQual:
		if v.name == "CONSTANTS" && strings.HasPrefix(name, "c") {
			i, err := strconv.Atoi(name[1:])
			if err != nil || b.consts == nil || i < 0 || i >= len(b.consts.items) {
				return nil, b.fail("constant %s is not in constants.pkl", name)
			}
			if c, ok := b.consts.items[i].(*constTensor); ok {
				if b.inits[c.t.Name] == nil {
					b.inits[c.t.Name] = c.t
					b.g.Nodes = append(b.g.Nodes, &ir.Node{Name: "n_" + c.t.Name, OpType: "Constant", Outputs: []string{c.t.Name}, Attrs: []*ir.Attribute{{Name: "value", Type: ir.AttrTensor, Tensor: c.t}}})
				}
				return &tsTensor{c.t.Name, len(c.t.Shape), c.t.DType}, nil
			}
			return b.consts.items[i], nil
		}
		return tsQual{v.name + "." + name}, nil
	case *tsModule:
		d, _ := v.obj.state.(*pyDict)
		if d != nil {
			if i, ok := d.index[name]; ok {
				return b.moduleValue(v, name, d.vals[i])
			}
		}
		c, err := b.class(v.obj.class)
		if err != nil {
			return nil, err
		}
		if c.methods[name] != nil {
			return &tsMethod{v, name}, nil
		}
		return nil, b.fail("module %s (%s) has no attribute %s", v.path, v.obj.class, name)
	}
	return nil, b.fail("attribute %s of %s is not supported", name, tsTypeName(x))
}

func (b *tsBuilder) moduleValue(m *tsModule, name string, v any) (any, error) {
	return b.moduleValueDepth(m, name, v, 0)
}

func (b *tsBuilder) moduleValueDepth(m *tsModule, name string, v any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, b.fail("attribute %s nests lists deeper than %d levels", name, maxDepth)
	}
	p := name
	if m.path != "" {
		p = m.path + "." + name
	}
	switch x := v.(type) {
	case *pyObject:
		return &tsModule{x, p}, nil
	case *tensorRef:
		t := b.inits[p]
		if t == nil {
			return nil, b.fail("tensor %s was not read", p)
		}
		return &tsTensor{p, len(t.Shape), t.DType}, nil
	case int64, float64, bool, string, nil:
		return x, nil
	case *pyList:
		l := &tsList{}
		for i, it := range x.items {
			iv, err := b.moduleValueDepth(m, name+"."+strconv.Itoa(i), it, depth+1)
			if err != nil {
				return nil, err
			}
			l.items = append(l.items, iv)
		}
		return l, nil
	case pyTuple:
		l := &tsList{tuple: true}
		for i, it := range x {
			iv, err := b.moduleValueDepth(m, name+"."+strconv.Itoa(i), it, depth+1)
			if err != nil {
				return nil, err
			}
			l.items = append(l.items, iv)
		}
		return l, nil
	}
	return nil, b.fail("attribute %s is a %s, which the graph reader does not use", p, typeName(v))
}

// binaryPy evaluates a Python operator on constants (shape arithmetic); on tensors it
// emits the ONNX op.
func (b *tsBuilder) binaryPy(op string, x, y any) (any, error) {
	xi, xok := x.(int64)
	yi, yok := y.(int64)
	if xok && yok {
		switch op {
		case "+":
			return xi + yi, nil
		case "-":
			return xi - yi, nil
		case "*":
			return xi * yi, nil
		case "//":
			if yi != 0 {
				return floorDiv(xi, yi), nil
			}
		case "==":
			return xi == yi, nil
		case "!=":
			return xi != yi, nil
		case "<":
			return xi < yi, nil
		case ">":
			return xi > yi, nil
		}
	}
	m := map[string]string{"+": "add", "-": "sub", "*": "mul", "/": "div"}
	if name, ok := m[op]; ok {
		return b.call("torch."+name, []any{x, y}, nil)
	}
	return nil, b.fail("operator %s on %s and %s is not supported", op, tsTypeName(x), tsTypeName(y))
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// ---- graph construction ------------------------------------------------------------------

// buildScriptGraph interprets the root module's forward into m.Graph. The inputs' ranks
// are not recorded in a traced archive: each input is tried with rank 2, 3, 4, 5, 1 in
// turn (feature vectors or token ids, sequences, images, volumes), and the first that
// the code accepts with consistent ranks is kept (convolutions, pools, recurrent layers,
// batched matrix products, transposes and sizes pin the rank).
func buildScriptGraph(a *archive, m *ir.Model, root *pyObject, consts *tsList) error {
	cls0 := &tsBuilder{a: a, files: map[string]*tsFile{}}
	c, err := cls0.class(root.class)
	if err != nil {
		return err
	}
	fwd := c.methods["forward"]
	if fwd == nil {
		return cls0.fail("the root module %s has no forward method", root.class)
	}
	if len(fwd.params) < 1 {
		return cls0.fail("the root module's forward takes no self")
	}
	nin := len(fwd.params) - 1
	ranks := make([]int, nin)
	order := []int{2, 3, 4, 5, 1}
	var first error
	var try func(i int) error
	try = func(i int) error {
		if i == nin {
			return buildWithRanks(a, m, root, consts, fwd, ranks, cls0.files)
		}
		var last error
		for _, r := range order {
			ranks[i] = r
			err := try(i + 1)
			if err == nil {
				return nil
			}
			var te *tsErr
			if !errors.As(err, &te) || !strings.Contains(te.msg, "rank") {
				return err // not a matter of the input's rank
			}
			if os.Getenv("MODELC_TS_DEBUG") != "" {
				fmt.Fprintf(os.Stderr, "input rank %v: %v\n", ranks, err)
			}
			if first == nil {
				first = err
			}
			last = err
		}
		return last
	}
	if nin > 3 {
		for i := range ranks {
			ranks[i] = 4
		}
		return buildWithRanks(a, m, root, consts, fwd, ranks, cls0.files)
	}
	if err := try(0); err != nil {
		var te *tsErr
		if first != nil && errors.As(err, &te) && strings.Contains(te.msg, "rank") {
			var fe *tsErr
			if errors.As(first, &fe) {
				return &tsErr{where: fe.where, msg: fe.msg + " (a trace keeps no input shapes: every input rank 2, 3, 4, 5, 1 was tried, and none fits the code; this message is for rank 2)"}
			}
			return first
		}
		return err
	}
	return nil
}

func buildWithRanks(a *archive, m *ir.Model, root *pyObject, consts *tsList, fwd *tsFunc, ranks []int, files map[string]*tsFile) error {
	g := &ir.Graph{Name: m.Graph.Name}
	b := &tsBuilder{a: a, files: files, g: g, inits: map[string]*ir.Tensor{}, consts: consts}
	for _, t := range m.Graph.Initializers {
		b.inits[t.Name] = t
	}
	var args []any
	for i, p := range fwd.params[1:] {
		t := &tsTensor{name: p, rank: ranks[i], dtype: ir.Float32}
		b.inputs = append(b.inputs, t)
		args = append(args, t)
	}
	out, err := b.callMethod(&tsModule{obj: root}, "forward", args)
	if err != nil {
		return err
	}
	var outs []*tsTensor
	var collect func(v any) error
	collect = func(v any) error {
		switch x := v.(type) {
		case *tsTensor:
			outs = append(outs, x)
		case *tsList:
			for _, it := range x.items {
				if err := collect(it); err != nil {
					return err
				}
			}
		default:
			return b.fail("forward returns %s; only tensors and tuples of tensors become graph outputs", tsTypeName(v))
		}
		return nil
	}
	if err := collect(out); err != nil {
		return err
	}
	for i, t := range b.inputs {
		dims := make([]ir.Dim, t.rank)
		for k := range dims {
			dims[k] = ir.Dim{Param: fmt.Sprintf("%s_d%d", t.name, k)}
		}
		_ = i
		g.Inputs = append(g.Inputs, &ir.ValueInfo{Name: t.name, Type: &ir.Type{Kind: ir.TypeTensor, ElemType: t.dtype, Shape: &ir.Shape{Dims: dims}}})
	}
	seen := map[string]int{}
	for i, o := range outs {
		name := "output"
		if len(outs) > 1 {
			name = fmt.Sprintf("output_%d", i)
		}
		src := o.name
		// An output that is an input or initializer (or repeated) goes through Identity.
		if _, isInit := b.inits[src]; isInit || seen[src] > 0 || isInput(b.inputs, src) {
			src = b.node1("Identity", []string{src})
		}
		seen[o.name]++
		// rename the producing node's output
		renamed := false
		for _, n := range g.Nodes {
			for k, on := range n.Outputs {
				if on == src {
					n.Outputs[k] = name
					renamed = true
				}
			}
		}
		if renamed {
			for _, n := range g.Nodes {
				for k, in := range n.Inputs {
					if in == src {
						n.Inputs[k] = name
					}
				}
			}
		}
		var shape *ir.Shape
		if o.rank >= 0 {
			shape = &ir.Shape{Dims: make([]ir.Dim, o.rank)}
		}
		g.Outputs = append(g.Outputs, &ir.ValueInfo{Name: name, Type: &ir.Type{Kind: ir.TypeTensor, ElemType: o.dtype, Shape: shape}})
	}
	// The archive's weights first, all of them (dotted names, as a weights-only output
	// lists them), then the constants the graph made.
	g.Initializers = append(append([]*ir.Tensor{}, m.Graph.Initializers...), g.Initializers...)
	m.Graph = g
	m.Opsets = []ir.OpsetImport{{Domain: "", Version: scriptOpset}}
	m.IRVersion = 8
	return nil
}

func isInput(ins []*tsTensor, name string) bool {
	for _, t := range ins {
		if t.name == name {
			return true
		}
	}
	return false
}

// sortedKeys is for deterministic messages.
func sortedKeys(m map[string]any) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

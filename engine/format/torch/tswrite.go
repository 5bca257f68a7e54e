package torch

// The TorchScript writer: an ir.Model becomes an archive torch.jit.load compiles and
// runs. code/__torch__.py holds one module class, Model, whose buffers are the
// initializers (and the graph's Constant values) and whose forward is the graph written
// as TorchScript source, one statement per node; data.pkl is the module object with its
// buffers; the storages are data/<i>. The file-format version is 6: torch 1.13 (Debian's
// python3-torch) and later load it, and no operator upgrader applies to what is written.

import (
	"archive/zip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/modelc/modelc/engine/format/atomicfile"
	"github.com/modelc/modelc/engine/ir"
)

// scriptNamesEntry maps buffer attributes to the tensor names they stand for.
const scriptNamesEntry = "extra/modelc.names.json"

// scriptFormatVersion is the archive's version entry.
const scriptFormatVersion = "6\n"

// WriteScript writes m as a TorchScript archive at path, atomically.
func WriteScript(m *ir.Model, path string, opts WriteOptions) error {
	f, err := atomicfile.Create(path)
	if err != nil {
		return &ir.Error{Kind: ir.KindIO, File: path, Err: err}
	}
	if err := EncodeScript(m, f, path, opts); err != nil {
		f.Abort()
		return err
	}
	if err := f.Commit(); err != nil {
		return &ir.Error{Kind: ir.KindIO, File: path, Err: err}
	}
	return nil
}

// EncodeScript writes the archive WriteScript writes to w.
func EncodeScript(m *ir.Model, w io.Writer, name string, opts WriteOptions) error {
	if err := GraphError(m); err != nil {
		return err
	}
	sw := &scriptWriter{m: m, file: name, vars: map[string]string{}, bufs: map[string]string{}, dtypes: map[string]ir.DType{}, consts: map[string]*ir.Tensor{}, helpers: map[string]bool{}, used: map[string]bool{}}
	code, err := sw.generate()
	if err != nil {
		return err
	}
	cw := &countWriter{w: w}
	zw := zip.NewWriter(cw)
	prefix := archiveName + "/"
	// code/ first: it tells a TorchScript archive from a state dict by its first entry.
	if err := addEntry(zw, cw, prefix+"code/__torch__.py", []byte(code)); err != nil {
		return &ir.Error{Kind: ir.KindIO, File: name, Err: err}
	}
	if err := addEntry(zw, cw, prefix+"data.pkl", sw.modulePickle()); err != nil {
		return &ir.Error{Kind: ir.KindIO, File: name, Err: err}
	}
	if err := addEntry(zw, cw, prefix+"constants.pkl", []byte("\x80\x02).")); err != nil {
		return &ir.Error{Kind: ir.KindIO, File: name, Err: err}
	}
	for i, t := range sw.bufTensors {
		data, _ := tensorBytes(t)
		if err := addEntry(zw, cw, prefix+"data/"+strconv.Itoa(i), data); err != nil {
			return &ir.Error{Kind: ir.KindIO, File: name, Err: err}
		}
		if opts.Written != nil && len(data) > 0 && i < sw.nInit {
			if err := opts.Written(data); err != nil {
				return err
			}
		}
	}
	// extra/ (which torch.jit.load ignores unless asked): the initializers' own names,
	// which the buffer attributes had to turn into identifiers; modelc's reader restores them.
	names := map[string]string{}
	for i := 0; i < sw.nInit; i++ {
		if n := sw.bufTensors[i].Name; n != sw.bufNames[i] {
			names[sw.bufNames[i]] = n
		}
	}
	if len(names) > 0 {
		js, _ := json.Marshal(names)
		if err := addEntry(zw, cw, prefix+scriptNamesEntry, js); err != nil {
			return &ir.Error{Kind: ir.KindIO, File: name, Err: err}
		}
	}
	if err := addEntry(zw, cw, prefix+"version", []byte(scriptFormatVersion)); err != nil {
		return &ir.Error{Kind: ir.KindIO, File: name, Err: err}
	}
	if err := zw.Close(); err != nil {
		return &ir.Error{Kind: ir.KindIO, File: name, Err: err}
	}
	return nil
}

type scriptWriter struct {
	m       *ir.Model
	file    string
	vars    map[string]string // ONNX value → Python variable
	bufs    map[string]string // initializer/constant → buffer attribute
	dtypes  map[string]ir.DType
	consts  map[string]*ir.Tensor // initializers and Constant values by name
	helpers map[string]bool
	used    map[string]bool // Python names taken
	lines   []string
	n       int
	// buffers in order: the model's initializers first (nInit of them), then made ones
	bufNames   []string
	bufTensors []*ir.Tensor
	nInit      int
}

func (w *scriptWriter) fail(n *ir.Node, format string, a ...any) error {
	where := ""
	if n != nil {
		where = "node " + n.DisplayName()
	}
	return &ir.Error{Kind: ir.KindUnsupported, File: w.file, Where: where, Err: fmt.Errorf(format, a...)}
}

// ident makes a Python identifier of s, unique among those given out.
func (w *scriptWriter) ident(s, prefix string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, r := range s {
		if r < 128 && (r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	id := b.String()
	if len(id) > 60 {
		id = id[:60]
	}
	base := id
	for k := 1; w.used[id] || pyKeywords[id]; k++ {
		id = fmt.Sprintf("%s_%d", base, k)
	}
	w.used[id] = true
	return id
}

var pyKeywords = map[string]bool{"v_": false, "self": true, "torch": true, "ops": true, "annotate": true, "int": true, "float": true}

// ref returns the expression for an ONNX value read as a tensor.
func (w *scriptWriter) ref(name string) (string, error) {
	if v, ok := w.vars[name]; ok {
		return v, nil
	}
	t := w.consts[name]
	if t == nil {
		return "", fmt.Errorf("value %q is used before it is computed", name)
	}
	if b, ok := w.bufs[name]; ok {
		return "self." + b, nil
	}
	return "self." + w.addBuffer(name, t), nil
}

func (w *scriptWriter) addBuffer(name string, t *ir.Tensor) string {
	b := w.ident(name, "b_")
	w.bufs[name] = b
	w.bufNames = append(w.bufNames, b)
	w.bufTensors = append(w.bufTensors, t)
	return b
}

// constInts returns the int64 values of a constant tensor, or false.
func (w *scriptWriter) constInts(name string) ([]int64, bool) {
	t := w.consts[name]
	if t == nil || (t.DType != ir.Int64 && t.DType != ir.Int32) {
		return nil, false
	}
	data := t.Bytes()
	n := int(t.NumElements())
	es := t.DType.ElemBytes()
	if len(data) < n*es {
		return nil, false
	}
	out := make([]int64, n)
	for i := range out {
		if es == 8 {
			out[i] = int64(binary.LittleEndian.Uint64(data[8*i:]))
		} else {
			out[i] = int64(int32(binary.LittleEndian.Uint32(data[4*i:])))
		}
	}
	return out, true
}

func (w *scriptWriter) constFloat(name string) (float64, bool) {
	t := w.consts[name]
	if t == nil || t.NumElements() != 1 {
		return 0, false
	}
	f, err := t.Float32s()
	if err != nil || len(f) != 1 {
		if v, ok := w.constInts(name); ok && len(v) == 1 {
			return float64(v[0]), true
		}
		return 0, false
	}
	return float64(f[0]), true
}

// ints returns an expression for a List[int] from an int64 tensor input.
func (w *scriptWriter) ints(name string) (string, error) {
	if v, ok := w.constInts(name); ok {
		return pyInts(v), nil
	}
	r, err := w.ref(name)
	if err != nil {
		return "", err
	}
	w.helpers["_ints"] = true
	return "self._ints(" + r + ")", nil
}

func pyInts(v []int64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatInt(x, 10)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func pyFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return `float("inf")`
	case math.IsInf(f, -1):
		return `float("-inf")`
	case math.IsNaN(f):
		return `float("nan")`
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += "."
	}
	return s
}

// torchDTypeNames are the dtypes as serialized TorchScript writes them: ScalarType codes.
var torchDTypeNames = map[ir.DType]string{
	ir.Float32: "6", ir.Float64: "7", ir.Float16: "5", ir.BFloat16: "15",
	ir.Int64: "4", ir.Int32: "3", ir.Int16: "2", ir.Int8: "1", ir.Uint8: "0", ir.Bool: "11",
}

func (w *scriptWriter) emit(format string, a ...any) {
	w.lines = append(w.lines, "    "+fmt.Sprintf(format, a...))
}

// out names the Python variable of an ONNX output.
func (w *scriptWriter) out(name string, dt ir.DType) string {
	v := w.ident(name, "v_")
	w.vars[name] = v
	w.dtypes[name] = dt
	return v
}

func attrOf(n *ir.Node, name string) *ir.Attribute { return n.Attr(name) }

func attrI(n *ir.Node, name string, def int64) int64 {
	if a := n.Attr(name); a != nil {
		return a.Int
	}
	return def
}

func attrF(n *ir.Node, name string, def float64) float64 {
	if a := n.Attr(name); a != nil {
		return float64(a.Float)
	}
	return def
}

func attrIs(n *ir.Node, name string) []int64 {
	if a := n.Attr(name); a != nil {
		return a.Ints
	}
	return nil
}

func attrS(n *ir.Node, name, def string) string {
	if a := n.Attr(name); a != nil {
		return string(a.String)
	}
	return def
}

func (w *scriptWriter) opset() int64 {
	for _, o := range w.m.Opsets {
		if o.Domain == "" || o.Domain == "ai.onnx" {
			return o.Version
		}
	}
	return 17
}

func (w *scriptWriter) generate() (string, error) {
	g := w.m.Graph
	if g == nil || len(g.Nodes) == 0 {
		return "", ir.Errorf(ir.KindUnsupported, w.file, "the model has no graph (weights only): a TorchScript module needs a forward; write the weights as .pt (a state dict) or .safetensors instead")
	}
	for _, t := range g.Initializers {
		w.consts[t.Name] = t
		w.dtypes[t.Name] = t.DType
		if _, ok := torchDTypeNames[t.DType]; !ok {
			return "", &ir.Error{Kind: ir.KindUnsupported, File: w.file, Where: fmt.Sprintf("tensor %q", t.Name), Err: fmt.Errorf("dtype %v has no TorchScript buffer type", t.DType)}
		}
	}
	// The initializers are the module's buffers, in the model's order.
	for _, t := range g.Initializers {
		w.addBuffer(t.Name, t)
	}
	w.nInit = len(w.bufTensors)
	inits := map[string]bool{}
	for _, t := range g.Initializers {
		inits[t.Name] = true
	}
	var params []string
	for _, in := range g.Inputs {
		if inits[in.Name] {
			continue
		}
		if in.Type == nil || in.Type.Kind != ir.TypeTensor {
			return "", ir.Errorf(ir.KindUnsupported, w.file, "input %q is not a tensor", in.Name)
		}
		v := w.ident(in.Name, "")
		if v == "" || v[0] >= '0' && v[0] <= '9' {
			delete(w.used, v)
			v = w.ident(in.Name, "x_")
		}
		w.vars[in.Name] = v
		w.dtypes[in.Name] = in.Type.ElemType
		params = append(params, v+": Tensor")
	}
	order, err := ir.TopoOrder(g, nil)
	if err != nil {
		return "", &ir.Error{Kind: ir.KindCorrupt, File: w.file, Err: err}
	}
	for _, n := range order {
		if err := w.node(n); err != nil {
			var e *ir.Error
			if ok := asIRError(err, &e); ok {
				return "", err
			}
			return "", w.fail(n, "%v", err)
		}
	}
	var rets, retTypes []string
	for _, o := range g.Outputs {
		r, err := w.ref(o.Name)
		if err != nil {
			return "", ir.Errorf(ir.KindCorrupt, w.file, "output %q: %v", o.Name, err)
		}
		rets = append(rets, r)
		retTypes = append(retTypes, "Tensor")
	}
	ret := strings.Join(rets, ", ")
	retType := "Tensor"
	if len(rets) != 1 {
		ret = "(" + ret + ")"
		retType = "Tuple[" + strings.Join(retTypes, ", ") + "]"
	}
	var b strings.Builder
	b.WriteString("class Model(Module):\n")
	b.WriteString("  __parameters__ = []\n")
	b.WriteString("  __buffers__ = [")
	for _, n := range w.bufNames {
		fmt.Fprintf(&b, "%q, ", n)
	}
	b.WriteString("]\n")
	for _, n := range w.bufNames {
		fmt.Fprintf(&b, "  %s : Tensor\n", n)
	}
	b.WriteString("  training : bool\n")
	fmt.Fprintf(&b, "  def forward(self: __torch__.Model%s) -> %s:\n", prefixJoin(", ", params), retType)
	for _, l := range w.lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "    return %s\n", ret)
	var hs []string
	for h := range w.helpers {
		hs = append(hs, h)
	}
	sort.Strings(hs)
	for _, h := range hs {
		b.WriteString(scriptHelpers[h])
	}
	return b.String(), nil
}

func prefixJoin(sep string, parts []string) string {
	if len(parts) == 0 {
		return ""
	}
	return sep + strings.Join(parts, sep)
}

func asIRError(err error, target **ir.Error) bool {
	e, ok := err.(*ir.Error)
	if ok {
		*target = e
	}
	return ok
}

// scriptHelpers are methods of the generated class for ONNX semantics torch has no
// single op for.
var scriptHelpers = map[string]string{
	"_ints": `  def _ints(self: __torch__.Model, t: Tensor) -> List[int]:
    return annotate(List[int], t.tolist())
`,
	"_reshape": `  def _reshape(self: __torch__.Model, x: Tensor, shape: List[int]) -> Tensor:
    out = annotate(List[int], [])
    for i in range(len(shape)):
      d = shape[i]
      if d == 0:
        d = x.size(i)
      out.append(d)
    return torch.reshape(x, out)
`,
	"_flatten": `  def _flatten(self: __torch__.Model, x: Tensor, axis: int) -> Tensor:
    if axis < 0:
      axis = axis + x.dim()
    lead = 1
    for i in range(axis):
      lead = lead * x.size(i)
    return torch.reshape(x, [lead, -1])
`,
	"_unsqueeze": `  def _unsqueeze(self: __torch__.Model, x: Tensor, axes: List[int]) -> Tensor:
    r = x.dim() + len(axes)
    norm = annotate(List[int], [])
    for a in axes:
      if a < 0:
        a = a + r
      norm.append(a)
    norm.sort()
    for a in norm:
      x = torch.unsqueeze(x, a)
    return x
`,
	"_squeeze": `  def _squeeze(self: __torch__.Model, x: Tensor, axes: List[int]) -> Tensor:
    r = x.dim()
    norm = annotate(List[int], [])
    for a in axes:
      if a < 0:
        a = a + r
      norm.append(a)
    norm.sort(reverse=True)
    for a in norm:
      x = torch.squeeze(x, a)
    return x
`,
	"_gather": `  def _gather(self: __torch__.Model, x: Tensor, idx: Tensor, axis: int) -> Tensor:
    if axis < 0:
      axis = axis + x.dim()
    i = torch.where(torch.lt(idx, 0), torch.add(idx, x.size(axis)), idx)
    out = torch.index_select(x, axis, torch.reshape(i, [-1]))
    shape = x.size()[:axis] + i.size() + x.size()[axis + 1:]
    return torch.reshape(out, shape)
`,
	"_slice": `  def _slice(self: __torch__.Model, x: Tensor, starts: List[int], ends: List[int], axes: List[int], steps: List[int]) -> Tensor:
    for k in range(len(starts)):
      a = k
      if len(axes) > 0:
        a = axes[k]
      if a < 0:
        a = a + x.dim()
      st = 1
      if len(steps) > 0:
        st = steps[k]
      x = torch.slice(x, a, starts[k], ends[k], st)
    return x
`,
	"_alldims": `  def _alldims(self: __torch__.Model, x: Tensor, start: int) -> List[int]:
    out = annotate(List[int], [])
    for i in range(start, x.dim()):
      out.append(i)
    return out
`,
	"_shape": `  def _shape(self: __torch__.Model, x: Tensor, start: int, end: int) -> Tensor:
    s = torch._shape_as_tensor(x)
    return torch.slice(s, 0, start, end, 1)
`,
}

// node writes one ONNX node as TorchScript.
func (w *scriptWriter) node(n *ir.Node) error {
	if n.Domain != "" && n.Domain != "ai.onnx" {
		return fmt.Errorf("op %s of domain %s has no TorchScript form", n.OpType, n.Domain)
	}
	in := func(i int) (string, error) {
		if i >= len(n.Inputs) || n.Inputs[i] == "" {
			return "", fmt.Errorf("%s: input %d is missing", n.OpType, i)
		}
		return w.ref(n.Inputs[i])
	}
	has := func(i int) bool { return i < len(n.Inputs) && n.Inputs[i] != "" }
	dt0 := ir.Float32
	if len(n.Inputs) > 0 {
		if d, ok := w.dtypes[n.Inputs[0]]; ok {
			dt0 = d
		}
	}
	one := func(expr string, dt ir.DType) error {
		if len(n.Outputs) < 1 {
			return fmt.Errorf("%s has no output", n.OpType)
		}
		w.emit("%s = %s", w.out(n.Outputs[0], dt), expr)
		return nil
	}
	x, _ := in(0)
	switch n.OpType {
	case "Constant":
		a := n.Attr("value")
		if a == nil || a.Type != ir.AttrTensor || a.Tensor == nil {
			return fmt.Errorf("Constant without a tensor value is not supported")
		}
		if _, ok := torchDTypeNames[a.Tensor.DType]; !ok {
			return fmt.Errorf("Constant of dtype %v", a.Tensor.DType)
		}
		t := *a.Tensor
		t.Name = n.Outputs[0]
		w.consts[n.Outputs[0]] = &t
		w.dtypes[n.Outputs[0]] = t.DType
		return nil
	case "Identity", "Dropout":
		if _, err := in(0); err != nil {
			return err
		}
		return one(x, dt0)
	case "Add", "Sub", "Mul", "Div", "Pow":
		y, err := in(1)
		if err != nil {
			return err
		}
		if _, err := in(0); err != nil {
			return err
		}
		fn := map[string]string{"Add": "torch.add", "Sub": "torch.sub", "Mul": "torch.mul", "Div": "torch.div", "Pow": "torch.pow"}[n.OpType]
		if n.OpType == "Div" && !isFloat(dt0) {
			return one(fmt.Sprintf("torch.div(%s, %s, rounding_mode=\"trunc\")", x, y), dt0)
		}
		return one(fmt.Sprintf("%s(%s, %s)", fn, x, y), dt0)
	case "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or":
		y, err := in(1)
		if err != nil {
			return err
		}
		fn := map[string]string{"Equal": "torch.eq", "Less": "torch.lt", "Greater": "torch.gt", "LessOrEqual": "torch.le", "GreaterOrEqual": "torch.ge", "And": "torch.logical_and", "Or": "torch.logical_or"}[n.OpType]
		return one(fmt.Sprintf("%s(%s, %s)", fn, x, y), ir.Bool)
	case "Not":
		return one(fmt.Sprintf("torch.logical_not(%s)", x), ir.Bool)
	case "Where":
		c, err := in(0)
		if err != nil {
			return err
		}
		a, err := in(1)
		if err != nil {
			return err
		}
		b, err := in(2)
		if err != nil {
			return err
		}
		return one(fmt.Sprintf("torch.where(%s, %s, %s)", c, a, b), w.dtypes[n.Inputs[1]])
	case "Relu", "Sigmoid", "Tanh", "Erf", "Exp", "Log", "Sqrt", "Neg", "Abs", "Reciprocal", "Floor", "Ceil", "Sin", "Cos", "Sign", "HardSwish", "Softplus":
		if _, err := in(0); err != nil {
			return err
		}
		fn := map[string]string{"HardSwish": "hardswish", "Softplus": "softplus"}[n.OpType]
		if fn == "" {
			fn = strings.ToLower(n.OpType)
		}
		if fn == "softplus" {
			return one(fmt.Sprintf("torch.log1p(torch.exp(%s))", x), dt0)
		}
		return one(fmt.Sprintf("torch.%s(%s)", fn, x), dt0)
	case "LeakyRelu":
		return one(fmt.Sprintf("torch.leaky_relu(%s, %s)", x, pyFloat(attrF(n, "alpha", 0.01))), dt0)
	case "Elu":
		return one(fmt.Sprintf("torch.elu(%s, %s)", x, pyFloat(attrF(n, "alpha", 1))), dt0)
	case "HardSigmoid":
		return one(fmt.Sprintf("torch.clamp(torch.add(torch.mul(%s, %s), %s), 0., 1.)", x, pyFloat(attrF(n, "alpha", 0.2)), pyFloat(attrF(n, "beta", 0.5))), dt0)
	case "Clip":
		lo, hi := "None", "None"
		if w.opset() < 11 {
			if a := n.Attr("min"); a != nil {
				lo = pyFloat(float64(a.Float))
			}
			if a := n.Attr("max"); a != nil {
				hi = pyFloat(float64(a.Float))
			}
		} else {
			if has(1) {
				if f, ok := w.constFloat(n.Inputs[1]); ok {
					lo = pyFloat(f)
				} else if lo, _ = w.ref(n.Inputs[1]); lo == "" {
					return fmt.Errorf("Clip: min is missing")
				}
			}
			if has(2) {
				if f, ok := w.constFloat(n.Inputs[2]); ok {
					hi = pyFloat(f)
				} else if hi, _ = w.ref(n.Inputs[2]); hi == "" {
					return fmt.Errorf("Clip: max is missing")
				}
			}
		}
		return one(fmt.Sprintf("torch.clamp(%s, %s, %s)", x, lo, hi), dt0)
	case "Softmax", "LogSoftmax":
		if w.opset() < 13 {
			return fmt.Errorf("%s of opset %d (2-D coercion) is not written; convert the model to opset 13 or later (--opset)", n.OpType, w.opset())
		}
		fn := "torch.softmax"
		if n.OpType == "LogSoftmax" {
			fn = "torch.log_softmax"
		}
		return one(fmt.Sprintf("%s(%s, %d)", fn, x, attrI(n, "axis", -1)), dt0)
	case "MatMul":
		y, err := in(1)
		if err != nil {
			return err
		}
		return one(fmt.Sprintf("torch.matmul(%s, %s)", x, y), dt0)
	case "Gemm":
		b, err := in(1)
		if err != nil {
			return err
		}
		a := x
		if attrI(n, "transA", 0) != 0 {
			a = "torch.t(" + a + ")"
		}
		if attrI(n, "transB", 0) != 0 {
			b = "torch.t(" + b + ")"
		}
		expr := fmt.Sprintf("torch.matmul(%s, %s)", a, b)
		if al := attrF(n, "alpha", 1); al != 1 {
			expr = fmt.Sprintf("torch.mul(%s, %s)", expr, pyFloat(al))
		}
		if has(2) {
			c, _ := in(2)
			if be := attrF(n, "beta", 1); be != 1 {
				c = fmt.Sprintf("torch.mul(%s, %s)", c, pyFloat(be))
			}
			expr = fmt.Sprintf("torch.add(%s, %s)", expr, c)
		}
		return one(expr, dt0)
	case "Conv", "ConvTranspose":
		return w.conv(n)
	case "MaxPool", "AveragePool":
		return w.pool(n)
	case "GlobalAveragePool", "GlobalMaxPool":
		w.helpers["_alldims"] = true
		fn := "torch.mean"
		if n.OpType == "GlobalMaxPool" {
			fn = "torch.amax"
		}
		return one(fmt.Sprintf("%s(%s, self._alldims(%s, 2), True)", fn, x, x), dt0)
	case "BatchNormalization":
		var ins [5]string
		for i := range ins {
			r, err := in(i)
			if err != nil {
				return err
			}
			ins[i] = r
		}
		if len(n.Outputs) > 1 && n.Outputs[1] != "" {
			return fmt.Errorf("BatchNormalization in training mode (running statistics as outputs) is not written")
		}
		return one(fmt.Sprintf("torch.batch_norm(%s, %s, %s, %s, %s, False, 0., %s, False)", ins[0], ins[1], ins[2], ins[3], ins[4], pyFloat(attrF(n, "epsilon", 1e-5))), dt0)
	case "LayerNormalization":
		s, err := in(1)
		if err != nil {
			return err
		}
		b := "None"
		if has(2) {
			b, _ = in(2)
		}
		if len(n.Outputs) > 1 && (n.Outputs[1] != "" || len(n.Outputs) > 2 && n.Outputs[2] != "") {
			return fmt.Errorf("LayerNormalization's mean and inverse deviation outputs are not written")
		}
		axis := attrI(n, "axis", -1)
		return one(fmt.Sprintf("torch.layer_norm(%s, torch.size(%s)[%d:], %s, %s, %s)", x, x, axis, s, b, pyFloat(attrF(n, "epsilon", 1e-5))), dt0)
	case "Flatten":
		w.helpers["_flatten"] = true
		return one(fmt.Sprintf("self._flatten(%s, %d)", x, attrI(n, "axis", 1)), dt0)
	case "Reshape":
		if attrI(n, "allowzero", 0) != 0 {
			return fmt.Errorf("Reshape with allowzero=1 is not written")
		}
		var shape string
		var err error
		if w.opset() < 5 {
			shape = pyInts(attrIs(n, "shape"))
		} else if shape, err = w.ints(n.Inputs[1]); err != nil {
			return err
		}
		if v, ok := w.constInts(n.Inputs[min(1, len(n.Inputs)-1)]); ok && !containsInt(v, 0) {
			return one(fmt.Sprintf("torch.reshape(%s, %s)", x, shape), dt0)
		}
		w.helpers["_reshape"] = true
		return one(fmt.Sprintf("self._reshape(%s, %s)", x, shape), dt0)
	case "Transpose":
		perm := attrIs(n, "perm")
		if perm == nil {
			return fmt.Errorf("Transpose without perm (reverse the axes) is not written")
		}
		return one(fmt.Sprintf("torch.permute(%s, %s)", x, pyInts(perm)), dt0)
	case "Unsqueeze", "Squeeze":
		var axes string
		var err error
		if w.opset() < 13 {
			if a := attrIs(n, "axes"); a != nil {
				axes = pyInts(a)
			}
		} else if has(1) {
			if axes, err = w.ints(n.Inputs[1]); err != nil {
				return err
			}
		}
		if n.OpType == "Squeeze" && axes == "" {
			return one(fmt.Sprintf("torch.squeeze(%s)", x), dt0)
		}
		if axes == "" {
			return fmt.Errorf("Unsqueeze without axes")
		}
		h := "_" + strings.ToLower(n.OpType)
		w.helpers[h] = true
		return one(fmt.Sprintf("self.%s(%s, %s)", h, x, axes), dt0)
	case "Concat":
		var parts []string
		for i := range n.Inputs {
			r, err := in(i)
			if err != nil {
				return err
			}
			parts = append(parts, r)
		}
		return one(fmt.Sprintf("torch.cat([%s], %d)", strings.Join(parts, ", "), attrI(n, "axis", 0)), dt0)
	case "Split":
		axis := attrI(n, "axis", 0)
		var expr string
		switch {
		case has(1):
			sizes, err := w.ints(n.Inputs[1])
			if err != nil {
				return err
			}
			expr = fmt.Sprintf("torch.split_with_sizes(%s, %s, %d)", x, sizes, axis)
		case attrIs(n, "split") != nil:
			expr = fmt.Sprintf("torch.split_with_sizes(%s, %s, %d)", x, pyInts(attrIs(n, "split")), axis)
		default:
			expr = fmt.Sprintf("torch.chunk(%s, %d, %d)", x, len(n.Outputs), axis)
		}
		tmp := w.ident("split", "s_")
		w.emit("%s = %s", tmp, expr)
		for i, o := range n.Outputs {
			if o != "" {
				w.emit("%s = %s[%d]", w.out(o, dt0), tmp, i)
			}
		}
		return nil
	case "Slice":
		if w.opset() < 10 {
			return fmt.Errorf("Slice of opset %d is not written", w.opset())
		}
		starts, err := w.ints(n.Inputs[1])
		if err != nil {
			return err
		}
		ends, err := w.ints(n.Inputs[2])
		if err != nil {
			return err
		}
		axes, steps := "", ""
		if has(3) {
			if axes, err = w.ints(n.Inputs[3]); err != nil {
				return err
			}
		}
		if has(4) {
			if v, ok := w.constInts(n.Inputs[4]); ok {
				for _, s := range v {
					if s < 0 {
						return fmt.Errorf("Slice with a negative step is not written")
					}
				}
			}
			if steps, err = w.ints(n.Inputs[4]); err != nil {
				return err
			}
		}
		if axes == "" {
			axes = "annotate(List[int], [])"
		}
		if steps == "" {
			steps = "annotate(List[int], [])"
		}
		w.helpers["_slice"] = true
		return one(fmt.Sprintf("self._slice(%s, %s, %s, %s, %s)", x, starts, ends, axes, steps), dt0)
	case "Gather":
		idx, err := in(1)
		if err != nil {
			return err
		}
		axis := attrI(n, "axis", 0)
		if v, ok := w.constInts(n.Inputs[1]); ok && len(v) == 1 && len(w.consts[n.Inputs[1]].Shape) == 0 && v[0] >= 0 {
			return one(fmt.Sprintf("torch.select(%s, %d, %d)", x, axis, v[0]), dt0)
		}
		w.helpers["_gather"] = true
		return one(fmt.Sprintf("self._gather(%s, %s, %d)", x, idx, axis), dt0)
	case "Shape":
		start, end := attrI(n, "start", 0), attrI(n, "end", math.MaxInt64)
		if start == 0 && end == math.MaxInt64 {
			return one(fmt.Sprintf("torch._shape_as_tensor(%s)", x), ir.Int64)
		}
		w.helpers["_shape"] = true
		return one(fmt.Sprintf("self._shape(%s, %d, %d)", x, start, end), ir.Int64)
	case "Cast":
		to := ir.DType(attrI(n, "to", int64(ir.Float32)))
		name, ok := torchDTypeNames[to]
		if !ok {
			return fmt.Errorf("Cast to %v has no TorchScript dtype", to)
		}
		return one(fmt.Sprintf("torch.to(%s, %s)", x, name), to)
	case "ConstantOfShape":
		shape, err := w.ints(n.Inputs[0])
		if err != nil {
			return err
		}
		val, dt := 0.0, ir.Float32
		if a := n.Attr("value"); a != nil && a.Tensor != nil {
			dt = a.Tensor.DType
			c := &ir.Tensor{}
			*c = *a.Tensor
			w.consts["\x00v"] = c
			if f, ok := w.constFloat("\x00v"); ok {
				val = f
			}
			delete(w.consts, "\x00v")
		}
		name, ok := torchDTypeNames[dt]
		if !ok {
			return fmt.Errorf("ConstantOfShape of %v", dt)
		}
		v := pyFloat(val)
		if !isFloat(dt) {
			v = strconv.FormatInt(int64(val), 10)
			if dt == ir.Bool {
				v = map[bool]string{true: "True", false: "False"}[val != 0]
			}
		}
		return one(fmt.Sprintf("torch.full(%s, %s, dtype=%s)", shape, v, name), dt)
	case "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin":
		fn := map[string]string{"ReduceMean": "torch.mean", "ReduceSum": "torch.sum", "ReduceMax": "torch.amax", "ReduceMin": "torch.amin"}[n.OpType]
		keep := attrI(n, "keepdims", 1) != 0
		var axes string
		var err error
		axesInput := n.OpType == "ReduceSum" && w.opset() >= 13 || w.opset() >= 18
		if axesInput {
			if has(1) {
				if axes, err = w.ints(n.Inputs[1]); err != nil {
					return err
				}
			}
		} else if a := attrIs(n, "axes"); a != nil {
			axes = pyInts(a)
		}
		if axes == "" || axes == "[]" {
			if attrI(n, "noop_with_empty_axes", 0) != 0 {
				return one(x, dt0)
			}
			w.helpers["_alldims"] = true
			axes = fmt.Sprintf("self._alldims(%s, 0)", x)
		}
		return one(fmt.Sprintf("%s(%s, %s, %s)", fn, x, axes, pyBool(keep)), dt0)
	case "Resize":
		return w.resize(n)
	case "LSTM", "GRU":
		return w.rnn(n)
	case "Loop", "If", "Scan":
		return fmt.Errorf("control flow (%s) is not written to TorchScript: only straight-line graphs are", n.OpType)
	}
	return fmt.Errorf("op %s has no TorchScript form in modelc", n.OpType)
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func containsInt(v []int64, x int64) bool {
	for _, y := range v {
		if y == x {
			return true
		}
	}
	return false
}

// symmetricPads returns the begin pads when each equals its end pad.
func symmetricPads(pads []int64, nd int) ([]int64, bool) {
	if len(pads) == 0 {
		return make([]int64, nd), true
	}
	if len(pads) != 2*nd {
		return nil, false
	}
	for i := 0; i < nd; i++ {
		if pads[i] != pads[nd+i] {
			return nil, false
		}
	}
	return pads[:nd], true
}

func ones(n int) []int64 {
	v := make([]int64, n)
	for i := range v {
		v[i] = 1
	}
	return v
}

func (w *scriptWriter) conv(n *ir.Node) error {
	x, err := w.ref(n.Inputs[0])
	if err != nil {
		return err
	}
	wt := w.consts[n.Inputs[1]]
	wr, err := w.ref(n.Inputs[1])
	if err != nil {
		return err
	}
	nd := len(attrIs(n, "kernel_shape"))
	if wt != nil {
		nd = len(wt.Shape) - 2
	}
	if nd < 1 || nd > 3 {
		return fmt.Errorf("%s of %d spatial dimensions (the weight's rank must be known)", n.OpType, nd)
	}
	if ap := attrS(n, "auto_pad", "NOTSET"); ap != "NOTSET" && ap != "VALID" {
		return fmt.Errorf("%s with auto_pad=%s is not written", n.OpType, ap)
	}
	pads, ok := symmetricPads(attrIs(n, "pads"), nd)
	if !ok {
		return fmt.Errorf("%s with asymmetric pads %v is not written", n.OpType, attrIs(n, "pads"))
	}
	strides := attrIs(n, "strides")
	if strides == nil {
		strides = ones(nd)
	}
	dil := attrIs(n, "dilations")
	if dil == nil {
		dil = ones(nd)
	}
	b := "None"
	if len(n.Inputs) > 2 && n.Inputs[2] != "" {
		if b, err = w.ref(n.Inputs[2]); err != nil {
			return err
		}
	}
	g := attrI(n, "group", 1)
	dt := w.dtypes[n.Inputs[0]]
	if n.OpType == "Conv" {
		w.emit("%s = torch.conv%dd(%s, %s, %s, %s, %s, %s, %d)", w.out(n.Outputs[0], dt), nd, x, wr, b, pyInts(strides), pyInts(pads), pyInts(dil), g)
		return nil
	}
	if attrIs(n, "output_shape") != nil {
		return fmt.Errorf("ConvTranspose with output_shape is not written")
	}
	op := attrIs(n, "output_padding")
	if op == nil {
		op = make([]int64, nd)
	}
	w.emit("%s = torch.conv_transpose%dd(%s, %s, %s, %s, %s, %s, %d, %s)", w.out(n.Outputs[0], dt), nd, x, wr, b, pyInts(strides), pyInts(pads), pyInts(op), g, pyInts(dil))
	return nil
}

func (w *scriptWriter) pool(n *ir.Node) error {
	x, err := w.ref(n.Inputs[0])
	if err != nil {
		return err
	}
	k := attrIs(n, "kernel_shape")
	nd := len(k)
	if nd < 1 || nd > 3 {
		return fmt.Errorf("%s with kernel %v", n.OpType, k)
	}
	if ap := attrS(n, "auto_pad", "NOTSET"); ap != "NOTSET" && ap != "VALID" {
		return fmt.Errorf("%s with auto_pad=%s is not written", n.OpType, ap)
	}
	pads, ok := symmetricPads(attrIs(n, "pads"), nd)
	if !ok {
		return fmt.Errorf("%s with asymmetric pads is not written", n.OpType)
	}
	s := attrIs(n, "strides")
	if s == nil {
		s = ones(nd)
	}
	ceil := pyBool(attrI(n, "ceil_mode", 0) != 0)
	dt := w.dtypes[n.Inputs[0]]
	if len(n.Outputs) > 1 && n.Outputs[1] != "" {
		return fmt.Errorf("MaxPool's indices output is not written")
	}
	if n.OpType == "MaxPool" {
		d := attrIs(n, "dilations")
		if d == nil {
			d = ones(nd)
		}
		w.emit("%s = torch.max_pool%dd(%s, %s, %s, %s, %s, %s)", w.out(n.Outputs[0], dt), nd, x, pyInts(k), pyInts(s), pyInts(pads), pyInts(d), ceil)
		return nil
	}
	if d := attrIs(n, "dilations"); d != nil && !containsOnly(d, 1) {
		return fmt.Errorf("AveragePool with dilations is not written")
	}
	cip := pyBool(attrI(n, "count_include_pad", 0) != 0)
	w.emit("%s = torch.avg_pool%dd(%s, %s, %s, %s, %s, %s)", w.out(n.Outputs[0], dt), nd, x, pyInts(k), pyInts(s), pyInts(pads), ceil, cip)
	return nil
}

func containsOnly(v []int64, x int64) bool {
	for _, y := range v {
		if y != x {
			return false
		}
	}
	return true
}

func (w *scriptWriter) resize(n *ir.Node) error {
	x, err := w.ref(n.Inputs[0])
	if err != nil {
		return err
	}
	mode := attrS(n, "mode", "nearest")
	ctm := attrS(n, "coordinate_transformation_mode", "half_pixel")
	var scales []float64
	if len(n.Inputs) > 2 && n.Inputs[2] != "" {
		t := w.consts[n.Inputs[2]]
		if t == nil {
			return fmt.Errorf("Resize with computed scales is not written")
		}
		f, err := t.Float32s()
		if err != nil {
			return err
		}
		for _, v := range f {
			scales = append(scales, float64(v))
		}
	}
	var sizes string
	if len(n.Inputs) > 3 && n.Inputs[3] != "" {
		if sizes, err = w.ints(n.Inputs[3]); err != nil {
			return err
		}
	}
	var spatial string
	nd := 0
	switch {
	case len(scales) >= 3:
		if scales[0] != 1 || scales[1] != 1 {
			return fmt.Errorf("Resize scaling the batch or channels is not written")
		}
		nd = len(scales) - 2
		var parts []string
		for _, s := range scales[2:] {
			parts = append(parts, pyFloat(s))
		}
		spatial = "None, [" + strings.Join(parts, ", ") + "]"
	case sizes != "":
		v, ok := w.constInts(n.Inputs[3])
		if !ok {
			return fmt.Errorf("Resize with computed sizes is not written")
		}
		nd = len(v) - 2
		spatial = pyInts(v[2:]) + ", None"
	default:
		return fmt.Errorf("Resize without scales or sizes")
	}
	dt := w.dtypes[n.Inputs[0]]
	switch {
	case mode == "nearest" && ctm == "asymmetric" && attrS(n, "nearest_mode", "round_prefer_floor") == "floor" && nd >= 1 && nd <= 3:
		w.emit("%s = torch.upsample_nearest%dd(%s, %s)", w.out(n.Outputs[0], dt), nd, x, spatial)
	case mode == "linear" && (ctm == "pytorch_half_pixel" || ctm == "half_pixel" || ctm == "align_corners") && nd >= 1 && nd <= 3:
		name := map[int]string{1: "linear1d", 2: "bilinear2d", 3: "trilinear3d"}[nd]
		ac := pyBool(ctm == "align_corners")
		parts := strings.SplitN(spatial, ", ", 2)
		if strings.HasPrefix(spatial, "None") {
			parts = []string{"None", strings.TrimPrefix(spatial, "None, ")}
		} else {
			i := strings.LastIndex(spatial, ", None")
			parts = []string{spatial[:i], "None"}
		}
		w.emit("%s = torch.upsample_%s(%s, %s, %s, %s)", w.out(n.Outputs[0], dt), name, x, parts[0], ac, parts[1])
	default:
		return fmt.Errorf("Resize mode %s with %s coordinates is not written", mode, ctm)
	}
	return nil
}

// rnn writes an ONNX LSTM/GRU as torch.lstm/torch.gru, with the gate order of torch
// restored in new buffers (ONNX LSTM i,o,f,c → torch i,f,g,o; GRU z,r,h → r,z,n).
func (w *scriptWriter) rnn(n *ir.Node) error {
	op := n.OpType
	gates := 4
	order := []int{0, 2, 3, 1} // torch gate k is ONNX gate order[k]
	if op == "GRU" {
		gates, order = 3, []int{1, 0, 2}
		if attrI(n, "linear_before_reset", 0) == 0 {
			return fmt.Errorf("GRU with linear_before_reset=0 has no torch equivalent")
		}
	}
	if attrIs(n, "activations") != nil || n.Attr("activations") != nil || n.Attr("clip") != nil || attrI(n, "layout", 0) != 0 || attrI(n, "input_forget", 0) != 0 {
		return fmt.Errorf("%s with custom activations, clip, layout or input_forget is not written", op)
	}
	if len(n.Inputs) > 4 && n.Inputs[4] != "" {
		return fmt.Errorf("%s with sequence_lens is not written", op)
	}
	if op == "LSTM" && len(n.Inputs) > 7 && n.Inputs[7] != "" {
		return fmt.Errorf("LSTM with peepholes is not written")
	}
	W, R := w.consts[n.Inputs[1]], w.consts[n.Inputs[2]]
	if W == nil || R == nil || W.DType != ir.Float32 || len(W.Shape) != 3 || len(R.Shape) != 3 {
		return fmt.Errorf("%s whose weights are not stored float32 tensors is not written", op)
	}
	var B *ir.Tensor
	if len(n.Inputs) > 3 && n.Inputs[3] != "" {
		if B = w.consts[n.Inputs[3]]; B == nil || B.DType != ir.Float32 {
			return fmt.Errorf("%s whose bias is not a stored float32 tensor is not written", op)
		}
	}
	dirs := W.Shape[0]
	hidden := attrI(n, "hidden_size", R.Shape[2])
	dir := attrS(n, "direction", "forward")
	if dir == "reverse" {
		return fmt.Errorf("%s direction reverse is not written", op)
	}
	wf, _ := W.Float32s()
	rf, _ := R.Float32s()
	var bf []float32
	if B != nil {
		bf, _ = B.Float32s()
	}
	H := int(hidden)
	in := int(W.Shape[2])
	// reorder takes dirs' block of gates·H rows of width cols from src at offset.
	reorder := func(src []float32, off, cols int) []float32 {
		out := make([]float32, gates*H*cols)
		for k := 0; k < gates; k++ {
			copy(out[k*H*cols:(k+1)*H*cols], src[off+order[k]*H*cols:off+(order[k]+1)*H*cols])
		}
		return out
	}
	var params []string
	for d := 0; d < int(dirs); d++ {
		mk := func(name string, data []float32, shape ...int64) string {
			t, _ := ir.NewTensor(name, ir.Float32, shape, ir.Float32Bytes(data))
			return "self." + w.addBuffer(name, t)
		}
		base := fmt.Sprintf("%s_%s_d%d", n.Outputs[0], strings.ToLower(op), d)
		params = append(params, mk(base+"_w_ih", reorder(wf, d*gates*H*in, in), int64(gates*H), int64(in)))
		params = append(params, mk(base+"_w_hh", reorder(rf, d*gates*H*H, H), int64(gates*H), int64(H)))
		if B != nil {
			params = append(params, mk(base+"_b_ih", reorder(bf, d*2*gates*H, 1), int64(gates*H)))
			params = append(params, mk(base+"_b_hh", reorder(bf, d*2*gates*H+gates*H, 1), int64(gates*H)))
		}
	}
	x, err := w.ref(n.Inputs[0])
	if err != nil {
		return err
	}
	state := func(i int) (string, error) {
		if i < len(n.Inputs) && n.Inputs[i] != "" {
			return w.ref(n.Inputs[i])
		}
		return fmt.Sprintf("torch.zeros([%d, torch.size(%s, 1), %d], dtype=6)", dirs, x, H), nil
	}
	h0, err := state(5)
	if err != nil {
		return err
	}
	res := w.ident("rnn", "r_")
	bidir := pyBool(dirs == 2)
	hasB := pyBool(B != nil)
	if op == "LSTM" {
		c0, err := state(6)
		if err != nil {
			return err
		}
		w.emit("%s = torch.lstm(%s, [%s, %s], [%s], %s, 1, 0., False, %s, False)", res, x, h0, c0, strings.Join(params, ", "), hasB, bidir)
	} else {
		w.emit("%s = torch.gru(%s, %s, [%s], %s, 1, 0., False, %s, False)", res, x, h0, strings.Join(params, ", "), hasB, bidir)
	}
	// torch's output [seq, batch, dirs·H] → ONNX Y [seq, dirs, batch, H]
	if len(n.Outputs) > 0 && n.Outputs[0] != "" {
		w.emit("%s = torch.transpose(torch.reshape(%s[0], [torch.size(%s[0], 0), torch.size(%s[0], 1), %d, %d]), 1, 2)", w.out(n.Outputs[0], ir.Float32), res, res, res, dirs, H)
	}
	for i := 1; i < len(n.Outputs); i++ {
		if n.Outputs[i] != "" {
			w.emit("%s = %s[%d]", w.out(n.Outputs[i], ir.Float32), res, i)
		}
	}
	return nil
}

// modulePickle is data.pkl: the Model object, its attributes set by BUILD.
func (w *scriptWriter) modulePickle() []byte {
	p := &pickler{memo: map[string]byte{}}
	p.b.WriteString("\x80\x02")
	p.global("__torch__", "Model")
	p.b.WriteString(")\x81}(") // EMPTY_TUPLE NEWOBJ EMPTY_DICT MARK
	p.str("training")
	p.b.WriteByte(0x89) // False
	for i, name := range w.bufNames {
		t := w.bufTensors[i]
		p.str(name)
		p.global("torch._utils", "_rebuild_tensor_v2")
		p.b.WriteString("((")
		p.str("storage")
		p.global("torch", legacyStorage[t.DType])
		p.str(strconv.Itoa(i))
		p.str("cpu")
		p.int(t.NumElements())
		p.b.WriteString("tQ")
		p.int(0)
		p.tuple(t.Shape)
		p.tuple(rowMajorStrides(t.Shape))
		p.b.WriteByte(0x89)
		p.global("collections", "OrderedDict")
		p.b.WriteString(")RtR")
	}
	p.b.WriteString("ub.") // SETITEMS BUILD STOP
	return p.b.Bytes()
}

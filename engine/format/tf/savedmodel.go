package tf

// SavedModel export: an ONNX-semantics graph written as a TensorFlow SavedModel folder
// (saved_model.pb + variables/) whose "serve" MetaGraphDef holds a GraphDef of
// TensorFlow's own ops and a serving_default signature. The weights are variables, read
// by the serving function and restored from variables/ (savedmodel_objects.go lays out
// the TF2 objects and the TF1 saver); shapes, axes and scalars are Const nodes.
// Convolutions run channels-last, as TensorFlow's CPU kernels need: a tensor
// is transposed to NHWC once, where the first convolution reads it, and back once where a
// layout-sensitive op or the output needs NCHW.

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/modelc/modelc/engine/format/atomicfile"
	"github.com/modelc/modelc/engine/ir"
)

// TF DataType numbers.
const (
	dtFloat  = 1
	dtInt32  = 3
	dtString = 7
	dtInt64  = 9
)

// tfAttr is one NodeDef attribute, already encoded as an AttrValue.
type tfAttr struct {
	name  string
	value []byte
}

type tfNode struct {
	name, op string
	inputs   []string
	attrs    []tfAttr
}

func attrType(name string, t uint64) tfAttr {
	return tfAttr{name, protowire.AppendVarint(protowire.AppendTag(nil, 6, protowire.VarintType), t)}
}
func attrInt(name string, v int64) tfAttr {
	return tfAttr{name, protowire.AppendVarint(protowire.AppendTag(nil, 3, protowire.VarintType), uint64(v))}
}
func attrFloat(name string, v float32) tfAttr {
	return tfAttr{name, protowire.AppendFixed32(protowire.AppendTag(nil, 4, protowire.Fixed32Type), math.Float32bits(v))}
}
func attrBool(name string, v bool) tfAttr {
	x := uint64(0)
	if v {
		x = 1
	}
	return tfAttr{name, protowire.AppendVarint(protowire.AppendTag(nil, 5, protowire.VarintType), x)}
}
func attrStr(name, v string) tfAttr {
	return tfAttr{name, protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), []byte(v))}
}
func attrInts(name string, v ...int64) tfAttr {
	var l []byte
	for _, x := range v {
		l = protowire.AppendTag(l, 3, protowire.VarintType)
		l = protowire.AppendVarint(l, uint64(x))
	}
	return tfAttr{name, protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), l)}
}
func attrShape(name string, dims []int64) tfAttr {
	return tfAttr{name, protowire.AppendBytes(protowire.AppendTag(nil, 7, protowire.BytesType), shapeProto(dims))}
}

// shapeProto encodes a TensorShapeProto; -1 is an unknown dimension; nil dims is an
// unknown rank.
func shapeProto(dims []int64) []byte {
	var s []byte
	if dims == nil {
		s = protowire.AppendTag(s, 3, protowire.VarintType)
		return protowire.AppendVarint(s, 1)
	}
	for _, d := range dims {
		var dim []byte
		dim = protowire.AppendTag(dim, 1, protowire.VarintType)
		dim = protowire.AppendVarint(dim, uint64(d))
		s = protowire.AppendTag(s, 2, protowire.BytesType)
		s = protowire.AppendBytes(s, dim)
	}
	return s
}

func tensorProto(dtype uint64, dims []int64, content []byte) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, dtype)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, shapeProto(dims))
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	return protowire.AppendBytes(b, content)
}

// exporter builds the GraphDef.
type exporter struct {
	nodes  []tfNode
	used   map[string]bool
	layout map[string]string // ONNX value → its TF tensor, channels-first (as ONNX)
	nhwc   map[string]string // ONNX value → the same value channels-last, when made
	rank   map[string]int    // ranks known from the graph's inputs and the ops
	consts map[string]*ir.Tensor
	dtype  map[string]uint64 // TF dtype of values that are not float32
	length map[string]int    // the static length of 1-D values computed at run time (shapes)
	vars   []tfVar           // the weights, in the order the graph first reads them
	// functions are the library functions the graph calls besides the serving one (the
	// condition and body of a While loop).
	functions [][]byte
	file      string
}

// dt is the TF dtype of ONNX value v.
func (e *exporter) dt(v string) uint64 {
	if d, ok := e.dtype[v]; ok {
		return d
	}
	if c, ok := e.consts[v]; ok {
		switch c.DType {
		case ir.Int64:
			return dtInt64
		case ir.Int32:
			return dtInt32
		}
	}
	return dtFloat
}

func (e *exporter) fresh(base string) string {
	base = strings.NewReplacer(":", "_", "/", "_", " ", "_").Replace(base)
	if base == "" || base[0] == '_' || base[0] == '.' || base[0] == '-' {
		base = "v" + base
	}
	name := base
	for i := 1; e.used[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	e.used[name] = true
	return name
}

func (e *exporter) add(op, base string, inputs []string, attrs ...tfAttr) string {
	name := e.fresh(base)
	e.nodes = append(e.nodes, tfNode{name: name, op: op, inputs: inputs, attrs: attrs})
	return name
}

// constTensor adds t as a value of the graph: a float tensor of more than one element is
// a weight, read from a variable; shapes, axes and scalars stay Const nodes.
func (e *exporter) constTensor(base string, t *ir.Tensor) (string, error) {
	var dt uint64
	var content []byte
	switch t.DType {
	case ir.Float32:
		dt, content = dtFloat, t.Bytes()
	case ir.Int64:
		dt, content = dtInt64, t.Bytes()
	case ir.Int32:
		dt, content = dtInt32, t.Bytes()
	default:
		v, err := t.Float32s()
		if err != nil {
			return "", ir.Errorf(ir.KindUnsupported, e.file, "constant %q: %v has no TensorFlow mapping here", t.Name, t.DType)
		}
		dt, content = dtFloat, ir.Float32Bytes(v)
	}
	if dt == dtFloat && t.NumElements() > 1 {
		handle := e.add("VarHandleOp", base, nil)
		value := t
		if t.DType != ir.Float32 {
			value, _ = ir.NewTensor(handle, ir.Float32, t.Shape, content)
		}
		e.vars = append(e.vars, tfVar{node: handle, value: value})
		return e.add("ReadVariableOp", handle+"_read", []string{handle}, attrType("dtype", dtFloat)), nil
	}
	return e.add("Const", base, nil, attrType("dtype", dt), tfAttr{"value", protowire.AppendBytes(protowire.AppendTag(nil, 8, protowire.BytesType), tensorProto(dt, t.Shape, content))}), nil
}

func (e *exporter) constF(base string, dims []int64, v []float32) string {
	t, _ := ir.NewTensor(base, ir.Float32, dims, append([]byte{}, ir.Float32Bytes(v)...))
	s, _ := e.constTensor(base, t)
	return s
}

func (e *exporter) constI32(base string, v ...int64) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24)
	}
	return e.add("Const", base, nil, attrType("dtype", dtInt32), tfAttr{"value", protowire.AppendBytes(protowire.AppendTag(nil, 8, protowire.BytesType), tensorProto(dtInt32, []int64{int64(len(v))}, b))})
}

// paddings4 adds the [4, 2] int32 paddings of a 4-D Pad: (before, after) per axis.
func (e *exporter) paddings4(base string, v ...int64) string {
	return e.add("Const", base, nil, attrType("dtype", dtInt32), tfAttr{"value", protowire.AppendBytes(protowire.AppendTag(nil, 8, protowire.BytesType), tensorProto(dtInt32, []int64{4, 2}, i32Bytes(v)))})
}

// scalarI32 adds an int32 scalar constant.
func (e *exporter) scalarI32(base string, v int64) string {
	b := []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
	return e.add("Const", base, nil, attrType("dtype", dtInt32), tfAttr{"value", protowire.AppendBytes(protowire.AppendTag(nil, 8, protowire.BytesType), tensorProto(dtInt32, []int64{}, b))})
}

// cf returns the channels-first (ONNX-layout) TF tensor of ONNX value v.
func (e *exporter) cf(v string) (string, error) {
	if s, ok := e.layout[v]; ok {
		return s, nil
	}
	if s, ok := e.nhwc[v]; ok {
		r := e.rank[v]
		perm := []int64{0, int64(r - 1)}
		for i := 1; i < r-1; i++ {
			perm = append(perm, int64(i))
		}
		t := e.add("Transpose", v+"_nchw", []string{s, e.constI32(v+"_nchw_perm", perm...)}, attrType("T", dtFloat), attrType("Tperm", dtInt32))
		e.layout[v] = t
		return t, nil
	}
	if t, ok := e.consts[v]; ok {
		s, err := e.constTensor(v, t)
		if err != nil {
			return "", err
		}
		e.layout[v] = s
		return s, nil
	}
	return "", ir.Errorf(ir.KindInternal, e.file, "value %q used before it is computed", v)
}

// cl returns the channels-last TF tensor of a rank-4 ONNX value.
func (e *exporter) cl(v string) (string, error) {
	if s, ok := e.nhwc[v]; ok {
		return s, nil
	}
	s, err := e.cf(v)
	if err != nil {
		return "", err
	}
	t := e.add("Transpose", v+"_nhwc", []string{s, e.constI32(v+"_nhwc_perm", 0, 2, 3, 1)}, attrType("T", dtFloat), attrType("Tperm", dtInt32))
	e.nhwc[v] = t
	return t, nil
}

// WriteSavedModel writes m as a SavedModel folder at dir (or, when dir names a
// saved_model.pb, at its folder).
func WriteSavedModel(m *ir.Model, dir string, written func([]byte) error) error {
	if filepath.Base(dir) == "saved_model.pb" {
		dir = filepath.Dir(dir)
	}
	g := m.Graph
	if g == nil || len(g.Nodes) == 0 {
		return ir.Errorf(ir.KindUnsupported, dir, "a SavedModel needs a graph: this model has weights only (write a checkpoint with --to tfcheckpoint)")
	}
	e := &exporter{used: map[string]bool{}, layout: map[string]string{}, nhwc: map[string]string{}, rank: map[string]int{}, consts: map[string]*ir.Tensor{}, dtype: map[string]uint64{}, length: map[string]int{}, file: dir}
	for _, t := range g.Initializers {
		e.consts[t.Name] = t
		e.rank[t.Name] = len(t.Shape)
	}
	var ins, outs []sigTensor
	for _, in := range g.Inputs {
		if _, isConst := e.consts[in.Name]; isConst {
			continue
		}
		if in.Type == nil || in.Type.Kind != ir.TypeTensor {
			return ir.Errorf(ir.KindUnsupported, dir, "input %q: only tensor inputs are exported", in.Name)
		}
		idt := uint64(dtFloat)
		switch in.Type.ElemType {
		case ir.Float32:
		case ir.Int32:
			idt = dtInt32
		case ir.Int64:
			idt = dtInt64
		default:
			return ir.Errorf(ir.KindUnsupported, dir, "input %q: %v inputs are not exported (float32, int32, int64 are)", in.Name, in.Type.ElemType)
		}
		if idt != dtFloat {
			e.dtype[in.Name] = idt
		}
		var dims []int64
		if in.Type.Shape != nil {
			dims = []int64{}
			for _, d := range in.Type.Shape.Dims {
				if d.HasValue {
					dims = append(dims, d.Value)
				} else {
					dims = append(dims, -1)
				}
			}
			e.rank[in.Name] = len(dims)
		}
		name := e.add("Placeholder", in.Name, nil, attrType("dtype", idt), attrShape("shape", dims))
		e.layout[in.Name] = name
		ins = append(ins, sigTensor{key: in.Name, node: name, dtype: idt, dims: dims})
	}
	for _, n := range g.Nodes {
		if err := e.node(n); err != nil {
			return err
		}
	}
	for _, out := range g.Outputs {
		s, err := e.cf(out.Name)
		if err != nil {
			return err
		}
		id := e.add("Identity", out.Name, []string{s}, attrType("T", e.dt(out.Name)))
		outs = append(outs, sigTensor{key: out.Name, node: id, dtype: e.dt(out.Name)})
	}
	// The function's arguments and results are in the order nest flattens the
	// signature's dicts: by key.
	sortByKey(ins)
	sortByKey(outs)
	const fn = "__inference_serving_default"
	fd, err := functionDef(fn, e.nodes, ins, e.vars, outs, dir)
	if err != nil {
		return err
	}
	functions := append([][]byte{fd}, e.functions...)
	if len(e.vars) > 0 {
		restore, err := restoreFunctionDef(e.vars, dir)
		if err != nil {
			return err
		}
		functions = append(functions, restore)
	}
	nodes, sigIn, sigOut := mainGraph(fn, ins, e.vars, outs)
	pb := savedModelProto(nodes, functions, len(e.vars) > 0, sigIn, sigOut, savedObjectGraph(fn, ins, e.vars, outs))
	if err := os.MkdirAll(filepath.Join(dir, "variables"), 0o755); err != nil {
		return ir.IOError(dir, err)
	}
	set := atomicfile.NewSet(m.Sources())
	f, err := set.Create(filepath.Join(dir, "saved_model.pb"))
	if err != nil {
		return err
	}
	if _, err := f.Write(pb); err != nil {
		set.Abort()
		return ir.IOError(dir, err)
	}
	// The variables' values, keyed as the checkpoint's object graph says.
	weights := &ir.Graph{}
	for _, v := range e.vars {
		t := *v.value
		t.Name = checkpointKey(v)
		weights.Initializers = append(weights.Initializers, &t)
	}
	objects := map[string][]byte{"_CHECKPOINTABLE_OBJECT_GRAPH": checkpointObjectGraph(e.vars)}
	if err := writeBundle(&ir.Model{Graph: weights}, filepath.Join(dir, "variables", "variables.index"), written, objects); err != nil {
		set.Abort()
		return err
	}
	return set.Commit()
}

func tensorInfo(key, name string, dtype uint64, dims []int64) []byte {
	var ti []byte
	ti = protowire.AppendTag(ti, 1, protowire.BytesType)
	ti = protowire.AppendString(ti, name)
	ti = protowire.AppendTag(ti, 2, protowire.VarintType)
	ti = protowire.AppendVarint(ti, dtype)
	ti = protowire.AppendTag(ti, 3, protowire.BytesType)
	ti = protowire.AppendBytes(ti, shapeProto(dims))
	return mapEntry(key, ti)
}

func mapEntry(key string, value []byte) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, key)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendBytes(b, value)
}

func savedModelProto(nodes []tfNode, functions [][]byte, saver bool, sigIn, sigOut [][]byte, objectGraph []byte) []byte {
	var gd []byte
	for _, n := range nodes {
		gd = protowire.AppendTag(gd, 1, protowire.BytesType)
		gd = protowire.AppendBytes(gd, nodeDef(n))
	}
	var lib []byte
	for _, f := range functions {
		lib = protowire.AppendTag(lib, 1, protowire.BytesType)
		lib = protowire.AppendBytes(lib, f)
	}
	gd = protowire.AppendTag(gd, 2, protowire.BytesType)
	gd = protowire.AppendBytes(gd, lib)
	var ver []byte
	ver = protowire.AppendTag(ver, 1, protowire.VarintType)
	ver = protowire.AppendVarint(ver, 1000)
	ver = protowire.AppendTag(ver, 2, protowire.VarintType)
	ver = protowire.AppendVarint(ver, 12)
	gd = protowire.AppendTag(gd, 4, protowire.BytesType)
	gd = protowire.AppendBytes(gd, ver)

	var sig []byte
	for _, in := range sigIn {
		sig = protowire.AppendTag(sig, 1, protowire.BytesType)
		sig = protowire.AppendBytes(sig, in)
	}
	for _, out := range sigOut {
		sig = protowire.AppendTag(sig, 2, protowire.BytesType)
		sig = protowire.AppendBytes(sig, out)
	}
	sig = protowire.AppendTag(sig, 3, protowire.BytesType)
	sig = protowire.AppendString(sig, "tensorflow/serving/predict")

	var info []byte
	info = protowire.AppendTag(info, 4, protowire.BytesType)
	info = protowire.AppendString(info, "serve")

	var mg []byte
	mg = protowire.AppendTag(mg, 1, protowire.BytesType)
	mg = protowire.AppendBytes(mg, info)
	mg = protowire.AppendTag(mg, 2, protowire.BytesType)
	mg = protowire.AppendBytes(mg, gd)
	if saver {
		mg = protowire.AppendTag(mg, 3, protowire.BytesType)
		mg = protowire.AppendBytes(mg, saverDef())
	}
	mg = protowire.AppendTag(mg, 5, protowire.BytesType)
	mg = protowire.AppendBytes(mg, mapEntry("serving_default", sig))
	mg = protowire.AppendTag(mg, 7, protowire.BytesType)
	mg = protowire.AppendBytes(mg, objectGraph)

	var sm []byte
	sm = protowire.AppendTag(sm, 1, protowire.VarintType)
	sm = protowire.AppendVarint(sm, 1)
	sm = protowire.AppendTag(sm, 2, protowire.BytesType)
	return protowire.AppendBytes(sm, mg)
}

func nodeInts(n *ir.Node, name string, def []int64) []int64 {
	if a := n.Attr(name); a != nil {
		return a.Ints
	}
	return def
}

func nodeInt(n *ir.Node, name string, def int64) int64 {
	if a := n.Attr(name); a != nil {
		return a.Int
	}
	return def
}

func nodeFloat(n *ir.Node, name string, def float32) float32 {
	if a := n.Attr(name); a != nil {
		return a.Float
	}
	return def
}

// node maps one ONNX node to TensorFlow ops.
func (e *exporter) node(n *ir.Node) error {
	unsupported := func(why string, args ...any) error {
		return ir.Errorf(ir.KindUnsupported, e.file, "node %s (%s): %s", n.DisplayName(), n.OpType, fmt.Sprintf(why, args...))
	}
	if len(n.Outputs) == 0 {
		return nil
	}
	out := n.Outputs[0]
	in := func(i int) (string, error) {
		if i >= len(n.Inputs) || n.Inputs[i] == "" {
			return "", unsupported("input %d missing", i)
		}
		return e.cf(n.Inputs[i])
	}
	// The inputs these ops read by position (every op but Constant reads its first).
	if len(n.Inputs) == 0 && n.OpType != "Constant" {
		return unsupported("no inputs")
	}
	if need := map[string]int{"Conv": 2, "Reshape": 2, "Pad": 2, "BatchNormalization": 5}[n.OpType]; len(n.Inputs) < need {
		return unsupported("%d inputs, %d needed", len(n.Inputs), need)
	}
	set := func(s string, rank int) {
		e.layout[out] = s
		e.rank[out] = rank
	}
	rank0 := func() int { return e.rank[n.Inputs[0]] }
	T := attrType("T", dtFloat)
	if len(n.Inputs) > 0 && n.Inputs[0] != "" {
		if d := e.dt(n.Inputs[0]); d != dtFloat {
			T = attrType("T", d)
			e.dtype[out] = d
		}
	}
	unary := map[string]string{"Relu": "Relu", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Exp": "Exp", "Log": "Log", "Sqrt": "Sqrt",
		"Neg": "Neg", "Abs": "Abs", "Erf": "Erf", "Identity": "Identity", "Dropout": "Identity", "Elu": "Elu", "Selu": "Selu",
		"Softplus": "Softplus", "Softsign": "Softsign", "Reciprocal": "Reciprocal"}
	binary := map[string]string{"Add": "AddV2", "Sub": "Sub", "Mul": "Mul", "Div": "RealDiv", "Max": "Maximum", "Min": "Minimum", "Pow": "Pow"}
	switch {
	case unary[n.OpType] != "":
		// Elementwise: keep whichever layout the input has.
		if s, ok := e.nhwc[n.Inputs[0]]; ok && e.layout[n.Inputs[0]] == "" {
			e.nhwc[out] = e.add(unary[n.OpType], out, []string{s}, T)
			e.rank[out] = rank0()
			return nil
		}
		x, err := in(0)
		if err != nil {
			return err
		}
		set(e.add(unary[n.OpType], out, []string{x}, T), rank0())
		return nil
	case binary[n.OpType] != "":
		if len(n.Inputs) != 2 {
			return unsupported("%d inputs", len(n.Inputs))
		}
		a, b := n.Inputs[0], n.Inputs[1]
		// A channels-last runtime tensor with a per-channel constant of shape (C,1,1)
		// or (1,C,1,1): permute the constant, stay channels-last.
		if s, ok := e.nhwc[a]; ok && e.layout[a] == "" {
			if c, ok := e.consts[b]; ok && len(c.Shape) >= 3 {
				v, err := c.Float32s()
				if err == nil {
					shape := c.Shape
					for len(shape) < 4 {
						shape = append([]int64{1}, shape...)
					}
					pv, ps := permute(v, shape, []int{0, 2, 3, 1})
					e.nhwc[out] = e.add(binary[n.OpType], out, []string{s, e.constF(b+"_nhwc", ps, pv)}, T)
					e.rank[out] = 4
					return nil
				}
			}
			if c, ok := e.consts[b]; ok && len(c.Shape) <= 1 {
				// A scalar or last-axis vector broadcasts over W in NCHW: not the same in NHWC.
				if len(c.Shape) == 0 || c.NumElements() == 1 {
					cs, err := e.cf(b)
					if err != nil {
						return err
					}
					e.nhwc[out] = e.add(binary[n.OpType], out, []string{s, cs}, T)
					e.rank[out] = 4
					return nil
				}
			}
		}
		x, err := in(0)
		if err != nil {
			return err
		}
		y, err := in(1)
		if err != nil {
			return err
		}
		op := binary[n.OpType]
		if op == "RealDiv" && e.dt(a) != dtFloat {
			op = "TruncateDiv" // ONNX divides integers rounding toward zero
		}
		set(e.add(op, out, []string{x, y}, T), max(rank0(), e.rank[b]))
		if l, ok := e.vectorLength(a); ok && e.rank[a] == 1 {
			e.length[out] = l
		}
		return nil
	}
	switch n.OpType {
	case "Constant":
		a := n.Attr("value")
		if a == nil || a.Tensor == nil {
			return unsupported("only tensor values")
		}
		e.consts[out] = a.Tensor
		e.rank[out] = len(a.Tensor.Shape)
		return nil
	case "Conv":
		w, ok := e.consts[n.Inputs[1]]
		if !ok || len(w.Shape) != 4 && len(w.Shape) != 3 {
			return unsupported("only 1-D and 2-D convolutions with constant weights")
		}
		var x string
		var err error
		oneD := len(w.Shape) == 3
		if oneD {
			// A 1-D convolution runs as a 2-D one of height 1: (N, 1, L, C) channels-last.
			if x, err = e.expand1D(n.Inputs[0]); err != nil {
				return err
			}
			n = as2D(n)
			w4 := *w
			w4.Shape = []int64{w.Shape[0], w.Shape[1], 1, w.Shape[2]}
			w = &w4
		} else if x, err = e.cl(n.Inputs[0]); err != nil {
			return err
		}
		wv, err := w.Float32s()
		if err != nil {
			return unsupported("%v", err)
		}
		group := nodeInt(n, "group", 1)
		strides := nodeInts(n, "strides", []int64{1, 1})
		dil := nodeInts(n, "dilations", []int64{1, 1})
		attrs := []tfAttr{T, attrInts("strides", 1, strides[0], strides[1], 1), attrInts("dilations", 1, dil[0], dil[1], 1)}
		pad, err := tfPadding(n)
		if err != nil {
			return unsupported("%v", err)
		}
		if group != 1 && w.Shape[1] == 1 && len(pad) == 2 {
			// TensorFlow 2.21's CPU kernel aborts on a depthwise convolution with EXPLICIT
			// padding: pad first, then convolve VALID.
			p := nodeInts(n, "pads", nil)
			x = e.add("Pad", out+"_pad", []string{x, e.paddings4(out+"_paddings", 0, 0, p[0], p[2], p[1], p[3], 0, 0)}, T, attrType("Tpaddings", dtInt32))
			pad = []tfAttr{attrStr("padding", "VALID")}
		}
		attrs = append(attrs, pad...)
		var y string
		switch {
		case group == 1:
			hv, hs := permute(wv, w.Shape, []int{2, 3, 1, 0}) // OIHW → HWIO
			y = e.add("Conv2D", out, []string{x, e.constF(n.Inputs[1]+"_hwio", hs, hv)}, attrs...)
		case w.Shape[1] != 1:
			// Grouped: one Conv2D per group on its slice of the channels, concatenated.
			// Not Conv2D's own groups (filters of depth C/group): TensorFlow's grappler
			// fuses a Conv2D and its BiasAdd into a kernel that refuses groups.
			if w.Shape[0]%group != 0 {
				return unsupported("%d output channels in %d groups", w.Shape[0], group)
			}
			parts := e.add("Split", out+"_groups", []string{e.scalarI32(out+"_groups_axis", 3), x}, T, attrInt("num_split", group))
			per := w.Shape[0] / group
			gshape := []int64{per, w.Shape[1], w.Shape[2], w.Shape[3]}
			size := per * w.Shape[1] * w.Shape[2] * w.Shape[3]
			var ys []string
			for k := int64(0); k < group; k++ {
				hv, hs := permute(wv[k*size:(k+1)*size], gshape, []int{2, 3, 1, 0})
				ys = append(ys, e.add("Conv2D", fmt.Sprintf("%s_group%d", out, k), []string{fmt.Sprintf("%s:%d", parts, k), e.constF(fmt.Sprintf("%s_hwio_g%d", n.Inputs[1], k), hs, hv)}, attrs...))
			}
			ys = append(ys, e.scalarI32(out+"_concat_axis", 3))
			y = e.add("ConcatV2", out, ys, T, attrInt("N", group), attrType("Tidx", dtInt32))
		case w.Shape[1] == 1:
			// Depthwise: (C·M, 1, H, W) → (H, W, C, M).
			m := w.Shape[0] / group
			hv, _ := permute(wv, w.Shape, []int{2, 3, 1, 0}) // (H, W, 1, C·M)
			y = e.add("DepthwiseConv2dNative", out, []string{x, e.constF(n.Inputs[1]+"_hwcm", []int64{w.Shape[2], w.Shape[3], group, m}, hv)}, attrs...)
		default:
			return unsupported("grouped convolution with %d groups", group)
		}
		if len(n.Inputs) > 2 && n.Inputs[2] != "" {
			b, err := e.cf(n.Inputs[2])
			if err != nil {
				return err
			}
			y = e.add("BiasAdd", out+"_bias", []string{y, b}, T)
		}
		if oneD {
			y = e.add("Squeeze", out+"_1d", []string{y}, T, attrInts("squeeze_dims", 1))
		}
		e.nhwc[out] = y
		e.rank[out] = len(w.Shape) - boolIntN(oneD)
		return nil
	case "MaxPool", "AveragePool":
		if rank0() != 4 && rank0() != 3 {
			return unsupported("only 1-D and 2-D pooling")
		}
		var x string
		var err error
		oneD := rank0() == 3
		if oneD {
			if x, err = e.expand1D(n.Inputs[0]); err != nil {
				return err
			}
			n = as2D(n)
		} else if x, err = e.cl(n.Inputs[0]); err != nil {
			return err
		}
		k := nodeInts(n, "kernel_shape", nil)
		strides := nodeInts(n, "strides", []int64{1, 1})
		if len(k) != 2 || nodeInts(n, "dilations", nil) != nil || nodeInt(n, "ceil_mode", 0) != 0 {
			return unsupported("pooling settings")
		}
		pad, err := tfPadding(n)
		if err != nil || len(pad) != 1 {
			return unsupported("pooling padding (VALID or SAME_UPPER only)")
		}
		if n.OpType == "AveragePool" && string(pad[0].value) != string(attrStr("", "VALID").value) && nodeInt(n, "count_include_pad", 0) != 0 {
			return unsupported("count_include_pad")
		}
		op := map[string]string{"MaxPool": "MaxPool", "AveragePool": "AvgPool"}[n.OpType]
		y := e.add(op, out, []string{x}, T, attrInts("ksize", 1, k[0], k[1], 1), attrInts("strides", 1, strides[0], strides[1], 1), pad[0])
		if oneD {
			y = e.add("Squeeze", out+"_1d", []string{y}, T, attrInts("squeeze_dims", 1))
		}
		e.nhwc[out] = y
		e.rank[out] = rank0()
		return nil
	case "GlobalAveragePool", "GlobalMaxPool":
		if rank0() == 3 {
			x, err := in(0)
			if err != nil {
				return err
			}
			op := map[string]string{"GlobalAveragePool": "Mean", "GlobalMaxPool": "Max"}[n.OpType]
			set(e.add(op, out, []string{x, e.constI32(out+"_axes", 2)}, T, attrType("Tidx", dtInt32), attrBool("keep_dims", true)), 3)
			return nil
		}
		if rank0() != 4 {
			return unsupported("only 3-D and 4-D input")
		}
		x, err := e.cl(n.Inputs[0])
		if err != nil {
			return err
		}
		op := map[string]string{"GlobalAveragePool": "Mean", "GlobalMaxPool": "Max"}[n.OpType]
		e.nhwc[out] = e.add(op, out, []string{x, e.constI32(out+"_axes", 1, 2)}, T, attrType("Tidx", dtInt32), attrBool("keep_dims", true))
		e.rank[out] = 4
		return nil
	case "BatchNormalization":
		var vals [4][]float32
		for i := 0; i < 4; i++ {
			c, ok := e.consts[n.Inputs[1+i]]
			if !ok {
				return unsupported("non-constant parameters")
			}
			v, err := c.Float32s()
			if err != nil {
				return unsupported("%v", err)
			}
			vals[i] = v
		}
		eps := float64(nodeFloat(n, "epsilon", 1e-5))
		ch := len(vals[0])
		mul, add := make([]float32, ch), make([]float32, ch)
		for j := range mul {
			mul[j] = vals[0][j] / float32(math.Sqrt(float64(vals[3][j])+eps))
			add[j] = vals[1][j] - vals[2][j]*mul[j]
		}
		if s, ok := e.nhwc[n.Inputs[0]]; ok && e.layout[n.Inputs[0]] == "" || rank0() == 4 {
			if !ok {
				var err error
				if s, err = e.cl(n.Inputs[0]); err != nil {
					return err
				}
			}
			y := e.add("Mul", out+"_scale", []string{s, e.constF(out+"_scale_c", []int64{int64(ch)}, mul)}, T)
			e.nhwc[out] = e.add("AddV2", out, []string{y, e.constF(out+"_offset_c", []int64{int64(ch)}, add)}, T)
			e.rank[out] = max(rank0(), 3)
			return nil
		}
		x, err := in(0)
		if err != nil {
			return err
		}
		shape := []int64{int64(ch)}
		for i := 2; i < rank0(); i++ {
			shape = append(shape, 1)
		}
		y := e.add("Mul", out+"_scale", []string{x, e.constF(out+"_scale_c", shape, mul)}, T)
		set(e.add("AddV2", out, []string{y, e.constF(out+"_offset_c", shape, add)}, T), rank0())
		return nil
	case "Flatten":
		if nodeInt(n, "axis", 1) != 1 {
			return unsupported("axis other than 1")
		}
		x, err := in(0)
		if err != nil {
			return err
		}
		set(e.reshapeBatch(out, x, -1), 2)
		return nil
	case "Reshape":
		c, ok := e.consts[n.Inputs[1]]
		if !ok {
			// A shape computed at run time: where it holds ONNX's 0 (copy that dimension of
			// x, unless allowzero), take x's dimension, as TensorFlow reads 0 literally.
			length, known := e.vectorLength(n.Inputs[1])
			if !known {
				return unsupported("a run-time shape of unknown length")
			}
			x, err := in(0)
			if err != nil {
				return err
			}
			s, err := in(1)
			if err != nil {
				return err
			}
			if e.dt(n.Inputs[1]) != dtInt64 {
				return unsupported("a run-time shape of type %d (ONNX's is int64)", e.dt(n.Inputs[1]))
			}
			if nodeInt(n, "allowzero", 0) == 0 {
				dims := e.add("Shape", out+"_xdims", []string{x}, T, attrType("out_type", dtInt64))
				padded := e.add("ConcatV2", out+"_xdims_padded", []string{dims, e.constI64(out+"_zeros", make([]int64, length)...), e.scalarI32(out+"_axis", 0)},
					attrInt("N", 2), attrType("T", dtInt64), attrType("Tidx", dtInt32))
				head := e.add("StridedSlice", out+"_xdims_head", []string{padded, e.constI32(out+"_hb", 0), e.constI32(out+"_he", int64(length)), e.constI32(out+"_hs", 1)},
					attrType("T", dtInt64), attrType("Index", dtInt32))
				zero := e.add("Equal", out+"_is_zero", []string{s, e.constI64(out+"_zero", 0)}, attrType("T", dtInt64))
				s = e.add("SelectV2", out+"_target", []string{zero, head, s}, attrType("T", dtInt64))
			}
			set(e.add("Reshape", out, []string{x, s}, T, attrType("Tshape", dtInt64)), length)
			return nil
		}
		if c.DType != ir.Int64 {
			return unsupported("only int64 shapes")
		}
		b := c.Bytes()
		var shape []int64
		for i := 0; i+8 <= len(b); i += 8 {
			shape = append(shape, int64(uint64(b[i])|uint64(b[i+1])<<8|uint64(b[i+2])<<16|uint64(b[i+3])<<24|uint64(b[i+4])<<32|uint64(b[i+5])<<40|uint64(b[i+6])<<48|uint64(b[i+7])<<56))
		}
		x, err := in(0)
		if err != nil {
			return err
		}
		zeros := false
		for _, d := range shape {
			zeros = zeros || d == 0
		}
		if zeros && nodeInt(n, "allowzero", 0) == 0 {
			set(e.reshapeCopy(out, x, shape), len(shape))
			return nil
		}
		set(e.add("Reshape", out, []string{x, e.constI32(out+"_shape", shape...)}, T, attrType("Tshape", dtInt32)), len(shape))
		return nil
	case "Gemm":
		a, err := in(0)
		if err != nil {
			return err
		}
		b, err := in(1)
		if err != nil {
			return err
		}
		alpha, beta := nodeFloat(n, "alpha", 1), nodeFloat(n, "beta", 1)
		y := e.add("MatMul", out+"_matmul", []string{a, b}, T, attrBool("transpose_a", nodeInt(n, "transA", 0) != 0), attrBool("transpose_b", nodeInt(n, "transB", 0) != 0))
		if alpha != 1 {
			y = e.add("Mul", out+"_alpha", []string{y, e.constF(out+"_alpha_c", []int64{}, []float32{alpha})}, T)
		}
		if len(n.Inputs) > 2 && n.Inputs[2] != "" {
			c, err := in(2)
			if err != nil {
				return err
			}
			if beta != 1 {
				c = e.add("Mul", out+"_beta", []string{c, e.constF(out+"_beta_c", []int64{}, []float32{beta})}, T)
			}
			y = e.add("AddV2", out, []string{y, c}, T)
		}
		set(y, 2)
		return nil
	case "MatMul":
		a, err := in(0)
		if err != nil {
			return err
		}
		b, err := in(1)
		if err != nil {
			return err
		}
		ra, rb := rank0(), e.rank[n.Inputs[1]]
		if ra == 2 && rb == 2 {
			set(e.add("MatMul", out, []string{a, b}, T), 2)
		} else {
			set(e.add("BatchMatMulV2", out, []string{a, b}, T), max(ra, rb))
		}
		return nil
	case "Softmax", "LogSoftmax":
		ax := nodeInt(n, "axis", -1)
		if ax != -1 && ax != int64(rank0()-1) {
			return unsupported("axis %d (only the last)", ax)
		}
		x, err := in(0)
		if err != nil {
			return err
		}
		set(e.add(n.OpType, out, []string{x}, T), rank0())
		return nil
	case "Clip":
		// Clip(x, min, max) with constant bounds: Maximum then Minimum, in x's layout.
		x, nhwc := e.nhwc[n.Inputs[0]]
		if !nhwc || e.layout[n.Inputs[0]] != "" {
			var err error
			if x, err = in(0); err != nil {
				return err
			}
			nhwc = false
		}
		for i, op := range []string{"", "Maximum", "Minimum"} {
			if i == 0 || i >= len(n.Inputs) || n.Inputs[i] == "" {
				continue
			}
			c, ok := e.consts[n.Inputs[i]]
			if !ok || c.NumElements() != 1 {
				return unsupported("only constant scalar bounds")
			}
			v, err := c.Float32s()
			if err != nil {
				return unsupported("%v", err)
			}
			x = e.add(op, out+"_"+op, []string{x, e.constF(out+"_"+op+"_c", []int64{}, v)}, T)
		}
		if nhwc {
			e.nhwc[out] = x
			e.rank[out] = 4
		} else {
			set(x, rank0())
		}
		return nil
	case "Pad":
		if m := n.Attr("mode"); m != nil && string(m.String) != "constant" {
			return unsupported("mode %s", m.String)
		}
		if len(n.Inputs) > 2 && n.Inputs[2] != "" || len(n.Inputs) > 3 && n.Inputs[3] != "" {
			return unsupported("only zero padding of all axes")
		}
		c, ok := e.consts[n.Inputs[1]]
		if !ok || c.DType != ir.Int64 {
			return unsupported("only constant int64 pads")
		}
		pv, err := c.Float32s()
		if err != nil {
			return unsupported("%v", err)
		}
		r := len(pv) / 2
		pads := make([]int64, 2*r) // TF: [[before, after] per axis]
		for i := 0; i < r; i++ {
			pads[2*i], pads[2*i+1] = int64(pv[i]), int64(pv[r+i])
		}
		if s, ok := e.nhwc[n.Inputs[0]]; ok && r == 4 {
			p := []int64{pads[0], pads[1], pads[4], pads[5], pads[6], pads[7], pads[2], pads[3]}
			pc := e.add("Const", out+"_paddings", nil, attrType("dtype", dtInt32), tfAttr{"value", protowire.AppendBytes(protowire.AppendTag(nil, 8, protowire.BytesType), tensorProto(dtInt32, []int64{4, 2}, i32Bytes(p)))})
			e.nhwc[out] = e.add("Pad", out, []string{s, pc}, T, attrType("Tpaddings", dtInt32))
			e.rank[out] = 4
			return nil
		}
		x, err := in(0)
		if err != nil {
			return err
		}
		pc := e.add("Const", out+"_paddings", nil, attrType("dtype", dtInt32), tfAttr{"value", protowire.AppendBytes(protowire.AppendTag(nil, 8, protowire.BytesType), tensorProto(dtInt32, []int64{int64(r), 2}, i32Bytes(pads)))})
		set(e.add("Pad", out, []string{x, pc}, T, attrType("Tpaddings", dtInt32)), r)
		return nil
	case "Cast":
		to := map[int64]uint64{int64(ir.Float32): dtFloat, int64(ir.Int32): dtInt32, int64(ir.Int64): dtInt64}[nodeInt(n, "to", 0)]
		if to == 0 {
			return unsupported("cast to %v", ir.DType(nodeInt(n, "to", 0)))
		}
		x, err := in(0)
		if err != nil {
			return err
		}
		set(e.add("Cast", out, []string{x}, attrType("SrcT", e.dt(n.Inputs[0])), attrType("DstT", to)), rank0())
		if l, ok := e.length[n.Inputs[0]]; ok {
			e.length[out] = l
		}
		if to == dtFloat {
			delete(e.dtype, out)
		} else {
			e.dtype[out] = to
		}
		return nil
	case "Gather":
		x, err := in(0)
		if err != nil {
			return err
		}
		idx, err := in(1)
		if err != nil {
			return err
		}
		ax := nodeInt(n, "axis", 0)
		if ax < 0 {
			ax += int64(rank0())
		}
		// ONNX counts negative indices from the end; TensorFlow's CPU kernel refuses them.
		if vals, ok := e.constInts(n.Inputs[1]); ok && slices.ContainsFunc(vals, func(i int64) bool { return i < 0 }) {
			it := e.dt(n.Inputs[1])
			dims := e.add("Shape", out+"_dims", []string{x}, attrType("T", e.dt(n.Inputs[0])), attrType("out_type", it))
			dim := e.add("StridedSlice", out+"_dim", []string{dims, e.constI32(out+"_db", ax), e.constI32(out+"_de", ax+1), e.constI32(out+"_ds", 1)},
				attrType("T", it), attrType("Index", dtInt32), attrInt("shrink_axis_mask", 1))
			idx = e.add("FloorMod", out+"_index", []string{idx, dim}, attrType("T", it))
		}
		set(e.add("GatherV2", out, []string{x, idx, e.scalarI32(out+"_axis", ax)}, attrType("Tparams", e.dt(n.Inputs[0])),
			attrType("Tindices", e.dt(n.Inputs[1])), attrType("Taxis", dtInt32)), rank0()-1+e.rank[n.Inputs[1]])
		if rank0() == 1 && e.rank[n.Inputs[1]] == 1 {
			if l, ok := e.vectorLength(n.Inputs[1]); ok {
				e.length[out] = l // picked from a shape: as many as the indices
			}
		}
		return nil
	case "LayerNormalization":
		ax := nodeInt(n, "axis", -1)
		if ax != -1 && ax != int64(rank0()-1) {
			return unsupported("axis %d (only the last)", ax)
		}
		x, err := in(0)
		if err != nil {
			return err
		}
		axes := e.constI32(out+"_axes", -1)
		mean := e.add("Mean", out+"_mean", []string{x, axes}, T, attrType("Tidx", dtInt32), attrBool("keep_dims", true))
		centred := e.add("Sub", out+"_centred", []string{x, mean}, T)
		v := e.add("Mean", out+"_var", []string{e.add("Square", out+"_sq", []string{centred}, T), axes}, T, attrType("Tidx", dtInt32), attrBool("keep_dims", true))
		inv := e.add("Rsqrt", out+"_rsqrt", []string{e.add("AddV2", out+"_eps", []string{v, e.constF(out+"_eps_c", []int64{}, []float32{nodeFloat(n, "epsilon", 1e-5)})}, T)}, T)
		y := e.add("Mul", out+"_norm", []string{centred, inv}, T)
		if len(n.Inputs) > 1 && n.Inputs[1] != "" {
			sc, err := in(1)
			if err != nil {
				return err
			}
			y = e.add("Mul", out+"_scale", []string{y, sc}, T)
		}
		if len(n.Inputs) > 2 && n.Inputs[2] != "" {
			b, err := in(2)
			if err != nil {
				return err
			}
			y = e.add("AddV2", out, []string{y, b}, T)
		}
		set(y, rank0())
		return nil
	case "LeakyRelu":
		x, err := in(0)
		if err != nil {
			return err
		}
		set(e.add("LeakyRelu", out, []string{x}, T, attrFloat("alpha", nodeFloat(n, "alpha", 0.01))), rank0())
		return nil
	case "Transpose":
		x, err := in(0)
		if err != nil {
			return err
		}
		perm := nodeInts(n, "perm", nil)
		if perm == nil {
			for i := rank0() - 1; i >= 0; i-- {
				perm = append(perm, int64(i))
			}
		}
		set(e.add("Transpose", out, []string{x, e.constI32(out+"_perm", perm...)}, T, attrType("Tperm", dtInt32)), len(perm))
		return nil
	case "Concat":
		var ins []string
		for i := range n.Inputs {
			x, err := in(i)
			if err != nil {
				return err
			}
			ins = append(ins, x)
		}
		ax := nodeInt(n, "axis", 0)
		if ax < 0 {
			ax += int64(rank0())
		}
		ins = append(ins, e.scalarI32(out+"_axis", ax))
		set(e.add("ConcatV2", out, ins, T, attrInt("N", int64(len(n.Inputs))), attrType("Tidx", dtInt32)), rank0())
		total := 0
		for _, v := range n.Inputs {
			l, ok := e.vectorLength(v)
			if !ok || e.rank[v] != 1 {
				return nil
			}
			total += l
		}
		e.length[out] = total
		return nil
	}
	if ok, err := e.moreOps(n, unsupported); ok {
		return err
	}
	if n.OpType == "LSTM" || n.OpType == "GRU" {
		return e.rnn(n, unsupported)
	}
	return unsupported("no TensorFlow mapping for this op")
}

func i32Bytes(v []int64) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24)
	}
	return b
}

// reshapeBatch reshapes x to (its first dimension, rest...), the batch size read at run
// time (Flatten, Reshape with a leading 0).
func (e *exporter) reshapeBatch(out, x string, rest ...int64) string {
	T := attrType("T", dtFloat)
	shape := e.add("Shape", out+"_shape", []string{x}, T, attrType("out_type", dtInt32))
	batch := e.add("StridedSlice", out+"_batch", []string{shape, e.constI32(out+"_b0", 0), e.constI32(out+"_b1", 1), e.constI32(out+"_b2", 1)},
		attrType("T", dtInt32), attrType("Index", dtInt32))
	target := e.add("ConcatV2", out+"_target", []string{batch, e.constI32(out+"_rest", rest...), e.scalarI32(out+"_axis", 0)},
		attrInt("N", 2), attrType("T", dtInt32), attrType("Tidx", dtInt32))
	return e.add("Reshape", out, []string{x, target}, T, attrType("Tshape", dtInt32))
}

// reshapeCopy reshapes x to shape, where a 0 copies that dimension of x (read at run
// time).
func (e *exporter) reshapeCopy(out, x string, shape []int64) string {
	T := attrType("T", dtFloat)
	dims := e.add("Shape", out+"_shape", []string{x}, T, attrType("out_type", dtInt32))
	var parts []string
	for i, d := range shape {
		if d == 0 {
			parts = append(parts, e.add("StridedSlice", fmt.Sprintf("%s_dim%d", out, i), []string{dims, e.constI32(out+"_b", int64(i)), e.constI32(out+"_e", int64(i+1)), e.constI32(out+"_s", 1)},
				attrType("T", dtInt32), attrType("Index", dtInt32)))
		} else {
			parts = append(parts, e.constI32(fmt.Sprintf("%s_dim%d", out, i), d))
		}
	}
	parts = append(parts, e.scalarI32(out+"_axis", 0))
	target := e.add("ConcatV2", out+"_target", parts, attrInt("N", int64(len(shape))), attrType("T", dtInt32), attrType("Tidx", dtInt32))
	return e.add("Reshape", out, []string{x, target}, T, attrType("Tshape", dtInt32))
}

// tfPadding maps a Conv/pool node's padding to TensorFlow's padding attributes.
func tfPadding(n *ir.Node) ([]tfAttr, error) {
	if a := n.Attr("auto_pad"); a != nil {
		switch string(a.String) {
		case "SAME_UPPER":
			return []tfAttr{attrStr("padding", "SAME")}, nil
		case "VALID":
			return []tfAttr{attrStr("padding", "VALID")}, nil
		case "NOTSET", "":
		default:
			return nil, fmt.Errorf("auto_pad %s", a.String)
		}
	}
	p := nodeInts(n, "pads", []int64{0, 0, 0, 0})
	if len(p) != 4 {
		return nil, fmt.Errorf("pads %v", p)
	}
	if p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 0 {
		return []tfAttr{attrStr("padding", "VALID")}, nil
	}
	if n.OpType != "Conv" {
		return nil, fmt.Errorf("explicit pads %v", p)
	}
	return []tfAttr{attrStr("padding", "EXPLICIT"), attrInts("explicit_paddings", 0, 0, p[0], p[2], p[1], p[3], 0, 0)}, nil
}

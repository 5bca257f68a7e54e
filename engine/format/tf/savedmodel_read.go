package tf

// SavedModel import, for what Keras' model.export() and tf.saved_model.save write for
// the CNN and MLP layers: the serving_default signature's call is inlined
// (StatefulPartitionedCall / PartitionedCall, nested), variables are found through the
// SavedModel's own restore function (RestoreV2's tensor names → AssignVariableOp → the
// VarHandleOp the call reads) and read from variables/, and the TensorFlow ops become IR
// nodes. Channels-last tensors are transposed to channels-first once, where a convolution
// or pool first reads them, as the Keras reader does.

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/modelc/modelc/engine/ir"
)

// DetectSavedModelPath recognises a SavedModel folder.
func DetectSavedModelPath(path string) bool {
	st, err := os.Stat(filepath.Join(path, "saved_model.pb"))
	return err == nil && st.Mode().IsRegular()
}

type tfNodeDef struct {
	name, op string
	inputs   []string
	attrs    map[string][]byte // AttrValue bytes
}

type tfFunction struct {
	name    string
	inArgs  []string
	outArgs []string
	nodes   []*tfNodeDef
	ret     map[string]string
}

type savedModel struct {
	nodes     map[string]*tfNodeDef
	order     []*tfNodeDef
	functions map[string]*tfFunction
	sigIn     [][2]string // key, tensor name
	sigOut    [][2]string
}

func bytesFields(b []byte) (map[protowire.Number][][]byte, error) {
	out := map[protowire.Number][][]byte{}
	err := fields(b, func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
		if typ == protowire.BytesType {
			out[num] = append(out[num], raw)
		} else {
			out[num] = append(out[num], protowire.AppendVarint(nil, v))
		}
		return nil
	})
	return out, err
}

func parseNodeDef(b []byte) (*tfNodeDef, error) {
	f, err := bytesFields(b)
	if err != nil {
		return nil, err
	}
	n := &tfNodeDef{attrs: map[string][]byte{}}
	if len(f[1]) > 0 {
		n.name = string(f[1][0])
	}
	if len(f[2]) > 0 {
		n.op = string(f[2][0])
	}
	for _, in := range f[3] {
		n.inputs = append(n.inputs, string(in))
	}
	for _, e := range f[5] {
		ef, err := bytesFields(e)
		if err != nil {
			return nil, err
		}
		if len(ef[1]) > 0 && len(ef[2]) > 0 {
			n.attrs[string(ef[1][0])] = ef[2][0]
		}
	}
	return n, nil
}

func parseSavedModel(data []byte, file string) (*savedModel, error) {
	corrupt := func(err error) error { return ir.Errorf(ir.KindCorrupt, file, "saved_model.pb: %v", err) }
	top, err := bytesFields(data)
	if err != nil {
		return nil, corrupt(err)
	}
	var mg map[protowire.Number][][]byte
	for _, raw := range top[2] {
		m, err := bytesFields(raw)
		if err != nil {
			return nil, corrupt(err)
		}
		serve := false
		for _, info := range m[1] {
			inf, _ := bytesFields(info)
			for _, t := range inf[4] {
				serve = serve || string(t) == "serve"
			}
		}
		if serve || mg == nil {
			mg = m
		}
	}
	if mg == nil || len(mg[2]) == 0 {
		return nil, ir.Errorf(ir.KindCorrupt, file, "saved_model.pb holds no MetaGraphDef with a graph")
	}
	sm := &savedModel{nodes: map[string]*tfNodeDef{}, functions: map[string]*tfFunction{}}
	gd, err := bytesFields(mg[2][0])
	if err != nil {
		return nil, corrupt(err)
	}
	for _, nb := range gd[1] {
		n, err := parseNodeDef(nb)
		if err != nil {
			return nil, corrupt(err)
		}
		sm.nodes[n.name] = n
		sm.order = append(sm.order, n)
	}
	for _, lib := range gd[2] {
		lf, err := bytesFields(lib)
		if err != nil {
			return nil, corrupt(err)
		}
		for _, fb := range lf[1] {
			ff, err := bytesFields(fb)
			if err != nil {
				return nil, corrupt(err)
			}
			fn := &tfFunction{ret: map[string]string{}}
			if len(ff[1]) > 0 {
				sig, _ := bytesFields(ff[1][0])
				if len(sig[1]) > 0 {
					fn.name = string(sig[1][0])
				}
				for _, a := range sig[2] {
					af, _ := bytesFields(a)
					if len(af[1]) > 0 {
						fn.inArgs = append(fn.inArgs, string(af[1][0]))
					}
				}
				for _, a := range sig[3] {
					af, _ := bytesFields(a)
					if len(af[1]) > 0 {
						fn.outArgs = append(fn.outArgs, string(af[1][0]))
					}
				}
			}
			for _, nb := range ff[3] {
				n, err := parseNodeDef(nb)
				if err != nil {
					return nil, corrupt(err)
				}
				fn.nodes = append(fn.nodes, n)
			}
			for _, r := range ff[4] {
				rf, _ := bytesFields(r)
				if len(rf[1]) > 0 && len(rf[2]) > 0 {
					fn.ret[string(rf[1][0])] = string(rf[2][0])
				}
			}
			sm.functions[fn.name] = fn
		}
	}
	for _, e := range mg[5] {
		ef, _ := bytesFields(e)
		if len(ef[1]) == 0 || string(ef[1][0]) != "serving_default" || len(ef[2]) == 0 {
			continue
		}
		sig, _ := bytesFields(ef[2][0])
		for i, num := range []protowire.Number{1, 2} {
			for _, m := range sig[num] {
				mf, _ := bytesFields(m)
				if len(mf[1]) == 0 || len(mf[2]) == 0 {
					continue
				}
				ti, _ := bytesFields(mf[2][0])
				if len(ti[1]) == 0 {
					continue
				}
				kv := [2]string{string(mf[1][0]), string(ti[1][0])}
				if i == 0 {
					sm.sigIn = append(sm.sigIn, kv)
				} else {
					sm.sigOut = append(sm.sigOut, kv)
				}
			}
		}
	}
	if len(sm.sigIn) == 0 || len(sm.sigOut) == 0 {
		return nil, ir.Errorf(ir.KindUnsupported, file, "SavedModel without a serving_default signature")
	}
	return sm, nil
}

// attr helpers over AttrValue bytes.
func attrField(b []byte, num protowire.Number) []byte {
	f, _ := bytesFields(b)
	if len(f[num]) == 0 {
		return nil
	}
	return f[num][0]
}

func attrS(n *tfNodeDef, name string) string { return string(attrField(n.attrs[name], 2)) }
func attrI(n *tfNodeDef, name string) int64 {
	v := attrField(n.attrs[name], 3)
	x, _ := protowire.ConsumeVarint(v)
	return int64(x)
}
func attrB(n *tfNodeDef, name string) bool { return attrI2(n, name, 5) != 0 }
func attrI2(n *tfNodeDef, name string, num protowire.Number) uint64 {
	v := attrField(n.attrs[name], num)
	x, _ := protowire.ConsumeVarint(v)
	return x
}
func attrF(n *tfNodeDef, name string) float32 {
	f, _ := bytesFields(n.attrs[name])
	_ = f
	var out float32
	fields(n.attrs[name], func(num protowire.Number, typ protowire.Type, v uint64, _ []byte) error {
		if num == 4 && typ == protowire.Fixed32Type {
			out = float32frombits(uint32(v))
		}
		return nil
	})
	return out
}
func attrList(n *tfNodeDef, name string) []int64 {
	l := attrField(n.attrs[name], 1)
	var out []int64
	fields(l, func(num protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
		if num != 3 {
			return nil
		}
		if typ == protowire.BytesType {
			for len(raw) > 0 {
				x, k := protowire.ConsumeVarint(raw)
				if k < 0 {
					return nil
				}
				out = append(out, int64(x))
				raw = raw[k:]
			}
			return nil
		}
		out = append(out, int64(v))
		return nil
	})
	return out
}
func attrFunc(n *tfNodeDef) string {
	fa := attrField(n.attrs["f"], 10)
	return string(attrField(fa, 1))
}

// constTensor decodes a Const node's value: numbers into an IR tensor, strings as a list.
func constValue(n *tfNodeDef, name string) (*ir.Tensor, []string, error) {
	tp := attrField(n.attrs["value"], 8)
	f, err := bytesFields(tp)
	if err != nil {
		return nil, nil, err
	}
	dt := uint64(0)
	if len(f[1]) > 0 {
		dt, _ = protowire.ConsumeVarint(f[1][0])
	}
	var shape []int64
	if len(f[2]) > 0 {
		sf, _ := bytesFields(f[2][0])
		for _, d := range sf[2] {
			df, _ := bytesFields(d)
			var size uint64
			if len(df[1]) > 0 {
				size, _ = protowire.ConsumeVarint(df[1][0])
			}
			shape = append(shape, int64(size))
		}
	}
	if shape == nil {
		shape = []int64{}
	}
	if dt == tfString {
		var s []string
		for _, v := range f[8] {
			s = append(s, string(v))
		}
		return nil, s, nil
	}
	idt, ok := tfDTypes[dt]
	if !ok {
		return nil, nil, fmt.Errorf("Const %s: dtype %d", n.name, dt)
	}
	n64 := ir.NumElements(shape)
	want, ok := idt.ByteSize(n64)
	if !ok {
		return nil, nil, fmt.Errorf("Const %s: shape %v", n.name, shape)
	}
	var content []byte
	if len(f[4]) > 0 {
		content = f[4][0]
	} else {
		// Typed repeated fields: float_val 5, int_val 7, int64_val 10; a single value
		// fills the tensor.
		var vals []uint64
		num := map[ir.DType]protowire.Number{ir.Float32: 5, ir.Int32: 7, ir.Int64: 10}[idt]
		if num == 0 {
			return nil, nil, fmt.Errorf("Const %s: %v without tensor_content", n.name, idt)
		}
		fields(tp, func(k protowire.Number, typ protowire.Type, v uint64, raw []byte) error {
			if k != num {
				return nil
			}
			if typ == protowire.BytesType {
				for len(raw) > 0 {
					if idt == ir.Float32 {
						x, c := protowire.ConsumeFixed32(raw)
						if c < 0 {
							return nil
						}
						vals = append(vals, uint64(x))
						raw = raw[c:]
					} else {
						x, c := protowire.ConsumeVarint(raw)
						if c < 0 {
							return nil
						}
						vals = append(vals, x)
						raw = raw[c:]
					}
				}
				return nil
			}
			vals = append(vals, v)
			return nil
		})
		// A single value fills the whole shape: within the memory budget.
		es := int64(idt.ElemBytes())
		if content, err = ir.AllocBytes(want, "", n.name, "Const value"); err != nil {
			return nil, nil, err
		}
		for i := int64(0); i < n64 && len(vals) > 0; i++ {
			v := vals[min(int(i), len(vals)-1)]
			for j := int64(0); j < es; j++ {
				content[i*es+j] = byte(v >> (8 * j))
			}
		}
	}
	t, err := ir.NewTensor(name, idt, shape, content)
	return t, nil, err
}

// ReadSavedModel imports a SavedModel folder's serving_default signature.
func ReadSavedModel(dir string) (m *ir.Model, err error) {
	pbPath := filepath.Join(dir, "saved_model.pb")
	data, err := os.ReadFile(pbPath)
	if err != nil {
		return nil, ir.IOError(pbPath, err)
	}
	sm, err := parseSavedModel(data, pbPath)
	if err != nil {
		return nil, err
	}
	vars, err := ReadBundle(filepath.Join(dir, "variables"))
	if err != nil {
		return nil, err
	}
	byKey := map[string]*ir.Tensor{}
	for _, t := range vars.Graph.Initializers {
		byKey[t.Name] = t
	}
	handles, err := sm.variableKeys()
	if err != nil {
		vars.Close()
		return nil, ir.Errorf(ir.KindUnsupported, dir, "%v", err)
	}
	imp := &importer{sm: sm, b: newBuilder(dir, nil), vars: byKey, handles: handles, vals: map[string]kval{}, file: dir, packLen: map[string]int{}}
	if err := imp.run(); err != nil {
		vars.Close()
		if e, ok := err.(*ir.Error); ok && e.File == "" {
			e.File = dir
		}
		return nil, err
	}
	imp.b.g.Name = filepath.Base(filepath.Clean(dir))
	dropUnused(imp.b.g)
	model := &ir.Model{IRVersion: 8, Opsets: []ir.OpsetImport{{Version: 17}}, ProducerName: "modelc (savedmodel)", Graph: imp.b.g}
	model.KeepAlive(vars)
	return model, nil
}

// variableKeys maps each VarHandleOp of the graph to its checkpoint key, through the
// SavedModel's restore function: RestoreV2's tensor i is assigned (AssignVariableOp) to
// an argument, which the graph's call node binds to a VarHandleOp.
func (sm *savedModel) variableKeys() (map[string]string, error) {
	out := map[string]string{}
	for _, call := range sm.order {
		if call.op != "StatefulPartitionedCall" && call.op != "PartitionedCall" {
			continue
		}
		fn := sm.functions[attrFunc(call)]
		if fn == nil {
			continue
		}
		var names []string
		restore := ""
		for _, n := range fn.nodes {
			if n.op == "RestoreV2" {
				restore = n.name
				if len(n.inputs) > 1 {
					src := strings.SplitN(n.inputs[1], ":", 2)[0]
					for _, c := range fn.nodes {
						if c.name == src && c.op == "Const" {
							_, names, _ = constValue(c, c.name)
						}
					}
				}
			}
		}
		if restore == "" {
			continue
		}
		// Identity_k ← RestoreV2:tensors:i; AssignVariableOp(arg, Identity_k).
		ident := map[string]int{}
		for _, n := range fn.nodes {
			if n.op == "Identity" && len(n.inputs) > 0 && strings.HasPrefix(n.inputs[0], restore+":tensors:") {
				var i int
				fmt.Sscanf(strings.TrimPrefix(n.inputs[0], restore+":tensors:"), "%d", &i)
				ident[n.name] = i
			}
		}
		for _, n := range fn.nodes {
			if n.op != "AssignVariableOp" || len(n.inputs) < 2 {
				continue
			}
			i, ok := ident[strings.SplitN(n.inputs[1], ":", 2)[0]]
			if !ok || i >= len(names) {
				continue
			}
			for k, a := range fn.inArgs {
				if a == n.inputs[0] && k < len(call.inputs) {
					out[call.inputs[k]] = names[i]
				}
			}
		}
	}
	if len(out) == 0 {
		for _, n := range sm.order {
			if n.op == "VarHandleOp" {
				return nil, fmt.Errorf("no restore function found: the variables cannot be matched to the graph")
			}
		}
	}
	return out, nil // a model without variables (resizing, say) needs none
}

type importer struct {
	sm      *savedModel
	b       *builder
	vars    map[string]*ir.Tensor
	handles map[string]string // VarHandleOp node → checkpoint key
	vals    map[string]kval   // resolved "scope/tensor:idx" → value
	consts  map[string]*ir.Tensor
	file    string
	depth   int
	packLen map[string]int // length of 1-D shapes built by Pack
}

// scope is one function body being inlined.
type scope struct {
	fn    *tfFunction // nil: the graph itself
	nodes map[string]*tfNodeDef
	args  map[string]ref // argument → the caller's tensor
	id    string
}

// ref names a tensor: a scope and an output of a node in it (or a variable handle).
type ref struct {
	sc   *scope
	node string
	idx  int
	arg  string // set when the tensor is a variable handle: its VarHandleOp name
}

func (im *importer) run() error {
	root := &scope{nodes: im.sm.nodes, id: ""}
	for _, kv := range im.sm.sigIn {
		name := strings.SplitN(kv[1], ":", 2)[0]
		n := im.sm.nodes[name]
		if n == nil || n.op != "Placeholder" {
			return ir.Errorf(ir.KindCorrupt, "", "signature input %s is not a Placeholder", kv[1])
		}
		dims := shapeAttr(n.attrs["shape"])
		cfg := map[string]any{"batch_shape": dims, "dtype": "float32"}
		if dt := attrI2(n, "dtype", 6); dt == dtInt32 {
			cfg["dtype"] = "int32"
		} else if dt == dtInt64 {
			cfg["dtype"] = "int64"
		}
		raw := mustMarshal(cfg)
		v, err := im.b.input(&kerasObj{ClassName: "InputLayer", Name: kv[0], Config: raw})
		if err != nil {
			return err
		}
		im.vals[fmt.Sprintf("%s/%s:0", root.id, name)] = v
	}
	for _, kv := range im.sm.sigOut {
		r, err := im.parseRef(root, kv[1], true)
		if err != nil {
			return err
		}
		v, err := im.value(r)
		if err != nil {
			return err
		}
		im.b.output(v, kv[0])
	}
	return nil
}

func shapeAttr(b []byte) []*int64 { return shapeDims(attrField(b, 7)) }

// shapeDims reads a TensorShapeProto: nil for an unknown dimension.
func shapeDims(sp []byte) []*int64 {
	sf, _ := bytesFields(sp)
	var out []*int64
	for _, d := range sf[2] {
		df, _ := bytesFields(d)
		var size uint64
		if len(df[1]) > 0 {
			size, _ = protowire.ConsumeVarint(df[1][0])
		}
		if int64(size) < 0 {
			out = append(out, nil)
		} else {
			s := int64(size)
			out = append(out, &s)
		}
	}
	return out
}

// parseRef reads an input string: "node", "node:idx" (graph), "node:arg:idx" (function),
// or a function argument name.
func (im *importer) parseRef(sc *scope, s string, graph bool) (ref, error) {
	if strings.HasPrefix(s, "^") {
		return ref{}, fmt.Errorf("control input")
	}
	parts := strings.Split(s, ":")
	if sc.fn != nil && len(parts) == 1 {
		if a, ok := sc.args[s]; ok {
			return a, nil
		}
	}
	r := ref{sc: sc, node: parts[0]}
	last := parts[len(parts)-1]
	if len(parts) > 1 {
		fmt.Sscanf(last, "%d", &r.idx)
	}
	if len(parts) == 3 {
		n := sc.nodes[parts[0]]
		if n != nil {
			r.idx += outputOffset(n.op, parts[1])
		}
	}
	return r, nil
}

// outputOffset is the flat index of an op's named output list (only multi-output ops
// need it).
func outputOffset(op, arg string) int {
	switch op {
	case "FusedBatchNormV3", "FusedBatchNorm":
		return map[string]int{"y": 0, "batch_mean": 1, "batch_variance": 2}[arg]
	}
	return 0
}

func (r ref) key() string { return fmt.Sprintf("%s/%s:%d", r.sc.id, r.node, r.idx) }

// value resolves a tensor to a graph value, converting the nodes it needs.
func (im *importer) value(r ref) (kval, error) {
	if v, ok := im.vals[r.key()]; ok {
		return v, nil
	}
	im.depth++
	defer func() { im.depth-- }()
	if im.depth > 10000 {
		return kval{}, ir.Errorf(ir.KindUnsupported, "", "graph too deep")
	}
	n := r.sc.nodes[r.node]
	if n == nil {
		return kval{}, ir.Errorf(ir.KindCorrupt, "", "tensor %s: no node %q", r.key(), r.node)
	}
	outs, err := im.convert(r.sc, n)
	if err != nil {
		return kval{}, err
	}
	for i, v := range outs {
		im.vals[fmt.Sprintf("%s/%s:%d", r.sc.id, n.name, i)] = v
	}
	if r.idx >= len(outs) || outs[r.idx].name == "" {
		return kval{}, ir.Errorf(ir.KindUnsupported, "", "node %s (%s): output %d is not read", n.name, n.op, r.idx)
	}
	return outs[r.idx], nil
}

// handle returns the VarHandleOp a resource tensor comes from.
func (im *importer) handle(r ref) (string, error) {
	for i := 0; i < 100; i++ {
		if r.arg != "" {
			return r.arg, nil
		}
		n := r.sc.nodes[r.node]
		if n == nil {
			break
		}
		if n.op == "VarHandleOp" && r.sc.fn == nil {
			return n.name, nil
		}
		if n.op == "Identity" && len(n.inputs) > 0 {
			var err error
			if r, err = im.parseRef(r.sc, n.inputs[0], false); err != nil {
				return "", err
			}
			continue
		}
		break
	}
	return "", ir.Errorf(ir.KindUnsupported, "", "resource %s is not a variable handle", r.key())
}

func (im *importer) data(sc *scope, n *tfNodeDef) ([]kval, error) {
	var out []kval
	for _, in := range n.inputs {
		if strings.HasPrefix(in, "^") {
			continue
		}
		r, err := im.parseRef(sc, in, sc.fn == nil)
		if err != nil {
			return nil, err
		}
		v, err := im.value(r)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// channels returns the channel (last) dimension of an NHWC tensor when the SavedModel
// tells it (see staticDims).
func (im *importer) channels(r ref) (int64, bool) {
	d := im.staticDims(r, 0)
	if len(d) != 4 || d[3] == nil || *d[3] <= 0 {
		return 0, false
	}
	return *d[3], true
}

// staticDims returns what the SavedModel tells of a tensor's shape (nil entries unknown,
// nil when not even the rank is known): a Placeholder's shape, the _output_shapes
// TensorFlow records on the nodes of the functions it saves, and, for SavedModels
// without them (modelc's own), the shapes that follow from constant Reshape shapes,
// Transpose perms and convolution filters through the ops that keep channels.
func (im *importer) staticDims(r ref, depth int) []*int64 {
	n := r.sc.nodes[r.node]
	if n == nil || r.arg != "" || depth > 1000 {
		return nil
	}
	if n.op == "Placeholder" {
		return shapeAttr(n.attrs["shape"])
	}
	if shapes := outputShapes(n); r.idx < len(shapes) {
		return shapes[r.idx]
	}
	input := func(i int) (ref, bool) {
		if i >= len(n.inputs) {
			return ref{}, false
		}
		in, err := im.parseRef(r.sc, n.inputs[i], r.sc.fn == nil)
		return in, err == nil
	}
	constInput := func(i int) *ir.Tensor {
		in, ok := input(i)
		if !ok {
			return nil
		}
		v, err := im.value(in)
		if err != nil {
			return nil
		}
		return im.constOf(v)
	}
	known := func(v int64) *int64 { return &v }
	switch {
	case keepsShape[n.op] && r.idx == 0:
		if in, ok := input(0); ok {
			return im.staticDims(in, depth+1)
		}
	case keepsChannels[n.op] && r.idx == 0:
		if in, ok := input(0); ok {
			if d := im.staticDims(in, depth+1); len(d) == 4 {
				return []*int64{nil, nil, nil, d[3]}
			}
		}
	case n.op == "Reshape":
		if t := constInput(1); t != nil && len(t.Shape) == 1 {
			vals, _ := t.Float32s()
			out := make([]*int64, len(vals))
			for i, v := range vals {
				if v >= 0 {
					out[i] = known(int64(v))
				}
			}
			return out
		}
	case n.op == "ExpandDims": // a Conv1D's (N, W, C) made (N, 1, W, C)
		t, in, ok := constInput(1), ref{}, false
		if in, ok = input(0); !ok || t == nil || t.NumElements() != 1 {
			return nil
		}
		axis, _ := t.Float32s()
		d := im.staticDims(in, depth+1)
		a := int(axis[0])
		if a < 0 {
			a += len(d) + 1
		}
		if d == nil || a < 0 || a > len(d) {
			return nil
		}
		return slices.Insert(slices.Clone(d), a, known(1))
	case n.op == "Transpose":
		t := constInput(1)
		in, ok := input(0)
		if t == nil || !ok {
			return nil
		}
		perm, _ := t.Float32s()
		d := im.staticDims(in, depth+1)
		if len(d) != len(perm) {
			return nil
		}
		out := make([]*int64, len(perm))
		for i, p := range perm {
			if p < 0 || int(p) >= len(d) {
				return nil
			}
			out[i] = d[int(p)]
		}
		return out
	case n.op == "Split": // equal parts: the split axis divided, the others kept
		t, in, ok := constInput(0), ref{}, false
		if in, ok = input(1); !ok || t == nil || t.NumElements() != 1 {
			return nil
		}
		axis, _ := t.Float32s()
		d, parts := slices.Clone(im.staticDims(in, depth+1)), attrI(n, "num_split")
		a := int(axis[0])
		if a < 0 {
			a += len(d)
		}
		if d == nil || a < 0 || a >= len(d) || parts < 1 {
			return nil
		}
		if d[a] != nil {
			d[a] = known(*d[a] / parts)
		}
		return d
	case n.op == "ConcatV2": // the parts' sizes summed along the axis
		t := constInput(len(n.inputs) - 1)
		if t == nil || t.NumElements() != 1 || len(n.inputs) < 2 {
			return nil
		}
		axis, _ := t.Float32s()
		var out []*int64
		for i := 0; i < len(n.inputs)-1; i++ {
			in, ok := input(i)
			if !ok {
				return nil
			}
			d := im.staticDims(in, depth+1)
			a := int(axis[0])
			if a < 0 {
				a += len(d)
			}
			if d == nil || a < 0 || a >= len(d) || (out != nil && len(out) != len(d)) {
				return nil
			}
			if out == nil {
				out = slices.Clone(d)
				continue
			}
			if out[a] != nil && d[a] != nil {
				out[a] = known(*out[a] + *d[a])
			} else {
				out[a] = nil
			}
		}
		return out
	case n.op == "Squeeze": // a Conv1D's (N, 1, W, C) back to (N, W, C)
		in, ok := input(0)
		if !ok {
			return nil
		}
		d := im.staticDims(in, depth+1)
		dims := attrList(n, "squeeze_dims")
		if d == nil || len(dims) == 0 {
			return nil
		}
		drop := map[int]bool{}
		for _, a := range dims {
			if a < 0 {
				a += int64(len(d))
			}
			drop[int(a)] = true
		}
		var out []*int64
		for i, v := range d {
			if !drop[i] {
				out = append(out, v)
			}
		}
		return out
	case n.op == "Pad" || n.op == "MirrorPad": // the channels kept when their padding is 0
		t, in, ok := constInput(1), ref{}, false
		if in, ok = input(0); !ok || t == nil || len(t.Shape) != 2 || t.Shape[0] != 4 {
			return nil
		}
		pads, _ := t.Float32s()
		if d := im.staticDims(in, depth+1); len(d) == 4 && pads[6] == 0 && pads[7] == 0 {
			return []*int64{nil, nil, nil, d[3]}
		}
	case n.op == "Conv2D" || n.op == "DepthwiseConv2dNative":
		if w := constInput(1); w != nil && len(w.Shape) == 4 {
			c := w.Shape[3]
			if n.op == "DepthwiseConv2dNative" {
				c *= w.Shape[2]
			}
			return []*int64{nil, nil, nil, known(c)}
		}
	}
	return nil
}

// keepsShape lists the ops whose first output has their first input's shape.
var keepsShape = map[string]bool{
	"Identity": true, "IdentityN": true, "BiasAdd": true, "Relu": true, "Relu6": true, "Elu": true, "Selu": true,
	"LeakyRelu": true, "Sigmoid": true, "Tanh": true, "Softplus": true, "Softsign": true, "FusedBatchNormV3": true,
	"FusedBatchNorm": true,
}

// keepsChannels lists the 4-D ops whose output keeps their first input's channel (last)
// dimension but not its spatial ones.
var keepsChannels = map[string]bool{"SpaceToBatchND": true, "BatchToSpaceND": true, "MaxPool": true, "AvgPool": true}

// outputShapes reads a node's _output_shapes attribute (a list of shapes), if any.
func outputShapes(n *tfNodeDef) [][]*int64 {
	var out [][]*int64
	fields(attrField(n.attrs["_output_shapes"], 1), func(num protowire.Number, typ protowire.Type, _ uint64, raw []byte) error {
		if num == 7 && typ == protowire.BytesType {
			out = append(out, shapeDims(raw))
		}
		return nil
	})
	return out
}

// constOf returns the IR initializer behind v, if v is one.
func (im *importer) constOf(v kval) *ir.Tensor {
	for _, t := range im.b.g.Initializers {
		if t.Name == v.name {
			return t
		}
	}
	return nil
}

func (im *importer) convert(sc *scope, n *tfNodeDef) ([]kval, error) {
	b := im.b
	unsupported := func(why string, args ...any) error {
		return ir.Errorf(ir.KindUnsupported, "", "TensorFlow node %s (%s): %s", n.name, n.op, fmt.Sprintf(why, args...))
	}
	switch n.op {
	case "StatefulPartitionedCall", "PartitionedCall":
		fn := im.sm.functions[attrFunc(n)]
		if fn == nil {
			return nil, unsupported("function %q not in the library", attrFunc(n))
		}
		inner := &scope{fn: fn, nodes: map[string]*tfNodeDef{}, args: map[string]ref{}, id: sc.id + "/" + n.name}
		for _, x := range fn.nodes {
			inner.nodes[x.name] = x
		}
		k := 0
		for _, in := range n.inputs {
			if strings.HasPrefix(in, "^") {
				continue
			}
			if k >= len(fn.inArgs) {
				break
			}
			r, err := im.parseRef(sc, in, sc.fn == nil)
			if err != nil {
				return nil, err
			}
			if h, err := im.handle(r); err == nil {
				r.arg = h
			}
			inner.args[fn.inArgs[k]] = r
			k++
		}
		var outs []kval
		for _, a := range fn.outArgs {
			r, err := im.parseRef(inner, fn.ret[a], false)
			if err != nil {
				return nil, err
			}
			v, err := im.value(r)
			if err != nil {
				return nil, err
			}
			outs = append(outs, v)
		}
		return outs, nil
	case "ResourceGather":
		// Embedding lookups read the table through its handle: Gather on axis 0.
		if len(n.inputs) < 2 || attrI(n, "batch_dims") != 0 {
			return nil, unsupported("only batch_dims 0")
		}
		r, err := im.parseRef(sc, n.inputs[0], sc.fn == nil)
		if err != nil {
			return nil, err
		}
		t, err := im.variableBehind(r)
		if err != nil {
			return nil, unsupported("%v", err)
		}
		v, err := f32(t)
		if err != nil {
			return nil, err
		}
		idxRef, err := im.parseRef(sc, n.inputs[1], sc.fn == nil)
		if err != nil {
			return nil, err
		}
		idx, err := im.value(idxRef)
		if err != nil {
			return nil, err
		}
		idx = b.toCL(idx)
		table := b.constF(n.name+".table", t.Shape, v)
		return []kval{{name: b.op("Gather", n.name, []string{table, idx.name}, aInt("axis", 0)), rank: len(t.Shape) - 1 + idx.rank, dtype: ir.Float32}}, nil
	case "BatchToSpaceND":
		return im.dilatedConv(sc, n, unsupported)
	case "While", "StatelessWhile":
		return im.kerasRNNLoop(sc, n)
	case "ReadVariableOp":
		if len(n.inputs) == 0 {
			return nil, unsupported("no input")
		}
		r, err := im.parseRef(sc, n.inputs[0], sc.fn == nil)
		if err != nil {
			return nil, err
		}
		h, err := im.handle(r)
		if err != nil {
			return nil, err
		}
		key, ok := im.handles[h]
		t := im.vars[key]
		if !ok || t == nil {
			return nil, unsupported("variable %s has no value in variables/", h)
		}
		v, err := f32(t)
		if err != nil {
			return nil, err
		}
		name := b.constF(strings.TrimSuffix(key, "/.ATTRIBUTES/VARIABLE_VALUE"), t.Shape, v)
		return []kval{{name: name, rank: len(t.Shape), dtype: ir.Float32}}, nil
	case "Const":
		t, _, err := constValue(n, n.name)
		if err != nil || t == nil {
			return nil, unsupported("value: %v", err)
		}
		t.Name = b.fresh(n.name)
		b.g.Initializers = append(b.g.Initializers, t)
		return []kval{{name: t.Name, rank: len(t.Shape), dtype: t.DType}}, nil
	}
	ins, err := im.data(sc, n)
	if err != nil {
		return nil, err
	}
	if len(ins) == 0 {
		return nil, unsupported("no inputs")
	}
	x := ins[0]
	name := n.name
	unary := map[string]string{"Relu": "Relu", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Exp": "Exp", "Log": "Log", "Sqrt": "Sqrt",
		"Neg": "Neg", "Abs": "Abs", "Erf": "Erf", "Identity": "Identity", "Elu": "Elu", "Selu": "Selu", "Softplus": "Softplus",
		"Softsign": "Softsign", "Reciprocal": "Reciprocal", "StopGradient": "Identity"}
	binary := map[string]string{"AddV2": "Add", "Add": "Add", "Sub": "Sub", "Mul": "Mul", "RealDiv": "Div", "Maximum": "Max", "Minimum": "Min"}
	switch {
	case unary[n.op] != "":
		return []kval{b.same(x, b.op(unary[n.op], name, []string{x.name}))}, nil
	case binary[n.op] != "":
		if len(ins) != 2 {
			return nil, unsupported("%d inputs", len(ins))
		}
		a, c := ins[0], ins[1]
		// A channels-first tensor with a per-channel vector: the vector becomes (C,1,1).
		switch {
		case a.cf && c.rank == 1:
			c = im.channelVector(c, a.rank)
		case c.cf && a.rank == 1:
			a = im.channelVector(a, c.rank)
		case a.cf && c.rank == 0, c.cf && a.rank == 0:
		case a.cf && c.cf:
		default:
			a, c = b.toCL(a), b.toCL(c)
		}
		out := b.op(binary[n.op], name, []string{a.name, c.name})
		res := a
		if c.rank > a.rank || c.cf {
			res = c
		}
		return []kval{b.same(res, out)}, nil
	}
	switch n.op {
	case "IdentityN":
		return ins, nil
	case "Relu6":
		return []kval{b.same(x, b.op("Clip", name, []string{x.name, b.scalarF(name+"_min", 0), b.scalarF(name+"_max", 6)}))}, nil
	case "Erfc":
		e := b.op("Erf", name+"_erf", []string{x.name})
		return []kval{b.same(x, b.op("Sub", name, []string{b.scalarF(name+"_one", 1), e}))}, nil
	case "Rsqrt":
		return []kval{b.same(x, b.op("Reciprocal", name, []string{b.op("Sqrt", name+"_sqrt", []string{x.name})}))}, nil
	case "Square":
		return []kval{b.same(x, b.op("Mul", name, []string{x.name, x.name}))}, nil
	case "LeakyRelu":
		return []kval{b.same(x, b.op("LeakyRelu", name, []string{x.name}, aFloat("alpha", attrF(n, "alpha"))))}, nil
	case "Softmax", "LogSoftmax":
		x = b.toCL(x)
		return []kval{b.same(x, b.op(n.op, name, []string{x.name}, aInt("axis", -1)))}, nil
	case "BiasAdd":
		if len(ins) != 2 {
			return nil, unsupported("%d inputs", len(ins))
		}
		c := ins[1]
		if x.cf {
			c = im.channelVector(c, x.rank)
		}
		return []kval{b.same(x, b.op("Add", name, []string{x.name, c.name}))}, nil
	case "Conv2D", "DepthwiseConv2dNative":
		if attrS(n, "data_format") == "NCHW" {
			return nil, unsupported("data_format NCHW")
		}
		w := im.constOf(ins[1])
		if w == nil || len(w.Shape) != 4 {
			return nil, unsupported("filter is not a constant")
		}
		wv, err := f32(w)
		if err != nil {
			return nil, err
		}
		var kt []float32
		var ks []int64
		var group int64 = 1
		if n.op == "Conv2D" {
			kt, ks = permute(wv, w.Shape, []int{3, 2, 0, 1})
			// A grouped convolution's filter holds in/groups input channels, so the
			// group count needs the input's channel count.
			r, err := im.parseRef(sc, n.inputs[0], sc.fn == nil)
			if err != nil {
				return nil, err
			}
			c, ok := im.channels(r)
			if !ok {
				return nil, unsupported("the input's channel count is not known, so a grouped convolution cannot be told from a plain one")
			}
			if w.Shape[2] <= 0 || c%w.Shape[2] != 0 || w.Shape[3]%(c/w.Shape[2]) != 0 {
				return nil, unsupported("filter %v does not fit an input of %d channels", w.Shape, c)
			}
			group = c / w.Shape[2]
		} else {
			kt, ks, err = depthwiseKernel(w)
			if err != nil {
				return nil, err
			}
			group = w.Shape[2]
		}
		strides := attrList(n, "strides")
		dil := attrList(n, "dilations")
		if len(strides) != 4 {
			strides = []int64{1, 1, 1, 1}
		}
		if len(dil) != 4 {
			dil = []int64{1, 1, 1, 1}
		}
		attrs := []*ir.Attribute{aInts("kernel_shape", ks[2:]...), aInts("strides", strides[1], strides[2]), aInts("dilations", dil[1], dil[2])}
		switch attrS(n, "padding") {
		case "SAME":
			attrs = append(attrs, aString("auto_pad", "SAME_UPPER"))
		case "VALID":
		case "EXPLICIT":
			p := attrList(n, "explicit_paddings")
			if len(p) != 8 {
				return nil, unsupported("explicit_paddings %v", p)
			}
			attrs = append(attrs, aInts("pads", p[2], p[4], p[3], p[5]))
		default:
			return nil, unsupported("padding %s", attrS(n, "padding"))
		}
		if group > 1 {
			attrs = append(attrs, aInt("group", group))
		}
		x = b.toCF(x)
		return []kval{{name: b.op("Conv", name, []string{x.name, b.constF(name+".weight", ks, kt)}, attrs...), rank: 4, cf: true, dtype: ir.Float32}}, nil
	case "MaxPool", "AvgPool":
		k, s := attrList(n, "ksize"), attrList(n, "strides")
		if len(k) != 4 || len(s) != 4 || attrS(n, "data_format") == "NCHW" {
			return nil, unsupported("settings")
		}
		attrs := []*ir.Attribute{aInts("kernel_shape", k[1], k[2]), aInts("strides", s[1], s[2])}
		switch attrS(n, "padding") {
		case "SAME":
			attrs = append(attrs, aString("auto_pad", "SAME_UPPER"))
		case "VALID":
		default:
			return nil, unsupported("padding %s", attrS(n, "padding"))
		}
		x = b.toCF(x)
		op := map[string]string{"MaxPool": "MaxPool", "AvgPool": "AveragePool"}[n.op]
		return []kval{b.same(x, b.op(op, name, []string{x.name}, attrs...))}, nil
	case "Mean", "Max", "Sum":
		ax := im.constOf(ins[1])
		if ax == nil {
			return nil, unsupported("axes are not constant")
		}
		av, _ := ax.Float32s()
		keep := attrB(n, "keep_dims")
		// Global pooling of a channels-first tensor over its spatial axes.
		if x.cf && len(av) == x.rank-2 {
			spatial := true
			for i, a := range av {
				spatial = spatial && int(a) == i+1
			}
			if spatial {
				op := map[string]string{"Mean": "GlobalAveragePool", "Max": "GlobalMaxPool"}[n.op]
				if op != "" {
					y := b.op(op, name+"_pool", []string{x.name})
					if keep {
						return []kval{b.same(x, y)}, nil
					}
					return []kval{{name: b.op("Flatten", name, []string{y}, aInt("axis", 1)), rank: 2, dtype: x.dtype}}, nil
				}
			}
		}
		x = b.toCL(x)
		var axes []int64
		for _, a := range av {
			axes = append(axes, int64(a))
		}
		op := map[string]string{"Mean": "ReduceMean", "Max": "ReduceMax", "Sum": "ReduceSum"}[n.op]
		kd := int64(0)
		if keep {
			kd = 1
		}
		r := x.rank
		if !keep {
			r -= len(axes)
		}
		var y string
		if op == "ReduceSum" {
			y = b.op(op, name, []string{x.name, b.constI(name+"_axes", axes...)}, aInt("keepdims", kd))
		} else {
			y = b.op(op, name, []string{x.name}, aInts("axes", axes...), aInt("keepdims", kd))
		}
		return []kval{{name: y, rank: r, dtype: x.dtype}}, nil
	case "MatMul", "BatchMatMulV2":
		a, c := b.toCL(ins[0]), b.toCL(ins[1])
		if attrB(n, "transpose_a") || attrB(n, "adj_x") {
			a = kval{name: b.op("Transpose", name+"_at", []string{a.name}, aInts("perm", 1, 0)), rank: 2, dtype: a.dtype}
		}
		if attrB(n, "transpose_b") || attrB(n, "adj_y") {
			c = kval{name: b.op("Transpose", name+"_bt", []string{c.name}, aInts("perm", 1, 0)), rank: 2, dtype: c.dtype}
		}
		return []kval{{name: b.op("MatMul", name, []string{a.name, c.name}), rank: max(a.rank, c.rank), dtype: a.dtype}}, nil
	case "Reshape":
		x = b.toCL(x)
		shape := im.constOf(ins[1])
		if shape != nil {
			sv, _ := shape.Float32s()
			var dims []int64
			for _, d := range sv {
				dims = append(dims, int64(d))
			}
			return []kval{{name: b.op("Reshape", name, []string{x.name, b.constI(name+"_shape", dims...)}), rank: len(dims), dtype: x.dtype}}, nil
		}
		// A shape computed at run time (Flatten: Pack(batch, -1)).
		r, ok := im.length1D(ins[1])
		if !ok {
			return nil, unsupported("a shape of unknown length")
		}
		s := b.op("Cast", name+"_shape64", []string{ins[1].name}, aInt("to", int64(ir.Int64)))
		return []kval{{name: b.op("Reshape", name, []string{x.name, s}), rank: r, dtype: x.dtype}}, nil
	case "Squeeze":
		x = b.toCL(x)
		dims := attrList(n, "squeeze_dims")
		if len(dims) == 0 {
			return []kval{{name: b.op("Squeeze", name, []string{x.name}), rank: 1, dtype: x.dtype}}, nil
		}
		return []kval{{name: b.op("Squeeze", name, []string{x.name, b.constI(name+"_axes", dims...)}), rank: x.rank - len(dims), dtype: x.dtype}}, nil
	case "Tile":
		x = b.toCL(x)
		m := b.op("Cast", name+"_reps", []string{b.toCL(ins[1]).name}, aInt("to", int64(ir.Int64)))
		return []kval{{name: b.op("Tile", name, []string{x.name, m}), rank: x.rank, dtype: x.dtype}}, nil
	case "Less", "Greater", "LessEqual", "GreaterEqual", "Equal":
		a, c := b.toCL(ins[0]), b.toCL(ins[1])
		op := map[string]string{"Less": "Less", "Greater": "Greater", "LessEqual": "LessOrEqual", "GreaterEqual": "GreaterOrEqual", "Equal": "Equal"}[n.op]
		return []kval{{name: b.op(op, name, []string{a.name, c.name}), rank: max(a.rank, c.rank), dtype: ir.Bool}}, nil
	case "Select", "SelectV2":
		if len(ins) != 3 {
			return nil, unsupported("%d inputs", len(ins))
		}
		c, a, e := b.toCL(ins[0]), b.toCL(ins[1]), b.toCL(ins[2])
		return []kval{{name: b.op("Where", name, []string{c.name, a.name, e.name}), rank: max(a.rank, e.rank, c.rank), dtype: a.dtype}}, nil
	case "Einsum":
		var names []string
		for _, v := range ins {
			names = append(names, b.toCL(v).name)
		}
		eq := attrS(n, "equation")
		r := strings.Index(eq, "->")
		if r < 0 {
			return nil, unsupported("equation %q", eq)
		}
		return []kval{{name: b.op("Einsum", name, names, aString("equation", eq)), rank: len(strings.TrimSpace(eq[r+2:])), dtype: x.dtype}}, nil
	case "SquaredDifference":
		a, c := b.toCL(ins[0]), b.toCL(ins[1])
		d := b.op("Sub", name+"_diff", []string{a.name, c.name})
		return []kval{{name: b.op("Mul", name, []string{d, d}), rank: max(a.rank, c.rank), dtype: a.dtype}}, nil
	case "GatherV2":
		ax := im.constOf(ins[2])
		if ax == nil {
			return nil, unsupported("axis is not constant")
		}
		av, _ := ax.Float32s()
		p, idx := b.toCL(ins[0]), b.toCL(ins[1])
		a := int64(av[0])
		if a < 0 {
			a += int64(p.rank)
		}
		y := b.op("Gather", name, []string{p.name, idx.name}, aInt("axis", a))
		if l, ok := im.length1D(idx); ok && p.rank == 1 && idx.rank == 1 {
			im.packLen[y] = l
		}
		return []kval{{name: y, rank: p.rank - 1 + idx.rank, dtype: p.dtype}}, nil
	case "Conv2DBackpropInput":
		// Keras' Conv2DTranspose: (input_sizes, filter (H, W, out, in), out_backprop).
		w := im.constOf(ins[1])
		if w == nil || len(w.Shape) != 4 || len(ins) != 3 || attrS(n, "data_format") == "NCHW" {
			return nil, unsupported("filter is not a constant")
		}
		wv, err := f32(w)
		if err != nil {
			return nil, err
		}
		kt, ks := permute(wv, w.Shape, []int{3, 2, 0, 1})
		st, dil := attrList(n, "strides"), attrList(n, "dilations")
		if len(st) != 4 {
			st = []int64{1, 1, 1, 1}
		}
		if len(dil) != 4 {
			dil = []int64{1, 1, 1, 1}
		}
		c := &layerConfig{Strides: []int64{st[1], st[2]}, DilationRate: []int64{dil[1], dil[2]}, Padding: strings.ToLower(attrS(n, "padding"))}
		attrs, err := convTransposeAttrs(name, c, ks)
		if err != nil {
			return nil, err
		}
		x = b.toCF(ins[2])
		return []kval{{name: b.op("ConvTranspose", name, []string{x.name, b.constF(name+".weight", ks, kt)}, attrs...), rank: 4, cf: true, dtype: ir.Float32}}, nil
	case "Transpose":
		p := im.constOf(ins[1])
		if p == nil {
			return nil, unsupported("perm is not constant")
		}
		pv, _ := p.Float32s()
		var perm []int64
		for _, v := range pv {
			perm = append(perm, int64(v))
		}
		x = b.toCL(x)
		return []kval{{name: b.op("Transpose", name, []string{x.name}, aInts("perm", perm...)), rank: len(perm), dtype: x.dtype}}, nil
	case "ExpandDims":
		ax := im.constOf(ins[1])
		if ax == nil {
			return nil, unsupported("axis is not constant")
		}
		av, _ := ax.Float32s()
		x = b.toCL(x)
		a := int64(av[0])
		if a < 0 {
			a += int64(x.rank) + 1
		}
		if t := im.constOf(x); t != nil && t.DType == ir.Float32 && a <= int64(len(t.Shape)) {
			// A constant (a Conv1D filter made 2-D): fold it.
			v, err := f32(t)
			if err != nil {
				return nil, err
			}
			shape := append(append(append([]int64{}, t.Shape[:a]...), 1), t.Shape[a:]...)
			return []kval{{name: b.constF(name, shape, v), rank: len(shape), dtype: ir.Float32}}, nil
		}
		return []kval{{name: b.op("Unsqueeze", name, []string{x.name, b.constI(name+"_axes", a)}), rank: x.rank + 1, dtype: x.dtype}}, nil
	case "Shape":
		x = b.toCL(x)
		y := b.op("Shape", name+"_i64", []string{x.name})
		to := ir.Int32
		if attrI2(n, "out_type", 6) == dtInt64 {
			to = ir.Int64
		}
		y = b.op("Cast", name, []string{y}, aInt("to", int64(to)))
		im.packLen[y] = x.rank
		return []kval{{name: y, rank: 1, dtype: to}}, nil
	case "Prod":
		ax := im.constOf(ins[1])
		if ax == nil {
			return nil, unsupported("axes are not constant")
		}
		av, _ := ax.Float32s()
		x = b.toCL(x)
		var axes []int64
		for _, a := range av {
			axes = append(axes, int64(a))
		}
		kd := int64(0)
		r := x.rank - len(axes)
		if attrB(n, "keep_dims") {
			kd, r = 1, x.rank
		}
		// ReduceProd of opset 17 takes axes as an attribute; int32 is computed as int64.
		in := b.op("Cast", name+"_i64", []string{x.name}, aInt("to", int64(ir.Int64)))
		y := b.op("ReduceProd", name+"_prod", []string{in}, aInts("axes", axes...), aInt("keepdims", kd))
		return []kval{{name: b.op("Cast", name, []string{y}, aInt("to", int64(x.dtype))), rank: r, dtype: x.dtype}}, nil
	case "StridedSlice":
		return im.stridedSlice(n, ins, unsupported)
	case "ReverseV2":
		// go_backwards and Bidirectional RNNs reverse the time axis: a Slice with step -1.
		ax := im.constOf(ins[1])
		if ax == nil {
			return nil, unsupported("axis is not constant")
		}
		av, _ := ax.Float32s()
		x = b.toCL(x)
		y := x.name
		for i, a := range av {
			y = b.op("Slice", fmt.Sprintf("%s_%d", name, i), []string{y, b.constI(name+"_starts", -1), b.constI(name+"_ends", math.MinInt64),
				b.constI(name+"_axes", int64(a)), b.constI(name+"_steps", -1)})
		}
		return []kval{{name: y, rank: x.rank, dtype: x.dtype}}, nil
	case "Fill":
		// Fill(dims, value): the zero states Keras' RNNs start from.
		if len(ins) != 2 {
			return nil, unsupported("%d inputs", len(ins))
		}
		r, ok := im.length1D(ins[0])
		if !ok {
			return nil, unsupported("dims of unknown length")
		}
		dims := b.op("Cast", name+"_dims", []string{ins[0].name}, aInt("to", int64(ir.Int64)))
		v := b.toCL(ins[1])
		return []kval{{name: b.op("Expand", name, []string{v.name, dims}), rank: r, dtype: v.dtype}}, nil
	case "FusedBatchNormV3", "FusedBatchNorm":
		// Inference form: y = (x − mean)·scale/√(variance + ε) + offset on the channel axis.
		if len(ins) < 5 {
			return nil, unsupported("%d inputs", len(ins))
		}
		eps := attrF(n, "epsilon")
		if _, set := n.attrs["epsilon"]; !set {
			eps = 1e-4 // TensorFlow's default
		}
		if _, set := n.attrs["is_training"]; !set || attrB(n, "is_training") { // the op's default is training
			return im.batchNormTraining(n, ins, eps, unsupported)
		}
		if attrS(n, "data_format") == "NCHW" {
			return nil, unsupported("the inference form on NCHW input")
		}
		var params []string
		for i, v := range ins[1:5] {
			t := im.constOf(v)
			if t == nil || len(t.Shape) != 1 {
				return nil, unsupported("input %d is not a constant vector", i+1)
			}
			params = append(params, v.name)
		}
		if x.rank == 4 || x.rank == 3 {
			x = b.toCF(x)
		}
		if !x.cf && x.rank != 2 {
			return nil, unsupported("input of rank %d", x.rank)
		}
		y := b.op("BatchNormalization", name, append([]string{x.name}, params...), aFloat("epsilon", eps))
		return []kval{b.same(x, y)}, nil
	case "ResizeBilinear", "ResizeNearestNeighbor":
		return im.resize(n, ins, unsupported)
	case "Pack":
		var parts []string
		for i, v := range ins {
			v = b.toCL(v)
			if v.dtype != ins[0].dtype {
				return nil, unsupported("mixed dtypes")
			}
			parts = append(parts, b.op("Unsqueeze", fmt.Sprintf("%s_%d", name, i), []string{v.name, b.constI(fmt.Sprintf("%s_ax%d", name, i), attrI(n, "axis"))}))
		}
		y := b.op("Concat", name, parts, aInt("axis", attrI(n, "axis")))
		if ins[0].rank == 0 {
			im.packLen[y] = len(ins)
		}
		return []kval{{name: y, rank: ins[0].rank + 1, dtype: ins[0].dtype}}, nil
	case "Pad":
		p := im.constOf(ins[1])
		if p == nil || len(p.Shape) != 2 {
			return nil, unsupported("paddings are not constant")
		}
		pv, _ := p.Float32s()
		r := int(p.Shape[0])
		pads := make([]int64, 2*r)
		if x.cf && r == x.rank {
			// Keras order (N, spatial..., C) → channels-first (N, C, spatial...).
			perm := cfPerm(r)
			for i, k := range perm {
				pads[i], pads[r+i] = int64(pv[2*k]), int64(pv[2*k+1])
			}
		} else {
			x = b.toCL(x)
			for i := 0; i < r; i++ {
				pads[i], pads[r+i] = int64(pv[2*i]), int64(pv[2*i+1])
			}
		}
		return []kval{b.same(x, b.op("Pad", name, []string{x.name, b.constI(name+"_pads", pads...)}))}, nil
	case "ConcatV2":
		ax := im.constOf(ins[len(ins)-1])
		if ax == nil {
			return nil, unsupported("axis is not constant")
		}
		av, _ := ax.Float32s()
		parts := ins[:len(ins)-1]
		if parts[0].rank == 1 {
			// 1-D (shapes, perms): folded when all parts are constants, else its
			// length recorded when each part's is known.
			var all []int64
			total, known, folded := 0, true, parts[0].dtype == ir.Int32 || parts[0].dtype == ir.Int64
			for _, p := range parts {
				l, ok := im.length1D(p)
				total += l
				known = known && ok
				if t := im.constOf(p); t != nil && folded {
					v, _ := t.Float32s()
					for _, x := range v {
						all = append(all, int64(x))
					}
				} else {
					folded = false
				}
			}
			if folded {
				y := b.constI(name, all...)
				if parts[0].dtype == ir.Int32 {
					t, _ := ir.NewTensor(b.fresh(name+"_i32"), ir.Int32, []int64{int64(len(all))}, i32Bytes(all))
					b.g.Initializers = append(b.g.Initializers, t)
					y = t.Name
				}
				return []kval{{name: y, rank: 1, dtype: parts[0].dtype}}, nil
			}
			var names []string
			for _, p := range parts {
				names = append(names, p.name)
			}
			y := b.op("Concat", name, names, aInt("axis", 0))
			if known {
				im.packLen[y] = total
			}
			return []kval{{name: y, rank: 1, dtype: parts[0].dtype}}, nil
		}
		c := &layerConfig{Axis: float64(av[0])}
		v, err := b.concat(name, c, parts)
		if err != nil {
			return nil, err
		}
		return []kval{v}, nil
	case "Split", "SplitV":
		return im.split(n, name, ins, unsupported)
	case "Cast":
		to := map[uint64]ir.DType{dtFloat: ir.Float32, dtInt32: ir.Int32, dtInt64: ir.Int64}[attrI2(n, "DstT", 6)]
		if to == ir.Undefined {
			return nil, unsupported("to dtype %d", attrI2(n, "DstT", 6))
		}
		y := b.op("Cast", name, []string{x.name}, aInt("to", int64(to)))
		return []kval{{name: y, rank: x.rank, cf: x.cf, dtype: to}}, nil
	case "TensorListStack":
		// The output list of a recurrent loop, already stacked (time, batch, units).
		return []kval{x}, nil
	case "NoOp":
		return nil, nil
	}
	return nil, unsupported("no mapping to the IR")
}

// length1D is the number of elements of a 1-D tensor, when known: a constant's, or
// one recorded by the op that made it (Pack, Shape, GatherV2, ConcatV2).
func (im *importer) length1D(v kval) (int, bool) {
	if t := im.constOf(v); t != nil && len(t.Shape) == 1 {
		return int(t.Shape[0]), true
	}
	n, ok := im.packLen[v.name]
	return n, ok
}

// channelVector reshapes a per-channel vector to (C, 1, ...) for a channels-first tensor
// of the given rank.
func (im *importer) channelVector(v kval, rank int) kval {
	axes := []int64{}
	for i := 1; i < rank-1; i++ {
		axes = append(axes, int64(i))
	}
	y := im.b.op("Unsqueeze", v.name+"_cf", []string{v.name, im.b.constI(v.name+"_cf_axes", axes...)})
	return kval{name: y, rank: rank - 1, dtype: v.dtype}
}

func float32frombits(b uint32) float32 { return math.Float32frombits(b) }

func mustMarshal(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// dropUnused removes the initializers no node reads (the variables' TensorFlow layouts,
// once converted; the constants of ops folded away).
func dropUnused(g *ir.Graph) {
	used := map[string]bool{}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			used[in] = true
		}
	}
	for _, o := range g.Outputs {
		used[o.Name] = true
	}
	kept := g.Initializers[:0]
	for _, t := range g.Initializers {
		if used[t.Name] {
			kept = append(kept, t)
		}
	}
	g.Initializers = kept
}

// stridedSlice maps a StridedSlice with constant begin, end and strides onto Slice, and
// Squeeze for the axes shrink_axis_mask drops. Ellipsis and new axes are not read.
func (im *importer) stridedSlice(n *tfNodeDef, ins []kval, unsupported func(string, ...any) error) ([]kval, error) {
	b, name := im.b, n.name
	if len(ins) != 4 {
		return nil, unsupported("%d inputs", len(ins))
	}
	x := b.toCL(ins[0])
	bg, en, st := im.constOf(ins[1]), im.constOf(ins[2]), im.constOf(ins[3])
	if bg == nil || en == nil || st == nil || len(bg.Shape) != 1 || len(en.Shape) != 1 || len(st.Shape) != 1 {
		return nil, unsupported("begin, end and strides are not constant vectors")
	}
	if attrI(n, "ellipsis_mask") != 0 || attrI(n, "new_axis_mask") != 0 {
		return nil, unsupported("ellipsis_mask and new_axis_mask are not supported")
	}
	bv, _ := bg.Float32s()
	ev, _ := en.Float32s()
	sv, _ := st.Float32s()
	k := len(bv)
	if len(ev) != k || len(sv) != k || k > x.rank || k == 0 {
		return nil, unsupported("%d begin, %d end, %d strides for a tensor of rank %d", k, len(ev), len(sv), x.rank)
	}
	beginMask, endMask, shrinkMask := attrI(n, "begin_mask"), attrI(n, "end_mask"), attrI(n, "shrink_axis_mask")
	starts, ends, axes, steps, shrink := make([]int64, k), make([]int64, k), make([]int64, k), make([]int64, k), []int64{}
	for i := 0; i < k; i++ {
		start, end, step := int64(bv[i]), int64(ev[i]), int64(sv[i])
		if step == 0 {
			return nil, unsupported("stride 0")
		}
		// A masked bound is the whole axis in the step's direction.
		if beginMask&(1<<i) != 0 {
			start = 0
			if step < 0 {
				start = math.MaxInt64
			}
		}
		if endMask&(1<<i) != 0 {
			end = math.MaxInt64
			if step < 0 {
				end = math.MinInt64
			}
		}
		if shrinkMask&(1<<i) != 0 {
			// One element at begin; end is ignored (begin −1 reads to the end).
			step, end = 1, start+1
			if start == -1 {
				end = math.MaxInt64
			}
			shrink = append(shrink, int64(i))
		}
		starts[i], ends[i], axes[i], steps[i] = start, end, int64(i), step
	}
	y := b.op("Slice", name+"_slice", []string{x.name, b.constI(name+"_starts", starts...), b.constI(name+"_ends", ends...),
		b.constI(name+"_axes", axes...), b.constI(name+"_steps", steps...)})
	if x.rank == 1 && len(shrink) == 0 {
		// A piece of a shape: its length, when known, for Reshape and Fill.
		if l, ok := im.length1D(x); ok && steps[0] == 1 {
			lo, hi := starts[0], ends[0]
			if lo < 0 {
				lo += int64(l)
			}
			if hi < 0 {
				hi += int64(l)
			}
			lo, hi = max(0, min(lo, int64(l))), max(0, min(hi, int64(l)))
			im.packLen[y] = int(max(0, hi-lo))
		}
	}
	if len(shrink) > 0 {
		y = b.op("Squeeze", name, []string{y, b.constI(name+"_sq", shrink...)})
	}
	return []kval{{name: y, rank: x.rank - len(shrink), dtype: x.dtype}}, nil
}

// resize maps ResizeBilinear and ResizeNearestNeighbor (NHWC images, a constant output
// size) onto Resize, with the coordinate rule each align_corners / half_pixel_centers
// setting gives in TensorFlow.
func (im *importer) resize(n *tfNodeDef, ins []kval, unsupported func(string, ...any) error) ([]kval, error) {
	b, name := im.b, n.name
	if len(ins) != 2 || ins[0].rank != 4 || ins[1].rank != 1 {
		return nil, unsupported("only 4-D images and a (height, width) size")
	}
	align, half := attrB(n, "align_corners"), attrB(n, "half_pixel_centers")
	if align && half {
		return nil, unsupported("align_corners and half_pixel_centers together")
	}
	var attrs []*ir.Attribute
	switch {
	case n.op == "ResizeBilinear" && align:
		attrs = []*ir.Attribute{aString("mode", "linear"), aString("coordinate_transformation_mode", "align_corners")}
	case n.op == "ResizeBilinear" && half:
		attrs = []*ir.Attribute{aString("mode", "linear"), aString("coordinate_transformation_mode", "half_pixel")}
	case n.op == "ResizeBilinear":
		attrs = []*ir.Attribute{aString("mode", "linear"), aString("coordinate_transformation_mode", "asymmetric")}
	case align: // round(out·(in−1)/(out−1)), halves away from zero
		attrs = []*ir.Attribute{aString("mode", "nearest"), aString("coordinate_transformation_mode", "align_corners"), aString("nearest_mode", "round_prefer_ceil")}
	case half: // floor((out+½)·in/out), which is half_pixel's (out+½)·in/out − ½ rounded half up
		attrs = []*ir.Attribute{aString("mode", "nearest"), aString("coordinate_transformation_mode", "half_pixel"), aString("nearest_mode", "round_prefer_ceil")}
	default: // floor(out·in/out)
		attrs = []*ir.Attribute{aString("mode", "nearest"), aString("coordinate_transformation_mode", "asymmetric"), aString("nearest_mode", "floor")}
	}
	x := b.toCF(ins[0])
	// sizes = (N, C) of the input, then (H, W): constant (Resizing) or computed from
	// the input's shape (tf_keras' UpSampling2D).
	hw := b.op("Cast", name+"_hw", []string{b.toCL(ins[1]).name}, aInt("to", int64(ir.Int64)))
	if size := im.constOf(ins[1]); size != nil && ir.NumElements(size.Shape) == 2 {
		sv, _ := size.Float32s()
		hw = b.constI(name+"_hw", int64(sv[0]), int64(sv[1]))
	}
	shape := b.op("Shape", name+"_shape", []string{x.name})
	nc := b.op("Slice", name+"_nc", []string{shape, b.constI(name+"_nc_starts", 0), b.constI(name+"_nc_ends", 2)})
	sizes := b.op("Concat", name+"_sizes", []string{nc, hw}, aInt("axis", 0))
	return []kval{b.same(x, b.op("Resize", name, []string{x.name, "", "", sizes}, attrs...))}, nil
}

// batchNormTraining maps FusedBatchNorm in its training form, which normalises by the
// batch's own statistics: tf_keras' LayerNormalization runs it on its input reshaped to
// (1, rows, features, 1) NCHW, so that each row is normalised over its features. Only
// the normalised output is given (the batch statistics are not read at inference).
func (im *importer) batchNormTraining(n *tfNodeDef, ins []kval, eps float32, unsupported func(string, ...any) error) ([]kval, error) {
	b, name := im.b, n.name
	x := b.toCL(ins[0])
	if x.rank != 4 {
		return nil, unsupported("input of rank %d", x.rank)
	}
	channel, vec := int64(3), []int64{}
	if attrS(n, "data_format") == "NCHW" {
		channel, vec = 1, []int64{1, 2}
	}
	var axes []int64
	for a := int64(0); a < 4; a++ {
		if a != channel {
			axes = append(axes, a)
		}
	}
	mean := b.op("ReduceMean", name+"_mean", []string{x.name}, aInts("axes", axes...), aInt("keepdims", 1))
	d := b.op("Sub", name+"_centered", []string{x.name, mean})
	v := b.op("ReduceMean", name+"_variance", []string{b.op("Mul", name+"_squared", []string{d, d})}, aInts("axes", axes...), aInt("keepdims", 1))
	std := b.op("Sqrt", name+"_std", []string{b.op("Add", name+"_var_eps", []string{v, b.scalarF(name+"_eps", eps)})})
	y := b.op("Div", name+"_normalized", []string{d, std})
	// scale and offset broadcast on the channel axis.
	perChannel := func(p kval, label string) string {
		p = b.toCL(p)
		if len(vec) == 0 {
			return p.name
		}
		return b.op("Unsqueeze", name+"_"+label, []string{p.name, b.constI(name+"_"+label+"_axes", vec...)})
	}
	y = b.op("Mul", name+"_scaled", []string{y, perChannel(ins[1], "scale")})
	y = b.op("Add", name, []string{y, perChannel(ins[2], "offset")})
	return []kval{{name: y, rank: 4, dtype: x.dtype}}, nil
}

// dilatedConv reads TensorFlow's lowering of a dilated convolution,
// BatchToSpaceND(conv(SpaceToBatchND(x, block, paddings)), block, crops), with an
// optional ExpandDims/Squeeze pair around a Conv1D's Conv2D, as what it computes: the
// same convolution with dilations = block on x padded by paddings, cropped by crops.
func (im *importer) dilatedConv(sc *scope, n *tfNodeDef, unsupported func(string, ...any) error) ([]kval, error) {
	b := im.b
	if len(n.inputs) < 3 {
		return nil, unsupported("%d inputs", len(n.inputs))
	}
	node := func(in string) *tfNodeDef {
		r, err := im.parseRef(sc, in, sc.fn == nil)
		if err != nil || r.sc != sc || r.idx != 0 {
			return nil
		}
		return sc.nodes[r.node]
	}
	constInput := func(in string) []float32 {
		r, err := im.parseRef(sc, in, sc.fn == nil)
		if err != nil {
			return nil
		}
		v, err := im.value(r)
		if err != nil {
			return nil
		}
		t := im.constOf(v)
		if t == nil {
			return nil
		}
		f, _ := t.Float32s()
		return f
	}
	conv := node(n.inputs[0])
	if conv != nil && conv.op == "Squeeze" && len(conv.inputs) > 0 {
		conv = node(conv.inputs[0])
	}
	if conv == nil || (conv.op != "Conv2D" && conv.op != "DepthwiseConv2dNative") || len(conv.inputs) < 2 {
		return nil, unsupported("only the lowering of a dilated convolution is read")
	}
	s2b := node(conv.inputs[0])
	if s2b != nil && s2b.op == "ExpandDims" && len(s2b.inputs) > 0 {
		s2b = node(s2b.inputs[0])
	}
	if s2b == nil || s2b.op != "SpaceToBatchND" || len(s2b.inputs) < 3 {
		return nil, unsupported("no SpaceToBatchND before the convolution %s", conv.name)
	}
	block, paddings, crops := constInput(n.inputs[1]), constInput(s2b.inputs[2]), constInput(n.inputs[2])
	k := len(block)
	if k == 0 || k > 2 || !slices.Equal(block, constInput(s2b.inputs[1])) || len(paddings) != 2*k || len(crops) != 2*k {
		return nil, unsupported("block shape, paddings and crops are not matching constants")
	}
	for _, v := range append(attrList(conv, "strides"), attrList(conv, "dilations")...) {
		if v != 1 {
			return nil, unsupported("the inner convolution %s is strided or dilated", conv.name)
		}
	}
	if attrS(conv, "padding") != "VALID" {
		return nil, unsupported("the inner convolution %s pads", conv.name)
	}
	// x padded as SpaceToBatchND pads it, standing in for SpaceToBatchND's output.
	xr, err := im.parseRef(sc, s2b.inputs[0], sc.fn == nil)
	if err != nil {
		return nil, err
	}
	x, err := im.value(xr)
	if err != nil {
		return nil, err
	}
	x = b.toCL(x)
	if x.rank != k+2 {
		return nil, unsupported("input of rank %d for %d spatial axes", x.rank, k)
	}
	pads := make([]int64, 2*x.rank)
	for i := 0; i < k; i++ {
		pads[1+i], pads[x.rank+1+i] = int64(paddings[2*i]), int64(paddings[2*i+1])
	}
	padded := kval{name: b.op("Pad", s2b.name, []string{x.name, b.constI(s2b.name+"_pads", pads...)}), rank: x.rank, dtype: x.dtype}
	im.vals[ref{sc: sc, node: s2b.name}.key()] = padded
	// The convolution again, dilated by the block (a Conv1D's block is on its W axis).
	dil := []int64{1, 1, 1, 1}
	if k == 1 {
		dil[2] = int64(block[0])
	} else {
		dil[1], dil[2] = int64(block[0]), int64(block[1])
	}
	dilated := *conv
	dilated.attrs = maps.Clone(conv.attrs)
	dilated.attrs["dilations"] = intListAttr(dil)
	outs, err := im.convert(sc, &dilated)
	if err != nil {
		return nil, err
	}
	im.vals[ref{sc: sc, node: conv.name}.key()] = outs[0]
	r, err := im.parseRef(sc, n.inputs[0], sc.fn == nil)
	if err != nil {
		return nil, err
	}
	y, err := im.value(r)
	if err != nil {
		return nil, err
	}
	// BatchToSpaceND's crops, on the spatial axes of y's layout.
	var starts, ends, axes []int64
	for i := 0; i < k; i++ {
		lo, hi := int64(crops[2*i]), int64(crops[2*i+1])
		if lo == 0 && hi == 0 {
			continue
		}
		end := -hi
		if hi == 0 {
			end = math.MaxInt64
		}
		ax := int64(1 + i)
		if y.cf {
			ax = int64(2 + i)
		}
		starts, ends, axes = append(starts, lo), append(ends, end), append(axes, ax)
	}
	if len(axes) == 0 {
		return []kval{b.same(y, b.op("Identity", n.name, []string{y.name}))}, nil
	}
	return []kval{b.same(y, b.op("Slice", n.name, []string{y.name, b.constI(n.name+"_starts", starts...), b.constI(n.name+"_ends", ends...), b.constI(n.name+"_axes", axes...)}))}, nil
}

// intListAttr encodes an AttrValue holding list(int).
func intListAttr(v []int64) []byte {
	var packed []byte
	for _, x := range v {
		packed = protowire.AppendVarint(packed, uint64(x))
	}
	list := protowire.AppendBytes(protowire.AppendTag(nil, 3, protowire.BytesType), packed)
	return protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), list)
}

// split maps Split (inputs: axis, value; num_split equal parts) and SplitV (inputs:
// value, sizes, axis) onto ONNX Split at opset 17, which splits into equal parts when no
// sizes are given. The value is taken in TensorFlow's channels-last order, so the axis
// needs no translation.
func (im *importer) split(n *tfNodeDef, name string, ins []kval, unsupported func(string, ...any) error) ([]kval, error) {
	b := im.b
	if len(ins) != 3 && !(n.op == "Split" && len(ins) == 2) {
		return nil, unsupported("%d inputs", len(ins))
	}
	x, axisIn, sizesIn := ins[0], ins[len(ins)-1], kval{}
	if n.op == "Split" {
		axisIn, x = ins[0], ins[1]
	} else {
		sizesIn = ins[1]
	}
	at := im.constOf(axisIn)
	if at == nil || at.NumElements() != 1 {
		return nil, unsupported("the axis is not a constant scalar")
	}
	av, _ := at.Float32s()
	ax := int64(av[0])
	if ax < 0 {
		ax += int64(x.rank)
	}
	if ax < 0 || ax >= int64(x.rank) {
		return nil, unsupported("axis %d for a value of rank %d", int64(av[0]), x.rank)
	}
	x = b.toCL(x)
	inputs := []string{x.name}
	var parts int64
	if n.op == "Split" {
		parts = attrI(n, "num_split")
	} else {
		st := im.constOf(sizesIn)
		if st == nil {
			return nil, unsupported("the sizes are not constant")
		}
		sv, _ := st.Float32s()
		sizes := make([]int64, len(sv))
		for i, s := range sv {
			if s < 0 {
				return nil, unsupported("a size of %v (the rest of the axis) is not supported", s)
			}
			sizes[i] = int64(s)
		}
		parts = int64(len(sizes))
		inputs = append(inputs, b.constI(name+"_sizes", sizes...))
	}
	// num_split comes from the file: bounded before it sizes anything.
	if parts < 1 || parts > 1<<16 {
		return nil, unsupported("%d parts", parts)
	}
	outs := b.opN("Split", name, inputs, int(parts), aInt("axis", ax))
	vals := make([]kval, len(outs))
	for i, o := range outs {
		vals[i] = b.same(x, o)
	}
	return vals, nil
}

package tf

// The TF2 side of SavedModel export, laid out as tf.saved_model.save does for a module
// with variables: the serving computation is a function in the graph's library whose
// weights are resource arguments (ReadVariableOp), bound to SavedVariable objects of the
// SavedObjectGraph; the variables' values live in variables/ under the checkpoint's own
// object graph (_CHECKPOINTABLE_OBJECT_GRAPH). The MetaGraphDef's graph calls that
// function on VarHandleOps and carries a SaverDef with RestoreV2/AssignVariableOp ops,
// so TF1-style loaders (saved_model_cli run, tf.compat.v1 sessions) restore the same
// variables.

import (
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/modelc/modelc/engine/ir"
)

const dtResource = 20

// outputArg names the first output argument of each op the exporter writes: inside a
// FunctionDef a node's output is spelled "node:arg:index" (RestoreV2's outputs are one
// list argument, indexed within it).
var outputArg = map[string]string{
	"Const": "output", "Identity": "output", "ReadVariableOp": "value",
	"Transpose": "y", "Cast": "y", "Square": "y", "Rsqrt": "y", "Sigmoid": "y", "Tanh": "y", "Exp": "y",
	"Log": "y", "Sqrt": "y", "Neg": "y", "Abs": "y", "Erf": "y", "Reciprocal": "y", "Floor": "y", "Ceil": "y",
	"AddV2": "z", "Sub": "z", "Mul": "z", "RealDiv": "z", "Maximum": "z", "Minimum": "z", "Pow": "z",
	"Less": "z", "Greater": "z", "Equal": "z", "FloorDiv": "z", "FloorMod": "z", "TruncateDiv": "z",
	"Relu": "activations", "LeakyRelu": "activations", "Elu": "activations", "Selu": "activations",
	"Softplus": "activations", "Softsign": "activations", "Relu6": "activations",
	"MatMul": "product", "Softmax": "softmax", "LogSoftmax": "logsoftmax",
	"Conv2D": "output", "DepthwiseConv2dNative": "output", "BiasAdd": "output", "MaxPool": "output",
	"AvgPool": "output", "Mean": "output", "Max": "output", "Min": "output", "Sum": "output", "Prod": "output",
	"Reshape": "output", "BatchMatMulV2": "output", "Pad": "output", "GatherV2": "output", "ConcatV2": "output",
	"Shape": "output", "StridedSlice": "output", "Split": "output", "SplitV": "output", "Unpack": "output",
	"RestoreV2": "tensors", "While": "output", "TensorListReserve": "handle", "TensorListSetItem": "output_handle",
	"TensorListStack": "tensor", "ReverseV2": "output", "Conv2DBackpropInput": "output",
	"ResizeNearestNeighbor": "resized_images", "ResizeBilinear": "resized_images", "Pack": "output", "Fill": "output", "Range": "output", "BroadcastTo": "output", "ExpandDims": "output",
	"Squeeze": "output", "Slice": "output", "SelectV2": "output", "Tile": "output",
}

// sigTensor is one input or output of the serving signature.
type sigTensor struct {
	key   string // the signature's name for it (the ONNX value's name)
	node  string // the function-graph node (a Placeholder for inputs, an Identity for outputs)
	dtype uint64
	dims  []int64 // nil: unknown rank
}

// tfVar is one variable: the VarHandleOp node that stands for its resource argument in
// the function graph, and its value.
type tfVar struct {
	node  string
	value *ir.Tensor
}

func checkpointKey(v tfVar) string { return v.node + "/.ATTRIBUTES/VARIABLE_VALUE" }

// argName turns a node name into a FunctionDef argument name ([a-z][a-z0-9_]*).
func argName(name string, used map[string]bool) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	base := b.String()
	if base == "" || base[0] < 'a' || base[0] > 'z' {
		base = "arg_" + base
	}
	s := base
	for i := 1; used[s]; i++ {
		s = fmt.Sprintf("%s_%d", base, i)
	}
	used[s] = true
	return s
}

// functionDef turns the exporter's nodes into a FunctionDef: the Placeholders of ins and
// the VarHandleOps of vars become its arguments, in that order, and the nodes of outs
// its results.
func functionDef(name string, nodes []tfNode, ins []sigTensor, vars []tfVar, outs []sigTensor, file string) ([]byte, error) {
	used := map[string]bool{}
	for _, n := range nodes {
		used[strings.ToLower(n.name)] = true
	}
	args := map[string]string{} // node → argument
	var sig []byte
	sig = protowire.AppendTag(sig, 1, protowire.BytesType)
	sig = protowire.AppendString(sig, name)
	argDef := func(field protowire.Number, name string, dtype uint64) {
		var a []byte
		a = protowire.AppendTag(a, 1, protowire.BytesType)
		a = protowire.AppendString(a, name)
		a = protowire.AppendTag(a, 3, protowire.VarintType)
		a = protowire.AppendVarint(a, dtype)
		sig = protowire.AppendTag(sig, field, protowire.BytesType)
		sig = protowire.AppendBytes(sig, a)
	}
	for _, in := range ins {
		args[in.node] = argName(in.key, used)
		argDef(2, args[in.node], in.dtype)
	}
	for _, v := range vars {
		args[v.node] = argName(v.node+"_resource", used)
		argDef(2, args[v.node], dtResource)
	}
	outArg := make([]string, len(outs))
	for i, o := range outs {
		outArg[i] = fmt.Sprintf("output_%d", i)
		argDef(3, outArg[i], o.dtype)
	}
	sig = protowire.AppendTag(sig, 17, protowire.VarintType) // is_stateful: it reads variables
	sig = protowire.AppendVarint(sig, 1)

	opOf := map[string]string{}
	for _, n := range nodes {
		opOf[n.name] = n.op
	}
	// ref spells a GraphDef input ("node", "node:k", "^node") the FunctionDef way.
	ref := func(in string) (string, error) {
		if strings.HasPrefix(in, "^") {
			return in, nil
		}
		node, index := in, "0"
		if i := strings.LastIndexByte(in, ':'); i >= 0 {
			node, index = in[:i], in[i+1:]
		}
		if a, ok := args[node]; ok {
			return a, nil
		}
		arg, ok := outputArg[opOf[node]]
		if !ok {
			return "", ir.Errorf(ir.KindInternal, file, "SavedModel function: output of op %s (node %q) unknown", opOf[node], node)
		}
		return node + ":" + arg + ":" + index, nil
	}
	var fd []byte
	fd = protowire.AppendTag(fd, 1, protowire.BytesType)
	fd = protowire.AppendBytes(fd, sig)
	for _, n := range nodes {
		if _, isArg := args[n.name]; isArg {
			continue
		}
		m := n
		m.inputs = make([]string, len(n.inputs))
		for i, in := range n.inputs {
			r, err := ref(in)
			if err != nil {
				return nil, err
			}
			m.inputs[i] = r
		}
		fd = protowire.AppendTag(fd, 3, protowire.BytesType)
		fd = protowire.AppendBytes(fd, nodeDef(m))
	}
	for i, o := range outs {
		r, err := ref(o.node)
		if err != nil {
			return nil, err
		}
		var e []byte
		e = protowire.AppendTag(e, 1, protowire.BytesType)
		e = protowire.AppendString(e, outArg[i])
		e = protowire.AppendTag(e, 2, protowire.BytesType)
		e = protowire.AppendString(e, r)
		fd = protowire.AppendTag(fd, 4, protowire.BytesType)
		fd = protowire.AppendBytes(fd, e)
	}
	return fd, nil
}

func nodeDef(n tfNode) []byte {
	var nd []byte
	nd = protowire.AppendTag(nd, 1, protowire.BytesType)
	nd = protowire.AppendString(nd, n.name)
	nd = protowire.AppendTag(nd, 2, protowire.BytesType)
	nd = protowire.AppendString(nd, n.op)
	for _, in := range n.inputs {
		nd = protowire.AppendTag(nd, 3, protowire.BytesType)
		nd = protowire.AppendString(nd, in)
	}
	for _, a := range n.attrs {
		nd = protowire.AppendTag(nd, 5, protowire.BytesType)
		nd = protowire.AppendBytes(nd, mapEntry(a.name, a.value))
	}
	return nd
}

func attrTypes(name string, ts ...uint64) tfAttr {
	var l []byte
	for _, t := range ts {
		l = protowire.AppendTag(l, 6, protowire.VarintType)
		l = protowire.AppendVarint(l, t)
	}
	return tfAttr{name, protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), l)}
}

func attrFuncName(name, fn string) tfAttr {
	f := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), fn)
	return tfAttr{name, protowire.AppendBytes(protowire.AppendTag(nil, 10, protowire.BytesType), f)}
}

func constStrings(name string, ss []string) tfNode {
	var t []byte
	t = protowire.AppendTag(t, 1, protowire.VarintType)
	t = protowire.AppendVarint(t, dtString)
	t = protowire.AppendTag(t, 2, protowire.BytesType)
	t = protowire.AppendBytes(t, shapeProto([]int64{int64(len(ss))}))
	for _, s := range ss {
		t = protowire.AppendTag(t, 8, protowire.BytesType) // string_val
		t = protowire.AppendString(t, s)
	}
	return tfNode{name: name, op: "Const", attrs: []tfAttr{attrType("dtype", dtString), {"value", protowire.AppendBytes(protowire.AppendTag(nil, 8, protowire.BytesType), t)}}}
}

// mainGraph is the MetaGraphDef's own graph: the signature's Placeholders and the
// variables' VarHandleOps feed one StatefulPartitionedCall of the serving function, and
// the saver's ops save and restore the variables by their checkpoint keys.
func mainGraph(fn string, ins []sigTensor, vars []tfVar, outs []sigTensor) (nodes []tfNode, sigIn, sigOut [][]byte) {
	var callIn []string
	var tin, tout, vtypes []uint64
	for _, in := range ins {
		name := "serving_default_" + in.node
		nodes = append(nodes, tfNode{name: name, op: "Placeholder", attrs: []tfAttr{attrType("dtype", in.dtype), attrShape("shape", in.dims)}})
		callIn = append(callIn, name)
		tin = append(tin, in.dtype)
		sigIn = append(sigIn, tensorInfo(in.key, name+":0", in.dtype, in.dims))
	}
	var keys []string
	for _, v := range vars {
		dt, _ := tfDType(v.value.DType)
		nodes = append(nodes, tfNode{name: v.node, op: "VarHandleOp", attrs: []tfAttr{attrType("dtype", dt), attrShape("shape", v.value.Shape),
			attrStr("shared_name", v.node), attrStr("container", "")}})
		callIn = append(callIn, v.node)
		tin = append(tin, dtResource)
		vtypes = append(vtypes, dt)
		keys = append(keys, checkpointKey(v))
	}
	for i, o := range outs {
		tout = append(tout, o.dtype)
		sigOut = append(sigOut, tensorInfo(o.key, fmt.Sprintf("StatefulPartitionedCall:%d", i), o.dtype, o.dims))
	}
	nodes = append(nodes, tfNode{name: "StatefulPartitionedCall", op: "StatefulPartitionedCall", inputs: callIn,
		attrs: []tfAttr{attrTypes("Tin", tin...), attrTypes("Tout", tout...), attrFuncName("f", fn), attrStr("config", ""), attrStr("config_proto", ""), attrStr("executor_type", "")}})

	if len(vars) == 0 {
		return nodes, sigIn, sigOut // no saver: SaveV2 and RestoreV2 need a tensor
	}
	// The saver: saver_filename is the checkpoint prefix, fed by the loader.
	nodes = append(nodes, tfNode{name: "saver_filename", op: "Placeholder", attrs: []tfAttr{attrType("dtype", dtString), attrShape("shape", []int64{})}})
	whole := make([]string, len(vars)) // "" shape_and_slice: each variable whole
	nodes = append(nodes, constStrings("save/tensor_names", keys), constStrings("save/shape_and_slices", whole))
	saveIn := []string{"saver_filename", "save/tensor_names", "save/shape_and_slices"}
	for i, v := range vars {
		read := fmt.Sprintf("save/read_%d", i)
		nodes = append(nodes, tfNode{name: read, op: "ReadVariableOp", inputs: []string{v.node}, attrs: []tfAttr{attrType("dtype", vtypes[i])}})
		saveIn = append(saveIn, read)
	}
	restoreIn := append([]string{"saver_filename"}, callIn[len(ins):]...)
	restoreTin := append([]uint64{dtString}, tin[len(ins):]...)
	nodes = append(nodes,
		tfNode{name: "save/SaveV2", op: "SaveV2", inputs: saveIn, attrs: []tfAttr{attrTypes("dtypes", vtypes...)}},
		tfNode{name: "save/control_dependency", op: "Identity", inputs: []string{"saver_filename", "^save/SaveV2"}, attrs: []tfAttr{attrType("T", dtString)}},
		tfNode{name: "StatefulPartitionedCall_restore", op: "StatefulPartitionedCall", inputs: restoreIn,
			attrs: []tfAttr{attrTypes("Tin", restoreTin...), attrTypes("Tout", dtString), attrFuncName("f", restoreFunction), attrStr("config", ""), attrStr("config_proto", ""), attrStr("executor_type", "")}})
	return nodes, sigIn, sigOut
}

const restoreFunction = "__inference__traced_restore"

// restoreFunctionDef is the function the saver's restore op calls, as TensorFlow writes
// it: RestoreV2 reads each checkpoint key and AssignVariableOp stores it in the
// variable's resource argument.
func restoreFunctionDef(vars []tfVar, file string) ([]byte, error) {
	var keys []string
	var vtypes []uint64
	nodes := []tfNode{{name: "file_prefix", op: "Placeholder"}}
	for _, v := range vars {
		dt, _ := tfDType(v.value.DType)
		vtypes = append(vtypes, dt)
		keys = append(keys, checkpointKey(v))
		nodes = append(nodes, tfNode{name: v.node, op: "VarHandleOp"})
	}
	nodes = append(nodes, constStrings("RestoreV2/tensor_names", keys), constStrings("RestoreV2/shape_and_slices", make([]string, len(vars))),
		tfNode{name: "RestoreV2", op: "RestoreV2", inputs: []string{"file_prefix", "RestoreV2/tensor_names", "RestoreV2/shape_and_slices"}, attrs: []tfAttr{attrTypes("dtypes", vtypes...)}})
	done := tfNode{name: "Identity", op: "Identity", inputs: []string{"file_prefix"}, attrs: []tfAttr{attrType("T", dtString)}}
	for i, v := range vars {
		value := fmt.Sprintf("Identity_%d", i)
		assign := fmt.Sprintf("AssignVariableOp_%d", i)
		nodes = append(nodes,
			tfNode{name: value, op: "Identity", inputs: []string{fmt.Sprintf("RestoreV2:%d", i)}, attrs: []tfAttr{attrType("T", vtypes[i])}},
			tfNode{name: assign, op: "AssignVariableOp", inputs: []string{v.node, value}, attrs: []tfAttr{attrType("dtype", vtypes[i])}})
		done.inputs = append(done.inputs, "^"+assign)
	}
	nodes = append(nodes, done)
	return functionDef(restoreFunction, nodes, []sigTensor{{key: "file_prefix", node: "file_prefix", dtype: dtString}}, vars,
		[]sigTensor{{key: "identity", node: "Identity", dtype: dtString}}, file)
}

func saverDef() []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, "saver_filename:0")
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendString(b, "save/control_dependency:0")
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendString(b, "StatefulPartitionedCall_restore")
	b = protowire.AppendTag(b, 7, protowire.VarintType)
	return protowire.AppendVarint(b, 2) // V2 checkpoints
}

// The object graph's node ids: the root, its lists of variables and its signatures, then
// one node per variable.
const (
	objRoot = iota
	objVariables
	objTrainable
	objSignatures
	objServing
	objFirstVar
)

func objectRef(id int, name string) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(id))
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendString(b, name)
}

// objectChildren is each node's children, shared by the SavedObjectGraph and the
// checkpoint's TrackableObjectGraph (which must name the same paths).
func objectChildren(nvars int) [][][]byte {
	children := make([][][]byte, objFirstVar+nvars)
	children[objRoot] = [][]byte{objectRef(objVariables, "variables"), objectRef(objTrainable, "trainable_variables"), objectRef(objSignatures, "signatures")}
	for i := 0; i < nvars; i++ {
		children[objVariables] = append(children[objVariables], objectRef(objFirstVar+i, fmt.Sprint(i)))
		children[objTrainable] = append(children[objTrainable], objectRef(objFirstVar+i, fmt.Sprint(i)))
	}
	children[objSignatures] = [][]byte{objectRef(objServing, "serving_default")}
	return children
}

func userObject(identifier string) []byte {
	var v []byte
	v = protowire.AppendTag(v, 1, protowire.VarintType)
	v = protowire.AppendVarint(v, 1)
	v = protowire.AppendTag(v, 2, protowire.VarintType)
	v = protowire.AppendVarint(v, 1)
	var u []byte
	u = protowire.AppendTag(u, 1, protowire.BytesType)
	u = protowire.AppendString(u, identifier)
	u = protowire.AppendTag(u, 2, protowire.BytesType)
	return protowire.AppendBytes(u, v)
}

// Structured values (nested.proto) describe the signature function's arguments.
func svField(field protowire.Number, b []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, field, protowire.BytesType), b)
}
func svNone() []byte { return svField(1, nil) }
func svTuple(vs ...[]byte) []byte {
	var t []byte
	for _, v := range vs {
		t = append(t, svField(1, v)...)
	}
	return svField(52, t)
}
func svList(vs ...[]byte) []byte {
	var t []byte
	for _, v := range vs {
		t = append(t, svField(1, v)...)
	}
	return svField(51, t)
}
func svString(s string) []byte { return svField(13, []byte(s)) }

// svDict holds fields in key order, as nest flattens them.
func svDict(keys []string, vs [][]byte) []byte {
	var d []byte
	for i, k := range keys {
		d = append(d, svField(1, mapEntry(k, vs[i]))...)
	}
	return svField(53, d)
}
func svTensorSpec(t sigTensor) []byte {
	var s []byte
	s = protowire.AppendTag(s, 1, protowire.BytesType)
	s = protowire.AppendString(s, t.key)
	s = protowire.AppendTag(s, 2, protowire.BytesType)
	s = protowire.AppendBytes(s, shapeProto(t.dims))
	s = protowire.AppendTag(s, 3, protowire.VarintType)
	s = protowire.AppendVarint(s, t.dtype)
	return svField(33, s)
}

func svSpecs(ts []sigTensor) []byte {
	var keys []string
	var vs [][]byte
	for _, t := range ts {
		keys = append(keys, t.key)
		vs = append(vs, svTensorSpec(t))
	}
	return svDict(keys, vs)
}

// savedObjectGraph describes the root object, its variables and its serving signature,
// a concrete function called with keyword arguments only.
func savedObjectGraph(fn string, ins []sigTensor, vars []tfVar, outs []sigTensor) []byte {
	children := objectChildren(len(vars))
	var g []byte
	node := func(id int, kind protowire.Number, body []byte, deps [][]byte) {
		var o []byte
		for _, c := range children[id] {
			o = append(o, svField(1, c)...)
		}
		o = append(o, svField(kind, body)...)
		for _, d := range deps {
			o = append(o, svField(15, d)...)
		}
		g = append(g, svField(1, o)...)
	}
	node(objRoot, 4, userObject("_generic_user_object"), nil)
	node(objVariables, 4, userObject("trackable_list_wrapper"), nil)
	node(objTrainable, 4, userObject("trackable_list_wrapper"), nil)
	node(objSignatures, 4, userObject("signature_map"), nil)

	var keys [][]byte
	for _, in := range ins {
		keys = append(keys, svString(in.key))
	}
	argspec := func(name string, v []byte) []byte {
		return svField(2, append(svField(1, []byte(name)), svField(2, v)...))
	}
	var nt []byte
	nt = append(nt, svField(1, []byte("FullArgSpec"))...)
	nt = append(nt, argspec("args", svList())...)
	nt = append(nt, argspec("varargs", svNone())...)
	nt = append(nt, argspec("varkw", svNone())...)
	nt = append(nt, argspec("defaults", svNone())...)
	nt = append(nt, argspec("kwonlyargs", svList(keys...))...)
	nt = append(nt, argspec("kwonlydefaults", svNone())...)
	nt = append(nt, argspec("annotations", svDict(nil, nil))...)
	spec := append(svField(1, svField(54, nt)), svField(5, svNone())...)
	var bare []byte
	bare = append(bare, svField(1, []byte(fn))...)
	for _, in := range ins {
		bare = append(bare, svField(2, []byte(in.key))...)
	}
	bare = append(bare, svField(4, spec)...)
	var deps [][]byte
	for i := range vars {
		deps = append(deps, objectRef(objFirstVar+i, fmt.Sprint(i)))
	}
	node(objServing, 8, bare, deps)

	for i, v := range vars {
		dt, _ := tfDType(v.value.DType)
		var sv []byte
		sv = protowire.AppendTag(sv, 1, protowire.VarintType)
		sv = protowire.AppendVarint(sv, dt)
		sv = protowire.AppendTag(sv, 2, protowire.BytesType)
		sv = protowire.AppendBytes(sv, shapeProto(v.value.Shape))
		sv = protowire.AppendTag(sv, 3, protowire.VarintType)
		sv = protowire.AppendVarint(sv, 1)
		sv = protowire.AppendTag(sv, 6, protowire.BytesType)
		sv = protowire.AppendString(sv, v.node)
		node(objFirstVar+i, 7, sv, nil)
	}

	var cf []byte
	var bound []byte
	for i := range vars {
		bound = protowire.AppendVarint(bound, uint64(objFirstVar+i))
	}
	if len(bound) > 0 {
		cf = append(cf, svField(2, bound)...)
	}
	cf = append(cf, svField(3, svTuple(svTuple(), svSpecs(ins)))...)
	cf = append(cf, svField(4, svSpecs(outs))...)
	return append(g, svField(2, mapEntry(fn, cf))...)
}

// checkpointObjectGraph is the TrackableObjectGraph stored in variables/ under
// _CHECKPOINTABLE_OBJECT_GRAPH: the same nodes, each variable naming its tensor.
func checkpointObjectGraph(vars []tfVar) []byte {
	children := objectChildren(len(vars))
	var g []byte
	for id, cs := range children {
		var o []byte
		for _, c := range cs {
			o = append(o, svField(1, c)...)
		}
		if id >= objFirstVar {
			v := vars[id-objFirstVar]
			var a []byte
			a = append(a, svField(1, []byte("VARIABLE_VALUE"))...)
			a = append(a, svField(2, []byte(v.node))...)
			a = append(a, svField(3, []byte(checkpointKey(v)))...)
			o = append(o, svField(2, a)...)
		}
		g = append(g, svField(1, o)...)
	}
	return g
}

// sortByKey orders signature tensors as nest flattens a dict: by key.
func sortByKey(ts []sigTensor) {
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].key < ts[j].key })
}

package opset

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/modelc/modelc/engine/ir"
)

// constantValue is the tensor a Constant node produces, from whichever attribute holds
// it (nil for sparse values and malformed nodes).
func constantValue(n *ir.Node) *ir.Tensor {
	for _, a := range n.Attrs {
		switch a.Name {
		case "value":
			return a.Tensor
		case "value_float":
			return float32Tensor(nil, a.Float)
		case "value_floats":
			return float32Tensor([]int64{int64(len(a.Floats))}, a.Floats...)
		case "value_int":
			return int64Tensor(nil, a.Int)
		case "value_ints":
			return int64Tensor([]int64{int64(len(a.Ints))}, a.Ints...)
		case "value_string":
			t, _ := ir.NewStringTensor("", []int64{}, [][]byte{a.String})
			return t
		case "value_strings":
			t, _ := ir.NewStringTensor("", []int64{int64(len(a.Strings))}, a.Strings)
			return t
		}
	}
	return nil
}

func int64Tensor(shape []int64, vs ...int64) *ir.Tensor {
	if shape == nil {
		shape = []int64{}
	}
	b := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	t, err := ir.NewTensor("", ir.Int64, shape, b)
	if err != nil {
		panic(err)
	}
	return t
}

func ints1D(vs []int64) *ir.Tensor { return int64Tensor([]int64{int64(len(vs))}, vs...) }

func float32Tensor(shape []int64, vs ...float32) *ir.Tensor {
	if shape == nil {
		shape = []int64{}
	}
	t, err := ir.NewTensor("", ir.Float32, shape, append([]byte(nil), ir.Float32Bytes(vs)...))
	if err != nil {
		panic(err)
	}
	return t
}

// scalarOf makes a scalar of element type d holding v (nil when d has no such scalar).
func scalarOf(d ir.DType, v float64) *ir.Tensor {
	le := binary.LittleEndian
	var b []byte
	switch d {
	case ir.Float32:
		b = le.AppendUint32(nil, math.Float32bits(float32(v)))
	case ir.Float64:
		b = le.AppendUint64(nil, math.Float64bits(v))
	case ir.Float16:
		b = le.AppendUint16(nil, ir.Float32ToFloat16(float32(v)))
	case ir.BFloat16:
		b = le.AppendUint16(nil, ir.Float32ToBFloat16(float32(v)))
	case ir.Int8, ir.Uint8, ir.Bool:
		b = []byte{byte(int64(v))}
	case ir.Int16, ir.Uint16:
		b = le.AppendUint16(nil, uint16(int64(v)))
	case ir.Int32, ir.Uint32:
		b = le.AppendUint32(nil, uint32(int64(v)))
	case ir.Int64:
		b = le.AppendUint64(nil, uint64(int64(v)))
	case ir.Uint64:
		b = le.AppendUint64(nil, uint64(v))
	default:
		return nil
	}
	t, err := ir.NewTensor("", d, []int64{}, b)
	if err != nil {
		return nil
	}
	return t
}

// intsOf reads an integer tensor's values exactly (int64 values do not survive a trip
// through float32).
func intsOf(t *ir.Tensor) ([]int64, error) {
	n := t.NumElements()
	if n < 0 {
		return nil, fmt.Errorf("invalid shape %v", t.Shape)
	}
	b := t.Bytes()
	le := binary.LittleEndian
	out := make([]int64, n)
	for i := range out {
		switch t.DType {
		case ir.Int64:
			out[i] = int64(le.Uint64(b[8*i:]))
		case ir.Int32:
			out[i] = int64(int32(le.Uint32(b[4*i:])))
		case ir.Int16:
			out[i] = int64(int16(le.Uint16(b[2*i:])))
		case ir.Int8:
			out[i] = int64(int8(b[i]))
		case ir.Uint8:
			out[i] = int64(b[i])
		default:
			return nil, fmt.Errorf("%v is not an integer type", t.DType)
		}
	}
	return out, nil
}

// floatsOf reads a numeric tensor as float32 values.
func floatsOf(t *ir.Tensor) ([]float32, error) {
	v, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	return append([]float32(nil), v...), nil
}

func attrInt(n *ir.Node, name string, def int64) int64 {
	if a := n.Attr(name); a != nil && a.Type == ir.AttrInt {
		return a.Int
	}
	return def
}

func attrFloat(n *ir.Node, name string, def float32) float32 {
	if a := n.Attr(name); a != nil && a.Type == ir.AttrFloat {
		return a.Float
	}
	return def
}

func attrString_(n *ir.Node, name, def string) string {
	if a := n.Attr(name); a != nil && a.Type == ir.AttrString {
		return string(a.String)
	}
	return def
}

func attrInts(n *ir.Node, name string) ([]int64, bool) {
	if a := n.Attr(name); a != nil && a.Type == ir.AttrInts {
		return a.Ints, true
	}
	return nil, false
}

// removeAttr deletes attribute name and returns it (nil when absent).
func removeAttr(n *ir.Node, name string) *ir.Attribute {
	for i, a := range n.Attrs {
		if a.Name == name {
			n.Attrs = append(n.Attrs[:i:i], n.Attrs[i+1:]...)
			return a
		}
	}
	return nil
}

// setAttr replaces or adds an attribute.
func setAttr(n *ir.Node, a *ir.Attribute) {
	for i, old := range n.Attrs {
		if old.Name == a.Name {
			n.Attrs[i] = a
			return
		}
	}
	n.Attrs = append(n.Attrs, a)
}

func intAttr(name string, v int64) *ir.Attribute {
	return &ir.Attribute{Name: name, Type: ir.AttrInt, Int: v}
}
func intsAttr(name string, v []int64) *ir.Attribute {
	return &ir.Attribute{Name: name, Type: ir.AttrInts, Ints: v}
}
func floatAttr(name string, v float32) *ir.Attribute {
	return &ir.Attribute{Name: name, Type: ir.AttrFloat, Float: v}
}
func floatsAttr(name string, v []float32) *ir.Attribute {
	return &ir.Attribute{Name: name, Type: ir.AttrFloats, Floats: v}
}
func stringAttr(name, v string) *ir.Attribute {
	return &ir.Attribute{Name: name, Type: ir.AttrString, String: []byte(v)}
}

// defaults are the values attributes added in a newer version of an op imply in the
// older versions (onnx's schema defaults): a downgrade drops such an attribute when it
// holds this value and refuses it otherwise.
var defaults = map[string]map[string]func(a *ir.Attribute) bool{}

func isInt(v int64) func(*ir.Attribute) bool {
	return func(a *ir.Attribute) bool { return a.Type == ir.AttrInt && a.Int == v }
}
func isString(v string) func(*ir.Attribute) bool {
	return func(a *ir.Attribute) bool { return a.Type == ir.AttrString && string(a.String) == v }
}
func allOnes(a *ir.Attribute) bool {
	for _, v := range a.Ints {
		if v != 1 {
			return false
		}
	}
	return a.Type == ir.AttrInts
}

func init() {
	def := func(op, attr string, f func(*ir.Attribute) bool) {
		if defaults[op] == nil {
			defaults[op] = map[string]func(*ir.Attribute) bool{}
		}
		defaults[op][attr] = f
	}
	def("ArgMax", "select_last_index", isInt(0))
	def("ArgMin", "select_last_index", isInt(0))
	def("AveragePool", "ceil_mode", isInt(0))
	def("AveragePool", "count_include_pad", isInt(0))
	def("AveragePool", "dilations", allOnes)
	def("BatchNormalization", "training_mode", isInt(0))
	def("Cast", "round_mode", isString("up"))
	def("CastLike", "round_mode", isString("up"))
	def("DepthToSpace", "mode", isString("DCR"))
	def("DequantizeLinear", "block_size", isInt(0))
	def("DequantizeLinear", "output_dtype", isInt(0))
	def("QuantizeLinear", "block_size", isInt(0))
	def("QuantizeLinear", "output_dtype", isInt(0))
	def("QuantizeLinear", "precision", isInt(0))
	def("QuantizeLinear", "saturate", func(*ir.Attribute) bool { return true }) // only float8 outputs saturate; opsets before 19 have none
	def("GRU", "layout", isInt(0))
	def("LSTM", "layout", isInt(0))
	def("RNN", "layout", isInt(0))
	def("GatherND", "batch_dims", isInt(0))
	def("LpPool", "ceil_mode", isInt(0))
	def("LpPool", "dilations", allOnes)
	def("MaxPool", "storage_order", isInt(0))
	def("MaxPool", "ceil_mode", isInt(0))
	def("MaxPool", "dilations", allOnes)
	def("Reshape", "allowzero", isInt(0))
	def("ScatterElements", "reduction", isString("none"))
	def("ScatterND", "reduction", isString("none"))
	def("TopK", "largest", isInt(1))
	def("TopK", "sorted", isInt(1))
	def("Resize", "antialias", isInt(0))
	def("Resize", "keep_aspect_ratio_policy", isString("stretch"))
	def("GroupNormalization", "stash_type", isInt(1))
	def("SpaceToDepth", "mode", isString("DCR"))
	def("Range", "stash_type", isInt(1))
	def("Attention", "left_window_size", isInt(-1))
	def("Attention", "right_window_size", isInt(-1))
	for _, op := range []string{"Cast", "CastLike"} {
		def(op, "saturate", func(*ir.Attribute) bool { return true }) // only float8 targets saturate; opsets before 19 have none
	}
	for _, op := range reduceOps {
		def(op, "noop_with_empty_axes", isInt(0))
	}
}

// attrDefault says whether a is the default value of an attribute op gained in a newer
// version (known: the default is known).
func attrDefault(op string, a *ir.Attribute) (isDefault, known bool) {
	f := defaults[op][a.Name]
	if f == nil {
		return false, false
	}
	return f(a), true
}

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(axis int64, rank int) (int64, bool) {
	if axis < 0 {
		axis += int64(rank)
	}
	return axis, axis >= 0 && axis < int64(rank)
}

package opset

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/modelc/modelc/engine/ir"
	"github.com/modelc/modelc/engine/ir/schema"
)

// model builds a one-graph model at opset from: float32 inputs of the given shapes
// (name → shape), the nodes, and the named outputs (types left to inference).
func model(from int64, inputs map[string][]int64, outputs []string, nodes ...*ir.Node) *ir.Model {
	g := &ir.Graph{Name: "g", Nodes: nodes}
	for _, name := range sortedNames(inputs) {
		g.Inputs = append(g.Inputs, &ir.ValueInfo{Name: name, Type: ir.TensorType(ir.Float32, inputs[name]...)})
	}
	for _, o := range outputs {
		g.Outputs = append(g.Outputs, &ir.ValueInfo{Name: o})
	}
	return &ir.Model{IRVersion: schema.MinIRVersion(from), Opsets: []ir.OpsetImport{{Domain: "", Version: from}}, Graph: g}
}

func sortedNames(m map[string][]int64) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

func node(op string, ins, outs []string, attrs ...*ir.Attribute) *ir.Node {
	return &ir.Node{OpType: op, Name: op, Inputs: ins, Outputs: outs, Attrs: attrs}
}

// convert converts and checks the result, failing the test on any error.
func convert(t *testing.T, m *ir.Model, target int64) {
	t.Helper()
	if err := schema.Check(m); err != nil {
		t.Fatalf("the test model is invalid before conversion: %v", err)
	}
	if err := Convert(m, target); err != nil {
		t.Fatalf("Convert to %d: %v", target, err)
	}
	if got := m.OpsetVersion(""); got != target {
		t.Fatalf("opset %d after converting to %d", got, target)
	}
	if err := schema.Check(m); err != nil {
		t.Fatalf("the converted model is invalid: %v", err)
	}
	if m.IRVersion < schema.MinIRVersion(target) {
		t.Fatalf("IR version %d is below the %d opset %d needs", m.IRVersion, schema.MinIRVersion(target), target)
	}
}

// refused converts and wants a refusal mentioning every word of want.
func refused(t *testing.T, m *ir.Model, target int64, want ...string) {
	t.Helper()
	err := Convert(m, target)
	if err == nil {
		t.Fatalf("Convert to %d succeeded; want a refusal", target)
	}
	if ir.KindOf(err) != ir.KindUnsupported {
		t.Errorf("error kind %v, want unsupported: %v", ir.KindOf(err), err)
	}
	var r *Refusal
	if !errors.As(err, &r) {
		t.Errorf("error %v does not wrap a *Refusal", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

func find(m *ir.Model, op string) *ir.Node {
	for _, n := range m.Graph.Nodes {
		if n.OpType == op {
			return n
		}
	}
	return nil
}

func count(m *ir.Model, op string) int {
	c := 0
	for _, n := range m.Graph.Nodes {
		if n.OpType == op {
			c++
		}
	}
	return c
}

func constInts(t *testing.T, m *ir.Model, name string) []int64 {
	t.Helper()
	tt := m.Graph.Initializer(name)
	if tt == nil {
		for _, n := range m.Graph.Nodes {
			if n.OpType == "Constant" && n.Outputs[0] == name {
				tt = constantValue(n)
			}
		}
	}
	if tt == nil {
		t.Fatalf("%q is not a constant", name)
	}
	v, err := intsOf(tt)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func equal(a, b []int64) bool { return slices.Equal(a, b) }

func TestReduceMeanAxesBothWays(t *testing.T) {
	m := model(13, map[string][]int64{"x": {2, 3, 4}}, []string{"y"},
		node("ReduceMean", []string{"x"}, []string{"y"}, intsAttr("axes", []int64{1}), intAttr("keepdims", 0)))
	convert(t, m, 18)
	n := find(m, "ReduceMean")
	if n.Attr("axes") != nil || len(n.Inputs) != 2 || !equal(constInts(t, m, n.Inputs[1]), []int64{1}) {
		t.Fatalf("opset 18 ReduceMean: inputs %v attrs %v", n.Inputs, n.Attrs)
	}
	convert(t, m, 11)
	n = find(m, "ReduceMean")
	if a, _ := attrInts(n, "axes"); len(n.Inputs) != 1 || !equal(a, []int64{1}) {
		t.Fatalf("back at opset 11: inputs %v axes %v", n.Inputs, a)
	}
	if len(m.Graph.Initializers) != 0 {
		t.Errorf("the axes initializer is left behind: %d initializers", len(m.Graph.Initializers))
	}
}

func TestReduceSumAt13AndNoop(t *testing.T) {
	m := model(12, map[string][]int64{"x": {2, 3}}, []string{"y"},
		node("ReduceSum", []string{"x"}, []string{"y"}, intsAttr("axes", []int64{-1})))
	convert(t, m, 13)
	if n := find(m, "ReduceSum"); len(n.Inputs) != 2 {
		t.Fatalf("ReduceSum-13 takes axes as an input: %v", n.Inputs)
	}
	// Below 11 negative axes are written as positive ones (the rank is known).
	convert(t, m, 10)
	if a, _ := attrInts(find(m, "ReduceSum"), "axes"); !equal(a, []int64{1}) {
		t.Fatalf("axes at opset 10: %v", a)
	}
	// noop_with_empty_axes=1 without axes is the identity.
	m = model(18, map[string][]int64{"x": {2, 3}}, []string{"y"},
		node("ReduceMax", []string{"x"}, []string{"y"}, intAttr("noop_with_empty_axes", 1)))
	convert(t, m, 17)
	if find(m, "Identity") == nil {
		t.Fatalf("ReduceMax with noop_with_empty_axes=1 and no axes should become Identity: %v", m.Graph.Nodes)
	}
}

func TestComputedAxesRefused(t *testing.T) {
	m := model(18, map[string][]int64{"x": {2, 3}}, []string{"y"},
		node("Shape", []string{"x"}, []string{"s"}),
		node("ReduceMean", []string{"x", "s"}, []string{"y"}))
	m.Graph.Nodes[1].Name = "mean1"
	refused(t, m, 17, `node "mean1"`, "ReduceMean", "computed at run time", "initializer or a Constant")
}

func TestSqueezeUnsqueeze(t *testing.T) {
	m := model(11, map[string][]int64{"x": {1, 3, 1}}, []string{"y"},
		node("Squeeze", []string{"x"}, []string{"s"}, intsAttr("axes", []int64{0, 2})),
		node("Unsqueeze", []string{"s"}, []string{"y"}, intsAttr("axes", []int64{0})))
	convert(t, m, 21)
	for _, op := range []string{"Squeeze", "Unsqueeze"} {
		if n := find(m, op); len(n.Inputs) != 2 || n.Attr("axes") != nil {
			t.Fatalf("%s at 21: %v %v", op, n.Inputs, n.Attrs)
		}
	}
	convert(t, m, 9)
	if a, _ := attrInts(find(m, "Squeeze"), "axes"); !equal(a, []int64{0, 2}) {
		t.Fatalf("Squeeze axes at 9: %v", a)
	}
	// A Constant node is as good as an initializer.
	m = model(13, map[string][]int64{"x": {1, 3}}, []string{"y"},
		&ir.Node{OpType: "Constant", Name: "c", Outputs: []string{"ax"}, Attrs: []*ir.Attribute{intsAttr("value_ints", []int64{0})}},
		node("Squeeze", []string{"x", "ax"}, []string{"y"}))
	convert(t, m, 12)
	if count(m, "Constant") != 0 {
		t.Errorf("the consumed Constant node is left behind")
	}
}

func TestSplit(t *testing.T) {
	m := model(13, map[string][]int64{"x": {6, 2}}, []string{"a", "b"},
		node("Split", []string{"x"}, []string{"a", "b"}))
	convert(t, m, 18)
	if n := find(m, "Split"); attrInt(n, "num_outputs", 0) != 2 {
		t.Fatalf("Split-18 without split needs num_outputs: %v", n.Attrs)
	}
	convert(t, m, 17)
	if n := find(m, "Split"); n.Attr("num_outputs") != nil {
		t.Fatalf("num_outputs at 17: %v", n.Attrs)
	}
	// An uneven num_outputs split becomes explicit sizes.
	m = model(18, map[string][]int64{"x": {5}}, []string{"a", "b"},
		node("Split", []string{"x"}, []string{"a", "b"}, intAttr("num_outputs", 2)))
	convert(t, m, 11)
	if a, _ := attrInts(find(m, "Split"), "split"); !equal(a, []int64{3, 2}) {
		t.Fatalf("split at 11: %v", a)
	}
	m = model(11, map[string][]int64{"x": {5}}, []string{"a", "b"},
		node("Split", []string{"x"}, []string{"a", "b"}, intsAttr("split", []int64{2, 3})))
	convert(t, m, 13)
	if n := find(m, "Split"); !equal(constInts(t, m, n.Inputs[1]), []int64{2, 3}) {
		t.Fatal("split input at 13")
	}
}

func TestPadClipSliceTopK(t *testing.T) {
	m := model(9, map[string][]int64{"x": {2, 3}}, []string{"y", "v", "i"},
		node("Pad", []string{"x"}, []string{"p"}, intsAttr("pads", []int64{0, 1, 0, 1}), floatAttr("value", 2)),
		node("Clip", []string{"p"}, []string{"c"}, floatAttr("min", -1), floatAttr("max", 1)),
		node("Slice", []string{"c"}, []string{"y"}, intsAttr("starts", []int64{0}), intsAttr("ends", []int64{1}), intsAttr("axes", []int64{1})),
		node("TopK", []string{"c"}, []string{"v", "i"}, intAttr("k", 2)))
	convert(t, m, 11)
	for op, ins := range map[string]int{"Pad": 3, "Clip": 3, "Slice": 4, "TopK": 2} {
		if n := find(m, op); len(n.Inputs) != ins || len(n.Attrs) > 1 {
			t.Fatalf("%s at 11: inputs %v attrs %v", op, n.Inputs, n.Attrs)
		}
	}
	convert(t, m, 10)
	if n := find(m, "Pad"); attrFloat(n, "value", 0) != 2 || len(n.Inputs) != 1 {
		t.Fatalf("Pad back at 10: %v", n.Attrs)
	}
	if n := find(m, "Clip"); attrFloat(n, "min", 0) != -1 || attrFloat(n, "max", 0) != 1 {
		t.Fatalf("Clip back at 10: %v", n.Attrs)
	}
	convert(t, m, 9) // Slice and TopK take attributes again
	if n := find(m, "TopK"); attrInt(n, "k", 0) != 2 || len(n.Inputs) != 1 {
		t.Fatalf("TopK at 9: %v %v", n.Inputs, n.Attrs)
	}
	if len(m.Graph.Initializers) != 0 {
		t.Errorf("%d initializers left behind", len(m.Graph.Initializers))
	}
	// Slice with steps has no form before 10.
	m = model(13, map[string][]int64{"x": {4}}, []string{"y"}, node("Slice", []string{"x", "s", "e", "a", "st"}, []string{"y"}))
	for name, v := range map[string]int64{"s": 0, "e": 4, "a": 0, "st": 2} {
		m.Graph.Initializers = append(m.Graph.Initializers, named(ints1D([]int64{v}), name))
	}
	refused(t, m, 9, "Slice", "step")
}

func named(t *ir.Tensor, name string) *ir.Tensor { t.Name = name; return t }

func TestUpsampleResize(t *testing.T) {
	m := model(9, map[string][]int64{"x": {1, 1, 2, 2}}, []string{"y"},
		node("Upsample", []string{"x", "sc"}, []string{"y"}, stringAttr("mode", "nearest")))
	m.Graph.Initializers = []*ir.Tensor{named(float32Tensor([]int64{4}, 1, 1, 2, 2), "sc")}
	convert(t, m, 13)
	n := find(m, "Resize")
	if n == nil || len(n.Inputs) != 3 || attrString_(n, "coordinate_transformation_mode", "") != "asymmetric" || attrString_(n, "nearest_mode", "") != "floor" {
		t.Fatalf("Upsample → Resize-13: %v", m.Graph.Nodes)
	}
	convert(t, m, 8)
	n = find(m, "Upsample")
	if sc, ok := n.Attr("scales"), true; !ok || sc == nil || len(sc.Floats) != 4 {
		t.Fatalf("Resize → Upsample-7: %v", n.Attrs)
	}
	// Half-pixel resizing has no form before 11.
	m = model(13, map[string][]int64{"x": {1, 1, 2, 2}}, []string{"y"}, node("Resize", []string{"x", "", "sc"}, []string{"y"}, stringAttr("mode", "linear")))
	m.Graph.Initializers = []*ir.Tensor{named(float32Tensor([]int64{4}, 1, 1, 2, 2), "sc")}
	convert(t, m, 11) // roi becomes an empty input again
	if n := find(m, "Resize"); n.Inputs[1] == "" {
		t.Fatalf("Resize-11 needs roi: %v", n.Inputs)
	}
	refused(t, m, 10, "coordinate_transformation_mode", "half_pixel")
}

func TestSoftmaxAxisSemantics(t *testing.T) {
	m := model(11, map[string][]int64{"x": {2, 3, 4}}, []string{"y"}, node("Softmax", []string{"x"}, []string{"y"}, intAttr("axis", 1)))
	convert(t, m, 13)
	if find(m, "Flatten") == nil || find(m, "Reshape") == nil {
		t.Fatalf("Softmax-11 over axes 1.. needs Flatten/Reshape at 13: %v", m.Graph.Nodes)
	}
	m = model(13, map[string][]int64{"x": {2, 3, 4}}, []string{"y"}, node("Softmax", []string{"x"}, []string{"y"}, intAttr("axis", 1)))
	convert(t, m, 12)
	if count(m, "Transpose") != 2 {
		t.Fatalf("Softmax-13 on axis 1 needs two Transposes at 12: %v", m.Graph.Nodes)
	}
	m = model(13, map[string][]int64{"x": {2, 3, 4}}, []string{"y"}, node("LogSoftmax", []string{"x"}, []string{"y"}))
	convert(t, m, 11)
	if len(m.Graph.Nodes) != 1 || attrInt(m.Graph.Nodes[0], "axis", 0) != 2 {
		t.Fatalf("LogSoftmax on the last axis stays one node: %v", m.Graph.Nodes)
	}
}

func TestNewOpsExpandedOrRefused(t *testing.T) {
	m := model(20, map[string][]int64{"x": {2, 3}}, []string{"y"}, node("Gelu", []string{"x"}, []string{"y"}))
	convert(t, m, 13)
	if find(m, "Erf") == nil || find(m, "Gelu") != nil {
		t.Fatalf("Gelu at 13: %v", m.Graph.Nodes)
	}
	m = model(20, map[string][]int64{"x": {2, 3}}, []string{"y"}, node("Gelu", []string{"x"}, []string{"y"}))
	refused(t, m, 8, "Erf", "added in opset 9")

	m = model(17, map[string][]int64{"x": {2, 3, 4}, "s": {4}, "b": {4}}, []string{"y"},
		node("LayerNormalization", []string{"x", "s", "b"}, []string{"y"}, floatAttr("epsilon", 1e-3)))
	convert(t, m, 13)
	if count(m, "ReduceMean") != 2 {
		t.Fatalf("LayerNormalization at 13: %v", m.Graph.Nodes)
	}
	m = model(14, map[string][]int64{"x": {2, 3}}, []string{"y"}, node("HardSwish", []string{"x"}, []string{"y"}))
	convert(t, m, 13)
	if find(m, "HardSigmoid") == nil {
		t.Fatal("HardSwish at 13")
	}
	m = model(16, map[string][]int64{"x": {2, 3}}, []string{"y"}, node("Trilu", []string{"x"}, []string{"y"}))
	m.Graph.Nodes[0].Name = "tri"
	refused(t, m, 13, `node "tri"`, "Trilu does not exist at opset 13", "added in opset 14")
}

func TestAttributeValuesRefused(t *testing.T) {
	m := model(12, map[string][]int64{"x": {2, 3}}, []string{"y"}, node("ArgMax", []string{"x"}, []string{"y"}, intAttr("select_last_index", 1)))
	refused(t, m, 11, "select_last_index=1", "before opset 12")
	m = model(12, map[string][]int64{"x": {2, 3}}, []string{"y"}, node("ArgMax", []string{"x"}, []string{"y"}, intAttr("select_last_index", 0)))
	convert(t, m, 11)
	m = model(19, map[string][]int64{"x": {2, 3}}, []string{"y"}, node("Pad", []string{"x", "p"}, []string{"y"}, stringAttr("mode", "wrap")))
	m.Graph.Initializers = []*ir.Tensor{named(ints1D([]int64{0, 1, 0, 1}), "p")}
	refused(t, m, 18, "wrap")
	// An element type the older version lacks: Cast to bfloat16 before 13.
	m = model(13, map[string][]int64{"x": {2}}, []string{"y"}, node("Cast", []string{"x"}, []string{"y"}, intAttr("to", int64(ir.BFloat16))))
	refused(t, m, 12, "bfloat16")
}

func TestBatchNormAndDropout(t *testing.T) {
	m := model(7, map[string][]int64{"x": {1, 2, 3}, "s": {2}, "b": {2}, "m": {2}, "v": {2}}, []string{"y"},
		node("BatchNormalization", []string{"x", "s", "b", "m", "v"}, []string{"bn"}, intAttr("spatial", 1)),
		node("Dropout", []string{"bn"}, []string{"y"}, floatAttr("ratio", 0.3)))
	convert(t, m, 15)
	if n := find(m, "Dropout"); len(n.Inputs) != 2 || n.Attr("ratio") != nil {
		t.Fatalf("Dropout at 15: %v %v", n.Inputs, n.Attrs)
	}
	convert(t, m, 7)
	if n := find(m, "Dropout"); attrFloat(n, "ratio", 0) != 0.3 {
		t.Fatalf("Dropout back at 7: %v", n.Attrs)
	}
	m = model(15, map[string][]int64{"x": {1, 2, 3}, "s": {2}, "b": {2}, "m": {2}, "v": {2}}, []string{"y"},
		node("BatchNormalization", []string{"x", "s", "b", "m", "v"}, []string{"y"}, intAttr("training_mode", 1)))
	refused(t, m, 13, "training_mode=1")
}

func TestSubgraphsAndFunctions(t *testing.T) {
	branch := func(axes int64) *ir.Graph {
		return &ir.Graph{Name: "b", Nodes: []*ir.Node{node("ReduceSum", []string{"x"}, []string{"r"}, intsAttr("axes", []int64{axes}))},
			Outputs: []*ir.ValueInfo{{Name: "r", Type: &ir.Type{Kind: ir.TypeTensor, ElemType: ir.Float32}}}}
	}
	m := model(11, map[string][]int64{"x": {2, 3}}, []string{"y"},
		node("If", []string{"c"}, []string{"y"}, &ir.Attribute{Name: "then_branch", Type: ir.AttrGraph, Graph: branch(0)},
			&ir.Attribute{Name: "else_branch", Type: ir.AttrGraph, Graph: branch(1)}))
	m.Graph.Inputs = append(m.Graph.Inputs, &ir.ValueInfo{Name: "c", Type: ir.TensorType(ir.Bool)})
	convert(t, m, 13)
	then := find(m, "If").Attr("then_branch").Graph
	if n := then.Nodes[0]; len(n.Inputs) != 2 || then.Initializer(n.Inputs[1]) == nil {
		t.Fatalf("ReduceSum in a branch at 13: %v, initializers %v", n.Inputs, then.Initializers)
	}
	convert(t, m, 12)
	if n := then.Nodes[0]; len(n.Inputs) != 1 || len(then.Initializers) != 0 {
		t.Fatalf("ReduceSum in a branch back at 12: %v", n.Inputs)
	}

	// A function body: new constants are Constant nodes (functions have no initializers).
	m = model(11, map[string][]int64{"x": {1, 3}}, []string{"y"}, &ir.Node{OpType: "Sq", Domain: "local", Inputs: []string{"x"}, Outputs: []string{"y"}})
	m.Opsets = append(m.Opsets, ir.OpsetImport{Domain: "local", Version: 1})
	m.Functions = []*ir.Function{{Name: "Sq", Domain: "local", Inputs: []string{"a"}, Outputs: []string{"b"},
		Opsets: []ir.OpsetImport{{Domain: "", Version: 11}},
		Nodes:  []*ir.Node{node("Squeeze", []string{"a"}, []string{"b"}, intsAttr("axes", []int64{0}))}}}
	convert(t, m, 13)
	f := m.Functions[0]
	if opsetOf(f.Opsets) != 13 || len(f.Nodes) != 2 || f.Nodes[0].OpType != "Constant" || len(f.Nodes[1].Inputs) != 2 {
		t.Fatalf("function body at 13: %v", f.Nodes)
	}
}

func TestIRVersionAndRange(t *testing.T) {
	m := model(7, map[string][]int64{"x": {2}}, []string{"y"}, node("Relu", []string{"x"}, []string{"y"}))
	m.IRVersion = 3
	convert(t, m, 21)
	if m.IRVersion != schema.MinIRVersion(21) {
		t.Fatalf("IR version %d, want %d", m.IRVersion, schema.MinIRVersion(21))
	}
	for _, bad := range []int64{6, 24, 0} {
		if err := Convert(m, bad); ir.KindOf(err) != ir.KindInvalidArgument {
			t.Errorf("target %d: %v, want an invalid-argument error", bad, err)
		}
	}
}

// Every op the generic rules see must have a known default for each attribute added in
// a later version, or an adapter that handles the boundary: otherwise a downgrade of a
// node that only spells out the default would be refused needlessly.
func TestAdaptersNamedOpsExist(t *testing.T) {
	for op, vs := range adapters {
		for v := range vs {
			found := false
			for _, sv := range schema.Versions("", op) {
				found = found || sv == v
			}
			if !found && v != 2 && v != 4 && v != 7 && v != 8 {
				t.Errorf("adapter %s-%d: the op has no version %d (versions %v)", op, v, v, schema.Versions("", op))
			}
		}
	}
}

func TestResizeAxesDropoutMaskPool(t *testing.T) {
	m := model(18, map[string][]int64{"x": {1, 1, 2, 2}}, []string{"y"},
		node("Resize", []string{"x", "", "sc"}, []string{"y"}, intsAttr("axes", []int64{3, 2}), stringAttr("mode", "nearest")))
	m.Graph.Initializers = []*ir.Tensor{named(float32Tensor([]int64{2}, 3, 2), "sc")}
	convert(t, m, 17)
	n := find(m, "Resize")
	if v, _ := floatsOf(m.Graph.Initializer(n.Inputs[2])); len(v) != 4 || v[2] != 2 || v[3] != 3 || v[0] != 1 {
		t.Fatalf("scales at 17: %v", v)
	}
	m = model(13, map[string][]int64{"x": {2, 3}}, []string{"y", "mask"}, node("Dropout", []string{"x"}, []string{"y", "mask"}))
	convert(t, m, 11)
	if find(m, "ConstantOfShape") == nil || len(find(m, "Dropout").Outputs) != 1 {
		t.Fatalf("Dropout's mask below 12: %v", m.Graph.Nodes)
	}
	pool := func(in int64) *ir.Model {
		return model(22, map[string][]int64{"x": {1, 1, in, in}}, []string{"y"}, node("MaxPool", []string{"x"}, []string{"y"},
			intsAttr("kernel_shape", []int64{2, 2}), intsAttr("strides", []int64{2, 2}), intsAttr("pads", []int64{0, 0, 1, 1}), intAttr("ceil_mode", 1)))
	}
	convert(t, pool(3), 21) // no last window in the padding: the same sizes
	refused(t, pool(2), 21, "ceil_mode=1")
}

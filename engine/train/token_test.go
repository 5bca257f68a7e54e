package train

import (
	"math/rand"
	"strings"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// constant is a Constant node holding a float32 tensor (not a parameter).
func constant(t *testing.T, out string, shape []int64, v ...float32) *ir.Node {
	tn, err := ir.NewTensor(out, ir.Float32, shape, ir.Float32Bytes(v))
	if err != nil {
		t.Fatal(err)
	}
	return node("Constant", nil, []string{out}, &ir.Attribute{Name: "value", Type: ir.AttrTensor, Tensor: tn})
}

// The token-model ops against central finite differences.
func TestTokenOpGradients(t *testing.T) {
	ids := init_{name: "ids", shape: []int64{2, 3}, ints: []int64{4, 0, 6, 4, -1, 2}}
	cases := map[string]struct {
		nodes []*ir.Node
		inits []init_
	}{
		// the embedding lookup: repeated and negative ids add into the same row
		"gather_embedding": {[]*ir.Node{node("Gather", []string{"table", "ids"}, []string{"y"})},
			[]init_{{name: "table", shape: []int64{7, 5}}, ids}},
		// x[:, 1] of an activation: a scalar index along axis 1
		"gather_axis1_scalar": {[]*ir.Node{node("Gather", []string{"x", "i"}, []string{"y"}, attrInt("axis", 1))},
			[]init_{{name: "x", shape: []int64{2, 4, 3}}, {name: "i", shape: []int64{}, ints: []int64{1}}}},
		"erf": {[]*ir.Node{node("Erf", []string{"x"}, []string{"y"})}, []init_{{name: "x", shape: []int64{3, 4}}}},
		// LayerNorm's decomposition as torch exports it at opset 14
		"layernorm_decomposed": {[]*ir.Node{
			node("ReduceMean", []string{"x"}, []string{"mean"}, attrInts("axes", -1)),
			node("Sub", []string{"x", "mean"}, []string{"d"}),
			constant(t, "two", nil, 2),
			node("Pow", []string{"d", "two"}, []string{"d2"}),
			node("ReduceMean", []string{"d2"}, []string{"var"}, attrInts("axes", -1)),
			constant(t, "eps", nil, 1e-5),
			node("Add", []string{"var", "eps"}, []string{"ve"}),
			node("Sqrt", []string{"ve"}, []string{"std"}),
			node("Div", []string{"d", "std"}, []string{"n"}),
			node("Mul", []string{"n", "g"}, []string{"y"}),
		}, []init_{{name: "x", shape: []int64{2, 3, 6}}, {name: "g", shape: []int64{6}}}},
		"reducemean_axes_no_keepdims": {[]*ir.Node{node("ReduceMean", []string{"x"}, []string{"y"}, attrInts("axes", 0, 2), attrInt("keepdims", 0))},
			[]init_{{name: "x", shape: []int64{2, 3, 4}}}},
		"split_sizes": {[]*ir.Node{
			node("Split", []string{"x", "sizes"}, []string{"a", "b"}, attrInt("axis", 1)),
			node("Mul", []string{"a", "w"}, []string{"aw"}),
			node("Concat", []string{"b", "aw"}, []string{"y"}, attrInt("axis", 1)),
		}, []init_{{name: "x", shape: []int64{2, 4, 3}}, {name: "sizes", shape: []int64{2}, ints: []int64{1, 3}}, {name: "w", shape: []int64{3}}}},
		// a fused QKV projection cut in three equal parts along the last axis
		"split_equal": {[]*ir.Node{
			node("Split", []string{"x"}, []string{"q", "k", "v"}, attrInt("axis", -1)),
			node("Mul", []string{"q", "k"}, []string{"qk"}),
			node("Add", []string{"qk", "v"}, []string{"y"}),
		}, []init_{{name: "x", shape: []int64{2, 6}}}},
		"matmul_broadcast_batch": {[]*ir.Node{node("MatMul", []string{"a", "b"}, []string{"y"})},
			[]init_{{name: "a", shape: []int64{2, 3, 4, 5}}, {name: "b", shape: []int64{1, 3, 5, 2}}}},
		"matmul_2d_by_3d": {[]*ir.Node{node("MatMul", []string{"a", "b"}, []string{"y"})},
			[]init_{{name: "a", shape: []int64{4, 5}}, {name: "b", shape: []int64{2, 5, 3}}}},
		// scores.masked_fill(mask == 0, fill) as torch exports it
		"attention_mask_where": {[]*ir.Node{
			node("Equal", []string{"mask", "zero"}, []string{"pad"}),
			node("Where", []string{"pad", "fill", "scores"}, []string{"y"}),
		}, []init_{{name: "mask", shape: []int64{2, 1, 1, 4}, ints: []int64{1, 1, 0, 0, 1, 1, 1, 0}},
			{name: "zero", shape: []int64{}, ints: []int64{0}}, {name: "fill", shape: []int64{}},
			{name: "scores", shape: []int64{2, 3, 4, 4}}}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			gradCheck(t, graphModel(t, rand.New(rand.NewSource(3)), c.nodes, c.inits, "y"), "y")
		})
	}
}

// An id outside the table is an error naming the table, not a panic.
func TestGatherOutOfRange(t *testing.T) {
	m := graphModel(t, rand.New(rand.NewSource(1)), []*ir.Node{node("Gather", []string{"table", "ids"}, []string{"y"})},
		[]init_{{name: "table", shape: []int64{3, 2}}, {name: "ids", shape: []int64{1}, ints: []int64{3}}}, "y")
	n, err := NewNet(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Forward(nil); err == nil || !strings.Contains(err.Error(), `"table"`) {
		t.Fatalf("err = %v", err)
	}
}

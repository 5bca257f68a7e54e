package ir

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func node(name, op string, ins, outs []string, attrs ...*Attribute) *Node {
	return &Node{Name: name, OpType: op, Inputs: ins, Outputs: outs, Attrs: attrs}
}

func names(ns []*Node) []string {
	var s []string
	for _, n := range ns {
		s = append(s, n.Name)
	}
	return s
}

func TestTopoOrderKeepsASortedGraph(t *testing.T) {
	g := &Graph{Inputs: []*ValueInfo{{Name: "x"}}, Nodes: []*Node{
		node("a", "Relu", []string{"x"}, []string{"a"}),
		node("b", "Relu", []string{"a"}, []string{"b"}),
		node("c", "Add", []string{"a", "b"}, []string{"c"}),
	}}
	order, err := TopoOrder(g, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "c"}, names(order))
	assert.Same(t, &g.Nodes[0], &order[0], "a sorted graph's own slice comes back")
}

func TestTopoOrderIsStable(t *testing.T) {
	// As onnxruntime's quantizer writes them: a consumer before its producer. Only the
	// producers move; independent nodes keep their relative order.
	g := &Graph{Inputs: []*ValueInfo{{Name: "x"}}, Nodes: []*Node{
		node("p", "Relu", []string{"x"}, []string{"p"}),
		node("use", "Add", []string{"p", "q"}, []string{"y"}),
		node("r", "Neg", []string{"x"}, []string{"r"}),
		node("q", "Abs", []string{"x"}, []string{"q"}),
		node("s", "Exp", []string{"r"}, []string{"s"}),
	}}
	order, err := TopoOrder(g, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"p", "r", "q", "use", "s"}, names(order))
}

func TestTopoOrderSubgraphReadsCountAsInputs(t *testing.T) {
	// The If's branch reads "late", produced by a node written after the If.
	branch := &Graph{Nodes: []*Node{node("inner", "Identity", []string{"late"}, []string{"o"})}, Outputs: []*ValueInfo{{Name: "o"}}}
	g := &Graph{Inputs: []*ValueInfo{{Name: "x"}, {Name: "cond"}}, Nodes: []*Node{
		node("if", "If", []string{"cond"}, []string{"y"}, &Attribute{Name: "then_branch", Type: AttrGraph, Graph: branch}, &Attribute{Name: "else_branch", Type: AttrGraph, Graph: branch}),
		node("late", "Relu", []string{"x"}, []string{"late"}),
	}}
	assert.Equal(t, []string{"late"}, FreeNames(branch))
	order, err := TopoOrder(g, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"late", "if"}, names(order))
}

func TestSortNodesSortsSubgraphsWithOuterNames(t *testing.T) {
	body := &Graph{Inputs: []*ValueInfo{{Name: "i"}}, Nodes: []*Node{
		node("b2", "Add", []string{"b1", "outerv"}, []string{"o"}),
		node("b1", "Neg", []string{"i"}, []string{"b1"}),
	}, Outputs: []*ValueInfo{{Name: "o"}}}
	g := &Graph{Inputs: []*ValueInfo{{Name: "x"}, {Name: "cond"}}, Nodes: []*Node{
		node("if", "If", []string{"cond"}, []string{"y"}, &Attribute{Name: "then_branch", Type: AttrGraph, Graph: body}),
		node("outer", "Relu", []string{"x"}, []string{"outerv"}),
	}}
	require.NoError(t, SortNodes(g))
	assert.Equal(t, []string{"outer", "if"}, names(g.Nodes))
	assert.Equal(t, []string{"b1", "b2"}, names(body.Nodes))
}

func TestTopoOrderErrors(t *testing.T) {
	missing := &Graph{Inputs: []*ValueInfo{{Name: "x"}}, Nodes: []*Node{node("n1", "Add", []string{"x", "nowhere"}, []string{"y"})}}
	_, err := TopoOrder(missing, nil)
	require.Error(t, err)
	assert.Equal(t, KindCorrupt, KindOf(err))
	assert.Contains(t, err.Error(), `node "n1" (Add)`)
	assert.Contains(t, err.Error(), `"nowhere"`)
	// The same name visible from an enclosing graph is fine.
	_, err = TopoOrder(missing, func(s string) bool { return s == "nowhere" })
	require.NoError(t, err)

	cycle := &Graph{Inputs: []*ValueInfo{{Name: "x"}}, Nodes: []*Node{
		node("a", "Add", []string{"x", "b"}, []string{"a"}),
		node("b", "Relu", []string{"a"}, []string{"b"}),
	}}
	_, err = TopoOrder(cycle, nil)
	require.Error(t, err)
	assert.Equal(t, KindCorrupt, KindOf(err))
	assert.Contains(t, err.Error(), "cycle")
	assert.Contains(t, err.Error(), `node "a" (Add): input "b"`)

	self := &Graph{Nodes: []*Node{node("s", "Relu", []string{"s"}, []string{"s"})}}
	_, err = TopoOrder(self, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cycle")

	// A missing name inside a subgraph is reported by SortNodes with the subgraph node.
	body := &Graph{Nodes: []*Node{node("deep", "Identity", []string{"ghost"}, []string{"o"})}, Outputs: []*ValueInfo{{Name: "o"}}}
	g := &Graph{Inputs: []*ValueInfo{{Name: "cond"}}, Nodes: []*Node{
		node("if", "If", []string{"cond"}, []string{"y"}, &Attribute{Name: "then_branch", Type: AttrGraph, Graph: body}),
	}}
	err = SortNodes(g)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"ghost"`)
}

func TestWeightsCountsConstantNodesAndSubgraphs(t *testing.T) {
	w, err := NewTensor("w", Float32, []int64{2, 3}, make([]byte, 24))
	require.NoError(t, err)
	cv, err := NewTensor("", Float16, []int64{4}, make([]byte, 8))
	require.NoError(t, err)
	sub, err := NewTensor("s", Int8, []int64{5}, make([]byte, 5))
	require.NoError(t, err)
	body := &Graph{Initializers: []*Tensor{sub}, Nodes: []*Node{
		node("k", "Constant", nil, []string{"k"}, &Attribute{Name: "value_floats", Type: AttrFloats, Floats: []float32{1, 2, 3}}),
	}}
	g := &Graph{Initializers: []*Tensor{w}, Nodes: []*Node{
		node("c", "Constant", nil, []string{"c"}, &Attribute{Name: "value", Type: AttrTensor, Tensor: cv}),
		node("i", "Constant", nil, []string{"i"}, &Attribute{Name: "value_int", Type: AttrInt, Int: 7}),
		node("str", "Constant", nil, []string{"str"}, &Attribute{Name: "value_string", Type: AttrString, String: []byte("x")}),
		node("loop", "Loop", nil, nil, &Attribute{Name: "body", Type: AttrGraph, Graph: body}),
	}}
	var params int64
	bytes := map[DType]int64{}
	var got []string
	Weights(g, func(w Weight) {
		params += w.Elements
		bytes[w.DType] += w.Bytes
		got = append(got, w.Name)
	})
	assert.Equal(t, []string{"w", "c", "i", "s", "k"}, got)
	assert.Equal(t, int64(6+4+1+5+3), params)
	assert.Equal(t, map[DType]int64{Float32: 24 + 12, Float16: 8, Int64: 8, Int8: 5}, bytes)
}

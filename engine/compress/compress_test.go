package compress

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

func TestExclude(t *testing.T) {
	n := &ir.Node{Name: "encoder/layer1/attn", OpType: "MatMul"}
	for pat, want := range map[string]bool{"MatMul": true, "Gemm": false, "encoder/*/attn": true, "*attn*": false, "encoder/layer1/attn": true} {
		if got := (Exclude{pat}).Matches(n); got != want {
			t.Errorf("%q: %v", pat, got)
		}
	}
	if (Exclude{"[a-"}).Check() == nil || (Exclude{""}).Check() == nil || (Exclude{"a*"}).Check() != nil {
		t.Error("Check")
	}
}

func TestHelpers(t *testing.T) {
	if o, c, i := Channels([]int64{2, 3, 4, 5}, 1); o != 2 || c != 3 || i != 20 {
		t.Errorf("Channels %d %d %d", o, c, i)
	}
	if e := RelError([]float32{3, 4}, []float32{3, 4.5}); math.Abs(e-0.1) > 1e-9 {
		t.Errorf("RelError %g", e)
	}
	if s := Sparsity([]float32{0, 1, 0, 2}); s != 0.5 {
		t.Errorf("Sparsity %g", s)
	}
	m := &ir.Model{Graph: &ir.Graph{Nodes: []*ir.Node{{Name: "a", Outputs: []string{"a_1"}}}}}
	names := NewNames(m)
	if a, b := names.New("a"), names.New("a"); a != "a_2" || b != "a_3" {
		t.Errorf("names %s %s", a, b)
	}
}

func TestLayerReportJSONNonFinite(t *testing.T) {
	b, err := json.Marshal(LayerReport{Node: "fc", RelError: math.NaN(), ChannelError: math.Inf(1)})
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); !strings.Contains(s, `"rel_error":null`) || strings.Contains(s, "channel_error") && !strings.Contains(s, `"channel_error":null`) || !strings.Contains(s, `"node":"fc"`) {
		t.Fatal(s)
	}
	b, _ = json.Marshal(LayerReport{Node: "fc", RelError: 0.5})
	if s := string(b); !strings.Contains(s, `"rel_error":0.5`) {
		t.Fatal(s)
	}
}

func TestLiftConstantsAndNestedLayers(t *testing.T) {
	w := Float32Tensor("w_value", []int64{4, 2}, make([]float32, 8))
	outer := Float32Tensor("wo", []int64{4, 2}, make([]float32, 8))
	body := &ir.Graph{Nodes: []*ir.Node{
		{OpType: "Constant", Outputs: []string{"wb"}, Attrs: []*ir.Attribute{{Name: "value", Type: ir.AttrTensor, Tensor: w}}},
		{Name: "inner", OpType: "MatMul", Inputs: []string{"x", "wb"}, Outputs: []string{"t"}},
		{Name: "inner_outer", OpType: "MatMul", Inputs: []string{"x", "wo"}, Outputs: []string{"u"}},
		{OpType: "Add", Inputs: []string{"t", "u"}, Outputs: []string{"v"}},
	}, Outputs: []*ir.ValueInfo{{Name: "v"}}}
	m := &ir.Model{IRVersion: 8, Graph: &ir.Graph{
		Nodes: []*ir.Node{{Name: "if", OpType: "If", Inputs: []string{"c"}, Outputs: []string{"y"},
			Attrs: []*ir.Attribute{{Name: "then_branch", Type: ir.AttrGraph, Graph: body}, {Name: "else_branch", Type: ir.AttrGraph, Graph: body}}}},
		Initializers: []*ir.Tensor{outer},
	}}
	if n := LiftConstants(m); n != 1 || body.Initializer("wb") == nil || len(body.Nodes) != 3 {
		t.Fatalf("lifted %d, body %d nodes", n, len(body.Nodes))
	}
	ls := Layers(m, nil, &Report{})
	if len(ls) != 0 {
		// The same body object is both branches here: each weight is read twice.
		t.Fatalf("layers %v", ls)
	}
	m.Graph.Nodes[0].Attrs = m.Graph.Nodes[0].Attrs[:1]
	ls = Layers(m, nil, &Report{})
	if len(ls) != 2 || ls[0].Owner != body || ls[1].Owner != m.Graph || ls[1].Graph != body || !ls[1].Nested() {
		t.Fatalf("layers %+v", ls)
	}
}

func TestRequireOpsetConvertsTheNodes(t *testing.T) {
	x := &ir.ValueInfo{Name: "x", Type: ir.TensorType(ir.Float32, 1, 4)}
	z := &ir.ValueInfo{Name: "z", Type: &ir.Type{Kind: ir.TypeTensor, ElemType: ir.Float32}}
	m := &ir.Model{IRVersion: 7, Opsets: []ir.OpsetImport{{Version: 12}}, Graph: &ir.Graph{Inputs: []*ir.ValueInfo{x}, Outputs: []*ir.ValueInfo{z}, Nodes: []*ir.Node{
		{Name: "sq", OpType: "Squeeze", Inputs: []string{"x"}, Outputs: []string{"y"}, Attrs: []*ir.Attribute{{Name: "axes", Type: ir.AttrInts, Ints: []int64{0}}}},
		{Name: "rm", OpType: "ReduceMean", Inputs: []string{"y"}, Outputs: []string{"z"}, Attrs: []*ir.Attribute{{Name: "axes", Type: ir.AttrInts, Ints: []int64{0}}}},
	}}}
	if err := RequireOpset(m, 21); err != nil {
		t.Fatal(err)
	}
	if m.OpsetVersion("") != 21 || m.IRVersion < 10 {
		t.Fatalf("opset %d IR %d", m.OpsetVersion(""), m.IRVersion)
	}
	for _, n := range m.Graph.Nodes {
		if n.Attr("axes") != nil || len(n.Inputs) != 2 {
			t.Errorf("%s not converted: inputs %v", n.Name, n.Inputs)
		}
	}
}

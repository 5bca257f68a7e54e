package simplify

import (
	"strings"
	"testing"

	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/compress/internal/ctest"
	"github.com/modelc/modelc/engine/ir"
)

func TestSimplify(t *testing.T) {
	r := func(n int, seed int64) *ir.Tensor {
		v := ctest.Random(seed, n)
		return compress.Float32Tensor("", []int64{int64(n)}, v)
	}
	named := func(t *ir.Tensor, name string, shape ...int64) *ir.Tensor {
		t.Name = name
		if len(shape) > 0 {
			t.Shape = shape
		}
		return t
	}
	variance := ctest.Random(5, 4)
	for i := range variance {
		variance[i] = variance[i]*variance[i] + 0.5
	}
	m := ctest.Model([]int64{1, 2, 5, 5}, []*ir.Node{
		ctest.Node("conv", "Conv", []string{"x", "w", "b"}, []string{"c"}, ctest.Ints("pads", 1, 1, 1, 1)),
		ctest.Node("bn", "BatchNormalization", []string{"c", "g", "beta", "mean", "var"}, []string{"n"}),
		ctest.Node("id", "Identity", []string{"n"}, []string{"i"}),
		ctest.Node("drop", "Dropout", []string{"i"}, []string{"d"}),
		ctest.Node("two", "Constant", nil, []string{"k"}, &ir.Attribute{Name: "value", Type: ir.AttrTensor, Tensor: compress.Float32Tensor("", nil, []float32{2})}),
		ctest.Node("kk", "Mul", []string{"k", "k"}, []string{"k2"}),
		ctest.Node("scale", "Mul", []string{"d", "k2"}, []string{"s"}),
		ctest.Node("relu", "Relu", []string{"s"}, []string{"y"}),
		ctest.Node("dead", "Sigmoid", []string{"x"}, []string{"unused"}),
	},
		named(r(4*2*9, 1), "w", 4, 2, 3, 3), named(r(4, 2), "b"), named(r(4, 3), "g"), named(r(4, 4), "beta"),
		named(r(4, 6), "mean"), compress.Float32Tensor("var", []int64{4}, variance), named(r(3, 7), "orphan"))
	x := ctest.Random(8, 50)
	want := ctest.Run(t, m, x)
	rep, err := Simplify(m)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, n := range m.Graph.Nodes {
		ops = append(ops, n.OpType)
	}
	if got := strings.Join(ops, " "); got != "Conv Mul Relu" {
		t.Fatalf("ops %s; report %+v", got, rep)
	}
	for _, name := range []string{"orphan", "w", "g", "mean"} {
		if m.Graph.Initializer(name) != nil {
			t.Errorf("initializer %s kept", name)
		}
	}
	if k := m.Graph.Initializer("k2"); k == nil {
		t.Error("k·k not folded into an initializer")
	}
	if d := ctest.MaxDiff(want, ctest.Run(t, m, x)); d > 1e-4 {
		t.Fatalf("outputs differ by %g", d)
	}
	if !strings.Contains(rep.Notes[0], "1 BatchNormalization folded") {
		t.Fatalf("notes %v", rep.Notes)
	}
}

// An Identity whose output is a graph output: the producer writes the output directly.
func TestIdentityBeforeOutput(t *testing.T) {
	m := ctest.Model([]int64{2}, []*ir.Node{
		ctest.Node("relu", "Relu", []string{"x"}, []string{"r"}),
		ctest.Node("id", "Identity", []string{"r"}, []string{"y"}),
	})
	if _, err := Simplify(m); err != nil {
		t.Fatal(err)
	}
	if len(m.Graph.Nodes) != 1 || m.Graph.Nodes[0].Outputs[0] != "y" {
		t.Fatalf("%+v", m.Graph.Nodes)
	}
	if got := ctest.Run(t, m, []float32{-1, 2}); got[0] != 0 || got[1] != 2 {
		t.Fatal(got)
	}
}

package compress

import (
	"math"
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
	if err := RequireOpset(m, 21); err != nil {
		t.Fatal(err)
	}
	if m.OpsetVersion("") != 21 || m.IRVersion != 10 {
		t.Errorf("opset %d IR %d", m.OpsetVersion(""), m.IRVersion)
	}
}

package runtime

import (
	"context"
	"strings"
	"testing"

	"github.com/modelc/modelc/engine/format/npy"
	"github.com/modelc/modelc/engine/format/onnx"
	"github.com/modelc/modelc/engine/ir"
)

// TestProfile runs the fixtures (a CNN whose Convs take their BatchNormalization and
// Relu, a transformer with fused attention and LayerNorm, a Loop) with Options.Profile:
// every node that runs after folding is named by exactly one profiled step, the step
// and op totals add up to Profile.Total, the calls match the runs, and ResetProfile
// starts over. Without the option, Profile reports ok false.
func TestProfile(t *testing.T) {
	for _, name := range []string{"cnn", "transformer", "loop"} {
		t.Run(name, func(t *testing.T) {
			path := "../../testdata/onnx/" + name + ".onnx"
			m, err := onnx.Read(path)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			ins, err := npy.ReadTensors(strings.TrimSuffix(path, ".onnx") + ".inputs.npz")
			if err != nil {
				t.Fatal(err)
			}
			inputs := map[string]*Tensor{}
			for _, it := range ins {
				if inputs[it.Name], err = FromIR(it); err != nil {
					t.Fatal(err)
				}
			}
			plain, err := New(m, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := plain.Profile(); ok {
				t.Fatal("a session without Options.Profile returned a profile")
			}
			s, err := New(m, Options{Profile: true, Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			const runs = 3
			for r := 0; r < runs; r++ {
				if _, err := s.Run(context.Background(), inputs); err != nil {
					t.Fatal(err)
				}
			}
			p, ok := s.Profile()
			if !ok || p.Runs != runs || p.Total <= 0 || len(p.Nodes) == 0 {
				t.Fatalf("profile: ok %v runs %d total %v steps %d", ok, p.Runs, p.Total, len(p.Nodes))
			}
			seen := map[string]int{}
			var sum, opSum float64
			fused := false
			for _, n := range p.Nodes {
				if n.Calls < 1 || n.Calls > runs {
					t.Errorf("node %s: %d calls in %d runs", n.Name, n.Calls, runs)
				}
				for _, nn := range n.Nodes {
					seen[nn]++
				}
				if len(n.Nodes) > 1 {
					fused = true
					if n.Op == n.Nodes[0] || !strings.Contains(n.Op, "+") && n.Op != "Attention" && n.Op != "LayerNorm" && n.Op != "AddLayerNorm" && n.Op != "Gelu" && n.Op != "Linear" {
						t.Errorf("fused step %s (%v): op %q does not say what it computes", n.Name, n.Nodes, n.Op)
					}
				}
				sum += n.Share
			}
			for _, o := range p.Ops {
				opSum += o.Share
			}
			if sum < 0.999 || sum > 1.001 || opSum < 0.999 || opSum > 1.001 {
				t.Errorf("shares add up to %v (steps), %v (ops)", sum, opSum)
			}
			if name != "loop" && !fused {
				t.Errorf("no fused step in %s", name)
			}
			for _, st := range unfusedSteps(t, m) {
				if seen[st.Name] != 1 {
					t.Errorf("node %q (%s) appears in %d profiled steps", st.Name, st.OpType, seen[st.Name])
				}
			}
			s.ResetProfile()
			if p, _ := s.Profile(); p.Runs != 0 || p.Total != 0 || len(p.Nodes) != 0 {
				t.Errorf("after ResetProfile: %+v", p)
			}
		})
	}
}

// unfusedSteps lists the nodes of m's main graph that run when nothing is fused: the
// plan after constant folding.
func unfusedSteps(t *testing.T, m *ir.Model) []*ir.Node {
	t.Helper()
	prev := fastPaths
	fastPaths = false
	defer func() { fastPaths = prev }()
	s, err := New(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*ir.Node
	for _, st := range s.main.steps {
		nodes = append(nodes, st.node)
	}
	return nodes
}

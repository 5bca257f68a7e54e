package runtime

import (
	"context"
	"fmt"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// BenchmarkNodeOverhead runs a chain of 64 Relu nodes on 16 values: the time per node
// is the runtime's own cost of a step (scheduling, memory plan, output tensor), not the
// kernel's (go test -bench NodeOverhead ./engine/runtime; ns/node).
func BenchmarkNodeOverhead(b *testing.B) {
	const nodes = 64
	g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x"}}}
	prev := "x"
	for i := 0; i < nodes; i++ {
		out := fmt.Sprintf("r%d", i)
		g.Nodes = append(g.Nodes, &ir.Node{OpType: "Relu", Name: out, Inputs: []string{prev}, Outputs: []string{out}})
		prev = out
	}
	g.Outputs = []*ir.ValueInfo{{Name: prev}}
	s, err := New(&ir.Model{Opsets: []ir.OpsetImport{{Version: 21}}, Graph: g}, Options{Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	feed := map[string]*Tensor{"x": {DType: ir.Float32, Shape: []int{1, 16}, Data: make([]float32, 16)}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		out, err := s.Run(context.Background(), feed)
		if err != nil {
			b.Fatal(err)
		}
		s.Recycle(out)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*nodes), "ns/node")
}

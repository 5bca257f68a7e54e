package retarget

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelc/modelc/engine/format/onnx"
	"github.com/modelc/modelc/engine/ir"
)

func cnn(t *testing.T) *ir.Model {
	m, err := onnx.Read(filepath.Join("..", "..", "..", "testdata", "onnx", "cnn.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRetarget(t *testing.T) {
	for _, c := range []struct {
		size int64
		op   string
	}{{8, "Resize"}, {32, "AveragePool"}, {16, ""}, {12, "MatMul"}, {20, "MatMul"}} {
		m := cnn(t)
		r, err := Retarget(m, "image", []int64{1, 3, c.size, c.size})
		if err != nil {
			t.Fatalf("%d: %v", c.size, err)
		}
		ops := map[string]int{}
		for _, n := range m.Graph.Nodes {
			ops[n.OpType]++
		}
		if c.op != "" && (ops[c.op] == 0 || len(r.Notes) != 1) {
			t.Errorf("%d: ops %v, notes %v", c.size, ops, r.Notes)
		}
		after, err := Shapes(m, map[string][]int64{"image": {2, 3, c.size, c.size}})
		if err != nil || len(after["logits"]) != 2 || after["logits"][1] != 10 {
			t.Errorf("%d: %v %v", c.size, err, after["logits"])
		}
	}
	for _, bad := range [][]int64{{1, 3, 1, 1}, {1, 4, 8, 8}, {1, 3, 8}} {
		if _, err := Retarget(cnn(t), "image", bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
	if _, err := Retarget(cnn(t), "x", []int64{1, 3, 8, 8}); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("unknown input: %v", err)
	}
}

// TestAdaptivePoolMatrix: the bins of torch's adaptive_avg_pool1d (start floor(i·in/out),
// end ceil((i+1)·in/out)), written out by hand for a stretch 6 → 8 and a shrink 8 → 3.
func TestAdaptivePoolMatrix(t *testing.T) {
	for _, c := range []struct {
		in, out int
		bins    [][2]int
	}{
		{6, 8, [][2]int{{0, 1}, {0, 2}, {1, 3}, {2, 3}, {3, 4}, {3, 5}, {4, 6}, {5, 6}}},
		{8, 3, [][2]int{{0, 3}, {2, 6}, {5, 8}}},
	} {
		m := AdaptivePoolMatrix(c.in, c.out)
		for i, b := range c.bins {
			for j := 0; j < c.in; j++ {
				want := float32(0)
				if j >= b[0] && j < b[1] {
					want = 1 / float32(b[1]-b[0])
				}
				if m[j*c.out+i] != want {
					t.Errorf("%d→%d: output %d input %d weight %g, want %g", c.in, c.out, i, j, m[j*c.out+i], want)
				}
			}
		}
	}
}

// TestBicubic: the same size gives the grid back and a constant grid stays constant (the
// weights sum to 1); torch's F.interpolate is the oracle in tests/interop/test_retarget.py.
func TestBicubic(t *testing.T) {
	grid := make([]float32, 4*5*2)
	for i := range grid {
		grid[i] = float32(i%7) - 3
	}
	same := Bicubic(grid, 4, 5, 2, 4, 5)
	for i := range grid {
		if same[i] != grid[i] {
			t.Fatalf("same size: value %d is %g, want %g", i, same[i], grid[i])
		}
	}
	flat := make([]float32, 3*3)
	for i := range flat {
		flat[i] = 2.5
	}
	for i, v := range Bicubic(flat, 3, 3, 1, 7, 5) {
		if math.Abs(float64(v)-2.5) > 1e-6 {
			t.Fatalf("constant grid: value %d is %g", i, v)
		}
	}
}

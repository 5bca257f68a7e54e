package retarget

import (
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
	}{{8, "Resize"}, {32, "AveragePool"}, {16, ""}} {
		m := cnn(t)
		r, err := Retarget(m, "image", []int64{1, 3, c.size, c.size})
		if err != nil {
			t.Fatalf("%d: %v", c.size, err)
		}
		ops := map[string]int{}
		for _, n := range m.Graph.Nodes {
			ops[n.OpType]++
		}
		if c.op != "" && (ops[c.op] != 1 || len(r.Notes) != 1) {
			t.Errorf("%d: ops %v, notes %v", c.size, ops, r.Notes)
		}
		after, err := shapes(m, map[string][]int64{"image": {2, 3, c.size, c.size}})
		if err != nil || len(after["logits"]) != 2 || after["logits"][1] != 10 {
			t.Errorf("%d: %v %v", c.size, err, after["logits"])
		}
	}
	for _, bad := range [][]int64{{1, 3, 12, 12}, {1, 4, 8, 8}, {1, 3, 8}} {
		if _, err := Retarget(cnn(t), "image", bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
	if _, err := Retarget(cnn(t), "x", []int64{1, 3, 8, 8}); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("unknown input: %v", err)
	}
}

package retarget

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/format/onnx"
	"github.com/modelc/modelc/engine/ir"
)

func TestSequenceDynamic(t *testing.T) {
	m, err := onnx.Read(filepath.Join("..", "..", "..", "testdata", "onnx", "transformer.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	compress.LiftConstants(m)
	if !DynamicLength(m) {
		t.Fatal("transformer.onnx's sequence should be dynamic")
	}
	if _, err := Sequence(m, 4); err != nil {
		t.Fatal(err)
	}
	if d := m.Graph.Inputs[0].Type.Shape.Dims[1]; !d.HasValue || d.Value != 4 {
		t.Fatalf("declared %v", d)
	}
	if _, err := Sequence(m, 4); err == nil || !strings.Contains(err.Error(), "not shorter") {
		t.Fatalf("same length again: %v", err)
	}
}

func TestSliceDims(t *testing.T) {
	v := make([]float32, 2*3*3)
	for i := range v {
		v[i] = float32(i)
	}
	x, _ := ir.NewTensor("mask", ir.Float32, []int64{2, 3, 3}, ir.Float32Bytes(v))
	if err := sliceDims(x, 3, 2, false); err != nil {
		t.Fatal(err)
	}
	got, _ := x.Float32s()
	want := []float32{0, 1, 3, 4, 9, 10, 12, 13}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("%v, want %v", got, want)
		}
	}
	p, _ := ir.NewTensor("shape", ir.Int64, []int64{3}, make([]byte, 24))
	setInts(p, []int64{1, 3, -1})
	if s := ints(p); s[1] != 3 || s[2] != -1 {
		t.Fatalf("%v", s)
	}
}

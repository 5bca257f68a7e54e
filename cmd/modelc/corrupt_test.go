package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/modelc/modelc/engine/format/onnx"
	"github.com/modelc/modelc/engine/ir"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An ONNX file that defines an initializer twice is corrupt: exit 4, whatever the command
// and the output format, not 2 (a usage error).
func TestDuplicateInitializersExitCorrupt(t *testing.T) {
	w1, err := ir.NewTensor("w", ir.Float32, []int64{2}, make([]byte, 8))
	require.NoError(t, err)
	w2, err := ir.NewTensor("w", ir.Float32, []int64{2}, make([]byte, 8))
	require.NoError(t, err)
	f32 := &ir.Type{Kind: ir.TypeTensor, ElemType: ir.Float32, Shape: &ir.Shape{Dims: []ir.Dim{{HasValue: true, Value: 2}}}}
	m := &ir.Model{IRVersion: 8, Opsets: []ir.OpsetImport{{Version: 17}}, Graph: &ir.Graph{
		Name:         "g",
		Nodes:        []*ir.Node{{OpType: "Add", Inputs: []string{"x", "w"}, Outputs: []string{"y"}}},
		Inputs:       []*ir.ValueInfo{{Name: "x", Type: f32}},
		Outputs:      []*ir.ValueInfo{{Name: "y", Type: f32}},
		Initializers: []*ir.Tensor{w1, w2},
	}}
	var b bytes.Buffer
	require.NoError(t, onnx.Encode(m, &b))
	dir := t.TempDir()
	src := filepath.Join(dir, "dup.onnx")
	require.NoError(t, os.WriteFile(src, b.Bytes(), 0o644))
	for _, args := range [][]string{
		{"convert", src, filepath.Join(dir, "out.safetensors")},
		{"convert", src, filepath.Join(dir, "out.gguf")},
		{"convert", src, filepath.Join(dir, "out.onnx")},
		{"compress", src, filepath.Join(dir, "out.onnx"), "--quantize", "fp16"},
		{"info", src},
		{"check", src},
	} {
		code, _, stderr := modelc(args...)
		assert.Equal(t, exitCorrupt, code, "modelc %v: %s", args, stderr)
		assert.Contains(t, stderr, `initializer "w" is defined twice`, "modelc %v", args)
	}
	entries, _ := os.ReadDir(dir)
	assert.Len(t, entries, 1)
}

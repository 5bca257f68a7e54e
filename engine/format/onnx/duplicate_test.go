package onnx

import (
	"bytes"
	"testing"

	"github.com/modelc/modelc/engine/ir"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// duplicateInitializers encodes a model whose graph defines the initializer "w" twice, as
// a corrupt file would (onnx.checker and onnxruntime refuse it).
func duplicateInitializers(t testing.TB) []byte {
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
	require.NoError(t, Encode(m, &b))
	return b.Bytes()
}

func TestDuplicateInitializersAreCorrupt(t *testing.T) {
	_, err := ReadBytes(duplicateInitializers(t), "dup.onnx", "")
	require.Error(t, err)
	assert.Equal(t, ir.KindCorrupt, ir.KindOf(err), "%v", err)
	assert.Contains(t, err.Error(), `initializer "w" is defined twice`)
}

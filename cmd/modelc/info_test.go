package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// info on a weights-only file shows the format's own facts (tensor count, dtypes, the
// largest tensors, metadata), not an ONNX summary of a graph it does not have; --tensors
// lists every tensor.
func TestInfoWeightsOnly(t *testing.T) {
	dir := t.TempDir()
	for _, ext := range []string{".safetensors", ".gguf", ".pt", ".npz"} {
		path := filepath.Join(dir, "model"+ext)
		src := "../../testdata/onnx/cnn.onnx"
		if ext == ".npz" { // NumPy holds weights only: from the safetensors file
			src = filepath.Join(dir, "model.safetensors")
		}
		code, _, stderr := modelc("convert", src, path)
		require.Equal(t, exitOK, code, stderr)

		code, out, stderr := modelc("info", path)
		require.Equal(t, exitOK, code, stderr)
		assert.Contains(t, out, "weights only", ext)
		assert.Contains(t, out, "tensors    14, ", ext)
		assert.Contains(t, out, "float32    14 tensors", ext)
		assert.Contains(t, out, "largest 10 of 14 (--tensors lists all)", ext)
		assert.Contains(t, out, "float32[10, 256]", ext) // the largest, classifier.1.weight
		for _, bad := range []string{"IR version", "opsets", "nodes"} {
			assert.NotContains(t, out, bad, ext)
		}
		assert.Less(t, strings.Count(out, "\n  "), 14+2, ext)

		code, out, stderr = modelc("info", "--tensors", path)
		require.Equal(t, exitOK, code, stderr)
		assert.Contains(t, out, "float32[8, 3, 3, 3]", ext)
		assert.Contains(t, out, "float32[16]", ext)
		assert.NotContains(t, out, "largest", ext)

		code, out, stderr = modelc("info", "--json", path)
		require.Equal(t, exitOK, code, stderr)
		var info struct {
			WeightsOnly bool           `json:"weights_only"`
			TensorCount int            `json:"tensor_count"`
			PerDType    map[string]int `json:"tensors_per_dtype"`
			Tensors     []struct {
				Name  string  `json:"name"`
				Shape []int64 `json:"shape"`
				Bytes int64   `json:"bytes"`
			} `json:"tensors"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &info))
		assert.True(t, info.WeightsOnly, ext)
		assert.Equal(t, 14, info.TensorCount, ext)
		assert.Equal(t, map[string]int{"float32": 14}, info.PerDType, ext)
		assert.Len(t, info.Tensors, 14, ext)
	}

	// An ONNX model keeps its graph summary, and lists its initializers with --tensors.
	code, out, _ := modelc("info", "--tensors", "../../testdata/onnx/cnn.onnx")
	require.Equal(t, exitOK, code)
	assert.Contains(t, out, "IR version 8")
	assert.Contains(t, out, "initializers\n")
	assert.Contains(t, out, "classifier.1.weight")
}

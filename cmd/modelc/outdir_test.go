package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// run --output-dir creates a missing folder; convert and compress say plainly that the
// output's folder is missing (not something about a temporary file) and write nothing.
func TestOutputFolders(t *testing.T) {
	src := "../../testdata/onnx/cnn.onnx"
	dir := t.TempDir()
	outDir := filepath.Join(dir, "new", "outputs")
	code, stdout, stderr := modelc("run", src, "--inputs", "../../testdata/onnx/cnn.inputs.npz", "--output-dir", outDir)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, filepath.Join(outDir, "logits.npy"))
	assert.FileExists(t, filepath.Join(outDir, "logits.npy"))

	missing := filepath.Join(dir, "missing")
	for _, args := range [][]string{
		{"convert", src, filepath.Join(missing, "model.safetensors"), "--max-shard-size", "10KB"},
		{"convert", src, filepath.Join(missing, "model.safetensors")},
		{"convert", src, filepath.Join(missing, "model.onnx"), "--external-data"},
		{"compress", src, filepath.Join(missing, "model.onnx"), "--quantize", "int8"},
	} {
		code, _, stderr := modelc(args...)
		assert.Equal(t, exitUsage, code, "modelc %v: %s", args, stderr)
		assert.Contains(t, stderr, "the output folder "+missing+" does not exist", "modelc %v", args)
		assert.NotContains(t, stderr, ".tmp", "modelc %v", args)
		assert.NoDirExists(t, missing)
	}
}

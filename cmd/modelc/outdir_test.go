package main

import (
	"fmt"
	"os"
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
		assert.Equal(t, exitIO, code, "modelc %v: %s", args, stderr)
		assert.Contains(t, stderr, "the output folder "+missing+" does not exist", "modelc %v", args)
		assert.NotContains(t, stderr, ".tmp", "modelc %v", args)
		assert.NoDirExists(t, missing)
	}
}

// After a sharded write, convert lists the files it wrote (not a model.safetensors that
// does not exist); after an unsharded one, the file.
func TestConvertReportsShards(t *testing.T) {
	src := "../../testdata/onnx/cnn.onnx"
	dir := t.TempDir()
	dst := filepath.Join(dir, "model.safetensors")
	code, stdout, stderr := modelc("convert", src, dst, "--max-shard-size", "10KB")
	require.Equal(t, exitOK, code, stderr)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Greater(t, len(entries), 2)
	assert.Contains(t, stdout, fmt.Sprintf("wrote %d shards and their index", len(entries)-1))
	for _, e := range entries {
		assert.Contains(t, stdout, filepath.Join(dir, e.Name()))
	}
	assert.NotContains(t, stdout, dst+" ")
	assert.NoFileExists(t, dst)

	one := filepath.Join(t.TempDir(), "model.safetensors")
	code, stdout, stderr = modelc("convert", src, one, "--max-shard-size", "1GB")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "wrote "+one+" (onnx → safetensors)")
	assert.FileExists(t, one)
}

// run --runs N --profile writes the outputs and then a table of the nodes (a fused
// Conv chain as one, named by what it computes) and per-op totals; --runs 0 is a usage
// error.
func TestRunProfile(t *testing.T) {
	src := "../../testdata/onnx/cnn.onnx"
	outDir := t.TempDir()
	code, stdout, stderr := modelc("run", src, "--inputs", "../../testdata/onnx/cnn.inputs.npz", "--output-dir", outDir, "--runs", "3", "--profile")
	require.Equal(t, exitOK, code, stderr)
	assert.FileExists(t, filepath.Join(outDir, "logits.npy"))
	assert.Contains(t, stdout, "profile: 2 run(s) after 1 warm-up run")
	assert.Regexp(t, `\n  /features/features.0/Conv +Conv\+Relu\+BatchNormalization +[0-9.]+ +[0-9.]+%\n`, stdout)
	// The per-op table lists the two fused Convs as one line; its rank depends on timing.
	assert.Regexp(t, `\n  per op +steps +ms/run +share\n(  .*\n)*  Conv\+Relu\+BatchNormalization +2 `, stdout)
	assert.Contains(t, stdout, "Gemm")

	code, stdout, _ = modelc("run", src, "--inputs", "../../testdata/onnx/cnn.inputs.npz", "--output-dir", outDir)
	require.Equal(t, exitOK, code)
	assert.NotContains(t, stdout, "profile")

	code, _, stderr = modelc("run", src, "--inputs", "../../testdata/onnx/cnn.inputs.npz", "--output-dir", outDir, "--runs", "0")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "--runs")
}

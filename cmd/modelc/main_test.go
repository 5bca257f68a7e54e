package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func modelc(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func fixture(t *testing.T) string {
	matches, _ := filepath.Glob("../../testdata/onnx/*.onnx")
	if len(matches) == 0 {
		t.Skip("no ONNX fixtures in testdata/onnx")
	}
	return matches[0]
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "bad.onnx")
	require.NoError(t, os.WriteFile(garbage, []byte{0x08, 0x08, 0x3a, 0x7f, 1}, 0o644))
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{nil, exitUsage, "Usage"},
		{[]string{"frobnicate"}, exitUsage, "unknown command"},
		{[]string{"info"}, exitUsage, "usage: modelc info"},
		{[]string{"info", "--bogus", "x"}, exitUsage, "bogus"},
		{[]string{"info", filepath.Join(dir, "missing.onnx")}, exitIO, "missing.onnx"},
		{[]string{"info", garbage}, exitCorrupt, "bad.onnx"},
		{[]string{"convert", garbage, garbage}, exitUsage, "input"},
		{[]string{"version"}, exitOK, ""},
		{[]string{"help"}, exitOK, ""},
	}
	for _, c := range cases {
		code, stdout, stderr := modelc(c.args...)
		assert.Equal(t, c.code, code, "modelc %v: %s", c.args, stderr)
		assert.Contains(t, stderr+stdout, c.msg, "modelc %v", c.args)
	}
	assert.NoFileExists(t, filepath.Join(dir, "out.onnx"))
}

func TestInfoAndConvert(t *testing.T) {
	src := fixture(t)
	code, out, stderr := modelc("info", "--json", src)
	require.Equal(t, exitOK, code, stderr)
	var info map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &info))
	assert.Equal(t, "onnx", info["format"])
	assert.NotEmpty(t, info["op_histogram"])

	code, out, _ = modelc("info", src)
	require.Equal(t, exitOK, code)
	assert.Contains(t, out, "parameters")

	dst := filepath.Join(t.TempDir(), "out.onnx")
	code, out, stderr = modelc("convert", src, dst, "--external-data")
	require.Equal(t, exitOK, code, stderr)
	assert.True(t, strings.Contains(out, "external data"), out)
	assert.FileExists(t, dst+".data")
}

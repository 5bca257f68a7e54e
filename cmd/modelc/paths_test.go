package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The exit codes of refused outputs, as `modelc help` documents them: 2 for a path that
// may not be an output (one of the input's files, a symlink, a FIFO, a device), 3 for a
// read-only file; the input and the special files stay as they were.
func TestRefusedOutputsExitCodes(t *testing.T) {
	src := fixture(t)
	dir := t.TempDir()
	model := filepath.Join(dir, "m.onnx")
	code, _, stderr := modelc("convert", src, model, "--external-data", "--size-threshold", "0")
	require.Equal(t, exitOK, code, stderr)
	data, err := os.ReadFile(model + ".data")
	require.NoError(t, err)

	fifo := filepath.Join(dir, "fifo.onnx")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	link := filepath.Join(dir, "link.onnx")
	require.NoError(t, os.Symlink(model, link))
	ro := filepath.Join(dir, "ro.onnx")
	require.NoError(t, os.WriteFile(ro, []byte("mine"), 0o444))
	require.NoError(t, os.Chmod(ro, 0o444))
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"convert", model, model + ".data", "--to", "onnx"}, exitUsage, "one of the input's files"},
		{[]string{"convert", src, fifo}, exitUsage, "FIFO"},
		{[]string{"convert", src, link}, exitUsage, "symbolic link"},
		{[]string{"convert", src, "/dev/null", "--to", "onnx"}, exitUsage, "device"},
		{[]string{"convert", src, ro}, exitIO, "read-only"},
	}
	for _, c := range cases {
		code, _, stderr := modelc(c.args...)
		assert.Equal(t, c.code, code, "modelc %v: %s", c.args, stderr)
		assert.Contains(t, stderr, c.msg, "modelc %v", c.args)
	}
	after, err := os.ReadFile(model + ".data")
	require.NoError(t, err)
	assert.Equal(t, data, after, "the input's external data changed")
	b, _ := os.ReadFile(ro)
	assert.Equal(t, "mine", string(b))
	st, err := os.Lstat(fifo)
	require.NoError(t, err)
	assert.NotZero(t, st.Mode()&os.ModeNamedPipe)
}

package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeNpy writes a float32 .npy of zeros of the given shape.
func writeNpy(t *testing.T, path string, rows, cols int) {
	header := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols)
	for (10+len(header)+1)%64 != 0 {
		header += " "
	}
	header += "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	require.NoError(t, binary.Write(&b, binary.LittleEndian, uint16(len(header))))
	b.WriteString(header)
	b.Write(make([]byte, 4*rows*cols))
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
}

// A full disk while writing says "no space left on device" (exit 3), for every output
// format, and leaves no partial file. Needs a 1 MiB tmpfs, so root (skipped otherwise).
func TestFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	small := t.TempDir()
	if err := syscall.Mount("tmpfs", small, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(small, 0) })
	src := filepath.Join(t.TempDir(), "big.npy")
	writeNpy(t, src, 3*1024, 1024) // 12 MiB: a GGUF writer copies it in two pieces
	for _, out := range []string{"m.gguf", "m.safetensors", "m.pt", "m.onnx"} {
		for _, extra := range [][]string{nil, {"--quantize", "q8_0"}} {
			if extra != nil && out != "m.gguf" {
				continue
			}
			args := append([]string{"convert", src, filepath.Join(small, out)}, extra...)
			code, _, stderr := modelc(args...)
			assert.Equal(t, exitIO, code, "modelc %v: %s", args, stderr)
			assert.Contains(t, stderr, "no space left on device", "modelc %v", args)
			assert.NotContains(t, stderr, "internal error", "modelc %v", args)
			entries, _ := os.ReadDir(small)
			assert.Empty(t, entries, "modelc %v", args)
		}
	}
}

package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/modelc/modelc/engine/format/onnx"
	"github.com/modelc/modelc/engine/ir"
)

// writeBenchModel writes an ONNX model with count initializers of size bytes each.
func writeBenchModel(b *testing.B, count, size int) string {
	b.Helper()
	m := &ir.Model{IRVersion: 10, Opsets: []ir.OpsetImport{{Version: 17}}, Graph: &ir.Graph{Name: "bench"}}
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i)
	}
	for i := 0; i < count; i++ {
		t, err := ir.NewTensor(fmt.Sprintf("w%03d", i), ir.Float32, []int64{int64(size / 4)}, data)
		if err != nil {
			b.Fatal(err)
		}
		m.Graph.Initializers = append(m.Graph.Initializers, t)
	}
	path := filepath.Join(b.TempDir(), "bench.onnx")
	if _, err := onnx.Write(m, path, onnx.WriteOptions{}); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkONNXRead parses a 256 MiB model (64 initializers of 4 MiB) from its memory
// map; the tensor data is not touched, as in `modelc info`.
func BenchmarkONNXRead(b *testing.B) {
	path := writeBenchModel(b, 64, 4<<20)
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m, err := onnx.Read(path)
		if err != nil {
			b.Fatal(err)
		}
		m.Close()
	}
}

// BenchmarkONNXConvert reads a 256 MiB model and writes it back (inline), so every byte
// of tensor data is read and written once.
func BenchmarkONNXConvert(b *testing.B) {
	path := writeBenchModel(b, 64, 4<<20)
	out := filepath.Join(b.TempDir(), "out.onnx")
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m, err := onnx.Read(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := onnx.Write(m, out, onnx.WriteOptions{Written: release(m)}); err != nil {
			b.Fatal(err)
		}
		m.Close()
	}
}

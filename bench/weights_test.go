package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/modelc/modelc/engine/format/safetensors"
	"github.com/modelc/modelc/engine/format/torch"
	"github.com/modelc/modelc/engine/ir"
)

// writeBenchSafetensors writes a safetensors file of count F16 tensors of size bytes each.
func writeBenchSafetensors(b *testing.B, count, size int) string {
	b.Helper()
	m := &ir.Model{Graph: &ir.Graph{}}
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 31)
	}
	for i := 0; i < count; i++ {
		t, err := ir.NewTensor(fmt.Sprintf("layers.%03d.weight", i), ir.Float16, []int64{int64(size / 2 / 1024), 1024}, data)
		if err != nil {
			b.Fatal(err)
		}
		m.Graph.Initializers = append(m.Graph.Initializers, t)
	}
	path := filepath.Join(b.TempDir(), "bench.safetensors")
	if err := safetensors.Write(m, path, safetensors.WriteOptions{}); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkSafetensorsToSafetensors reads a 256 MiB F16 file from its memory map and
// writes it back out (header, every tensor's bytes, fsync), releasing the input's pages as
// it goes, as `modelc convert` does.
func BenchmarkSafetensorsToSafetensors(b *testing.B) {
	benchWeights(b, func(m *ir.Model, out string) error {
		return safetensors.Write(m, out+".safetensors", safetensors.WriteOptions{Written: release(m)})
	})
}

// BenchmarkSafetensorsToTorch writes the same file as a PyTorch checkpoint (CRC-32 of every
// storage, 64-byte aligned zip entries).
func BenchmarkSafetensorsToTorch(b *testing.B) {
	benchWeights(b, func(m *ir.Model, out string) error {
		return torch.Write(m, out+".pt", torch.WriteOptions{Written: release(m)})
	})
}

func benchWeights(b *testing.B, write func(*ir.Model, string) error) {
	path := writeBenchSafetensors(b, 64, 4<<20)
	out := filepath.Join(b.TempDir(), "out")
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m, err := safetensors.Read(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := write(m, out); err != nil {
			b.Fatal(err)
		}
		m.Close()
	}
}

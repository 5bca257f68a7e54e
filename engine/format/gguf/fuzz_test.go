package gguf

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// FuzzRead: any bytes give a model or a classified error, never a panic or a huge
// allocation; a model that parses can be written out again.
func FuzzRead(f *testing.F) {
	dir := f.TempDir()
	for _, q := range []string{"", "q8_0", "q4_k"} {
		path := filepath.Join(dir, "seed"+q+".gguf")
		if err := Write(testModelF(), path, WriteOptions{Quantize: q}); err != nil {
			f.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("GGUF\x03\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data, "fuzz.gguf")
		if err != nil {
			if k := ir.KindOf(err); k != ir.KindCorrupt && k != ir.KindUnsupported {
				t.Fatalf("error of kind %v: %v", k, err)
			}
			return
		}
		for _, tn := range m.Graph.Initializers {
			if _, err := tn.Float32s(); err != nil && tn.DType.String() == "q8_0" {
				t.Fatalf("tensor %q: %v", tn.Name, err)
			}
		}
	})
}

// testModelF is a small model for the fuzz seeds (testModel needs a *testing.T).
func testModelF() *ir.Model {
	x := make([]float32, 4*256)
	for i := range x {
		x[i] = float32(i%17) - 8
	}
	w, _ := ir.NewTensor("blk.0.ffn_up.weight", ir.Float32, []int64{4, 256}, f32Bytes(x))
	n, _ := ir.NewTensor("blk.0.attn_norm.weight", ir.Float32, []int64{256}, f32Bytes(x[:256]))
	return &ir.Model{KV: []ir.MetaKV{{Key: "general.architecture", Value: "llama"}, {Key: "a", Value: []any{[]int32{1}}}},
		Graph: &ir.Graph{Initializers: []*ir.Tensor{w, n}}}
}

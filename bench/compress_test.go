package bench

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/modelc/modelc/engine"
	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/format/onnx"
	"github.com/modelc/modelc/engine/ir"
)

// writeMatMulChain writes x → MatMul W0 → MatMul W1 → … with layers d×d float32 weights.
func writeMatMulChain(b *testing.B, layers, d int) string {
	b.Helper()
	r := rand.New(rand.NewSource(1))
	m := &ir.Model{IRVersion: 9, Opsets: []ir.OpsetImport{{Version: 17}}, Graph: &ir.Graph{Name: "chain",
		Inputs:  []*ir.ValueInfo{{Name: "x0", Type: ir.TensorType(ir.Float32, 1, int64(d))}},
		Outputs: []*ir.ValueInfo{{Name: fmt.Sprintf("x%d", layers)}}}}
	w := make([]float32, d*d)
	for l := 0; l < layers; l++ {
		for i := range w {
			w[i] = float32(r.NormFloat64())
		}
		name := fmt.Sprintf("w%d", l)
		m.Graph.Initializers = append(m.Graph.Initializers, compress.Float32Tensor(name, []int64{int64(d), int64(d)}, w))
		m.Graph.Nodes = append(m.Graph.Nodes, &ir.Node{Name: fmt.Sprintf("mm%d", l), OpType: "MatMul",
			Inputs: []string{fmt.Sprintf("x%d", l), name}, Outputs: []string{fmt.Sprintf("x%d", l+1)}})
	}
	path := filepath.Join(b.TempDir(), "chain.onnx")
	if _, err := onnx.Write(m, path, onnx.WriteOptions{}); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkCompressDynamicInt8 is `modelc compress --quantize int8 --mode dynamic
// --symmetric` of a 256 MiB model (16 weights of 2048×2048): read, quantize, write.
// bench/compress.py runs the same on a 100 M-parameter transformer against
// onnxruntime's quantize_dynamic.
func BenchmarkCompressDynamicInt8(b *testing.B) {
	benchCompress(b, engine.CompressOptions{Quantize: "int8", Mode: "dynamic", Symmetric: true})
}

// BenchmarkCompressInt4 is the block-wise int4 weight-only quantization of the same
// model (error-minimising scales: 41 candidates per block of 32).
func BenchmarkCompressInt4(b *testing.B) {
	benchCompress(b, engine.CompressOptions{Quantize: "int4", BlockSize: 32})
}

func benchCompress(b *testing.B, o engine.CompressOptions) {
	src := writeMatMulChain(b, 16, 2048)
	dst := filepath.Join(b.TempDir(), "out.onnx")
	st, _ := os.Stat(src)
	b.SetBytes(st.Size())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := engine.Compress(context.Background(), src, dst, o, nil); err != nil {
			b.Fatal(err)
		}
	}
}

package bench

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/modelc/modelc/engine/format/gguf"
)

// BenchmarkGGUFQuantize measures one thread of each ggml quantizer on 16 Mi float32
// values (64 MB); MB/s is of float32 input. The convert benchmark with threads and I/O
// is bench/gguf_convert.py.
func BenchmarkGGUFQuantize(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 16<<20)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // the accel kernels follow GOMAXPROCS
	for _, name := range []string{"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k"} {
		t, _ := gguf.TypeByName(name)
		elems, size := t.BlockSize()
		dst := make([]byte, int64(len(x))/elems*size)
		b.Run(fmt.Sprintf("%s/threads=1", name), func(b *testing.B) {
			b.SetBytes(int64(4 * len(x)))
			for i := 0; i < b.N; i++ {
				gguf.Quantize(t, dst, x)
			}
		})
	}
}

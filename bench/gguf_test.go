package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"unsafe"

	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/format/gguf"
	"github.com/modelc/modelc/engine/format/safetensors"
	"github.com/modelc/modelc/engine/ir"
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

// BenchmarkGGUFConvert is the Go side of bench/gguf_convert.py, small enough to profile
// (-cpuprofile): a 256 MiB F16 safetensors file of N(0,1) values (64 tensors of
// 2048×1024) read from its memory map and written as GGUF Q8_0 / Q4_K on one thread
// (GOMAXPROCS=1, Threads 1), fsync included. MB/s is of F16 input.
func BenchmarkGGUFConvert(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	f := make([]float32, 2048*1024)
	for i := range f {
		f[i] = float32(r.NormFloat64())
	}
	h := make([]uint16, len(f))
	accel.F32ToF16(h, f)
	data := unsafe.Slice((*byte)(unsafe.Pointer(&h[0])), 2*len(h))
	m := &ir.Model{Graph: &ir.Graph{}}
	for i := 0; i < 64; i++ {
		t, err := ir.NewTensor(fmt.Sprintf("blk.%d.ffn_up.weight", i), ir.Float16, []int64{2048, 1024}, data)
		if err != nil {
			b.Fatal(err)
		}
		m.Graph.Initializers = append(m.Graph.Initializers, t)
	}
	dir := b.TempDir()
	path := filepath.Join(dir, "in.safetensors")
	if err := safetensors.Write(m, path, safetensors.WriteOptions{}); err != nil {
		b.Fatal(err)
	}
	st, _ := os.Stat(path)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for _, q := range []string{"q8_0", "q4_k"} {
		b.Run(q+"/threads=1", func(b *testing.B) {
			b.SetBytes(st.Size())
			for i := 0; i < b.N; i++ {
				in, err := safetensors.Read(path)
				if err != nil {
					b.Fatal(err)
				}
				err = gguf.Write(in, filepath.Join(dir, "out.gguf"), gguf.WriteOptions{Quantize: q, Threads: 1, Written: release(in)})
				in.Close()
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

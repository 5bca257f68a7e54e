package bench

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelc/modelc/engine/format/npy"
	"github.com/modelc/modelc/engine/format/onnx"
	"github.com/modelc/modelc/engine/runtime"
)

// BenchmarkRuntime times one Session.Run (and Session.Recycle of its outputs) per
// iteration on each model: the fixtures of testdata/onnx by default, or the
// comma-separated MODELC_BENCH_MODELS (each model's inputs in <model minus
// .onnx>.inputs.npz). MODELC_BENCH_THREADS sets the thread
// count (default 1); the first-ms metric is the cost of read + plan + first run.
// bench/runtime.py and bench/runtime_set.py run this and onnxruntime side by side.
func BenchmarkRuntime(b *testing.B) {
	models, _ := filepath.Glob("../testdata/onnx/*.onnx")
	if env := os.Getenv("MODELC_BENCH_MODELS"); env != "" {
		models = strings.Split(env, ",")
	}
	threads, _ := strconv.Atoi(os.Getenv("MODELC_BENCH_THREADS"))
	if threads <= 0 {
		threads = 1
	}
	for _, path := range models {
		name := strings.TrimSuffix(filepath.Base(path), ".onnx")
		b.Run(name, func(b *testing.B) {
			start := time.Now()
			m, err := onnx.Read(path)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			s, err := runtime.New(m, runtime.Options{Threads: threads})
			if err != nil {
				b.Fatal(err)
			}
			ts, err := npy.ReadTensors(strings.TrimSuffix(path, ".onnx") + ".inputs.npz")
			if err != nil {
				b.Fatal(err)
			}
			inputs := map[string]*runtime.Tensor{}
			for _, t := range ts {
				if inputs[t.Name], err = runtime.FromIR(t); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := s.Run(context.Background(), inputs); err != nil { // warm up
				b.Fatal(err)
			}
			first := time.Since(start)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				out, err := s.Run(context.Background(), inputs)
				if err != nil {
					b.Fatal(err)
				}
				s.Recycle(out) // as a loop that uses each output and drops it would
			}
			// Load + plan + first run, in milliseconds.
			b.ReportMetric(float64(first.Microseconds())/1e3, "first-ms")
		})
	}
}

// Package gpu holds the GPU checks that `make gpu-check` compiles into a folder for a
// machine with an NVIDIA GPU and no Go toolchain (run.sh runs them): the digits models
// on the CUDA backend against the CPU, and the CUDA benchmarks with their peers measured
// in the same run. Without a usable GPU everything skips with the loader's reason.
package gpu

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/accel/cuda"
	"github.com/modelc/modelc/engine/format/npy"
	"github.com/modelc/modelc/engine/format/onnx"
	"github.com/modelc/modelc/engine/runtime"
)

func device(tb testing.TB) *cuda.Device {
	tb.Helper()
	d, err := cuda.Open()
	if err != nil {
		tb.Skipf("CUDA unavailable: %s", cuda.Reason())
	}
	return d
}

// testdata is the repository's testdata folder, or MODELC_TESTDATA (run.sh sets it).
func testdata() string {
	if d := os.Getenv("MODELC_TESTDATA"); d != "" {
		return d
	}
	return "../../testdata"
}

// cpuBackend is what auto picks on the CPU alone.
func cpuBackend() accel.Backend {
	for _, b := range accel.Available() {
		if b != accel.BackendCUDA {
			return b
		}
	}
	return accel.BackendGo
}

func runDigits(t *testing.T, model string, be accel.Backend) []float32 {
	t.Helper()
	if err := accel.Use(be); err != nil {
		t.Fatal(err)
	}
	m, err := onnx.Read(filepath.Join(testdata(), "digits", model))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, err := runtime.New(m, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := npy.ReadTensors(filepath.Join(testdata(), "digits", "test_inputs.npz"))
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]*runtime.Tensor{}
	for _, x := range ts {
		if in[x.Name], err = runtime.FromIR(x); err != nil {
			t.Fatal(err)
		}
	}
	out, err := s.Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	logits, ok := out["logits"].Data.([]float32)
	if !ok {
		t.Fatalf("%s: logits are not float32", model)
	}
	return append([]float32(nil), logits...)
}

// TestDigits runs both digits models on MODELC_ACCEL=cuda and on the CPU: the logits
// must agree to float32 GEMM rounding (relative 1e-4 of each row's largest logit) and
// every predicted class must be the same.
func TestDigits(t *testing.T) {
	device(t)
	defer accel.Use(accel.BackendAuto)
	for _, model := range []string{"mlp.onnx", "cnn.onnx"} {
		cpu := runDigits(t, model, cpuBackend())
		before := accel.Describe().CUDA.Calls
		gpu := runDigits(t, model, accel.BackendCUDA)
		rep := accel.Describe()
		if rep.CUDA.Calls == before {
			t.Fatalf("%s: no kernel ran on the GPU", model)
		}
		if rep.CUDA.Fallbacks != 0 {
			t.Fatalf("%s: %d GPU calls fell back to the CPU: %s", model, rep.CUDA.Fallbacks, rep.CUDA.LastError)
		}
		var worst float64
		for r := 0; r < len(cpu)/10; r++ {
			c, g := cpu[r*10:(r+1)*10], gpu[r*10:(r+1)*10]
			var scale float64
			ac, ag := 0, 0
			for j := range c {
				scale = max(scale, math.Abs(float64(c[j])))
				if c[j] > c[ac] {
					ac = j
				}
				if g[j] > g[ag] {
					ag = j
				}
			}
			for j := range c {
				worst = max(worst, math.Abs(float64(c[j]-g[j]))/max(scale, 1e-6))
			}
			if ac != ag {
				t.Errorf("%s: image %d: class %d on the CPU, %d on CUDA", model, r, ac, ag)
			}
		}
		if worst > 1e-4 {
			t.Errorf("%s: logits differ by up to %.2g of the row maximum", model, worst)
		}
		t.Logf("%s: %d images, same classes, largest logit difference %.2g of the row maximum (%s vs cuda)",
			model, len(cpu)/10, worst, cpuBackend())
	}
}

func asBytes[T any](s []T) []byte {
	var z T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(z)))
}

const gib = 1 << 30

// BenchmarkQ8_0Device quantizes 1 GiB of float32 already on the GPU into Q8_0 and, in
// the same run, copies 1 GiB device to device: q8_0-GB/s counts the bytes read and
// written (1 GiB + 272 MiB), d2d-GB/s the copy's (2 GiB); pct-of-d2d is the target
// metric (≥ 50 %).
func BenchmarkQ8_0Device(b *testing.B) {
	d := device(b)
	const n = gib / 4
	src, err := d.Alloc(gib)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Free()
	dst, err := d.Alloc(n / 32 * 34)
	if err != nil {
		b.Fatal(err)
	}
	defer dst.Free()
	cp, err := d.Alloc(gib)
	if err != nil {
		b.Fatal(err)
	}
	defer cp.Free()
	x := make([]float32, n)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range x {
		x[i] = r.Float32()*2 - 1
	}
	if err := src.Write(asBytes(x)); err != nil {
		b.Fatal(err)
	}
	if err := d.QuantizeQ8_0Buffer(dst, src); err != nil { // warm up
		b.Fatal(err)
	}
	var tq, tc time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := d.QuantizeQ8_0Buffer(dst, src); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := d.CopyBuffer(cp, src); err != nil {
			b.Fatal(err)
		}
		tq, tc = tq+t1.Sub(t0), tc+time.Since(t1)
	}
	q := float64(b.N) * float64(gib+n/32*34) / tq.Seconds() / 1e9
	c := float64(b.N) * float64(2*gib) / tc.Seconds() / 1e9
	b.ReportMetric(q, "q8_0-GB/s")
	b.ReportMetric(c, "d2d-GB/s")
	b.ReportMetric(100*q/c, "pct-of-d2d")
	b.ReportMetric(float64(b.N)*float64(gib)/tq.Seconds()/1e9, "f32-input-GB/s")
}

// BenchmarkQ8_0Host quantizes 1 GiB of float32 from host memory to host memory: through
// the GPU (pipelined copies) and, in the same run, with the best CPU backend; GB/s of
// float32 input.
func BenchmarkQ8_0Host(b *testing.B) {
	d := device(b)
	const n = gib / 4
	x := make([]float32, n)
	r := rand.New(rand.NewPCG(2, 2))
	for i := range x {
		x[i] = r.Float32()*2 - 1
	}
	q := make([]byte, n/32*34)
	if err := d.QuantizeQ8_0(q, x); err != nil {
		b.Fatal(err)
	}
	if err := accel.Use(cpuBackend()); err != nil {
		b.Fatal(err)
	}
	defer accel.Use(accel.BackendAuto)
	var tg, tc time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := d.QuantizeQ8_0(q, x); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		accel.QuantizeQ8_0(q, x)
		tg, tc = tg+t1.Sub(t0), tc+time.Since(t1)
	}
	g := float64(b.N) * gib / tg.Seconds() / 1e9
	c := float64(b.N) * gib / tc.Seconds() / 1e9
	b.ReportMetric(g, "cuda-GB/s")
	b.ReportMetric(c, "cpu-GB/s")
	b.ReportMetric(g/c, "cuda/cpu")
}

// peakF16 estimates the device's dense f16 tensor-core peak with f32 accumulation, in
// TFLOP/s, from SMs × clock × FLOPs per SM per clock (NVIDIA's published rates per
// architecture; GeForce parts of sm_86/sm_89 run f32 accumulation at half rate). An
// estimate only: the clock is the boost clock the driver reports.
func peakF16(i cuda.Info) float64 {
	perSM := map[int]float64{70: 1024, 72: 1024, 75: 1024, 80: 2048, 86: 512, 87: 1024, 89: 512, 90: 4096, 100: 4096, 120: 1024}[i.Major*10+i.Minor]
	return float64(i.SMs) * float64(i.ClockKHz) * 1e3 * perSM / 1e12
}

// BenchmarkGEMM4096 runs C = A·B for 4096³ on device buffers in f32, f16 and bf16.
func BenchmarkGEMM4096(b *testing.B) {
	d := device(b)
	const n = 4096
	for _, kind := range []struct {
		name string
		k    cuda.GEMMKind
		es   int
	}{{"f32", cuda.F32, 4}, {"f16", cuda.F16, 2}, {"bf16", cuda.BF16, 2}} {
		b.Run(kind.name, func(b *testing.B) {
			bufs := make([]*cuda.Buffer, 3)
			for i, size := range []int{n * n * kind.es, n * n * kind.es, n * n * 4} {
				buf, err := d.Alloc(size)
				if err != nil {
					b.Fatal(err)
				}
				defer buf.Free()
				bufs[i] = buf
			}
			// inputs: small values (0x3c00 = 1.0 in f16, 0x3f80 in bf16, scaled by the bytes)
			init := make([]byte, n*n*kind.es)
			r := rand.New(rand.NewPCG(3, 3))
			for i := 0; i < len(init); i += kind.es {
				switch kind.k {
				case cuda.F32:
					copy(init[i:], asBytes([]float32{r.Float32() - 0.5}))
				case cuda.F16:
					h := accel.F32ToF16Scalar(r.Float32() - 0.5)
					init[i], init[i+1] = byte(h), byte(h>>8)
				case cuda.BF16:
					h := accel.F32ToBF16Scalar(r.Float32() - 0.5)
					init[i], init[i+1] = byte(h), byte(h>>8)
				}
			}
			for _, buf := range bufs[:2] {
				if err := buf.Write(init); err != nil {
					b.Fatal(err)
				}
			}
			run := func() {
				if err := d.GEMMBuffer(kind.k, false, false, n, n, n, 1, bufs[0], n, bufs[1], n, 0, bufs[2], n); err != nil {
					b.Fatal(err)
				}
			}
			run()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				run()
			}
			tf := float64(b.N) * 2 * n * n * n / b.Elapsed().Seconds() / 1e12
			b.ReportMetric(tf, "TFLOP/s")
			if kind.k != cuda.F32 {
				if p := peakF16(d.Info); p > 0 {
					b.ReportMetric(p, "est-peak-TFLOP/s")
					b.ReportMetric(100*tf/p, "pct-of-est-peak")
				}
			}
		})
	}
}

// BenchmarkCrossover measures, for the auto thresholds in accel (CUDAMinGEMMWork,
// CUDAMinElems), the time of the same host-to-host call on the CPU backend and forced
// onto CUDA: cuda/cpu > 1 means the GPU wins at that size.
func BenchmarkCrossover(b *testing.B) {
	device(b)
	defer accel.Use(accel.BackendAuto)
	timeIt := func(be accel.Backend, fn func()) time.Duration {
		if err := accel.Use(be); err != nil {
			b.Fatal(err)
		}
		fn()
		t0 := time.Now()
		for i := 0; i < 3; i++ {
			fn()
		}
		return time.Since(t0) / 3
	}
	for _, n := range []int{128, 256, 512, 1024, 2048} {
		b.Run("sgemm/n="+strconv.Itoa(n), func(b *testing.B) {
			a, bm, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
			f := func() { accel.SGEMM(false, false, n, n, n, 1, a, n, bm, n, 0, c, n) }
			var tc, tg time.Duration
			for i := 0; i < b.N; i++ {
				tc += timeIt(cpuBackend(), f)
				tg += timeIt(accel.BackendCUDA, f)
			}
			b.ReportMetric(tc.Seconds()/tg.Seconds(), "cuda/cpu")
		})
	}
	for _, n := range []int{1 << 18, 1 << 20, 1 << 22, 1 << 24, 1 << 26} {
		b.Run("q8_0/n="+strconv.Itoa(n), func(b *testing.B) {
			x, q := make([]float32, n), make([]byte, n/32*34)
			f := func() { accel.QuantizeQ8_0(q, x) }
			var tc, tg time.Duration
			for i := 0; i < b.N; i++ {
				tc += timeIt(cpuBackend(), f)
				tg += timeIt(accel.BackendCUDA, f)
			}
			b.ReportMetric(tc.Seconds()/tg.Seconds(), "cuda/cpu")
		})
	}
}

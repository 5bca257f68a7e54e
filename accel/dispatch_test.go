package accel

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/modelc/modelc/accel/cuda"
)

func TestChoose(t *testing.T) {
	f := detect()
	b, _, err := choose("auto", f)
	if err != nil || b != BackendAvailable(f) {
		t.Fatalf("auto → %s, %v; want %s", b, err, BackendAvailable(f))
	}
	if b, _, err := choose("", f); err != nil || b == "" {
		t.Fatalf("empty → %s, %v", b, err)
	}
	if b, _, err := choose(" GO ", f); err != nil || b != BackendGo {
		t.Fatalf("go → %s, %v", b, err)
	}
	// cuda is refused with the loader's one-line reason, or chosen when a GPU is usable.
	if why := cuda.Reason(); why != "" {
		_, _, err = choose("cuda", f)
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), why) {
			t.Fatalf("cuda → %v; want the reason %q", err, why)
		}
	} else if b, _, err := choose("cuda", f); err != nil || b != BackendCUDA {
		t.Fatalf("cuda with a usable GPU → %s, %v", b, err)
	}
	if _, _, err := choose("bogus", f); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "unknown backend") {
		t.Fatalf("bogus → %v", err)
	}
	// a CPU without AVX-512 must refuse avx512 with a reason, never fall back
	var none features
	if _, _, err := choose("avx512", none); err == nil || !strings.Contains(err.Error(), string(BackendAVX512)) {
		t.Fatalf("avx512 without features → %v", err)
	}
	if b, _, err := choose("auto", none); err != nil || b != BackendGo {
		t.Fatalf("auto without features → %s, %v", b, err)
	}
	if runtime.GOARCH == "amd64" {
		if _, _, err := choose("neon", f); err == nil {
			t.Fatal("neon accepted on amd64")
		}
	}
}

// BackendAvailable is the first backend of the preference list that can run.
func BackendAvailable(f features) Backend {
	for _, b := range preference {
		if requirement(b, f) == "" {
			return b
		}
	}
	return BackendGo
}

func TestUseAndReport(t *testing.T) {
	defer func() {
		if err := Use(BackendAuto); err != nil {
			t.Fatal(err)
		}
	}()
	if err := Use("cuda"); (err == nil) != (cuda.Reason() == "") {
		t.Fatalf("Use(cuda) = %v with CUDA reason %q", err, cuda.Reason())
	}
	for _, b := range Available() {
		if err := Use(b); err != nil {
			t.Fatalf("Use(%s): %v", b, err)
		}
		if Active() != b {
			t.Fatalf("Active = %s after Use(%s)", Active(), b)
		}
		r := Describe()
		if r.Backend != string(b) || len(r.Kernels) != len(kernelNames) {
			t.Fatalf("report: backend %s, %d kernels", r.Backend, len(r.Kernels))
		}
		js, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back Report
		if err := json.Unmarshal(js, &back); err != nil || back.Backend != r.Backend || len(back.Kernels) != len(r.Kernels) {
			t.Fatalf("json round trip: %v", err)
		}
		s := r.String()
		for _, k := range kernelNames {
			if !strings.Contains(s, k) {
				t.Fatalf("String() lacks %s:\n%s", k, s)
			}
		}
		t.Logf("\n%s", s)
	}
}

// The public API: splitting over threads must not change a single bit, and every
// backend gives the same bytes for the integer kernels.
func TestPublicAPIThreadsAndBackends(t *testing.T) {
	defer SetMaxThreads(0)
	defer func() { _ = Use(BackendAuto) }()
	r := rand.New(rand.NewPCG(21, 22))
	m, n, k := 150, 170, 300
	a, b := randF32(r, m*k, 1), randF32(r, k*n, 1)
	bias := randF32(r, n, 1)
	a8, b8 := make([]int8, m*k), make([]int8, k*n)
	for i := range a8 {
		a8[i] = int8(r.Uint32())
	}
	for i := range b8 {
		b8[i] = int8(r.Uint32())
	}
	big := randSpecial(r, 3<<16+96) // several chunks
	var refQ8, refQ4 []byte
	var refI []int32
	for _, be := range Available() {
		if err := Use(be); err != nil {
			t.Fatal(err)
		}
		var c1, c2 []float32
		var s1, s2 float64
		var q1, q2 []byte
		for _, th := range []int{1, 2, 3} {
			SetMaxThreads(th)
			c := make([]float32, m*n)
			SGEMMBias(false, true, m, n, k, 1, a, k, b, k, 0, c, n, bias)
			q := make([]byte, len(big)/32*Q8_0Bytes)
			QuantizeQ8_0(q, big)
			s := SumSquares(big[:len(big)-96])
			ci := make([]int32, m*n)
			GEMMS8S8(false, m, n, k, a8, k, b8, n, ci, n)
			if refI == nil {
				refI = ci
				want := make([]int32, m*n)
				refIGEMM(false, m, n, k, a8, k, b8, n, want, n)
				for i := range want {
					if want[i] != ci[i] {
						t.Fatalf("%s: GEMMS8S8 differs from the reference", be)
					}
				}
			}
			for i := range ci {
				if ci[i] != refI[i] {
					t.Fatalf("%s threads=%d: GEMMS8S8 differs", be, th)
				}
			}
			if c1 == nil {
				c1, s1, q1 = c, s, q
			} else {
				c2, s2, q2 = c, s, q
				for i := range c1 {
					if math.Float32bits(c1[i]) != math.Float32bits(c2[i]) {
						t.Fatalf("%s: SGEMM depends on the thread count", be)
					}
				}
				if s1 != s2 && !(math.IsNaN(s1) && math.IsNaN(s2)) {
					t.Fatalf("%s: SumSquares depends on the thread count", be)
				}
				if string(q1) != string(q2) {
					t.Fatalf("%s: QuantizeQ8_0 depends on the thread count", be)
				}
			}
		}
		q4 := make([]byte, len(big)/32*Q4_0Bytes)
		QuantizeQ4_0(q4, big)
		if refQ8 == nil {
			refQ8, refQ4 = q1, q4
			w := make([]byte, len(q1))
			refQuantizeQ8_0(w, big)
			if string(w) != string(q1) {
				t.Fatalf("%s: QuantizeQ8_0 differs from the reference", be)
			}
		} else if string(refQ8) != string(q1) || string(refQ4) != string(q4) {
			t.Fatalf("%s: block quantizers give other bytes than %s", be, Available()[0])
		}
	}
}

func TestPublicAPISmallAndChecks(t *testing.T) {
	// tiny calls take the Go path; they must agree with the reference too
	src := []float32{1, -2, 3.5, float32(math.NaN())}
	h := make([]uint16, 4)
	F32ToF16(h, src)
	for i, v := range src {
		if h[i] != F32ToF16Scalar(v) {
			t.Fatalf("F32ToF16[%d]", i)
		}
	}
	mn, mx := MinMax(src)
	if mn != -2 || mx != 3.5 {
		t.Fatalf("MinMax = %g, %g", mn, mx)
	}
	if AbsMax(nil) != 0 || SumSquares(nil) != 0 {
		t.Fatal("empty reductions")
	}
	if mn, mx := MinMax(nil); !math.IsInf(float64(mn), 1) || !math.IsInf(float64(mx), -1) {
		t.Fatal("empty MinMax")
	}
	q := make([]int8, 4)
	QuantizeS8(q, src, 0.5, 1)
	if q[0] != 3 || q[1] != -3 || q[2] != 8 || q[3] != 1 {
		t.Fatalf("QuantizeS8 = %v", q)
	}
	blocksOut := make([]float32, 3)
	AbsMaxBlocks([]float32{1, -5, 2, 3, -4}, 2, blocksOut)
	if blocksOut[0] != 5 || blocksOut[1] != 3 || blocksOut[2] != 4 {
		t.Fatalf("AbsMaxBlocks = %v", blocksOut)
	}
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	mustPanic("short C", func() {
		SGEMM(false, false, 4, 4, 4, 1, make([]float32, 16), 4, make([]float32, 16), 4, 0, make([]float32, 15), 4)
	})
	mustPanic("bad lda", func() {
		SGEMM(false, false, 4, 4, 4, 1, make([]float32, 16), 3, make([]float32, 16), 4, 0, make([]float32, 16), 4)
	})
	mustPanic("short int8 B", func() { GEMMU8S8(true, 2, 2, 2, make([]uint8, 4), 2, make([]int8, 3), 2, make([]int32, 4), 2) })
	mustPanic("Q8_0 length", func() { QuantizeQ8_0(make([]byte, 100), make([]float32, 33)) })
	mustPanic("F16 dst", func() { F32ToF16(make([]uint16, 1), make([]float32, 2)) })
	mustPanic("axis", func() { QuantizeS8Axis(make([]int8, 10), make([]float32, 10), 3, []float32{1}, nil) })
}

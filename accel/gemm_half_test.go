package accel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// GEMMF16 / GEMMBF16 on the backend in use (the CPU path here: widen, then sgemm)
// against refSGEMM on the widened inputs, within SGEMM's bound.
func TestGEMMHalf(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, bf := range []bool{false, true} {
		toHalf, fromHalf := F32ToF16Scalar, F16ToF32Scalar
		if bf {
			toHalf, fromHalf = F32ToBF16Scalar, BF16ToF32Scalar
		}
		for _, s := range [][3]int{{1, 1, 1}, {3, 5, 0}, {17, 33, 9}, {64, 31, 130}, {5, 70, 300}} {
			for _, tr := range [4][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
				m, n, k := s[0], s[1], s[2]
				name := fmt.Sprintf("bf16=%v/%dx%dx%d/tA=%v,tB=%v", bf, m, n, k, tr[0], tr[1])
				ar, ac := dims(tr[0], m, k)
				br, bc := dims(tr[1], k, n)
				lda, ldb, ldc := max(ac, 1)+1, max(bc, 1)+2, n+1
				ah, bh := make([]uint16, max(ar*lda, 1)), make([]uint16, max(br*ldb, 1))
				for i := range ah {
					ah[i] = toHalf(r.Float32()*2 - 1)
				}
				for i := range bh {
					bh[i] = toHalf(r.Float32()*2 - 1)
				}
				af, bfl := make([]float32, len(ah)), make([]float32, len(bh))
				absA, absB := make([]float32, len(ah)), make([]float32, len(bh))
				for i, h := range ah {
					af[i] = fromHalf(h)
					absA[i] = float32(math.Abs(float64(af[i])))
				}
				for i, h := range bh {
					bfl[i] = fromHalf(h)
					absB[i] = float32(math.Abs(float64(bfl[i])))
				}
				c0 := randF32(r, m*ldc, 1)
				want := append([]float32(nil), c0...)
				refSGEMM(tr[0], tr[1], m, n, k, 0.5, af, lda, bfl, ldb, -1, want, ldc, nil)
				bound := make([]float32, len(c0))
				for i, v := range c0 {
					bound[i] = float32(math.Abs(float64(v)))
				}
				refSGEMM(tr[0], tr[1], m, n, k, 0.5, absA, lda, absB, ldb, 1, bound, ldc, nil)
				got := append([]float32(nil), c0...)
				if bf {
					GEMMBF16(tr[0], tr[1], m, n, k, 0.5, ah, lda, bh, ldb, -1, got, ldc)
				} else {
					GEMMF16(tr[0], tr[1], m, n, k, 0.5, ah, lda, bh, ldb, -1, got, ldc)
				}
				tol := float64(k+2) * math.Pow(2, -23)
				for i := 0; i < m; i++ {
					for j := 0; j < ldc; j++ {
						g, w := got[i*ldc+j], want[i*ldc+j]
						if j >= n {
							if g != c0[i*ldc+j] {
								t.Fatalf("%s: padding C[%d][%d] changed", name, i, j)
							}
						} else if math.Abs(float64(g-w)) > tol*float64(bound[i*ldc+j])+1e-30 {
							t.Fatalf("%s: C[%d][%d] = %g, want %g", name, i, j, g, w)
						}
					}
				}
			}
		}
	}
}

// With auto and no usable GPU, the report says why and no kernel claims CUDA.
func TestReportCUDASection(t *testing.T) {
	r := Describe()
	if r.CUDA.Usable {
		t.Skipf("a GPU is usable here: %s", r.CUDA.Device)
	}
	if r.CUDA.Reason == "" {
		t.Fatal("CUDA unusable but no reason in the report")
	}
	for _, k := range r.Kernels {
		if k.Impl == "cuda" || len(k.Impl) > 5 && k.Impl[:5] == "cuda|" {
			t.Fatalf("kernel %s reports %s without a usable GPU", k.Kernel, k.Impl)
		}
	}
	if s := r.String(); !containsLine(s, "cuda:       unavailable: "+r.CUDA.Reason) {
		t.Fatalf("report text lacks the CUDA reason:\n%s", s)
	}
}

func containsLine(s, line string) bool {
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		if s[:i] == line {
			return true
		}
		if i == len(s) {
			break
		}
		s = s[i+1:]
	}
	return false
}

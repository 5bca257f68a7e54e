package accel

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// The packed int8 GEMMs of every backend this machine runs against refIGEMM and against
// the same backend's unpacked kernel: bit-exact, guard values around C, padding columns
// of C (ldc > n) untouched, odd sizes and k tails, extreme values (-128 / 255), and
// column ranges that start inside the matrix (the splits the worker pool makes).
func TestPackedIGEMM(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	type shape struct{ m, n, k int }
	shapes := []shape{{1, 1, 1}, {1, 1, 3}, {2, 3, 5}, {5, 96, 32}, {5, 32, 96}, {12, 32, 16}, {13, 33, 17},
		{6, 16, 8}, {7, 17, 9}, {40, 50, 600}, {25, 70, 1030}, {3, 200, 513}, {1, 10, 256}, {14, 65, 7000},
		{0, 5, 5}, {5, 0, 5}, {5, 5, 0}}
	for i := 0; i < 8; i++ {
		shapes = append(shapes, shape{1 + r.IntN(60), 1 + r.IntN(80), 1 + r.IntN(700)})
	}
	for _, bt := range backendsUnderTest() {
		for _, s := range shapes {
			lda, ldb, ldc := max(1, s.k+r.IntN(3)), max(1, s.n+r.IntN(3)), max(1, s.n+r.IntN(3))
			a8 := make([]int8, max(s.m*lda, 1))
			au := make([]uint8, max(s.m*lda, 1))
			b := make([]int8, max(s.k*ldb, 1))
			extreme := r.IntN(3) == 0
			for i := range a8 {
				a8[i], au[i] = int8(r.Uint32()), uint8(r.Uint32())
				if extreme {
					a8[i], au[i] = -128, 255
				}
			}
			for i := range b {
				b[i] = int8(r.Uint32())
				if extreme {
					b[i] = -128
				}
			}
			p := packB8With(bt.t, b, s.k, s.n, ldb)
			if p.K() != s.k || p.N() != s.n || p.Kernel() != bt.t.impl["gemm_u8s8_packed"].impl {
				t.Fatalf("%s: packed %d×%d by %s, want %d×%d by %s", bt.name, p.K(), p.N(), p.Kernel(), s.k, s.n,
					bt.t.impl["gemm_u8s8_packed"].impl)
			}
			for i := range b { // the packed copy must not depend on b afterwards
				b[i] = ^b[i]
			}
			bOrig := make([]int8, len(b))
			for i := range b {
				bOrig[i] = ^b[i]
			}
			name := fmt.Sprintf("%s/%dx%dx%d", bt.name, s.m, s.n, s.k)
			nc := max(s.m*ldc, 0)
			const g = int32(0x5a5a5a5a)
			run := func(what string, want []int32, kern func(j0, j1 int, c []int32)) {
				full, c := guarded[int32](nc, g)
				for i := range c {
					c[i] = g
				}
				kern(0, s.n, c)
				checkGuards(t, name+what, full, nc, g)
				cmpI32(t, name+what, c, want, s.m, s.n, ldc)
				// Two column ranges split on a multiple of 32, as gemmTiles does.
				if s.n > 32 && s.m > 0 {
					full, c = guarded[int32](nc, g)
					for i := range c {
						c[i] = g
					}
					kern(32, s.n, c)
					kern(0, 32, c)
					checkGuards(t, name+what+"/split", full, nc, g)
					cmpI32(t, name+what+"/split", c, want, s.m, s.n, ldc)
				}
			}
			want := make([]int32, nc)
			unpacked := make([]int32, nc)
			for i := range unpacked {
				unpacked[i] = g
			}
			refIGEMM(false, s.m, s.n, s.k, a8, lda, bOrig, ldb, want, ldc)
			if s.m > 0 && s.n > 0 {
				bt.t.gemmS8S8(false, s.m, s.n, s.k, a8, lda, bOrig, ldb, unpacked, ldc)
				cmpI32(t, name+"/s8s8-unpacked", unpacked, want, s.m, s.n, ldc)
			}
			// A's zero point: none, a random one, the extremes.
			z8, zu := int8(r.Uint32()), uint8(r.Uint32())
			if extreme {
				z8, zu = 127, 255
			}
			for _, z := range [][2]int32{{0, 0}, {int32(z8), int32(zu)}, {-128, 1}} {
				zname := fmt.Sprintf("/azp=%d,%d", z[0], z[1])
				refIGEMMZP(s.m, s.n, s.k, a8, lda, z[0], bOrig, ldb, want, ldc)
				run("/s8s8"+zname, want, func(j0, j1 int, c []int32) {
					if s.m > 0 && s.n > 0 && s.k > 0 {
						p.pk.s8(s.m, j0, j1, s.k, a8, lda, z[0], p, c, ldc)
					} else if j0 == 0 {
						GEMMS8S8PackedZP(s.m, a8, lda, int8(z[0]), p, c, ldc)
					}
				})
				refIGEMMZP(s.m, s.n, s.k, au, lda, z[1], bOrig, ldb, want, ldc)
				run("/u8s8"+zname, want, func(j0, j1 int, c []int32) {
					if s.m > 0 && s.n > 0 && s.k > 0 {
						p.pk.u8(s.m, j0, j1, s.k, au, lda, z[1], p, c, ldc)
					} else if j0 == 0 {
						GEMMU8S8PackedZP(s.m, au, lda, uint8(z[1]), p, c, ldc)
					}
				})
			}
		}
	}
}

// refIGEMMZP is (A − azp)·B element by element in wrapping int32.
func refIGEMMZP[T int8ish](m, n, k int, a []T, lda int, azp int32, b []int8, ldb int, c []int32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s int32
			for p := 0; p < k; p++ {
				s += (int32(a[i*lda+p]) - azp) * int32(b[p*ldb+j])
			}
			c[i*ldc+j] = s
		}
	}
}

// The public entry points: the active backend's packing, threads (the pool splits large
// products by rows or 32-column slabs), and no allocation for a small product.
func TestPackedIGEMMPublic(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, s := range [][3]int{{5, 96, 32}, {70, 256, 300}, {300, 64, 128}} { // the last two split by columns, by rows
		m, n, k := s[0], s[1], s[2]
		a := make([]uint8, m*k)
		a8 := make([]int8, m*k)
		b := make([]int8, k*n)
		for i := range a {
			a[i], a8[i] = uint8(r.Uint32()), int8(r.Uint32())
		}
		for i := range b {
			b[i] = int8(r.Uint32())
		}
		p := PackB8(b, k, n, n)
		want := make([]int32, m*n)
		got := make([]int32, m*n)
		for _, th := range []int{1, 2, 3} {
			old := SetMaxThreads(th)
			refIGEMM(false, m, n, k, a, k, b, n, want, n)
			GEMMU8S8Packed(m, a, k, p, got, n)
			cmpI32(t, fmt.Sprintf("u8/%v/threads=%d", s, th), got, want, m, n, n)
			refIGEMM(false, m, n, k, a8, k, b, n, want, n)
			GEMMS8S8Packed(m, a8, k, p, got, n)
			cmpI32(t, fmt.Sprintf("s8/%v/threads=%d", s, th), got, want, m, n, n)
			refIGEMMZP(m, n, k, a, k, 131, b, n, want, n)
			GEMMU8S8PackedZP(m, a, k, 131, p, got, n)
			cmpI32(t, fmt.Sprintf("u8 zp/%v/threads=%d", s, th), got, want, m, n, n)
			refIGEMMZP(m, n, k, a8, k, -7, b, n, want, n)
			GEMMS8S8PackedZP(m, a8, k, -7, p, got, n)
			cmpI32(t, fmt.Sprintf("s8 zp/%v/threads=%d", s, th), got, want, m, n, n)
			SetMaxThreads(old)
		}
	}
	m, n, k := 5, 96, 32
	a := make([]uint8, m*k)
	b := make([]int8, k*n)
	c := make([]int32, m*n)
	p := PackB8(b, k, n, n)
	if allocs := testing.AllocsPerRun(20, func() { GEMMU8S8Packed(m, a, k, p, c, n) }); allocs != 0 {
		t.Errorf("GEMMU8S8Packed %d×%d×%d allocates %.0f times per call", m, n, k, allocs)
	}
}

func TestPackedIGEMMChecks(t *testing.T) {
	p := PackB8(make([]int8, 12), 3, 4, 4)
	for _, tc := range []struct {
		name, want string
		f          func()
	}{
		{"nil", "nil packed matrix", func() { GEMMU8S8Packed(1, make([]uint8, 3), 3, nil, make([]int32, 4), 4) }},
		{"short a", "len(a)", func() { GEMMU8S8Packed(2, make([]uint8, 3), 3, p, make([]int32, 8), 4) }},
		{"short c", "len(c)", func() { GEMMS8S8Packed(2, make([]int8, 6), 3, p, make([]int32, 7), 4) }},
		{"small lda", "lda", func() { GEMMS8S8Packed(2, make([]int8, 6), 2, p, make([]int32, 8), 4) }},
		{"short b", "len(b)", func() { PackB8(make([]int8, 11), 3, 4, 4) }},
		{"negative", "negative", func() { PackB8(nil, -1, 4, 4) }},
	} {
		func() {
			defer func() {
				e := recover()
				if e == nil || !strings.Contains(fmt.Sprint(e), tc.want) {
					t.Errorf("%s: panic %v, want one naming %q", tc.name, e, tc.want)
				}
			}()
			tc.f()
		}()
	}
}

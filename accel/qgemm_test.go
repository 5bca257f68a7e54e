package accel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// dequantCase is one random GEMMS8S8Dequant problem.
type dequantCase struct {
	m, n, k, lda, ldb, ldy int
	a, b                   []int8
	flip                   uint8 // B's bytes are taken xor flip
	d                      Dequant
}

func randDequantCase(r *rand.Rand, m, n, k int, zw, bias bool, act Act) dequantCase {
	c := dequantCase{m: m, n: n, k: k, lda: k + r.IntN(3), ldb: n + r.IntN(5), ldy: n + r.IntN(4), flip: uint8(r.IntN(2)) << 7}
	c.a, c.b = make([]int8, max(m*c.lda, 1)), make([]int8, max(k*c.ldb, 1))
	for i := range c.a {
		c.a[i] = int8(r.IntN(256) - 128)
	}
	for i := range c.b {
		c.b[i] = int8(r.IntN(256) - 128)
	}
	c.d = Dequant{Fix: make([]int32, m), Scale: randF32(r, m, 1e-4), Act: act, KBZ: int32(k) * int32(r.IntN(256)-128)}
	for i := range c.d.Fix {
		c.d.Fix[i] = int32(r.IntN(1<<20) - 1<<19)
	}
	if zw {
		c.d.ZW = make([]int32, m)
		for i := range c.d.ZW {
			if i%3 != 0 {
				c.d.ZW[i] = int32(r.IntN(255) - 127)
			}
		}
	}
	if bias {
		c.d.Bias = randF32(r, m, 1)
	}
	return c
}

var dequantActs = []Act{{Kind: ActNone}, {Kind: ActRelu}, {Kind: ActClip, P: -0.5, Q: 0.75},
	{Kind: ActHardSigmoid, P: 1.0 / 6, Q: 0.5}, {Kind: ActHardSwish, P: 1.0 / 6, Q: 0.5}, {Kind: ActSiLU}}

// Every fused kernel against the same backend's GEMM, RequantRows, BiasAct and SiLU run in
// turn, bit for bit, on shapes with row and column tails, k not a multiple of 4, k past
// the packed kernel's blocks, leading dimensions wider than the rows and guards around y;
// and the Go composition against the sums computed in int64 and float64.
func TestGEMMS8S8Dequant(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	shapes := [][3]int{{1, 1, 1}, {5, 33, 3}, {12, 32, 16}, {13, 70, 27}, {97, 200, 16}, {24, 3000, 24},
		{30, 49, 1300}, {7, 129, 513}, {16, 64, 0}, {16, 300, 27}, {40, 77, 150}}
	for si, sh := range shapes {
		m, n, k := sh[0], sh[1], sh[2]
		act := dequantActs[si%len(dequantActs)]
		c := randDequantCase(r, m, n, k, si%2 == 0, si%3 != 1, act)
		want := make([]float32, m*c.ldy)
		composeDequant(goTable(), m, n, k, c.a, c.lda, c.b, c.ldb, c.flip, want, c.ldy, &c.d)
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				exact := c.exact(i, j)
				if g := float64(want[i*c.ldy+j]); math.Abs(g-exact) > 1e-5*(1+math.Abs(exact)) {
					t.Fatalf("%v: go composition y[%d][%d] = %g, want %g", sh, i, j, g, exact)
				}
			}
		}
		for _, bt := range backendsUnderTest() {
			if bt.t.qgemmDequant == nil {
				continue
			}
			ref := make([]float32, m*c.ldy)
			composeDequant(bt.t, m, n, k, c.a, c.lda, c.b, c.ldb, c.flip, ref, c.ldy, &c.d)
			blk, kq4 := bt.t.packA8Block, max(4, (k+3)/4*4)
			dense := make([]int8, m*k)
			for i := 0; i < m; i++ {
				copy(dense[i*k:(i+1)*k], c.a[i*c.lda:])
			}
			pa := make([]uint8, (m+blk-1)/blk*blk*kq4)
			bt.t.packA8(pa, dense, m, k)
			// All the rows, then the rows from the second block on (a task's share).
			for _, r0 := range []int{0, blk} {
				if r0 >= m {
					continue
				}
				d := c.d
				d.Fix, d.Scale = d.Fix[r0:], d.Scale[r0:]
				if d.ZW != nil {
					d.ZW = d.ZW[r0:]
				}
				if d.Bias != nil {
					d.Bias = d.Bias[r0:]
				}
				rows := m - r0
				full, got := guardedF32(rows*c.ldy, 0)
				bt.t.qgemmDequant(rows, n, k, pa[r0*kq4:], c.b, c.ldb, c.flip, got, nil, c.ldy, &d, nil)
				checkGuardsF32(t, bt.name+"/qgemm_dequant", full, rows*c.ldy)
				for i := 0; i < rows; i++ {
					for j := 0; j < n; j++ {
						g, w := got[i*c.ldy+j], ref[(r0+i)*c.ldy+j]
						if math.Float32bits(g) != math.Float32bits(w) {
							t.Fatalf("%s %v act %d from row %d: y[%d][%d] = %g, want %g (its composition)",
								bt.name, sh, act.Kind, r0, r0+i, j, g, w)
						}
					}
				}
				// The same with the output quantized (uint8 and int8, saturating at
				// both ends): the composition's values through the backend's QuantizeLinear.
				q := OutQuant{Scale: 0.02 + 0.3*r.Float32(), ZP: int32(r.IntN(200)), Signed: si%2 == 1}
				if q.Signed {
					q.ZP -= 100
				}
				gotQ := make([]byte, rows*c.ldy+64)
				for i := range gotQ {
					gotQ[i] = 0xA5
				}
				bt.t.qgemmDequant(rows, n, k, pa[r0*kq4:], c.b, c.ldb, c.flip, nil, gotQ, c.ldy, &d, &q)
				for i := 0; i < rows; i++ {
					wantQ := make([]byte, n)
					if q.Signed {
						QuantizeS8(unsafe.Slice((*int8)(unsafe.Pointer(&wantQ[0])), n), ref[(r0+i)*c.ldy:(r0+i)*c.ldy+n], q.Scale, int8(q.ZP))
					} else {
						QuantizeU8(wantQ, ref[(r0+i)*c.ldy:(r0+i)*c.ldy+n], q.Scale, uint8(q.ZP))
					}
					for j := 0; j < n; j++ {
						if g, w := gotQ[i*c.ldy+j], wantQ[j]; g != w {
							t.Fatalf("%s %v act %d from row %d, %+v: yq[%d][%d] = %d, want %d", bt.name, sh, act.Kind, r0, q, r0+i, j, g, w)
						}
					}
					for j := n; j < c.ldy && i*c.ldy+j < len(gotQ); j++ {
						if gotQ[i*c.ldy+j] != 0xA5 {
							t.Fatalf("%s %v: yq[%d][%d] between rows written", bt.name, sh, r0+i, j)
						}
					}
				}
				for _, g := range gotQ[(rows-1)*c.ldy+n:] {
					if g != 0xA5 {
						t.Fatalf("%s %v: yq written past its last row", bt.name, sh)
					}
				}
			}
		}
	}
}

// GEMMS8S8Quant on a PackedA8, from first rows on and off the packed blocks (the latter
// composed), uint8 and int8: GEMMS8S8Dequant's values through QuantizeU8 (QuantizeS8).
func TestGEMMS8S8Quant(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	c := randDequantCase(r, 40, 100, 70, true, true, Act{Kind: ActRelu})
	pa := PackA8(c.a, c.m, c.k, c.lda)
	for _, q := range []OutQuant{{Scale: 0.05, ZP: 3}, {Scale: 0.11, ZP: -20, Signed: true}} {
		for _, rr := range [][2]int{{0, 40}, {12, 40}, {5, 29}} {
			r0, r1 := rr[0], rr[1]
			d := c.d
			d.Fix, d.ZW, d.Scale, d.Bias = d.Fix[r0:], d.ZW[r0:], d.Scale[r0:], d.Bias[r0:]
			f := make([]float32, (r1-r0)*c.ldy)
			GEMMS8S8Dequant(pa, r0, r1, c.n, c.b, c.ldb, c.flip, f, c.ldy, &d)
			got := make([]byte, (r1-r0)*c.ldy)
			GEMMS8S8Quant(pa, r0, r1, c.n, c.b, c.ldb, c.flip, got, c.ldy, &d, q)
			for i := 0; i < r1-r0; i++ {
				want := make([]byte, c.n)
				if q.Signed {
					QuantizeS8(unsafe.Slice((*int8)(unsafe.Pointer(&want[0])), c.n), f[i*c.ldy:i*c.ldy+c.n], q.Scale, int8(q.ZP))
				} else {
					QuantizeU8(want, f[i*c.ldy:i*c.ldy+c.n], q.Scale, uint8(q.ZP))
				}
				for j := range want {
					if g := got[i*c.ldy+j]; g != want[j] {
						t.Fatalf("%+v rows [%d, %d): y[%d][%d] = %d, want %d", q, r0, r1, r0+i, j, g, want[j])
					}
				}
			}
		}
	}
}

// The public entry on a PackedA8, from first rows on and off the packed blocks (the
// latter composed): the same bits as the composition over all the rows.
func TestGEMMS8S8DequantRows(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	c := randDequantCase(r, 40, 100, 70, true, true, Act{Kind: ActHardSwish, P: 1.0 / 6, Q: 0.5})
	want := make([]float32, c.m*c.ldy)
	composeDequant(tab(), c.m, c.n, c.k, c.a, c.lda, c.b, c.ldb, c.flip, want, c.ldy, &c.d)
	pa := PackA8(c.a, c.m, c.k, c.lda)
	for _, rr := range [][2]int{{0, 40}, {12, 40}, {5, 29}, {24, 36}, {39, 40}} {
		r0, r1 := rr[0], rr[1]
		d := c.d
		d.Fix, d.ZW, d.Scale, d.Bias = d.Fix[r0:], d.ZW[r0:], d.Scale[r0:], d.Bias[r0:]
		got := make([]float32, (r1-r0)*c.ldy)
		GEMMS8S8Dequant(pa, r0, r1, c.n, c.b, c.ldb, c.flip, got, c.ldy, &d)
		for i := 0; i < r1-r0; i++ {
			for j := 0; j < c.n; j++ {
				if g, w := got[i*c.ldy+j], want[(r0+i)*c.ldy+j]; math.Float32bits(g) != math.Float32bits(w) {
					t.Fatalf("rows [%d, %d): y[%d][%d] = %g, want %g", r0, r1, r0+i, j, g, w)
				}
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for rows past A")
		}
	}()
	GEMMS8S8Dequant(pa, 30, 41, c.n, c.b, c.ldb, c.flip, make([]float32, 11*c.ldy), c.ldy, &c.d)
}

// exact is y[i][j] by the definition: the integer part in int64, wrapped to int32 as the
// kernels wrap it, the rest in float64.
func (c *dequantCase) exact(i, j int) float64 {
	var dot, sb int64
	for p := 0; p < c.k; p++ {
		bv := int64(int8(uint8(c.b[p*c.ldb+j]) ^ c.flip))
		dot += int64(c.a[i*c.lda+p]) * bv
		sb += bv
	}
	v := dot - int64(c.d.Fix[i])
	if c.d.ZW != nil {
		v -= int64(c.d.ZW[i]) * (sb - int64(c.d.KBZ))
	}
	y := float64(int32(v)) * float64(c.d.Scale[i])
	if c.d.Bias != nil {
		y += float64(c.d.Bias[i])
	}
	p, q := float64(c.d.Act.P), float64(c.d.Act.Q)
	switch c.d.Act.Kind {
	case ActRelu:
		y = max(y, 0)
	case ActClip:
		y = min(max(y, p), q)
	case ActHardSigmoid:
		y = min(max(p*y+q, 0), 1)
	case ActHardSwish:
		y *= min(max(p*y+q, 0), 1)
	case ActSiLU:
		y /= 1 + math.Exp(-y)
	}
	return y
}

// BenchmarkGEMMS8S8Dequant: MobileNetV2's 16→96 expansion at 112², its 56² layers,
// ResNet-18's 3×3 convolutions and a row block of one (m×n×k); the fused kernel against
// its composition (the previous implementation) and the pure-Go reference.
func BenchmarkGEMMS8S8Dequant(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sh := range [][3]int{{96, 112 * 112, 16}, {24, 56 * 56, 144}, {144, 56 * 56, 24}, {64, 56 * 56, 576}, {512, 49, 4608}, {48, 512, 576}, {64, 49, 4608}} {
		c := randDequantCase(r, sh[0], sh[1], sh[2], false, true, Act{Kind: ActClip, P: 0, Q: 6})
		y := make([]float32, c.m*c.ldy)
		name := fmt.Sprintf("%dx%dx%d", sh[0], sh[1], sh[2])
		pa := PackA8(c.a, c.m, c.k, c.lda)
		b.Run(name+"/fused", func(b *testing.B) {
			if pa.kern == nil {
				b.Skip("no fused kernel on this backend")
			}
			b.SetBytes(int64(4 * c.m * c.n))
			for b.Loop() {
				GEMMS8S8Dequant(pa, 0, c.m, c.n, c.b, c.ldb, c.flip, y, c.ldy, &c.d)
			}
		})
		b.Run(name+"/composed", func(b *testing.B) {
			b.SetBytes(int64(4 * c.m * c.n))
			for b.Loop() {
				composeDequant(tab(), c.m, c.n, c.k, c.a, c.lda, c.b, c.ldb, c.flip, y, c.ldy, &c.d)
			}
		})
		b.Run(name+"/go", func(b *testing.B) {
			b.SetBytes(int64(4 * c.m * c.n))
			for b.Loop() {
				composeDequant(goTable(), c.m, c.n, c.k, c.a, c.lda, c.b, c.ldb, c.flip, y, c.ldy, &c.d)
			}
		})
	}
}

// BenchmarkGEMMS8S8Quant: the product with its result quantized in the kernel's tiles,
// against the float32 result then QuantizeU8 over it (what runs without the fusion) and
// the pure-Go composition, on
// mobilenet_v2's and efficientnet_b0's layer shapes, with a Relu6 and with SiLU.
func BenchmarkGEMMS8S8Quant(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, sh := range [][3]int{{96, 112 * 112, 16}, {144, 56 * 56, 24}, {24, 56 * 56, 144}, {240, 28 * 28, 40}} {
		for _, act := range []Act{{Kind: ActClip, P: 0, Q: 6}, {Kind: ActSiLU}} {
			c := randDequantCase(r, sh[0], sh[1], sh[2], false, true, act)
			y := make([]float32, c.m*c.ldy)
			yq := make([]byte, c.m*c.ldy)
			q := OutQuant{Scale: 0.05, ZP: 10}
			name := fmt.Sprintf("%dx%dx%d/act%d", sh[0], sh[1], sh[2], act.Kind)
			pa := PackA8(c.a, c.m, c.k, c.lda)
			b.Run(name+"/in-kernel", func(b *testing.B) {
				for b.Loop() {
					GEMMS8S8Quant(pa, 0, c.m, c.n, c.b, c.ldb, c.flip, yq, c.ldy, &c.d, q)
				}
			})
			b.Run(name+"/then-pass", func(b *testing.B) {
				for b.Loop() {
					GEMMS8S8Dequant(pa, 0, c.m, c.n, c.b, c.ldb, c.flip, y, c.ldy, &c.d)
					QuantizeU8(yq, y, q.Scale, uint8(q.ZP))
				}
			})
			b.Run(name+"/go", func(b *testing.B) { // the pure-Go composition
				g := goTable()
				for b.Loop() {
					composeDequant(g, c.m, c.n, c.k, c.a, c.lda, c.b, c.ldb, c.flip, y, c.ldy, &c.d)
					g.quantU8(yq, y, 0, len(y), 1, []float32{q.Scale}, []uint8{uint8(q.ZP)})
				}
			})
		}
	}
}

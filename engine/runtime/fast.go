package runtime

import (
	"math"

	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/ir"
)

// float32 fast paths. The generic kernels compute through float64 and allocate every
// result; on the float32 tensors real models carry, these do the same arithmetic in
// float32 (accumulating in float64 where a sum could lose precision), with accel's
// vector kernels where one exists, into buffers from the run's pool (arena.go). Each
// keeps the generic kernel's semantics (NaN handling, broadcasting, error checks);
// the ONNX node suite and the fixtures check both paths.

// fastPaths switches the float32 kernels on; tests turn it off to compare them with the
// generic ones.
var fastPaths = true

// ---- moving values ---------------------------------------------------------------------

// compactDims drops size-1 dimensions and merges neighbours that are contiguous in the
// source, so a strided copy runs over as few, as long rows as possible.
func compactDims(shape, st []int) ([]int, []int) {
	var d, s []int
	for i, n := range shape {
		if n == 1 {
			continue
		}
		if k := len(d) - 1; k >= 0 && s[k] == st[i]*n {
			d[k] *= n
			s[k] = st[i]
			continue
		}
		d = append(d, n)
		s = append(s, st[i])
	}
	return d, s
}

// stridedCopy writes into dst, in row-major order of shape, the source elements at
// base + Σ i_d·st[d]: Transpose, Slice and broadcasting without an index table.
func stridedCopy[T any](dst, src []T, shape []int, base int, st []int) {
	n := prod(shape)
	if n == 0 {
		return
	}
	dims, strides := compactDims(shape, st)
	if len(dims) == 0 {
		dst[0] = src[base]
		return
	}
	last := len(dims) - 1
	inner, is := dims[last], strides[last]
	var idxBuf [8]int
	idx := idxBuf[:0]
	if last > len(idxBuf) {
		idx = make([]int, last)
	} else {
		idx = idxBuf[:last]
	}
	off := base
	for o := 0; o < n; o += inner {
		row := dst[o : o+inner]
		switch is {
		case 1:
			copy(row, src[off:off+inner])
		case 0:
			v := src[off]
			for i := range row {
				row[i] = v
			}
		default:
			for i := range row {
				row[i] = src[off+i*is]
			}
		}
		for d := last - 1; d >= 0; d-- {
			idx[d]++
			off += strides[d]
			if idx[d] < dims[d] {
				break
			}
			off -= strides[d] * dims[d]
			idx[d] = 0
		}
	}
}

// takeStrided is stridedCopy into a new value of data's storage class.
func takeStrided(c *opContext, data any, shape []int, base int, st []int) any {
	n := prod(shape)
	switch d := data.(type) {
	case []float32:
		return strided(c, d, n, shape, base, st)
	case []float64:
		return strided(c, d, n, shape, base, st)
	case []int64:
		return strided(c, d, n, shape, base, st)
	case []int32:
		return strided(c, d, n, shape, base, st)
	case []int16:
		return strided(c, d, n, shape, base, st)
	case []int8:
		return strided(c, d, n, shape, base, st)
	case []uint8:
		return strided(c, d, n, shape, base, st)
	case []uint16:
		return strided(c, d, n, shape, base, st)
	case []uint32:
		return strided(c, d, n, shape, base, st)
	case []uint64:
		return strided(c, d, n, shape, base, st)
	case []bool:
		return strided(c, d, n, shape, base, st)
	case []string:
		out := make([]string, n)
		stridedCopy(out, d, shape, base, st)
		return out
	}
	return take(data, stridedIndex(shape, base, st))
}

func strided[T poolable](c *opContext, d []T, n int, shape []int, base int, st []int) []T {
	out := allocRaw[T](c, n)
	stridedCopy(out, d, shape, base, st)
	return out
}

// ---- element-wise arithmetic ---------------------------------------------------------------

// arith32 is arith for two float32-class operands: flat loops for equal shapes and a
// scalar operand, broadcasting rows otherwise.
func arith32(c *opContext, op byte, a, b *Tensor) (*Tensor, error) {
	av, bv := a.Data.([]float32), b.Data.([]float32)
	var shape []int
	switch {
	case sameShape(a.Shape, b.Shape):
		shape = shapeOf(a)
	case len(bv) == 1 && len(b.Shape) <= len(a.Shape):
		shape = shapeOf(a)
	case len(av) == 1 && len(a.Shape) <= len(b.Shape):
		shape = shapeOf(b)
	default:
		var err error
		if shape, err = broadcastShape(a.Shape, b.Shape); err != nil {
			return nil, err
		}
	}
	out := c.tensorF32(a.DType, shape)
	o := out.Data.([]float32)
	if len(o) == 0 {
		return out, nil
	}
	switch {
	case len(av) == len(o) && len(bv) == len(o):
		splitFlat(len(o), func(lo, hi int) { arithRow32(op, o[lo:hi], av[lo:hi], 1, bv[lo:hi], 1) })
	case len(av) == len(o) && len(bv) == 1:
		splitFlat(len(o), func(lo, hi int) { arithRow32(op, o[lo:hi], av[lo:hi], 1, bv, 0) })
	case len(bv) == len(o) && len(av) == 1:
		splitFlat(len(o), func(lo, hi int) { arithRow32(op, o[lo:hi], av, 0, bv[lo:hi], 1) })
	default:
		if rows, inner, period, aFull, ok := rowBroadcast(a.Shape, b.Shape, shape); ok && inner >= 16 {
			// A per-channel operand ([C, 1, 1] against [N, C, H, W]: a squeeze-and-excitation
			// scale, a bias): one value per row of the full one, rows split over the pool.
			accel.ParallelFor(rows, max(1, flatGrain/inner), func(r0, r1 int) {
				for r := r0; r < r1; r++ {
					dst := o[r*inner : (r+1)*inner]
					if k := r % period; aFull {
						arithRow32(op, dst, av[r*inner:], 1, bv[k:k+1], 0)
					} else {
						arithRow32(op, dst, av[k:k+1], 0, bv[r*inner:], 1)
					}
				}
			})
			break
		}
		walk(shape, [][]int{bstrides(a.Shape, shape), bstrides(b.Shape, shape)}, func(at, n int, offs, steps []int) {
			arithRow32(op, o[at:at+n], av[offs[0]:], steps[0], bv[offs[1]:], steps[1])
		})
	}
	return out, nil
}

// rowBroadcast recognises one operand of the full shape out and the other holding one
// value per row: its shape, aligned right, is 1s, then out's own dimensions p..q−1, then
// 1s. Row r (of rows = prod(out[:q]), each inner = prod(out[q:]) long) then reads the
// small operand's value r % period. aFull tells which operand is the full one.
func rowBroadcast(as, bs, out []int) (rows, inner, period int, aFull, ok bool) {
	n := prod(out)
	small := bs
	switch {
	case prod(as) == n && sameShape(as, out):
		aFull = true
	case prod(bs) == n && sameShape(bs, out):
		small = as
	default:
		return 0, 0, 0, false, false
	}
	off := len(out) - len(small)
	if off < 0 {
		return 0, 0, 0, false, false
	}
	p, q := -1, -1
	for i, d := range small {
		if d == 1 {
			continue
		}
		if d != out[off+i] || q >= 0 && q != off+i {
			return 0, 0, 0, false, false // not one contiguous run of out's dimensions
		}
		if p < 0 {
			p = off + i
		}
		q = off + i + 1
	}
	if p < 0 {
		return 0, 0, 0, false, false // a scalar: the flat cases take it
	}
	return prod(out[:q]), prod(out[q:]), prod(out[p:q]), aFull, true
}

// flatGrain is the number of values one task of an element-wise op takes: about 10 µs
// of a memory-bound loop, well above the pool's hand-off.
const flatGrain = 1 << 14

// splitFlat runs fn over [0, n) in pieces of flatGrain on the worker pool: a residual
// Add over a 56² feature map would otherwise keep the other threads waiting. The
// pieces start at multiples of flatGrain, so each value is computed the same way
// (vector or tail) at every thread count.
func splitFlat(n int, fn func(lo, hi int)) {
	if n < 2*flatGrain {
		fn(0, n)
		return
	}
	accel.ParallelFor(n, flatGrain, fn)
}

// arithRow32 computes o[i] = x[i·xs] op y[i·ys] for steps of 0 or 1.
func arithRow32(op byte, o, x []float32, xs int, y []float32, ys int) {
	n := len(o)
	switch {
	case xs == 1 && ys == 1:
		x, y = x[:n], y[:n]
		switch op {
		case '+':
			accel.AddAct(o, x, y, accel.Act{Kind: accel.ActNone}) // vectorised; the same sums
		case '-':
			for i := range o {
				o[i] = x[i] - y[i]
			}
		case '*':
			for i := range o {
				o[i] = x[i] * y[i]
			}
		case '/':
			for i := range o {
				o[i] = x[i] / y[i]
			}
		default:
			arithRow[float32](op, false)(o, x, 1, y, 1)
		}
	case xs == 1 && ys == 0:
		x = x[:n]
		s := y[0]
		switch op {
		case '+':
			for i := range o {
				o[i] = x[i] + s
			}
		case '-':
			for i := range o {
				o[i] = x[i] - s
			}
		case '*':
			for i := range o {
				o[i] = x[i] * s
			}
		case '/':
			for i := range o {
				o[i] = x[i] / s
			}
		default:
			arithRow[float32](op, false)(o, x, 1, y, 0)
		}
	case xs == 0 && ys == 1:
		y = y[:n]
		s := x[0]
		switch op {
		case '+':
			for i := range o {
				o[i] = s + y[i]
			}
		case '-':
			for i := range o {
				o[i] = s - y[i]
			}
		case '*':
			for i := range o {
				o[i] = s * y[i]
			}
		case '/':
			for i := range o {
				o[i] = s / y[i]
			}
		default:
			arithRow[float32](op, false)(o, x, 0, y, 1)
		}
	default:
		arithRow[float32](op, false)(o, x, xs, y, ys)
	}
}

// ---- unary -------------------------------------------------------------------------------------

// unary32 are float32 kernels for unary ops, writing dst from src (distinct slices).
var unary32 = map[string]func(dst, src []float32){
	"Relu":    relu32,
	"Exp":     exp32,
	"Sigmoid": sigmoid32,
	"Tanh":    tanh32,
	"Neg": func(dst, src []float32) {
		for i, v := range src {
			dst[i] = -v
		}
	},
	"Sqrt": func(dst, src []float32) {
		for i, v := range src {
			dst[i] = float32(math.Sqrt(float64(v))) // correctly rounded
		}
	},
	"Erf": func(dst, src []float32) {
		for i, v := range src {
			dst[i] = float32(math.Erf(float64(v)))
		}
	},
}

// gelu32 is Gelu's erf form with accel's vectorised kernel: absolute error ≤ 1e-6·|x|,
// and relative error under 2e-5 below x = −3, where the result is tiny (every backend
// computes it as 0.5·x·erfc(−x/√2), without the cancellation of 1 + erf). A pass in
// float64 over the tail cost as much as the kernel itself (32K values: 51 against 25 µs).
func gelu32(dst, src []float32) { accel.GELU(dst, src) }

// unaryFast runs a unary op's float32 kernel when it has one and x is float32.
func unaryFast(c *opContext, x *Tensor) (*Tensor, bool) {
	f := unary32[c.node.OpType]
	if c.node.OpType == "Gelu" && c.attrString("approximate", "none") == "none" {
		f = gelu32
	}
	if c.node.OpType == "HardSigmoid" {
		al, be := c.attrFloat("alpha", 0.2), c.attrFloat("beta", 0.5)
		f = func(dst, src []float32) { hardSigmoid32(dst, src, al, be) }
	}
	src, ok := x.Data.([]float32)
	if f == nil || !ok || x.DType != ir.Float32 || !fastPaths {
		return nil, false
	}
	out := c.tensorF32(x.DType, shapeOf(x))
	dst := out.Data.([]float32)
	if len(src) < 2*flatGrain { // one piece: called here, without the closure's allocation
		f(dst, src)
	} else {
		splitFlat(len(src), func(lo, hi int) { f(dst[lo:hi], src[lo:hi]) })
	}
	return out, true
}

// sigmoid32 is 1/(1+e^−x) with a vectorised exponential; e^−x overflowing to +Inf
// gives 0, as it should. From 64 values on, accel.Sigmoid: exp32's accel.Exp and the
// same division, one pass on AVX-512 (the same bits as the three below).
func sigmoid32(dst, src []float32) {
	if len(src) >= 64 {
		accel.Sigmoid(dst, src)
		return
	}
	for i, v := range src {
		dst[i] = -v
	}
	exp32(dst, dst)
	for i, e := range dst {
		dst[i] = 1 / (1 + e)
	}
}

// tanh32 is 1 − 2/(e^{2x}+1) with a vectorised exponential; below |x| = 0.5, where
// that form cancels, the odd Taylor series to x¹⁵ (error < 5e-9 there).
func tanh32(dst, src []float32) {
	for i, v := range src {
		dst[i] = 2 * max(-40, min(40, v)) // tanh(±20) is ±1 in float32; keeps NaN
	}
	exp32(dst, dst)
	for i, v := range src {
		if a := math.Abs(float64(v)); a < 0.5 {
			x := float64(v)
			x2 := x * x
			p := -929569.0 / 638512875
			p = p*x2 + 21844.0/6081075
			p = p*x2 - 1382.0/155925
			p = p*x2 + 62.0/2835
			p = p*x2 - 17.0/315
			p = p*x2 + 2.0/15
			p = p*x2 - 1.0/3
			dst[i] = float32(x + x*x2*p)
			continue
		}
		dst[i] = 1 - 2/(dst[i]+1)
	}
}

// ---- normalisation ------------------------------------------------------------------------------

// layerNorm32 normalises rows of cols float32 values (statistics in float64) and writes
// the mean and 1/σ of each row when asked. out may be x.
func layerNorm32(out, x, scale, bias []float32, rows, cols int, eps float64, means, invs []float64) {
	for r := 0; r < rows; r++ {
		row := x[r*cols : (r+1)*cols]
		m := sum64(row) / float64(max(cols, 1))
		inv := 1 / math.Sqrt(sqDev64(row, m)/float64(max(cols, 1))+eps)
		if means != nil {
			means[r], invs[r] = m, inv
		}
		mf, invf := float32(m), float32(inv)
		o, sc := out[r*cols:(r+1)*cols], scale[:cols] // lengths known: no bounds checks inside
		if bias == nil {
			for j, v := range row {
				o[j] = (v - mf) * invf * sc[j]
			}
		} else {
			b := bias[:cols]
			for j, v := range row {
				o[j] = (v-mf)*invf*sc[j] + b[j]
			}
		}
	}
}

// sum64 is the float64 sum of x, in four partial sums: one running sum waits on the
// previous add at every element (4 cycles each), four interleave. The order is fixed, so
// the result does not depend on the thread count.
func sum64(x []float32) float64 {
	var s0, s1, s2, s3 float64
	for len(x) >= 4 { // x shrinks: no bounds checks inside
		s0 += float64(x[0])
		s1 += float64(x[1])
		s2 += float64(x[2])
		s3 += float64(x[3])
		x = x[4:]
	}
	for _, v := range x {
		s0 += float64(v)
	}
	return (s0 + s1) + (s2 + s3)
}

// sqDev64 is Σ(x−m)² in float64, in four partial sums like sum64.
func sqDev64(x []float32, m float64) float64 {
	var s0, s1, s2, s3 float64
	for len(x) >= 4 {
		d0, d1, d2, d3 := float64(x[0])-m, float64(x[1])-m, float64(x[2])-m, float64(x[3])-m
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
		x = x[4:]
	}
	for _, v := range x {
		d := float64(v) - m
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

// layerNormFast is LayerNormalization on float32 X and scale (already broadcast to the
// normalised shape). Mean and InvStdDev are computed only when the node has them.
func layerNormFast(c *opContext, x *Tensor, xf, scale, _ []float32, b *Tensor, norm []int, axis, rows, cols int, eps float64) ([]*Tensor, error) {
	var bias []float32
	if b != nil {
		if _, err := broadcastShape(b.Shape, norm); err != nil {
			return nil, errf("B %v does not broadcast to %v", b.Shape, norm)
		}
		bt := broadcastTo(castTo(b, ir.Float32), norm)
		bias = bt.Data.([]float32)
	}
	stats := false
	for _, o := range c.node.Outputs[min(1, len(c.node.Outputs)):] {
		stats = stats || o != ""
	}
	var means, invs []float64
	if stats {
		means, invs = make([]float64, rows), make([]float64, rows)
	}
	out := c.tensorF32(x.DType, shapeOf(x))
	layerNorm32(out.Data.([]float32), xf, scale, bias, rows, cols, eps, means, invs)
	if !stats {
		return []*Tensor{out}, nil
	}
	statShape := shapeOf(x)
	for i := axis; i < len(statShape); i++ {
		statShape[i] = 1
	}
	st := x.DType
	if s := c.attrInt("stash_type", 1); s == 1 {
		st = ir.Float32
	}
	return []*Tensor{out, fromFloat64s(st, statShape, means), fromFloat64s(st, append([]int{}, statShape...), invs)}, nil
}

// gemmFast is Gemm on float32 with C absent, a bias row (n values, shape [n] or [1, n])
// added by the GEMM itself, or a full m×n C; other shapes of C take the generic path.
func gemmFast(c *opContext, a, b []float32, cc *Tensor, ta, tb bool, m, n, k, lda, ldb int, alpha, beta float32) (*Tensor, bool) {
	var bias []float32
	out := c.tensorF32(ir.Float32, []int{m, n})
	o := out.Data.([]float32)
	betaC := float32(0)
	if cc != nil && beta != 0 {
		cv, ok := cc.Data.([]float32)
		switch {
		case !ok || cc.DType != ir.Float32:
			return nil, false
		case len(cv) == n && (len(cc.Shape) == 1 || len(cc.Shape) == 2 && cc.Shape[0] == 1) && n > 0:
			bias = cv
			if beta != 1 {
				bias = make([]float32, n)
				for j, v := range cv {
					bias[j] = beta * v
				}
			}
		case len(cc.Shape) == 2 && cc.Shape[0] == m && cc.Shape[1] == n:
			copy(o, cv)
			betaC = beta
		default:
			return nil, false
		}
	}
	if !ta && m*n*k < smallGEMMFlops {
		smallGEMMBias(tb, m, n, k, alpha, a, lda, b, ldb, betaC, o, bias)
		return out, true
	}
	if m == 1 && tb && !ta {
		if w := c.gemvWeights(b, n, k, ldb); w != nil {
			accel.GEMVPacked(w, alpha, a, betaC, o, bias)
			return out, true
		}
	}
	accel.SGEMMBias(ta, tb, m, n, k, alpha, a, max(lda, 1), b, max(ldb, 1), betaC, o, max(n, 1), bias)
	return out, true
}

// smallGEMMBias is accel.SGEMMBias for a small product with A not transposed (a
// classifier head: one row times a weight stored n×k): dot products with four partial
// sums for Bᵀ, row updates for B, in a fixed order whatever the thread count.
func smallGEMMBias(tb bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, o, bias []float32) {
	acc := make([]float32, n)
	for i := 0; i < m; i++ {
		ar := a[i*lda : i*lda+k]
		if tb {
			for j := range acc {
				br := b[j*ldb : j*ldb+k]
				var s0, s1, s2, s3 float32
				x, y := ar, br[:len(ar)]
				for len(x) >= 4 && len(y) >= 4 { // slices shrink: no bounds checks inside
					s0 += x[0] * y[0]
					s1 += x[1] * y[1]
					s2 += x[2] * y[2]
					s3 += x[3] * y[3]
					x, y = x[4:], y[4:]
				}
				for i, v := range x {
					s0 += v * y[i]
				}
				acc[j] = (s0 + s1) + (s2 + s3)
			}
		} else {
			clear(acc)
			for p, av := range ar {
				br := b[p*ldb : p*ldb+n]
				for j, bv := range br {
					acc[j] += av * bv
				}
			}
		}
		row := o[i*n : (i+1)*n]
		for j, v := range acc {
			r := alpha * v
			if beta != 0 {
				r += beta * row[j]
			}
			if bias != nil {
				r += bias[j]
			}
			row[j] = r
		}
	}
}

// smallGEMMFlops is the size (m·n·k) below which gemmAcc multiplies with a plain loop:
// accel's own small-size path packs B into a new buffer on every call, which costs more
// than the product itself for the recurrent steps of a small RNN.
const smallGEMMFlops = 1 << 14

// gemmAcc computes C = A·B (beta 0) or C += A·B for row-major A (m×k), B (k×n), C (m×n)
// with leading dimensions k, n and n.
func gemmAcc(m, n, k int, a, b, c []float32, accumulate bool) {
	if m*n*k >= smallGEMMFlops {
		beta := float32(0)
		if accumulate {
			beta = 1
		}
		accel.SGEMM(false, false, m, n, k, 1, a, max(k, 1), b, max(n, 1), beta, c, max(n, 1))
		return
	}
	for i := 0; i < m; i++ {
		crow := c[i*n : (i+1)*n]
		if !accumulate {
			clear(crow)
		}
		for p, av := range a[i*k : (i+1)*k] {
			brow := b[p*n : (p+1)*n]
			j := 0
			for ; j+4 <= n; j += 4 {
				crow[j] += av * brow[j]
				crow[j+1] += av * brow[j+1]
				crow[j+2] += av * brow[j+2]
				crow[j+3] += av * brow[j+3]
			}
			for ; j < n; j++ {
				crow[j] += av * brow[j]
			}
		}
	}
}

// exp32 writes e^x; dst may be src. Long vectors go to accel.Exp; short ones (a gate
// row of a small RNN), which accel would evaluate one math.Exp at a time, use Cephes'
// single-precision polynomial (about 1 ulp), with math.Exp for the ranges where the
// result overflows, is subnormal, or is NaN.
func exp32(dst, src []float32) {
	if len(src) >= 64 {
		accel.Exp(dst, src)
		return
	}
	dst = dst[:len(src)]
	for i, x := range src {
		if !(x > -87 && x < 88) {
			dst[i] = float32(math.Exp(float64(x)))
			continue
		}
		n := float32(math.Floor(float64(x*1.44269504088896341 + 0.5)))
		r := x - n*0.693359375 + n*2.12194440e-4
		p := float32(1.9875691500e-4)
		p = p*r + 1.3981999507e-3
		p = p*r + 8.3334519073e-3
		p = p*r + 4.1665795894e-2
		p = p*r + 1.6666665459e-1
		p = p*r + 5.0000001201e-1
		y := p*r*r + r + 1
		dst[i] = y * math.Float32frombits(uint32(int32(n)+127)<<23)
	}
}

// im2col2D fills col [(cg·kh·kw) × (oh·ow)] from the cg planes of x (each ih×iw) for a 2-D
// convolution: per kernel offset and output row, one contiguous copy when the stride is
// 1 (zeros where the window hangs over the padding), a strided gather otherwise.
func im2col2D(col, x []float32, cg int, g *convGeom, ld int) {
	ih, iw := g.in[0], g.in[1]
	kh, kw := g.kernel[0], g.kernel[1]
	oh, ow := g.out[0], g.out[1]
	sh, sw := g.strides[0], g.strides[1]
	dh, dw := g.dil[0], g.dil[1]
	ph, pw := g.padBegin[0], g.padBegin[1]
	O := oh * ow
	r := 0
	for ci := 0; ci < cg; ci++ {
		plane := x[ci*ih*iw : (ci+1)*ih*iw]
		for ki := 0; ki < kh; ki++ {
			for kj := 0; kj < kw; kj++ {
				dst := col[r*ld : r*ld+O]
				r++
				// Output columns whose input column lies inside the image: [lo, hi).
				off := kj*dw - pw
				lo := 0
				if off < 0 {
					lo = min(ow, (-off+sw-1)/sw)
				}
				hi := ow
				if last := iw - 1 - off; last < 0 {
					hi = 0
				} else {
					hi = min(ow, last/sw+1)
				}
				hi = max(hi, lo)
				if sw == 1 && sh == 1 && ow == iw {
					// Output and input rows have the same length: the rows that lie
					// inside the image are one shifted copy of the plane; then the
					// columns and rows that hang over the padding are zeroed.
					dy := ki*dh - ph
					y0, y1 := max(0, -dy), min(oh, ih-dy)
					if y1 <= y0 || hi <= lo {
						clear(dst)
						continue
					}
					shift := dy*iw + off
					copy(dst[y0*ow+lo:(y1-1)*ow+hi], plane[y0*ow+lo+shift:(y1-1)*ow+hi+shift])
					clear(dst[:y0*ow])
					clear(dst[y1*ow:])
					if lo > 0 || hi < ow {
						// A column or two per row: plain stores, not a call each.
						for y := y0; y < y1; y++ {
							drow := dst[y*ow : (y+1)*ow]
							for xo := 0; xo < lo; xo++ {
								drow[xo] = 0
							}
							for xo := hi; xo < ow; xo++ {
								drow[xo] = 0
							}
						}
					}
					continue
				}
				for y := 0; y < oh; y++ {
					drow := dst[y*ow : (y+1)*ow]
					yy := y*sh + ki*dh - ph
					if yy < 0 || yy >= ih {
						clear(drow)
						continue
					}
					srow := plane[yy*iw : (yy+1)*iw]
					clear(drow[:lo])
					clear(drow[hi:])
					if sw == 1 {
						copy(drow[lo:hi], srow[lo+off:hi+off])
					} else {
						for xo := lo; xo < hi; xo++ {
							drow[xo] = srow[xo*sw+off]
						}
					}
				}
			}
		}
	}
}

// maxPool2D is MaxPool over nc planes of a 2-D input without indices, on accel's kernel.
// Windows are clipped to the image (padding never wins, as -Inf would not); a window
// that lies entirely in the padding gives -Inf; a NaN counts only as a window's first
// value inside the image: the generic kernel's order and comparisons.
func maxPool2D(out, x []float32, nc int, g *convGeom) {
	accel.MaxPool2D(accel.Window2D{H: g.in[0], W: g.in[1], OH: g.out[0], OW: g.out[1], KH: g.kernel[0], KW: g.kernel[1],
		SH: g.strides[0], SW: g.strides[1], PH: g.padBegin[0], PW: g.padBegin[1], DH: g.dil[0], DW: g.dil[1]}, x, out, nc)
}

// castFast converts the integer results of the quantized ops (and small integers in
// general) to float32, and float32 to float32, into pooled buffers. Every value of
// these types is exact in float32 except int32/int64 beyond 2²⁴, which round to
// nearest as the generic float64 route does (the int64 → float64 step is exact for
// them, then one rounding to float32 — the same as a direct conversion).
func castFast(c *opContext, x *Tensor, to ir.DType) (*Tensor, bool) {
	if to != ir.Float32 || !fastPaths {
		return nil, false
	}
	n := x.Len()
	switch d := x.Data.(type) {
	case []int32:
		o := allocRaw[float32](c, n)
		for i, v := range d {
			o[i] = float32(v)
		}
		return &Tensor{DType: to, Shape: shapeOf(x), Data: o}, true
	case []uint8:
		o := allocRaw[float32](c, n)
		for i, v := range d {
			o[i] = float32(v)
		}
		return &Tensor{DType: to, Shape: shapeOf(x), Data: o}, true
	case []int8:
		o := allocRaw[float32](c, n)
		for i, v := range d {
			o[i] = float32(v)
		}
		return &Tensor{DType: to, Shape: shapeOf(x), Data: o}, true
	case []float32:
		if x.DType != ir.Float32 {
			return nil, false // float16/bfloat16 keep their own rounding route
		}
		return x, true // the same values: share them (kernels never write their inputs)
	}
	return nil, false
}

// dynQuantFast is DynamicQuantizeLinear on float32: min and max with 0 in float32, the
// scale and zero point as the generic kernel computes them, then accel.QuantizeU8
// (round half to even, saturate). NaN inputs take the generic path.
// dynQuantSmall is the input size up to which dynQuantRange finds min and max itself.
const dynQuantSmall = 4096

func dynQuantFast(c *opContext, x *Tensor) ([]*Tensor, bool) {
	xv, ok := x.Data.([]float32)
	if !ok || x.DType != ir.Float32 || !fastPaths {
		return nil, false
	}
	scale, zp, ok := dynQuantRange(xv)
	if !ok {
		return nil, false
	}
	y := allocRaw[uint8](c, len(xv))
	if scale != 0 {
		accel.QuantizeU8(y, xv, scale, uint8(zp))
	} else {
		for i := range y {
			y[i] = uint8(zp)
		}
	}
	return []*Tensor{
		{DType: ir.Uint8, Shape: shapeOf(x), Data: y},
		{DType: ir.Float32, Shape: []int{}, Data: []float32{scale}},
		{DType: ir.Uint8, Shape: []int{}, Data: []uint8{uint8(zp)}},
	}, true
}

// dynQuantRange is DynamicQuantizeLinear's scale and zero point for xv, as the generic
// kernel computes them; ok false where xv holds a NaN (the generic path then runs).
// accel.MinMaxNaN finds the range and the NaN in one pass; a small input (the
// activations of a short sequence) is scanned here: the same min and max, without the
// accel call's checks and allocations.
func dynQuantRange(xv []float32) (scale, zp float32, ok bool) {
	var lo, hi float32
	if len(xv) <= dynQuantSmall {
		lo, hi = float32(math.Inf(1)), float32(math.Inf(-1))
		for _, v := range xv {
			if v != v {
				return 0, 0, false
			}
			if v < lo {
				lo = v
			}
			if v > hi {
				hi = v
			}
		}
	} else {
		var nan bool
		if lo, hi, nan = accel.MinMaxNaN(xv); nan {
			return 0, 0, false
		}
	}
	scale, zp = dynQuantParams(lo, hi)
	return scale, zp, true
}

// dynQuantParams is DynamicQuantizeLinear's scale and zero point for values in [lo, hi]
// (the range widened to hold 0), as the generic kernel computes them.
func dynQuantParams(lo, hi float32) (scale, zp float32) {
	mn, mx := min(0, lo), max(0, hi)
	scale = (mx - mn) / 255
	if scale != 0 {
		zp = float32(math.Max(0, math.Min(255, math.RoundToEven(float64(0-mn/scale)))))
	}
	return scale, zp
}

// colSums returns the column sums of the k×n int8 matrix b (the zero-point correction
// of an integer GEMM). B is a weight in practice, so the sums are kept per node and
// recomputed only when the node sees other data. Only a fixed B (input bIdx) is cached:
// the memory of a computed one is reused for other values.
func (c *opContext) colSums(b []int8, k, n, bIdx int) []int32 {
	cache := c.sess != nil && len(b) > 0 && c.inputFixed(bIdx)
	type entry struct {
		p    *int8
		k, n int
		sums []int32
	}
	key := struct {
		node *ir.Node
		tag  string
	}{c.node, "colsum"}
	if cache {
		if v, ok := c.sess.tables.Load(key); ok {
			if e := v.(*entry); e.p == &b[0] && e.k == k && e.n == n {
				return e.sums
			}
		}
	}
	sums := make([]int32, n)
	for p := 0; p < k; p++ {
		for j, v := range b[p*n : (p+1)*n] {
			sums[j] += int32(v)
		}
	}
	if cache {
		c.sess.tables.Store(key, &entry{p: &b[0], k: k, n: n, sums: sums})
	}
	return sums
}

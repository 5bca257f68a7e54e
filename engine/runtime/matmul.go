package runtime

import (
	"sort"
	"strings"

	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/ir"
)

func init() {
	register(opMatMul, "MatMul")
	register(opGemm, "Gemm")
	register(opEinsum, "Einsum")
}

// matmulShapes applies numpy matmul rules: a 1-D operand gains a dimension that is
// dropped again from the result; batch dimensions broadcast.
func matmulShapes(a, b []int) (m, k, n int, batch, aB, bB, out []int, err error) {
	as, bs := append([]int{}, a...), append([]int{}, b...)
	if len(as) == 0 || len(bs) == 0 {
		err = errf("MatMul of a scalar")
		return
	}
	aVec, bVec := len(as) == 1, len(bs) == 1
	if aVec {
		as = []int{1, as[0]}
	}
	if bVec {
		bs = []int{bs[0], 1}
	}
	m, k = as[len(as)-2], as[len(as)-1]
	if bs[len(bs)-2] != k {
		err = errf("inner dimensions differ: %v × %v", a, b)
		return
	}
	n = bs[len(bs)-1]
	aB, bB = as[:len(as)-2], bs[:len(bs)-2]
	if batch, err = broadcastShape(aB, bB); err != nil {
		return
	}
	out = append([]int{}, batch...)
	if !aVec {
		out = append(out, m)
	}
	if !bVec {
		out = append(out, n)
	}
	return
}

func opMatMul(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	t, err := matmul(c, in[0], in[1])
	if err != nil {
		return nil, err
	}
	return one(t)
}

// matmul multiplies with broadcasting over batch dimensions: float32 through
// accel.SGEMM, other types with a plain loop.
func matmul(c *opContext, a, b *Tensor) (*Tensor, error) {
	if err := sameType(a, b); err != nil {
		return nil, err
	}
	m, k, n, batch, aB, bB, outShape, err := matmulShapes(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	nb := prod(batch)
	if av, ok := a.Data.([]float32); ok {
		// SGEMM with beta 0 writes every element: the output needs no zeroing.
		out := c.tensorF32(a.DType, outShape)
		bv, ov := b.Data.([]float32), out.Data.([]float32)
		if nb == 1 || len(bB) == 0 && sameShape(aB, batch) {
			// One weight for every batch: a single (nb·m)×k by k×n product.
			gemmAcc(nb*m, n, k, av, bv, ov, false)
			return out, nil
		}
		aOff := stridedIndex(batch, 0, scaled(bstrides(aB, batch), m*k))
		bOff := stridedIndex(batch, 0, scaled(bstrides(bB, batch), k*n))
		for i := 0; i < nb; i++ {
			gemmAcc(m, n, k, av[aOff[i]:aOff[i]+m*k], bv[bOff[i]:bOff[i]+k*n], ov[i*m*n:(i+1)*m*n], false)
		}
		return out, nil
	}
	aOff := stridedIndex(batch, 0, scaled(bstrides(aB, batch), m*k))
	bOff := stridedIndex(batch, 0, scaled(bstrides(bB, batch), k*n))
	out := newTensor(a.DType, outShape)
	switch av := a.Data.(type) {
	case []float32:
		bv, ov := b.Data.([]float32), out.Data.([]float32)
		for i := 0; i < nb; i++ {
			accel.SGEMM(false, false, m, n, k, 1, av[aOff[i]:], max(k, 1), bv[bOff[i]:], max(n, 1), 0, ov[i*m*n:], max(n, 1))
		}
	case []float64:
		matmulLoop(av, b.Data.([]float64), out.Data.([]float64), nb, m, k, n, aOff, bOff)
	case []int64:
		matmulLoop(av, b.Data.([]int64), out.Data.([]int64), nb, m, k, n, aOff, bOff)
	case []int32:
		matmulLoop(av, b.Data.([]int32), out.Data.([]int32), nb, m, k, n, aOff, bOff)
	case []uint64:
		matmulLoop(av, b.Data.([]uint64), out.Data.([]uint64), nb, m, k, n, aOff, bOff)
	case []uint32:
		matmulLoop(av, b.Data.([]uint32), out.Data.([]uint32), nb, m, k, n, aOff, bOff)
	default:
		return nil, unsupported("MatMul of %v", a.DType)
	}
	return out, nil
}

func scaled(s []int, f int) []int {
	for i := range s {
		s[i] *= f
	}
	return s
}

func matmulLoop[T number](a, b, c []T, nb, m, k, n int, aOff, bOff []int) {
	for bi := 0; bi < nb; bi++ {
		A, B, C := a[aOff[bi]:], b[bOff[bi]:], c[bi*m*n:]
		for i := 0; i < m; i++ {
			for p := 0; p < k; p++ {
				x := A[i*k+p]
				for j := 0; j < n; j++ {
					C[i*n+j] += x * B[p*n+j]
				}
			}
		}
	}
}

// opGemm is Y = alpha·op(A)·op(B) + beta·C with C broadcast to M×N.
func opGemm(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	a, b, cc := in[0], in[1], opt(in, 2)
	if len(a.Shape) != 2 || len(b.Shape) != 2 {
		return nil, errf("needs 2-D A and B, got %v and %v", a.Shape, b.Shape)
	}
	if err := sameType(a, b); err != nil {
		return nil, err
	}
	ta, tb := c.attrInt("transA", 0) == 1, c.attrInt("transB", 0) == 1
	alpha, beta := c.attrFloat("alpha", 1), c.attrFloat("beta", 1)
	m, k := a.Shape[0], a.Shape[1]
	if ta {
		m, k = k, m
	}
	kb, n := b.Shape[0], b.Shape[1]
	if tb {
		kb, n = n, kb
	}
	if kb != k {
		return nil, errf("inner dimensions differ: A %v, B %v (transA=%v, transB=%v)", a.Shape, b.Shape, ta, tb)
	}
	if av, ok := a.Data.([]float32); ok && a.DType == ir.Float32 && b.DType == ir.Float32 && fastPaths {
		bv, tbv, ldb := b.Data.([]float32), tb, b.Shape[1]
		if tb {
			if bt := c.transposedB(bv, m, n, k, ldb); bt != nil {
				bv, tbv, ldb = bt, false, n
			}
		}
		if t, ok := gemmFast(c, av, bv, cc, ta, tbv, m, n, k, a.Shape[1], ldb, alpha, beta); ok {
			return one(t)
		}
	}
	out := newTensor(a.DType, []int{m, n})
	if cc != nil && beta != 0 {
		if _, err := broadcastShape(cc.Shape, out.Shape); err != nil {
			return nil, errf("C %v does not broadcast to %dx%d", cc.Shape, m, n)
		}
		bc := broadcastTo(castTo(cc, a.DType), out.Shape)
		put(out.Data, 0, bc.Data)
	} else {
		beta = 0
	}
	if av, ok := a.Data.([]float32); ok {
		accel.SGEMM(ta, tb, m, n, k, alpha, av, max(a.Shape[1], 1), b.Data.([]float32), max(b.Shape[1], 1), beta, out.Data.([]float32), max(n, 1))
		return one(out)
	}
	// Other types: float64 arithmetic, cast back.
	af, bf, cf := float64s(a), float64s(b), float64s(out)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				x, y := af[i*a.Shape[1]+p], bf[p*b.Shape[1]+j]
				if ta {
					x = af[p*a.Shape[1]+i]
				}
				if tb {
					y = bf[j*b.Shape[1]+p]
				}
				s += x * y
			}
			cf[i*n+j] = float64(alpha)*s + float64(beta)*cf[i*n+j]
		}
	}
	return one(fromFloat64s(a.DType, out.Shape, cf))
}

// opEinsum evaluates an Einstein summation by visiting every combination of the labels:
// simple and general (repeated labels take diagonals, "..." broadcasts), not fast.
func opEinsum(c *opContext, in []*Tensor) ([]*Tensor, error) {
	eq := strings.ReplaceAll(c.attrString("equation", ""), " ", "")
	lhs, rhs, explicit := strings.Cut(eq, "->")
	terms := strings.Split(lhs, ",")
	if len(terms) != len(in) {
		return nil, errf("equation %q has %d operands, the node %d", eq, len(terms), len(in))
	}
	// Expand "..." into labels '0'.. '9' covering the broadcast rank.
	ellRank := 0
	for i, t := range terms {
		if strings.Contains(t, "...") {
			ellRank = max(ellRank, len(in[i].Shape)-(len(t)-3))
		}
	}
	ell := ""
	for i := 0; i < ellRank; i++ {
		ell += string(rune('0' + i))
	}
	sizes := map[rune]int{}
	labels := make([][]rune, len(terms))
	for i, t := range terms {
		if strings.Contains(t, "...") {
			r := len(in[i].Shape) - (len(t) - 3)
			t = strings.Replace(t, "...", ell[ellRank-r:], 1)
		}
		labels[i] = []rune(t)
		if len(labels[i]) != len(in[i].Shape) {
			return nil, errf("term %q does not match operand %d of shape %v", terms[i], i, in[i].Shape)
		}
		for j, l := range labels[i] {
			d := in[i].Shape[j]
			if s, ok := sizes[l]; ok && s != d && s != 1 && d != 1 {
				return nil, errf("label %c has sizes %d and %d", l, s, d)
			}
			sizes[l] = max(sizes[l], d)
			if _, ok := sizes[l]; !ok {
				sizes[l] = d
			}
		}
	}
	var outLabels []rune
	if explicit {
		rhs = strings.Replace(rhs, "...", ell, 1)
		outLabels = []rune(rhs)
	} else {
		count := map[rune]int{}
		for _, ls := range labels {
			for _, l := range ls {
				count[l]++
			}
		}
		outLabels = []rune(ell)
		var rest []rune
		for l, n := range count {
			if n == 1 && (l < '0' || l > '9') {
				rest = append(rest, l)
			}
		}
		sort.Slice(rest, func(i, j int) bool { return rest[i] < rest[j] })
		outLabels = append(outLabels, rest...)
	}
	var all []rune
	pos := map[rune]int{}
	for _, l := range outLabels {
		if _, ok := sizes[l]; !ok {
			return nil, errf("output label %c is not in any operand", l)
		}
		pos[l] = len(all)
		all = append(all, l)
	}
	for _, ls := range labels {
		for _, l := range ls {
			if _, ok := pos[l]; !ok {
				pos[l] = len(all)
				all = append(all, l)
			}
		}
	}
	dims := make([]int, len(all))
	for i, l := range all {
		dims[i] = sizes[l]
	}
	// Per operand, the stride each label contributes (summed for repeated labels).
	strides := make([][]int, len(in))
	vals := make([][]float64, len(in))
	for i, t := range in {
		st := stridesOf(t.Shape)
		strides[i] = make([]int, len(all))
		for j, l := range labels[i] {
			if t.Shape[j] != 1 || sizes[l] == 1 {
				strides[i][pos[l]] += st[j]
			}
		}
		vals[i] = float64s(t)
	}
	outShape := dims[:len(outLabels)]
	outSt := stridesOf(outShape)
	res := make([]float64, prod(outShape))
	total := prod(dims)
	cur := make([]int, len(dims))
	offs := make([]int, len(in))
	outOff := 0
	for it := 0; it < total; it++ {
		p := 1.0
		for i := range in {
			p *= vals[i][offs[i]]
		}
		res[outOff] += p
		for d := len(dims) - 1; d >= 0; d-- {
			cur[d]++
			for i := range in {
				offs[i] += strides[i][d]
			}
			if d < len(outSt) {
				outOff += outSt[d]
			}
			if cur[d] < dims[d] {
				break
			}
			for i := range in {
				offs[i] -= strides[i][d] * dims[d]
			}
			if d < len(outSt) {
				outOff -= outSt[d] * dims[d]
			}
			cur[d] = 0
		}
	}
	dt := in[0].DType
	if !storable(dt) || dt == ir.String || dt == ir.Bool {
		return nil, unsupported("Einsum of %v", dt)
	}
	return one(fromFloat64s(dt, append([]int{}, outShape...), res))
}

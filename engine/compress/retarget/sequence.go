package retarget

import (
	"encoding/binary"
	"fmt"

	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/ir"
)

// Sequence retargets a token model to the shorter sequence length n. The sequence inputs
// are the rank-2 integer inputs ([batch, sequence]: token ids, attention masks, token type
// ids) and the rank-3 float inputs ([batch, sequence, features]); their dimension 1 is
// declared n. When the old length S was declared, the constants an exporter folded from it
// are rewritten: in shape operands (Reshape and Expand targets, ConstantOfShape, Tile,
// Slice starts and ends, Range bounds, and integer scalars concatenated into them) an
// entry equal to S becomes n; every other constant (position ids, position-embedding
// tables added to the embeddings, attention masks) with a dimension of length S keeps its
// first n entries along it, and a Gather table (nn.Embedding of positions) with exactly S
// rows keeps its first n rows. Learned absolute positions are sliced, not resampled: token
// i keeps the embedding it was trained with. The model is then run once at length n; the
// declared output and value shapes are set from that run.
func Sequence(m *ir.Model, n int64) (*compress.Report, error) {
	g := m.Graph
	if n < 1 {
		return nil, fmt.Errorf("the sequence length must be at least 1, not %d", n)
	}
	inits := map[string]bool{}
	for _, t := range g.Initializers {
		inits[t.Name] = true
	}
	var seq []*ir.ValueInfo
	var old int64
	for _, v := range g.Inputs {
		if inits[v.Name] || v.Type == nil || v.Type.Shape == nil {
			continue
		}
		d := v.Type.Shape.Dims
		isInt := v.Type.ElemType == ir.Int64 || v.Type.ElemType == ir.Int32
		if !(isInt && len(d) == 2 || v.Type.ElemType.IsFloat() && len(d) == 3) {
			continue
		}
		if d[1].HasValue {
			if old != 0 && old != d[1].Value {
				return nil, fmt.Errorf("inputs %q and %q declare different sequence lengths (%d, %d)", seq[0].Name, v.Name, old, d[1].Value)
			}
			old = d[1].Value
		}
		seq = append(seq, v)
	}
	if len(seq) == 0 {
		return nil, fmt.Errorf("the model has no sequence input ([batch, sequence] integer ids or [batch, sequence, features] floats)")
	}
	if old != 0 && n >= old {
		return nil, fmt.Errorf("input %q has sequence length %d: %d is not shorter", seq[0].Name, old, n)
	}
	r := &compress.Report{}
	feed := func(l int64) map[string][]int64 {
		f := map[string][]int64{}
		for _, v := range seq {
			s := []int64{1, l}
			for _, d := range v.Type.Shape.Dims[2:] {
				s = append(s, d.Value)
			}
			f[v.Name] = s
		}
		return f
	}
	var before map[string][]int
	if old != 0 {
		r.Pass = fmt.Sprintf("sequence length %d → %d", old, n)
		var err error
		if before, err = Shapes(m, feed(old)); err != nil {
			return nil, fmt.Errorf("running the model at its declared length: %w", err)
		}
		if err := rewriteConstants(g, old, n, r); err != nil {
			return nil, err
		}
	} else {
		r.Pass = fmt.Sprintf("sequence length (dynamic) → %d", n)
	}
	for _, v := range seq {
		v.Type.Shape.Dims[1] = ir.Dim{Value: n, HasValue: true}
		r.Notes = append(r.Notes, fmt.Sprintf("input %s: sequence length %d", v.Name, n))
	}
	after, err := Shapes(m, feed(n))
	if err != nil {
		return nil, fmt.Errorf("the model does not run at sequence length %d: %w", n, err)
	}
	for _, o := range g.Outputs {
		if before != nil && len(before[o.Name]) != len(after[o.Name]) {
			return nil, fmt.Errorf("output %q changes rank %v → %v at the new length", o.Name, before[o.Name], after[o.Name])
		}
	}
	for _, vs := range [][]*ir.ValueInfo{g.Outputs, g.ValueInfos} {
		for _, v := range vs {
			s, ok := after[v.Name]
			if !ok || v.Type == nil || v.Type.Shape == nil || len(v.Type.Shape.Dims) != len(s) {
				continue
			}
			for i, d := range v.Type.Shape.Dims {
				if d.HasValue && d.Value != int64(s[i]) {
					v.Type.Shape.Dims[i].Value = int64(s[i])
				}
			}
		}
	}
	return r, nil
}

// shapeSlot reports whether input i of op holds a shape or index bound.
// DynamicLength reports whether m has a sequence input whose length is not declared.
func DynamicLength(m *ir.Model) bool {
	for _, v := range m.Graph.Inputs {
		if v.Type == nil || v.Type.Shape == nil || m.Graph.Initializer(v.Name) != nil {
			continue
		}
		d := v.Type.Shape.Dims
		isInt := v.Type.ElemType == ir.Int64 || v.Type.ElemType == ir.Int32
		if (isInt && len(d) == 2 || v.Type.ElemType.IsFloat() && len(d) == 3) && !d[1].HasValue {
			return true
		}
	}
	return false
}

func shapeSlot(op string, i int) bool {
	switch op {
	case "Reshape", "Expand", "Tile":
		return i == 1
	case "ConstantOfShape":
		return i == 0
	case "Slice":
		return i == 1 || i == 2
	case "Range":
		return i == 0 || i == 1
	case "Concat", "Unsqueeze":
		return i == 0 || op == "Concat"
	}
	return false
}

// weightSlot reports whether input i of op is a weight that never carries the sequence.
func weightSlot(op string, i int) bool {
	switch op {
	case "MatMul", "Gemm", "Conv", "ConvTranspose", "LayerNormalization", "BatchNormalization", "InstanceNormalization":
		return i >= 1
	}
	return false
}

func rewriteConstants(g *ir.Graph, old, n int64, r *compress.Report) error {
	type use struct {
		op string
		i  int
	}
	uses := map[string][]use{}
	for _, nd := range g.Nodes {
		for i, in := range nd.Inputs {
			uses[in] = append(uses[in], use{nd.OpType, i})
		}
	}
	for _, t := range g.Initializers {
		us := uses[t.Name]
		if len(us) == 0 {
			continue
		}
		isInt := t.DType == ir.Int64 || t.DType == ir.Int32
		shapeLike, weight, table := isInt, false, false
		for _, u := range us {
			if !shapeSlot(u.op, u.i) || u.op == "Concat" && t.NumElements() != 1 {
				shapeLike = false
			}
			if weightSlot(u.op, u.i) {
				weight = true
			}
			if u.op == "Gather" && u.i == 0 {
				table = true
			}
		}
		switch {
		case shapeLike:
			vals := ints(t)
			changed := false
			for k, v := range vals {
				if v == old {
					vals[k], changed = n, true
				}
			}
			if changed {
				setInts(t, vals)
				r.Notes = append(r.Notes, fmt.Sprintf("%s: %d → %d in %v", t.Name, old, n, vals))
			}
		case weight:
		case table:
			if len(t.Shape) >= 1 && t.Shape[0] == old {
				if err := sliceDims(t, old, n, true); err != nil {
					return err
				}
				r.Notes = append(r.Notes, fmt.Sprintf("%s: first %d of %d rows (positions)", t.Name, n, old))
			}
		default:
			was := fmt.Sprint(t.Shape)
			if err := sliceDims(t, old, n, false); err != nil {
				return err
			}
			if was != fmt.Sprint(t.Shape) {
				r.Notes = append(r.Notes, fmt.Sprintf("%s: %s → %v (first %d along the sequence)", t.Name, was, t.Shape, n))
			}
		}
	}
	return nil
}

func ints(t *ir.Tensor) []int64 {
	b := t.Bytes()
	out := make([]int64, t.NumElements())
	for i := range out {
		if t.DType == ir.Int64 {
			out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		} else {
			out[i] = int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
		}
	}
	return out
}

func setInts(t *ir.Tensor, v []int64) {
	b := make([]byte, len(v)*t.DType.ElemBytes())
	for i, x := range v {
		if t.DType == ir.Int64 {
			binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
		} else {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(int32(x)))
		}
	}
	_ = t.SetBytes(b)
}

// sliceDims keeps the first n entries of every dimension of length old (only dimension 0
// when firstOnly).
func sliceDims(t *ir.Tensor, old, n int64, firstOnly bool) error {
	var axes []int
	for i, d := range t.Shape {
		if d == old && (!firstOnly || i == 0) {
			axes = append(axes, i)
		}
	}
	if len(axes) == 0 {
		return nil
	}
	es := int64(t.DType.ElemBytes())
	if es == 0 {
		return fmt.Errorf("constant %s (%s) carries the sequence length and cannot be sliced", t.Name, t.DType)
	}
	src := t.Bytes()
	shape := append([]int64(nil), t.Shape...)
	for _, a := range axes {
		shape[a] = n
	}
	// strides of the old shape
	rank := len(t.Shape)
	stride := make([]int64, rank)
	s := int64(1)
	for i := rank - 1; i >= 0; i-- {
		stride[i] = s
		s *= t.Shape[i]
	}
	dst := make([]byte, 0, ir.NumElements(shape)*es)
	idx := make([]int64, rank)
	total := ir.NumElements(shape)
	for k := int64(0); k < total; k++ {
		off := int64(0)
		for i := range idx {
			off += idx[i] * stride[i]
		}
		dst = append(dst, src[off*es:(off+1)*es]...)
		for i := rank - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < shape[i] {
				break
			}
			idx[i] = 0
		}
	}
	t.Shape = shape
	return t.SetBytes(dst)
}

package train

import (
	"fmt"
	"math"

	"github.com/modelc/modelc/engine/ir"
)

// Grid is the quantization grid of a quantized initializer read by DequantizeLinear (or
// by MatMulInteger): per element, the scale, the zero point and the integer range. A
// float16 or bfloat16 initializer has a grid too (no scale): the values that dtype holds.
type Grid struct {
	DType  ir.DType
	Scale  []float64
	Zero   []float64
	Lo, Hi float64
}

// newFloatGrid is the grid of a float16 or bfloat16 initializer.
func newFloatGrid(t *ir.Tensor) (*Grid, error) {
	if t.DType != ir.Float16 && t.DType != ir.BFloat16 {
		return nil, fmt.Errorf("tensor %q: no float grid for %v", t.Name, t.DType)
	}
	return &Grid{DType: t.DType}, nil
}

// isFloat reports whether g is the grid of a float16 or bfloat16 tensor.
func (g *Grid) isFloat() bool { return g.DType == ir.Float16 || g.DType == ir.BFloat16 }

// roundFloat rounds v to the nearest value of g's float dtype (nearest even, as the
// conversion the quantize pass did).
func (g *Grid) roundFloat(v float64) float64 {
	if g.DType == ir.BFloat16 {
		return float64(ir.BFloat16ToFloat32(ir.Float32ToBFloat16(float32(v))))
	}
	return float64(ir.Float16ToFloat32(ir.Float32ToFloat16(float32(v))))
}

// newGrid expands dq's scale and zero point (per tensor, per axis or blocked, as
// DequantizeLinear reads them) to one per element of the quantized tensor q.
func newGrid(dq *ir.Node, q *ir.Tensor, inits map[string]*ir.Tensor) (*Grid, error) {
	g := &Grid{DType: q.DType}
	switch q.DType {
	case ir.Int8:
		g.Lo, g.Hi = -128, 127
	case ir.Uint8:
		g.Lo, g.Hi = 0, 255
	case ir.Int4:
		g.Lo, g.Hi = -8, 7
	case ir.Uint4:
		g.Lo, g.Hi = 0, 15
	default:
		return nil, fmt.Errorf("tensor %q: no fake quantization for %v", q.Name, q.DType)
	}
	st := inits[dq.Inputs[1]]
	if st == nil {
		return nil, fmt.Errorf("node %s: the scale is not an initializer", dq.DisplayName())
	}
	scale, err := tensorOf(st)
	if err != nil {
		return nil, err
	}
	zero := New(scale.Shape...)
	if len(dq.Inputs) > 2 && dq.Inputs[2] != "" {
		zt := inits[dq.Inputs[2]]
		if zt == nil {
			return nil, fmt.Errorf("node %s: the zero point is not an initializer", dq.DisplayName())
		}
		if zero, err = tensorOf(zt); err != nil {
			return nil, err
		}
	}
	shape := make([]int, len(q.Shape))
	for i, d := range q.Shape {
		shape[i] = int(d)
	}
	n := numel(shape)
	g.Scale, g.Zero = make([]float64, n), make([]float64, n)
	axis := 1
	if a := dq.Attr("axis"); a != nil {
		axis = int(a.Int)
	}
	if axis < 0 {
		axis += len(shape)
	}
	block := 0
	if a := dq.Attr("block_size"); a != nil {
		block = int(a.Int)
	}
	st2 := strides(shape)
	for i := 0; i < n; i++ {
		si := 0
		switch {
		case scale.Len() == 1:
		case block > 0:
			// scale has q's shape with the axis divided by the block size.
			ss := strides(scale.Shape)
			r := i
			for d := range shape {
				c := r / st2[d]
				r %= st2[d]
				if d == axis {
					c /= block
				}
				si += c * ss[d]
			}
		default:
			si = (i / st2[axis]) % shape[axis]
		}
		g.Scale[i], g.Zero[i] = scale.D[si], zero.D[si]
	}
	return g, nil
}

// dequant maps the integers q to their float values.
func (g *Grid) dequant(q *T) *T {
	out := zerosLike(q)
	for i, v := range q.D {
		out.D[i] = (v - g.Zero[i]) * g.Scale[i]
	}
	return out
}

// level is the integer a float value rounds to (ONNX QuantizeLinear: round half to even,
// saturate).
func (g *Grid) level(i int, v float64) float64 {
	return math.Min(math.Max(math.RoundToEven(v/g.Scale[i])+g.Zero[i], g.Lo), g.Hi)
}

// fake rounds w to the grid; inRange marks where the straight-through gradient passes.
func (g *Grid) fake(w *T) (*T, []bool) {
	out := zerosLike(w)
	in := make([]bool, len(w.D))
	if g.isFloat() {
		for i, v := range w.D {
			out.D[i] = g.roundFloat(v)
			in[i] = !math.IsInf(out.D[i], 0)
		}
		return out, in
	}
	for i, v := range w.D {
		if g.Scale[i] == 0 {
			continue
		}
		r := math.RoundToEven(v/g.Scale[i]) + g.Zero[i]
		in[i] = r >= g.Lo && r <= g.Hi
		out.D[i] = (g.level(i, v) - g.Zero[i]) * g.Scale[i]
	}
	return out, in
}

// store writes w's grid integers (or float16/bfloat16 values) into t.
func (g *Grid) store(t *ir.Tensor, w *T) error {
	if g.isFloat() {
		b := make([]byte, 2*len(w.D))
		for i, v := range w.D {
			h := ir.Float32ToFloat16(float32(v))
			if g.DType == ir.BFloat16 {
				h = ir.Float32ToBFloat16(float32(v))
			}
			b[2*i], b[2*i+1] = byte(h), byte(h>>8) // little-endian, as ONNX raw data
		}
		return t.SetBytes(b)
	}
	q := make([]int, len(w.D))
	for i, v := range w.D {
		if g.Scale[i] != 0 {
			q[i] = int(g.level(i, v))
		} else {
			q[i] = int(g.Zero[i])
		}
	}
	var b []byte
	switch g.DType {
	case ir.Int8, ir.Uint8:
		b = make([]byte, len(q))
		for i, v := range q {
			b[i] = byte(int8(v))
			if g.DType == ir.Uint8 {
				b[i] = byte(v)
			}
		}
	case ir.Int4, ir.Uint4:
		b = make([]byte, (len(q)+1)/2)
		for i, v := range q {
			b[i/2] |= byte(v&0xf) << (4 * (i % 2))
		}
	}
	return t.SetBytes(b)
}

package runtime

import (
	"math"
	"strconv"
	"strings"

	"github.com/modelc/modelc/engine/ir"
)

func init() {
	register(opCast, "Cast")
	register(opCastLike, "CastLike")
}

func opCast(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	to := ir.DType(c.attrInt("to", 0))
	if !storable(to) {
		return nil, unsupported("cast to %v", to)
	}
	if t, ok := castFast(c, in[0], to); ok {
		return one(t)
	}
	t, err := castChecked(in[0], to, c.attrInt("saturate", 1) == 1)
	if err != nil {
		return nil, err
	}
	return one(t)
}

func opCastLike(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	t, err := castChecked(in[0], in[1].DType, c.attrInt("saturate", 1) == 1)
	if err != nil {
		return nil, err
	}
	return one(t)
}

func castChecked(x *Tensor, to ir.DType, _ bool) (*Tensor, error) {
	if x.DType == ir.String || to == ir.String {
		return castString(x, to)
	}
	return castTo(x, to), nil
}

// castTo converts a numeric or bool tensor to another numeric or bool dtype, as numpy's
// astype does: floats to integers truncate toward zero, numbers to bool test for
// non-zero, 16-bit floats round to nearest even (applied after the op by the session).
func castTo(x *Tensor, to ir.DType) *Tensor {
	if x.DType == to {
		return x
	}
	shape := shapeOf(x)
	// Same storage class (float32 ↔ float16/bfloat16, int8 ↔ int4): the values carry over.
	if same := alloc(to, 0); sameStorage(same, x.Data) && to != ir.Int4 && to != ir.Uint4 {
		out := &Tensor{DType: to, Shape: shape, Data: copyData(x.Data)}
		return out
	}
	switch to {
	case ir.Bool:
		v := float64s(x)
		o := make([]bool, len(v))
		for i, f := range v {
			o[i] = f != 0
		}
		return &Tensor{DType: to, Shape: shape, Data: o}
	case ir.Float32, ir.Float16, ir.BFloat16, ir.Float64:
		if _, isInt := x.Data.([]int64); isInt {
			return fromFloat64s(to, shape, float64s(x))
		}
		return fromFloat64s(to, shape, float64s(x))
	case ir.Int4, ir.Uint4:
		// Cast keeps the low four bits, as a C cast to a 4-bit field would (-9 → 7).
		v := float64s(x)
		for i, f := range v {
			w := int64(math.Trunc(f)) & 0xF
			if to == ir.Int4 && w >= 8 {
				w -= 16
			}
			v[i] = float64(w)
		}
		return fromFloat64s(to, shape, v)
	}
	// To an integer type: go through int64 so 64-bit integers stay exact.
	switch d := x.Data.(type) {
	case []uint64:
		out := newTensor(to, shape)
		fillFromUint64(out, d)
		return out
	case []float32, []float64:
		v := float64s(x)
		iv := make([]int64, len(v))
		for i, f := range v {
			switch {
			case math.IsNaN(f):
				iv[i] = math.MinInt64
			case f >= math.MaxInt64:
				iv[i] = math.MinInt64 // what x86's cvttsd2si gives, as numpy does
			case f <= math.MinInt64:
				iv[i] = math.MinInt64
			default:
				iv[i] = int64(f)
			}
		}
		if to == ir.Uint64 || to == ir.Uint32 {
			out := newTensor(to, shape)
			for i, f := range v {
				if f >= 0 && f < math.MaxUint64 {
					setUint(out, i, uint64(f))
				} else {
					setUint(out, i, uint64(iv[i]))
				}
			}
			return out
		}
		return fromInt64s(to, shape, iv)
	}
	return fromInt64s(to, shape, int64s(x))
}

func setUint(t *Tensor, i int, v uint64) {
	switch o := t.Data.(type) {
	case []uint64:
		o[i] = v
	case []uint32:
		o[i] = uint32(v)
	}
}

func fillFromUint64(t *Tensor, d []uint64) {
	switch o := t.Data.(type) {
	case []int64:
		for i, v := range d {
			o[i] = int64(v)
		}
	default:
		iv := make([]int64, len(d))
		for i, v := range d {
			iv[i] = int64(v)
		}
		c := fromInt64s(t.DType, t.Shape, iv)
		t.Data = c.Data
	}
}

// fromInt64s stores int64 values into an integer (or any) dtype with Go's wrapping
// conversion, which matches C and numpy for in-range values.
func fromInt64s(d ir.DType, shape []int, v []int64) *Tensor {
	t := newTensor(d, shape)
	switch o := t.Data.(type) {
	case []int64:
		copy(o, v)
	case []int32:
		fillInt(o, v)
	case []int16:
		fillInt(o, v)
	case []int8:
		fillInt(o, v)
	case []uint8:
		fillInt(o, v)
	case []uint16:
		fillInt(o, v)
	case []uint32:
		fillInt(o, v)
	case []uint64:
		fillInt(o, v)
	case []float32:
		fillInt(o, v)
	case []float64:
		fillInt(o, v)
	case []bool:
		for i, x := range v {
			o[i] = x != 0
		}
	}
	return t
}

func fillInt[D number](o []D, v []int64) {
	for i, x := range v {
		o[i] = D(x)
	}
}

func sameStorage(a, b any) bool {
	switch a.(type) {
	case []float32:
		_, ok := b.([]float32)
		return ok
	case []int8:
		_, ok := b.([]int8)
		return ok
	case []uint8:
		_, ok := b.([]uint8)
		return ok
	}
	return false
}

func copyData(d any) any {
	out := alloc(storageDType(d), dataLen(d))
	put(out, 0, d)
	return out
}

// storageDType is a dtype whose storage class is d's slice type.
func storageDType(d any) ir.DType {
	switch d.(type) {
	case []float32:
		return ir.Float32
	case []float64:
		return ir.Float64
	case []int64:
		return ir.Int64
	case []int32:
		return ir.Int32
	case []int16:
		return ir.Int16
	case []int8:
		return ir.Int8
	case []uint8:
		return ir.Uint8
	case []uint16:
		return ir.Uint16
	case []uint32:
		return ir.Uint32
	case []uint64:
		return ir.Uint64
	case []bool:
		return ir.Bool
	case []string:
		return ir.String
	}
	return ir.Undefined
}

// castString converts to or from strings the way numpy does: numbers print in their
// shortest round-trip form, and strings parse as decimal numbers ("INF", "NaN" too).
func castString(x *Tensor, to ir.DType) (*Tensor, error) {
	shape := shapeOf(x)
	if x.DType == ir.String && to == ir.String {
		return x, nil
	}
	if x.DType == ir.String {
		s := x.Data.([]string)
		v := make([]float64, len(s))
		for i, str := range s {
			f, err := strconv.ParseFloat(strings.TrimSpace(str), 64)
			if err != nil {
				return nil, errf("cannot cast string %q to %v", str, to)
			}
			v[i] = f
		}
		return castTo(&Tensor{DType: ir.Float64, Shape: shape, Data: v}, to), nil
	}
	v := float64s(x)
	out := make([]string, len(v))
	bits := 64
	if x.DType == ir.Float32 || x.DType == ir.Float16 || x.DType == ir.BFloat16 {
		bits = 32
	}
	for i, f := range v {
		switch {
		case math.IsNaN(f):
			out[i] = "NaN"
		case math.IsInf(f, 1):
			out[i] = "INF"
		case math.IsInf(f, -1):
			out[i] = "-INF"
		case x.DType.IsFloat():
			out[i] = formatFloat(f, bits)
		default:
			out[i] = strconv.FormatInt(int64(f), 10)
		}
	}
	return &Tensor{DType: ir.String, Shape: shape, Data: out}, nil
}

// formatFloat prints like numpy's str() of a float: shortest round-trip digits,
// scientific notation below 1e-4 or from 1e16.
func formatFloat(f float64, bits int) string {
	a := math.Abs(f)
	if a != 0 && (a < 1e-4 || a >= 1e16) {
		s := strconv.FormatFloat(f, 'e', -1, bits)
		return s
	}
	s := strconv.FormatFloat(f, 'f', -1, bits)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// Cast converts a numeric or bool tensor to dtype to, as the Cast op does (floats to
// integers truncate toward zero, 16-bit floats are rounded to their precision). The
// result never aliases t's data.
func Cast(t *Tensor, to ir.DType) (*Tensor, error) {
	if !storable(to) || to == ir.String || t.DType == ir.String {
		return nil, ir.Errorf(ir.KindUnsupported, "", "cast from %v to %v", t.DType, to)
	}
	if t.DType == to {
		return &Tensor{DType: to, Shape: shapeOf(t), Data: copyData(t.Data)}, nil
	}
	out := castTo(t, to) // a new tensor: castTo copies even between equal storage types
	if to == ir.Float16 || to == ir.BFloat16 {
		roundTo16(to, out.Data.([]float32))
	}
	return out, nil
}

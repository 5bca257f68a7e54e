package runtime

import (
	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/ir"
)

// float32 fast paths of QuantizeLinear and DequantizeLinear for 8-bit values with float32
// scales, per tensor or per axis: the activations of QDQ models, which the generic
// kernels take through float64 and a per-element index table. accel's kernels compute
// the same values (a float32 division rounded half to even then saturated; a float32
// product), bit for bit. Blocked scales and other types take the generic path.

// quantAxis returns the inner size (the product of the dimensions after the axis) for a
// scale of ss along axis of xs, one value per tensor (inner = the whole tensor) or one
// per index of axis; ok false for other shapes.
func quantAxis(c *opContext, xs, ss []int) (inner int, ok bool) {
	if c.attrInt("block_size", 0) != 0 {
		return 0, false
	}
	n := prod(xs)
	if prod(ss) == 1 && len(ss) <= 1 {
		return max(n, 1), true
	}
	if len(ss) != 1 {
		return 0, false
	}
	a, err := normAxis(int(c.attrInt("axis", 1)), len(xs))
	if err != nil || ss[0] != xs[a] {
		return 0, false
	}
	return prod(xs[a+1:]), true
}

// quantizeFast is QuantizeLinear of float32 x to uint8 or int8.
func quantizeFast(c *opContext, x, scale, zp *Tensor) (*Tensor, bool) {
	xv, ok1 := x.Data.([]float32)
	sv, ok2 := scale.Data.([]float32)
	if !fastPaths || !ok1 || !ok2 || x.DType != ir.Float32 || scale.DType != ir.Float32 || len(sv) == 0 {
		return nil, false
	}
	outType := ir.Uint8
	if zp != nil {
		outType = zp.DType
	} else if c.has("output_dtype") && c.attrInt("output_dtype", 0) != 0 {
		outType = ir.DType(c.attrInt("output_dtype", 0))
	}
	inner, ok := quantAxis(c, x.Shape, scale.Shape)
	if !ok {
		return nil, false
	}
	switch outType {
	case ir.Uint8:
		var zv []uint8
		if zp != nil {
			if zv, ok = zp.Data.([]uint8); !ok || len(zv) != len(sv) {
				return nil, false
			}
		}
		y := allocRaw[uint8](c, len(xv))
		accel.QuantizeU8Axis(y, xv, inner, sv, zv)
		return &Tensor{DType: ir.Uint8, Shape: shapeOf(x), Data: y}, true
	case ir.Int8:
		var zv []int8
		if zp != nil {
			if zv, ok = zp.Data.([]int8); !ok || len(zv) != len(sv) {
				return nil, false
			}
		}
		y := allocRaw[int8](c, len(xv))
		accel.QuantizeS8Axis(y, xv, inner, sv, zv)
		return &Tensor{DType: ir.Int8, Shape: shapeOf(x), Data: y}, true
	}
	return nil, false
}

// dequantizeFast is DequantizeLinear of uint8 or int8 x to float32.
func dequantizeFast(c *opContext, x, scale, zp *Tensor) (*Tensor, bool) {
	sv, ok := scale.Data.([]float32)
	if !fastPaths || !ok || scale.DType != ir.Float32 || len(sv) == 0 || zp != nil && zp.DType != x.DType {
		return nil, false
	}
	if c.has("output_dtype") && c.attrInt("output_dtype", 0) != 0 && ir.DType(c.attrInt("output_dtype", 0)) != ir.Float32 {
		return nil, false
	}
	if x.DType != ir.Uint8 && x.DType != ir.Int8 {
		return nil, false // int4 and uint4 share these storage types
	}
	inner, ok := quantAxis(c, x.Shape, scale.Shape)
	if !ok {
		return nil, false
	}
	switch xv := x.Data.(type) {
	case []uint8:
		var zv []uint8
		if zp != nil {
			if zv, ok = zp.Data.([]uint8); !ok || len(zv) != len(sv) {
				return nil, false
			}
		}
		y := allocRaw[float32](c, len(xv))
		accel.DequantizeU8Axis(y, xv, inner, sv, zv)
		return &Tensor{DType: ir.Float32, Shape: shapeOf(x), Data: y}, true
	case []int8:
		var zv []int8
		if zp != nil {
			if zv, ok = zp.Data.([]int8); !ok || len(zv) != len(sv) {
				return nil, false
			}
		}
		y := allocRaw[float32](c, len(xv))
		accel.DequantizeS8Axis(y, xv, inner, sv, zv)
		return &Tensor{DType: ir.Float32, Shape: shapeOf(x), Data: y}, true
	}
	return nil, false
}

package runtime

import "github.com/modelc/modelc/engine/ir"

// reduceSum32 computes ReduceSum and ReduceMean of a float32 tensor whose reduced axes
// (those of size 1 aside) are one contiguous run — a global average over H×W, a mean
// over the last axis — straight from the float32 data, without the generic path's
// float64 copy of the input and per-element index table. It accumulates in float64 in
// the generic path's order, so the results are the same bits. ok is false for any
// other reduction, which then takes the generic path.
func reduceSum32(c *opContext, op string, x *Tensor, red []bool, keep bool) (out *Tensor, ok bool) {
	if !fastPaths || op != "ReduceSum" && op != "ReduceMean" || x.DType != ir.Float32 {
		return nil, false
	}
	xs, isF32 := x.Data.([]float32)
	if !isF32 {
		return nil, false
	}
	first, last := len(x.Shape), len(x.Shape)-1
	for i, d := range x.Shape {
		if red[i] && d != 1 {
			first = min(first, i)
			last = i
		}
	}
	for i := first; i <= last; i++ {
		if !red[i] && x.Shape[i] != 1 {
			return nil, false // reduced axes with a kept one between them
		}
	}
	outer := prod(x.Shape[:first])
	mid := 1
	if first <= last {
		mid = prod(x.Shape[first : last+1])
	}
	inner := prod(x.Shape[last+1:])
	outShape := []int{}
	for i, d := range x.Shape {
		if !red[i] {
			outShape = append(outShape, d)
		} else if keep {
			outShape = append(outShape, 1)
		}
	}
	res := allocRaw[float32](c, outer*inner)
	if inner == 1 { // reduce trailing axes: one contiguous block per output
		for o := range res {
			sum := 0.0
			for _, f := range xs[o*mid : (o+1)*mid] {
				sum += float64(f)
			}
			if op == "ReduceMean" {
				sum /= float64(mid)
			}
			res[o] = float32(sum)
		}
		return &Tensor{DType: ir.Float32, Shape: outShape, Data: res}, true
	}
	acc := make([]float64, inner)
	for o := 0; o < outer; o++ {
		clear(acc)
		block := xs[o*mid*inner : (o+1)*mid*inner]
		for m := 0; m < mid; m++ {
			for j, f := range block[m*inner : (m+1)*inner] {
				acc[j] += float64(f)
			}
		}
		dst := res[o*inner : (o+1)*inner]
		for j, a := range acc {
			if op == "ReduceMean" {
				a /= float64(mid)
			}
			dst[j] = float32(a)
		}
	}
	return &Tensor{DType: ir.Float32, Shape: outShape, Data: res}, true
}

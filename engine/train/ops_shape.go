package train

import "fmt"

func init() {
	register(reshape, "Reshape", "Flatten", "Squeeze", "Unsqueeze")
	register(transpose, "Transpose")
	register(concat, "Concat")
}

// reshape covers the ops that only change the shape: the gradient is reshaped back.
func reshape(c *opCtx, in []*T) ([]*T, backFn, error) {
	x := in[0]
	var shape []int
	switch c.node.OpType {
	case "Reshape":
		if in[1] == nil {
			return nil, nil, fmt.Errorf("the shape must be a constant")
		}
		shape = make([]int, in[1].Len())
		known, infer := 1, -1
		for i, v := range in[1].D {
			shape[i] = int(v)
			if shape[i] == 0 && c.int("allowzero", 0) == 0 {
				shape[i] = x.Shape[i]
			}
			if shape[i] == -1 {
				infer = i
			} else {
				known *= shape[i]
			}
		}
		if infer >= 0 {
			shape[infer] = x.Len() / known
		}
	case "Flatten":
		axis := c.int("axis", 1)
		if axis < 0 {
			axis += len(x.Shape)
		}
		a := numel(x.Shape[:axis])
		shape = []int{a, x.Len() / a}
	case "Squeeze", "Unsqueeze":
		axes := c.ints("axes")
		if len(in) > 1 && in[1] != nil {
			axes = nil
			for _, v := range in[1].D {
				axes = append(axes, int(v))
			}
		}
		if c.node.OpType == "Squeeze" {
			drop := map[int]bool{}
			for _, a := range axes {
				if a < 0 {
					a += len(x.Shape)
				}
				drop[a] = true
			}
			for i, d := range x.Shape {
				if !(drop[i] || len(axes) == 0 && d == 1) {
					shape = append(shape, d)
				}
			}
		} else {
			r := len(x.Shape) + len(axes)
			add := map[int]bool{}
			for _, a := range axes {
				if a < 0 {
					a += r
				}
				add[a] = true
			}
			j := 0
			for i := 0; i < r; i++ {
				if add[i] {
					shape = append(shape, 1)
				} else {
					shape = append(shape, x.Shape[j])
					j++
				}
			}
		}
	}
	if numel(shape) != x.Len() {
		return nil, nil, fmt.Errorf("cannot reshape %v to %v", x.Shape, shape)
	}
	out := &T{Shape: shape, D: x.D}
	back := func(g []*T) []*T {
		return []*T{{Shape: append([]int(nil), x.Shape...), D: g[0].D}}
	}
	return []*T{out}, back, nil
}

func transpose(c *opCtx, in []*T) ([]*T, backFn, error) {
	x := in[0]
	r := len(x.Shape)
	perm := c.ints("perm")
	if perm == nil {
		for i := r - 1; i >= 0; i-- {
			perm = append(perm, i)
		}
	}
	shape := make([]int, r)
	for i, p := range perm {
		shape[i] = x.Shape[p]
	}
	xs, os := strides(x.Shape), strides(shape)
	src := make([]int, x.Len()) // out position → x position
	for i := range src {
		rem, k := i, 0
		for d := 0; d < r; d++ {
			cd := rem / os[d]
			rem %= os[d]
			k += cd * xs[perm[d]]
		}
		src[i] = k
	}
	out := New(shape...)
	for i, k := range src {
		out.D[i] = x.D[k]
	}
	back := func(g []*T) []*T {
		gx := zerosLike(x)
		for i, k := range src {
			gx.D[k] = g[0].D[i]
		}
		return []*T{gx}
	}
	return []*T{out}, back, nil
}

func concat(c *opCtx, in []*T) ([]*T, backFn, error) {
	axis := c.int("axis", 0)
	r := len(in[0].Shape)
	if axis < 0 {
		axis += r
	}
	shape := append([]int(nil), in[0].Shape...)
	shape[axis] = 0
	for _, t := range in {
		shape[axis] += t.Shape[axis]
	}
	outer, _, inner := split(shape, axis)
	out := New(shape...)
	off := 0
	for _, t := range in {
		w := t.Shape[axis] * inner
		for o := 0; o < outer; o++ {
			copy(out.D[o*shape[axis]*inner+off:], t.D[o*w:(o+1)*w])
		}
		off += w
	}
	back := func(g []*T) []*T {
		res := make([]*T, len(in))
		off := 0
		for i, t := range in {
			gt := zerosLike(t)
			w := t.Shape[axis] * inner
			for o := 0; o < outer; o++ {
				copy(gt.D[o*w:(o+1)*w], g[0].D[o*shape[axis]*inner+off:])
			}
			off += w
			res[i] = gt
		}
		return res
	}
	return []*T{out}, back, nil
}

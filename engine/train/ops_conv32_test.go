package train

import (
	"math"
	"math/rand"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// The float32 convolution (the default path) against the float64 one, forward and
// backward, on odd shapes: padding, strides, dilation, groups, 1-D.
func TestConv32MatchesFloat64(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for _, c := range []struct {
		x, w                []int
		pads, strides, dils []int64
		group               int64
	}{
		{[]int{3, 4, 9, 7}, []int{6, 4, 3, 3}, []int64{1, 1, 1, 1}, nil, nil, 1},
		{[]int{2, 6, 11, 10}, []int{8, 3, 3, 2}, []int64{2, 0, 1, 1}, []int64{2, 1}, []int64{1, 2}, 2},
		{[]int{2, 4, 12, 12}, []int{4, 1, 5, 5}, []int64{2, 2, 2, 2}, []int64{1, 1}, nil, 4},
		{[]int{4, 8, 9, 9}, []int{16, 8, 3, 3}, []int64{0, 1, 2, 0}, []int64{2, 2}, []int64{2, 1}, 1},
		{[]int{3, 5, 40}, []int{7, 5, 4}, []int64{2, 1}, []int64{3}, nil, 1},
	} {
		node := &ir.Node{OpType: "Conv", Inputs: []string{"x", "w", "b"}, Attrs: []*ir.Attribute{{Name: "group", Type: ir.AttrInt, Int: c.group}}}
		for name, v := range map[string][]int64{"pads": c.pads, "strides": c.strides, "dilations": c.dils} {
			if v != nil {
				node.Attrs = append(node.Attrs, &ir.Attribute{Name: name, Type: ir.AttrInts, Ints: v})
			}
		}
		x, w, b := New(c.x...), New(c.w...), New(c.w[0])
		for _, v := range []*T{x, w, b} {
			for i := range v.D {
				v.D[i] = rng.NormFloat64()
			}
		}
		var outs [2][]*T
		var grads [2][]*T
		for k, f64 := range []bool{true, false} {
			y, back, err := conv(&opCtx{node: node, net: &Net{Float64: f64}}, []*T{x, w, b})
			if err != nil {
				t.Fatal(err)
			}
			g := zerosLike(y[0])
			for i := range g.D {
				g.D[i] = math.Sin(float64(i))
			}
			outs[k], grads[k] = y, back([]*T{g})
		}
		same := true
		for i := range outs[0][0].D {
			same = same && outs[0][0].D[i] == outs[1][0].D[i]
		}
		if same {
			t.Fatalf("%v: the float32 path was not taken", c.x)
		}
		check := func(what string, a, b *T) {
			scale := 0.0
			for _, v := range a.D {
				scale = math.Max(scale, math.Abs(v))
			}
			for i := range a.D {
				if d := math.Abs(a.D[i] - b.D[i]); d > 1e-5*scale+1e-6 {
					t.Fatalf("%v: %s[%d] float64 %g, float32 %g", c.x, what, i, a.D[i], b.D[i])
				}
			}
		}
		check("y", outs[0][0], outs[1][0])
		for i, n := range []string{"gx", "gw", "gb"} {
			check(n, grads[0][i], grads[1][i])
		}
	}
}

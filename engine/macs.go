package engine

import (
	"context"
	"sort"
	"strconv"
	"strings"

	"github.com/modelc/modelc/engine/ir"
	"github.com/modelc/modelc/engine/runtime"
)

// MACs is the multiply-accumulate count of one forward pass (Conv, ConvTranspose,
// MatMul, Gemm; the other ops are not counted) for the input shapes it was measured at.
type MACs struct {
	InputShapes map[string][]int64 `json:"input_shapes"`
	Total       int64              `json:"total"`
	PerOp       map[string]int64   `json:"per_op"`   // by op type
	PerNode     []NodeMACs         `json:"per_node"` // in graph order, counted nodes only
}

// NodeMACs is one node's count.
type NodeMACs struct {
	Node string `json:"node"`
	Op   string `json:"op"`
	MACs int64  `json:"macs"`
}

// ParseInputShapes reads NAME=D1xD2x... entries (the --input-shape flag).
func ParseInputShapes(specs []string) (map[string][]int64, error) {
	out := map[string][]int64{}
	for _, s := range specs {
		name, dims, ok := strings.Cut(s, "=")
		if !ok || name == "" || dims == "" {
			return nil, Errorf(KindInvalidArgument, "option input_shape: %q is not NAME=D1xD2x...", s)
		}
		var shape []int64
		for _, d := range strings.Split(dims, "x") {
			v, err := strconv.ParseInt(d, 10, 64)
			if err != nil || v <= 0 {
				return nil, Errorf(KindInvalidArgument, "option input_shape: %q: %q is not a positive size", s, d)
			}
			shape = append(shape, v)
		}
		out[name] = shape
	}
	return out, nil
}

// CountMACs runs m once on zeros of the given input shapes (declared shapes otherwise,
// symbolic dimensions as 1) with modelc's runtime to learn every tensor's shape, and
// counts the multiply-accumulates of its Conv, ConvTranspose, MatMul and Gemm nodes.
func CountMACs(ctx context.Context, m *ir.Model, shapes map[string][]int64) (*MACs, error) {
	if m.Graph == nil || len(m.Graph.Nodes) == 0 {
		return nil, Errorf(KindInvalidArgument, "the model has no graph to count")
	}
	// A copy of the graph whose outputs are every value; m itself is left as it is.
	gc := *m.Graph
	gc.Outputs = append([]*ir.ValueInfo(nil), gc.Outputs...)
	mc := *m
	mc.Graph = &gc
	m, g := &mc, &gc
	inits := map[string]bool{}
	for _, t := range g.Initializers {
		inits[t.Name] = true
	}
	r := &MACs{InputShapes: map[string][]int64{}, PerOp: map[string]int64{}}
	feed := map[string]*runtime.Tensor{}
	used := map[string]bool{}
	for _, v := range g.Inputs {
		if inits[v.Name] {
			continue
		}
		if v.Type == nil || v.Type.Kind != ir.TypeTensor {
			return nil, Errorf(KindUnsupported, "input %q is not a tensor", v.Name)
		}
		shape, ok := shapes[v.Name]
		used[v.Name] = ok
		if !ok {
			if v.Type.Shape == nil {
				return nil, Errorf(KindInvalidArgument, "input %q has no declared shape: give input_shape %s=...", v.Name, v.Name)
			}
			for _, d := range v.Type.Shape.Dims {
				if d.HasValue && d.Value > 0 {
					shape = append(shape, d.Value)
				} else {
					shape = append(shape, 1)
				}
			}
		}
		t, err := runtime.FromFloat64s(v.Type.ElemType, shape, make([]float64, ir.NumElements(shape)))
		if err != nil {
			return nil, err
		}
		feed[v.Name] = t
		r.InputShapes[v.Name] = shape
	}
	for name := range shapes {
		if _, ok := used[name]; !ok {
			return nil, Errorf(KindInvalidArgument, "option input_shape: the model has no input %q", name)
		}
	}
	outs := map[string]bool{}
	for _, o := range g.Outputs {
		outs[o.Name] = true
	}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != "" && !outs[o] {
				g.Outputs = append(g.Outputs, &ir.ValueInfo{Name: o})
				outs[o] = true
			}
		}
	}
	s, err := runtime.New(m, runtime.Options{})
	if err != nil {
		return nil, err
	}
	vals, err := s.Run(ctx, feed)
	if err != nil {
		return nil, err
	}
	shapeOf := func(name string) []int {
		if t := vals[name]; t != nil {
			return t.Shape
		}
		if t := feed[name]; t != nil {
			return t.Shape
		}
		for _, t := range g.Initializers {
			if t.Name == name {
				s := make([]int, len(t.Shape))
				for i, d := range t.Shape {
					s[i] = int(d)
				}
				return s
			}
		}
		return nil
	}
	for _, n := range g.Nodes {
		var macs int64
		prod := func(s []int) int64 {
			p := int64(1)
			for _, d := range s {
				p *= int64(d)
			}
			return p
		}
		switch n.OpType {
		case "Conv", "ConvTranspose":
			w, x, y := shapeOf(n.Inputs[1]), shapeOf(n.Inputs[0]), shapeOf(n.Outputs[0])
			if w == nil || x == nil || y == nil {
				continue
			}
			if n.OpType == "Conv" {
				macs = prod(y) * prod(w[1:]) // every output: C/group × kernel
			} else {
				macs = prod(x) * prod(w[1:]) // every input: M/group × kernel
			}
		case "MatMul", "Gemm":
			a, y := shapeOf(n.Inputs[0]), shapeOf(n.Outputs[0])
			if a == nil || y == nil || len(a) == 0 {
				continue
			}
			k := a[len(a)-1]
			if n.OpType == "Gemm" {
				if at := n.Attr("transA"); at != nil && at.Int == 1 {
					k = a[0]
				}
			}
			macs = prod(y) * int64(k)
		default:
			continue
		}
		r.PerOp[n.OpType] += macs
		r.Total += macs
		r.PerNode = append(r.PerNode, NodeMACs{Node: n.DisplayName(), Op: n.OpType, MACs: macs})
	}
	return r, nil
}

// SortedOps lists the op types of a MACs count, largest first.
func (r *MACs) SortedOps() []string {
	var ops []string
	for op := range r.PerOp {
		ops = append(ops, op)
	}
	sort.Slice(ops, func(i, j int) bool {
		if r.PerOp[ops[i]] != r.PerOp[ops[j]] {
			return r.PerOp[ops[i]] > r.PerOp[ops[j]]
		}
		return ops[i] < ops[j]
	})
	return ops
}

// InspectMACs reads the model at path and counts its MACs (see CountMACs).
func InspectMACs(ctx context.Context, path string, shapes map[string][]int64) (*MACs, error) {
	m, _, err := Read(path)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	r, err := CountMACs(ctx, m, shapes)
	if err != nil {
		return nil, withFile(err, path)
	}
	return r, nil
}

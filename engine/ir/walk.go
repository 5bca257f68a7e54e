package ir

// Subgraphs returns the graphs held in n's attributes (the branches of If, the bodies of
// Loop and Scan), in attribute order.
func (n *Node) Subgraphs() []*Graph {
	var gs []*Graph
	for _, a := range n.Attrs {
		if a.Graph != nil {
			gs = append(gs, a.Graph)
		}
		gs = append(gs, a.Graphs...)
	}
	return gs
}

// WalkGraphs calls fn for g and then, depth first, for every graph nested in its nodes'
// attributes.
func WalkGraphs(g *Graph, fn func(*Graph)) {
	if g == nil {
		return
	}
	fn(g)
	for _, n := range g.Nodes {
		for _, sub := range n.Subgraphs() {
			WalkGraphs(sub, fn)
		}
	}
}

// Initializer returns the initializer called name in g, or nil.
func (g *Graph) Initializer(name string) *Tensor {
	for _, t := range g.Initializers {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Weight is one constant tensor a graph holds: an initializer, the values of a sparse
// initializer, or the value of a Constant node (its value or sparse_value tensor, or
// its value_float(s)/value_int(s) list).
type Weight struct {
	Name     string
	DType    DType
	Elements int64
	Bytes    int64
	Tensor   *Tensor // nil for value_float(s) and value_int(s)
	Node     *Node   // the Constant node; nil for initializers
}

// Weights calls fn for every weight of g and of its nested subgraphs (If, Loop, Scan
// bodies), depth first: initializers, sparse initializers' values and Constant nodes'
// values. Parameter counts and bytes per dtype (modelc info, compress reports) are sums
// over it, so weights that exporters write as Constant nodes or inside subgraphs count.
func Weights(g *Graph, fn func(Weight)) {
	WalkGraphs(g, func(g *Graph) {
		for _, t := range g.Initializers {
			fn(Weight{Name: t.Name, DType: t.DType, Elements: t.NumElements(), Bytes: t.ByteSize(), Tensor: t})
		}
		for _, s := range g.SparseInitializers {
			if t := s.Values; t != nil {
				fn(Weight{Name: t.Name, DType: t.DType, Elements: t.NumElements(), Bytes: t.ByteSize(), Tensor: t})
			}
		}
		for _, n := range g.Nodes {
			if n.OpType != "Constant" || n.Domain != "" && n.Domain != "ai.onnx" || len(n.Outputs) == 0 {
				continue
			}
			w := Weight{Name: n.Outputs[0], Node: n}
			for _, a := range n.Attrs {
				switch {
				case a.Name == "value" && a.Tensor != nil:
					w.Tensor = a.Tensor
				case a.Name == "sparse_value" && a.SparseTensor != nil && a.SparseTensor.Values != nil:
					w.Tensor = a.SparseTensor.Values
				case a.Name == "value_float":
					w.DType, w.Elements = Float32, 1
				case a.Name == "value_floats":
					w.DType, w.Elements = Float32, int64(len(a.Floats))
				case a.Name == "value_int":
					w.DType, w.Elements = Int64, 1
				case a.Name == "value_ints":
					w.DType, w.Elements = Int64, int64(len(a.Ints))
				default:
					continue // value_string(s): text, not a weight
				}
				if w.Tensor != nil {
					w.DType, w.Elements, w.Bytes = w.Tensor.DType, w.Tensor.NumElements(), w.Tensor.ByteSize()
				} else {
					w.Bytes = w.Elements * int64(w.DType.ElemBytes())
				}
				fn(w)
				break
			}
		}
	})
}

package compress

import (
	"github.com/modelc/modelc/engine/ir"
)

// Layer is a node that computes with a constant weight: MatMul (input 1), Gemm (input 1)
// or Conv (input 1), whose weight is a float32 initializer. The node may sit in the main
// graph or in a subgraph (an If branch, a Loop or Scan body, at any depth); its weight is
// an initializer of the node's own graph or, read through the outer scope, of a graph
// enclosing it.
type Layer struct {
	Node   *ir.Node
	Weight *ir.Tensor
	// Graph holds Node; Owner holds Weight (Graph itself, or an enclosing graph).
	Graph, Owner *ir.Graph
	// OutAxis is the weight axis of the output channels (MatMul [K,N]: 1; Gemm with
	// transB [N,K]: 0, without [K,N]: 1; Conv [M,C,kh,kw]: 0). InAxis is the reduction
	// axis the input channels run along (MatMul 0, Gemm transB 1 / else 0, Conv 1).
	OutAxis, InAxis int
	depth           int // how many graphs enclose Graph (0: the main graph)
}

// Name is the node's name, or its first output when it has none.
func (l Layer) Name() string { return NodeName(l.Node) }

// Nested reports whether the layer sits inside a subgraph.
func (l Layer) Nested() bool { return l.depth > 0 }

// ReplaceWeight removes the layer's float weight from the graph that owns it and adds
// inits (the weight's new form) to the layer's own graph, where the nodes reading them
// are. The weight is used by this layer only (Layers guarantees it), so moving it from
// an enclosing graph into the subgraph changes nothing else.
func (l Layer) ReplaceWeight(m *ir.Model, inits ...*ir.Tensor) {
	RemoveInitializers(l.Owner, l.Weight.Name)
	m.DropUnmodified(l.Weight.Bytes()) // the float weight's mapped pages are not needed again
	l.Graph.Initializers = append(l.Graph.Initializers, inits...)
}

// NodeName is what messages call the node (ir.Node.DisplayName).
func NodeName(n *ir.Node) string { return n.DisplayName() }

// Layers lists the weight layers of m in node order, the main graph first and each
// subgraph where its node is (depth first), leaving out the excluded nodes (recorded in
// r as skipped) and weights shared by several nodes (a pass that rewrites one user would
// change the others). Run LiftConstants first to see weights held in Constant nodes.
func Layers(m *ir.Model, ex Exclude, r *Report) []Layer {
	uses := Uses(m.Graph)
	var out []Layer
	var walk func(g *ir.Graph, outer []*ir.Graph)
	walk = func(g *ir.Graph, outer []*ir.Graph) {
		scope := append(append([]*ir.Graph(nil), outer...), g) // outermost first
		for _, n := range g.Nodes {
			if l, ok := layerOf(n); ok {
				l.Graph, l.depth = g, len(outer)
				if w, owner, shadowed := lookupInit(scope, n.Inputs[1]); w != nil {
					switch {
					case w.DType != ir.Float32 || len(w.Shape) < 2 || (n.OpType != "Conv" && len(w.Shape) != 2):
					case shadowed || IsGraphInput(owner, w.Name):
						r.Skip(NodeName(n), "weight %q is also a graph input (a caller may override it)", w.Name)
					case ex.Matches(n):
						r.Skip(NodeName(n), "excluded")
					case uses[w.Name] > 1:
						r.Skip(NodeName(n), "weight %q is shared by %d nodes", w.Name, uses[w.Name])
					default:
						l.Weight, l.Owner = w, owner
						out = append(out, l)
					}
				}
			}
			for _, sub := range n.Subgraphs() {
				walk(sub, scope)
			}
		}
	}
	walk(m.Graph, nil)
	return out
}

// layerOf recognises a weight layer's op (the weight not yet looked up).
func layerOf(n *ir.Node) (Layer, bool) {
	if (n.Domain != "" && n.Domain != "ai.onnx") || len(n.Inputs) < 2 || n.Inputs[1] == "" {
		return Layer{}, false
	}
	switch n.OpType {
	case "MatMul":
		return Layer{Node: n, OutAxis: 1, InAxis: 0}, true
	case "Gemm":
		if a := n.Attr("transA"); a != nil && a.Int != 0 {
			return Layer{}, false // rare; the input side would need transposing too
		}
		l := Layer{Node: n, OutAxis: 1, InAxis: 0}
		if a := n.Attr("transB"); a != nil && a.Int != 0 {
			l.OutAxis, l.InAxis = 0, 1
		}
		return l, true
	case "Conv":
		return Layer{Node: n, OutAxis: 0, InAxis: 1}, true
	}
	return Layer{}, false
}

// lookupInit finds the initializer name refers to in scope (outermost graph first, the
// node's own graph last), searching from the innermost graph outwards. shadowed is set
// when a graph nearer than the owner declares name as an input (a Loop or Scan body's
// formal input): the node then reads that input, not the initializer.
func lookupInit(scope []*ir.Graph, name string) (w *ir.Tensor, owner *ir.Graph, shadowed bool) {
	for i := len(scope) - 1; i >= 0; i-- {
		g := scope[i]
		if t := g.Initializer(name); t != nil {
			return t, g, shadowed
		}
		if IsGraphInput(g, name) {
			shadowed = true
		}
	}
	return nil, nil, false
}

// LiftConstants turns every Constant node that holds a tensor (attribute value) into an
// initializer of its own graph, in the main graph and in every subgraph: many exporters
// (tf2onnx, some PyTorch exports) write weights that way, and the passes work on
// initializers. The value keeps its name, so every reader is unchanged. A Constant whose
// output is its graph's output stays (an initializer cannot be a subgraph's output in
// onnxruntime). Models of IR version 3 and older, whose initializers must also be graph
// inputs, are left as they are. It returns how many it lifted.
func LiftConstants(m *ir.Model) int {
	lifted := 0
	if m.IRVersion > 0 && m.IRVersion < 4 {
		return 0
	}
	ir.WalkGraphs(m.Graph, func(g *ir.Graph) {
		kept := g.Nodes[:0]
		for _, n := range g.Nodes {
			if n.OpType == "Constant" && (n.Domain == "" || n.Domain == "ai.onnx") && len(n.Outputs) == 1 && n.Outputs[0] != "" {
				if a := n.Attr("value"); a != nil && a.Tensor != nil && len(n.Attrs) == 1 &&
					!IsGraphOutput(g, n.Outputs[0]) && g.Initializer(n.Outputs[0]) == nil {
					t := *a.Tensor
					t.Name = n.Outputs[0]
					g.Initializers = append(g.Initializers, &t)
					lifted++
					continue
				}
			}
			kept = append(kept, n)
		}
		g.Nodes = kept
	})
	return lifted
}

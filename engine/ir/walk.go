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

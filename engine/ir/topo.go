package ir

import (
	"container/heap"
	"fmt"
	"strings"
)

// FreeNames returns the names g's nodes (and, recursively, their subgraphs' nodes) read
// that g itself does not define as an input, initializer or node output: the values it
// takes from enclosing scopes. Each name is listed once, in order of first use.
func FreeNames(g *Graph) []string {
	defined := map[string]bool{}
	for _, v := range g.Inputs {
		defined[v.Name] = true
	}
	for _, t := range g.Initializers {
		defined[t.Name] = true
	}
	for _, s := range g.SparseInitializers {
		if s.Values != nil {
			defined[s.Values.Name] = true
		}
	}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != "" {
				defined[o] = true
			}
		}
	}
	var free []string
	seen := map[string]bool{}
	use := func(name string) {
		if name != "" && !defined[name] && !seen[name] {
			seen[name] = true
			free = append(free, name)
		}
	}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			use(in)
		}
		for _, sub := range n.Subgraphs() {
			for _, name := range FreeNames(sub) {
				use(name)
			}
		}
	}
	for _, o := range g.Outputs {
		use(o.Name)
	}
	return free
}

// TopoOrder returns g's nodes in an order where every node comes after the nodes that
// produce its inputs, including the values its subgraphs (If, Loop, Scan bodies) read
// from g. The order is stable: it is g.Nodes itself when that order is already valid;
// otherwise the next node is always the earliest one, in the given order, whose inputs
// are ready, so nodes that need no moving keep their relative order. Subgraphs are not
// reordered; see SortNodes.
//
// outer reports whether a name is visible from the enclosing scopes (nil: none, as for
// a main graph). A node input that is neither produced in g nor visible from outside is
// an error naming the node and the input (KindCorrupt), as is a cycle.
func TopoOrder(g *Graph, outer func(string) bool) ([]*Node, error) {
	available := map[string]bool{}
	for _, v := range g.Inputs {
		available[v.Name] = true
	}
	for _, t := range g.Initializers {
		available[t.Name] = true
	}
	for _, s := range g.SparseInitializers {
		if s.Values != nil {
			available[s.Values.Name] = true
		}
	}
	producer := map[string]int{}
	for i, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != "" {
				if _, dup := producer[o]; !dup {
					producer[o] = i
				}
			}
		}
	}
	// The values each node needs: its inputs and its subgraphs' free names.
	type dep struct {
		node int // the producer's index
		name string
	}
	deps := make([][]dep, len(g.Nodes)) // may repeat
	users := make([][]int, len(g.Nodes))
	pending := make([]int, len(g.Nodes))
	sorted := true
	for i, n := range g.Nodes {
		need := append([]string(nil), n.Inputs...)
		for _, sub := range n.Subgraphs() {
			need = append(need, FreeNames(sub)...)
		}
		for k, name := range need {
			if name == "" || available[name] {
				continue // graph inputs and initializers shadow outer names and come first
			}
			p, ok := producer[name]
			if !ok {
				if outer != nil && outer(name) {
					continue
				}
				what := "input"
				if k >= len(n.Inputs) {
					what = "value (read by a subgraph)"
				}
				return nil, &Error{Kind: KindCorrupt, Where: fmt.Sprintf("node %q (%s)", n.Name, n.OpType),
					Err: fmt.Errorf("%s %q is not produced by any node, graph input or initializer%s", what, name, outerHint(outer))}
			}
			if p == i {
				return nil, &Error{Kind: KindCorrupt, Where: fmt.Sprintf("node %q (%s)", n.Name, n.OpType), Err: fmt.Errorf("input %q is the node's own output (a cycle)", name)}
			}
			if p > i {
				sorted = false
			}
			deps[i] = append(deps[i], dep{p, name})
			users[p] = append(users[p], i)
			pending[i]++
		}
	}
	if sorted {
		return g.Nodes, nil
	}
	ready := &intHeap{}
	for i := range g.Nodes {
		if pending[i] == 0 {
			heap.Push(ready, i)
		}
	}
	order := make([]*Node, 0, len(g.Nodes))
	done := make([]bool, len(g.Nodes))
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		done[i] = true
		order = append(order, g.Nodes[i])
		for _, u := range users[i] {
			if pending[u]--; pending[u] == 0 {
				heap.Push(ready, u)
			}
		}
	}
	if len(order) < len(g.Nodes) {
		var stuck []string
		first := -1
		for i, n := range g.Nodes {
			if !done[i] {
				if first < 0 {
					first = i
				}
				stuck = append(stuck, fmt.Sprintf("%q (%s)", n.Name, n.OpType))
				if len(stuck) == 8 {
					stuck = append(stuck, "…")
					break
				}
			}
		}
		n, waits := g.Nodes[first], ""
		for _, d := range deps[first] {
			if !done[d.node] {
				waits = d.name
				break
			}
		}
		return nil, &Error{Kind: KindCorrupt, Where: fmt.Sprintf("node %q (%s)", n.Name, n.OpType),
			Err: fmt.Errorf("input %q can never be computed: the graph has a cycle among nodes %s", waits, strings.Join(stuck, ", "))}
	}
	return order, nil
}

func outerHint(outer func(string) bool) string {
	if outer != nil {
		return " here or in an enclosing graph"
	}
	return ""
}

// SortNodes puts the nodes of g and of every nested subgraph into topological order
// (TopoOrder, stable), in place. Names a subgraph reads from its enclosing graphs are
// resolved through the scopes around it.
func SortNodes(g *Graph) error { return sortNodes(g, nil) }

func sortNodes(g *Graph, outer func(string) bool) error {
	order, err := TopoOrder(g, outer)
	if err != nil {
		return err
	}
	g.Nodes = order
	inner := Scope(g, outer)
	for _, n := range g.Nodes {
		for _, sub := range n.Subgraphs() {
			if err := sortNodes(sub, inner); err != nil {
				return err
			}
		}
	}
	return nil
}

// Scope returns the names visible inside a subgraph of g: g's inputs, initializers and
// node outputs, and whatever outer (the scopes around g; nil for none) sees.
func Scope(g *Graph, outer func(string) bool) func(string) bool {
	names := map[string]bool{}
	for _, v := range g.Inputs {
		names[v.Name] = true
	}
	for _, t := range g.Initializers {
		names[t.Name] = true
	}
	for _, s := range g.SparseInitializers {
		if s.Values != nil {
			names[s.Values.Name] = true
		}
	}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != "" {
				names[o] = true
			}
		}
	}
	return func(name string) bool { return names[name] || outer != nil && outer(name) }
}

type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

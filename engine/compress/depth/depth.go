// Package depth derives a shallower student from a model: where the same block repeats
// (residual blocks of a ResNet stage, the layers of a transformer, repeated same-width
// conv layers), some of the repeats are removed and the value before each removed block
// goes straight to the block after it.
//
// Blocks are found on the graph, not by names. In topological order, a cut is a point
// where exactly one activation (a value computed from a weight) is still needed later:
// the graph narrows to one tensor there. The nodes between two cuts form a segment;
// a unit of p consecutive segments whose input and output have the same shape, whose
// nodes read a weight, and which recurs right after itself with the same op types and
// shapes is a repeated block. Values that do not depend on any weight (attention masks,
// shape arithmetic, position ids) may be read across cuts.
package depth

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/compress/retarget"
	"github.com/modelc/modelc/engine/ir"
)

// segment is the nodes between two cuts.
type segment struct {
	nodes     []*ir.Node
	in, out   string // the activation before and after
	droppable bool   // nothing after the segment reads its inner values, out is not a graph output
	weighted  bool   // a node reads a weight
	signature string
}

// Drop keeps a fraction keep (0 < keep < 1) of each run of repeated blocks, at least one:
// the first, the last and others evenly spaced between (as DistilBERT keeps every other
// layer), and removes the others from m.
func Drop(m *ir.Model, keep float64) (*compress.Report, error) {
	if !(keep > 0 && keep < 1) {
		return nil, fmt.Errorf("keep %g is not in (0, 1)", keep)
	}
	g := m.Graph
	nodes, err := ir.TopoOrder(g, nil)
	if err != nil {
		return nil, err
	}
	feed := map[string][]int64{}
	for _, v := range g.Inputs {
		if compress.IsGraphInput(g, v.Name) && isInitializer(g, v.Name) {
			continue
		}
		if v.Type == nil || v.Type.Shape == nil {
			return nil, fmt.Errorf("input %q has no declared shape", v.Name)
		}
		var s []int64
		for _, d := range v.Type.Shape.Dims {
			s = append(s, max(d.Value, 1)) // a symbolic dimension (batch, sequence) runs as 1
		}
		feed[v.Name] = s
	}
	shapes, err := retarget.Shapes(m, feed)
	if err != nil {
		return nil, fmt.Errorf("running the model to find its blocks: %w", err)
	}
	for name, s := range feed {
		shapes[name] = make([]int, len(s))
		for i, d := range s {
			shapes[name][i] = int(d)
		}
	}
	for _, t := range g.Initializers { // weight shapes are part of a block's signature
		s := make([]int, len(t.Shape))
		for i, d := range t.Shape {
			s[i] = int(d)
		}
		shapes[t.Name] = s
	}
	segs := segments(g, nodes, shapes)
	r := &compress.Report{Pass: fmt.Sprintf("depth (keep %g of each run of repeated blocks)", keep)}
	bypass := map[string]string{} // a removed block's output → its input
	removed := map[*ir.Node]bool{}
	for i := 0; i < len(segs); {
		p, n := repeats(segs, i, shapes)
		if n < 2 || !segs[i].weighted { // a block starts with its weights: [conv … add, relu], not [relu, conv … add]
			i++
			continue
		}
		k := max(1, int(math.Round(float64(n)*keep)))
		kept := map[int]bool{0: true} // the first and the last, and evenly between
		for j := 1; j < k; j++ {
			kept[int(math.Round(float64(j*(n-1))/float64(k-1)))] = true
		}
		var names []string
		for u := 0; u < n; u++ {
			unit := segs[i+u*p : i+(u+1)*p]
			names = append(names, describe(unit))
			if kept[u] {
				continue
			}
			bypass[unit[p-1].out] = unit[0].in
			for _, s := range unit {
				for _, nd := range s.nodes {
					removed[nd] = true
				}
			}
			r.Notes = append(r.Notes, "removed block "+describe(unit))
		}
		r.Notes = append(r.Notes, fmt.Sprintf("run of %d blocks (%s): kept %d", n, strings.Join(names, "; "), k))
		i += n * p
	}
	if len(removed) == 0 {
		return nil, fmt.Errorf("no block of the model repeats with the same input and output shape (%d segments between single-tensor cuts): nothing to remove", len(segs))
	}
	resolve := func(v string) string {
		for {
			w, ok := bypass[v]
			if !ok {
				return v
			}
			v = w
		}
	}
	var left []*ir.Node
	for _, nd := range g.Nodes {
		if removed[nd] {
			continue
		}
		for j, in := range nd.Inputs {
			nd.Inputs[j] = resolve(in)
		}
		for _, sub := range nd.Subgraphs() { // an If branch or Loop body reading a removed block's output
			ir.WalkGraphs(sub, func(sg *ir.Graph) {
				for _, n := range sg.Nodes {
					for j, in := range n.Inputs {
						n.Inputs[j] = resolve(in)
					}
				}
			})
		}
		left = append(left, nd)
	}
	g.Nodes = left
	removeDead(g)
	uses := compress.Uses(g)
	var unused, gone []string
	for _, t := range g.Initializers {
		if uses[t.Name] == 0 && !compress.IsGraphInput(g, t.Name) {
			unused = append(unused, t.Name)
		}
	}
	for nd := range removed {
		gone = append(gone, nd.Outputs...)
	}
	compress.RemoveInitializers(g, unused...)
	compress.DropValueInfos(g, gone...)
	return r, nil
}

// reads lists the values nd reads: its inputs and what the graphs in its attributes (If
// branches, Loop bodies) read from the enclosing scope, or define themselves (a harmless
// overestimate).
func reads(nd *ir.Node) []string {
	in := append([]string(nil), nd.Inputs...)
	for _, sub := range nd.Subgraphs() {
		ir.WalkGraphs(sub, func(g *ir.Graph) {
			for _, n := range g.Nodes {
				in = append(in, n.Inputs...)
			}
			for _, o := range g.Outputs {
				in = append(in, o.Name)
			}
		})
	}
	return in
}

// removeDead deletes nodes none of whose outputs is read (the constants and shape
// arithmetic only removed blocks used), until none is left.
func removeDead(g *ir.Graph) {
	for {
		uses := compress.Uses(g)
		kept := g.Nodes[:0]
		for _, nd := range g.Nodes {
			used := false
			for _, o := range nd.Outputs {
				used = used || o != "" && uses[o] > 0
			}
			if used {
				kept = append(kept, nd)
			}
		}
		if len(kept) == len(g.Nodes) {
			return
		}
		g.Nodes = kept
	}
}

func isInitializer(g *ir.Graph, name string) bool {
	for _, t := range g.Initializers {
		if t.Name == name {
			return true
		}
	}
	return false
}

// segments cuts the graph (nodes in topological order) where one activation is live.
func segments(g *ir.Graph, nodes []*ir.Node, shapes map[string][]int) []segment {
	weight := map[string]bool{}
	for _, t := range g.Initializers {
		if t.DType == ir.Float32 && len(t.Shape) >= 2 {
			weight[t.Name] = true
		}
	}
	// Constants: initializers, Constant nodes and what is computed from them alone
	// (Identity of a shared weight). Activations: values computed from the data (float
	// inputs: images, embeddings) or from a weight and something not constant (an
	// embedding lookup of integer ids). Neither: masks and positions computed from
	// integer inputs, shape arithmetic on them.
	constant := map[string]bool{}
	for _, t := range g.Initializers {
		constant[t.Name] = true
	}
	active := map[string]bool{}
	var data []string
	for _, v := range g.Inputs {
		if v.Type != nil && v.Type.ElemType == ir.Float32 && !constant[v.Name] {
			active[v.Name] = true
			data = append(data, v.Name)
		}
	}
	last := map[string]int{} // the position of the last node that reads a value
	for i, nd := range nodes {
		allConst, act, weighted := true, false, false
		for _, in := range reads(nd) {
			if in == "" {
				continue
			}
			allConst = allConst && constant[in]
			act = act || active[in]
			weighted = weighted || weight[in]
			last[in] = i
		}
		for _, o := range nd.Outputs {
			switch {
			case allConst:
				constant[o] = true
				weight[o] = weighted
			case act || weighted:
				active[o] = true
			}
		}
	}
	for _, o := range g.Outputs {
		last[o.Name] = len(nodes)
	}
	var segs []segment
	live := map[string]bool{}
	for _, v := range data {
		if _, read := last[v]; read {
			live[v] = true
		}
	}
	from := ""
	if len(live) == 1 {
		for v := range live {
			from = v
		}
	}
	var members []*ir.Node // the nodes since the last cut that compute activations
	for i, nd := range nodes {
		computes := false
		for _, o := range nd.Outputs {
			computes = computes || active[o]
			if active[o] && last[o] > i {
				live[o] = true
			}
		}
		if !computes {
			continue // constants and masks stay where they are; the unused ones go at the end
		}
		members = append(members, nd)
		for v := range live {
			if last[v] <= i {
				delete(live, v)
			}
		}
		if len(live) != 1 {
			continue
		}
		var cut string
		for v := range live {
			cut = v
		}
		if cut == from {
			continue // a side computation (Shape of the activation) joins the next segment
		}
		if from != "" {
			segs = append(segs, newSegment(g, members, from, cut, last, i, shapes, weight))
		}
		members, from = nil, cut
	}
	return segs
}

func newSegment(g *ir.Graph, nodes []*ir.Node, in, out string, last map[string]int, end int, shapes map[string][]int, weight map[string]bool) segment {
	s := segment{nodes: nodes, in: in, out: out, droppable: !compress.IsGraphOutput(g, out)}
	var sig []string
	for _, nd := range nodes {
		part := nd.OpType
		for _, v := range nd.Inputs {
			if weight[v] {
				s.weighted = true
			}
			part += fmt.Sprint(shapes[v])
		}
		for _, o := range nd.Outputs {
			part += fmt.Sprint(shapes[o])
			if o != out && last[o] > end {
				s.droppable = false // read after the segment
			}
		}
		sig = append(sig, part)
	}
	s.signature = strings.Join(sig, " ")
	return s
}

// repeats finds the shortest unit of segments starting at i that recurs right after
// itself and can be removed, and returns its length p and how many times n it recurs.
func repeats(segs []segment, i int, shapes map[string][]int) (p, n int) {
	for p = 1; i+2*p <= len(segs); p++ {
		unit := segs[i : i+p]
		if !removable(unit, shapes) {
			continue
		}
		n = 1
		for i+(n+1)*p <= len(segs) && same(unit, segs[i+n*p:i+(n+1)*p]) && removable(segs[i+n*p:i+(n+1)*p], shapes) {
			n++
		}
		if n >= 2 {
			return p, n
		}
	}
	return 0, 0
}

func removable(unit []segment, shapes map[string][]int) bool {
	weighted := false
	for _, s := range unit {
		if !s.droppable {
			return false
		}
		weighted = weighted || s.weighted
	}
	return weighted && slices.Equal(shapes[unit[0].in], shapes[unit[len(unit)-1].out])
}

func same(a, b []segment) bool {
	for i := range a {
		if a[i].signature != b[i].signature {
			return false
		}
	}
	return true
}

// describe names a block by its first and last node and its input and output.
func describe(unit []segment) string {
	first, last := unit[0].nodes[0], unit[len(unit)-1].nodes[len(unit[len(unit)-1].nodes)-1]
	var n int
	for _, s := range unit {
		n += len(s.nodes)
	}
	return fmt.Sprintf("%s … %s (%d nodes, %s → %s)", first.DisplayName(), last.DisplayName(), n, unit[0].in, unit[len(unit)-1].out)
}

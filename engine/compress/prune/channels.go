package prune

import (
	"fmt"
	"math"
	"sort"

	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/ir"
)

// channelwise ops pass each channel through on its own: pruning a channel before them
// prunes the same channel after them.
var channelwise = map[string]bool{
	"Relu": true, "LeakyRelu": true, "Sigmoid": true, "Tanh": true, "Clip": true, "Identity": true,
	"Elu": true, "Selu": true, "Softplus": true, "HardSigmoid": true, "HardSwish": true, "Gelu": true,
	"MaxPool": true, "AveragePool": true, "Dropout": true,
}

// edit is a change to make once a whole chain is known to be prunable.
type edit struct {
	t     *ir.Tensor
	axis  int
	group int // a channel is this many consecutive indices along axis (Flatten: H·W)
}

// Channels removes the fraction of output channels (Conv filters, MatMul/Gemm output
// columns) with the smallest L1 norm (L2 with norm "l2") from every layer whose output
// reaches exactly one next layer through channel-wise ops (activations, pooling,
// BatchNormalization, a bias Add, Flatten). The layer's weight and bias, the
// BatchNormalization parameters and the next layer's input channels all shrink. Layers
// whose output is a graph output, or feeds anything else, are left alone.
func Channels(m *ir.Model, fraction float64, norm string, ex compress.Exclude) (*compress.Report, error) {
	if norm == "" {
		norm = "l1"
	}
	r := &compress.Report{Pass: fmt.Sprintf("prune channels %.3g (%s norm)", fraction, norm)}
	g := m.Graph
	for _, l := range compress.Layers(m, ex, r) {
		if l.Nested() {
			r.Skip(l.Name(), "inside a subgraph: channel pruning reshapes the layers around it and works on the main graph only")
			continue
		}
		consumers := compress.Consumers(g)
		cout := int(l.Weight.Shape[l.OutAxis])
		edits, touched, why := chain(g, l, consumers, cout)
		if why != "" {
			r.Skip(l.Name(), "%s", why)
			continue
		}
		drop := int(fraction * float64(cout))
		if drop == 0 || drop >= cout {
			r.Skip(l.Name(), "%d of %d channels rounds to nothing to remove", drop, cout)
			continue
		}
		w, err := compress.Floats(l.Weight)
		if err != nil {
			return nil, err
		}
		keep := keepChannels(w, l.Weight.Shape, l.OutAxis, drop, norm)
		var detail string
		for _, e := range edits {
			before := e.t.Shape
			if err := shrink(e.t, e.axis, e.group, keep); err != nil {
				return nil, err
			}
			if e.t != l.Weight && len(before) > 1 { // the next layer's weight
				detail += fmt.Sprintf("; %s %v→%v", e.t.Name, before, e.t.Shape)
			}
		}
		compress.DropValueInfos(g, touched...)
		r.Layers = append(r.Layers, compress.LayerReport{
			Node: l.Name(), Op: l.Node.OpType, Tensor: l.Weight.Name,
			ParamsBefore: int64(len(w)), ParamsAfter: l.Weight.NumElements(),
			Detail: fmt.Sprintf("removed %d of %d output channels%s", drop, cout, detail),
		})
	}
	return r, nil
}

// chain follows layer l's output to the next layer and lists the tensors to shrink.
func chain(g *ir.Graph, l compress.Layer, consumers map[string][]*ir.Node, cout int) ([]edit, []string, string) {
	n := l.Node
	if n.OpType == "Conv" {
		if a := n.Attr("group"); a != nil && a.Int != 1 {
			return nil, nil, "grouped convolution"
		}
	}
	edits := []edit{{t: l.Weight, axis: l.OutAxis, group: 1}}
	if len(n.Inputs) > 2 && n.Inputs[2] != "" {
		b := g.Initializer(n.Inputs[2])
		if b == nil || b.DType != ir.Float32 {
			return nil, nil, "its bias is not a float32 constant"
		}
		if e, ok := biasEdit(b, cout); ok {
			edits = append(edits, e)
		} else if b.NumElements() != 1 {
			return nil, nil, fmt.Sprintf("bias shape %v does not broadcast per channel", b.Shape)
		}
	}
	v := n.Outputs[0]
	var touched []string
	flattened := false
	for {
		touched = append(touched, v)
		if compress.IsGraphOutput(g, v) {
			return nil, nil, "its output reaches a graph output"
		}
		cs := consumers[v]
		if len(cs) != 1 {
			return nil, nil, fmt.Sprintf("its output %q has %d readers", v, len(cs))
		}
		c := cs[0]
		if c.Domain != "" && c.Domain != "ai.onnx" || c.Inputs[0] != v && c.OpType != "Add" {
			return nil, nil, fmt.Sprintf("next node %s (%s) is not channel-wise", compress.NodeName(c), c.OpType)
		}
		switch {
		case channelwise[c.OpType]:
			if c.OpType == "Dropout" && len(c.Outputs) > 1 && c.Outputs[1] != "" {
				return nil, nil, "Dropout mask is used"
			}
			if (c.OpType == "MaxPool" || c.OpType == "AveragePool") && n.OpType != "Conv" {
				return nil, nil, "pooling after a " + n.OpType
			}
		case c.OpType == "Add" && n.OpType != "Conv":
			other := c.Inputs[0]
			if other == v {
				other = c.Inputs[1]
			}
			b := g.Initializer(other)
			if b == nil || b.DType != ir.Float32 {
				return nil, nil, fmt.Sprintf("Add %s does not add a constant bias", compress.NodeName(c))
			}
			e, ok := biasEdit(b, cout)
			if !ok {
				return nil, nil, fmt.Sprintf("bias %q shape %v is not per channel", b.Name, b.Shape)
			}
			edits = append(edits, e)
		case c.OpType == "BatchNormalization" && n.OpType == "Conv":
			for _, p := range c.Inputs[1:5] {
				t := g.Initializer(p)
				if t == nil || t.DType != ir.Float32 || len(t.Shape) != 1 || int(t.Shape[0]) != cout {
					return nil, nil, fmt.Sprintf("BatchNormalization parameter %q is not a float32 [%d] constant", p, cout)
				}
				edits = append(edits, edit{t: t, axis: 0, group: 1})
			}
		case c.OpType == "Flatten" && n.OpType == "Conv" && !flattened:
			if a := c.Attr("axis"); a != nil && a.Int != 1 {
				return nil, nil, "Flatten with axis ≠ 1"
			}
			flattened = true
		case c.OpType == "Conv" && !flattened:
			w := g.Initializer(c.Inputs[1])
			if w == nil || w.DType != ir.Float32 || int(w.Shape[1]) != cout {
				return nil, nil, fmt.Sprintf("next Conv %s has no float32 weight with %d input channels", compress.NodeName(c), cout)
			}
			if a := c.Attr("group"); a != nil && a.Int != 1 {
				return nil, nil, "next Conv is grouped"
			}
			if uses := compress.Uses(g); uses[w.Name] > 1 {
				return nil, nil, "next weight is shared"
			}
			return append(edits, edit{t: w, axis: 1, group: 1}), touched, ""
		case c.OpType == "MatMul" || c.OpType == "Gemm":
			w := g.Initializer(c.Inputs[1])
			if w == nil || w.DType != ir.Float32 || len(w.Shape) != 2 {
				return nil, nil, fmt.Sprintf("next %s %s has no 2-D float32 weight", c.OpType, compress.NodeName(c))
			}
			axis := 0
			if a := c.Attr("transB"); c.OpType == "Gemm" && a != nil && a.Int != 0 {
				axis = 1
			}
			if a := c.Attr("transA"); c.OpType == "Gemm" && a != nil && a.Int != 0 {
				return nil, nil, "next Gemm has transA"
			}
			k := int(w.Shape[axis])
			if k%cout != 0 || (!flattened && k != cout) {
				return nil, nil, fmt.Sprintf("next %s's input dimension %d does not match %d channels", c.OpType, k, cout)
			}
			if uses := compress.Uses(g); uses[w.Name] > 1 {
				return nil, nil, "next weight is shared"
			}
			return append(edits, edit{t: w, axis: axis, group: k / cout}), touched, ""
		default:
			return nil, nil, fmt.Sprintf("next node %s (%s) is not channel-wise", compress.NodeName(c), c.OpType)
		}
		v = c.Outputs[0]
	}
}

// biasEdit shrinks a per-channel bias: [C] or [1, C].
func biasEdit(b *ir.Tensor, cout int) (edit, bool) {
	s := b.Shape
	if len(s) == 0 || int(s[len(s)-1]) != cout {
		return edit{}, false
	}
	for _, d := range s[:len(s)-1] {
		if d != 1 {
			return edit{}, false
		}
	}
	return edit{t: b, axis: len(s) - 1, group: 1}, true
}

// keepChannels picks the channels to keep along axis: all but the drop smallest by
// norm (ties: the later channel goes), in ascending order.
func keepChannels(w []float32, shape []int64, axis, drop int, norm string) []int {
	outer, ch, inner := compress.Channels(shape, axis)
	score := make([]float64, ch)
	for o := 0; o < outer; o++ {
		for c := 0; c < ch; c++ {
			for i := 0; i < inner; i++ {
				x := float64(w[(o*ch+c)*inner+i])
				if norm == "l2" {
					score[c] += x * x
				} else {
					score[c] += math.Abs(x)
				}
			}
		}
	}
	idx := make([]int, ch)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return score[idx[a]] > score[idx[b]] })
	keep := append([]int(nil), idx[:ch-drop]...)
	sort.Ints(keep)
	return keep
}

// shrink keeps, along axis of t, the indices of the kept channels (each channel being
// group consecutive indices).
func shrink(t *ir.Tensor, axis, group int, keep []int) error {
	v, err := t.Float32s()
	if err != nil {
		return err
	}
	outer, n, inner := compress.Channels(t.Shape, axis)
	out := make([]float32, 0, outer*len(keep)*group*inner)
	for o := 0; o < outer; o++ {
		for _, c := range keep {
			for j := c * group; j < (c+1)*group; j++ {
				out = append(out, v[(o*n+j)*inner:(o*n+j+1)*inner]...)
			}
		}
	}
	shape := append([]int64(nil), t.Shape...)
	shape[axis] = int64(len(keep) * group)
	compress.SetFloats(t, shape, out)
	return nil
}

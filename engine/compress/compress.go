// Package compress holds what the compression passes share: the report a pass returns,
// the selection of the layers a pass may touch (--exclude), and small graph helpers.
// Each technique lives in its own package below this one (quant, prune, clip, lowrank,
// simplify) and is a function over an *ir.Model that changes it in place.
package compress

import (
	"encoding/json"
	"fmt"
	"math"
	"path"
	"sort"
	"strings"

	"github.com/modelc/modelc/engine/ir"
)

// LayerReport is what a pass did to one weight.
type LayerReport struct {
	Node   string `json:"node"`   // the node that uses the weight
	Op     string `json:"op"`     // its op type
	Tensor string `json:"tensor"` // the weight initializer's name (before the pass)
	// Params is the number of weight values before and after (low-rank and channel
	// pruning change it; quantization and unstructured pruning do not).
	ParamsBefore int64 `json:"params_before"`
	ParamsAfter  int64 `json:"params_after"`
	// RelError is ‖W − Ŵ‖ / ‖W‖ (Frobenius) between the weight before and the weight the
	// model computes with afterwards; for a low-rank layer Ŵ is the product of the factors.
	RelError float64 `json:"rel_error"`
	// ChannelError is the worst output channel's ‖w_c − ŵ_c‖ / ‖w_c‖: what the accuracy
	// guard (max_layer_error) bounds. A per-tensor scale that wipes out a channel of small
	// weights shows here, not in RelError, which the large channels dominate.
	ChannelError float64 `json:"channel_error,omitempty"`
	// RelErrorAbsmax is, for block-wise int4, the error plain absmax scales would give.
	RelErrorAbsmax float64 `json:"rel_error_absmax,omitempty"`
	Sparsity       float64 `json:"sparsity,omitempty"` // fraction of zeros afterwards
	Detail         string  `json:"detail,omitempty"`   // e.g. "int8 per-channel symmetric", "rank 24"
}

// MarshalJSON writes a non-finite error (a weight of zeros made nonzero, NaN weights) as
// null: encoding/json refuses NaN and Inf, and the report must always print.
func (l LayerReport) MarshalJSON() ([]byte, error) {
	type plain LayerReport
	out := struct {
		plain
		RelError       *float64 `json:"rel_error"`
		RelErrorAbsmax *float64 `json:"rel_error_absmax,omitempty"`
		ChannelError   *float64 `json:"channel_error,omitempty"`
	}{plain: plain(l), RelError: finite(l.RelError)}
	if l.RelErrorAbsmax != 0 {
		out.RelErrorAbsmax = finite(l.RelErrorAbsmax)
	}
	if l.ChannelError != 0 {
		out.ChannelError = finite(l.ChannelError)
	}
	return json.Marshal(out)
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// Report is what one pass did.
type Report struct {
	Pass   string        `json:"pass"` // "quantize int8 weight-only", "prune magnitude 0.5", ...
	Layers []LayerReport `json:"layers,omitempty"`
	// Skipped names the layers the pass left alone and why (excluded, too small, ...).
	Skipped []string `json:"skipped,omitempty"`
	// Notes are other facts worth telling the user (ops kept in float32, ...).
	Notes []string `json:"notes,omitempty"`
	// Fixed are node name patterns (path.Match) of nodes the pass inserted that compute
	// a fixed function with constant weights (retarget's averaging MatMuls): later passes
	// leave them alone and training keeps their weights.
	Fixed []string `json:"-"`
}

// Skip records a layer left alone.
func (r *Report) Skip(node, format string, args ...any) {
	r.Skipped = append(r.Skipped, fmt.Sprintf("%s: %s", node, fmt.Sprintf(format, args...)))
}

// Exclude matches nodes a pass must leave alone: by op type (exact, "Conv") or by node
// name pattern (path.Match syntax: "fc1", "encoder/*", "*attn*").
type Exclude []string

// Check rejects a malformed pattern, naming it.
func (e Exclude) Check() error {
	for _, p := range e {
		if p == "" {
			return fmt.Errorf("empty pattern")
		}
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("pattern %q: %v", p, err)
		}
	}
	return nil
}

// Matches reports whether n is excluded.
func (e Exclude) Matches(n *ir.Node) bool {
	for _, p := range e {
		if p == n.OpType {
			return true
		}
		if ok, _ := path.Match(p, n.Name); ok {
			return true
		}
	}
	return false
}

// Uses counts the references to each value name by the nodes of g (and of graphs nested
// in them) and by g's outputs.
func Uses(g *ir.Graph) map[string]int {
	uses := map[string]int{}
	ir.WalkGraphs(g, func(sg *ir.Graph) {
		for _, n := range sg.Nodes {
			for _, in := range n.Inputs {
				if in != "" {
					uses[in]++
				}
			}
		}
		for _, o := range sg.Outputs {
			uses[o.Name]++
		}
	})
	return uses
}

// Consumers maps each value to the main-graph nodes that read it, in node order.
func Consumers(g *ir.Graph) map[string][]*ir.Node {
	c := map[string][]*ir.Node{}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if in != "" {
				c[in] = append(c[in], n)
			}
		}
	}
	return c
}

// IsGraphInput reports whether name is one of g's inputs (a weight that is also an input
// may be overridden by the caller, so passes leave it alone).
func IsGraphInput(g *ir.Graph, name string) bool {
	for _, v := range g.Inputs {
		if v.Name == name {
			return true
		}
	}
	return false
}

// IsGraphOutput reports whether name is one of g's outputs.
func IsGraphOutput(g *ir.Graph, name string) bool {
	for _, o := range g.Outputs {
		if o.Name == name {
			return true
		}
	}
	return false
}

// Names hands out value and initializer names not yet used in a graph, so that inserted
// nodes never collide with existing ones.
type Names struct{ used map[string]bool }

// NewNames collects every name used in m.
func NewNames(m *ir.Model) *Names {
	u := map[string]bool{}
	ir.WalkGraphs(m.Graph, func(g *ir.Graph) {
		for _, t := range g.Initializers {
			u[t.Name] = true
		}
		for _, v := range g.Inputs {
			u[v.Name] = true
		}
		for _, v := range g.Outputs {
			u[v.Name] = true
		}
		for _, n := range g.Nodes {
			u[n.Name] = true
			for _, o := range n.Outputs {
				u[o] = true
			}
		}
	})
	return &Names{used: u}
}

// New returns base if unused, else base_1, base_2, ...
func (s *Names) New(base string) string {
	name := base
	for i := 1; s.used[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	s.used[name] = true
	return name
}

// Float32Tensor makes a float32 initializer from values.
func Float32Tensor(name string, shape []int64, v []float32) *ir.Tensor {
	b := append([]byte(nil), ir.Float32Bytes(v)...)
	t, err := ir.NewTensor(name, ir.Float32, append([]int64(nil), shape...), b)
	if err != nil {
		panic(err) // callers pass len(v) == product of shape
	}
	return t
}

// Floats returns a copy of a float32 tensor's values, safe to modify.
func Floats(t *ir.Tensor) ([]float32, error) {
	v, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	return append([]float32(nil), v...), nil
}

// SetFloats replaces a float32 tensor's data (and shape) with v.
func SetFloats(t *ir.Tensor, shape []int64, v []float32) {
	nt := Float32Tensor(t.Name, shape, v)
	t.Shape = nt.Shape
	if err := t.SetBytes(nt.Bytes()); err != nil {
		panic(err)
	}
}

// RelError is ‖a − b‖ / ‖a‖ (0 when a is all zeros and b equals it).
func RelError(a, b []float32) float64 {
	var num, den float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		num += d * d
		den += float64(a[i]) * float64(a[i])
	}
	if den == 0 {
		if num == 0 {
			return 0
		}
		return math.Inf(1)
	}
	return math.Sqrt(num / den)
}

// Sparsity is the fraction of exact zeros in v.
func Sparsity(v []float32) float64 {
	if len(v) == 0 {
		return 0
	}
	z := 0
	for _, x := range v {
		if x == 0 {
			z++
		}
	}
	return float64(z) / float64(len(v))
}

// Channels views a weight as [outer, channels, inner] around axis: element (o, c, i) is
// at (o·channels + c)·inner + i.
func Channels(shape []int64, axis int) (outer, channels, inner int) {
	outer, inner = 1, 1
	for i, d := range shape {
		switch {
		case i < axis:
			outer *= int(d)
		case i > axis:
			inner *= int(d)
		}
	}
	return outer, int(shape[axis]), inner
}

// RemoveInitializers deletes the named initializers from g.
func RemoveInitializers(g *ir.Graph, names ...string) {
	drop := map[string]bool{}
	for _, n := range names {
		drop[n] = true
	}
	kept := g.Initializers[:0]
	for _, t := range g.Initializers {
		if !drop[t.Name] {
			kept = append(kept, t)
		}
	}
	g.Initializers = kept
}

// DropValueInfos forgets the recorded types of the named values (a pass that changes a
// value's shape or type removes the stale entry; the information is optional in ONNX).
func DropValueInfos(g *ir.Graph, names ...string) {
	drop := map[string]bool{}
	for _, n := range names {
		drop[n] = true
	}
	kept := g.ValueInfos[:0]
	for _, v := range g.ValueInfos {
		if !drop[v.Name] {
			kept = append(kept, v)
		}
	}
	g.ValueInfos = kept
}

// SortedKeys returns a map's keys in order (deterministic iteration).
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Params counts the elements of every weight of m (ir.Weights: initializers, sparse
// initializers and Constant nodes' values, in subgraphs too): the model's parameters
// (quantization scales and zero points included, shape constants too), as modelc info
// counts them.
func Params(m *ir.Model) int64 {
	var n int64
	ir.Weights(m.Graph, func(w ir.Weight) { n += w.Elements })
	return n
}

// quantParamInputs are, per op, the input positions that hold quantization parameters
// (scales and zero points) rather than weights.
var quantParamInputs = map[string][]int{
	"QuantizeLinear": {1, 2}, "DequantizeLinear": {1, 2},
	"MatMulInteger": {2, 3}, "ConvInteger": {2, 3},
	"QLinearMatMul": {1, 2, 4, 5, 6, 7}, "QLinearConv": {1, 2, 4, 5, 6, 7},
}

// QuantParams counts the elements of m's weights that are quantization parameters: the
// scales and zero points of QuantizeLinear/DequantizeLinear and the integer ops, and the
// weight scales dynamic quantization multiplies an integer product by (a Mul reading a
// Cast of MatMulInteger's or ConvInteger's output). Params counts them too; a report
// gives them apart, so quantization does not seem to add weights.
func QuantParams(m *ir.Model) int64 {
	params := map[string]bool{}
	ir.WalkGraphs(m.Graph, func(g *ir.Graph) {
		producer := map[string]*ir.Node{}
		for _, n := range g.Nodes {
			for _, o := range n.Outputs {
				producer[o] = n
			}
		}
		// A dynamic int8 layer multiplies the integer product (cast to float) or the
		// activation's scale (DynamicQuantizeLinear's second output) by the weight scale.
		integerProduct := func(x string) bool {
			c := producer[x]
			if c != nil && c.OpType == "DynamicQuantizeLinear" && len(c.Outputs) > 1 && c.Outputs[1] == x {
				return true
			}
			if c == nil || c.OpType != "Cast" || len(c.Inputs) == 0 {
				return false
			}
			p := producer[c.Inputs[0]]
			return p != nil && (p.OpType == "MatMulInteger" || p.OpType == "ConvInteger")
		}
		for _, n := range g.Nodes {
			for _, i := range quantParamInputs[n.OpType] {
				if i < len(n.Inputs) && n.Inputs[i] != "" {
					params[n.Inputs[i]] = true
				}
			}
			if n.OpType == "Mul" && len(n.Inputs) == 2 {
				for i, x := range n.Inputs {
					if integerProduct(n.Inputs[1-i]) {
						params[x] = true
					}
				}
			}
		}
	})
	var count int64
	ir.Weights(m.Graph, func(w ir.Weight) {
		if params[w.Name] {
			count += w.Elements
		}
	})
	return count
}

// WhyNoLayers explains, for the MatMul, Gemm and Conv nodes of m (all graphs), why their
// weights do not qualify for the passes: the message a pass that found nothing gives.
func WhyNoLayers(m *ir.Model) string {
	produced := map[string]string{}
	inputs := map[string]bool{}
	inits := map[string]*ir.Tensor{}
	ir.WalkGraphs(m.Graph, func(g *ir.Graph) {
		for _, n := range g.Nodes {
			for _, o := range n.Outputs {
				produced[o] = n.OpType
			}
		}
		for _, v := range g.Inputs {
			inputs[v.Name] = true
		}
		for _, t := range g.Initializers {
			inits[t.Name] = t
		}
	})
	var why []string
	count := 0
	ir.WalkGraphs(m.Graph, func(g *ir.Graph) {
		for _, n := range g.Nodes {
			if _, ok := layerOf(n); !ok {
				continue
			}
			count++
			if len(why) >= 4 {
				continue
			}
			w := n.Inputs[1]
			var s string
			switch t := inits[w]; {
			case t != nil && t.DType != ir.Float32:
				s = fmt.Sprintf("its weight %q is %v, not float32 (already compressed?)", w, t.DType)
			case t != nil:
				s = fmt.Sprintf("its weight %q has shape %v", w, t.Shape)
			case produced[w] == "DequantizeLinear":
				s = fmt.Sprintf("its weight %q is already quantized (made by DequantizeLinear)", w)
			case produced[w] != "":
				s = fmt.Sprintf("its weight %q is computed by a %s node; add --simplify to fold constant computations into initializers first", w, produced[w])
			case inputs[w]:
				s = fmt.Sprintf("its weight %q is a graph input, not a constant", w)
			default:
				s = fmt.Sprintf("its weight %q is not a constant", w)
			}
			why = append(why, fmt.Sprintf("%s (%s): %s", NodeName(n), n.OpType, s))
		}
	})
	if count == 0 {
		return "the model has no MatMul, Gemm or Conv node"
	}
	if count > len(why) {
		why = append(why, fmt.Sprintf("and %d more", count-len(why)))
	}
	return strings.Join(why, "; ")
}

// WeightSparsity is the fraction of zeros over the float weights of the layers of m
// (MatMul, Gemm and Conv weights, before any quantization).
func WeightSparsity(m *ir.Model) float64 {
	var zeros, total int
	for _, l := range Layers(m, nil, &Report{}) {
		v, err := l.Weight.Float32s()
		if err != nil {
			continue
		}
		for _, x := range v {
			if x == 0 {
				zeros++
			}
		}
		total += len(v)
	}
	if total == 0 {
		return 0
	}
	return float64(zeros) / float64(total)
}

// OpTypes lists the op types present in m's graphs (for "an option for an op the
// model lacks" errors).
func OpTypes(m *ir.Model) string {
	seen := map[string]bool{}
	ir.WalkGraphs(m.Graph, func(g *ir.Graph) {
		for _, n := range g.Nodes {
			seen[n.OpType] = true
		}
	})
	return strings.Join(SortedKeys(seen), ", ")
}

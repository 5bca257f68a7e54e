// Package simplify cleans a graph without changing what it computes (beyond float
// rounding): it removes Identity and inference-time Dropout, folds BatchNormalization
// into the Conv or Gemm before it, folds nodes whose inputs are all constants into
// initializers (evaluated by modelc's runtime), and deletes dead nodes and unused
// initializers.
package simplify

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/ir"
	"github.com/modelc/modelc/engine/runtime"
)

// Simplify runs the clean-ups until none applies.
func Simplify(m *ir.Model) (*compress.Report, error) {
	r := &compress.Report{Pass: "simplify"}
	counts := map[string]int{}
	for changed := true; changed; {
		changed = false
		for _, step := range []struct {
			name string
			fn   func(*ir.Model, *compress.Report) (int, error)
		}{
			{"Identity/Dropout removed", removeIdentities},
			{"constants folded", foldConstants},
			{"BatchNormalization folded", foldBatchNorm},
			{"dead nodes removed", removeDead},
			{"unused initializers removed", removeUnused},
		} {
			n, err := step.fn(m, r)
			if err != nil {
				return nil, err
			}
			counts[step.name] += n
			changed = changed || n > 0
		}
	}
	var parts []string
	for _, k := range []string{"Identity/Dropout removed", "constants folded", "BatchNormalization folded", "dead nodes removed", "unused initializers removed"} {
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	r.Notes = append([]string{strings.Join(parts, ", ")}, r.Notes...)
	return r, nil
}

// rename replaces every use of value from by to, in the main graph and nested graphs.
func rename(g *ir.Graph, from, to string) {
	ir.WalkGraphs(g, func(sg *ir.Graph) {
		for _, n := range sg.Nodes {
			for i, in := range n.Inputs {
				if in == from {
					n.Inputs[i] = to
				}
			}
		}
	})
}

// removeIdentities bypasses Identity nodes and Dropout nodes whose mask nobody reads
// (at inference Dropout passes its input through).
func removeIdentities(m *ir.Model, r *compress.Report) (int, error) {
	g := m.Graph
	removed := 0
	kept := g.Nodes[:0]
	for _, n := range g.Nodes {
		pass := (n.OpType == "Identity" || n.OpType == "Dropout") && (n.Domain == "" || n.Domain == "ai.onnx") &&
			len(n.Inputs) >= 1 && n.Inputs[0] != "" && len(n.Outputs) >= 1
		if pass && n.OpType == "Dropout" {
			uses := compress.Uses(g)
			if len(n.Outputs) > 1 && n.Outputs[1] != "" && uses[n.Outputs[1]] > 0 {
				pass = false
			}
			if a := n.Attr("training_mode"); len(n.Inputs) > 2 && n.Inputs[2] != "" || a != nil {
				pass = false // a training-mode input may switch dropout on
			}
		}
		if pass {
			in, out := n.Inputs[0], n.Outputs[0]
			switch {
			case !compress.IsGraphOutput(g, out):
				rename(g, out, in)
			case !compress.IsGraphOutput(g, in) && !compress.IsGraphInput(g, in) && g.Initializer(in) == nil && producer(g, in) != nil:
				// The output is a graph output: let the producer write it directly.
				p := producer(g, in)
				for i := range p.Outputs {
					if p.Outputs[i] == in {
						p.Outputs[i] = out
					}
				}
				rename(g, in, out)
			default:
				pass = false
			}
		}
		if pass {
			removed++
			continue
		}
		kept = append(kept, n)
	}
	g.Nodes = kept
	return removed, nil
}

func producer(g *ir.Graph, v string) *ir.Node {
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o == v {
				return n
			}
		}
	}
	return nil
}

// noFold are ops never folded: those that would undo quantization, and those whose
// output can be much larger than their inputs (folding them would bloat the file).
var noFold = map[string]bool{
	"QuantizeLinear": true, "DequantizeLinear": true, "DynamicQuantizeLinear": true,
	"ConstantOfShape": true, "Expand": true, "Tile": true, "Range": true, "If": true, "Loop": true, "Scan": true,
	"RandomNormal": true, "RandomUniform": true, "RandomNormalLike": true, "RandomUniformLike": true, "Multinomial": true,
	"Bernoulli": true, "Dropout": true,
}

// foldConstants turns Constant nodes into initializers and evaluates, with the runtime,
// nodes whose inputs are all initializers.
func foldConstants(m *ir.Model, r *compress.Report) (int, error) {
	g := m.Graph
	supported := map[string]bool{}
	for _, op := range runtime.Supported() {
		supported[op] = true
	}
	folded := 0
	kept := g.Nodes[:0]
	for _, n := range g.Nodes {
		if (n.Domain != "" && n.Domain != "ai.onnx") || len(n.Subgraphs()) > 0 {
			kept = append(kept, n)
			continue
		}
		if n.OpType == "Constant" && len(n.Outputs) == 1 {
			if a := n.Attr("value"); a != nil && a.Tensor != nil && !compress.IsGraphOutput(g, n.Outputs[0]) {
				t := *a.Tensor
				t.Name = n.Outputs[0]
				g.Initializers = append(g.Initializers, &t)
				folded++
				continue
			}
		}
		if !supported[n.OpType] || noFold[n.OpType] || len(n.Inputs) == 0 {
			kept = append(kept, n)
			continue
		}
		constant := true
		var inits []*ir.Tensor
		for _, in := range n.Inputs {
			if in == "" {
				continue
			}
			t := g.Initializer(in)
			if t == nil || compress.IsGraphInput(g, in) {
				constant = false
				break
			}
			inits = append(inits, t)
		}
		if !constant || len(inits) == 0 {
			kept = append(kept, n)
			continue
		}
		outs, err := Evaluate(m, n, inits)
		if err != nil {
			// A node the runtime cannot evaluate here stays as it is.
			r.Notes = append(r.Notes, fmt.Sprintf("not folded: %s (%s): %v", compress.NodeName(n), n.OpType, err))
			kept = append(kept, n)
			continue
		}
		for _, t := range outs {
			if t != nil {
				g.Initializers = append(g.Initializers, t)
			}
		}
		folded++
	}
	g.Nodes = kept
	return folded, nil
}

// Evaluate runs one node on constant inputs with the reference runtime, at m's IR version
// and opsets, and returns its outputs by position (nil where an output name is empty).
// Constant folding here and the TFLite writer's shape arithmetic both use it.
func Evaluate(m *ir.Model, n *ir.Node, inits []*ir.Tensor) ([]*ir.Tensor, error) {
	sub := &ir.Model{IRVersion: m.IRVersion, Opsets: m.Opsets, Graph: &ir.Graph{
		Nodes: []*ir.Node{n}, Initializers: inits,
	}}
	for _, o := range n.Outputs {
		if o != "" {
			sub.Graph.Outputs = append(sub.Graph.Outputs, &ir.ValueInfo{Name: o})
		}
	}
	s, err := runtime.New(sub, runtime.Options{Threads: 1})
	if err != nil {
		return nil, err
	}
	res, err := s.Run(context.Background(), nil)
	if err != nil {
		return nil, err
	}
	out := make([]*ir.Tensor, len(n.Outputs))
	for i, o := range n.Outputs {
		if o == "" {
			continue
		}
		if out[i], err = runtime.ToIR(o, res[o]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// FoldBatchNorm folds every inference BatchNormalization of m's main graph that follows a
// Conv or Gemm with constant weights into that layer (see Simplify) and returns how many
// it folded, each named in r's notes. The float16 conversion runs it first: a
// BatchNormalization's variance easily exceeds the float16 range, the folded weights
// rarely do.
func FoldBatchNorm(m *ir.Model, r *compress.Report) (int, error) {
	total := 0
	for {
		n, err := foldBatchNorm(m, r)
		if err != nil || n == 0 {
			return total, err
		}
		total += n
		if _, err := removeUnused(m, r); err != nil {
			return total, err
		}
	}
}

// foldBatchNorm folds an inference BatchNormalization into the Conv or Gemm (without
// transA, alpha = beta = 1) whose output only it reads: per output channel c,
// f = γ/√(σ²+ε), W'[c] = W[c]·f, b'[c] = (b[c] − μ)·f + β.
func foldBatchNorm(m *ir.Model, r *compress.Report) (int, error) {
	g := m.Graph
	consumers := compress.Consumers(g)
	uses := compress.Uses(g)
	names := compress.NewNames(m)
	folded := 0
	kept := g.Nodes[:0]
	remove := map[*ir.Node]bool{}
	for _, bn := range g.Nodes {
		if bn.OpType != "BatchNormalization" || len(bn.Inputs) < 5 || len(bn.Outputs) != 1 {
			continue
		}
		if a := bn.Attr("training_mode"); a != nil && a.Int != 0 {
			continue
		}
		y := bn.Inputs[0]
		p := producer(g, y)
		if p == nil || len(consumers[y]) != 1 || compress.IsGraphOutput(g, y) || len(p.Inputs) < 2 {
			continue
		}
		outAxis := 0
		switch p.OpType {
		case "Conv":
		case "Gemm":
			if a := p.Attr("transA"); a != nil && a.Int != 0 {
				continue
			}
			if a := p.Attr("alpha"); a != nil && a.Float != 1 {
				continue
			}
			if a := p.Attr("beta"); a != nil && a.Float != 1 {
				continue
			}
			outAxis = 1
			if a := p.Attr("transB"); a != nil && a.Int != 0 {
				outAxis = 0
			}
		default:
			continue
		}
		w := g.Initializer(p.Inputs[1])
		if w == nil || w.DType != ir.Float32 || uses[w.Name] != 1 {
			continue
		}
		c := int(w.Shape[outAxis])
		params := make([][]float32, 4) // γ, β, μ, σ²
		ok := true
		for i := range params {
			t := g.Initializer(bn.Inputs[1+i])
			if t == nil || t.DType != ir.Float32 || t.NumElements() != int64(c) {
				ok = false
				break
			}
			params[i], _ = t.Float32s()
		}
		if !ok {
			continue
		}
		var bias []float32
		if len(p.Inputs) > 2 && p.Inputs[2] != "" {
			bt := g.Initializer(p.Inputs[2])
			if bt == nil || bt.DType != ir.Float32 || (bt.NumElements() != int64(c) && bt.NumElements() != 1) {
				continue
			}
			bv, _ := bt.Float32s()
			bias = make([]float32, c)
			for i := range bias {
				bias[i] = bv[min(i, len(bv)-1)]
			}
		} else {
			bias = make([]float32, c)
		}
		eps := float32(1e-5)
		if a := bn.Attr("epsilon"); a != nil {
			eps = a.Float
		}
		wv, err := compress.Floats(w)
		if err != nil {
			return 0, err
		}
		outer, ch, inner := compress.Channels(w.Shape, outAxis)
		f := make([]float32, c)
		for i := range f {
			f[i] = params[0][i] / float32(math.Sqrt(float64(params[3][i]+eps)))
			bias[i] = (bias[i]-params[2][i])*f[i] + params[1][i]
		}
		for o := 0; o < outer; o++ {
			for k := 0; k < ch; k++ {
				for i := 0; i < inner; i++ {
					wv[(o*ch+k)*inner+i] *= f[k]
				}
			}
		}
		nw := compress.Float32Tensor(names.New(w.Name+"_bnfolded"), w.Shape, wv)
		nb := compress.Float32Tensor(names.New(compress.NodeName(p)+"_bias_bnfolded"), []int64{int64(c)}, bias)
		g.Initializers = append(g.Initializers, nw, nb)
		p.Inputs[1] = nw.Name
		if len(p.Inputs) > 2 {
			p.Inputs[2] = nb.Name
		} else {
			p.Inputs = append(p.Inputs, nb.Name)
		}
		p.Outputs[0] = bn.Outputs[0]
		remove[bn] = true
		compress.DropValueInfos(g, y)
		r.Notes = append(r.Notes, fmt.Sprintf("folded %s into %s", compress.NodeName(bn), compress.NodeName(p)))
		folded++
	}
	for _, n := range g.Nodes {
		if !remove[n] {
			kept = append(kept, n)
		}
	}
	g.Nodes = kept
	return folded, nil
}

// removeDead deletes nodes none of whose outputs is read (nodes without outputs stay).
func removeDead(m *ir.Model, _ *compress.Report) (int, error) {
	g := m.Graph
	removed := 0
	for {
		uses := compress.Uses(g)
		kept := g.Nodes[:0]
		n0 := removed
		for _, n := range g.Nodes {
			live := len(n.Outputs) == 0
			for _, o := range n.Outputs {
				live = live || (o != "" && uses[o] > 0)
			}
			if live {
				kept = append(kept, n)
			} else {
				removed++
			}
		}
		g.Nodes = kept
		if removed == n0 {
			return removed, nil
		}
	}
}

// removeUnused deletes initializers nothing reads (graph inputs keep theirs).
func removeUnused(m *ir.Model, _ *compress.Report) (int, error) {
	g := m.Graph
	uses := compress.Uses(g)
	removed := 0
	kept := g.Initializers[:0]
	for _, t := range g.Initializers {
		if uses[t.Name] > 0 || compress.IsGraphInput(g, t.Name) {
			kept = append(kept, t)
		} else {
			removed++
		}
	}
	g.Initializers = kept
	return removed, nil
}

package train

import (
	"fmt"
	"math/rand"
	"path"

	"github.com/modelc/modelc/engine/ir"
)

// Param is one trainable initializer.
type Param struct {
	Name   string
	Value  *T
	Grad   *T
	Frozen bool
	// Mask, when set, holds the positions kept at zero (pruned weights): the value there
	// is zero after every step.
	Mask []bool
	// Grid, when set, makes the parameter the float shadow of a quantized initializer:
	// the graph sees it rounded to the grid (fake quantization), the gradient passes
	// straight through inside the grid's range.
	Grid *Grid
	src  *ir.Tensor
}

// Net is a model prepared for training.
type Net struct {
	Model  *ir.Model
	Params []*Param
	params map[string]*Param
	consts map[string]*T // initializers that are not trained
	nodes  []*ir.Node
	// Train switches Dropout on.
	Train bool
	// Float64 computes the matrix products in float64 too (slower; the default rounds
	// their operands to float32 for accel's SGEMM).
	Float64 bool
	// bnTrain holds the BatchNormalization nodes (by name) that train with the batch's
	// statistics and update their running mean and variance (see Options.BatchNorm).
	bnTrain map[*ir.Node]bool
	// stats are the running statistics of those nodes, written back by Store.
	stats []*stat
	needs map[string]bool
	rng   *rand.Rand
	arena arena
}

type stat struct {
	v   *T
	src *ir.Tensor
}

// Options say what is trained.
type Options struct {
	// Freeze: initializer or node name patterns (path.Match) whose weights are not trained.
	Freeze []string
	// KeepZeros holds weights that are exactly zero at the start (pruned) at zero, in
	// every weight of rank ≥ 2 that is not zero throughout.
	KeepZeros bool
	Seed      int64
	// BatchNorm says how BatchNormalization trains: "frozen" normalises with the running
	// statistics and leaves them (fine-tuning); "train" uses the batch's statistics and
	// updates the running mean and variance as torch's train mode does (running =
	// momentum·running + (1−momentum)·batch, ONNX's momentum attribute, default 0.9 =
	// torch's 0.1; the unbiased batch variance); "" or "auto": "train" for a node whose
	// running statistics are fresh (mean 0 and variance 1 throughout: a student that
	// never saw data), "frozen" otherwise.
	BatchNorm string
}

// NewNet prepares m (its main graph) for training. Float32 initializers become parameters,
// except the running statistics of BatchNormalization and the scales and zero points of
// DequantizeLinear; a quantized initializer read by DequantizeLinear becomes a parameter
// with a grid.
func NewNet(m *ir.Model, o Options) (*Net, error) {
	g := m.Graph
	if g == nil || len(g.Nodes) == 0 {
		return nil, fmt.Errorf("the model has no graph to train")
	}
	nodes, err := ir.TopoOrder(g, nil)
	if err != nil {
		return nil, err
	}
	n := &Net{Model: m, params: map[string]*Param{}, consts: map[string]*T{}, nodes: nodes, rng: rand.New(rand.NewSource(o.Seed))}
	fixed := map[string]bool{}
	readers := map[string][]*ir.Node{}
	grids := map[string]*ir.Node{}
	for _, nd := range nodes {
		for _, in := range nd.Inputs {
			readers[in] = append(readers[in], nd)
		}
		switch nd.OpType {
		case "BatchNormalization":
			for _, i := range []int{3, 4} {
				if i < len(nd.Inputs) {
					fixed[nd.Inputs[i]] = true
				}
			}
		case "DequantizeLinear":
			for _, in := range nd.Inputs[1:] {
				fixed[in] = true
			}
			grids[nd.Inputs[0]] = nd
		}
	}
	inits := map[string]*ir.Tensor{}
	for _, t := range g.Initializers {
		inits[t.Name] = t
	}
	// MatMulInteger's integer weights train like those read by DequantizeLinear, with
	// the grid of the scale the product is multiplied by afterwards.
	for _, nd := range nodes {
		if nd.OpType != "MatMulInteger" || len(nd.Inputs) < 2 || inits[nd.Inputs[1]] == nil {
			continue
		}
		dq, err := matMulIntegerGrid(nd, readers, nodes, inits)
		if err != nil {
			return nil, err
		}
		fixed[dq.Inputs[1]] = true
		grids[nd.Inputs[1]] = dq
	}
	for _, t := range g.Initializers {
		if len(readers[t.Name]) == 0 {
			continue
		}
		v, err := tensorOf(t)
		if err != nil {
			return nil, err
		}
		var grid *Grid
		switch dq := grids[t.Name]; {
		case dq != nil && t.DType != ir.Float32:
			grid, err = newGrid(dq, t, inits)
			if err != nil {
				return nil, err
			}
			v = grid.dequant(v)
		case (t.DType == ir.Float16 || t.DType == ir.BFloat16) && !fixed[t.Name]:
			// fp16/bf16 weights train in float64, seen by the graph rounded to their dtype.
			if grid, err = newFloatGrid(t); err != nil {
				return nil, err
			}
		}
		if (t.DType != ir.Float32 && grid == nil) || fixed[t.Name] {
			n.consts[t.Name] = v
			continue
		}
		p := &Param{Name: t.Name, Value: v, Grad: zerosLike(v), Grid: grid, src: t}
		p.Frozen = matchAny(o.Freeze, t.Name, readers[t.Name])
		if o.KeepZeros && len(v.Shape) >= 2 {
			var mask []bool
			for i, x := range v.D {
				if x == 0 {
					if mask == nil {
						mask = make([]bool, len(v.D))
					}
					mask[i] = true
				}
			}
			if mask != nil && !allTrue(mask) { // an all-zero weight is a fresh one, not a pruned one
				p.Mask = mask
			}
		}
		n.Params = append(n.Params, p)
		n.params[t.Name] = p
	}
	if err := n.batchNorms(o.BatchNorm, inits); err != nil {
		return nil, err
	}
	for _, nd := range nodes {
		if nd.OpType == "Constant" {
			if a := nd.Attr("value"); a != nil && a.Tensor != nil {
				v, err := tensorOf(a.Tensor)
				if err != nil {
					return nil, err
				}
				n.consts[nd.Outputs[0]] = v
				continue
			}
			return nil, fmt.Errorf("node %s: only Constant with a tensor value is supported", nd.DisplayName())
		}
		if ops[nd.OpType] == nil {
			return nil, fmt.Errorf("node %s: no training support for op %s", nd.DisplayName(), nd.OpType)
		}
	}
	n.needs = map[string]bool{}
	for _, p := range n.Params {
		n.needs[p.Name] = !p.Frozen
	}
	for _, nd := range nodes {
		any := false
		for _, in := range nd.Inputs {
			any = any || n.needs[in]
		}
		for _, o := range nd.Outputs {
			n.needs[o] = any
		}
	}
	return n, nil
}

// needsGrad reports whether the value called name depends on a trained parameter (so
// that a backward op must compute its gradient). A net built without NewNet needs all.
func (n *Net) needsGrad(name string) bool { return n.needs == nil || n.needs[name] }

func allTrue(b []bool) bool {
	for _, v := range b {
		if !v {
			return false
		}
	}
	return true
}

func matchAny(patterns []string, name string, readers []*ir.Node) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
		for _, r := range readers {
			if ok, _ := path.Match(p, r.Name); ok || p == r.OpType {
				return true
			}
		}
	}
	return false
}

// tensorOf converts an initializer to float64.
func tensorOf(t *ir.Tensor) (*T, error) {
	f, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	shape := make([]int, len(t.Shape))
	for i, d := range t.Shape {
		shape[i] = int(d)
	}
	out := &T{Shape: shape, D: make([]float64, len(f))}
	if t.DType == ir.Int64 || t.DType == ir.Int32 {
		// Shapes and axes: exact as float64 up to 2^53, float32 would round them.
		d, err := t.Dense()
		if err == nil {
			switch v := d.Data().(type) {
			case []int64:
				for i, x := range v {
					out.D[i] = float64(x)
				}
				return out, nil
			case []int32:
				for i, x := range v {
					out.D[i] = float64(x)
				}
				return out, nil
			}
		}
	}
	for i, x := range f {
		out.D[i] = float64(x)
	}
	return out, nil
}

// Param returns the parameter called name, or nil.
func (n *Net) Param(name string) *Param { return n.params[name] }

// Tape is one forward pass recorded for Backward.
type Tape struct {
	net    *Net
	Values map[string]*T
	steps  []tapeStep
	// owned64 and owned32 are the buffers taken from the net's arena (see Release).
	owned64 [][]float64
	owned32 [][]float32
}

type tapeStep struct {
	node *ir.Node
	back backFn
}

// Forward runs the graph on inputs and records the tape.
func (n *Net) Forward(inputs map[string]*T) (*Tape, error) {
	tp := &Tape{net: n, Values: map[string]*T{}}
	for k, v := range n.consts {
		tp.Values[k] = v
	}
	for _, p := range n.Params {
		tp.Values[p.Name] = p.Value
		if p.Grid != nil && p.Grid.isFloat() {
			// Rounded to float16/bfloat16; the gradient passes straight through to the
			// float64 value (Backward adds it to p.Grad unchanged).
			tp.Values[p.Name], _ = p.Grid.fake(p.Value)
		}
	}
	for k, v := range inputs {
		tp.Values[k] = v
	}
	for _, nd := range n.nodes {
		if nd.OpType == "Constant" {
			continue
		}
		in := make([]*T, len(nd.Inputs))
		for i, name := range nd.Inputs {
			if name == "" {
				continue
			}
			v, ok := tp.Values[name]
			if !ok {
				return nil, fmt.Errorf("node %s: input %q has no value", nd.DisplayName(), name)
			}
			in[i] = v
		}
		outs, back, err := ops[nd.OpType](&opCtx{node: nd, net: n, tape: tp}, in)
		if err != nil {
			return nil, fmt.Errorf("node %s (%s): %w", nd.DisplayName(), nd.OpType, err)
		}
		for i, o := range outs {
			if i < len(nd.Outputs) && nd.Outputs[i] != "" {
				tp.Values[nd.Outputs[i]] = o
			}
		}
		tp.steps = append(tp.steps, tapeStep{node: nd, back: back})
	}
	return tp, nil
}

// Backward runs the tape backward from the gradients of some values (usually the loss's
// gradient with respect to the outputs) and adds the parameters' gradients to Param.Grad.
func (tp *Tape) Backward(seed map[string]*T) error {
	// A gradient is never changed once stored (a backward op may hand back a view of
	// its output's gradient): fan-in adds into a fresh copy.
	grads := map[string]*T{}
	for k, v := range seed {
		grads[k] = v
	}
	for i := len(tp.steps) - 1; i >= 0; i-- {
		st := tp.steps[i]
		gouts := make([]*T, len(st.node.Outputs))
		any := false
		for j, o := range st.node.Outputs {
			if g := grads[o]; g != nil {
				gouts[j] = g
				any = true
			}
		}
		if !any || st.back == nil {
			continue
		}
		for j, o := range st.node.Outputs {
			if gouts[j] == nil {
				if v := tp.Values[o]; v != nil {
					gouts[j] = zerosLike(v)
				}
			}
		}
		gins := st.back(gouts)
		for j, gi := range gins {
			if gi == nil || j >= len(st.node.Inputs) || st.node.Inputs[j] == "" {
				continue
			}
			name := st.node.Inputs[j]
			if _, isConst := tp.net.consts[name]; isConst {
				continue
			}
			if have := grads[name]; have != nil {
				sum := have.Clone()
				addInto(sum.D, gi.D)
				grads[name] = sum
			} else {
				grads[name] = gi
			}
		}
	}
	for _, p := range tp.net.Params {
		if g := grads[p.Name]; g != nil && !p.Frozen {
			addInto(p.Grad.D, g.D)
		}
	}
	return nil
}

// ZeroGrad clears the gradients.
func (n *Net) ZeroGrad() {
	for _, p := range n.Params {
		clear(p.Grad.D)
	}
}

// Store writes the trained values back into the model's initializers (float32, the
// integers of a quantized initializer on its grid, or float16/bfloat16).
func (n *Net) Store() error {
	for _, p := range n.Params {
		if p.Grid != nil {
			if err := p.Grid.store(p.src, p.Value); err != nil {
				return err
			}
			continue
		}
		f := make([]float32, len(p.Value.D))
		for i, v := range p.Value.D {
			f[i] = float32(v)
		}
		if err := p.src.SetBytes(ir.Float32Bytes(f)); err != nil {
			return err
		}
	}
	for _, st := range n.stats {
		f := make([]float32, len(st.v.D))
		for i, v := range st.v.D {
			f[i] = float32(v)
		}
		if err := st.src.SetBytes(ir.Float32Bytes(f)); err != nil {
			return err
		}
	}
	return nil
}

// Snapshot copies the parameter values (and the running statistics that train);
// Restore puts a snapshot back.
func (n *Net) Snapshot() [][]float64 {
	s := make([][]float64, 0, len(n.Params)+len(n.stats))
	for _, p := range n.Params {
		s = append(s, append([]float64(nil), p.Value.D...))
	}
	for _, st := range n.stats {
		s = append(s, append([]float64(nil), st.v.D...))
	}
	return s
}

// Restore puts back what Snapshot copied.
func (n *Net) Restore(s [][]float64) {
	for i, p := range n.Params {
		copy(p.Value.D, s[i])
	}
	for i, st := range n.stats {
		copy(st.v.D, s[len(n.Params)+i])
	}
}

// batchNorms chooses, per BatchNormalization node, whether it trains in batch mode.
func (n *Net) batchNorms(mode string, inits map[string]*ir.Tensor) error {
	switch mode {
	case "", "auto", "train", "frozen":
	default:
		return fmt.Errorf("batchnorm %q is not one of auto, train, frozen", mode)
	}
	n.bnTrain = map[*ir.Node]bool{}
	seen := map[string]bool{}
	for _, nd := range n.nodes {
		if nd.OpType != "BatchNormalization" || len(nd.Inputs) < 5 || mode == "frozen" {
			continue
		}
		mean, vr := inits[nd.Inputs[3]], inits[nd.Inputs[4]]
		if mean == nil || vr == nil || mean.DType != ir.Float32 || vr.DType != ir.Float32 {
			continue
		}
		mt, vt := n.consts[mean.Name], n.consts[vr.Name]
		if mt == nil || vt == nil {
			continue
		}
		if mode != "train" && !(allEqual(mt.D, 0) && allEqual(vt.D, 1)) {
			continue
		}
		n.bnTrain[nd] = true
		for _, st := range []*stat{{mt, mean}, {vt, vr}} {
			if !seen[st.src.Name] {
				seen[st.src.Name] = true
				n.stats = append(n.stats, st)
			}
		}
	}
	return nil
}

func allEqual(d []float64, v float64) bool {
	for _, x := range d {
		if x != v {
			return false
		}
	}
	return true
}

// Count is the number of trainable values (frozen ones excluded).
func (n *Net) Count() int {
	c := 0
	for _, p := range n.Params {
		if !p.Frozen {
			c += len(p.Value.D)
		}
	}
	return c
}

// matMulIntegerGrid finds the scale of the integer weight of mmi (MatMulInteger) and
// returns a DequantizeLinear node that reads the weight with that scale and the node's
// weight zero point (per output column, axis 1 of [K, N]): the form modelc's dynamic
// quantization and onnxruntime's quantize_dynamic write, MatMulInteger → Cast →
// Mul(·, x_scale·w_scale), where w_scale is an initializer.
func matMulIntegerGrid(mmi *ir.Node, readers map[string][]*ir.Node, nodes []*ir.Node, inits map[string]*ir.Tensor) (*ir.Node, error) {
	producer := map[string]*ir.Node{}
	for _, nd := range nodes {
		for _, o := range nd.Outputs {
			producer[o] = nd
		}
	}
	notFound := fmt.Errorf("node %s (MatMulInteger): cannot find the scale of weight %q to train it on its grid "+
		"(expected MatMulInteger → Cast → Mul by x_scale·w_scale with w_scale an initializer)", mmi.DisplayName(), mmi.Inputs[1])
	only := func(name string, op string) *ir.Node {
		if r := readers[name]; len(r) == 1 && r[0].OpType == op {
			return r[0]
		}
		return nil
	}
	cast := only(mmi.Outputs[0], "Cast")
	if cast == nil {
		return nil, notFound
	}
	mul := only(cast.Outputs[0], "Mul")
	if mul == nil {
		return nil, notFound
	}
	other := mul.Inputs[0]
	if other == cast.Outputs[0] {
		other = mul.Inputs[1]
	}
	scaleMul := producer[other]
	if scaleMul == nil || scaleMul.OpType != "Mul" {
		return nil, notFound
	}
	for _, in := range scaleMul.Inputs {
		if t := inits[in]; t != nil && t.DType == ir.Float32 {
			dq := &ir.Node{Name: mmi.Name + "/weight_grid", OpType: "DequantizeLinear", Inputs: []string{mmi.Inputs[1], in},
				Attrs: []*ir.Attribute{{Name: "axis", Type: ir.AttrInt, Int: 1}}}
			if len(mmi.Inputs) > 3 && mmi.Inputs[3] != "" {
				dq.Inputs = append(dq.Inputs, mmi.Inputs[3])
			}
			return dq, nil
		}
	}
	return nil, notFound
}

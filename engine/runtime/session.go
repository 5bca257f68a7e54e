// Package runtime is modelc's reference executor: it runs an ir.Model on given inputs,
// op by op, following ONNX semantics (numpy broadcasting, opset-dependent attributes and
// inputs), so that a converted or compressed model can be checked against its original.
//
// A Session is prepared once per model: every node is checked against the kernel
// registry (all unsupported ops are reported together, before anything runs), the
// initializers are converted, and a memory plan records after which node each
// intermediate value is last used, so it is released as soon as possible. Kernels live in
// one file per op family and register themselves in the registry from init.
package runtime

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/ir"
	"github.com/modelc/modelc/engine/ir/schema"
)

// Options are the runtime settings.
type Options struct {
	// Threads bounds the threads the heavy kernels use (0: one per CPU). The kernels
	// split their work in fixed-size pieces, so results do not depend on it.
	Threads int
	// Profile times every step of the main graph (Session.Profile); off, it costs
	// nothing.
	Profile bool
}

// Session is a model prepared to run.
type Session struct {
	model *ir.Model
	opset int64
	main  *graphPlan
	plans map[*ir.Graph]*graphPlan
	opts  Options
	// tables caches index tables (im2col windows) per node and input shape: a model run
	// many times on inputs of one shape builds them once.
	tables sync.Map
	// pool is the memory plan's buffer pool, kept between runs (arena.go).
	poolMu   sync.Mutex
	pool     *arena
	recycled []*buffer // outputs given back by Recycle, for the next run's arena
	// shapeVals caches the shape-only values of the main graph per input shapes.
	shapeMu   sync.Mutex
	shapeVals map[string][]*Tensor
	prof      *profiler // nil unless Options.Profile
}

// kernel computes a node's outputs from its inputs (nil for an omitted optional input).
// It must not modify its inputs.
type kernel func(c *opContext, in []*Tensor) ([]*Tensor, error)

// registry maps an ONNX op type (default domain) to its kernel.
var registry = map[string]kernel{}

func register(k kernel, ops ...string) {
	for _, op := range ops {
		if _, dup := registry[op]; dup {
			panic("runtime: op registered twice: " + op)
		}
		registry[op] = k
	}
}

// Supported lists the op types the runtime executes, sorted.
func Supported() []string {
	var ops []string
	for op := range registry {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}

// graphPlan is a graph ready to execute. Every value the graph names gets a slot (an
// index), so running a node reads and writes slices, not maps; constants (initializers
// and the outputs of nodes folded at load) sit in their slots from the start.
type graphPlan struct {
	g      *ir.Graph
	consts map[string]*Tensor // initializers and folded values, by name
	slots  map[string]int     // value name → slot
	names  []string           // slot → value name
	init   []*Tensor          // slot → constant value, or nil
	steps  []step             // the nodes left to run, in graph order
	in     []int              // slot of each graph input
	out    []int              // slot of each graph output
	outer  []string           // names the graph (or its subgraphs) takes from enclosing scopes
	outerS []int              // their slots here, filled from the enclosing scope at each run
	types  []valueType        // slot → dtype and shape inferred at load
	// fixed marks the slots whose value cannot change between runs: initializers that
	// are not also graph inputs (those a caller may override) and folded values.
	fixed []bool
	// shapeOnly marks the slots whose value depends only on the shapes of the graph
	// inputs (Shape, and arithmetic on its result and constants); the steps computing
	// them run once per input shape and are replayed from the session's cache (main
	// graph only).
	shapeOnly []bool
	// concats is the size (float32 values) of each Concat output whose parts the plan
	// places in it (concat_place.go).
	concats []int
}

// step is one node to run: its kernel, input and output slots (-1: omitted), and the
// memory plan — the slots whose values die after it.
type step struct {
	node    *ir.Node
	run     kernel
	in      []int
	out     []int
	free    []int
	shape   bool       // computes shape-only values (see graphPlan.shapeOnly)
	into    *placement // where this step's output goes in a placed Concat's output; nil: its own buffer
	gathers int        // a placed Concat: its group in graphPlan.concats, +1; 0: none
	kind    string     // what a fused step computes ("Gelu", "LayerNorm", "AddLayerNorm", "Linear", "Attention"), for later fusions; "" for a plain node
}

// New prepares m for execution. It fails with KindUnsupported listing every node whose
// op (or domain) the runtime lacks.
func New(m *ir.Model, opts Options) (*Session, error) {
	if m == nil || m.Graph == nil {
		return nil, ir.Errorf(ir.KindInvalidArgument, "", "no model graph to run")
	}
	s := &Session{model: m, opset: m.OpsetVersion(""), plans: map[*ir.Graph]*graphPlan{}, opts: opts}
	if s.opset == 0 {
		s.opset = 21 // a graph without opset imports: assume a recent one
	}
	var missing []string
	ir.WalkGraphs(m.Graph, func(g *ir.Graph) {
		for _, n := range g.Nodes {
			if n.Domain != "" && n.Domain != "ai.onnx" {
				missing = append(missing, fmt.Sprintf("node %q (%s, domain %s)", n.Name, n.OpType, n.Domain))
			} else if registry[n.OpType] == nil {
				missing = append(missing, fmt.Sprintf("node %q (%s)", n.Name, n.OpType))
			}
		}
	})
	if len(missing) > 0 {
		return nil, ir.Errorf(ir.KindUnsupported, "", "the runtime does not support %d node(s): %s", len(missing), strings.Join(missing, ", "))
	}
	// What onnxruntime refuses to load, the runtime refuses too, naming the node and the
	// rule: a model that runs here but nowhere else would make verify's answer worthless.
	if err := schema.Check(m); err != nil {
		return nil, &ir.Error{Kind: ir.KindCorrupt, Err: err}
	}
	var err error
	if s.main, err = s.compile(m.Graph, nil); err != nil {
		return nil, err
	}
	return s, nil
}

// noFold lists ops whose result must not be computed once at load even when every
// input is constant: control flow (subgraphs may read outer values) and anything
// random.
var noFold = map[string]bool{"If": true, "Loop": true, "Scan": true, "RandomNormal": true, "RandomUniform": true,
	"RandomNormalLike": true, "RandomUniformLike": true, "Multinomial": true, "Bernoulli": true}

// compile assigns slots, folds the nodes whose inputs are all constant, infers every
// value's dtype and shape, and computes the memory plan. Subgraphs are compiled first,
// since their free variables count as uses by the node that holds them.
//
// The nodes run in topological order: a graph written out of order (onnxruntime's own
// quantizer writes such graphs) is sorted, stably, without changing the model. outer
// says which names the enclosing graphs make visible (nil for the main graph); a node
// input found nowhere, or a cycle, is a KindCorrupt error naming the node and input.
func (s *Session) compile(g *ir.Graph, outer func(string) bool) (*graphPlan, error) {
	order, err := ir.TopoOrder(g, outer)
	if err != nil {
		return nil, err
	}
	inner := outer
	if hasSubgraphs(order) {
		inner = ir.Scope(g, outer)
	}
	p := &graphPlan{g: g, consts: map[string]*Tensor{}, slots: map[string]int{}}
	slot := func(name string) int {
		if i, ok := p.slots[name]; ok {
			return i
		}
		p.slots[name] = len(p.names)
		p.names = append(p.names, name)
		p.init = append(p.init, nil)
		return len(p.names) - 1
	}
	local := map[string]bool{}
	for _, v := range g.Inputs {
		local[v.Name] = true
		p.in = append(p.in, slot(v.Name))
	}
	for _, t := range g.Initializers {
		v, err := FromIR(t)
		if err != nil {
			return nil, err
		}
		p.consts[t.Name] = v
		p.init[slot(t.Name)] = v
		local[t.Name] = true
	}
	p.fixed = make([]bool, len(p.names))
	for i := range p.fixed {
		p.fixed[i] = p.init[i] != nil
	}
	for _, sl := range p.in {
		p.fixed[sl] = false // a graph input with a default: the caller may override it
	}
	// Slots for every node's inputs and outputs; names not produced here come from
	// an enclosing scope.
	outerSet := map[string]bool{}
	useOuter := func(name string) {
		if name != "" && !local[name] && !outerSet[name] {
			outerSet[name] = true
			p.outer = append(p.outer, name)
			p.outerS = append(p.outerS, slot(name))
		}
	}
	for _, n := range order {
		st := step{node: n, run: registry[n.OpType], in: make([]int, len(n.Inputs)), out: make([]int, len(n.Outputs))}
		for j, name := range n.Inputs {
			st.in[j] = -1
			if name != "" {
				useOuter(name)
				st.in[j] = slot(name)
			}
		}
		for _, sub := range n.Subgraphs() {
			sp, err := s.compile(sub, inner)
			if err != nil {
				return nil, err
			}
			s.plans[sub] = sp
			for _, name := range sp.outer {
				useOuter(name)
			}
		}
		for j, name := range n.Outputs {
			st.out[j] = -1
			if name != "" {
				local[name] = true
				st.out[j] = slot(name)
			}
		}
		p.steps = append(p.steps, st)
	}
	for _, o := range g.Outputs { // an output taken straight from an outer scope
		useOuter(o.Name)
		p.out = append(p.out, slot(o.Name))
	}
	p.fixed = append(p.fixed, make([]bool, len(p.names)-len(p.fixed))...)
	p.inferTypes(s.opset)
	s.fold(p)
	// Again with the folded values as constants: a Reshape whose shape comes from a
	// Constant node (torch's exporter writes them so) has a known type only now, and
	// the fusions below need the dtypes past it.
	p.inferTypes(s.opset)
	s.fold(p)
	var unfused []step // for the profile's names of fused steps
	if s.opts.Profile && g == s.model.Graph {
		unfused = append(unfused, p.steps...)
	}
	s.fuseQDQConv(p)         // before fuseConv, which would take the Conv as a float one
	s.fuseDynQuantDequant(p) // after fuseQDQConv, which reads the pairs' uint8 values itself
	s.fuseScaleDynQuant(p)
	s.fuseConv(p)
	s.fuseConvTranspose(p)
	s.fuseSEScale(p)
	s.fuseResidualAdd(p) // after fuseConv and fuseSEScale: wraps the Conv steps they made
	s.fuseChannelShuffle(p)
	s.fuseChains(p)
	s.fuseLinear(p) // after fuseChains: takes its GELU steps as activations
	s.fuseAttention(p)
	s.fuseIntMatMul(p)
	s.packIntWeights(p)
	if g == s.model.Graph {
		p.markShapeSteps()
		p.placeConcats(s)
	}
	if unfused != nil {
		s.prof = newProfiler(unfused, p.steps)
	}
	p.planMemory(s.plans)
	return p, nil
}

func hasSubgraphs(nodes []*ir.Node) bool {
	for _, n := range nodes {
		if len(n.Subgraphs()) > 0 {
			return true
		}
	}
	return false
}

// fold runs, once, every node whose inputs are all constants and stores its outputs as
// constants: Constant nodes, and shape arithmetic on initializers. A node that fails is
// left in place, so the error is reported when the model runs, with its usual context.
func (s *Session) fold(p *graphPlan) {
	kept := p.steps[:0]
	for _, st := range p.steps {
		if p.foldShape(st, p.g == s.model.Graph) {
			continue
		}
		if !s.foldable(p, st) {
			kept = append(kept, st)
			continue
		}
		in := make([]*Tensor, len(st.in))
		for j, sl := range st.in {
			if sl >= 0 {
				in[j] = p.init[sl]
			}
		}
		c := &opContext{node: st.node, opset: s.opset, sess: s, ctx: context.Background()}
		outs, err := s.exec(c, st, in)
		if err != nil || len(outs) < len(st.out) {
			kept = append(kept, st)
			continue
		}
		for j, sl := range st.out {
			if sl >= 0 {
				p.init[sl] = outs[j]
				p.fixed[sl] = true
				p.consts[p.names[sl]] = outs[j]
				if sl < len(p.types) {
					p.types[sl] = typeOf(outs[j])
				}
			}
		}
	}
	p.steps = kept
}

// foldShape replaces Shape and Size of a value whose shape inference found fully
// static (main graph only: there Run checks the inputs against their declared dims)
// by constants.
func (p *graphPlan) foldShape(st step, main bool) bool {
	op := st.node.OpType
	if !main || op != "Shape" && op != "Size" || len(st.in) < 1 || st.in[0] < 0 || len(st.out) != 1 || st.out[0] < 0 {
		return false
	}
	t := p.types[st.in[0]]
	s := staticInts(t)
	if s == nil || p.init[st.out[0]] != nil {
		return false
	}
	var v *Tensor
	if op == "Size" {
		v = &Tensor{DType: ir.Int64, Shape: []int{}, Data: []int64{int64(prod(s))}}
	} else {
		outs, err := opShape(&opContext{node: st.node}, []*Tensor{{DType: t.dtype, Shape: s}})
		if err != nil {
			return false
		}
		v = outs[0]
	}
	sl := st.out[0]
	p.init[sl], p.fixed[sl], p.types[sl] = v, true, typeOf(v)
	p.consts[p.names[sl]] = v
	return true
}

func (s *Session) foldable(p *graphPlan, st step) bool {
	if noFold[st.node.OpType] || len(st.node.Subgraphs()) > 0 {
		return false
	}
	for _, sl := range st.in {
		if sl >= 0 && !p.fixed[sl] {
			return false
		}
	}
	for _, sl := range st.out { // a graph input of the same name could override it
		if sl >= 0 && p.init[sl] != nil {
			return false
		}
	}
	return true
}

// markShapeSteps finds the steps that compute shape-only values: Shape and Size of
// anything, then every deterministic op whose inputs are all fixed or shape-only.
// Graph outputs are left out, so a caller never receives a cached value.
func (p *graphPlan) markShapeSteps() {
	p.shapeOnly = make([]bool, len(p.names))
	isOut := make([]bool, len(p.names))
	for _, sl := range p.out {
		isOut[sl] = true
	}
	for i := range p.steps {
		st := &p.steps[i]
		op := st.node.OpType
		if noFold[op] || len(st.node.Subgraphs()) > 0 {
			continue
		}
		ok := op == "Shape" || op == "Size"
		if !ok {
			ok = true
			for _, sl := range st.in {
				if sl >= 0 && !p.fixed[sl] && !p.shapeOnly[sl] {
					ok = false
					break
				}
			}
		}
		for _, sl := range st.out {
			if sl >= 0 && (isOut[sl] || p.init[sl] != nil) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		st.shape = true
		for _, sl := range st.out {
			if sl >= 0 {
				p.shapeOnly[sl] = true
			}
		}
	}
}

// planMemory records, for each step, the values whose last use it is: their slots are
// cleared and their buffers go back to the run's pool for later nodes. A value nobody
// reads dies right after the node that makes it. Graph outputs and constants live on.
func (p *graphPlan) planMemory(plans map[*ir.Graph]*graphPlan) {
	keep := make([]bool, len(p.names))
	for _, sl := range p.out {
		keep[sl] = true
	}
	for _, sl := range p.outerS {
		keep[sl] = true // owned by an enclosing scope
	}
	last := make([]int, len(p.names))
	for i := range last {
		last[i] = -1
	}
	for _, sl := range p.in {
		last[sl] = 0 // an unused input is dropped after the first step
	}
	for i, st := range p.steps {
		for _, sl := range st.out {
			if sl >= 0 {
				last[sl] = max(last[sl], i)
			}
		}
		for _, sl := range st.in {
			if sl >= 0 {
				last[sl] = i
			}
		}
		for _, sub := range st.node.Subgraphs() {
			if sp := plans[sub]; sp != nil {
				for _, name := range sp.outer {
					if sl, ok := p.slots[name]; ok {
						last[sl] = i
					}
				}
			}
		}
	}
	for i := range p.steps {
		p.steps[i].free = nil
	}
	for sl, i := range last {
		if i >= 0 && i < len(p.steps) && !keep[sl] && p.init[sl] == nil {
			p.steps[i].free = append(p.steps[i].free, sl)
		}
	}
	for i := range p.steps {
		f := p.steps[i].free
		sort.Slice(f, func(a, b int) bool { return p.names[f[a]] < p.names[f[b]] })
	}
}

// Inputs lists the graph inputs a caller must supply (those without an initializer).
func (s *Session) Inputs() []*ir.ValueInfo {
	var out []*ir.ValueInfo
	for _, v := range s.model.Graph.Inputs {
		if s.main.consts[v.Name] == nil {
			out = append(out, v)
		}
	}
	return out
}

// Outputs lists the graph outputs in order.
func (s *Session) Outputs() []*ir.ValueInfo { return s.model.Graph.Outputs }

// scope holds the values of one graph execution, by slot; a Loop or If body reads its
// parents' values through parent.
type scope struct {
	plan   *graphPlan
	vals   []*Tensor
	parent *scope
	placed [][]float32 // this run's placed Concat outputs, by group (allocated when first needed)
}

func (sc *scope) get(name string) (*Tensor, bool) {
	for s := sc; s != nil; s = s.parent {
		if i, ok := s.plan.slots[name]; ok && s.vals[i] != nil {
			return s.vals[i], true
		}
	}
	return nil, false
}

// Run executes the model on inputs (by graph input name) and returns its outputs by name.
// Initializers that are also graph inputs may be overridden. A cancelled ctx stops the
// run between two nodes with KindCancelled.
func (s *Session) Run(ctx context.Context, inputs map[string]*Tensor) (map[string]*Tensor, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if s.opts.Threads > 0 {
		prev := accel.SetMaxThreads(s.opts.Threads)
		defer accel.SetMaxThreads(prev)
	}
	for _, v := range s.Inputs() {
		t, ok := inputs[v.Name]
		if !ok {
			return nil, ir.Errorf(ir.KindInvalidArgument, "", "input %q is missing (the model needs %s)", v.Name, inputNames(s.Inputs()))
		}
		if err := checkInput(v, t); err != nil {
			return nil, err
		}
	}
	declared := map[string]bool{}
	for _, v := range s.model.Graph.Inputs {
		declared[v.Name] = true
	}
	for name := range inputs {
		if !declared[name] {
			return nil, ir.Errorf(ir.KindInvalidArgument, "", "the model has no input %q (inputs: %s)", name, inputNames(s.Inputs()))
		}
	}
	if s.prof != nil {
		s.prof.addRun()
	}
	a := s.takeArena()
	outs, err := s.runGraph(ctx, s.main, nil, inputs, a)
	if err != nil {
		outs = nil
	}
	s.returnArena(a, outs)
	if err != nil {
		return nil, err
	}
	res := map[string]*Tensor{}
	for i, o := range s.model.Graph.Outputs {
		t := outs[i]
		if s.main.init[s.main.out[i]] == t && t.DType != ir.String {
			// A constant output: hand out a copy, so the caller may change it.
			t = &Tensor{DType: t.DType, Shape: shapeOf(t), Data: copyData(t.Data)}
		}
		res[o.Name] = t
	}
	return res, nil
}

func inputNames(vs []*ir.ValueInfo) string {
	var names []string
	for _, v := range vs {
		names = append(names, v.Name)
	}
	return strings.Join(names, ", ")
}

// checkInput compares a supplied value with the graph's declared type and fixed dims
// (dim_value ≥ 0; a negative one is free, as in onnxruntime).
func checkInput(v *ir.ValueInfo, t *Tensor) error {
	if v.Type == nil || v.Type.Kind != ir.TypeTensor {
		return nil
	}
	if v.Type.ElemType != ir.Undefined && v.Type.ElemType != t.DType {
		return ir.Errorf(ir.KindInvalidArgument, "", "input %q: the model expects %v, got %v", v.Name, v.Type.ElemType, t.DType)
	}
	if sh := v.Type.Shape; sh != nil {
		if len(sh.Dims) != len(t.Shape) {
			return ir.Errorf(ir.KindInvalidArgument, "", "input %q: the model expects rank %d, got shape %v", v.Name, len(sh.Dims), t.Shape)
		}
		for i, d := range sh.Dims {
			// A negative dim_value (exporters write -1) is a free dimension, as
			// onnxruntime takes it; 0 is a fixed size of zero, as there.
			if d.HasValue && d.Value >= 0 && d.Value != int64(t.Shape[i]) {
				return ir.Errorf(ir.KindInvalidArgument, "", "input %q: dimension %d must be %d, got shape %v", v.Name, i, d.Value, t.Shape)
			}
		}
	}
	return nil
}

// runGraph executes one graph: the main graph, or a subgraph with its parent scope.
// inputs binds the graph's inputs by name. It returns the graph outputs in order. a is
// the run's buffer pool (nil inside subgraphs, whose values may be carried from one
// iteration to the next and so are left to the garbage collector).
func (s *Session) runGraph(ctx context.Context, p *graphPlan, parent *scope, inputs map[string]*Tensor, a *arena) ([]*Tensor, error) {
	sc := &scope{plan: p, vals: make([]*Tensor, len(p.names)), parent: parent}
	copy(sc.vals, p.init)
	for k, v := range inputs {
		if i, ok := p.slots[k]; ok {
			sc.vals[i] = v
		}
	}
	for i, name := range p.outer {
		if parent != nil {
			if v, ok := parent.get(name); ok {
				sc.vals[p.outerS[i]] = v
			}
		}
	}
	c := &opContext{opset: s.opset, sess: s, scope: sc, ctx: ctx, arena: a, plan: p}
	// Shape-only values: replayed from the cache for input shapes seen before, or
	// recorded during this run.
	var key string
	var cached, record []*Tensor
	if p.shapeOnly != nil {
		key = shapeKey(p, sc.vals)
		s.shapeMu.Lock()
		cached = s.shapeVals[key]
		s.shapeMu.Unlock()
		if cached == nil {
			record = make([]*Tensor, len(p.names))
		}
		for sl, v := range cached {
			if v != nil {
				sc.vals[sl] = v
			}
		}
	}
	var in []*Tensor
	// The kernels run in cgo calls back to back; the pacer keeps this goroutine passing
	// through the scheduler (see accel.Pacer). A subgraph's first step does not yield:
	// a loop body runs once per iteration.
	var pace accel.Pacer
	if p != s.main {
		pace.Skip()
	}
	for i := range p.steps {
		st := &p.steps[i]
		n := st.node
		pace.Tick()
		if err := ctx.Err(); err != nil {
			return nil, &ir.Error{Kind: ir.KindCancelled, Err: err}
		}
		if st.shape && cached != nil {
			for _, sl := range st.free {
				a.release(sc.vals[sl])
				sc.vals[sl] = nil
			}
			continue
		}
		in = in[:0]
		for j, sl := range st.in {
			var v *Tensor
			if sl >= 0 {
				if v = sc.vals[sl]; v == nil {
					return nil, nodeErr(n, ir.Errorf(ir.KindCorrupt, "", "input %q is not produced by any node, input or initializer", n.Inputs[j]))
				}
			}
			in = append(in, v)
		}
		c.node, c.step, c.dest = n, st, nil
		var t0 time.Time
		if s.prof != nil && p == s.main {
			t0 = time.Now()
		}
		if st.into != nil && a != nil {
			c.dest = sc.placedSlice(c, st.into)
		}
		outs, err := s.exec(c, *st, in)
		if err != nil {
			return nil, err
		}
		if c.dest != nil && len(outs) == 1 && outs[0] != nil {
			outs[0] = place(outs[0], c.dest)
		}
		if s.prof != nil && p == s.main {
			s.prof.add(i, time.Since(t0))
		}
		for j, sl := range st.out {
			if sl < 0 {
				continue
			}
			if j >= len(outs) || outs[j] == nil {
				return nil, nodeErr(n, ir.Errorf(ir.KindUnsupported, "", "output %d (%q) is not computed by the runtime", j, n.Outputs[j]))
			}
			sc.vals[sl] = outs[j]
			a.acquire(outs[j])
			if record != nil && st.shape && outs[j].DType != ir.String {
				// A copy: the value may sit in a pooled buffer that later nodes reuse.
				record[sl] = &Tensor{DType: outs[j].DType, Shape: shapeOf(outs[j]), Data: copyData(outs[j].Data)}
			}
		}
		a.settle()
		for _, sl := range st.free {
			a.release(sc.vals[sl])
			sc.vals[sl] = nil
		}
	}
	res := make([]*Tensor, len(p.out))
	for i, sl := range p.out {
		v := sc.vals[sl]
		if v == nil {
			return nil, ir.Errorf(ir.KindCorrupt, "", "graph output %q is never computed", p.g.Outputs[i].Name)
		}
		res[i] = v
	}
	if record != nil {
		s.shapeMu.Lock()
		if s.shapeVals == nil || len(s.shapeVals) >= 16 { // a bound for models fed ever-new shapes
			s.shapeVals = map[string][]*Tensor{}
		}
		s.shapeVals[key] = record
		s.shapeMu.Unlock()
	}
	return res, nil
}

// shapeKey identifies the dtypes and shapes of a run's graph inputs.
func shapeKey(p *graphPlan, vals []*Tensor) string {
	b := make([]byte, 0, 64)
	for _, sl := range p.in {
		if v := vals[sl]; v != nil {
			b = strconv.AppendInt(b, int64(v.DType), 10)
			for _, d := range v.Shape {
				b = append(b, ',')
				b = strconv.AppendInt(b, int64(d), 10)
			}
		}
		b = append(b, ';')
	}
	return string(b)
}

// exec runs one kernel, turning a panic into an internal error that names the node, and
// rounds 16-bit float results to their precision.
func (s *Session) exec(c *opContext, st step, in []*Tensor) (outs []*Tensor, err error) {
	n := st.node
	defer func() {
		if r := recover(); r != nil {
			outs, err = nil, nodeErr(n, ir.Errorf(ir.KindInternal, "", "kernel panic: %v", r))
		}
	}()
	outs, err = st.run(c, in)
	if err != nil {
		return nil, nodeErr(n, err)
	}
	for _, o := range outs {
		if o != nil && (o.DType == ir.Float16 || o.DType == ir.BFloat16) {
			roundTo16(o.DType, o.Data.([]float32))
		}
	}
	return outs, nil
}

func nodeErr(n *ir.Node, err error) error {
	where := fmt.Sprintf("node %q (%s)", n.Name, n.OpType)
	if e, ok := err.(*ir.Error); ok {
		if e.Where == "" {
			e.Where = where
		}
		return e
	}
	return &ir.Error{Kind: ir.KindInvalidArgument, Where: where, Err: err}
}

// opContext is what a kernel sees besides its inputs: the node (attributes), the opset,
// and the session and scope for ops with subgraphs.
type opContext struct {
	node  *ir.Node
	opset int64
	sess  *Session
	scope *scope
	ctx   context.Context
	arena *arena // the run's buffer pool; nil while folding and inside subgraphs
	plan  *graphPlan
	step  *step
	dest  []float32 // the step's slice of a placed Concat output (see outputF32); nil: none
}

// inputFixed reports whether input i holds the same value in every run (an
// initializer no caller can override, or a folded value): kernels may cache what they
// derive from it.
func (c *opContext) inputFixed(i int) bool {
	return c.plan != nil && c.step != nil && i < len(c.step.in) && c.step.in[i] >= 0 && c.plan.fixed[c.step.in[i]]
}

func (c *opContext) attrInt(name string, def int64) int64 {
	if a := c.node.Attr(name); a != nil {
		return a.Int
	}
	return def
}

func (c *opContext) attrFloat(name string, def float32) float32 {
	if a := c.node.Attr(name); a != nil {
		return a.Float
	}
	return def
}

func (c *opContext) attrString(name, def string) string {
	if a := c.node.Attr(name); a != nil {
		return string(a.String)
	}
	return def
}

func (c *opContext) attrInts(name string) ([]int, bool) {
	a := c.node.Attr(name)
	if a == nil {
		return nil, false
	}
	out := make([]int, len(a.Ints))
	for i, v := range a.Ints {
		out[i] = int(v)
	}
	return out, true
}

func (c *opContext) attrFloats(name string) ([]float32, bool) {
	a := c.node.Attr(name)
	if a == nil {
		return nil, false
	}
	return a.Floats, true
}

func (c *opContext) has(name string) bool { return c.node.Attr(name) != nil }

// errf is a bad-input error (shapes or values the op cannot take).
func errf(format string, args ...any) error {
	return ir.Errorf(ir.KindInvalidArgument, "", format, args...)
}

// unsupported is an error for a valid setting the runtime does not implement.
func unsupported(format string, args ...any) error {
	return ir.Errorf(ir.KindUnsupported, "", format, args...)
}

// need checks the number of present inputs.
func need(in []*Tensor, n int) error {
	if len(in) < n {
		return errf("needs %d inputs, has %d", n, len(in))
	}
	for i := 0; i < n; i++ {
		if in[i] == nil {
			return errf("input %d is required", i)
		}
	}
	return nil
}

// opt returns input i or nil when it is absent.
func opt(in []*Tensor, i int) *Tensor {
	if i < len(in) {
		return in[i]
	}
	return nil
}

func one(t *Tensor) ([]*Tensor, error) { return []*Tensor{t}, nil }

// axis normalises a possibly negative axis against rank r.
func normAxis(a, r int) (int, error) {
	if a < -r || a >= r && !(r == 0 && a == 0) {
		return 0, errf("axis %d out of range for rank %d", a, r)
	}
	if a < 0 {
		a += r
	}
	return a, nil
}

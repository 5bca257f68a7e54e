package runtime

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/modelc/modelc/engine/ir"
)

// Profile is what a session made with Options.Profile measured over its runs: the
// wall time of every step of the main graph, as onnxruntime's enable_profiling gives it
// per node. A fused step (a Conv with its BatchNormalization and activation, an
// attention block) is one entry that names every node it computes. The time of an
// If/Loop/Scan includes its subgraphs'.
type Profile struct {
	Runs  int           // Session.Run calls measured
	Total time.Duration // the sum of every step's time
	Nodes []NodeTime    // per step, longest total first
	Ops   []OpTime      // per Op (op type or fused form), longest total first
}

// NodeTime is one step's share of a Profile.
type NodeTime struct {
	Name  string   // the step's node (for a fused step, the node it replaced in place)
	Op    string   // the op type, or what a fused step computes ("Conv+BatchNormalization+Relu", "Attention")
	Nodes []string // every node the step computes, in graph order
	Calls int      // times it ran (a step computing only shapes runs once per input shape)
	Time  time.Duration
	Share float64 // of Profile.Total, in [0, 1]
}

// OpTime sums the steps of one Op.
type OpTime struct {
	Op    string
	Steps int // steps of this Op in the graph that ran
	Calls int
	Time  time.Duration
	Share float64
}

// profiler accumulates the step times of the main graph; nil when profiling is off, so
// runGraph pays one nil check per step.
type profiler struct {
	mu    sync.Mutex
	runs  int
	times []time.Duration // per step of the main plan
	calls []int
	op    []string   // per step: NodeTime.Op
	nodes [][]string // per step: NodeTime.Nodes
}

// newProfiler labels the steps of a compiled plan. unfused are the plan's steps before
// the fusions ran; fused, after. A fusion keeps one of its steps (with its node) and
// drops the others, whose values are then computed inside the kept step: walking back
// from a kept step's outputs through the producers that were dropped, up to the kept
// step's own inputs, finds them without each fusion having to say what it took.
func newProfiler(unfused, fused []step) *profiler {
	producer := map[int]int{} // slot → index in unfused
	for i, st := range unfused {
		for _, sl := range st.out {
			if sl >= 0 {
				producer[sl] = i
			}
		}
	}
	kept := map[*ir.Node]bool{}
	for _, st := range fused {
		kept[st.node] = true
	}
	claimed := make([]bool, len(unfused))
	pr := &profiler{times: make([]time.Duration, len(fused)), calls: make([]int, len(fused)),
		op: make([]string, len(fused)), nodes: make([][]string, len(fused))}
	for k, st := range fused {
		ins := map[int]bool{}
		for _, sl := range st.in {
			ins[sl] = true
		}
		var taken []int
		todo := append([]int(nil), st.out...)
		for len(todo) > 0 {
			sl := todo[len(todo)-1]
			todo = todo[:len(todo)-1]
			i, ok := producer[sl]
			if !ok || ins[sl] || claimed[i] || (unfused[i].node != st.node && kept[unfused[i].node]) {
				continue
			}
			claimed[i] = true
			taken = append(taken, i)
			todo = append(todo, unfused[i].in...)
		}
		sort.Ints(taken)
		var ops []string
		for _, i := range taken {
			pr.nodes[k] = append(pr.nodes[k], unfused[i].node.Name)
			ops = append(ops, unfused[i].node.OpType)
		}
		switch {
		case st.kind != "":
			pr.op[k] = st.kind
		case len(ops) > 1:
			pr.op[k] = strings.Join(ops, "+")
		default:
			pr.op[k] = st.node.OpType
		}
		if len(pr.nodes[k]) == 0 { // a step whose outputs are all omitted
			pr.nodes[k] = []string{st.node.Name}
		}
	}
	return pr
}

func (pr *profiler) add(step int, d time.Duration) {
	pr.mu.Lock()
	pr.times[step] += d
	pr.calls[step]++
	pr.mu.Unlock()
}

func (pr *profiler) addRun() {
	pr.mu.Lock()
	pr.runs++
	pr.mu.Unlock()
}

// Profile returns the step times accumulated since the session was made or
// ResetProfile was called, and ok false when the session was made without
// Options.Profile.
func (s *Session) Profile() (p Profile, ok bool) {
	pr := s.prof
	if pr == nil {
		return Profile{}, false
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	p.Runs = pr.runs
	byOp := map[string]*OpTime{}
	for i, d := range pr.times {
		if pr.calls[i] == 0 {
			continue
		}
		p.Total += d
		p.Nodes = append(p.Nodes, NodeTime{Name: s.main.steps[i].node.Name, Op: pr.op[i],
			Nodes: append([]string(nil), pr.nodes[i]...), Calls: pr.calls[i], Time: d})
		o := byOp[pr.op[i]]
		if o == nil {
			o = &OpTime{Op: pr.op[i]}
			byOp[pr.op[i]] = o
		}
		o.Steps++
		o.Calls += pr.calls[i]
		o.Time += d
	}
	for _, o := range byOp {
		p.Ops = append(p.Ops, *o)
	}
	share := func(d time.Duration) float64 {
		if p.Total <= 0 {
			return 0
		}
		return float64(d) / float64(p.Total)
	}
	for i := range p.Nodes {
		p.Nodes[i].Share = share(p.Nodes[i].Time)
	}
	for i := range p.Ops {
		p.Ops[i].Share = share(p.Ops[i].Time)
	}
	// Longest first; ties by name, so the order does not depend on map iteration.
	sort.SliceStable(p.Nodes, func(a, b int) bool { return p.Nodes[a].Time > p.Nodes[b].Time })
	sort.Slice(p.Ops, func(a, b int) bool {
		if p.Ops[a].Time != p.Ops[b].Time {
			return p.Ops[a].Time > p.Ops[b].Time
		}
		return p.Ops[a].Op < p.Ops[b].Op
	})
	return p, true
}

// ResetProfile clears the accumulated times, e.g. after warm-up runs.
func (s *Session) ResetProfile() {
	pr := s.prof
	if pr == nil {
		return
	}
	pr.mu.Lock()
	pr.runs = 0
	clear(pr.times)
	clear(pr.calls)
	pr.mu.Unlock()
}

package runtime

import (
	"github.com/modelc/modelc/engine/ir"
)

// Control flow: If and Loop run their subgraphs (compiled with the session, so their
// memory plans are ready) in a scope whose parent is the node's own, which is how a
// body reads values of the enclosing graph. Tensor values only: sequence-typed loop
// outputs are not supported.

func init() {
	register(opIf, "If")
	register(opLoop, "Loop")
}

func (c *opContext) subgraph(name string) (*graphPlan, error) {
	a := c.node.Attr(name)
	if a == nil || a.Graph == nil {
		return nil, errf("attribute %q (a graph) is missing", name)
	}
	p := c.sess.plans[a.Graph]
	if p == nil {
		return nil, ir.Errorf(ir.KindInternal, "", "subgraph %q was not compiled", name)
	}
	return p, nil
}

func opIf(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	cond := float64s(in[0])
	if len(cond) != 1 {
		return nil, errf("condition must hold one value, has %d", len(cond))
	}
	branch := "else_branch"
	if cond[0] != 0 {
		branch = "then_branch"
	}
	p, err := c.subgraph(branch)
	if err != nil {
		return nil, err
	}
	return c.sess.runGraph(c.ctx, p, c.scope, nil, nil)
}

// opLoop runs the body while the trip count and the condition allow. Body inputs are
// (iteration, condition, carried...), outputs (condition, carried..., scan outputs...);
// scan outputs are stacked along a new first axis.
func opLoop(c *opContext, in []*Tensor) ([]*Tensor, error) {
	p, err := c.subgraph("body")
	if err != nil {
		return nil, err
	}
	body := p.g
	nCarried := len(in) - 2
	if nCarried < 0 || len(body.Inputs) != nCarried+2 || len(body.Outputs) < nCarried+1 {
		return nil, errf("the body's inputs and outputs do not match the loop's %d carried values", nCarried)
	}
	maxTrips := int64(-1)
	if t := opt(in, 0); t != nil {
		maxTrips = int64s(t)[0]
	}
	cond := true
	if t := opt(in, 1); t != nil {
		cond = float64s(t)[0] != 0
	}
	carried := append([]*Tensor{}, in[2:]...)
	nScan := len(body.Outputs) - 1 - nCarried
	scans := make([][]*Tensor, nScan)
	for it := int64(0); (maxTrips < 0 || it < maxTrips) && cond; it++ {
		if err := c.ctx.Err(); err != nil {
			return nil, &ir.Error{Kind: ir.KindCancelled, Err: err}
		}
		binds := map[string]*Tensor{
			body.Inputs[0].Name: {DType: ir.Int64, Shape: []int{}, Data: []int64{it}},
			body.Inputs[1].Name: {DType: ir.Bool, Shape: []int{}, Data: []bool{cond}},
		}
		for i, v := range carried {
			if v == nil {
				return nil, unsupported("optional loop-carried values")
			}
			binds[body.Inputs[2+i].Name] = v
		}
		outs, err := c.sess.runGraph(c.ctx, p, c.scope, binds, nil)
		if err != nil {
			return nil, err
		}
		cond = float64s(outs[0])[0] != 0
		copy(carried, outs[1:1+nCarried])
		for k := 0; k < nScan; k++ {
			scans[k] = append(scans[k], outs[1+nCarried+k])
		}
	}
	res := append([]*Tensor{}, carried...)
	for k := 0; k < nScan; k++ {
		if len(scans[k]) == 0 {
			// No iteration ran: an empty stack of the declared element type.
			dt := ir.Float32
			if t := body.Outputs[1+nCarried+k].Type; t != nil && t.ElemType != ir.Undefined {
				dt = t.ElemType
			}
			res = append(res, newTensor(dt, []int{0}))
			continue
		}
		parts := make([]*Tensor, len(scans[k]))
		for i, s := range scans[k] {
			parts[i] = view(s, append([]int{1}, s.Shape...))
		}
		t, err := concat(parts, 0)
		if err != nil {
			return nil, errf("scan output %d changes shape between iterations: %v", k, err)
		}
		res = append(res, t)
	}
	return res, nil
}

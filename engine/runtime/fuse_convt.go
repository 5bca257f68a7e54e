package runtime

import "github.com/modelc/modelc/engine/ir"

// Load-time fusion of ConvTranspose with the activations that read it alone (a
// decoder's or a detection head's ConvTranspose → Relu, ConvTranspose → Sigmoid). The
// bias and the activations run as one epilogue over each image's output while it is
// in cache, where the unfused graph makes a bias pass and then one more op, with its
// own pass and buffer, per activation. The results are the same bits: the epilogue
// uses the kernels the ops use (accel.BiasAct's Relu, Clip and HardSigmoid, sigmoid32).

// convTFusion is what the fused kernel carries: the epilogue and the original steps,
// for the fallback.
type convTFusion struct {
	stages []epStage
	orig   []step
}

// fuseConvTranspose folds into each float32 ConvTranspose the chain of Relu, Clip,
// HardSigmoid and Sigmoid nodes that follows it, each the only reader of the value
// before it.
func (s *Session) fuseConvTranspose(p *graphPlan) {
	if !fastPaths {
		return
	}
	uses, reader := p.readers(s)
	f32 := func(sl int) []float32 { // Clip's bounds, when constant
		if sl < 0 || !p.fixed[sl] || p.init[sl] == nil || p.init[sl].DType != ir.Float32 {
			return nil
		}
		v, _ := p.init[sl].Data.([]float32)
		return v
	}
	drop := make([]bool, len(p.steps))
	for i := range p.steps {
		st := &p.steps[i]
		if st.node.OpType != "ConvTranspose" || drop[i] || len(st.in) < 2 || len(st.out) != 1 || st.out[0] < 0 ||
			st.in[0] < 0 || p.types[st.in[0]].dtype != ir.Float32 {
			continue
		}
		fu := &convTFusion{orig: []step{*st}}
		taken, cur := s.epilogueChain(p, st.out[0], i, drop, uses, reader, 3, nil, func(nx *step) bool {
			// The channel count is not needed: the stages taken here have no
			// per-channel parameters (a BatchNormalization's would).
			stage, ok := s.fusableStage(p, nx, -1, f32)
			if !ok || (stage.kind != 'r' && stage.kind != 'c' && stage.kind != 's' && stage.kind != 'g') {
				return false
			}
			fu.stages = append(fu.stages, stage)
			return true
		})
		fu.orig = append(fu.orig, taken...)
		if len(fu.stages) == 0 {
			continue
		}
		st.out = []int{cur}
		st.run = fu.kernel
	}
	p.removeSteps(drop)
}

// kernel runs the ConvTranspose with its epilogue on float32 input, or the original
// nodes in turn otherwise.
func (fu *convTFusion) kernel(c *opContext, in []*Tensor) ([]*Tensor, error) {
	if x := opt(in, 0); x != nil && x.DType == ir.Float32 && fastPaths {
		if _, ok := x.Data.([]float32); ok {
			return convTransposeRun(c, in, fu.stages)
		}
	}
	return runOriginal(c, fu.orig, in)
}

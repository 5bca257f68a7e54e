package train

import (
	"fmt"
	"math"

	"github.com/modelc/modelc/accel"
)

// Optimizer settings.
type Optim struct {
	Name        string  // "adam" (default) or "sgd"
	LR          float64 // learning rate
	Momentum    float64 // SGD momentum (torch's form: v = μv + g; w -= lr·v)
	WeightDecay float64 // L2 added to the gradient (torch's weight_decay), masks kept
	Beta1       float64 // Adam, default 0.9
	Beta2       float64 // Adam, default 0.999
	Eps         float64 // Adam, default 1e-8
	// Schedule: "constant" (default) or "cosine" (from LR down to 0 over Steps).
	Schedule string
	Steps    int
}

type optimizer struct {
	o    Optim
	t    int
	m, v [][]float64
}

func newOptimizer(o Optim, n *Net) (*optimizer, error) {
	switch o.Name {
	case "":
		o.Name = "adam"
	case "adam", "sgd":
	default:
		return nil, fmt.Errorf("optimizer %q is not one of adam, sgd", o.Name)
	}
	switch o.Schedule {
	case "", "constant", "cosine":
	default:
		return nil, fmt.Errorf("schedule %q is not one of constant, cosine", o.Schedule)
	}
	if o.Beta1 == 0 {
		o.Beta1 = 0.9
	}
	if o.Beta2 == 0 {
		o.Beta2 = 0.999
	}
	if o.Eps == 0 {
		o.Eps = 1e-8
	}
	op := &optimizer{o: o}
	for _, p := range n.Params {
		op.m = append(op.m, make([]float64, p.Value.Len()))
		op.v = append(op.v, make([]float64, p.Value.Len()))
	}
	return op, nil
}

// lr is the learning rate of the current step.
func (op *optimizer) lr() float64 {
	if op.o.Schedule == "cosine" && op.o.Steps > 0 {
		return op.o.LR * 0.5 * (1 + math.Cos(math.Pi*float64(min(op.t, op.o.Steps))/float64(op.o.Steps)))
	}
	return op.o.LR
}

// step updates the parameters from their gradients, then zeroes masked positions. The
// update is element-wise, split over threads in fixed pieces (the same bits at any thread
// count).
func (op *optimizer) step(n *Net) {
	lr := op.lr()
	op.t++
	o := op.o
	// Adam as torch writes it: w −= (lr/(1−β1ᵗ))·m / (√v/√(1−β2ᵗ) + ε).
	stepSize := lr / (1 - math.Pow(o.Beta1, float64(op.t)))
	invSqrtB2c := 1 / math.Sqrt(1-math.Pow(o.Beta2, float64(op.t)))
	first := op.t == 1
	for pi, p := range n.Params {
		if p.Frozen {
			continue
		}
		w, g, m, v := p.Value.D, p.Grad.D, op.m[pi], op.v[pi]
		accel.ParallelFor(len(w), elemsPerTask, func(lo, hi int) {
			w, g, m, v := w[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi]
			if o.Name == "sgd" {
				for i := range w {
					gi := g[i] + o.WeightDecay*w[i]
					if o.Momentum != 0 {
						if first {
							m[i] = gi
						} else {
							m[i] = o.Momentum*m[i] + gi
						}
						gi = m[i]
					}
					w[i] -= lr * gi
				}
				return
			}
			for i := range w {
				gi := g[i] + o.WeightDecay*w[i]
				m[i] = o.Beta1*m[i] + (1-o.Beta1)*gi
				v[i] = o.Beta2*v[i] + (1-o.Beta2)*gi*gi
				w[i] -= stepSize * m[i] / (math.Sqrt(v[i])*invSqrtB2c + o.Eps)
			}
		})
		for i, masked := range p.Mask {
			if masked {
				w[i] = 0
			}
		}
	}
}

package train

import (
	"fmt"
	"math"
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

// step updates the parameters from their gradients, then zeroes masked positions.
func (op *optimizer) step(n *Net) {
	lr := op.lr()
	op.t++
	b1c := 1 - math.Pow(op.o.Beta1, float64(op.t))
	b2c := 1 - math.Pow(op.o.Beta2, float64(op.t))
	for pi, p := range n.Params {
		if p.Frozen {
			continue
		}
		w, g, m, v := p.Value.D, p.Grad.D, op.m[pi], op.v[pi]
		for i := range w {
			gi := g[i] + op.o.WeightDecay*w[i]
			if op.o.Name == "sgd" {
				if op.o.Momentum != 0 {
					if op.t == 1 {
						m[i] = gi
					} else {
						m[i] = op.o.Momentum*m[i] + gi
					}
					gi = m[i]
				}
				w[i] -= lr * gi
				continue
			}
			m[i] = op.o.Beta1*m[i] + (1-op.o.Beta1)*gi
			v[i] = op.o.Beta2*v[i] + (1-op.o.Beta2)*gi*gi
			w[i] -= lr * (m[i] / b1c) / (math.Sqrt(v[i]/b2c) + op.o.Eps)
		}
		for i, masked := range p.Mask {
			if masked {
				w[i] = 0
			}
		}
	}
}

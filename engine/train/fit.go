package train

import (
	"context"
	"fmt"
	"math/rand"
)

// Data is what a student learns from: inputs keyed by graph input name, all with the
// same first dimension N; the teacher's logits [N, K] (nil: labels only); labels (nil:
// none); and teacher features for feature matching, keyed by the student tensor they
// are matched with.
type Data struct {
	Inputs   map[string]*T
	Teacher  *T
	Labels   []int64
	Features map[string]*T
}

// N is the number of samples.
func (d *Data) N() int {
	for _, v := range d.Inputs {
		return v.Shape[0]
	}
	return 0
}

// Batch returns the samples idx of d.
func (d *Data) Batch(idx []int) *Data { return d.batch(idx) }

func (d *Data) batch(idx []int) *Data {
	b := &Data{Inputs: map[string]*T{}, Features: map[string]*T{}}
	for k, v := range d.Inputs {
		b.Inputs[k] = v.rows(idx)
	}
	if d.Teacher != nil {
		b.Teacher = d.Teacher.rows(idx)
	}
	for k, v := range d.Features {
		b.Features[k] = v.rows(idx)
	}
	if d.Labels != nil {
		for _, i := range idx {
			b.Labels = append(b.Labels, d.Labels[i])
		}
	}
	return b
}

// Config is a training run.
type Config struct {
	Epochs    int
	BatchSize int
	Optim     Optim
	// Temperature and Alpha weigh the loss: Alpha·KD·T² + (1−Alpha)·CE (CE with labels;
	// without a teacher the loss is CE alone, without labels KD alone).
	Temperature float64
	Alpha       float64
	// HoldOut is the fraction of the samples kept out of training to choose the best
	// epoch (early stopping); 0: none, every epoch is kept.
	HoldOut float64
	// Patience stops after this many epochs without a better held-out score (0: never).
	Patience int
	Seed     int64
	// Output names the student output the logits are read from ("" = the first).
	Output string
}

// Epoch is what one epoch did.
type Epoch struct {
	Epoch     int     `json:"epoch"`
	Loss      float64 `json:"loss"`               // mean training loss
	HeldLoss  float64 `json:"held_out_loss"`      // held-out loss (0 without a held-out split)
	Agreement float64 `json:"held_out_agreement"` // held-out argmax agreement with the teacher
	Accuracy  float64 `json:"held_out_accuracy"`  // held-out accuracy (with labels)
	Best      bool    `json:"best"`               // the parameters of this epoch were kept
	Seconds   float64 `json:"seconds,omitempty"`  // wall time of the epoch's training
	Samples   int     `json:"samples,omitempty"`  // training samples seen
	LR        float64 `json:"learning_rate"`      // learning rate at the epoch's end
	Stopped   string  `json:"stopped,omitempty"`  // why training ended after this epoch
}

// Fit trains n on d. progress (may be nil) is called after every epoch; an error from it
// stops training and is returned. The parameters
// end as those of the best epoch by held-out loss (the last epoch without a held-out
// split). A cancelled context stops between batches with ctx.Err().
func Fit(ctx context.Context, n *Net, d *Data, cfg Config, progress func(Epoch) error) ([]Epoch, error) {
	if cfg.Epochs <= 0 {
		return nil, fmt.Errorf("epochs must be positive")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 32
	}
	if cfg.Temperature <= 0 {
		cfg.Temperature = 1
	}
	if d.Teacher == nil && d.Labels == nil {
		return nil, fmt.Errorf("nothing to learn from: give a teacher or labels")
	}
	total := d.N()
	rng := rand.New(rand.NewSource(cfg.Seed))
	order := rng.Perm(total)
	held := heldCount(total, cfg.HoldOut)
	if held >= total {
		return nil, fmt.Errorf("the held-out fraction leaves no training data")
	}
	trainIdx, heldIdx := order[held:], order[:held]
	steps := cfg.Epochs * ((len(trainIdx) + cfg.BatchSize - 1) / cfg.BatchSize)
	o := cfg.Optim
	o.Steps = steps
	opt, err := newOptimizer(o, n)
	if err != nil {
		return nil, err
	}
	var heldData *Data
	if held > 0 {
		heldData = d.batch(heldIdx)
	}
	var hist []Epoch
	var best [][]float64
	bestLoss, since := 0.0, 0
	for ep := 1; ep <= cfg.Epochs; ep++ {
		start := nowSeconds()
		rng.Shuffle(len(trainIdx), func(i, j int) { trainIdx[i], trainIdx[j] = trainIdx[j], trainIdx[i] })
		sum := 0.0
		n.Train = true
		for b := 0; b < len(trainIdx); b += cfg.BatchSize {
			if err := ctx.Err(); err != nil {
				return hist, err
			}
			idx := trainIdx[b:min(b+cfg.BatchSize, len(trainIdx))]
			bd := d.batch(idx)
			n.ZeroGrad()
			loss, tp, err := n.step(bd, cfg, true)
			if err != nil {
				return hist, err
			}
			tp.Release()
			opt.step(n)
			sum += loss * float64(len(idx))
		}
		n.Train = false
		e := Epoch{Epoch: ep, Loss: sum / float64(len(trainIdx)), Seconds: nowSeconds() - start, Samples: len(trainIdx), LR: opt.lr()}
		if heldData != nil {
			hl, agree, acc, err := n.Evaluate(heldData, cfg)
			if err != nil {
				return hist, err
			}
			e.HeldLoss, e.Agreement, e.Accuracy = hl, agree, acc
			if best == nil || hl < bestLoss {
				best, bestLoss, since, e.Best = n.Snapshot(), hl, 0, true
			} else {
				since++
			}
		} else {
			e.Best = true
		}
		if cfg.Patience > 0 && since >= cfg.Patience && ep < cfg.Epochs {
			e.Stopped = fmt.Sprintf("no better held-out loss for %d epochs", since)
		}
		hist = append(hist, e)
		if progress != nil {
			if err := progress(e); err != nil {
				return hist, err
			}
		}
		if e.Stopped != "" {
			break
		}
	}
	if best != nil {
		n.Restore(best)
	}
	return hist, nil
}

// step runs one batch forward, computes the loss and, with backward, the gradients.
func (n *Net) step(d *Data, cfg Config, backward bool) (float64, *Tape, error) {
	tp, err := n.Forward(d.Inputs)
	if err != nil {
		return 0, nil, err
	}
	out := cfg.Output
	if out == "" {
		out = n.Model.Graph.Outputs[0].Name
	}
	logits := tp.Values[out]
	if logits == nil {
		return 0, nil, fmt.Errorf("the student has no output %q", out)
	}
	loss, grad := n.loss(logits, d, cfg)
	seed := map[string]*T{out: grad}
	for name, want := range d.Features {
		got := tp.Values[name]
		if got == nil || got.Len() != want.Len() {
			return 0, nil, fmt.Errorf("feature %q: the student's tensor does not match the teacher's %v", name, want.Shape)
		}
		l, g := MSE(got, want)
		loss += l
		if have := seed[name]; have != nil {
			addInto(have.D, g.D)
		} else {
			seed[name] = g
		}
	}
	if backward {
		if err := tp.Backward(seed); err != nil {
			return 0, nil, err
		}
	}
	return loss, tp, nil
}

func (n *Net) loss(logits *T, d *Data, cfg Config) (float64, *T) {
	switch {
	case d.Teacher == nil:
		return CE(logits, d.Labels)
	case d.Labels == nil:
		return KD(logits, d.Teacher, cfg.Temperature)
	}
	kl, gk := KD(logits, d.Teacher, cfg.Temperature)
	ce, gc := CE(logits, d.Labels)
	a := cfg.Alpha
	g := scaled(gk, a)
	addInto(g.D, scaled(gc, 1-a).D)
	return a*kl + (1-a)*ce, g
}

// Evaluate returns the loss on d, the argmax agreement with the teacher (0 without one)
// and the accuracy (0 without labels), in evaluation mode.
func (n *Net) Evaluate(d *Data, cfg Config) (loss, agreement, accuracy float64, err error) {
	train := n.Train
	n.Train = false
	defer func() { n.Train = train }()
	bs := max(cfg.BatchSize, 256)
	total := d.N()
	agree, correct := 0, 0
	for b := 0; b < total; b += bs {
		idx := make([]int, 0, bs)
		for i := b; i < min(b+bs, total); i++ {
			idx = append(idx, i)
		}
		bd := d.batch(idx)
		l, tp, err := n.step(bd, cfg, false)
		if err != nil {
			return 0, 0, 0, err
		}
		loss += l * float64(len(idx))
		out := cfg.Output
		if out == "" {
			out = n.Model.Graph.Outputs[0].Name
		}
		// The tape is not released: evaluation batches are larger than training ones,
		// and their buffers are better returned to the garbage collector than kept.
		pred := argmax(tp.Values[out])
		var tpred []int
		if bd.Teacher != nil {
			tpred = argmax(bd.Teacher)
		}
		for i, p := range pred {
			if tpred != nil && p == tpred[i] {
				agree++
			}
			if bd.Labels != nil && int64(p) == bd.Labels[i] {
				correct++
			}
		}
	}
	f := float64(total)
	return loss / f, float64(agree) / f, float64(correct) / f, nil
}

func heldCount(total int, frac float64) int { return int(float64(total) * frac) }

// HeldOutIndices are the samples Fit keeps out of training for the same total, fraction
// and seed.
func HeldOutIndices(total int, frac float64, seed int64) []int {
	order := rand.New(rand.NewSource(seed)).Perm(total)
	return append([]int(nil), order[:heldCount(total, frac)]...)
}

package engine

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/modelc/modelc/engine/ir"
	"github.com/modelc/modelc/engine/runtime"
	"github.com/modelc/modelc/engine/train"
)

// TrainOptions are the training settings that distill and compress --recover share.
type TrainOptions struct {
	// Data: an .npz of model inputs keyed by graph input name (one array for a one-input
	// model may have any name), the first dimension the samples.
	Data string `json:"data,omitempty"`
	// Epochs over the data (default 10).
	Epochs int `json:"epochs,omitempty"`
	// BatchSize samples per step (default 32).
	BatchSize int `json:"batch_size,omitempty"`
	// LR is the learning rate (default 0.003 for adam, 0.01 for sgd).
	LR float64 `json:"lr,omitempty"`
	// Optimizer: adam (default) or sgd (with Momentum).
	Optimizer string  `json:"optimizer,omitempty"`
	Momentum  float64 `json:"momentum,omitempty"`
	// WeightDecay is an L2 term added to the gradient (torch's weight_decay).
	WeightDecay float64 `json:"weight_decay,omitempty"`
	// Schedule of the learning rate: cosine (default, down to 0) or constant.
	Schedule string `json:"schedule,omitempty"`
	// Temperature of the distillation loss (default 2).
	Temperature float64 `json:"temperature,omitempty"`
	// Alpha weighs distillation against cross-entropy with labels: α·KD + (1−α)·CE
	// (default 0.5; only with labels).
	Alpha *float64 `json:"alpha,omitempty"`
	// HeldOut is the fraction of the data kept to choose the best epoch (default 0.1;
	// 0: none, the last epoch is kept).
	HeldOut *float64 `json:"held_out,omitempty"`
	// Patience stops training after this many epochs without a better held-out loss
	// (0: run every epoch).
	Patience int `json:"patience,omitempty"`
	// Seed fixes the split, the batch order and dropout (default 0).
	Seed int64 `json:"seed,omitempty"`
	// Freeze: initializer or node name patterns (path.Match) or op types not trained.
	Freeze []string `json:"freeze,omitempty"`
	// Float64 computes the matrix products in float64 as well (slower; by default their
	// operands are rounded to float32 for the SIMD kernels, everything else is float64).
	Float64 bool `json:"float64,omitempty"`
	// BatchNorm: how BatchNormalization layers train (see train.Options.BatchNorm):
	// auto (default: batch statistics and running-statistics updates for a layer whose
	// statistics are fresh, mean 0 and variance 1, i.e. a student trained from scratch;
	// frozen running statistics otherwise), train (every layer, as torch's train mode) or
	// frozen (every layer normalises with its running statistics, which stay).
	BatchNorm string `json:"batchnorm,omitempty"`
}

// TrainReport is what a training run did.
type TrainReport struct {
	Samples   int           `json:"samples"`          // training samples
	HeldOut   int           `json:"held_out"`         // held-out samples
	Trainable int           `json:"trainable_params"` // values trained (frozen excluded)
	Epochs    []train.Epoch `json:"epochs"`
	BestEpoch int           `json:"best_epoch"`
	// AgreementBefore and AgreementAfter are the held-out top-1 agreement with the
	// teacher before and after training (the whole data without a held-out split).
	AgreementBefore float64 `json:"agreement_before"`
	AgreementAfter  float64 `json:"agreement_after"`
	// AccuracyBefore, AccuracyAfter and TeacherAccuracy: on the same samples, with labels.
	AccuracyBefore  *float64 `json:"accuracy_before,omitempty"`
	AccuracyAfter   *float64 `json:"accuracy_after,omitempty"`
	TeacherAccuracy *float64 `json:"teacher_accuracy,omitempty"`
	SecondsPerEpoch float64  `json:"seconds_per_epoch"`
}

func (o TrainOptions) set() bool {
	return o.Data != "" || o.Epochs != 0 || o.BatchSize != 0 || o.LR != 0 || o.Optimizer != "" || o.Momentum != 0 ||
		o.WeightDecay != 0 || o.Schedule != "" || o.Temperature != 0 || o.Alpha != nil || o.HeldOut != nil ||
		o.Patience != 0 || o.Seed != 0 || len(o.Freeze) > 0 || o.Float64 || o.BatchNorm != ""
}

// check validates the options; prefix names where they came from ("option").
func (o TrainOptions) check() error {
	switch {
	case o.Data == "":
		return Errorf(KindInvalidArgument, "option data: training needs inputs (an .npz keyed by input name)")
	case o.Epochs < 0:
		return Errorf(KindInvalidArgument, "option epochs: %d is negative", o.Epochs)
	case o.BatchSize < 0:
		return Errorf(KindInvalidArgument, "option batch_size: %d is negative", o.BatchSize)
	case o.LR < 0 || math.IsNaN(o.LR) || math.IsInf(o.LR, 0):
		return Errorf(KindInvalidArgument, "option lr: %g is not a positive number", o.LR)
	case o.Temperature < 0 || math.IsNaN(o.Temperature):
		return Errorf(KindInvalidArgument, "option temperature: %g is negative", o.Temperature)
	case o.Alpha != nil && (*o.Alpha < 0 || *o.Alpha > 1 || math.IsNaN(*o.Alpha)):
		return Errorf(KindInvalidArgument, "option alpha: %g is not in [0, 1]", *o.Alpha)
	case o.HeldOut != nil && (*o.HeldOut < 0 || *o.HeldOut >= 1 || math.IsNaN(*o.HeldOut)):
		return Errorf(KindInvalidArgument, "option held_out: %g is not in [0, 1)", *o.HeldOut)
	case o.Patience < 0:
		return Errorf(KindInvalidArgument, "option patience: %d is negative", o.Patience)
	}
	switch o.Optimizer {
	case "", "adam", "sgd":
	default:
		return Errorf(KindInvalidArgument, "option optimizer: %q is not one of adam, sgd", o.Optimizer)
	}
	switch o.Schedule {
	case "", "cosine", "constant":
	default:
		return Errorf(KindInvalidArgument, "option schedule: %q is not one of cosine, constant", o.Schedule)
	}
	if err := checkPatterns(o.Freeze); err != nil {
		return Errorf(KindInvalidArgument, "option freeze: %v", err)
	}
	switch o.BatchNorm {
	case "", "auto", "train", "frozen":
	default:
		return Errorf(KindInvalidArgument, "option batchnorm: %q is not one of auto, train, frozen", o.BatchNorm)
	}
	return nil
}

func checkPatterns(p []string) error {
	for _, s := range p {
		if s == "" {
			return fmt.Errorf("empty pattern")
		}
	}
	return nil
}

func (o TrainOptions) config(labels bool) train.Config {
	c := train.Config{Epochs: o.Epochs, BatchSize: o.BatchSize, Temperature: o.Temperature, Patience: o.Patience, Seed: o.Seed, HoldOut: 0.1, Alpha: 1}
	if c.Epochs == 0 {
		c.Epochs = 10
	}
	if c.BatchSize == 0 {
		c.BatchSize = 32
	}
	if c.Temperature == 0 {
		c.Temperature = 2
	}
	if o.HeldOut != nil {
		c.HoldOut = *o.HeldOut
	}
	if labels {
		c.Alpha = 0.5
		if o.Alpha != nil {
			c.Alpha = *o.Alpha
		}
	}
	c.Optim = train.Optim{Name: o.Optimizer, LR: o.LR, Momentum: o.Momentum, WeightDecay: o.WeightDecay, Schedule: o.Schedule}
	if c.Optim.Schedule == "" {
		c.Optim.Schedule = "cosine"
	}
	if c.Optim.LR == 0 {
		c.Optim.LR = 0.003
		if o.Optimizer == "sgd" {
			c.Optim.LR = 0.01
		}
	}
	return c
}

// loadInputs reads the training inputs for model m's graph inputs.
func loadInputs(path string, m *ir.Model) (map[string]*train.T, int, error) {
	arrays, names, err := LoadArrays(path)
	if err != nil {
		return nil, 0, err
	}
	var want []string
	inits := map[string]bool{}
	for _, t := range m.Graph.Initializers {
		inits[t.Name] = true
	}
	for _, v := range m.Graph.Inputs {
		if !inits[v.Name] {
			want = append(want, v.Name)
		}
	}
	out := map[string]*train.T{}
	n := -1
	for _, name := range want {
		t := arrays[name]
		if t == nil && len(want) == 1 && len(names) == 1 {
			t = arrays[names[0]]
		}
		if t == nil {
			return nil, 0, &Error{Kind: KindInvalidArgument, File: path, Err: fmt.Errorf("no array for input %q (the file holds %s)", name, strings.Join(names, ", "))}
		}
		f, err := t.Float32s()
		if err != nil || len(t.Shape) == 0 {
			return nil, 0, &Error{Kind: KindInvalidArgument, File: path, Err: fmt.Errorf("array %q: numeric samples along the first dimension needed", t.Name)}
		}
		v := &train.T{D: make([]float64, len(f))}
		for _, d := range t.Shape {
			v.Shape = append(v.Shape, int(d))
		}
		for i, x := range f {
			v.D[i] = float64(x)
		}
		if n >= 0 && v.Shape[0] != n {
			return nil, 0, &Error{Kind: KindInvalidArgument, File: path, Err: fmt.Errorf("arrays differ in their number of samples (%d, %d)", n, v.Shape[0])}
		}
		n = v.Shape[0]
		out[name] = v
	}
	if n <= 0 {
		return nil, 0, &Error{Kind: KindInvalidArgument, File: path, Err: fmt.Errorf("no samples")}
	}
	return out, n, nil
}

// loadLabels reads integer class labels, one per sample.
func loadLabels(path string, n int) ([]int64, error) {
	arrays, names, err := LoadArrays(path)
	if err != nil {
		return nil, err
	}
	if len(names) != 1 {
		return nil, &Error{Kind: KindInvalidArgument, File: path, Err: fmt.Errorf("labels must be one integer array, the file holds %d", len(names))}
	}
	f, err := arrays[names[0]].Float32s()
	if err != nil || arrays[names[0]].DType.IsFloat() {
		return nil, &Error{Kind: KindInvalidArgument, File: path, Err: fmt.Errorf("labels must be integers")}
	}
	if len(f) != n {
		return nil, &Error{Kind: KindInvalidArgument, File: path, Err: fmt.Errorf("%d labels for %d samples", len(f), n)}
	}
	out := make([]int64, n)
	for i, v := range f {
		out[i] = int64(v)
	}
	return out, nil
}

// teacherOutputs runs the teacher on the inputs (in batches) and returns its first
// output and the named extra tensors (for feature matching), concatenated over samples.
func teacherOutputs(ctx context.Context, m *ir.Model, inputs map[string]*train.T, n int, extra []string) (*train.T, map[string]*train.T, error) {
	have := map[string]bool{}
	for _, o := range m.Graph.Outputs {
		have[o.Name] = true
	}
	for _, e := range extra {
		if !have[e] {
			m.Graph.Outputs = append(m.Graph.Outputs, &ir.ValueInfo{Name: e})
		}
	}
	s, err := runtime.New(m, runtime.Options{})
	if err != nil {
		return nil, nil, err
	}
	// Inputs are fed in their declared dtype (token ids as int64), float32 otherwise.
	dtypes := map[string]ir.DType{}
	for _, in := range m.Graph.Inputs {
		if in.Type != nil && in.Type.Kind == ir.TypeTensor && in.Type.ElemType != 0 {
			dtypes[in.Name] = in.Type.ElemType
		}
	}
	first := m.Graph.Outputs[0].Name
	names := append([]string{first}, extra...)
	parts := map[string][]*train.T{}
	const bs = 256
	for b := 0; b < n; b += bs {
		idx := make([]int, 0, bs)
		for i := b; i < min(b+bs, n); i++ {
			idx = append(idx, i)
		}
		feed := map[string]*runtime.Tensor{}
		for k, v := range inputs {
			r := v.Rows(idx)
			shape := make([]int64, len(r.Shape))
			for i, d := range r.Shape {
				shape[i] = int64(d)
			}
			dt, ok := dtypes[k]
			if !ok {
				dt = ir.Float32
			}
			rt, err := runtime.FromFloat64s(dt, shape, r.D)
			if err != nil {
				return nil, nil, err
			}
			feed[k] = rt
		}
		outs, err := s.Run(ctx, feed)
		if err != nil {
			return nil, nil, err
		}
		for _, name := range names {
			o := outs[name]
			if o == nil {
				return nil, nil, Errorf(KindInvalidArgument, "the teacher has no tensor %q", name)
			}
			parts[name] = append(parts[name], &train.T{Shape: append([]int(nil), o.Shape...), D: runtime.Float64s(o)})
		}
	}
	cat := func(ps []*train.T) *train.T {
		out := &train.T{Shape: append([]int(nil), ps[0].Shape...)}
		out.Shape[0] = 0
		for _, p := range ps {
			out.Shape[0] += p.Shape[0]
			out.D = append(out.D, p.D...)
		}
		return out
	}
	feats := map[string]*train.T{}
	for _, e := range extra {
		feats[e] = cat(parts[e])
	}
	return cat(parts[first]), feats, nil
}

// fit trains student against the teacher's outputs in d and reports.
func fit(ctx context.Context, student *ir.Model, d *train.Data, o TrainOptions, keepZeros bool, step func(string, float64) error) (*TrainReport, error) {
	net, err := train.NewNet(student, train.Options{Freeze: o.Freeze, KeepZeros: keepZeros, Seed: o.Seed, BatchNorm: o.BatchNorm})
	if err != nil {
		return nil, &Error{Kind: KindUnsupported, Err: fmt.Errorf("training: %w", err)}
	}
	net.Float64 = o.Float64
	cfg := o.config(d.Labels != nil)
	total := d.N()
	held := int(float64(total) * cfg.HoldOut)
	rep := &TrainReport{Samples: total - held, HeldOut: held, Trainable: net.Count()}
	if held == 0 {
		held = total
	}
	// The held-out split is the first `held` of Fit's seeded permutation; evaluate the
	// same samples before and after.
	evalData := d
	if cfg.HoldOut > 0 {
		evalData = subset(d, train.HeldOutIndices(total, cfg.HoldOut, cfg.Seed))
	}
	_, agree, acc, err := net.Evaluate(evalData, cfg)
	if err != nil {
		return nil, &Error{Kind: KindUnsupported, Err: fmt.Errorf("training: %w", err)}
	}
	rep.AgreementBefore = agree
	if d.Labels != nil {
		rep.AccuracyBefore = &acc
		ta := teacherAccuracy(evalData)
		rep.TeacherAccuracy = &ta
	}
	var sum float64
	hist, err := train.Fit(ctx, net, d, cfg, func(e train.Epoch) error {
		sum += e.Seconds
		msg := fmt.Sprintf("epoch %d/%d loss %.4g", e.Epoch, cfg.Epochs, e.Loss)
		if e.HeldLoss != 0 || cfg.HoldOut > 0 {
			msg += fmt.Sprintf(" held-out agreement %.2f%%", 100*e.Agreement)
		}
		return step(msg, float64(e.Epoch)/float64(cfg.Epochs))
	})
	rep.Epochs = hist
	if err != nil {
		if _, ok := err.(*Error); ok {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, &Error{Kind: KindCancelled, Err: err}
		}
		return nil, &Error{Kind: KindUnsupported, Err: fmt.Errorf("training: %w", err)}
	}
	if len(hist) > 0 {
		rep.SecondsPerEpoch = sum / float64(len(hist))
	}
	for _, e := range hist {
		if e.Best {
			rep.BestEpoch = e.Epoch
		}
	}
	_, agree, acc, err = net.Evaluate(evalData, cfg)
	if err != nil {
		return nil, err
	}
	rep.AgreementAfter = agree
	if d.Labels != nil {
		rep.AccuracyAfter = &acc
	}
	return rep, net.Store()
}

func subset(d *train.Data, idx []int) *train.Data {
	sort.Ints(idx)
	return d.Batch(idx)
}

func teacherAccuracy(d *train.Data) float64 {
	if d.Teacher == nil || d.Labels == nil {
		return 0
	}
	k := d.Teacher.Shape[len(d.Teacher.Shape)-1]
	correct := 0
	for r, y := range d.Labels {
		best := 0
		for j := 1; j < k; j++ {
			if d.Teacher.D[r*k+j] > d.Teacher.D[r*k+best] {
				best = j
			}
		}
		if int64(best) == y {
			correct++
		}
	}
	return float64(correct) / float64(len(d.Labels))
}

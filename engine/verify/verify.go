// Package verify runs two models on the same inputs with the reference runtime and
// reports how far apart their outputs are: per output the maximum and mean absolute
// error, the maximum relative error, the cosine similarity, the top-1 agreement for
// classifier-shaped outputs and, with labels, each model's accuracy.
package verify

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"sort"

	"github.com/modelc/modelc/engine/ir"
	"github.com/modelc/modelc/engine/runtime"
)

// Options say what to feed the models and what counts as agreement.
type Options struct {
	// Inputs, when set, is the one input set to use (by graph input name).
	Inputs map[string]*runtime.Tensor
	// Samples random input sets are drawn when Inputs is nil (default 1), from Seed.
	Samples int
	Seed    int64
	// Labels holds one class index per classifier row, over all samples in order.
	Labels []int64
	// An output agrees when every element has |cand − ref| ≤ ATol + RTol·|ref| and its
	// cosine similarity is at least MinCosine, and the candidate has no NaN or ±Inf
	// where the reference is finite. With CosineOnly the elements outside ATol and RTol
	// are counted (Mismatches) but do not fail the output: compression changes values
	// by design, and compress --verify judges by cosine similarity.
	ATol, RTol, MinCosine float64
	CosineOnly            bool
	Threads               int
}

// Output is the comparison of one output.
type Output struct {
	Name         string  `json:"name"`
	Shape        []int   `json:"shape"`
	Elements     int     `json:"elements"`
	MaxAbsError  float64 `json:"max_abs_error"`
	MeanAbsError float64 `json:"mean_abs_error"`
	MaxRelError  float64 `json:"max_rel_error"`
	Cosine       float64 `json:"cosine"`
	Mismatches   int     `json:"mismatches"` // elements outside atol + rtol·|ref|
	// NonFinite counts the candidate's NaN and ±Inf elements where the reference is
	// finite (an fp16 overflow, a division by a flushed zero): any fails the output.
	NonFinite     int      `json:"non_finite"`
	Top1Agreement *float64 `json:"top1_agreement,omitempty"`
	RefAccuracy   *float64 `json:"ref_accuracy,omitempty"`
	CandAccuracy  *float64 `json:"cand_accuracy,omitempty"`
	Pass          bool     `json:"pass"`
}

// Report is the result of Compare.
type Report struct {
	Samples int      `json:"samples"`
	Outputs []Output `json:"outputs"`
	Pass    bool     `json:"pass"`
	// InputCasts lists the inputs converted to a model's declared dtype, one line
	// each ("candidate input \"x\": float32 → float16").
	InputCasts []string `json:"input_casts,omitempty"`
}

// LabelCountError is the error of labels whose number differs from the rows of the
// classifier output they score (over all samples): accuracy on them would be made up.
type LabelCountError struct {
	Labels, Rows, Samples int
	Output                string // the classifier output; "" when the models have none
}

func (e *LabelCountError) Error() string {
	if e.Output == "" {
		return fmt.Sprintf("%d labels given, but no output is classifier-shaped ([rows, classes] floats) to score them against", e.Labels)
	}
	return fmt.Sprintf("%d labels for %d rows of output %q (over %d sample(s)): give one label per row", e.Labels, e.Rows, e.Output, e.Samples)
}

// accum gathers the statistics of one output over all samples.
type accum struct {
	out                 Output
	sumAbs, dot, nr, nc float64
	rows, agree         int
	refHit, candHit     int
	labelled            int
}

// Compare runs ref and cand (prepared sessions) on the same inputs.
func Compare(ctx context.Context, ref, cand *runtime.Session, opts Options) (*Report, error) {
	outs := ref.Outputs()
	if len(cand.Outputs()) != len(outs) {
		return nil, ir.Errorf(ir.KindInvalidArgument, "", "the models have %d and %d outputs", len(outs), len(cand.Outputs()))
	}
	samples := 1
	if opts.Inputs == nil && opts.Samples > 0 {
		samples = opts.Samples
	}
	rng := rand.New(rand.NewSource(opts.Seed))
	acc := make([]*accum, len(outs))
	for i, o := range outs {
		acc[i] = &accum{out: Output{Name: o.Name}}
	}
	labelPos, labelOut := 0, -1
	casts := map[string]bool{}
	for s := 0; s < samples; s++ {
		inputs := opts.Inputs
		if inputs == nil {
			var err error
			if inputs, err = RandomInputs(ref, rng); err != nil {
				return nil, err
			}
		}
		refIn, err := CastInputs(ref, inputs, "reference", casts)
		if err != nil {
			return nil, err
		}
		candIn, err := CastInputs(cand, inputs, "candidate", casts)
		if err != nil {
			return nil, err
		}
		r, err := ref.Run(ctx, refIn)
		if err != nil {
			return nil, fmt.Errorf("reference model: %w", err)
		}
		cr, err := cand.Run(ctx, candIn)
		if err != nil {
			return nil, fmt.Errorf("candidate model: %w", err)
		}
		for i, o := range outs {
			co := cand.Outputs()[i]
			a, b := r[o.Name], cr[co.Name]
			if len(a.Shape) != len(b.Shape) || a.Len() != b.Len() {
				return nil, ir.Errorf(ir.KindVerifyFailed, "", "output %q: shapes differ (%v vs %v)", o.Name, a.Shape, b.Shape)
			}
			used, err := acc[i].add(a, b, opts, labelsFrom(opts.Labels, labelPos))
			if err != nil {
				return nil, err
			}
			if i == firstClassifier(r, outs) {
				labelPos += used
				labelOut = i
			}
		}
		ref.Recycle(r) // compared: their memory serves the next sample
		cand.Recycle(cr)
	}
	if len(opts.Labels) > 0 {
		e := &LabelCountError{Labels: len(opts.Labels), Samples: samples}
		if labelOut >= 0 {
			e.Rows, e.Output = acc[labelOut].rows, outs[labelOut].Name
		}
		if e.Output == "" || e.Rows != e.Labels {
			return nil, &ir.Error{Kind: ir.KindInvalidArgument, Err: e}
		}
	}
	rep := &Report{Samples: samples, Pass: true}
	for c := range casts {
		rep.InputCasts = append(rep.InputCasts, c)
	}
	sort.Strings(rep.InputCasts)
	for _, a := range acc {
		o := a.finish(opts)
		rep.Outputs = append(rep.Outputs, o)
		rep.Pass = rep.Pass && o.Pass
	}
	return rep, nil
}

func labelsFrom(l []int64, pos int) []int64 {
	if pos >= len(l) {
		return nil
	}
	return l[pos:]
}

// firstClassifier is the index of the first classifier-shaped output (labels apply to it).
func firstClassifier(r map[string]*runtime.Tensor, outs []*ir.ValueInfo) int {
	for i, o := range outs {
		if isClassifier(r[o.Name]) {
			return i
		}
	}
	return -1
}

// isClassifier: a [rows, classes] float output with more than one class.
func isClassifier(t *runtime.Tensor) bool {
	return len(t.Shape) == 2 && t.Shape[1] > 1 && t.DType.IsFloat()
}

func values(t *runtime.Tensor) []float64 { return runtime.Float64s(t) }

// add folds one sample's outputs in and returns how many labels it consumed.
func (a *accum) add(ref, cand *runtime.Tensor, opts Options, labels []int64) (int, error) {
	a.out.Shape = ref.Shape
	rv, cv := values(ref), values(cand)
	if rv == nil || cv == nil {
		return 0, ir.Errorf(ir.KindUnsupported, "", "output %q: %v values cannot be compared", a.out.Name, ref.DType)
	}
	for i := range rv {
		x, y := rv[i], cv[i]
		d := math.Abs(x - y)
		// The same NaN or infinity on both sides agrees: no error, and left out of the
		// cosine, which it would make NaN (a model that computes NaN verifies against
		// its own copy).
		sameNonFinite := !isFinite(x) && (x == y || math.IsNaN(x) && math.IsNaN(y))
		if sameNonFinite {
			d = 0
		}
		a.out.Elements++
		if isFinite(x) && !isFinite(y) {
			a.out.NonFinite++
		}
		a.sumAbs += d
		if d > a.out.MaxAbsError || math.IsNaN(d) {
			a.out.MaxAbsError = d
		}
		if x != 0 {
			if rel := d / math.Abs(x); rel > a.out.MaxRelError {
				a.out.MaxRelError = rel
			}
		}
		if !sameNonFinite && !(d <= opts.ATol+opts.RTol*math.Abs(x)) {
			a.out.Mismatches++
		}
		if sameNonFinite {
			continue
		}
		a.dot += x * y
		a.nr += x * x
		a.nc += y * y
	}
	if !isClassifier(ref) {
		return 0, nil
	}
	rows, cols := ref.Shape[0], ref.Shape[1]
	for r := 0; r < rows; r++ {
		ra, ca := argmax(rv[r*cols:(r+1)*cols]), argmax(cv[r*cols:(r+1)*cols])
		a.rows++
		if ra == ca {
			a.agree++
		}
		if r < len(labels) {
			a.labelled++
			if int64(ra) == labels[r] {
				a.refHit++
			}
			if int64(ca) == labels[r] {
				a.candHit++
			}
		}
	}
	return min(rows, len(labels)), nil
}

func argmax(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

func (a *accum) finish(opts Options) Output {
	o := a.out
	if o.Elements > 0 {
		o.MeanAbsError = a.sumAbs / float64(o.Elements)
	}
	switch {
	case a.nr == 0 && a.nc == 0:
		o.Cosine = 1 // both all zero: identical
	case a.nr == 0 || a.nc == 0:
		o.Cosine = 0
	default:
		o.Cosine = a.dot / math.Sqrt(a.nr*a.nc)
	}
	if a.rows > 0 {
		f := float64(a.agree) / float64(a.rows)
		o.Top1Agreement = &f
	}
	if a.labelled > 0 {
		r, c := float64(a.refHit)/float64(a.labelled), float64(a.candHit)/float64(a.labelled)
		o.RefAccuracy, o.CandAccuracy = &r, &c
	}
	o.Pass = (opts.CosineOnly || o.Mismatches == 0) && o.Cosine >= opts.MinCosine && o.NonFinite == 0
	return o
}

func isFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// CastInputs returns inputs with each value converted to the dtype s declares for it,
// so one input set feeds a float32 model and its float16 (or bfloat16, or int32)
// version alike. Float to float and integer to float always convert (rounding to the
// narrower type, as onnxruntime's users do when they cast); a conversion to an integer
// or bool type must keep every value exactly (whole numbers in range, 0 and 1 for bool),
// or it is a KindInvalidArgument error naming the input. Each conversion is noted in
// casts as "<side> input "x": float32 → float16". Values already of the declared type
// (and inputs with no declared type) are passed as they are.
func CastInputs(s *runtime.Session, inputs map[string]*runtime.Tensor, side string, casts map[string]bool) (map[string]*runtime.Tensor, error) {
	want := map[string]ir.DType{}
	for _, v := range s.Inputs() {
		if v.Type != nil && v.Type.Kind == ir.TypeTensor && v.Type.ElemType != ir.Undefined {
			want[v.Name] = v.Type.ElemType
		}
	}
	var out map[string]*runtime.Tensor
	for name, t := range inputs {
		to, ok := want[name]
		if !ok || t == nil || t.DType == to {
			continue
		}
		from := t.DType
		if from == ir.String || to == ir.String {
			return nil, ir.Errorf(ir.KindInvalidArgument, "", "%s input %q: the model expects %v, got %v", side, name, to, from)
		}
		c, err := runtime.Cast(t, to)
		if err != nil {
			return nil, ir.Errorf(ir.KindInvalidArgument, "", "%s input %q: %v values cannot be converted to the %v the model expects: %v", side, name, from, to, err)
		}
		if !to.IsFloat() {
			a, b := runtime.Float64s(t), runtime.Float64s(c)
			for i := range a {
				if a[i] != b[i] {
					return nil, ir.Errorf(ir.KindInvalidArgument, "", "%s input %q: the model expects %v, and the %v value %v (element %d) is not one; give inputs of that type", side, name, to, from, a[i], i)
				}
			}
		}
		if out == nil {
			out = make(map[string]*runtime.Tensor, len(inputs))
			for k, v := range inputs {
				out[k] = v
			}
		}
		out[name] = c
		casts[fmt.Sprintf("%s input %q: %v → %v", side, name, from, to)] = true
	}
	if out == nil {
		return inputs, nil
	}
	return out, nil
}

// RandomInputs draws one input set for a session's graph inputs: floats from a standard
// normal distribution, integers uniformly from [0, 4), booleans fair coins. Symbolic,
// unknown or negative (free) dimensions are 1.
func RandomInputs(s *runtime.Session, rng *rand.Rand) (map[string]*runtime.Tensor, error) {
	out := map[string]*runtime.Tensor{}
	for _, v := range s.Inputs() { // graph order is the draw order

		if v.Type == nil || v.Type.Kind != ir.TypeTensor || v.Type.Shape == nil {
			return nil, ir.Errorf(ir.KindInvalidArgument, "", "input %q has no tensor shape to draw random values for; pass --inputs", v.Name)
		}
		shape := make([]int64, len(v.Type.Shape.Dims))
		for i, d := range v.Type.Shape.Dims {
			shape[i] = 1
			if d.HasValue && d.Value >= 0 { // negative: a free dimension, as in onnxruntime
				shape[i] = d.Value
			}
		}
		n := ir.NumElements(shape)
		vals := make([]float64, n)
		dt := v.Type.ElemType
		for i := range vals {
			switch {
			case dt.IsFloat():
				vals[i] = rng.NormFloat64()
			case dt == ir.Bool:
				vals[i] = float64(rng.Intn(2))
			default:
				vals[i] = float64(rng.Intn(4))
			}
		}
		t, err := runtime.FromFloat64s(dt, shape, vals)
		if err != nil {
			return nil, ir.Errorf(ir.KindUnsupported, "", "input %q: %v", v.Name, err)
		}
		out[v.Name] = t
	}
	return out, nil
}

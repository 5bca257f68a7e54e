package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/modelc/modelc/engine/ir"
	"github.com/modelc/modelc/engine/ir/schema"
	"github.com/modelc/modelc/engine/runtime"
	"github.com/modelc/modelc/engine/verify"
)

// VerifyOptions are the settings of Verify. The JSON keys are the CLI flag names with
// dashes turned into underscores.
type VerifyOptions struct {
	// Inputs is an .npz (or .npy) file of inputs keyed by graph input name; without it,
	// Samples random input sets are drawn from Seed.
	Inputs  string `json:"inputs,omitempty"`
	Samples int    `json:"samples,omitempty"`
	Seed    int64  `json:"seed,omitempty"`
	// Labels is a .npy of integer class indices, one per row of the first
	// classifier-shaped output (over all samples in order); a count that differs from
	// those rows is a KindInvalidArgument error naming the files and both numbers.
	Labels string `json:"labels,omitempty"`
	// Tolerance: every element within atol + rtol·|ref| (defaults 1e-5 and 1e-4), and a
	// cosine similarity of at least min_cosine (default 0). NaN or ±Inf in
	// the candidate where the reference is finite always fails.
	ATol      *float64 `json:"atol,omitempty"`
	RTol      *float64 `json:"rtol,omitempty"`
	MinCosine float64  `json:"min_cosine,omitempty"`
	Threads   int      `json:"threads,omitempty"`

	// cosineOnly: the element-wise tolerance is reported, not enforced (compress
	// --verify; see MinVerifyCosine).
	cosineOnly bool
}

// The default tolerances. `modelc verify` (Verify) checks every element: |cand − ref| ≤
// DefaultATol + DefaultRTol·|ref|, and cosine ≥ DefaultMinCosine (0: only anti-correlated
// outputs fail it). `compress
// --verify` compares a compressed model, whose values differ by design: it requires a
// cosine similarity of at least MinVerifyCosine per output and only reports the elements
// outside DefaultATol/DefaultRTol. Both fail on NaN or ±Inf where the reference is
// finite. Every report states which rule it applied (VerifyReport.Tolerance).
const (
	DefaultATol      = 1e-5
	DefaultRTol      = 1e-4
	DefaultMinCosine = 0.0
)

// ModelSummary describes one side of a verification.
type ModelSummary struct {
	Path           string `json:"path"`
	FileBytes      int64  `json:"file_bytes"`
	ParameterCount int64  `json:"parameter_count"`
}

// VerifyReport is what Verify found (the JSON of `modelc verify --json`). In JSON a NaN
// or infinite number is null (see MarshalJSON).
type VerifyReport struct {
	Reference ModelSummary `json:"reference"`
	Candidate ModelSummary `json:"candidate"`
	ATol      float64      `json:"atol"`
	RTol      float64      `json:"rtol"`
	MinCosine float64      `json:"min_cosine"`
	// CosineOnly: atol and rtol are reported (mismatches), not enforced (compress
	// --verify); otherwise every element must be within them (verify).
	CosineOnly bool `json:"cosine_only"`
	// Tolerance says in words what had to hold for pass.
	Tolerance string          `json:"tolerance"`
	Samples   int             `json:"samples"`
	Seed      int64           `json:"seed"`
	Outputs   []verify.Output `json:"outputs"`
	// InputCasts lists the inputs converted to a model's declared dtype (a float16
	// candidate fed float32 inputs), one line each.
	InputCasts []string `json:"input_casts,omitempty"`
	// Problems are failures that are not an output's numbers: a candidate the ONNX
	// checker rejects.
	Problems []string `json:"problems,omitempty"`
	Pass     bool     `json:"pass"`
}

// ToleranceText describes the rule a verification applies.
func ToleranceText(atol, rtol, minCosine float64, cosineOnly bool) string {
	cos := "cosine not checked"
	if minCosine > -1 {
		cos = fmt.Sprintf("cosine ≥ %g per output", minCosine)
	}
	if cosineOnly {
		return fmt.Sprintf("%s; elements outside atol %g + rtol %g·|ref| counted, not enforced (compress --verify); no NaN/Inf where the reference is finite", cos, atol, rtol)
	}
	return fmt.Sprintf("every element within atol %g + rtol %g·|ref|; %s; no NaN/Inf where the reference is finite", atol, rtol, cos)
}

// checkCandidate is verification's check of the candidate model itself, before it runs:
// a candidate that fails it fails verification (KindVerifyFailed, exit 6), whatever its
// outputs, since a file onnxruntime refuses to load cannot be trusted however close its
// numbers. It is the ONNX operator-schema checker (engine/ir/schema), the one onnxruntime's
// loader applies; a variable so tests can stand another in.
var checkCandidate = schema.Check

// Verify runs ref and cand on the same inputs and compares their outputs. It returns the
// report and, when some output is outside the tolerance, also a KindVerifyFailed error.
func Verify(ctx context.Context, ref, cand string, opts VerifyOptions, progress Progress) (*VerifyReport, error) {
	return verifySources(ctx, fileSource(ref), fileSource(cand), opts, progress)
}

// modelSource is one side of a verification: a model file, or a model held in memory.
type modelSource struct {
	name string                           // the path, or what messages call it
	open func() (*ir.Model, int64, error) // reads the model; the int is its size in bytes
}

func fileSource(path string) modelSource {
	return modelSource{name: path, open: func() (*ir.Model, int64, error) {
		m, _, err := Read(path)
		if err != nil {
			return nil, 0, err
		}
		var size int64
		if st, err := os.Stat(path); err == nil {
			size = st.Size()
		}
		return m, size, nil
	}}
}

// bytesSource reads a model held in data with read (a format's ReadBytes).
func bytesSource(name string, data []byte, read func([]byte, string) (*ir.Model, error)) modelSource {
	return modelSource{name: name, open: func() (*ir.Model, int64, error) {
		m, err := read(data, name)
		return m, int64(len(data)), err
	}}
}

// verifySources is Verify on models from files or memory.
func verifySources(ctx context.Context, refSrc, candSrc modelSource, opts VerifyOptions, progress Progress) (*VerifyReport, error) {
	ref, cand := refSrc.name, candSrc.name
	step := stepper(ctx, progress)
	if opts.Samples < 0 || opts.Threads < 0 || opts.MinCosine < -1 || opts.MinCosine > 1 {
		return nil, Errorf(KindInvalidArgument, "samples and threads must be ≥ 0 and min_cosine in [-1, 1]")
	}
	if opts.Inputs != "" && opts.Samples > 0 {
		return nil, Errorf(KindInvalidArgument, "give either inputs or samples, not both")
	}
	atol, rtol := DefaultATol, DefaultRTol
	if opts.ATol != nil {
		atol = *opts.ATol
	}
	if opts.RTol != nil {
		rtol = *opts.RTol
	}
	if atol < 0 || rtol < 0 {
		return nil, Errorf(KindInvalidArgument, "atol and rtol must be ≥ 0")
	}
	if err := step("load", 0); err != nil {
		return nil, err
	}
	rs, rsum, closeR, _, err := openSession(refSrc, opts.Threads, nil)
	if err != nil {
		return nil, err
	}
	defer closeR()
	cs, csum, closeC, invalid, err := openSession(candSrc, opts.Threads, checkCandidate)
	if err != nil {
		if invalid != nil {
			// The runtime refuses it too (it checks the same schemas): a failed
			// verification with the checker's words, and a report that says so.
			rep := &VerifyReport{Reference: rsum, Candidate: csum, ATol: atol, RTol: rtol, MinCosine: opts.MinCosine,
				CosineOnly: opts.cosineOnly, Tolerance: ToleranceText(atol, rtol, opts.MinCosine, opts.cosineOnly),
				Seed: opts.Seed, Outputs: []verify.Output{}, Problems: []string{invalidText(invalid)}}
			return rep, &Error{Kind: KindVerifyFailed, File: cand, Err: fmt.Errorf("fails verification: %s", rep.Problems[0])}
		}
		return nil, err
	}
	defer closeC()
	vo := verify.Options{Samples: max(opts.Samples, 1), Seed: opts.Seed, ATol: atol, RTol: rtol, MinCosine: opts.MinCosine, CosineOnly: opts.cosineOnly, Threads: opts.Threads}
	if opts.Inputs != "" {
		arrays, _, err := LoadArrays(opts.Inputs)
		if err != nil {
			return nil, err
		}
		vo.Inputs = map[string]*runtime.Tensor{}
		for name, t := range arrays {
			v, err := runtime.FromIR(t)
			if err != nil {
				return nil, err
			}
			vo.Inputs[name] = v
		}
	}
	if opts.Labels != "" {
		arrays, names, err := LoadArrays(opts.Labels)
		if err != nil {
			return nil, err
		}
		if len(names) != 1 {
			return nil, &Error{Kind: KindInvalidArgument, File: opts.Labels, Err: fmt.Errorf("labels must be one integer array, the file holds %d", len(names))}
		}
		lt, err := runtime.FromIR(arrays[names[0]])
		if err != nil || lt.DType.IsFloat() {
			return nil, &Error{Kind: KindInvalidArgument, File: opts.Labels, Err: fmt.Errorf("labels must be integers")}
		}
		for _, f := range runtime.Float64s(lt) {
			vo.Labels = append(vo.Labels, int64(f))
		}
	}
	if err := step("run", 0.1); err != nil {
		return nil, err
	}
	r, err := verify.Compare(ctx, rs, cs, vo)
	if err != nil {
		var lce *verify.LabelCountError
		if errors.As(err, &lce) {
			from := "random inputs"
			if opts.Inputs != "" {
				from = "the inputs in " + opts.Inputs
			}
			return nil, &Error{Kind: KindInvalidArgument, File: opts.Labels, Err: fmt.Errorf("%v; the labels do not match %s", lce, from)}
		}
		return nil, err
	}
	rep := &VerifyReport{Reference: rsum, Candidate: csum, ATol: atol, RTol: rtol, MinCosine: opts.MinCosine,
		CosineOnly: opts.cosineOnly, Tolerance: ToleranceText(atol, rtol, opts.MinCosine, opts.cosineOnly),
		Samples: r.Samples, Seed: opts.Seed, Outputs: r.Outputs, InputCasts: r.InputCasts, Pass: r.Pass}
	if invalid != nil {
		rep.Problems = append(rep.Problems, invalidText(invalid))
		rep.Pass = false
	}
	if !rep.Pass {
		var bad []string
		for _, o := range r.Outputs {
			if !o.Pass {
				why := fmt.Sprintf("max abs error %.3g, cosine %.6f", o.MaxAbsError, o.Cosine)
				if o.NonFinite > 0 {
					why = fmt.Sprintf("%d NaN/Inf where the reference is finite, ", o.NonFinite) + why
				}
				bad = append(bad, fmt.Sprintf("%q (%s)", o.Name, why))
			}
		}
		msg := fmt.Sprintf("%s differs from %s beyond tolerance (%s) in output %s", cand, ref, rep.Tolerance, strings.Join(bad, ", "))
		if len(bad) == 0 {
			msg = fmt.Sprintf("%s fails verification against %s: %s", cand, ref, strings.Join(rep.Problems, "; "))
		} else if len(rep.Problems) > 0 {
			msg += "; " + strings.Join(rep.Problems, "; ")
		}
		return rep, &Error{Kind: KindVerifyFailed, Err: errors.New(msg)}
	}
	return rep, step("done", 1)
}

func invalidText(err error) string {
	return fmt.Sprintf("the candidate breaks the ONNX operator schemas (onnxruntime would refuse to load it): %v", err)
}

// openSession reads a model and prepares it to run. check, when not nil, vets the model
// first; what it finds comes back as invalid (the session is still prepared if the
// runtime can load the model, so the report has numbers too).
func openSession(src modelSource, threads int, check func(*ir.Model) error) (s *runtime.Session, sum ModelSummary, closer func(), invalid, err error) {
	path := src.name
	sum = ModelSummary{Path: path}
	m, size, err := src.open()
	if err != nil {
		return nil, sum, nil, nil, err
	}
	sum.FileBytes = size
	sum.ParameterCount = Summarize(m).ParameterCount
	if check != nil {
		invalid = check(m)
	}
	s, err = runtime.New(m, runtime.Options{Threads: threads})
	if err != nil {
		m.Close()
		return nil, sum, nil, invalid, withFile(err, path)
	}
	return s, sum, func() { m.Close() }, invalid, nil
}

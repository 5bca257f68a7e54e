package engine

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/modelc/modelc/engine/ir"
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
	// classifier-shaped output (over all samples in order).
	Labels string `json:"labels,omitempty"`
	// Tolerance: every element within atol + rtol·|ref| (defaults 1e-5 and 1e-4), and a
	// cosine similarity of at least min_cosine (default 0: not checked).
	ATol      *float64 `json:"atol,omitempty"`
	RTol      *float64 `json:"rtol,omitempty"`
	MinCosine float64  `json:"min_cosine,omitempty"`
	Threads   int      `json:"threads,omitempty"`
}

// Default tolerances of Verify.
const (
	DefaultATol = 1e-5
	DefaultRTol = 1e-4
)

// ModelSummary describes one side of a verification.
type ModelSummary struct {
	Path           string `json:"path"`
	FileBytes      int64  `json:"file_bytes"`
	ParameterCount int64  `json:"parameter_count"`
}

// VerifyReport is what Verify found (the JSON of `modelc verify --json`).
type VerifyReport struct {
	Reference ModelSummary    `json:"reference"`
	Candidate ModelSummary    `json:"candidate"`
	ATol      float64         `json:"atol"`
	RTol      float64         `json:"rtol"`
	MinCosine float64         `json:"min_cosine"`
	Samples   int             `json:"samples"`
	Seed      int64           `json:"seed"`
	Outputs   []verify.Output `json:"outputs"`
	Pass      bool            `json:"pass"`
}

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
	rs, rsum, closeR, err := openSession(refSrc, opts.Threads)
	if err != nil {
		return nil, err
	}
	defer closeR()
	cs, csum, closeC, err := openSession(candSrc, opts.Threads)
	if err != nil {
		return nil, err
	}
	defer closeC()
	vo := verify.Options{Samples: max(opts.Samples, 1), Seed: opts.Seed, ATol: atol, RTol: rtol, MinCosine: opts.MinCosine, Threads: opts.Threads}
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
		return nil, err
	}
	rep := &VerifyReport{Reference: rsum, Candidate: csum, ATol: atol, RTol: rtol, MinCosine: opts.MinCosine,
		Samples: r.Samples, Seed: opts.Seed, Outputs: r.Outputs, Pass: r.Pass}
	if !r.Pass {
		var bad []string
		for _, o := range r.Outputs {
			if !o.Pass {
				bad = append(bad, fmt.Sprintf("%q (max abs error %.3g, cosine %.6f)", o.Name, o.MaxAbsError, o.Cosine))
			}
		}
		return rep, Errorf(KindVerifyFailed, "%s differs from %s beyond tolerance (atol %g, rtol %g, min cosine %g) in output %s",
			cand, ref, atol, rtol, opts.MinCosine, strings.Join(bad, ", "))
	}
	return rep, step("done", 1)
}

func openSession(src modelSource, threads int) (*runtime.Session, ModelSummary, func(), error) {
	path := src.name
	sum := ModelSummary{Path: path}
	m, size, err := src.open()
	if err != nil {
		return nil, sum, nil, err
	}
	sum.FileBytes = size
	sum.ParameterCount = Summarize(m).ParameterCount
	s, err := runtime.New(m, runtime.Options{Threads: threads})
	if err != nil {
		m.Close()
		return nil, sum, nil, withFile(err, path)
	}
	return s, sum, func() { m.Close() }, nil
}

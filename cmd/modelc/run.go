package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/modelc/modelc/engine"
	"github.com/modelc/modelc/engine/ir"
)

// inputFlags collects repeated --input NAME=FILE.npy flags.
type inputFlags []string

func (f *inputFlags) String() string     { return strings.Join(*f, ",") }
func (f *inputFlags) Set(v string) error { *f = append(*f, v); return nil }

func cmdRun(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var ins inputFlags
	fs.Var(&ins, "input", "NAME=FILE.npy: one input (repeatable)")
	npz := fs.String("inputs", "", "an .npz of inputs keyed by input name")
	outDir := fs.String("output-dir", ".", "folder for the <output>.npy files")
	var o engine.RunOptions
	fs.IntVar(&o.Threads, "threads", 0, "threads for the kernels (0: one per CPU)")
	fs.IntVar(&o.Runs, "runs", 1, "times to run the model (the outputs are the last run's)")
	fs.BoolVar(&o.Profile, "profile", false, "print the time of every node and op after the runs")
	pos, err := parseArgs(fs, args, 1, "MODEL [--input NAME=FILE.npy ...] [--inputs FILE.npz] [--output-dir DIR] [--threads N] [--runs N] [--profile]")
	if err != nil {
		return err
	}
	inputs := map[string]*ir.Tensor{}
	if *npz != "" {
		arrays, _, err := engine.LoadArrays(*npz)
		if err != nil {
			return err
		}
		inputs = arrays
	}
	for _, spec := range ins {
		name, file, ok := strings.Cut(spec, "=")
		if !ok || name == "" || file == "" {
			return usageError{fmt.Sprintf("--input %q: expected NAME=FILE.npy", spec)}
		}
		arrays, names, err := engine.LoadArrays(file)
		if err != nil {
			return err
		}
		if len(names) != 1 {
			return usageError{fmt.Sprintf("--input %s: %s holds %d arrays; use --inputs for an .npz", name, file, len(names))}
		}
		t := arrays[names[0]]
		t.Name = name
		inputs[name] = t
	}
	// Like -o DIR elsewhere, a missing output folder is created (with its parents).
	if err := os.MkdirAll(*outDir, 0o777); err != nil {
		return &engine.Error{Kind: engine.KindIO, File: *outDir, Err: fmt.Errorf("cannot create the output folder: %w", err)}
	}
	if o.Runs < 1 {
		return usageError{fmt.Sprintf("--runs must be ≥ 1, got %d", o.Runs)}
	}
	outs, prof, err := engine.RunProfile(context.Background(), pos[0], inputs, o, nil)
	if err != nil {
		return err
	}
	paths, err := engine.WriteOutputs(*outDir, outs)
	for i, p := range paths {
		t := outs[i].Tensor
		note := ""
		if engine.SafeFileName(outs[i].Name) != outs[i].Name {
			note = fmt.Sprintf("  (output %q, name escaped)", outs[i].Name)
		}
		fmt.Fprintf(stdout, "wrote %s  %v%v%s\n", p, t.DType, t.Shape, note)
	}
	if prof != nil && err == nil {
		printProfile(stdout, prof, o.Runs)
	}
	return err
}

// profileTop is how many of the longest nodes --profile lists.
const profileTop = 20

// printProfile prints the longest nodes and the per-op totals, in milliseconds per
// measured run.
func printProfile(w io.Writer, p *engine.Profile, runs int) {
	warm := ""
	if runs > 1 {
		warm = " after 1 warm-up run"
	}
	perRun := func(d time.Duration) float64 { return d.Seconds() * 1e3 / float64(max(p.Runs, 1)) }
	fmt.Fprintf(w, "profile: %d run(s)%s, %.3f ms per run in %d steps\n", p.Runs, warm, perRun(p.Total), len(p.Nodes))
	nodes := p.Nodes[:min(len(p.Nodes), profileTop)]
	ops := make([]string, len(nodes))
	wName, wOp := len("per op"), len("steps")
	for i, n := range nodes {
		ops[i] = n.Op
		if len(n.Nodes) > 1 && !strings.Contains(n.Op, "+") { // a fused form with its own name: say how many nodes
			ops[i] = fmt.Sprintf("%s (%d nodes)", n.Op, len(n.Nodes))
		}
		wName, wOp = max(wName, len(n.Name)), max(wOp, len(ops[i]))
	}
	for _, o := range p.Ops {
		wName = max(wName, len(o.Op))
	}
	fmt.Fprintf(w, "  %-*s  %-*s %9s %7s\n", wName, "node", wOp, "op", "ms/run", "share")
	for i, n := range nodes {
		fmt.Fprintf(w, "  %-*s  %-*s %9.3f %6.1f%%\n", wName, n.Name, wOp, ops[i], perRun(n.Time), 100*n.Share)
	}
	if len(p.Nodes) > len(nodes) {
		fmt.Fprintf(w, "  ... %d more steps\n", len(p.Nodes)-len(nodes))
	}
	fmt.Fprintf(w, "  %-*s  %*s %9s %7s\n", wName, "per op", wOp, "steps", "ms/run", "share")
	for _, o := range p.Ops {
		fmt.Fprintf(w, "  %-*s  %*d %9.3f %6.1f%%\n", wName, o.Op, wOp, o.Steps, perRun(o.Time), 100*o.Share)
	}
}

func cmdVerify(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	var o engine.VerifyOptions
	fs.StringVar(&o.Inputs, "inputs", "", "an .npz of inputs keyed by input name")
	fs.IntVar(&o.Samples, "samples", 0, "random input sets to draw (default 1)")
	fs.Int64Var(&o.Seed, "seed", 0, "seed of the random inputs")
	fs.StringVar(&o.Labels, "labels", "", "a .npy of class indices for the classifier output")
	atol := fs.Float64("atol", engine.DefaultATol, "absolute tolerance")
	rtol := fs.Float64("rtol", engine.DefaultRTol, "relative tolerance")
	fs.Float64Var(&o.MinCosine, "min-cosine", 0, "minimum cosine similarity per output")
	fs.IntVar(&o.Threads, "threads", 0, "threads for the kernels (0: one per CPU)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	pos, err := parseArgs(fs, args, 2, "REF CAND [--inputs FILE.npz | --samples N --seed S] [--labels FILE.npy] [--atol A --rtol R --min-cosine C] [--json]")
	if err != nil {
		return err
	}
	o.ATol, o.RTol = atol, rtol
	rep, err := engine.Verify(context.Background(), pos[0], pos[1], o, nil)
	err = withFlagNames(fs, err)
	if rep != nil {
		if *asJSON {
			if e := printJSON(stdout, rep); e != nil && err == nil {
				err = e
			}
		} else {
			printVerify(stdout, rep)
		}
	}
	return err
}

func printVerify(w io.Writer, r *engine.VerifyReport) {
	fmt.Fprintf(w, "reference  %s  %d bytes, %d parameters\n", r.Reference.Path, r.Reference.FileBytes, r.Reference.ParameterCount)
	fmt.Fprintf(w, "candidate  %s  %d bytes, %d parameters\n", r.Candidate.Path, r.Candidate.FileBytes, r.Candidate.ParameterCount)
	fmt.Fprintf(w, "samples %d, tolerance: %s\n", r.Samples, r.Tolerance)
	for _, c := range r.InputCasts {
		fmt.Fprintf(w, "cast       %s\n", c)
	}
	outs := append(r.Outputs[:0:0], r.Outputs...)
	sort.SliceStable(outs, func(i, j int) bool { return false })
	for _, o := range outs {
		verdict := "ok"
		if !o.Pass {
			verdict = "FAIL"
		}
		fmt.Fprintf(w, "  %-20s %v  max abs %.3g  mean abs %.3g  max rel %.3g  cosine %.6f  mismatches %d/%d",
			o.Name, o.Shape, o.MaxAbsError, o.MeanAbsError, o.MaxRelError, o.Cosine, o.Mismatches, o.Elements)
		if o.Top1Agreement != nil {
			fmt.Fprintf(w, "  top-1 agreement %.2f%%", 100**o.Top1Agreement)
		}
		if o.RefAccuracy != nil {
			fmt.Fprintf(w, "  accuracy %.2f%% → %.2f%%", 100**o.RefAccuracy, 100**o.CandAccuracy)
		}
		if o.NonFinite > 0 {
			fmt.Fprintf(w, "  NaN/Inf %d", o.NonFinite)
		}
		fmt.Fprintf(w, "  %s\n", verdict)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  FAIL: %s\n", p)
	}
	if r.Pass {
		fmt.Fprintln(w, "PASS")
	} else {
		fmt.Fprintln(w, "FAIL")
	}
}

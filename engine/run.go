package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/modelc/modelc/engine/format/npy"
	"github.com/modelc/modelc/engine/ir"
	"github.com/modelc/modelc/engine/runtime"
)

// RunOptions are the settings of Run. JSON keys follow the CLI flags.
type RunOptions struct {
	// Threads bounds the threads the kernels use; 0 means one per CPU.
	Threads int `json:"threads,omitempty"`
	// Runs is how many times to run the model (0 or 1: once); the outputs are the last
	// run's. Timing a model takes several.
	Runs int `json:"runs,omitempty"`
	// Profile times every node (RunProfile returns the times). With Runs > 1 the first
	// run is a warm-up left out of the profile: it builds the per-shape tables.
	Profile bool `json:"profile,omitempty"`
}

// Profile is the per-node timing of a run: runtime.Profile.
type Profile = runtime.Profile

// Output is one named result of Run.
type Output struct {
	Name   string
	Tensor *ir.Tensor
}

// Run executes the model at path on inputs (by graph input name) with the reference
// runtime and returns the graph outputs in graph order. Unsupported ops are reported,
// all of them, before anything runs.
func Run(ctx context.Context, path string, inputs map[string]*ir.Tensor, opts RunOptions, progress Progress) ([]Output, error) {
	outs, _, err := RunProfile(ctx, path, inputs, opts, progress)
	return outs, err
}

// RunProfile is Run that also returns the per-node times when opts.Profile is set (nil
// otherwise).
func RunProfile(ctx context.Context, path string, inputs map[string]*ir.Tensor, opts RunOptions, progress Progress) ([]Output, *Profile, error) {
	step := stepper(ctx, progress)
	if opts.Threads < 0 {
		return nil, nil, Errorf(KindInvalidArgument, "threads must be ≥ 0, got %d", opts.Threads)
	}
	if opts.Runs < 0 {
		return nil, nil, Errorf(KindInvalidArgument, "runs must be ≥ 0, got %d", opts.Runs)
	}
	if err := step("load", 0); err != nil {
		return nil, nil, err
	}
	m, _, err := Read(path)
	if err != nil {
		return nil, nil, err
	}
	defer m.Close()
	s, err := runtime.New(m, runtime.Options{Threads: opts.Threads, Profile: opts.Profile})
	if err != nil {
		return nil, nil, withFile(err, path)
	}
	vals := map[string]*runtime.Tensor{}
	for name, t := range inputs {
		v, err := runtime.FromIR(t)
		if err != nil {
			return nil, nil, err
		}
		vals[name] = v
	}
	if err := step("run", 0.1); err != nil {
		return nil, nil, err
	}
	var res map[string]*runtime.Tensor
	for r := 0; r < max(opts.Runs, 1); r++ {
		if r == 1 {
			s.ResetProfile() // the first run was the warm-up
		}
		s.Recycle(res) // only the last run's outputs are kept
		if res, err = s.Run(ctx, vals); err != nil {
			return nil, nil, withFile(err, path)
		}
	}
	var outs []Output
	for _, o := range s.Outputs() {
		t, err := runtime.ToIR(o.Name, res[o.Name])
		if err != nil {
			return nil, nil, err
		}
		outs = append(outs, Output{Name: o.Name, Tensor: t})
	}
	var prof *Profile
	if p, ok := s.Profile(); ok {
		prof = &p
	}
	return outs, prof, step("done", 1)
}

// withFile names the model file in a runtime error that does not name one.
func withFile(err error, path string) error {
	if e, ok := err.(*ir.Error); ok && e.File == "" {
		e.File = path
	}
	return err
}

// LoadArrays reads the arrays of a .npy or .npz file into memory, keyed by name (a
// .npy array is named after the file).
func LoadArrays(path string) (map[string]*ir.Tensor, []string, error) {
	ts, err := npy.ReadTensors(path)
	if err != nil {
		return nil, nil, err
	}
	out := map[string]*ir.Tensor{}
	var names []string
	for _, t := range ts {
		out[t.Name] = t
		names = append(names, t.Name)
	}
	sort.Strings(names)
	return out, names, nil
}

// SafeFileName escapes an output name for use as a file name: letters, digits, '.',
// '-' and '_' stay, every other byte becomes %XX (so distinct names stay distinct), and
// a leading '.' is escaped so no hidden or relative names appear.
func SafeFileName(name string) string {
	if name == "" {
		return "%00"
	}
	var b []byte
	for i := 0; i < len(name); i++ {
		ch := name[i]
		ok := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_' || (ch == '.' && i > 0)
		if ok {
			b = append(b, ch)
		} else {
			b = append(b, fmt.Sprintf("%%%02X", ch)...)
		}
	}
	return string(b)
}

// WriteOutputs saves each output as DIR/<safe name>.npy and returns the paths written,
// in the order of outs.
func WriteOutputs(dir string, outs []Output) ([]string, error) {
	var paths []string
	for _, o := range outs {
		p := filepath.Join(dir, SafeFileName(o.Name)+".npy")
		if err := npy.WriteNPY(p, o.Tensor); err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

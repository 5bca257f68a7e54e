package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/modelc/modelc/engine"
)

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// optBool is a boolean flag that remembers whether it was given: nil when absent.
type optBool struct{ p **bool }

func (b optBool) String() string {
	if b.p == nil || *b.p == nil {
		return ""
	}
	return strconv.FormatBool(**b.p)
}
func (b optBool) Set(v string) error {
	x, err := strconv.ParseBool(v)
	if err != nil {
		return err
	}
	*b.p = &x
	return nil
}
func (b optBool) IsBoolFlag() bool { return true }

// listFlag collects a comma-separated string flag that may also be repeated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		*l = append(*l, strings.TrimSpace(s))
	}
	return nil
}

func cmdCompress(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("compress", flag.ContinueOnError)
	var o engine.CompressOptions
	var exclude multiFlag
	var quantizeOps listFlag
	var asJSON bool
	fs.StringVar(&o.Quantize, "quantize", "", "int8|uint8|int4|uint4|fp16|bf16")
	fs.StringVar(&o.Mode, "mode", "", "weight-only|dynamic|static")
	fs.Var(optBool{&o.PerChannel}, "per-channel", "one scale per output channel (8-bit default: on; --per-channel=false: per tensor)")
	fs.Float64Var(&o.MaxLayerError, "max-layer-error", 0, "accuracy guard: keep a layer whose worst channel's relative error exceeds this in higher precision (default 0.2; negative: off)")
	fs.BoolVar(&o.Symmetric, "symmetric", false, "symmetric quantization (zero point in the middle)")
	fs.IntVar(&o.BlockSize, "block-size", 0, "int4/uint4 block size (power of two ≥ 16, default 32)")
	fs.StringVar(&o.Calibration, "calibration", "", "calibration inputs (.npz) for --mode static")
	fs.StringVar(&o.CalibrationMethod, "calibration-method", "", "minmax|percentile[:P]|entropy")
	fs.Var(&quantizeOps, "quantize-ops", "static: also quantize these op types' activations (LayerNormalization,Softmax,Gelu,Sigmoid,Tanh)")
	fs.BoolVar(&o.KeepIOTypes, "keep-io-types", false, "fp16/bf16: keep float32 graph inputs and outputs")
	fs.StringVar(&o.Prune, "prune", "", "magnitude|global|2:4|channels")
	fs.Float64Var(&o.Sparsity, "sparsity", 0, "fraction to prune, in [0, 1)")
	fs.StringVar(&o.Clip, "clip", "", "percentile:P|range:LO,HI")
	fs.StringVar(&o.Lowrank, "lowrank", "", "rank:R|energy:E")
	fs.BoolVar(&o.Simplify, "simplify", false, "fold constants and BatchNorm, remove Identity/Dropout and dead nodes")
	fs.Var(&exclude, "exclude", "node name pattern or op type to leave alone (repeatable)")
	fs.StringVar(&o.Recipe, "recipe", "", "JSON file with an ordered list of passes")
	fs.BoolVar(&o.Verify, "verify", false, "compare the result with the original")
	fs.StringVar(&o.Inputs, "inputs", "", "verify: inputs (.npz)")
	fs.StringVar(&o.Labels, "labels", "", "verify: labels (.npy) for accuracy")
	fs.Float64Var(&o.MinCosine, "min-cosine", 0, "verify: the cosine similarity required (0.95; negative: report only)")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fs.BoolVar(&o.Recover, "recover", false, "fine-tune the result by distillation from IN on --data")
	var inputShapes multiFlag
	fs.Var(&inputShapes, "input-shape", "retarget an image input: NAME=NxCxHxW (repeatable)")
	fs.Float64Var(&o.InputScale, "input-scale", 0, "retarget every image input's height and width by this factor")
	fs.Int64Var(&o.MaxSequenceLength, "max-sequence-length", 0, "retarget a token model ([batch, sequence] ids) to this shorter sequence length")
	finishTrain := addTrainFlags(fs, &o.TrainOptions)
	pos, err := parseArgs(fs, args, 2, "IN OUT [--quantize T] [--prune P] ... (see modelc help)")
	if err != nil {
		return err
	}
	o.Exclude = exclude
	o.QuantizeOps = quantizeOps
	finishTrain()
	o.InputShape = inputShapes
	var progress engine.Progress
	if o.Recover {
		bar := newProgressBar(stderr, "recover")
		defer bar.finish()
		progress = bar.report
	}
	rep, err := engine.Compress(context.Background(), pos[0], pos[1], o, progress)
	err = withFlagNames(fs, err)
	if rep != nil {
		if asJSON {
			if e := printJSON(stdout, rep); e != nil && err == nil {
				err = e
			}
		} else {
			printCompressReport(stdout, rep)
		}
	}
	return err
}

func printCompressReport(w io.Writer, r *engine.CompressReport) {
	fmt.Fprintf(w, "compressed %s → %s\n", r.Input, r.Output)
	fmt.Fprintf(w, "  bytes       %d → %d (%.1f%%)\n", r.BytesBefore, r.BytesAfter, pct(r.BytesAfter, r.BytesBefore))
	weightsBefore, weightsAfter := r.ParamsBefore-r.QuantParamsBefore, r.ParamsAfter-r.QuantParamsAfter
	fmt.Fprintf(w, "  parameters  %d → %d (%.1f%%)", weightsBefore, weightsAfter, pct(weightsAfter, weightsBefore))
	if r.QuantParamsBefore > 0 || r.QuantParamsAfter > 0 {
		fmt.Fprintf(w, ", plus %d → %d quantization scales and zero points", r.QuantParamsBefore, r.QuantParamsAfter)
	}
	fmt.Fprintln(w)
	if r.Sparsity > 0 {
		fmt.Fprintf(w, "  sparsity    %.1f%% of the weights are zero\n", 100*r.Sparsity)
	}
	if r.MACsBefore > 0 {
		fmt.Fprintf(w, "  MACs        %d → %d per sample (%.1f%%)\n", r.MACsBefore, r.MACsAfter, pct(r.MACsAfter, r.MACsBefore))
	} else if r.MACsAfter > 0 {
		fmt.Fprintf(w, "  MACs        %d per sample (the original's length was not declared)\n", r.MACsAfter)
	}
	for _, p := range r.Passes {
		fmt.Fprintf(w, "\n%s\n", p.Pass)
		if len(p.Layers) > 0 {
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  node\top\ttensor\tparams\trel. error\tworst ch.\tsparsity\tdetail")
			for _, l := range p.Layers {
				params := fmt.Sprint(l.ParamsBefore)
				if l.ParamsAfter != l.ParamsBefore {
					params = fmt.Sprintf("%d → %d", l.ParamsBefore, l.ParamsAfter)
				}
				relErr := fmt.Sprintf("%.4g", l.RelError)
				if l.RelErrorAbsmax > 0 {
					relErr += fmt.Sprintf(" (absmax %.4g)", l.RelErrorAbsmax)
				}
				sp := ""
				if l.Sparsity > 0 {
					sp = fmt.Sprintf("%.1f%%", 100*l.Sparsity)
				}
				ch := ""
				if l.ChannelError > 0 {
					ch = fmt.Sprintf("%.4g", l.ChannelError)
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.Node, l.Op, l.Tensor, params, relErr, ch, sp, l.Detail)
			}
			tw.Flush()
		}
		for _, s := range p.Skipped {
			fmt.Fprintf(w, "  skipped %s\n", s)
		}
		for _, n := range p.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
	}
	if r.Recover != nil {
		printTrainReport(w, "recover", r.Recover)
	}
	if v := r.Verify; v != nil {
		fmt.Fprintf(w, "\nverify (%s;\n        modelc verify's defaults differ: every element within atol %g + rtol %g·|ref|)\n",
			v.Tolerance, engine.DefaultATol, engine.DefaultRTol)
		for _, c := range v.InputCasts {
			fmt.Fprintf(w, "  cast %s\n", c)
		}
		for _, o := range v.Outputs {
			fmt.Fprintf(w, "  %s: max abs error %.4g, mean abs error %.4g, cosine %.6f, %d/%d elements outside atol/rtol", o.Name, o.MaxAbsError, o.MeanAbsError, o.Cosine, o.Mismatches, o.Elements)
			if o.NonFinite > 0 {
				fmt.Fprintf(w, ", %d NaN/Inf where the original is finite", o.NonFinite)
			}
			if o.Top1Agreement != nil {
				fmt.Fprintf(w, ", top-1 agreement %.2f%%", 100**o.Top1Agreement)
			}
			if o.RefAccuracy != nil && o.CandAccuracy != nil {
				fmt.Fprintf(w, ", accuracy %.2f%% → %.2f%%", 100**o.RefAccuracy, 100**o.CandAccuracy)
			}
			fmt.Fprintln(w)
		}
		for _, p := range v.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
		if v.Pass {
			fmt.Fprintln(w, "  pass")
		} else {
			fmt.Fprintln(w, "  FAIL")
		}
	}
}

func pct(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/compress/clip"
	"github.com/modelc/modelc/engine/compress/lowrank"
	"github.com/modelc/modelc/engine/compress/prune"
	"github.com/modelc/modelc/engine/compress/quant"
	"github.com/modelc/modelc/engine/compress/retarget"
	"github.com/modelc/modelc/engine/compress/simplify"
	"github.com/modelc/modelc/engine/format"
	"github.com/modelc/modelc/engine/ir"
	"github.com/modelc/modelc/engine/runtime"
)

// CompressOptions are the settings of Compress. The JSON keys are the CLI flag names with
// dashes turned into underscores; the C ABI and Python take the same keys. The passes
// given run in this order: simplify, prune, clip, lowrank, quantize. A recipe runs its
// steps in the order written instead.
type CompressOptions struct {
	// Quantize: int8, uint8, int4, uint4 (integer weights) or fp16, bf16 (float
	// conversion).
	Quantize string `json:"quantize,omitempty"`
	// Mode of integer quantization: weight-only (default), dynamic or static (8-bit).
	Mode string `json:"mode,omitempty"`
	// PerChannel: one scale per output channel. Unset (nil), 8-bit quantization is per
	// channel (per tensor can ruin a model whose channels differ in range) and clip per
	// tensor; true or false asks for one explicitly (JSON true/false, CLI --per-channel or
	// --per-channel=false).
	PerChannel *bool `json:"per_channel,omitempty"`
	// Symmetric: zero point at the middle of the range (int4 is always symmetric).
	Symmetric bool `json:"symmetric,omitempty"`
	// MaxLayerError is the accuracy guard of integer quantization: a layer whose worst
	// output channel's relative weight error ‖w_c − ŵ_c‖/‖w_c‖ exceeds it is kept in
	// higher precision (per-channel instead of per-tensor scales, int8 instead of int4,
	// float32 instead of 8 bits), reported layer by layer. 0: DefaultMaxLayerError; a
	// negative value: no guard.
	MaxLayerError float64 `json:"max_layer_error,omitempty"`
	// BlockSize: weights per scale for int4/uint4, a power of two ≥ 16 (default 32).
	BlockSize int `json:"block_size,omitempty"`
	// Calibration: an .npz of inputs keyed by graph input name, for static quantization.
	Calibration string `json:"calibration,omitempty"`
	// CalibrationMethod: minmax (default), percentile (99.999) or entropy.
	CalibrationMethod string `json:"calibration_method,omitempty"`
	// QuantizeOps: op types whose activations static quantization quantizes too, in
	// QDQ form from the calibrated ranges (LayerNormalization, Softmax, Gelu, Sigmoid,
	// Tanh). By default only the inputs of MatMul, Gemm and Conv are quantized and these
	// ops compute in float32. Each must occur in the model.
	QuantizeOps []string `json:"quantize_ops,omitempty"`
	// KeepIOTypes: fp16/bf16 conversion keeps float32 graph inputs and outputs.
	KeepIOTypes bool `json:"keep_io_types,omitempty"`
	// Prune: magnitude (per layer), global, 2:4 (or any N:M), channels (structured).
	Prune string `json:"prune,omitempty"`
	// Sparsity: the fraction of weights (magnitude, global; default 0.5) or of output
	// channels (channels; default 0.25) to remove, in [0, 1).
	Sparsity float64 `json:"sparsity,omitempty"`
	// Clip: percentile:P (clip to the P-th percentile of |w|) or range:LO,HI.
	Clip string `json:"clip,omitempty"`
	// Lowrank: rank:R or energy:E (0 < E ≤ 1).
	Lowrank string `json:"lowrank,omitempty"`
	// Simplify: fold constants and BatchNormalization, remove Identity/Dropout, dead
	// nodes and unused initializers.
	Simplify bool `json:"simplify,omitempty"`
	// Exclude: node name patterns (path.Match syntax) or op types the passes leave alone.
	Exclude []string `json:"exclude,omitempty"`
	// Recipe: a JSON file holding an ordered list of steps, each an object of the keys
	// above (not recipe, verify, inputs, labels).
	Recipe string `json:"recipe,omitempty"`
	// Verify runs the original and the result on Inputs (random inputs without) and
	// reports how far apart they are, with accuracy when Labels are given. It fails
	// (KindVerifyFailed, the output is kept) when an output's cosine similarity to the
	// original falls below MinCosine or it holds NaN/Inf where the original's is finite.
	Verify bool   `json:"verify,omitempty"`
	Inputs string `json:"inputs,omitempty"`
	Labels string `json:"labels,omitempty"`
	// MinCosine is the cosine similarity verification requires (default 0.95; a
	// negative value: report only, never fail).
	MinCosine float64 `json:"min_cosine,omitempty"`
	// Recover fine-tunes the compressed model by distillation from the original on the
	// inputs Data (TrainOptions), keeping pruned weights at zero and quantized weights
	// on their grid, in the form the passes wrote: QDQ (weight-only, static), dynamic
	// (MatMulInteger) or float16/bfloat16. It runs after every pass.
	Recover bool `json:"recover,omitempty"`
	TrainOptions
	// InputShape retargets an image input [N, C, H, W] to a new size, NAME=NxCxHxW (see
	// package retarget); InputScale scales the height and width of every such input.
	InputShape []string `json:"input_shape,omitempty"`
	InputScale float64  `json:"input_scale,omitempty"`
	// MaxSequenceLength retargets a token model ([batch, sequence] integer inputs) to a
	// shorter sequence (see retarget.Sequence).
	MaxSequenceLength int64 `json:"max_sequence_length,omitempty"`
}

// CompressReport is what Compress did (the JSON of `modelc compress --json`).
type CompressReport struct {
	Input        string `json:"input"`
	Output       string `json:"output"`
	BytesBefore  int64  `json:"bytes_before"`
	BytesAfter   int64  `json:"bytes_after"`
	ParamsBefore int64  `json:"params_before"`
	ParamsAfter  int64  `json:"params_after"`
	// QuantParamsBefore and QuantParamsAfter are the parts of the parameter counts that
	// are quantization scales and zero points (compress.QuantParams), not weights.
	QuantParamsBefore int64              `json:"quant_params_before"`
	QuantParamsAfter  int64              `json:"quant_params_after"`
	Sparsity          float64            `json:"sparsity"` // zeros among the float weights after pruning (0 without)
	Passes            []*compress.Report `json:"passes"`
	Recover           *TrainReport       `json:"recover,omitempty"`
	// MACsBefore and MACsAfter: multiply-accumulates per sample, when retargeted.
	MACsBefore int64         `json:"macs_before,omitempty"`
	MACsAfter  int64         `json:"macs_after,omitempty"`
	Verify     *VerifyReport `json:"verify,omitempty"`
}

// DefaultMaxLayerError is the accuracy guard's bound when none is given (see
// CompressOptions.MaxLayerError and README "Accuracy guard" for how it was chosen).
const DefaultMaxLayerError = 0.2

// perChannel resolves the per_channel option: explicit, or def when unset.
func (o CompressOptions) perChannel(def bool) bool {
	if o.PerChannel == nil {
		return def
	}
	return *o.PerChannel
}

// MinVerifyCosine is the cosine similarity a compressed model's outputs must keep with
// the original's for Compress's verification to pass (its only bound besides "no NaN or
// Inf where the original is finite"; see DefaultATol for how it differs from Verify's).
const MinVerifyCosine = 0.95

// Compress reads the model at src, applies the passes opts asks for and writes the
// result to dst (ONNX) atomically: on any error no output is written. src is never
// modified.
func Compress(ctx context.Context, src, dst string, opts CompressOptions, progress Progress) (*CompressReport, error) {
	if err := checkPaths(src, dst); err != nil {
		return nil, err
	}
	if err := checkOutputFolder(dst); err != nil {
		return nil, err
	}
	steps, err := compressSteps(opts)
	if err != nil {
		return nil, err
	}
	out, err := format.ForWrite(dst)
	if err != nil {
		return nil, err
	}
	if out.Name != "onnx" {
		return nil, &Error{Kind: KindInvalidArgument, File: dst, Err: fmt.Errorf("compress writes ONNX models: name the output *.onnx")}
	}
	return compressModel(ctx, steps, opts, progress, compressIO{
		input:  fileSource(src),
		output: dst,
		write: func(m *ir.Model) (modelSource, int64, error) {
			if err := out.Write(m, dst, format.WriteOptions{}); err != nil {
				return modelSource{}, 0, err
			}
			var size int64
			if st, err := os.Stat(dst); err == nil {
				size = st.Size()
			}
			return fileSource(dst), size, nil
		},
	})
}

// CompressBytes is Compress for a model held in memory: data in format from ("" detects it
// by its magic bytes), the result a new ONNX model's bytes. The options are Compress's;
// those that name files (calibration, recipe, inputs, labels) still take paths. With
// verify, a KindVerifyFailed error comes with both the output and the report, as Compress
// keeps its output file then. data is not retained after the call, and the result never
// aliases it.
func CompressBytes(ctx context.Context, data []byte, from string, opts CompressOptions, progress Progress) ([]byte, *CompressReport, error) {
	steps, err := compressSteps(opts)
	if err != nil {
		return nil, nil, err
	}
	var in *format.Format
	if from != "" {
		in, err = inMemory(from, true)
	} else {
		in, err = format.ForReadBytes(data, memoryName)
	}
	if err != nil {
		return nil, nil, err
	}
	out, err := format.ByName("onnx")
	if err != nil {
		return nil, nil, err
	}
	var result []byte
	rep, err := compressModel(ctx, steps, opts, progress, compressIO{
		// The passes may change tensors in place, and tensors alias what they are read
		// from: each read works on a private copy, so the host's buffer is never written
		// and verification's reference is the original.
		input: modelSource{name: memoryName, open: func() (*ir.Model, int64, error) {
			m, err := in.ReadBytes(append([]byte(nil), data...), memoryName)
			return m, int64(len(data)), err
		}},
		output: outputName,
		write: func(m *ir.Model) (modelSource, int64, error) {
			b, err := encode(m, out, outputName, format.WriteOptions{})
			if err != nil {
				return modelSource{}, 0, err
			}
			result = b
			return bytesSource(outputName, b, out.ReadBytes), int64(len(b)), nil
		},
	})
	if err != nil && (result == nil || KindOf(err) != KindVerifyFailed) {
		return nil, nil, err
	}
	return result, rep, err
}

// compressIO is where Compress's model comes from and goes to: files or memory.
type compressIO struct {
	input  modelSource // read once to compress, again as verification's reference
	output string      // what the report and messages call the output
	// write stores the compressed model and returns where to read it back from and its
	// size in bytes.
	write func(m *ir.Model) (modelSource, int64, error)
}

// compressModel runs the steps on the model where.input reads and writes the result with
// where.write: the pass pipeline Compress and CompressBytes share. The report comes back
// also when verification fails (KindVerifyFailed), the output written.
func compressModel(ctx context.Context, steps []CompressOptions, opts CompressOptions, progress Progress, where compressIO) (*CompressReport, error) {
	step := stepper(ctx, progress)
	src := where.input.name
	if opts.Recover {
		if err := recoverable(steps); err != nil {
			return nil, err
		}
	}
	if opts.Verify {
		if opts.Labels != "" && opts.Inputs == "" {
			return nil, Errorf(KindInvalidArgument, "option labels needs option inputs")
		}
		if opts.MinCosine > 1 || math.IsNaN(opts.MinCosine) {
			return nil, Errorf(KindInvalidArgument, "option min_cosine: %g is above 1", opts.MinCosine)
		}
	} else if opts.Inputs != "" || opts.Labels != "" || opts.MinCosine != 0 {
		return nil, Errorf(KindInvalidArgument, "options inputs, labels and min_cosine are used by verify; add verify")
	}
	if err := step("read", 0); err != nil {
		return nil, err
	}
	m, size, err := where.input.open()
	if err != nil {
		return nil, err
	}
	defer m.Close()
	if m.Graph == nil || len(m.Graph.Nodes) == 0 {
		return nil, &Error{Kind: KindInvalidArgument, File: src, Err: fmt.Errorf("the model has no graph to compress (weights only)")}
	}
	rep := &CompressReport{Input: src, Output: where.output, ParamsBefore: compress.Params(m), QuantParamsBefore: compress.QuantParams(m), BytesBefore: size}
	retargeted := len(opts.InputShape) > 0 || opts.InputScale != 0 || opts.MaxSequenceLength > 0
	if retargeted && !(opts.MaxSequenceLength > 0 && retarget.DynamicLength(m)) {
		if mc, err := CountMACs(ctx, m, nil); err == nil {
			rep.MACsBefore = mc.Total
		}
	}
	var fixed []string // nodes inserted by a pass that later passes and training leave alone
	for i, s := range steps {
		for _, p := range s.passes() {
			if err := step(p, float64(i)/float64(len(steps)+1)); err != nil {
				return nil, err
			}
			so := s
			so.Exclude = append(slices.Clone(s.Exclude), fixed...)
			r, err := runPass(p, so, m, src)
			if err != nil {
				return nil, err
			}
			fixed = append(fixed, r.Fixed...)
			if p == "prune" {
				rep.Sparsity = compress.WeightSparsity(m)
			}
			rep.Passes = append(rep.Passes, r)
		}
	}
	if opts.Recover {
		to := opts.TrainOptions
		to.Freeze = append(slices.Clone(to.Freeze), fixed...)
		r, err := recoverModel(ctx, where.input, m, to, step)
		if err != nil {
			return nil, err
		}
		rep.Recover = r
		if rep.Sparsity > 0 {
			rep.Sparsity = compress.WeightSparsity(m)
		}
	}
	rep.ParamsAfter, rep.QuantParamsAfter = compress.Params(m), compress.QuantParams(m)
	if retargeted {
		if mc, err := CountMACs(ctx, m, nil); err == nil {
			rep.MACsAfter = mc.Total
		}
	}
	if err := step("write", float64(len(steps))/float64(len(steps)+1)); err != nil {
		return nil, err
	}
	// A pass that would give a model onnxruntime refuses fails here, before any output.
	if err := checkModel(m, KindUnsupported, where.output); err != nil {
		return nil, err
	}
	written, size, err := where.write(m)
	if err != nil {
		return nil, err
	}
	rep.BytesAfter = size
	if opts.Verify {
		// Compression changes the outputs by design: the cosine similarity is required
		// (MinVerifyCosine by default), the elements outside verify's default atol/rtol
		// are counted but not enforced, NaN/Inf fails (see DefaultATol).
		minCos := opts.MinCosine
		if minCos == 0 {
			minCos = MinVerifyCosine
		}
		vr, err := verifySources(ctx, where.input, written, VerifyOptions{Inputs: opts.Inputs, Labels: opts.Labels, MinCosine: max(minCos, -1), cosineOnly: true}, nil)
		rep.Verify = vr
		if err != nil {
			return rep, err
		}
	}
	if progress != nil {
		progress("done", 1)
	}
	return rep, nil
}

// compressSteps validates opts and returns the steps to run: opts itself, or the recipe.
func compressSteps(opts CompressOptions) ([]CompressOptions, error) {
	if opts.Recover {
		if err := opts.TrainOptions.check(); err != nil {
			return nil, err
		}
	} else if opts.TrainOptions.set() {
		return nil, Errorf(KindInvalidArgument, "the training options (data, epochs, batch_size, lr, ...) are used by recover; add recover")
	}
	if opts.Recipe == "" {
		if err := checkStep(opts, "option"); err != nil {
			return nil, err
		}
		if len(opts.passes()) == 0 {
			return nil, Errorf(KindInvalidArgument, "nothing to do: give quantize, prune, clip, lowrank, simplify or recipe")
		}
		return []CompressOptions{opts}, nil
	}
	if opts.Quantize != "" || opts.Prune != "" || opts.Clip != "" || opts.Lowrank != "" || opts.Simplify || len(opts.QuantizeOps) > 0 {
		return nil, Errorf(KindInvalidArgument, "option recipe: give the passes either in the recipe or as options, not both")
	}
	data, err := os.ReadFile(opts.Recipe)
	if err != nil {
		return nil, &Error{Kind: KindIO, File: opts.Recipe, Err: err}
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, &Error{Kind: KindInvalidArgument, File: opts.Recipe, Err: fmt.Errorf("a recipe is a JSON list of steps: %v", err)}
	}
	if len(raw) == 0 {
		return nil, &Error{Kind: KindInvalidArgument, File: opts.Recipe, Err: fmt.Errorf("the recipe has no steps")}
	}
	var steps []CompressOptions
	for i, r := range raw {
		var s CompressOptions
		if err := ParseOptions(r, &s); err != nil {
			return nil, &Error{Kind: KindInvalidArgument, File: opts.Recipe, Where: fmt.Sprintf("step %d", i+1), Err: err}
		}
		if s.Recipe != "" || s.Verify || s.Inputs != "" || s.Labels != "" || s.MinCosine != 0 || s.Recover || s.TrainOptions.set() {
			return nil, &Error{Kind: KindInvalidArgument, File: opts.Recipe, Where: fmt.Sprintf("step %d", i+1), Err: fmt.Errorf("recipe, verify, inputs, labels, recover and its training options belong to the command, not to a step")}
		}
		if len(s.Exclude) == 0 {
			s.Exclude = opts.Exclude
		}
		if err := checkStep(s, fmt.Sprintf("%s: step %d: option", opts.Recipe, i+1)); err != nil {
			return nil, err
		}
		if len(s.passes()) == 0 {
			return nil, &Error{Kind: KindInvalidArgument, File: opts.Recipe, Where: fmt.Sprintf("step %d", i+1), Err: fmt.Errorf("the step names no pass")}
		}
		steps = append(steps, s)
	}
	return steps, nil
}

// passes lists the passes a step runs, in their fixed order.
func (o CompressOptions) passes() []string {
	var p []string
	if len(o.InputShape) > 0 || o.InputScale != 0 || o.MaxSequenceLength > 0 {
		p = append(p, "retarget")
	}
	if o.Simplify {
		p = append(p, "simplify")
	}
	if o.Prune != "" {
		p = append(p, "prune")
	}
	if o.Clip != "" {
		p = append(p, "clip")
	}
	if o.Lowrank != "" {
		p = append(p, "lowrank")
	}
	if o.Quantize != "" {
		p = append(p, "quantize")
	}
	return p
}

func bad(prefix, key, format string, args ...any) error {
	return Errorf(KindInvalidArgument, "%s %s: %s", prefix, key, fmt.Sprintf(format, args...))
}

// checkStep validates one step's options; prefix names where they came from.
func checkStep(o CompressOptions, prefix string) error {
	if len(o.InputShape) > 0 && o.InputScale != 0 {
		return bad(prefix, "input_scale", "give input_shape or input_scale, not both")
	}
	if o.MaxSequenceLength < 0 {
		return bad(prefix, "max_sequence_length", "%d is not a positive length", o.MaxSequenceLength)
	}
	if o.MaxSequenceLength > 0 && (len(o.InputShape) > 0 || o.InputScale != 0) {
		return bad(prefix, "max_sequence_length", "give max_sequence_length or input_shape/input_scale, not both")
	}
	if o.InputScale < 0 || math.IsNaN(o.InputScale) || math.IsInf(o.InputScale, 0) {
		return bad(prefix, "input_scale", "%g is not a positive number", o.InputScale)
	}
	if _, err := ParseInputShapes(o.InputShape); err != nil {
		return err
	}
	switch o.Quantize {
	case "", "int8", "uint8", "int4", "uint4", "fp16", "bf16":
	default:
		return bad(prefix, "quantize", "%q is not one of int8, uint8, int4, uint4, fp16, bf16", o.Quantize)
	}
	switch o.Mode {
	case "", "weight-only", "dynamic", "static":
	default:
		return bad(prefix, "mode", "%q is not one of weight-only, dynamic, static", o.Mode)
	}
	if o.Mode != "" && (o.Quantize == "" || o.Quantize == "fp16" || o.Quantize == "bf16") {
		return bad(prefix, "mode", "applies to integer quantization (quantize int8, uint8, int4, uint4)")
	}
	four := o.Quantize == "int4" || o.Quantize == "uint4"
	if four && (o.Mode == "dynamic" || o.Mode == "static") {
		return bad(prefix, "mode", "%s quantization is weight-only", o.Quantize)
	}
	if o.BlockSize != 0 {
		if !four {
			return bad(prefix, "block_size", "applies to int4 and uint4")
		}
		if o.BlockSize < 16 || o.BlockSize&(o.BlockSize-1) != 0 {
			return bad(prefix, "block_size", "%d is not a power of two ≥ 16", o.BlockSize)
		}
	}
	if o.Mode == "static" && o.Calibration == "" {
		return bad(prefix, "calibration", "static quantization needs calibration data (an .npz of model inputs)")
	}
	if o.Calibration != "" && o.Mode != "static" {
		return bad(prefix, "calibration", "is used by mode static only")
	}
	switch o.CalibrationMethod {
	case "", quant.MinMax, quant.Entropy:
	default:
		if _, ok := parsePercentile(o.CalibrationMethod); !ok {
			return bad(prefix, "calibration_method", "%q is not one of minmax, percentile, percentile:P, entropy", o.CalibrationMethod)
		}
	}
	if o.CalibrationMethod != "" && o.Mode != "static" {
		return bad(prefix, "calibration_method", "is used by mode static only")
	}
	if len(o.QuantizeOps) > 0 {
		if o.Mode != "static" {
			return bad(prefix, "quantize_ops", "is used by mode static only")
		}
		if err := quant.CheckOps(o.QuantizeOps); err != nil {
			return bad(prefix, "quantize_ops", "%v", err)
		}
	}
	if o.MaxLayerError != 0 {
		if o.Quantize == "" || o.Quantize == "fp16" || o.Quantize == "bf16" {
			return bad(prefix, "max_layer_error", "applies to integer quantization (quantize int8, uint8, int4, uint4)")
		}
		if math.IsNaN(o.MaxLayerError) || math.IsInf(o.MaxLayerError, 0) {
			return bad(prefix, "max_layer_error", "%g is not a finite number", o.MaxLayerError)
		}
	}
	if o.KeepIOTypes && o.Quantize != "fp16" && o.Quantize != "bf16" {
		return bad(prefix, "keep_io_types", "applies to quantize fp16 and bf16")
	}
	if o.Prune != "" {
		if _, _, ok := parseNM(o.Prune); !ok && o.Prune != "magnitude" && o.Prune != "global" && o.Prune != "channels" {
			return bad(prefix, "prune", "%q is not one of magnitude, global, 2:4 (N:M), channels", o.Prune)
		}
	}
	if o.Sparsity < 0 || o.Sparsity >= 1 || math.IsNaN(o.Sparsity) {
		return bad(prefix, "sparsity", "%g is outside [0, 1)", o.Sparsity)
	}
	if o.Sparsity != 0 && (o.Prune == "" || strings.Contains(o.Prune, ":")) {
		return bad(prefix, "sparsity", "applies to prune magnitude, global and channels")
	}
	if o.Clip != "" {
		if _, err := parseClip(o.Clip); err != nil {
			return bad(prefix, "clip", "%v", err)
		}
	}
	if o.Lowrank != "" {
		if _, err := parseLowrank(o.Lowrank); err != nil {
			return bad(prefix, "lowrank", "%v", err)
		}
	}
	if err := compress.Exclude(o.Exclude).Check(); err != nil {
		return bad(prefix, "exclude", "%v", err)
	}
	return nil
}

func parseNM(s string) (n, m int, ok bool) {
	a, b, found := strings.Cut(s, ":")
	if !found {
		return 0, 0, false
	}
	n, err1 := strconv.Atoi(a)
	m, err2 := strconv.Atoi(b)
	return n, m, err1 == nil && err2 == nil && n > 0 && m > n && m <= 64
}

func parsePercentile(s string) (float64, bool) {
	if s == "percentile" {
		return 99.999, true
	}
	v, found := strings.CutPrefix(s, "percentile:")
	if !found {
		return 0, false
	}
	p, err := strconv.ParseFloat(v, 64)
	return p, err == nil && p > 50 && p <= 100
}

func parseClip(s string) (clip.Options, error) {
	if v, ok := strings.CutPrefix(s, "percentile:"); ok {
		p, err := strconv.ParseFloat(v, 64)
		if err != nil || !(p > 0 && p <= 100) {
			return clip.Options{}, fmt.Errorf("percentile %q is not a number in (0, 100]", v)
		}
		return clip.Options{Percentile: p}, nil
	}
	if v, ok := strings.CutPrefix(s, "range:"); ok {
		a, b, found := strings.Cut(v, ",")
		lo, err1 := strconv.ParseFloat(a, 32)
		hi, err2 := strconv.ParseFloat(b, 32)
		if !found || err1 != nil || err2 != nil || !(lo < hi) {
			return clip.Options{}, fmt.Errorf("range %q is not LO,HI with LO < HI", v)
		}
		return clip.Options{Lo: float32(lo), Hi: float32(hi)}, nil
	}
	return clip.Options{}, fmt.Errorf("%q is not percentile:P or range:LO,HI", s)
}

func parseLowrank(s string) (lowrank.Options, error) {
	if v, ok := strings.CutPrefix(s, "rank:"); ok {
		r, err := strconv.Atoi(v)
		if err != nil || r < 1 {
			return lowrank.Options{}, fmt.Errorf("rank %q is not a positive integer", v)
		}
		return lowrank.Options{Rank: r}, nil
	}
	if v, ok := strings.CutPrefix(s, "energy:"); ok {
		e, err := strconv.ParseFloat(v, 64)
		if err != nil || !(e > 0 && e <= 1) {
			return lowrank.Options{}, fmt.Errorf("energy %q is not a number in (0, 1]", v)
		}
		return lowrank.Options{Energy: e}, nil
	}
	return lowrank.Options{}, fmt.Errorf("%q is not rank:R or energy:E", s)
}

// runPass runs one pass of step s on m. A pass that finds nothing to work on is an error
// naming its option: the user asked for something the model lacks.
func runPass(pass string, s CompressOptions, m *ir.Model, src string) (*compress.Report, error) {
	ex := compress.Exclude(s.Exclude)
	if err := excludeMatches(m, ex); err != nil {
		return nil, err
	}
	var r *compress.Report
	var err error
	key := pass
	// Weights held in Constant nodes (tf2onnx and other exporters write them so) become
	// initializers, which every pass works on; the values keep their names.
	lifted := compress.LiftConstants(m)
	switch pass {
	case "retarget":
		r, err = retargetPass(m, s)
	case "simplify":
		r, err = simplify.Simplify(m)
	case "prune":
		sp := s.Sparsity
		switch s.Prune {
		case "magnitude":
			r, err = prune.Magnitude(m, orDefault(sp, 0.5), ex)
		case "global":
			r, err = prune.Global(m, orDefault(sp, 0.5), ex)
		case "channels":
			r, err = prune.Channels(m, orDefault(sp, 0.25), "l1", ex)
		default:
			n, mm, _ := parseNM(s.Prune)
			r, err = prune.NM(m, n, mm, ex)
		}
	case "clip":
		o, _ := parseClip(s.Clip)
		o.PerChannel, o.Exclude = s.perChannel(false), ex
		r, err = clip.Clip(m, o)
	case "lowrank":
		o, _ := parseLowrank(s.Lowrank)
		o.Exclude = ex
		r, err = lowrank.Factorize(m, o)
	case "quantize":
		r, err = runQuantize(s, m, ex)
	}
	if err != nil {
		if _, ok := err.(*Error); ok {
			return nil, err
		}
		return nil, &Error{Kind: KindInvalidArgument, File: src, Err: fmt.Errorf("option %s: %w", key, err)}
	}
	if pass != "simplify" && len(r.Layers) == 0 && len(r.Notes) == 0 {
		why := "no MatMul, Gemm or Conv with a float32 constant weight qualifies"
		if len(r.Skipped) > 0 {
			why += " (" + strings.Join(r.Skipped, "; ") + ")"
		} else {
			why += " (" + compress.WhyNoLayers(m) + ")"
		}
		return nil, &Error{Kind: KindInvalidArgument, File: src, Err: fmt.Errorf("option %s: nothing to do: %s; the model's ops: %s", key, why, compress.OpTypes(m))}
	}
	if lifted > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d Constant-node tensors turned into initializers (same names and values)", lifted))
	}
	return r, nil
}

func orDefault(v, d float64) float64 {
	if v == 0 {
		return d
	}
	return v
}

// excludeMatches refuses an exclude pattern that matches no node: a typo would
// otherwise silently compress what the user meant to protect.
func excludeMatches(m *ir.Model, ex compress.Exclude) error {
	for _, p := range ex {
		found := false
		ir.WalkGraphs(m.Graph, func(g *ir.Graph) {
			for _, n := range g.Nodes {
				found = found || (compress.Exclude{p}).Matches(n)
			}
		})
		if !found {
			return Errorf(KindInvalidArgument, "option exclude: %q matches no node name or op type (the model's ops: %s)", p, compress.OpTypes(m))
		}
	}
	return nil
}

func runQuantize(s CompressOptions, m *ir.Model, ex compress.Exclude) (*compress.Report, error) {
	if s.Quantize == "fp16" || s.Quantize == "bf16" {
		t := ir.Float16
		if s.Quantize == "bf16" {
			t = ir.BFloat16
		}
		// BatchNormalization first folded into the layer before it: its variance often
		// exceeds the 16-bit range (a BatchNormalization left, and any constant out of
		// range, stays float32).
		folded := &compress.Report{}
		if _, err := simplify.FoldBatchNorm(m, folded); err != nil {
			return nil, err
		}
		r, err := quant.Float16(m, quant.FloatOptions{Type: t, KeepIO: s.KeepIOTypes, Exclude: ex})
		if r != nil && len(folded.Notes) > 0 {
			r.Notes = append(r.Notes, "BatchNormalization folded first: "+strings.Join(folded.Notes, ", "))
		}
		return r, err
	}
	t, _ := ir.DTypeByName(s.Quantize)
	guard := s.MaxLayerError
	if guard == 0 {
		guard = DefaultMaxLayerError
	}
	o := quant.Options{Type: t, PerChannel: s.perChannel(true), Symmetric: s.Symmetric, BlockSize: s.BlockSize, Exclude: ex,
		MaxLayerError: guard}
	switch s.Mode {
	case "dynamic":
		return quant.Dynamic(m, o)
	case "static":
		so := quant.StaticOptions{Options: o, Method: s.CalibrationMethod, Ops: s.QuantizeOps}
		if p, ok := parsePercentile(s.CalibrationMethod); ok {
			so.Method, so.Percentile = quant.Percentile, p
		}
		if err := quantizeOpsPresent(m, s.QuantizeOps, ex); err != nil {
			return nil, err
		}
		collect, err := calibrationCollector(m, s.Calibration)
		if err != nil {
			return nil, err
		}
		return quant.Static(m, so, collect)
	}
	return quant.WeightOnly(m, o)
}

// quantizeOpsPresent refuses an op type of quantize_ops that the model lacks or whose
// every node exclude leaves alone: the user asked for something that cannot happen.
func quantizeOpsPresent(m *ir.Model, ops []string, ex compress.Exclude) error {
	for _, op := range ops {
		found, kept := false, false
		for _, n := range m.Graph.Nodes {
			if n.OpType == op && (n.Domain == "" || n.Domain == "ai.onnx") {
				found = true
				kept = kept || !ex.Matches(n)
			}
		}
		if !found {
			return Errorf(KindInvalidArgument, "option quantize_ops: the model has no %s node (the model's ops: %s)", op, compress.OpTypes(m))
		}
		if !kept {
			return Errorf(KindInvalidArgument, "option quantize_ops: every %s node is left alone by option exclude", op)
		}
	}
	return nil
}

// calibrationCollector loads the calibration inputs, checks them against the model's
// inputs, and returns a collector that runs the float model (as it is now) with the
// asked-for values added to its outputs.
func calibrationCollector(m *ir.Model, path string) (quant.Collector, error) {
	return calibrationCollectorFor(m, path, false)
}

// calibrationCollectorFor is calibrationCollector; floatOnly leaves the values that are
// not float32 (token ids, shape arithmetic) out of the result instead of refusing them.
func calibrationCollectorFor(m *ir.Model, path string, floatOnly bool) (quant.Collector, error) {
	arrays, names, err := LoadArrays(path)
	if err != nil {
		return nil, err
	}
	inits := map[string]bool{}
	for _, t := range m.Graph.Initializers {
		inits[t.Name] = true
	}
	inputs := map[string]*runtime.Tensor{}
	var want []string
	for _, v := range m.Graph.Inputs {
		if inits[v.Name] {
			continue // an initializer that may be overridden: optional
		}
		want = append(want, v.Name)
		t, ok := arrays[v.Name]
		if !ok {
			return nil, &Error{Kind: KindInvalidArgument, File: path, Err: fmt.Errorf("option calibration: no array for the model input %q (the file holds %s)", v.Name, strings.Join(names, ", "))}
		}
		if err := checkShape(v, t); err != nil {
			return nil, &Error{Kind: KindInvalidArgument, File: path, Err: fmt.Errorf("option calibration: %v", err)}
		}
		rt, err := runtime.FromIR(t)
		if err != nil {
			return nil, err
		}
		inputs[v.Name] = rt
	}
	for _, n := range names {
		if inputs[n] == nil {
			return nil, &Error{Kind: KindInvalidArgument, File: path, Err: fmt.Errorf("option calibration: array %q is not a model input (inputs: %s)", n, strings.Join(want, ", "))}
		}
	}
	return func(values []string) (map[string][]float32, error) {
		out := map[string][]float32{}
		g := *m.Graph
		g.Outputs = nil
		for _, v := range values {
			if t := inputs[v]; t != nil {
				f, ok := t.Data.([]float32)
				if !ok && floatOnly {
					continue
				}
				if !ok {
					return nil, Errorf(KindUnsupported, "calibration input %q is %v, not float32", v, t.DType)
				}
				out[v] = f
				continue
			}
			g.Outputs = append(g.Outputs, &ir.ValueInfo{Name: v})
		}
		if len(g.Outputs) == 0 {
			return out, nil
		}
		probe := *m
		probe.Graph = &g
		s, err := runtime.New(&probe, runtime.Options{})
		if err != nil {
			return nil, err
		}
		res, err := s.Run(context.Background(), inputs)
		if err != nil {
			return nil, err
		}
		for _, o := range g.Outputs {
			f, ok := res[o.Name].Data.([]float32)
			if !ok && floatOnly {
				continue
			}
			if !ok {
				return nil, Errorf(KindUnsupported, "activation %q is %v, not float32: it cannot be calibrated", o.Name, res[o.Name].DType)
			}
			out[o.Name] = f
		}
		return out, nil
	}, nil
}

// checkShape compares a calibration array with a graph input's declared type.
func checkShape(v *ir.ValueInfo, t *ir.Tensor) error {
	if v.Type == nil || v.Type.Kind != ir.TypeTensor {
		return nil
	}
	if v.Type.ElemType != t.DType {
		return fmt.Errorf("array %q is %v, the model input is %v", v.Name, t.DType, v.Type.ElemType)
	}
	if v.Type.Shape == nil {
		return nil
	}
	dims := v.Type.Shape.Dims
	if len(dims) != len(t.Shape) {
		return fmt.Errorf("array %q has shape %v, the model input has rank %d", v.Name, t.Shape, len(dims))
	}
	for i, d := range dims {
		if d.HasValue && d.Value >= 0 && d.Value != t.Shape[i] { // negative: free, as in onnxruntime
			return fmt.Errorf("array %q has shape %v, the model input needs %d at dimension %d", v.Name, t.Shape, d.Value, i)
		}
	}
	return nil
}

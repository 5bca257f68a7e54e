// Command modelc converts, compresses and verifies deep-learning models.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/modelc/modelc/engine"
)

// Version is the modelc release; `make` may override it with -ldflags.
var Version = "0.1.0-dev"

// Exit codes, one per error kind (see usage).
const (
	exitOK          = 0
	exitInternal    = 1
	exitUsage       = 2
	exitIO          = 3
	exitCorrupt     = 4
	exitUnsupported = 5
	exitVerify      = 6
	exitCancelled   = 7
)

const usage = `modelc — convert, compress and verify deep-learning models

Usage:
  modelc info MODEL [--json]          summarise a model: format, opsets, inputs and
                                      outputs, op histogram, parameters, bytes per dtype
  modelc check MODEL [--json]         validate every node against the ONNX operator schemas
                                      of the model's opsets (attributes, input and output
                                      counts, element types), as onnxruntime does on load;
                                      exit 4 with each problem listed when invalid
  modelc convert IN OUT [flags]       convert IN to the format OUT's extension names
      --to FORMAT                     output format, when the extension does not say it
      --external-data                 ONNX: store initializers in OUT.data beside OUT
      --external-data-file NAME       ONNX: name of that file (relative to OUT's folder)
      --size-threshold BYTES          ONNX: initializers below this stay inline (1024)
      --max-shard-size SIZE           safetensors: split OUT into shards of at most SIZE
                                      (5GB, 500MB, 2GiB) named like model-00001-of-00003
                                      .safetensors, beside model.safetensors.index.json
      --quantize TYPE                 GGUF: store the weight matrices as q8_0, q4_0, q4_1,
                                      q5_0, q5_1, q4_k, q5_k, q6_k, f16, bf16 or f32,
                                      byte for byte as llama.cpp (1-D tensors and norms
                                      become f32; rows that are not whole blocks fall back
                                      as llama-quantize does)
      --opset N                       ONNX: convert to ai.onnx opset N (7 to 23), up or
                                      down: attributes that became inputs (Squeeze, Reduce*,
                                      Split, Pad, Clip, Slice, TopK, Resize, ...) move, new
                                      ops are written with older ones where possible; a node
                                      the target cannot express is refused by name (exit 5)
  modelc backends [--json]            the CPU, its features, and the kernel chosen for each
                                      operation (MODELC_ACCEL=go|avx2|avx512|neon|cuda|auto
                                      overrides the automatic choice; the cuda: line
                                      says whether a GPU is usable, or why not)
  modelc run MODEL [flags]            run MODEL with the reference runtime
      --input NAME=FILE.npy           one input (repeatable)
      --inputs FILE.npz               inputs keyed by input name
      --output-dir DIR                write DIR/<output>.npy (default .); a name that is
                                      not a safe file name is %%-escaped and reported
      --threads N                     kernel threads (default: one per CPU)
  modelc verify REF CAND [flags]      run both models on the same inputs and compare the
                                      outputs: max/mean abs error, max rel error, cosine,
                                      top-1 agreement, accuracy, sizes, parameters;
                                      exit 6 when outside the tolerance
      --inputs FILE.npz               the inputs (default: random, per dtype and shape)
      --samples N --seed S            N random input sets drawn from seed S
      --labels FILE.npy               class indices: report each model's accuracy
      --atol A --rtol R               |cand-ref| <= A + R*|ref| everywhere (1e-5, 1e-4)
      --min-cosine C                  cosine similarity at least C per output
      --json                          the report as JSON
  modelc compress IN OUT [flags]      shrink an ONNX model; prints bytes and parameters before
                                      and after, each layer's relative error ‖W−Ŵ‖/‖W‖, sparsity
      --quantize T                    int8, uint8, int4, uint4 (integer weights), fp16, bf16
      --mode M                        weight-only (default), dynamic (DynamicQuantizeLinear +
                                      MatMulInteger) or static (calibrated QDQ) — 8-bit only
      --per-channel --symmetric       a scale per output channel; zero point in the middle
      --block-size N                  int4/uint4: weights per scale (power of two ≥ 16; 32)
      --calibration FILE.npz          static: calibration inputs keyed by input name
      --calibration-method M          static: minmax (default), percentile[:P], entropy
      --quantize-ops OPS              static: also put QuantizeLinear/DequantizeLinear around
                                      the activations of these op types (comma-separated:
                                      LayerNormalization, Softmax, Gelu, Sigmoid, Tanh),
                                      which by default stay float32; each must be in IN
      --keep-io-types                 fp16/bf16: keep float32 graph inputs and outputs
                                      (Softmax, LayerNorm, Exp, reductions... stay float32)
      --prune P --sparsity F          magnitude (per layer) or global: zero the fraction F
                                      (0.5); 2:4 (any N:M); channels: remove the fraction F
                                      (0.25) of output channels and shrink the next layer
      --clip C                        percentile:P (of |w|; per channel with --per-channel)
                                      or range:LO,HI
      --lowrank L                     rank:R or energy:E: MatMul/Gemm weights as two SVD
                                      factors where that has fewer parameters
      --simplify                      fold constants and BatchNorm, drop Identity/Dropout,
                                      dead nodes and unused initializers
      --exclude PATTERN               node name pattern or op type to leave alone (repeatable)
      --recipe FILE.json              an ordered list of steps, e.g.
                                      [{"prune":"2:4"},{"quantize":"int4","block_size":32}]
      --verify [--inputs F.npz] [--labels F.npy]
                                      compare with the original: errors, top-1 agreement,
                                      accuracy; exit 6 (output kept) when an output's cosine
                                      similarity falls below --min-cosine C (0.95; -1: never)
      --json                          the report as JSON
  modelc version                      print the version
  modelc help                         this text

Formats: %s. An ONNX model over the 2 GiB protobuf limit is written with external
data automatically.
IN may be a folder (or its index file) holding a sharded safetensors or PyTorch
checkpoint; a Hugging Face folder with config.json (Llama, Mistral, Qwen2) converts to
GGUF as llama.cpp's convert_hf_to_gguf.py does. GGUF block types are dequantized to
float32 for formats that cannot hold them. PyTorch checkpoints (.pt, .pth, .bin) are read with an allow-list: a pickle
that asks for anything but tensors, storages, dtypes and dicts is refused, never run.

Exit codes:
  0  success
  1  internal error (a bug in modelc: please report it)
  2  usage error: bad command, flag, option or path
  3  I/O error: a file could not be read or written
  4  corrupt or unsupported file
  5  unsupported op or dtype
  6  verification failed
  7  cancelled
`

func main() {
	// Ctrl-C or SIGTERM: remove the half-written temporary outputs, so nothing partial
	// is left beside them, and exit with the "cancelled" code.
	interrupts := make(chan os.Signal, 1)
	signal.Notify(interrupts, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-interrupts
		engine.AbortWrites()
		fmt.Fprintf(os.Stderr, "\nmodelc: %v: stopped; no output was written\n", sig)
		os.Exit(exitCancelled)
	}()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is a mistake on the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "modelc: internal error: %v\n", r)
			code = exitInternal
		}
	}()
	if len(args) == 0 {
		fmt.Fprintf(stderr, usage, formatList())
		return exitUsage
	}
	var err error
	switch args[0] {
	case "info":
		err = cmdInfo(args[1:], stdout)
	case "check":
		err = cmdCheck(args[1:], stdout)
	case "convert":
		err = cmdConvert(args[1:], stdout, stderr)
	case "run":
		err = cmdRun(args[1:], stdout)
	case "verify":
		err = cmdVerify(args[1:], stdout)
	case "compress":
		err = cmdCompress(args[1:], stdout, stderr)
	case "backends":
		err = cmdBackends(args[1:], stdout)
	case "version", "--version":
		fmt.Fprintf(stdout, "modelc %s\n", Version)
	case "help", "-h", "--help":
		fmt.Fprintf(stdout, usage, formatList())
	default:
		err = usageError{fmt.Sprintf("unknown command %q; run 'modelc help'", args[0])}
	}
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(stderr, "modelc: %v\n", err)
	return exitCode(err)
}

func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	switch engine.KindOf(err) {
	case engine.KindInvalidArgument:
		return exitUsage
	case engine.KindIO:
		return exitIO
	case engine.KindCorrupt:
		return exitCorrupt
	case engine.KindUnsupported:
		return exitUnsupported
	case engine.KindVerifyFailed:
		return exitVerify
	case engine.KindCancelled:
		return exitCancelled
	}
	return exitInternal
}

func formatList() string { return strings.Join(engineFormats(), ", ") }

// parseArgs parses flags that may come before, between or after the positional
// arguments, and checks the number of positionals.
func parseArgs(fs *flag.FlagSet, args []string, want int, names string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{fmt.Sprintf("%s: %v", fs.Name(), err)}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) != want {
		return nil, usageError{fmt.Sprintf("usage: modelc %s %s", fs.Name(), names)}
	}
	return pos, nil
}

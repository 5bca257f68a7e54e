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
  modelc info MODEL [--tensors] [--json]
                                      summarise a model: format, opsets, inputs and
                                      outputs, op histogram, parameters, bytes per dtype
                                      (Constant-node and subgraph weights included), and
                                      whether it passes the ONNX operator schemas; for a
                                      weights-only file (safetensors, GGUF, PyTorch,
                                      NumPy) its tensors by dtype, the largest, metadata
      --tensors                       list every tensor (name, dtype, shape, bytes)
      --macs                          multiply-accumulates of one forward pass (Conv,
                                      ConvTranspose, MatMul, Gemm), in total and per op
                                      type, at the declared input shapes (symbolic
                                      dimensions as 1); runs the model once on zeros
      --input-shape NAME=DIMS         count at this shape instead, e.g. input=1x3x112x112
                                      (repeatable; implies --macs)
  modelc check MODEL [--json]         validate every node against the ONNX operator schemas
                                      of the model's opsets (attributes, input and output
                                      counts, element types), as onnxruntime does on load;
                                      exit 4 with each problem listed when invalid
  modelc convert IN OUT [flags]       convert IN to the format OUT's extension names
                                      (a TorchScript archive, torch.jit.save: its weights
                                      always, its graph when traced; see the README)
      --to FORMAT                     output format, when the extension does not say it
                                      (torchscript: OUT is an archive torch.jit.load runs)
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
                                      as llama-quantize does); auto: f16, or bf16 for a
                                      bf16 model, as convert_hf_to_gguf.py's default
                                      --outtype auto. Without --quantize every tensor keeps
                                      its type: an F32 checkpoint stays F32 (use auto for
                                      llama.cpp's F16). A block whose f16 scale would
                                      overflow is refused (exit 5), as llama-quantize does
      --opset N                       ONNX: convert to ai.onnx opset N (7 to 23), up or
                                      down: attributes that became inputs (Squeeze, Reduce*,
                                      Split, Pad, Clip, Slice, TopK, Resize, ...) move, new
                                      ops are written with older ones where possible; a node
                                      the target cannot express is refused by name (exit 5)
      --quantize fp16|int8            TFLite (OUT.tflite): fp16 weights behind DEQUANTIZE;
      --mode dynamic                  int8 weights (per channel), float activations;
      --calibration DATA.npz          full-integer int8 calibrated on DATA (inputs by name)
                                      with modelc's runtime: int8 activations, per-channel
                                      int8 weights (zero point 0), int32 bias, float I/O
      --int8-io                       (with --calibration) int8 inputs and outputs
      --nhwc-io | --keep-nchw-io      TFLite: 4-D inputs/outputs in NHWC, or (default) in
                                      the source's NCHW with at most one TRANSPOSE per edge;
                                      inside, the layout is NHWC throughout (TRANSPOSE-free
                                      for CNNs). A .tflite input reads back as ONNX ops
                                      (quantized tensors in QDQ form) for convert, info,
                                      run and verify
      --max-shard-size SIZE           GGUF: write a split set as llama.cpp's gguf-split does,
      --max-shard-tensors N           OUT-00001-of-0000N.gguf ..., a new file before a
                                      tensor that would pass SIZE bytes or after N tensors
                                      (split.no, split.count, split.tensors.count in every
                                      file, the model's metadata in the first). Every reader
                                      takes a set by its first file; converting it to one
                                      .gguf merges it
      --splits N                      GGUF: a split set of N files, the tensors in order cut
                                      into runs of about equal cost (bytes × the output
                                      type's cost per byte; see modelc plan)
      --shard I/N                     GGUF: write only file I (1 to N) of the set --splits N
                                      writes, byte for byte the same: N workers, one per I,
                                      together write the set; each file appears whole or not.
                                      safetensors (--splits N, --shard I/N): shards of about
                                      equal size, NAME-0000I-of-0000N.safetensors; the
                                      index comes with shard N (or from plan --write-index)
      --shard auto/N                  I from the scheduler: JOB_COMPLETION_INDEX + 1
                                      (Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID
                                      (Slurm array run as --array=1-N); see deploy/
  modelc plan IN OUT [flags]          print the files convert IN OUT [flags] writes for a
                                      GGUF split set or safetensors shards: each file's
                                      tensors, bytes and cost (--splits, --max-shard-size,
                                      --max-shard-tensors, --quantize, --to as for convert);
                                      nothing is written but what --write-index asks
      --tensors                       list each file's tensors
      --write-index                   safetensors: write OUT's index (the bytes convert
                                      writes), for workers that each write a shard
      --json                          the plan as JSON
  modelc verify-shards DIR|FILE [--json]
                                      check that DIR (or FILE's set, or a safetensors
                                      index) holds complete, consistent GGUF split sets
                                      and safetensors shards: every file present and
                                      valid, split keys matching the names and each other,
                                      the metadata in file 1, every tensor once and where
                                      the index says, the declared count; exit 6 listing
                                      the missing files
  modelc backends [--json]            the CPU, its features, and the kernel chosen for each
                                      operation (MODELC_ACCEL=go|avx2|avx512|neon|cuda|auto
                                      overrides the automatic choice; the cuda: line
                                      says whether a GPU is usable, or why not)
  modelc run MODEL [flags]            run MODEL with the reference runtime
      --input NAME=FILE.npy           one input (repeatable)
      --inputs FILE.npz               inputs keyed by input name
      --output-dir DIR                write DIR/<output>.npy (default .; created when
                                      missing); a name that is not a safe file name is
                                      %%-escaped and reported
      --threads N                     kernel threads (default: one per CPU)
      --runs N                        run N times (default 1); the outputs are the
                                      last run's
      --profile                       after the runs, print the time of the longest
                                      nodes (a fused step, e.g. Conv+Relu, as one) and
                                      per op, in ms per run and share; with --runs N > 1
                                      the first run is a warm-up left out
  modelc verify REF CAND [flags]      run both models on the same inputs and compare the
                                      outputs: max/mean abs error, max rel error, cosine,
                                      top-1 agreement, accuracy, sizes, parameters;
                                      exit 6 when outside the tolerance, when CAND has
                                      NaN/Inf where REF is finite, or when CAND breaks
                                      the ONNX operator schemas (modelc check)
      --inputs FILE.npz               the inputs (default: random, per dtype and shape);
                                      each is cast to the dtype each model declares
                                      (float32 feeds a float16 model; to an integer
                                      type only whole numbers in range), listed as "cast"
      --samples N --seed S            N random input sets drawn from seed S
      --labels FILE.npy               class indices, one per row of the first [rows,
                                      classes] output over all samples: each model's
                                      accuracy (another count is a usage error, exit 2)
      --atol A --rtol R               |cand-ref| <= A + R*|ref| everywhere (1e-5, 1e-4)
      --min-cosine C                  cosine similarity at least C per output (0)
      --threads N                     kernel threads (default: one per CPU)
      --json                          the report as JSON
  modelc compress IN OUT [flags]      shrink an ONNX model; prints bytes and parameters before
                                      and after, each layer's relative error ‖W−Ŵ‖/‖W‖, sparsity
      --quantize T                    int8, uint8, int4, uint4 (integer weights), fp16, bf16
      --mode M                        weight-only (default), dynamic (DynamicQuantizeLinear +
                                      MatMulInteger) or static (calibrated QDQ) — 8-bit only
      --per-channel --symmetric       a scale per output channel (the 8-bit default;
                                      --per-channel=false: one per tensor); zero point in
                                      the middle (static int8 weights always have it at
                                      0; --symmetric then makes activations int8 too)
      --max-layer-error E             accuracy guard (0.2; negative: off): a layer whose
                                      worst output channel's error ‖w_c−ŵ_c‖/‖w_c‖ exceeds E
                                      is kept in higher precision (per channel, int8 instead
                                      of int4, float32), reported layer by layer
      --block-size N                  int4/uint4: weights per scale (power of two ≥ 16; 32)
      --calibration FILE.npz          static: calibration inputs keyed by input name
      --calibration-method M          static: minmax (default), percentile[:P], entropy
      --quantize-ops OPS              static: also put QuantizeLinear/DequantizeLinear around
                                      the activations of these op types (comma-separated:
                                      LayerNormalization, Softmax, Gelu, Sigmoid, Tanh),
                                      which by default stay float32; each must be in IN
      --keep-io-types                 fp16/bf16: keep float32 graph inputs and outputs
                                      (Softmax, LayerNorm, Exp, reductions... stay float32;
                                      BatchNorm folded first; constants out of the 16-bit
                                      range, and the ops reading them, stay float32, named)
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
      --input-shape NAME=NxCxHxW      retarget an image input to a new resolution (or
      --input-scale F                 scale every image input's height and width by F):
                                      a Flatten before a fully connected layer gets a
                                      Resize (nearest, smaller input) or AveragePool (larger)
                                      back to the size it was trained at, by whole factors;
                                      the model is run at the new size and must keep its
                                      output shapes; prints MACs per sample before and after.
                                      With --recover, the student sees --data resized
                                      (bilinear), the original sees it as given
      --max-sequence-length N         retarget a token model ([batch, sequence] integer
                                      ids, [batch, sequence, features] floats) to N tokens:
                                      the declared length, Reshape/Expand/Slice/
                                      ConstantOfShape constants and position ids/tables
                                      (first N kept) follow; prints MACs before and after.
                                      With --recover, the student trains on the first N
                                      tokens of --data, the original sees them all
      --recipe FILE.json              an ordered list of steps, e.g.
                                      [{"prune":"2:4"},{"quantize":"int4","block_size":32}]
      --verify [--inputs F.npz] [--labels F.npy]
                                      compare with the original: errors, top-1 agreement,
                                      accuracy; exit 6 (output kept) when an output's cosine
                                      similarity falls below --min-cosine C (0.95; -1: never)
                                      or it has NaN/Inf where the original's is finite.
                                      Unlike verify, no element-wise bound: the elements
                                      outside verify's atol 1e-5/rtol 1e-4 are counted only
      --recover --data FILE.npz       after the passes, fine-tune the result by distillation
                                      from IN on these inputs (no labels needed): pruned
                                      weights stay zero, quantized weights stay on their
                                      grid in the form written (QDQ, dynamic MatMulInteger,
                                      fp16/bf16; fake-quantized, straight-through gradient).
                                      Refused after --clip without --quantize.
                                      Training flags as for distill:
                                      --epochs --batch-size --lr --optimizer --momentum
                                      --weight-decay --schedule --temperature --alpha
                                      --held-out --patience --seed --freeze --float64
                                      --batchnorm
      --json                          the report as JSON
  modelc distill TEACHER STUDENT OUT --data FILE.npz [flags]
                                      train STUDENT (an ONNX model with TEACHER's inputs and
                                      output shape, or auto:width=F: TEACHER with a fraction
                                      1−F of every layer's output channels removed, or
                                      auto:depth=F: TEACHER with a fraction 1−F of each run
                                      of repeated same-shape blocks removed) to reproduce
                                      TEACHER's outputs, and write it to OUT;
                                      prints the epochs (loss, held-out agreement), the
                                      parameters and bytes of both. Ctrl-C cancels (exit 7)
      --data FILE.npz                 training inputs keyed by input name (one array for a
                                      one-input model may have any name)
      --epochs N --batch-size B       epochs (10) and samples per step (32)
      --lr LR --optimizer O           learning rate (adam 0.003, sgd 0.01); adam or sgd
      --momentum M --weight-decay W   sgd momentum; L2 weight decay (torch's weight_decay)
      --schedule S                    cosine (default, down to 0) or constant
      --temperature T                 distillation temperature (2): the loss is
                                      T²·KL(softmax(teacher/T) ‖ softmax(student/T))
      --alpha A                       with labels: A·KD + (1−A)·cross-entropy (0.5)
      --held-out F --patience N       hold out the fraction F (0.1) of the data; keep the
                                      epoch with the best held-out loss; stop after N
                                      epochs without a better one (0: never)
      --seed S                        the split, batch order and dropout (0): same inputs
                                      and flags, same bytes out
      --freeze PATTERN                initializer or node name pattern or op type not
                                      trained (repeatable)
      --float64                       matrix products in float64 too (slower; by default
                                      their operands are rounded to float32 for the SIMD
                                      kernels, the rest is float64)
      --batchnorm M                   auto (default): a BatchNormalization layer whose
                                      running statistics are fresh (mean 0, variance 1: a
                                      student from scratch) trains with the batch's
                                      statistics and updates its running mean/variance as
                                      torch's train mode does (ONNX momentum, default 0.9);
                                      any other layer keeps its statistics (fine-tuning).
                                      train: every layer so; frozen: none
      --labels FILE.npy               class labels, one per sample: adds cross-entropy
      --match T_TENSOR=S_TENSOR       add the mean squared difference of a teacher tensor
                                      and a student tensor (repeatable)
      --json                          the report as JSON
  modelc version                      print the version
  modelc help [COMMAND]               this text, or one command's part of it (as
                                      modelc COMMAND --help prints it)

Formats: %s. An ONNX model over the 2 GiB protobuf limit is written with external
data automatically.
IN may be a folder (or its index file) holding a sharded safetensors or PyTorch
checkpoint; a Hugging Face folder with config.json (Llama, Mistral, Qwen2, BERT,
Gemma, Gemma 2, Phi-3) converts to GGUF as llama.cpp's convert_hf_to_gguf.py does. GGUF block types are dequantized to
float32 for formats that cannot hold them. PyTorch checkpoints (.pt, .pth, .bin) are read with an allow-list: a pickle
that asks for anything but tensors, storages, dtypes and dicts is refused, never run.
Keras .keras and legacy .h5 models convert to ONNX (and any weights format, in PyTorch
layouts); a TensorFlow checkpoint (variables/ or PREFIX.index) converts to and from
weights formats (OUT.index writes OUT.index + OUT.data-00000-of-00001); a SavedModel
folder's serving_default signature converts to ONNX; --to savedmodel writes an ONNX
model as a SavedModel into OUT, an existing folder.

JSON (--json, the C ABI, Python): a number that is NaN or ±Inf, which JSON cannot
hold, is written as null; verify's non_finite counts say where NaN/Inf appeared.

Outputs appear whole or not at all (shards before their index, external data before its
model); a rewrite removes the earlier set's stale shards. Refused: an output that is one
of the input's files (external data, shard, index) or a symlink, FIFO, device or folder
(exit 2); a read-only file (exit 3; a replaced file keeps its mode). Files a model names
are read only from beneath its folder (symlinks followed while they stay inside it, or
inside the repository folder of a Hugging Face cache).

Memory: readers check what a file asks them to allocate (inflating zip members,
copying strided views) against a budget, MODELC_MAX_MEMORY=SIZE (2GB, 512MiB); by
default 3/4 of RAM (or of the cgroup's limit), and within half the address space left
under ulimit -v. A file that needs more exits 4, naming the tensor and the size.

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
		if engine.AbortWrites() {
			fmt.Fprintf(os.Stderr, "\nmodelc: %v: stopped after the output was complete\n", sig)
		} else {
			fmt.Fprintf(os.Stderr, "\nmodelc: %v: stopped; no output was written\n", sig)
		}
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
		fmt.Fprint(stderr, usageText())
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
	case "plan":
		err = cmdPlan(args[1:], stdout)
	case "verify-shards":
		err = cmdVerifyShards(args[1:], stdout)
	case "run":
		err = cmdRun(args[1:], stdout)
	case "verify":
		err = cmdVerify(args[1:], stdout)
	case "compress":
		err = cmdCompress(args[1:], stdout, stderr)
	case "distill":
		err = cmdDistill(args[1:], stdout, stderr)
	case "backends":
		err = cmdBackends(args[1:], stdout)
	case "version", "--version":
		fmt.Fprintf(stdout, "modelc %s\n", Version)
	case "help", "-h", "--help":
		if len(args) > 1 && args[1] != "-h" && args[1] != "--help" {
			text, ok := commandHelp(args[1])
			if !ok {
				err = usageError{fmt.Sprintf("no command %q; run 'modelc help'", args[1])}
				break
			}
			fmt.Fprint(stdout, text)
			break
		}
		fmt.Fprint(stdout, usageText())
	default:
		err = usageError{fmt.Sprintf("unknown command %q; run 'modelc help'", args[0])}
	}
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) { // CMD --help or -h: that command's part of the usage
		text, _ := commandHelp(args[0])
		fmt.Fprint(stdout, text)
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

// flagSetSeen, when set (by the tests), receives each command's flag set.
var flagSetSeen func(*flag.FlagSet)

// parseArgs parses flags that may come before, between or after the positional
// arguments, and checks the number of positionals.
func parseArgs(fs *flag.FlagSet, args []string, want int, names string) ([]string, error) {
	fs.SetOutput(io.Discard)
	if flagSetSeen != nil {
		flagSetSeen(fs)
	}
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

package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/modelc/modelc/engine/format"
	"github.com/modelc/modelc/engine/format/atomicfile"
	"github.com/modelc/modelc/engine/format/gguf"
	"github.com/modelc/modelc/engine/format/safetensors"
	"github.com/modelc/modelc/engine/format/torch"
	"github.com/modelc/modelc/engine/ir"
	"github.com/modelc/modelc/engine/ir/opset"
)

// Progress receives the stage of a long operation and the fraction done (0 to 1).
// Returning false asks the operation to stop; it then fails with KindCancelled.
type Progress func(stage string, fraction float64) bool

// ConvertResult says what Convert wrote.
type ConvertResult struct {
	From, To     string // format names
	Output       string
	ExternalFile string // ONNX external data file written, if any
	// Shards are the files of a sharded output (safetensors with a maximum shard size,
	// the index last; a GGUF split set, or the one file of it a --shard run writes);
	// Output then names no file. Empty when one file was written.
	Shards []string
}

// Convert reads the model at src and writes it to dst in the format dst's extension
// (or opts.To) names. The output appears atomically; src is never modified.
func Convert(ctx context.Context, src, dst string, opts ConvertOptions, progress Progress) (*ConvertResult, error) {
	step := stepper(ctx, progress)
	if strings.EqualFold(opts.To, "savedmodel") && filepath.Base(dst) != "saved_model.pb" {
		// A SavedModel is a folder: the checks below apply to its saved_model.pb.
		dst = filepath.Join(dst, "saved_model.pb")
	}
	if err := checkOutputFolder(dst); err != nil {
		return nil, err
	}
	in, out, wopts, err := conversion(src, dst, opts)
	if err != nil {
		return nil, err
	}
	if opts.WriteIndex {
		return nil, Errorf(KindInvalidArgument, "option write_index: applies to modelc plan (convert writes the index itself)")
	}
	split, splitting, err := splitOptions(opts, out.Name)
	if err != nil {
		return nil, err
	}
	if err := step("read", 0); err != nil {
		return nil, err
	}
	m, err := in.Read(src)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	// Now the input's files are known (external data, shards, index): the output may be
	// none of them. The writers of several files check each of theirs too.
	if _, err := atomicfile.CheckTarget(dst, m.Sources()); err != nil {
		return nil, err
	}
	if err := step("write", 0.5); err != nil {
		return nil, err
	}
	if err := prepareForWrite(m, out.Name, opts); err != nil {
		return nil, err
	}
	if err := calibrateTFLite(m, &wopts, opts); err != nil {
		return nil, err
	}
	// Nothing modifies the tensors between reading and writing, so the writer may release
	// the input's pages as it streams them out: the resident set stays small. Between
	// pieces it reports progress and stops when cancelled.
	track := newWriteTracker(ctx, progress, m, 0.5, 1)
	track.drop = m.DropUnmodified
	wopts.Written = track.written
	res := &ConvertResult{From: in.Name, To: out.Name, Output: dst}
	if splitting {
		// A GGUF split set, or one file of it (a worker of a sharded conversion).
		files, err := gguf.WriteSplits(m, dst, gguf.WriteOptions{Quantize: wopts.Quantize, Written: wopts.Written}, split)
		if err != nil {
			return nil, err
		}
		res.Shards, res.Output = files, ""
		if progress != nil {
			progress("done", 1)
		}
		return res, nil
	}
	if err := out.Write(m, dst, wopts); err != nil {
		return nil, err
	}
	if out.Name == "safetensors" && (wopts.MaxShardSize > 0 || wopts.Splits > 0 || wopts.Shard > 0) {
		if files := safetensors.Files(m, dst, safetensors.WriteOptions{MaxShardSize: wopts.MaxShardSize, Splits: wopts.Splits, Only: wopts.Shard, Count: wopts.ShardCount}); len(files) > 1 || wopts.Splits > 0 || wopts.Shard > 0 {
			res.Shards = files
		}
	}
	if opts.ExternalData {
		res.ExternalFile = externalName(dst, opts.ExternalDataFile)
	}
	// The output is complete: a cancel request now comes too late to honour, and a
	// cancelled result must mean "no output", so the answer to this last report is ignored.
	if progress != nil {
		progress("done", 1)
	}
	return res, nil
}

// conversion checks a conversion's paths and options and picks its reader and writer:
// what Convert and Plan share before they read anything.
func conversion(src, dst string, opts ConvertOptions) (in, out *format.Format, wopts format.WriteOptions, err error) {
	if err = checkPaths(src, dst); err != nil {
		return
	}
	if in, err = format.ForRead(src); err != nil {
		return
	}
	if out, err = writerFor(dst, opts.To); err != nil {
		return
	}
	wopts, err = writeOptions(opts, out.Name)
	return
}

// writeOptions checks the options that shape an output in format out and returns the
// writer's settings. Convert and ConvertBytes share it.
func writeOptions(opts ConvertOptions, out string) (format.WriteOptions, error) {
	wopts := format.WriteOptions{ExternalData: opts.ExternalData, ExternalFile: opts.ExternalDataFile, SizeThreshold: opts.SizeThreshold}
	if opts.MaxShardSize != "" {
		var err error
		if wopts.MaxShardSize, err = format.ParseSize(opts.MaxShardSize); err != nil {
			return wopts, Errorf(KindInvalidArgument, "option max_shard_size: %v", err)
		}
	}
	if out == "tflite" {
		t, err := tfliteOptions(opts)
		if err != nil {
			return wopts, err
		}
		wopts.TFLite = t
	} else if opts.Mode != "" || opts.Calibration != "" || opts.NHWCIO || opts.KeepNCHWIO || opts.Int8IO {
		return wopts, Errorf(KindInvalidArgument, "options mode, calibration, nhwc_io, keep_nchw_io and int8_io apply to TFLite outputs")
	}
	if opts.Quantize != "" && out != "tflite" {
		if out != "gguf" {
			return wopts, Errorf(KindInvalidArgument, "option quantize: %s outputs have no ggml types; --quantize applies to GGUF outputs", out)
		}
		if err := gguf.CheckQuantize(opts.Quantize); err != nil {
			return wopts, Errorf(KindInvalidArgument, "option quantize: %v", err)
		}
	}
	if opts.Opset != 0 {
		if out != "onnx" {
			return wopts, Errorf(KindInvalidArgument, "option opset: %s outputs have no operator sets; --opset applies to ONNX outputs", out)
		}
		if opts.Opset < opset.MinTarget || opts.Opset > opset.MaxTarget {
			return wopts, Errorf(KindInvalidArgument, "option opset: %d is outside the opsets modelc converts to (%d to %d)", opts.Opset, opset.MinTarget, opset.MaxTarget)
		}
	}
	if out == "gguf" {
		wopts.Quantize = opts.Quantize
	}
	if out == "safetensors" {
		so, _, err := splitOptions(opts, "gguf")
		if err != nil {
			return wopts, err
		}
		wopts.Splits, wopts.Shard, wopts.ShardCount = so.Splits, so.Only, so.Count
	}
	return wopts, nil
}

// prepareForWrite adapts a model read for writing in format out: formats other than GGUF
// have no ggml block types, so such tensors are written as float32; an ONNX output is
// converted to the opset the options ask for, and checked: nothing invalid leaves modelc,
// a model onnxruntime would refuse is not written.
func prepareForWrite(m *ir.Model, out string, opts ConvertOptions) error {
	if out == "onnx" || out == "torchscript" {
		if err := torch.GraphError(m); err != nil { // a TorchScript module read as weights only
			return err
		}
	}
	if out == "gguf" {
		return nil
	}
	if err := gguf.DequantizeBlocks(m); err != nil {
		return err
	}
	if out != "onnx" {
		return nil
	}
	if opts.Opset != 0 {
		if err := opset.Convert(m, opts.Opset); err != nil {
			return err
		}
	}
	return checkModel(m, KindCorrupt, "")
}

func externalName(dst, name string) string {
	if name == "" {
		return dst + ".data"
	}
	return filepath.Join(filepath.Dir(dst), name)
}

func writerFor(dst, to string) (*format.Format, error) {
	if to != "" {
		fm, err := format.ByName(to)
		if err == nil && fm.Write == nil { // the hf folder reader has no writer
			return nil, Errorf(KindInvalidArgument, "modelc reads %s but does not write it", fm.Name)
		}
		return fm, err
	}
	return format.ForWrite(dst)
}

// checkPaths refuses an output that is the input itself (by path or by identity), and,
// before any long work, an output path that cannot be written as the rules of package
// atomicfile say: a symlink, FIFO, device, socket or folder there (KindInvalidArgument),
// a read-only file or a missing folder (KindIO). Once the input is read, Convert checks
// the output against all of the input's files (external data, shards, index).
func checkPaths(src, dst string) error {
	if src == "" || dst == "" {
		return Errorf(KindInvalidArgument, "both an input and an output path are needed")
	}
	absSrc, err1 := filepath.Abs(src)
	absDst, err2 := filepath.Abs(dst)
	same := err1 == nil && err2 == nil && absSrc == absDst
	var inputs []os.FileInfo
	if si, err := os.Stat(src); err == nil {
		inputs = append(inputs, si)
		if di, err := os.Stat(dst); err == nil && os.SameFile(si, di) {
			same = true
		}
	}
	if same {
		return &Error{Kind: KindInvalidArgument, File: dst, Err: errors.New("the output is the input file; modelc never overwrites its input")}
	}
	_, err := atomicfile.CheckTarget(dst, inputs)
	return err
}

// stepper reports progress and turns a cancelled context or a false from the callback
// into a KindCancelled error.
func stepper(ctx context.Context, progress Progress) func(stage string, fraction float64) error {
	if ctx == nil {
		ctx = context.Background()
	}
	return func(stage string, fraction float64) error {
		if err := ctx.Err(); err != nil {
			return &Error{Kind: KindCancelled, Err: err}
		}
		if progress != nil && !progress(stage, fraction) {
			return Errorf(KindCancelled, "cancelled by the caller during %s", stage)
		}
		return nil
	}
}

// Read loads a model of any known format (the caller closes it).
func Read(path string) (*ir.Model, string, error) {
	f, err := format.ForRead(path)
	if err != nil {
		return nil, "", err
	}
	m, err := f.Read(path)
	return m, f.Name, err
}

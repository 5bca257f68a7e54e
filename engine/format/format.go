// Package format is the registry of model file formats: it picks the reader for a file by
// its magic bytes or extension, and the writer for an output by its extension.
package format

import (
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/modelc/modelc/engine/format/gguf"
	"github.com/modelc/modelc/engine/format/hf"
	"github.com/modelc/modelc/engine/format/npy"
	"github.com/modelc/modelc/engine/format/onnx"
	"github.com/modelc/modelc/engine/format/safetensors"
	"github.com/modelc/modelc/engine/format/tf"
	"github.com/modelc/modelc/engine/format/tflite"
	"github.com/modelc/modelc/engine/format/torch"
	"github.com/modelc/modelc/engine/ir"
)

// WriteOptions are the writer settings shared by all formats; a format ignores those
// that mean nothing to it.
type WriteOptions struct {
	ExternalData  bool   // ONNX: store initializers in a file beside the model
	ExternalFile  string // ONNX: that file's name, relative to the model's folder
	SizeThreshold int64  // ONNX: smaller initializers stay inside the model
	MaxShardSize  int64  // safetensors: split into files of at most this many bytes (0: one file)
	// safetensors: Splits shards of about equal size; Shard (from 1) writes only that one
	// of the ShardCount (the last one with the index).
	Splits, Shard, ShardCount int
	// Written, if set, receives each piece of tensor data (a few MiB at most) once
	// written out, to release the input's pages, report progress and check for
	// cancellation: an error from it stops the write, which then leaves no output.
	Written  func([]byte) error
	Quantize string // GGUF: the type of the weight matrices (q8_0, q4_k, f16, ...); "" keeps types
	// Progress, if set, is told after each tensor written how many input bytes are done
	// of how many; an error from it stops the write. (GGUF)
	Progress func(tensor string, done, total int64) error
	// TFLite: layout, quantization and calibrated ranges (see tflite.WriteOptions).
	TFLite tflite.WriteOptions
}

// Format is one file format modelc reads and/or writes.
type Format struct {
	Name       string
	Extensions []string               // lower case, with the dot
	Detect     func(head []byte) bool // recognises the first bytes of a file
	// DetectPath, if set, recognises a model named by a folder or an index file (a
	// sharded checkpoint); ForRead asks it before looking at any bytes.
	DetectPath func(path string) bool
	Read       func(path string) (*ir.Model, error)
	Write      func(m *ir.Model, path string, opts WriteOptions) error
	// ReadBytes, if set, decodes a model held in memory (name is what errors call it);
	// its tensors may alias data. Formats that need a folder (external data, shards, a
	// checkpoint folder) have none or refuse what would need one.
	ReadBytes func(data []byte, name string) (*ir.Model, error)
	// Encode, if set, writes the model as one stream to w, the bytes Write would put in
	// a single file (name is what errors call the output). Options that need files
	// beside the output (ONNX external data, safetensors shards) are not used.
	Encode func(m *ir.Model, w io.Writer, name string, opts WriteOptions) error
}

var formats = []*Format{
	{
		// A Hugging Face checkpoint folder (config.json + safetensors or .bin weights),
		// read as llama.cpp's converter does: GGUF names, metadata and tokenizer.
		Name:       "hf",
		DetectPath: hf.DetectPath, // Read is set in init
	},
	{
		Name:       "gguf",
		Extensions: []string{".gguf"},
		Detect:     gguf.Detect,
		Read:       gguf.Read,
		Write: func(m *ir.Model, path string, o WriteOptions) error {
			return gguf.Write(m, path, gguf.WriteOptions{Quantize: o.Quantize, Written: o.Written, Progress: o.Progress})
		},
		ReadBytes: gguf.Parse,
		Encode: func(m *ir.Model, w io.Writer, name string, o WriteOptions) error {
			return gguf.Encode(m, w, name, gguf.WriteOptions{Quantize: o.Quantize, Written: o.Written, Progress: o.Progress})
		},
	},
	{
		// Hugging Face safetensors: weights only; a folder or *.safetensors.index.json
		// names a sharded checkpoint.
		Name:       "safetensors",
		Extensions: []string{".safetensors"},
		Detect:     safetensors.Detect,
		DetectPath: safetensors.DetectPath,
		Read:       safetensors.Read,
		Write: func(m *ir.Model, path string, o WriteOptions) error {
			return safetensors.Write(m, path, safetensors.WriteOptions{MaxShardSize: o.MaxShardSize, Splits: o.Splits, Only: o.Shard, Count: o.ShardCount, Written: o.Written})
		},
		ReadBytes: safetensors.ReadBytes,
		Encode: func(m *ir.Model, w io.Writer, name string, o WriteOptions) error {
			return safetensors.Encode(m, w, name, safetensors.WriteOptions{Written: o.Written})
		},
	},
	{
		// TorchScript archives (torch.jit.save): weights, module tree and, for traced
		// modules, the graph; recognised by their code/ entries, so before "torch".
		Name:       "torchscript",
		Extensions: []string{".jit", ".torchscript"},
		Detect:     torch.DetectScriptHead,
		DetectPath: torch.DetectScript,
		Read:       torch.ReadScript,
		ReadBytes:  torch.ReadScriptBytes,
		Write: func(m *ir.Model, path string, o WriteOptions) error {
			return torch.WriteScript(m, path, torch.WriteOptions{Written: o.Written})
		},
		Encode: func(m *ir.Model, w io.Writer, name string, o WriteOptions) error {
			return torch.EncodeScript(m, w, name, torch.WriteOptions{Written: o.Written})
		},
	},
	{
		// PyTorch zip checkpoints (state dicts), read with a restricted unpickler; a
		// folder or pytorch_model.bin.index.json names a sharded one.
		Name:       "torch",
		Extensions: []string{".pt", ".pth", ".bin"},
		Detect:     torch.Detect,
		DetectPath: torch.DetectPath,
		Read:       torch.Read,
		Write: func(m *ir.Model, path string, o WriteOptions) error {
			return torch.Write(m, path, torch.WriteOptions{Written: o.Written})
		},
		ReadBytes: torch.ReadBytes,
		Encode: func(m *ir.Model, w io.Writer, name string, o WriteOptions) error {
			return torch.Encode(m, w, name, torch.WriteOptions{Written: o.Written})
		},
	},
	{
		Name:       "onnx",
		Extensions: []string{".onnx"},
		Detect:     onnx.Detect,
		Read:       onnx.Read,
		Write: func(m *ir.Model, path string, o WriteOptions) error {
			_, err := onnx.Write(m, path, onnx.WriteOptions{ExternalData: o.ExternalData, ExternalFile: o.ExternalFile, SizeThreshold: o.SizeThreshold, Written: o.Written})
			return err
		},
		// dir "" refuses external data: a model in memory has no folder to find it in.
		ReadBytes: func(data []byte, name string) (*ir.Model, error) { return onnx.ReadBytes(data, name, "") },
		Encode: func(m *ir.Model, w io.Writer, name string, _ WriteOptions) error {
			if err := onnx.Encode(m, w); err != nil {
				return withFile(err, name)
			}
			return nil
		},
	},
	{
		// TensorFlow Lite (LiteRT) FlatBuffers.
		Name:       "tflite",
		Extensions: []string{".tflite"},
		Detect:     tflite.Detect,
		Read:       tflite.Read,
		ReadBytes:  tflite.ReadBytes,
		Write: func(m *ir.Model, path string, o WriteOptions) error {
			t := o.TFLite
			t.Written = o.Written
			return tflite.Write(m, path, t)
		},
		Encode: func(m *ir.Model, w io.Writer, name string, o WriteOptions) error {
			t := o.TFLite
			t.Written = o.Written
			if err := tflite.Encode(m, w, name, t); err != nil {
				return withFile(err, name)
			}
			return nil
		},
	},
	{
		// Keras: a Keras 3 .keras archive or a legacy HDF5 .h5 model, read as a graph.
		Name:       "keras",
		Extensions: []string{".keras", ".h5", ".hdf5"},
		Detect:     tf.DetectKeras,
		Read:       tf.ReadKeras,
		ReadBytes:  tf.ParseKeras,
	},
	{
		// A TensorFlow checkpoint bundle: PREFIX.index + PREFIX.data-*, or the folder
		// holding them (a SavedModel's variables/). Weights only.
		Name:       "tfcheckpoint",
		Extensions: []string{".index"},
		DetectPath: tf.DetectBundlePath,
		Read:       tf.ReadBundle,
		Write: func(m *ir.Model, path string, o WriteOptions) error {
			return tf.WriteBundle(m, path, o.Written)
		},
	},
	{
		// A TensorFlow SavedModel folder: its serving_default signature read as a graph;
		// written with --to savedmodel.
		Name:       "savedmodel",
		DetectPath: tf.DetectSavedModelPath,
		Read:       tf.ReadSavedModel,
		Write: func(m *ir.Model, path string, o WriteOptions) error {
			return tf.WriteSavedModel(m, path, o.Written)
		},
	},
	{
		// NumPy arrays: weights only, one initializer per array (.npz) or one (.npy).
		Name:       "npy",
		Extensions: []string{".npy", ".npz"},
		Detect:     npy.Detect,
		Read:       npy.Read,
		Write:      func(m *ir.Model, path string, _ WriteOptions) error { return npy.Write(m, path) },
		ReadBytes:  npy.ReadBytes,
		Encode:     func(m *ir.Model, w io.Writer, name string, _ WriteOptions) error { return npy.EncodeModel(m, w, name) },
	},
}

// Names lists the formats modelc knows.
func Names() []string {
	var names []string
	for _, f := range formats {
		names = append(names, f.Name)
	}
	sort.Strings(names)
	return names
}

// ByName returns the format called name.
func ByName(name string) (*Format, error) {
	for _, f := range formats {
		if f.Name == strings.ToLower(name) {
			return f, nil
		}
	}
	return nil, ir.Errorf(ir.KindInvalidArgument, "", "unknown format %q (known: %s)", name, strings.Join(Names(), ", "))
}

// ForRead picks the reader of the file at path: by its first bytes, then by extension.
// A folder (or an index file) is read by the format that recognises it as a sharded
// checkpoint.
func ForRead(path string) (*Format, error) {
	for _, fm := range formats {
		if fm.Read != nil && fm.DetectPath != nil && fm.DetectPath(path) {
			return fm, nil
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, ir.IOError(path, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, ir.Errorf(ir.KindInvalidArgument, path, "is a folder, not a model file (a sharded checkpoint's folder holds a *.safetensors.index.json or pytorch_model.bin.index.json)")
	}
	head := make([]byte, 64)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, &ir.Error{Kind: ir.KindIO, File: path, Err: err}
	}
	head = head[:n]
	for _, fm := range formats {
		if fm.Read != nil && fm.Detect != nil && fm.Detect(head) {
			return fm, nil
		}
	}
	if fm := byExtension(path); fm != nil && fm.Read != nil {
		return fm, nil
	}
	return nil, ir.Errorf(ir.KindCorrupt, path, "not a model file modelc recognises (formats: %s)", strings.Join(Names(), ", "))
}

// InMemory lists the formats that can be read from and written to memory.
func InMemory() []string {
	var names []string
	for _, f := range formats {
		if f.ReadBytes != nil && f.Encode != nil {
			names = append(names, f.Name)
		}
	}
	sort.Strings(names)
	return names
}

// ForReadBytes picks the reader of a model held in memory by its first bytes; name is
// what the error calls it.
func ForReadBytes(data []byte, name string) (*Format, error) {
	head := data[:min(len(data), 64)]
	for _, fm := range formats {
		if fm.ReadBytes != nil && fm.Detect != nil && fm.Detect(head) {
			return fm, nil
		}
	}
	return nil, ir.Errorf(ir.KindCorrupt, name, "not a model modelc recognises in memory (in-memory formats: %s)", strings.Join(InMemory(), ", "))
}

// withFile names the output in an error that does not name a file yet.
func withFile(err error, name string) error {
	if e, ok := err.(*ir.Error); ok {
		if e.File == "" {
			e.File = name
		}
		return e
	}
	return &ir.Error{Kind: ir.KindIO, File: name, Err: err}
}

// ForWrite picks the writer for path by its extension.
func ForWrite(path string) (*Format, error) {
	if fm := byExtension(path); fm != nil && fm.Write != nil {
		return fm, nil
	}
	return nil, ir.Errorf(ir.KindInvalidArgument, path, "cannot tell the output format from the extension %q; name it with --to (formats: %s)", filepath.Ext(path), strings.Join(Names(), ", "))
}

func byExtension(path string) *Format {
	ext := strings.ToLower(filepath.Ext(path))
	for _, fm := range formats {
		for _, e := range fm.Extensions {
			if e == ext {
				return fm
			}
		}
	}
	return nil
}

// The hf reader reads its weight files through this registry, which lists it: the link
// is made here, as a static reference would be an initialisation cycle.
func init() {
	for _, f := range formats {
		if f.Name == "hf" {
			f.Read = func(path string) (*ir.Model, error) { return hf.Read(path, readWeights) }
		}
	}
}

// readWeights reads one weight file of a Hugging Face folder with whichever reader
// recognises it (safetensors, PyTorch).
func readWeights(path string) (*ir.Model, error) {
	fm, err := ForRead(path)
	if err != nil {
		return nil, err
	}
	return fm.Read(path)
}

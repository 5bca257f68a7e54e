package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// ConvertOptions are the settings of Convert. The JSON keys are the CLI flag names with
// dashes turned into underscores; the C ABI and Python take the same keys.
type ConvertOptions struct {
	// To names the output format; by default it follows the output's extension.
	To string `json:"to,omitempty"`
	// ExternalData stores ONNX initializers in a file beside the model.
	ExternalData bool `json:"external_data,omitempty"`
	// ExternalDataFile names that file (relative to the output's folder);
	// default "<output name>.data".
	ExternalDataFile string `json:"external_data_file,omitempty"`
	// SizeThreshold: ONNX initializers smaller than this many bytes stay inside the model
	// when external data is used (default 1024).
	SizeThreshold int64 `json:"size_threshold,omitempty"`
	// MaxShardSize splits a safetensors output into shards of at most this size, written
	// like Hugging Face's "5GB", "500MB", "2GiB" or a number of bytes, beside an index
	// <name>.safetensors.index.json; empty means one file.
	MaxShardSize string `json:"max_shard_size,omitempty"`
	// Quantize stores the weight matrices of a GGUF output as this ggml type: q8_0, q4_0,
	// q4_1, q5_0, q5_1, q4_k, q5_k, q6_k, f16, bf16 or f32 (1-D tensors and norms become
	// f32, as llama.cpp does), or auto: f16, bf16 for a bf16 model (llama.cpp's converter's
	// --outtype auto). Empty keeps each tensor's type: an f32 checkpoint stays f32.
	Quantize string `json:"quantize,omitempty"`
	// MaxShardTensors splits a GGUF output into a split set (llama.cpp's gguf-split
	// layout) of at most this many tensors per file; 0: no limit.
	MaxShardTensors int `json:"max_shard_tensors,omitempty"`
	// Splits writes a GGUF output as a split set of this many files, NAME-0000I-of-0000N
	// .gguf, the tensors (in order) cut into runs of about equal cost (bytes × the output
	// type's cost per byte); 0: one file (unless a maximum shard size or tensor count asks).
	Splits int `json:"splits,omitempty"`
	// Shard writes only file I (from 1) of the N-file split set Splits N would write,
	// byte for byte the same: "I/N", or "auto/N" to take I from the scheduler
	// (JOB_COMPLETION_INDEX, 0-based, plus one; else SLURM_ARRAY_TASK_ID as given).
	Shard string `json:"shard,omitempty"`
	// WriteIndex (modelc plan only) writes the index of a sharded safetensors output, the
	// bytes convert writes, for workers that write the shards with Shard.
	WriteIndex bool `json:"write_index,omitempty"`
	// Opset converts an ONNX output to this ai.onnx opset (7 to 23), up or down, rewriting
	// the ops whose signature changed; 0 keeps the model's opset. A node the target cannot
	// express is an unsupported-op error naming it.
	Opset int64 `json:"opset,omitempty"`
	// TFLite outputs: Quantize fp16 (float16 weights) or int8 with Mode dynamic (int8
	// weights, float activations) or static (full-integer int8, the default when
	// Calibration names an .npz of inputs keyed by graph input name).
	Mode        string `json:"mode,omitempty"`
	Calibration string `json:"calibration,omitempty"`
	// NHWCIO gives a TFLite output's 4-D inputs and outputs in NHWC; by default they keep
	// the source's NCHW (KeepNCHWIO says so explicitly).
	NHWCIO     bool `json:"nhwc_io,omitempty"`
	KeepNCHWIO bool `json:"keep_nchw_io,omitempty"`
	// Int8IO gives a full-integer TFLite output int8 inputs and outputs.
	Int8IO bool `json:"int8_io,omitempty"`
}

// ParseOptions decodes JSON options into opts (a pointer to an options struct). An unknown
// key or a value of the wrong type is an invalid-argument error naming the key.
func ParseOptions(data []byte, opts any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(opts)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			err = errors.New("unexpected data after the options object")
		}
	}
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field == "": // the whole value, not a key
		return Errorf(KindInvalidArgument, "options must be a JSON object, got a JSON %s", typeErr.Value)
	case errors.As(err, &typeErr):
		return Errorf(KindInvalidArgument, "option %q: expected %v, got a JSON %s", typeErr.Field, typeErr.Type, typeErr.Value)
	case errors.As(err, &syntaxErr):
		return Errorf(KindInvalidArgument, "options are not valid JSON at byte %d: %v", syntaxErr.Offset, err)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		key := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return Errorf(KindInvalidArgument, "unknown option %s (known: %s)", key, strings.Join(OptionKeys(opts), ", "))
	}
	return Errorf(KindInvalidArgument, "options: %v", err)
}

// OptionKeys lists the JSON keys an options struct accepts.
func OptionKeys(opts any) []string {
	t := reflect.TypeOf(opts)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); f.Anonymous && f.Type.Kind() == reflect.Struct {
			keys = append(keys, OptionKeys(reflect.New(f.Type).Interface())...)
			continue
		}
		tag := strings.Split(t.Field(i).Tag.Get("json"), ",")[0]
		if tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	return keys
}

// Errorf makes an Error of the given kind, not tied to a file.
func Errorf(kind ErrorKind, format string, args ...any) *Error {
	return &Error{Kind: kind, Err: fmt.Errorf(format, args...)}
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/modelc/modelc/engine"
)

func cmdConvert(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	var o engine.ConvertOptions
	fs.StringVar(&o.To, "to", "", "output format")
	fs.BoolVar(&o.ExternalData, "external-data", false, "ONNX: store initializers in a file beside the model")
	fs.StringVar(&o.ExternalDataFile, "external-data-file", "", "ONNX: external data file name")
	fs.Int64Var(&o.SizeThreshold, "size-threshold", 0, "ONNX: initializers below this many bytes stay inline")
	convertFlags(fs, &o)
	fs.StringVar(&o.Mode, "mode", "", "TFLite: with --quantize int8, dynamic (int8 weights) or static (full integer, with --calibration)")
	fs.StringVar(&o.Calibration, "calibration", "", "TFLite: .npz of inputs to calibrate full-integer int8 on")
	fs.BoolVar(&o.NHWCIO, "nhwc-io", false, "TFLite: 4-D inputs and outputs in NHWC")
	fs.BoolVar(&o.KeepNCHWIO, "keep-nchw-io", false, "TFLite: 4-D inputs and outputs keep NCHW (the default)")
	fs.BoolVar(&o.Int8IO, "int8-io", false, "TFLite full integer: int8 inputs and outputs instead of float")
	pos, err := parseArgs(fs, args, 2, "IN OUT [--to FORMAT] [--external-data] [--opset N] [--splits N] [--shard I/N]")
	if err != nil {
		return err
	}
	bar := newProgressBar(stderr, "converting")
	res, err := engine.Convert(context.Background(), pos[0], pos[1], o, bar.report)
	bar.finish()
	if err != nil {
		return withFlagNames(fs, err)
	}
	if n := len(res.Shards); n > 0 && (res.To == "gguf" || o.Shard != "") {
		fmt.Fprintf(stdout, "wrote %d file(s) of a sharded %s output (%s → %s):\n", n, res.To, res.From, res.To)
		for _, f := range res.Shards {
			fmt.Fprintf(stdout, "  %s\n", f)
		}
		return nil
	}
	if n := len(res.Shards); n > 0 {
		fmt.Fprintf(stdout, "wrote %d shards and their index (%s → %s):\n", n-1, res.From, res.To)
		for _, f := range res.Shards {
			fmt.Fprintf(stdout, "  %s\n", f)
		}
		return nil
	}
	fmt.Fprintf(stdout, "wrote %s (%s → %s)\n", res.Output, res.From, res.To)
	if res.ExternalFile != "" {
		fmt.Fprintf(stdout, "wrote %s (external data)\n", res.ExternalFile)
	}
	return nil
}

// convertFlags declares the flags convert and plan share.
func convertFlags(fs *flag.FlagSet, o *engine.ConvertOptions) {
	fs.StringVar(&o.MaxShardSize, "max-shard-size", "", "safetensors: split into shards of at most this size (5GB, 500MB, 2GiB); GGUF: a split set")
	fs.IntVar(&o.MaxShardTensors, "max-shard-tensors", 0, "GGUF: a split set of at most this many tensors per file")
	fs.IntVar(&o.Splits, "splits", 0, "GGUF: a split set of N files balanced by cost")
	fs.StringVar(&o.Shard, "shard", "", "GGUF: write only file I of the N-file set (I/N or auto/N)")
	fs.StringVar(&o.Quantize, "quantize", "", "GGUF: type of the weight matrices (q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k, f16, bf16, f32, or auto: f16/bf16 as llama.cpp's converter); unset keeps each tensor's type (F32 stays F32). TFLite: fp16 or int8 (with --mode dynamic or --calibration)")
	fs.Int64Var(&o.Opset, "opset", 0, "ONNX: convert to this ai.onnx opset (7 to 23)")
}

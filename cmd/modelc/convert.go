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
	pos, err := parseArgs(fs, args, 2, "IN OUT [--to FORMAT] [--external-data]")
	if err != nil {
		return err
	}
	res, err := engine.Convert(context.Background(), pos[0], pos[1], o, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%s → %s)\n", res.Output, res.From, res.To)
	if res.ExternalFile != "" {
		fmt.Fprintf(stdout, "wrote %s (external data)\n", res.ExternalFile)
	}
	return nil
}

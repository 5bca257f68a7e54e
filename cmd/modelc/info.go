package main

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/modelc/modelc/engine"
	"github.com/modelc/modelc/engine/format"
)

func engineFormats() []string { return format.Names() }

func cmdInfo(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("info", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args, 1, "MODEL [--json]")
	if err != nil {
		return err
	}
	info, err := engine.Inspect(pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, info)
	}
	printInfo(stdout, info)
	return nil
}

// printJSON prints a report as indented JSON, NaN and ±Inf as null (engine.MarshalJSON).
func printJSON(w io.Writer, v any) error {
	b, err := engine.MarshalJSON(v, true)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func printInfo(w io.Writer, info *engine.Info) {
	fmt.Fprintf(w, "%s  (%s, IR version %d)\n", info.Path, info.Format, info.IRVersion)
	if info.Producer.Name != "" {
		fmt.Fprintf(w, "producer   %s %s\n", info.Producer.Name, info.Producer.Version)
	}
	var opsets []string
	for d, v := range info.Opsets {
		if d == "" {
			d = "ai.onnx"
		}
		opsets = append(opsets, fmt.Sprintf("%s %d", d, v))
	}
	sort.Strings(opsets)
	fmt.Fprintf(w, "opsets     %s\n", strings.Join(opsets, ", "))
	for _, v := range info.Inputs {
		fmt.Fprintf(w, "input      %s  %s%s\n", v.Name, v.DType, shapeString(v.Shape))
	}
	for _, v := range info.Outputs {
		fmt.Fprintf(w, "output     %s  %s%s\n", v.Name, v.DType, shapeString(v.Shape))
	}
	fmt.Fprintf(w, "parameters %d\n", info.ParameterCount)
	var dts []string
	for d := range info.BytesPerDType {
		dts = append(dts, d)
	}
	sort.Strings(dts)
	for _, d := range dts {
		fmt.Fprintf(w, "  %-10s %s\n", d, humanBytes(info.BytesPerDType[d]))
	}
	fmt.Fprintf(w, "nodes      %d\n", info.NodeCount)
	for _, op := range info.SortedOps() {
		fmt.Fprintf(w, "  %-24s %d\n", op, info.OpHistogram[op])
	}
	if info.Valid != nil {
		if *info.Valid {
			fmt.Fprintf(w, "valid      yes (ONNX operator schemas)\n")
		} else {
			fmt.Fprintf(w, "valid      NO: %d problem(s), first: %s (modelc check lists them)\n", len(info.Problems), info.Problems[0])
		}
	}
}

func shapeString(shape []any) string {
	if shape == nil {
		return "[?]"
	}
	parts := make([]string, len(shape))
	for i, d := range shape {
		if d == nil {
			parts[i] = "?"
		} else {
			parts[i] = fmt.Sprint(d)
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/modelc/modelc/engine"
	"github.com/modelc/modelc/engine/format"
)

func engineFormats() []string { return format.Names() }

func cmdInfo(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("info", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	allTensors := fs.Bool("tensors", false, "list every tensor")
	withMACs := fs.Bool("macs", false, "count multiply-accumulates (runs the model once on zeros)")
	var inputShapes multiFlag
	fs.Var(&inputShapes, "input-shape", "NAME=D1xD2x... for --macs (repeatable; implies --macs)")
	pos, err := parseArgs(fs, args, 1, "MODEL [--tensors] [--macs [--input-shape NAME=DIMS]] [--json]")
	if err != nil {
		return err
	}
	info, err := engine.Inspect(pos[0])
	if err != nil {
		return err
	}
	if *withMACs || len(inputShapes) > 0 {
		shapes, err := engine.ParseInputShapes(inputShapes)
		if err != nil {
			return withFlagNames(fs, err)
		}
		if info.MACs, err = engine.InspectMACs(context.Background(), pos[0], shapes); err != nil {
			return withFlagNames(fs, err)
		}
	}
	if *asJSON {
		return printJSON(stdout, info)
	}
	defer printMACs(stdout, info.MACs)
	if info.WeightsOnly {
		printWeightsInfo(stdout, info, *allTensors)
		return nil
	}
	printInfo(stdout, info)
	printModuleTree(stdout, info)
	if *allTensors {
		printTensors(stdout, "initializers", info.Tensors)
	}
	return nil
}

// moduleTreeKey is the metadata a TorchScript model's module tree is kept under.
const moduleTreeKey = "torchscript.modules"

// printModuleTree prints a TorchScript model's module tree, one module a line.
func printModuleTree(w io.Writer, info *engine.Info) {
	if tree := info.Metadata[moduleTreeKey]; tree != "" {
		fmt.Fprintf(w, "modules\n")
		for _, l := range strings.Split(tree, "\n") {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
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

// largestShown is how many of the largest tensors info shows without --tensors.
const largestShown = 10

// printWeightsInfo prints a weights-only file's own facts: its tensors by dtype, the
// largest of them (all with --tensors), and its metadata. It has no graph to describe.
func printWeightsInfo(w io.Writer, info *engine.Info, all bool) {
	var total int64
	for _, n := range info.BytesPerDType {
		total += n
	}
	fmt.Fprintf(w, "%s  (%s: weights only, no graph)\n", info.Path, info.Format)
	fmt.Fprintf(w, "tensors    %d, %s\n", info.TensorCount, humanBytes(total))
	fmt.Fprintf(w, "parameters %d\n", info.ParameterCount)
	var dts []string
	for d := range info.BytesPerDType {
		dts = append(dts, d)
	}
	sort.Slice(dts, func(i, j int) bool { return info.BytesPerDType[dts[i]] > info.BytesPerDType[dts[j]] })
	for _, d := range dts {
		fmt.Fprintf(w, "  %-10s %s, %s\n", d, plural(info.TensorsPerDType[d], "tensor"), humanBytes(info.BytesPerDType[d]))
	}
	if all {
		printTensors(w, "tensors", info.Tensors)
	} else if len(info.Tensors) > 0 {
		largest := info.LargestTensors(largestShown)
		title := "tensors, largest first"
		if len(largest) < len(info.Tensors) {
			title = fmt.Sprintf("largest %d of %d (--tensors lists all)", len(largest), len(info.Tensors))
		}
		printTensors(w, title, largest)
	}
	printModuleTree(w, info)
	if len(info.Metadata) > 0 {
		keys := make([]string, 0, len(info.Metadata))
		for k := range info.Metadata {
			if k != moduleTreeKey {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		fmt.Fprintf(w, "metadata   %s\n", plural(len(keys), "entry"))
		for _, k := range keys {
			n := 100
			if strings.HasPrefix(k, "torchscript.") {
				n = 1000 // why the graph was not read: worth reading whole
			}
			fmt.Fprintf(w, "  %s = %s\n", k, shorten(info.Metadata[k], n))
		}
	}
}

// printTensors prints a titled table of tensors: name, dtype and shape, bytes.
func printTensors(w io.Writer, title string, ts []engine.TensorSummary) {
	fmt.Fprintf(w, "%s\n", title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range ts {
		dims := make([]string, len(t.Shape))
		for i, d := range t.Shape {
			dims[i] = fmt.Sprint(d)
		}
		fmt.Fprintf(tw, "  %s\t%s[%s]\t%s\n", t.Name, t.DType, strings.Join(dims, ", "), humanBytes(t.Bytes))
	}
	tw.Flush()
}

// shorten cuts a long metadata value (a GGUF tokenizer's vocabulary) to n characters,
// saying how long it was, and keeps it on one line.
func shorten(s string, n int) string {
	r := []rune(strings.ReplaceAll(s, "\n", "\\n"))
	if len(r) <= n {
		return string(r)
	}
	return fmt.Sprintf("%s… (%d characters)", string(r[:n]), len(r))
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

func plural(n int, noun string) string {
	switch {
	case n == 1:
		return "1 " + noun
	case strings.HasSuffix(noun, "y"):
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(noun, "y"))
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// printMACs prints a MACs count: the total, then per op type.
func printMACs(w io.Writer, r *engine.MACs) {
	if r == nil {
		return
	}
	var names []string
	for n := range r.InputShapes {
		names = append(names, n)
	}
	sort.Strings(names)
	var in []string
	for _, n := range names {
		d := make([]string, len(r.InputShapes[n]))
		for i, v := range r.InputShapes[n] {
			d[i] = fmt.Sprint(v)
		}
		in = append(in, n+"="+strings.Join(d, "x"))
	}
	fmt.Fprintf(w, "MACs       %d (%s)\n", r.Total, strings.Join(in, ", "))
	for _, op := range r.SortedOps() {
		fmt.Fprintf(w, "  %-22s %d\n", op, r.PerOp[op])
	}
}

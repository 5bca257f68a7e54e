package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/modelc/modelc/engine"
)

// cmdPlan prints how convert with the same arguments cuts a GGUF output into files.
func cmdPlan(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	var o engine.ConvertOptions
	fs.StringVar(&o.To, "to", "", "output format")
	convertFlags(fs, &o)
	asJSON := fs.Bool("json", false, "print JSON")
	verbose := fs.Bool("tensors", false, "list each file's tensors")
	fs.BoolVar(&o.WriteIndex, "write-index", false, "safetensors: write the index")
	pos, err := parseArgs(fs, args, 2, "IN OUT [--splits N | --max-shard-size SIZE | --max-shard-tensors N] [--quantize TYPE] [--json]")
	if err != nil {
		return err
	}
	p, err := engine.Plan(context.Background(), pos[0], pos[1], o)
	if err != nil {
		return withFlagNames(fs, err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	}
	fmt.Fprintf(stdout, "%d file(s), total cost %d (cost = input bytes × the output type's cost per byte)\n", len(p.Files), p.TotalCost)
	for _, f := range p.Files {
		share := 0.0
		if p.TotalCost > 0 {
			share = 100 * float64(f.Cost) / float64(p.TotalCost)
		}
		fmt.Fprintf(stdout, "  %s  %d tensors  %d bytes  cost %d (%.1f%%)", f.Path, len(f.Tensors), f.Bytes, f.Cost, share)
		if len(f.Tensors) > 0 {
			fmt.Fprintf(stdout, "  %s … %s", f.Tensors[0].Name, f.Tensors[len(f.Tensors)-1].Name)
		}
		fmt.Fprintln(stdout)
		if *verbose {
			for _, t := range f.Tensors {
				fmt.Fprintf(stdout, "      %-40s %-5s %v %d bytes\n", t.Name, t.Type, t.Shape, t.OutBytes)
			}
		}
	}
	if p.Index != "" {
		fmt.Fprintf(stdout, "wrote %s\n", p.Index)
	}
	return nil
}

// cmdVerifyShards checks that a folder holds complete, consistent split sets.
func cmdVerifyShards(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("verify-shards", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args, 1, "DIR|FILE [--json]")
	if err != nil {
		return err
	}
	reports, err := engine.VerifyShards(pos[0])
	if err != nil {
		return err
	}
	bad := 0
	for _, r := range reports {
		if !r.OK() {
			bad++
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(reports); err != nil {
			return err
		}
	} else {
		for _, r := range reports {
			state := "complete"
			if !r.OK() {
				state = "INCOMPLETE OR INCONSISTENT"
			}
			fmt.Fprintf(stdout, "%s (%s): %d of %d files, %d tensors (declared %d), %d bytes: %s\n", r.First, r.Format, len(r.Present), r.Count, r.Tensors, r.Declared, r.Bytes, state)
			for _, p := range r.Problems {
				fmt.Fprintf(stdout, "  %s\n", p)
			}
		}
	}
	if bad > 0 {
		return engine.Errorf(engine.KindVerifyFailed, "%d of %d split set(s) incomplete or inconsistent", bad, len(reports))
	}
	return nil
}

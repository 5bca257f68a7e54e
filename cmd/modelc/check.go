package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/modelc/modelc/engine"
)

// cmdCheck validates a model against the ONNX operator schemas: exit 0 when valid, 4
// (corrupt) when not, with every problem listed.
func cmdCheck(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args, 1, "MODEL [--json]")
	if err != nil {
		return err
	}
	rep, err := engine.Check(pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		if err := printJSON(stdout, rep); err != nil {
			return err
		}
	} else if rep.Valid {
		fmt.Fprintf(stdout, "%s: valid (ONNX operator schemas of %s)\n", rep.Path, rep.Schemas)
	} else {
		fmt.Fprintf(stdout, "%s: INVALID — %d problem(s) against the ONNX operator schemas of %s:\n", rep.Path, len(rep.Problems), rep.Schemas)
		for _, p := range rep.Problems {
			fmt.Fprintf(stdout, "  %s\n", p)
		}
	}
	if !rep.Valid {
		return &engine.Error{Kind: engine.KindCorrupt, File: rep.Path, Err: fmt.Errorf("%d problem(s) against the ONNX operator schemas", len(rep.Problems))}
	}
	return nil
}

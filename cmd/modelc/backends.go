package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/modelc/modelc/engine"
)

func cmdBackends(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("backends", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseArgs(fs, args, 0, "[--json]"); err != nil {
		return err
	}
	report, err := engine.Backends()
	if *asJSON {
		if jerr := printJSON(stdout, report); jerr != nil {
			return jerr
		}
	} else {
		fmt.Fprint(stdout, report.String())
	}
	return err
}

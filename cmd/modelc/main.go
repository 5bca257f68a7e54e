// Command modelc converts, compresses and verifies deep-learning models.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/modelc/modelc/engine"
)

// Version is the modelc release; `make` may override it with -ldflags.
var Version = "0.1.0-dev"

// Exit codes, one per error kind (see usage).
const (
	exitOK          = 0
	exitInternal    = 1
	exitUsage       = 2
	exitIO          = 3
	exitCorrupt     = 4
	exitUnsupported = 5
	exitVerify      = 6
	exitCancelled   = 7
)

const usage = `modelc — convert, compress and verify deep-learning models

Usage:
  modelc info MODEL [--json]          summarise a model: format, opsets, inputs and
                                      outputs, op histogram, parameters, bytes per dtype
  modelc convert IN OUT [flags]       convert IN to the format OUT's extension names
      --to FORMAT                     output format, when the extension does not say it
      --external-data                 ONNX: store initializers in OUT.data beside OUT
      --external-data-file NAME       ONNX: name of that file (relative to OUT's folder)
      --size-threshold BYTES          ONNX: initializers below this stay inline (1024)
  modelc backends [--json]            the CPU, its features, and the kernel chosen for each
                                      operation (MODELC_ACCEL=go|avx2|avx512|neon|cuda|auto
                                      overrides the automatic choice)
  modelc version                      print the version
  modelc help                         this text

Formats: %s. An ONNX model over the 2 GiB protobuf limit is written with external
data automatically.

Exit codes:
  0  success
  1  internal error (a bug in modelc: please report it)
  2  usage error: bad command, flag, option or path
  3  I/O error: a file could not be read or written
  4  corrupt or unsupported file
  5  unsupported op or dtype
  6  verification failed
  7  cancelled
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is a mistake on the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "modelc: internal error: %v\n", r)
			code = exitInternal
		}
	}()
	if len(args) == 0 {
		fmt.Fprintf(stderr, usage, formatList())
		return exitUsage
	}
	var err error
	switch args[0] {
	case "info":
		err = cmdInfo(args[1:], stdout)
	case "convert":
		err = cmdConvert(args[1:], stdout, stderr)
	case "backends":
		err = cmdBackends(args[1:], stdout)
	case "version", "--version":
		fmt.Fprintf(stdout, "modelc %s\n", Version)
	case "help", "-h", "--help":
		fmt.Fprintf(stdout, usage, formatList())
	default:
		err = usageError{fmt.Sprintf("unknown command %q; run 'modelc help'", args[0])}
	}
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(stderr, "modelc: %v\n", err)
	return exitCode(err)
}

func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	switch engine.KindOf(err) {
	case engine.KindInvalidArgument:
		return exitUsage
	case engine.KindIO:
		return exitIO
	case engine.KindCorrupt:
		return exitCorrupt
	case engine.KindUnsupported:
		return exitUnsupported
	case engine.KindVerifyFailed:
		return exitVerify
	case engine.KindCancelled:
		return exitCancelled
	}
	return exitInternal
}

func formatList() string { return strings.Join(engineFormats(), ", ") }

// parseArgs parses flags that may come before, between or after the positional
// arguments, and checks the number of positionals.
func parseArgs(fs *flag.FlagSet, args []string, want int, names string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{fmt.Sprintf("%s: %v", fs.Name(), err)}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) != want {
		return nil, usageError{fmt.Sprintf("usage: modelc %s %s", fs.Name(), names)}
	}
	return pos, nil
}

package engine

import (
	"bytes"
	"context"
	"strings"

	"github.com/modelc/modelc/engine/format/onnx"
	"github.com/modelc/modelc/engine/ir"
)

// memFormat is a format that can be decoded from and encoded to memory. Only formats whose
// model is one self-contained blob qualify: a model with external data files needs a
// folder, which a byte buffer does not have.
type memFormat struct {
	name   string
	detect func(head []byte) bool
	read   func(data []byte, name string) (*ir.Model, error)
	encode func(m *ir.Model) ([]byte, error)
}

var memFormats = []memFormat{
	{
		name:   "onnx",
		detect: onnx.Detect,
		// dir "" forbids external data: an in-memory model has no folder to resolve it in.
		read: func(data []byte, name string) (*ir.Model, error) { return onnx.ReadBytes(data, name, "") },
		encode: func(m *ir.Model) ([]byte, error) {
			var buf bytes.Buffer
			err := onnx.Encode(m, &buf)
			return buf.Bytes(), err
		},
	},
}

func memFormatNames() string {
	var names []string
	for _, f := range memFormats {
		names = append(names, f.name)
	}
	return strings.Join(names, ", ")
}

func memFormatByName(name string) (*memFormat, error) {
	for i := range memFormats {
		if memFormats[i].name == strings.ToLower(name) {
			return &memFormats[i], nil
		}
	}
	return nil, Errorf(KindInvalidArgument, "format %q cannot be converted in memory (in-memory formats: %s)", name, memFormatNames())
}

// ConvertBytes converts a model held in memory (data, in format from; "" detects it by its
// magic bytes) to a new byte slice in format to ("" takes opts.To). It is Convert for hosts
// that hold models in memory: the same options, progress stages and errors, but without
// files, so options that name files (external data) are refused. The result never aliases
// data, and data is not retained after the call.
func ConvertBytes(ctx context.Context, data []byte, from, to string, opts ConvertOptions, progress Progress) ([]byte, error) {
	step := stepper(ctx, progress)
	const name = "<memory>" // what error messages call the input
	if opts.ExternalData || opts.ExternalDataFile != "" {
		return nil, Errorf(KindInvalidArgument, "external_data and external_data_file need an output file; an in-memory conversion returns one buffer")
	}
	switch {
	case to == "":
		to = opts.To
	case opts.To != "" && !strings.EqualFold(opts.To, to):
		return nil, Errorf(KindInvalidArgument, "the output format is given twice and differs: %q and option to=%q", to, opts.To)
	}
	if to == "" {
		return nil, Errorf(KindInvalidArgument, "name the output format of an in-memory conversion (in-memory formats: %s)", memFormatNames())
	}
	out, err := memFormatByName(to)
	if err != nil {
		return nil, err
	}
	var in *memFormat
	if from != "" {
		if in, err = memFormatByName(from); err != nil {
			return nil, err
		}
	} else {
		for i := range memFormats {
			if memFormats[i].detect(data[:min(len(data), 64)]) {
				in = &memFormats[i]
				break
			}
		}
		if in == nil {
			return nil, &Error{Kind: KindCorrupt, File: name, Err: errorString("not a model modelc recognises in memory (in-memory formats: " + memFormatNames() + ")")}
		}
	}
	if err := step("read", 0); err != nil {
		return nil, err
	}
	m, err := in.read(data, name)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	if err := step("write", 0.5); err != nil {
		return nil, err
	}
	b, err := out.encode(m)
	if err != nil {
		return nil, err
	}
	// The result is complete: as in Convert, a cancel request at "done" comes too late.
	if progress != nil {
		progress("done", 1)
	}
	return b, nil
}

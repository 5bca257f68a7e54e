package engine

import (
	"bytes"
	"context"
	"strings"

	"github.com/modelc/modelc/engine/format"
	"github.com/modelc/modelc/engine/ir"
)

// memoryName is what error messages call a model held in memory.
const memoryName = "<memory>"

// outputName is what error messages call an output held in memory.
const outputName = "<output>"

// inMemory returns the format called name if it can be read from (read) or written to
// memory; formats that need files (a checkpoint folder) are an invalid argument.
func inMemory(name string, read bool) (*format.Format, error) {
	fm, err := format.ByName(name)
	if err != nil {
		return nil, err
	}
	if !read && fm.Write == nil {
		return nil, Errorf(KindInvalidArgument, "modelc reads %s but does not write it", fm.Name)
	}
	if (read && fm.ReadBytes == nil) || (!read && fm.Encode == nil) {
		verb := "read from"
		if !read {
			verb = "written to"
		}
		return nil, Errorf(KindInvalidArgument, "format %s cannot be %s memory: it needs files (a folder); convert it with paths (in-memory formats: %s)",
			fm.Name, verb, strings.Join(format.InMemory(), ", "))
	}
	return fm, nil
}

// readBytes decodes data in format from ("" detects it by its magic bytes).
func readBytes(data []byte, from string) (*ir.Model, *format.Format, error) {
	var in *format.Format
	var err error
	if from != "" {
		in, err = inMemory(from, true)
	} else {
		in, err = format.ForReadBytes(data, memoryName)
	}
	if err != nil {
		return nil, nil, err
	}
	m, err := in.ReadBytes(data, memoryName)
	if err != nil {
		return nil, nil, err
	}
	return m, in, nil
}

// encode writes m in format out to a new byte slice.
func encode(m *ir.Model, out *format.Format, name string, wopts format.WriteOptions) ([]byte, error) {
	var buf bytes.Buffer
	if err := out.Encode(m, &buf, name, wopts); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ConvertBytes converts a model held in memory (data, in format from; "" detects it by its
// magic bytes) to a new byte slice in format to ("" takes opts.To). It is Convert for hosts
// that hold models in memory: the same readers and writers (format.InMemory lists them),
// options, progress stages and errors, but without files, so options that make files
// (external data, shards) and formats that are folders (hf) are refused. The result never
// aliases data, and data is not retained after the call.
func ConvertBytes(ctx context.Context, data []byte, from, to string, opts ConvertOptions, progress Progress) ([]byte, error) {
	step := stepper(ctx, progress)
	if opts.ExternalData || opts.ExternalDataFile != "" {
		return nil, Errorf(KindInvalidArgument, "external_data and external_data_file need an output file; an in-memory conversion returns one buffer")
	}
	if opts.Splits != 0 || opts.Shard != "" || opts.MaxShardTensors != 0 || opts.WriteIndex {
		return nil, Errorf(KindInvalidArgument, "options splits, shard, max_shard_tensors and write_index make several files; an in-memory conversion returns one buffer")
	}
	if opts.MaxShardSize != "" {
		return nil, Errorf(KindInvalidArgument, "option max_shard_size splits the output into files beside an index; an in-memory conversion returns one buffer")
	}
	switch {
	case to == "":
		to = opts.To
	case opts.To != "" && !strings.EqualFold(opts.To, to):
		return nil, Errorf(KindInvalidArgument, "the output format is given twice and differs: %q and option to=%q", to, opts.To)
	}
	if to == "" {
		return nil, Errorf(KindInvalidArgument, "name the output format of an in-memory conversion (in-memory formats: %s)", strings.Join(format.InMemory(), ", "))
	}
	out, err := inMemory(to, false)
	if err != nil {
		return nil, err
	}
	if from != "" {
		if _, err := inMemory(from, true); err != nil {
			return nil, err
		}
	}
	wopts, err := writeOptions(opts, out.Name)
	if err != nil {
		return nil, err
	}
	if err := step("read", 0); err != nil {
		return nil, err
	}
	m, _, err := readBytes(data, from)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	if err := step("write", 0.5); err != nil {
		return nil, err
	}
	if err := prepareForWrite(m, out.Name, opts); err != nil {
		return nil, err
	}
	if err := calibrateTFLite(m, &wopts, opts); err != nil {
		return nil, err
	}
	wopts.Written = newWriteTracker(ctx, progress, m, 0.5, 1).written
	b, err := encode(m, out, outputName, wopts)
	if err != nil {
		return nil, err
	}
	// The result is complete: as in Convert, a cancel request at "done" comes too late.
	if progress != nil {
		progress("done", 1)
	}
	return b, nil
}

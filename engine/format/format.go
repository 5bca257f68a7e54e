// Package format is the registry of model file formats: it picks the reader for a file by
// its magic bytes or extension, and the writer for an output by its extension.
package format

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/modelc/modelc/engine/format/onnx"
	"github.com/modelc/modelc/engine/ir"
)

// WriteOptions are the writer settings shared by all formats; a format ignores those
// that mean nothing to it.
type WriteOptions struct {
	ExternalData  bool   // ONNX: store initializers in a file beside the model
	ExternalFile  string // ONNX: that file's name, relative to the model's folder
	SizeThreshold int64  // ONNX: smaller initializers stay inside the model
	// Written, if set, receives each large piece of tensor data once written out.
	Written func([]byte)
}

// Format is one file format modelc reads and/or writes.
type Format struct {
	Name       string
	Extensions []string               // lower case, with the dot
	Detect     func(head []byte) bool // recognises the first bytes of a file
	Read       func(path string) (*ir.Model, error)
	Write      func(m *ir.Model, path string, opts WriteOptions) error
}

var formats = []*Format{
	{
		Name:       "onnx",
		Extensions: []string{".onnx"},
		Detect:     onnx.Detect,
		Read:       onnx.Read,
		Write: func(m *ir.Model, path string, o WriteOptions) error {
			_, err := onnx.Write(m, path, onnx.WriteOptions{ExternalData: o.ExternalData, ExternalFile: o.ExternalFile, SizeThreshold: o.SizeThreshold, Written: o.Written})
			return err
		},
	},
}

// Names lists the formats modelc knows.
func Names() []string {
	var names []string
	for _, f := range formats {
		names = append(names, f.Name)
	}
	sort.Strings(names)
	return names
}

// ByName returns the format called name.
func ByName(name string) (*Format, error) {
	for _, f := range formats {
		if f.Name == strings.ToLower(name) {
			return f, nil
		}
	}
	return nil, ir.Errorf(ir.KindInvalidArgument, "", "unknown format %q (known: %s)", name, strings.Join(Names(), ", "))
}

// ForRead picks the reader of the file at path: by its first bytes, then by extension.
func ForRead(path string) (*Format, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &ir.Error{Kind: ir.KindIO, File: path, Err: unwrap(err)}
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, ir.Errorf(ir.KindInvalidArgument, path, "is a folder, not a model file")
	}
	head := make([]byte, 64)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, &ir.Error{Kind: ir.KindIO, File: path, Err: err}
	}
	head = head[:n]
	for _, fm := range formats {
		if fm.Read != nil && fm.Detect != nil && fm.Detect(head) {
			return fm, nil
		}
	}
	if fm := byExtension(path); fm != nil && fm.Read != nil {
		return fm, nil
	}
	return nil, ir.Errorf(ir.KindCorrupt, path, "not a model file modelc recognises (formats: %s)", strings.Join(Names(), ", "))
}

// ForWrite picks the writer for path by its extension.
func ForWrite(path string) (*Format, error) {
	if fm := byExtension(path); fm != nil && fm.Write != nil {
		return fm, nil
	}
	return nil, ir.Errorf(ir.KindInvalidArgument, path, "cannot tell the output format from the extension %q; name it with --to (formats: %s)", filepath.Ext(path), strings.Join(Names(), ", "))
}

func byExtension(path string) *Format {
	ext := strings.ToLower(filepath.Ext(path))
	for _, fm := range formats {
		for _, e := range fm.Extensions {
			if e == ext {
				return fm
			}
		}
	}
	return nil
}

func unwrap(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return fmt.Errorf("%v", pe.Err)
	}
	return err
}

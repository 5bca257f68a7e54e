package onnx

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/modelc/modelc/engine/format/atomicfile"
	"github.com/modelc/modelc/engine/ir"
)

// MaxProtoSize is the largest message protobuf implementations parse (2 GiB − 1).
const MaxProtoSize = math.MaxInt32

// The versions written for a model that has none (one read from a weight-only format):
// IR version 10 and opset 21 (onnx 1.16), which onnxruntime has loaded since 1.17.
const (
	DefaultIRVersion = 10
	DefaultOpset     = 21
)

// WriteOptions controls how a model is written.
type WriteOptions struct {
	// ExternalData stores initializer data in a file beside the model instead of inside
	// it. Models that would exceed the 2 GiB protobuf limit use external data regardless.
	ExternalData bool
	// ExternalFile is the external data file's name, relative to the model's folder;
	// default "<model file name>.data".
	ExternalFile string
	// SizeThreshold: initializers smaller than this many bytes stay inside the model
	// even with external data (default 1024, as the onnx package does).
	SizeThreshold int64
	// Written, if set, is called with each large piece of tensor data once it has been
	// written out (a conversion uses it to release memory-mapped input as it goes).
	Written func([]byte) error
}

// WriteResult says how a model was written.
type WriteResult struct {
	ExternalFile string // the external data file written, or ""
	Automatic    bool   // external data was chosen because of the 2 GiB limit
}

// Write stores m at path atomically: the model (and external data file) appear complete
// or not at all.
func Write(m *ir.Model, path string, opts WriteOptions) (WriteResult, error) {
	var res WriteResult
	if opts.SizeThreshold <= 0 {
		opts.SizeThreshold = 1024
	}
	if opts.ExternalFile == "" {
		opts.ExternalFile = filepath.Base(path) + ".data"
	}
	if _, err := resolveRelative(opts.ExternalFile); err != nil {
		return res, ir.Errorf(ir.KindInvalidArgument, path, "external data file %q: %v", opts.ExternalFile, err)
	}
	var ext *externalWriter
	if opts.ExternalData {
		ext = &externalWriter{location: opts.ExternalFile, threshold: opts.SizeThreshold}
	}
	r, err := encodeModel(m, ext)
	if err != nil {
		return res, err
	}
	if ext == nil && r.n > MaxProtoSize {
		ext = &externalWriter{location: opts.ExternalFile, threshold: opts.SizeThreshold}
		res.Automatic = true
		if r, err = encodeModel(m, ext); err != nil {
			return res, err
		}
	}
	if r.n > MaxProtoSize {
		return res, ir.Errorf(ir.KindUnsupported, path, "the model is %d bytes even with its initializers stored externally, over the 2 GiB protobuf limit", r.n)
	}
	// The model and its data file are one set: checked against the input's files, both
	// written under temporary names, the data renamed first and the model last, so a model
	// never points at data that is not there yet, and a failure or a signal before the
	// model's rename puts the old data file back.
	set := atomicfile.NewSet(m.Sources())
	hasExt := ext != nil && len(ext.data) > 0
	extPath := filepath.Join(filepath.Dir(path), filepath.FromSlash(opts.ExternalFile))
	if hasExt {
		if err := set.Check(extPath); err != nil {
			return res, err
		}
	}
	if err := set.Check(path); err != nil {
		return res, err
	}
	defer set.Abort()
	if hasExt {
		extFile, err := set.Create(extPath)
		if err != nil {
			return res, err
		}
		if err := ext.writeTo(extFile, opts.Written); err != nil {
			return res, &ir.Error{Kind: ir.KindIO, File: extPath, Err: err}
		}
		res.ExternalFile = extPath
	}
	out, err := set.Create(path)
	if err != nil {
		return res, err
	}
	if err := r.writeTo(out, opts.Written); err != nil {
		return res, &ir.Error{Kind: ir.KindIO, File: path, Err: err}
	}
	if err := set.Commit(); err != nil {
		return res, err
	}
	return res, nil
}

// Encode writes m as one self-contained ModelProto (no external data) to w.
func Encode(m *ir.Model, w io.Writer) error {
	r, err := encodeModel(m, nil)
	if err != nil {
		return err
	}
	if r.n > MaxProtoSize {
		return ir.Errorf(ir.KindUnsupported, "", "the model is %d bytes, over the 2 GiB protobuf limit; write it to a file with external data", r.n)
	}
	return r.writeTo(w, nil)
}

func resolveRelative(location string) (string, error) {
	if filepath.IsAbs(location) || filepath.Clean(location) != location || location == ".." || len(location) > 2 && location[:3] == "../" {
		return "", fmt.Errorf("must be a plain path relative to the model's folder")
	}
	return location, nil
}

// externalWriter lays out the external data file: tensors in model order, each aligned
// so readers can map it (64 bytes; 64 KiB for tensors of 1 MiB and more, the allocation
// granularity the onnx package uses).
type externalWriter struct {
	location  string
	threshold int64
	data      [][]byte
	offsets   []int64
	size      int64
}

func (e *externalWriter) add(b []byte) (offset int64) {
	align := int64(64)
	if len(b) >= 1<<20 {
		align = 1 << 16
	}
	e.size = (e.size + align - 1) / align * align
	e.data = append(e.data, b)
	e.offsets = append(e.offsets, e.size)
	offset = e.size
	e.size += int64(len(b))
	return offset
}

func (e *externalWriter) writeTo(w io.Writer, done func([]byte) error) error {
	var pos int64
	zeros := make([]byte, 1<<16)
	for i, b := range e.data {
		if pad := e.offsets[i] - pos; pad > 0 {
			if _, err := w.Write(zeros[:pad]); err != nil {
				return err
			}
		}
		if err := writeReleasing(w, b, done); err != nil {
			return err
		}
		pos = e.offsets[i] + int64(len(b))
	}
	return nil
}

// encoder turns an ir.Model into a rope of protobuf bytes.
type encoder struct {
	ext *externalWriter
}

func encodeModel(m *ir.Model, ext *externalWriter) (*rope, error) {
	if m.Graph == nil {
		return nil, ir.Errorf(ir.KindInvalidArgument, "", "model has no graph")
	}
	e := &encoder{ext: ext}
	r := &rope{}
	irVersion, opsets, graph := m.IRVersion, m.Opsets, m.Graph
	if irVersion == 0 {
		// A model from a weight-only format (safetensors, GGUF, PyTorch, NumPy) has no
		// ONNX versions: give it what the ONNX checker requires.
		irVersion = DefaultIRVersion
		if len(opsets) == 0 {
			opsets = []ir.OpsetImport{{Version: DefaultOpset}}
		}
		if graph.Name == "" {
			g := *graph
			g.Name = "weights"
			graph = &g
		}
	}
	r.varint(1, uint64(irVersion))
	r.str(2, m.ProducerName)
	r.str(3, m.ProducerVersion)
	r.str(4, m.Domain)
	if m.ModelVersion != 0 {
		r.varint(5, uint64(m.ModelVersion))
	}
	r.str(6, m.DocString)
	r.message(7, e.graph(graph))
	for _, o := range opsets {
		r.message(8, opset(o))
	}
	pairs(r, 14, m.Metadata)
	for _, t := range m.TrainingInfo {
		s := &rope{}
		if t.Initialization != nil {
			s.message(1, e.graph(t.Initialization))
		}
		if t.Algorithm != nil {
			s.message(2, e.graph(t.Algorithm))
		}
		pairs(s, 3, t.InitializationBinding)
		pairs(s, 4, t.UpdateBinding)
		r.message(20, s)
	}
	for _, f := range m.Functions {
		r.message(25, e.function(f))
	}
	r.small(m.Extra)
	return r, nil
}

func opset(o ir.OpsetImport) *rope {
	s := &rope{}
	s.bytes(1, []byte(o.Domain)) // always present: onnx writes domain "" explicitly
	s.varint(2, uint64(o.Version))
	return s
}

func pairs(r *rope, num protowire.Number, ps []ir.StringPair) {
	for _, p := range ps {
		s := &rope{}
		s.bytes(1, []byte(p.Key))
		s.bytes(2, []byte(p.Value))
		r.message(num, s)
	}
}

// graph encodes g; initializers of any graph may go to external data.
func (e *encoder) graph(g *ir.Graph) *rope {
	r := &rope{}
	for _, n := range g.Nodes {
		r.message(1, e.node(n))
	}
	r.str(2, g.Name)
	for _, t := range g.Initializers {
		r.message(5, e.tensor(t, e.ext))
	}
	r.str(10, g.DocString)
	for _, v := range g.Inputs {
		r.message(11, valueInfo(v))
	}
	for _, v := range g.Outputs {
		r.message(12, valueInfo(v))
	}
	for _, v := range g.ValueInfos {
		r.message(13, valueInfo(v))
	}
	for _, a := range g.QuantizationAnnotation {
		s := &rope{}
		s.str(1, a.TensorName)
		pairs(s, 2, a.QuantParams)
		r.message(14, s)
	}
	for _, s := range g.SparseInitializers {
		r.message(15, e.sparse(s))
	}
	pairs(r, 16, g.Metadata)
	return r
}

func (e *encoder) node(n *ir.Node) *rope {
	r := &rope{}
	for _, in := range n.Inputs {
		r.bytes(1, []byte(in)) // "" marks an omitted input and must be kept
	}
	for _, out := range n.Outputs {
		r.bytes(2, []byte(out))
	}
	r.str(3, n.Name)
	r.str(4, n.OpType)
	for _, a := range n.Attrs {
		r.message(5, e.attribute(a))
	}
	r.str(6, n.DocString)
	r.str(7, n.Domain)
	r.str(8, n.Overload)
	pairs(r, 9, n.Metadata)
	r.small(n.Extra)
	return r
}

func (e *encoder) attribute(a *ir.Attribute) *rope {
	r := &rope{}
	r.str(1, a.Name)
	// The value field of the attribute's type is written even when it holds the
	// default value, as onnx.helper.make_attribute does; a reference to a function
	// attribute carries no value.
	if a.RefAttrName == "" {
		switch a.Type {
		case ir.AttrFloat:
			r.fixed32(2, math.Float32bits(a.Float))
		case ir.AttrInt:
			r.varint(3, uint64(a.Int))
		case ir.AttrString:
			r.bytes(4, a.String)
		case ir.AttrTensor:
			if a.Tensor != nil {
				r.message(5, e.tensor(a.Tensor, nil))
			}
		case ir.AttrGraph:
			if a.Graph != nil {
				r.message(6, e.graph(a.Graph))
			}
		}
	}
	for _, f := range a.Floats {
		r.fixed32(7, math.Float32bits(f))
	}
	for _, v := range a.Ints {
		r.varint(8, uint64(v))
	}
	for _, s := range a.Strings {
		r.bytes(9, s)
	}
	for _, t := range a.Tensors {
		r.message(10, e.tensor(t, nil))
	}
	for _, g := range a.Graphs {
		r.message(11, e.graph(g))
	}
	r.str(13, a.DocString)
	if a.TypeProto != nil {
		r.message(14, typeProto(a.TypeProto))
	}
	for _, t := range a.TypeProtos {
		r.message(15, typeProto(t))
	}
	if a.Type != ir.AttrUndefined {
		r.varint(20, uint64(a.Type))
	}
	r.str(21, a.RefAttrName)
	if a.SparseTensor != nil {
		r.message(22, e.sparse(a.SparseTensor))
	}
	for _, s := range a.SparseTensors {
		r.message(23, e.sparse(s))
	}
	return r
}

// tensor encodes t with its data in raw_data (string_data for strings), or in the
// external data file when ext is set and the tensor is large enough.
func (e *encoder) tensor(t *ir.Tensor, ext *externalWriter) *rope {
	r := &rope{}
	for _, d := range t.Shape {
		r.varint(1, uint64(d))
	}
	r.varint(2, uint64(t.DType))
	for _, s := range t.Strings() {
		r.bytes(6, s)
	}
	r.str(8, t.Name)
	data := t.Bytes()
	external := ext != nil && t.DType != ir.String && int64(len(data)) >= ext.threshold
	if t.DType != ir.String && !external {
		r.bytes(9, data)
	}
	r.str(12, t.DocString)
	if external {
		off := ext.add(data)
		pairs(r, 13, []ir.StringPair{
			{Key: "location", Value: ext.location},
			{Key: "offset", Value: strconv.FormatInt(off, 10)},
			{Key: "length", Value: strconv.Itoa(len(data))},
		})
		r.varint(14, 1)
	}
	pairs(r, 16, t.Metadata)
	return r
}

func (e *encoder) sparse(s *ir.SparseTensor) *rope {
	r := &rope{}
	if s.Values != nil {
		r.message(1, e.tensor(s.Values, nil))
	}
	if s.Indices != nil {
		r.message(2, e.tensor(s.Indices, nil))
	}
	for _, d := range s.Dims {
		r.varint(3, uint64(d))
	}
	return r
}

func valueInfo(v *ir.ValueInfo) *rope {
	r := &rope{}
	r.str(1, v.Name)
	if v.Type != nil {
		r.message(2, typeProto(v.Type))
	}
	r.str(3, v.DocString)
	pairs(r, 4, v.Metadata)
	return r
}

func typeProto(t *ir.Type) *rope {
	r := &rope{}
	inner := &rope{}
	switch t.Kind {
	case ir.TypeTensor, ir.TypeSparseTensor:
		if t.ElemType != ir.Undefined {
			inner.varint(1, uint64(t.ElemType))
		}
		if t.Shape != nil {
			inner.message(2, shape(t.Shape))
		}
	case ir.TypeSequence, ir.TypeOptional:
		if t.Elem != nil {
			inner.message(1, typeProto(t.Elem))
		}
	case ir.TypeMap:
		if t.ElemType != ir.Undefined {
			inner.varint(1, uint64(t.ElemType))
		}
		if t.Elem != nil {
			inner.message(2, typeProto(t.Elem))
		}
	case ir.TypeOpaque:
		inner.str(1, t.OpaqueDomain)
		inner.str(2, t.OpaqueName)
	}
	switch t.Kind {
	case ir.TypeTensor:
		r.message(1, inner)
	case ir.TypeSequence:
		r.message(4, inner)
	case ir.TypeMap:
		r.message(5, inner)
	case ir.TypeOpaque:
		r.message(7, inner)
	case ir.TypeSparseTensor:
		r.message(8, inner)
	case ir.TypeOptional:
		r.message(9, inner)
	}
	r.str(6, t.Denotation)
	return r
}

func shape(s *ir.Shape) *rope {
	r := &rope{}
	for _, d := range s.Dims {
		dim := &rope{}
		if d.HasValue {
			dim.varint(1, uint64(d.Value))
		} else if d.Param != "" {
			dim.bytes(2, []byte(d.Param))
		}
		dim.str(3, d.Denotation)
		r.message(1, dim)
	}
	return r
}

func (e *encoder) function(f *ir.Function) *rope {
	r := &rope{}
	r.str(1, f.Name)
	for _, s := range f.Inputs {
		r.bytes(4, []byte(s))
	}
	for _, s := range f.Outputs {
		r.bytes(5, []byte(s))
	}
	for _, s := range f.Attributes {
		r.bytes(6, []byte(s))
	}
	for _, n := range f.Nodes {
		r.message(7, e.node(n))
	}
	r.str(8, f.DocString)
	for _, o := range f.Opsets {
		r.message(9, opset(o))
	}
	r.str(10, f.Domain)
	for _, a := range f.AttrProtos {
		r.message(11, e.attribute(a))
	}
	for _, v := range f.ValueInfos {
		r.message(12, valueInfo(v))
	}
	r.str(13, f.Overload)
	pairs(r, 14, f.Metadata)
	return r
}

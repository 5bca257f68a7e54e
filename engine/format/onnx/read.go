// Package onnx reads and writes ONNX models (ModelProto) to and from ir.Model.
//
// The reader decodes the protobuf wire format directly from a memory map of the file with
// protowire, so tensor bytes (raw_data and external data) are used in place, never
// copied: loading is fast and a model larger than RAM can be converted.
package onnx

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/modelc/modelc/engine/format/mmap"
	"github.com/modelc/modelc/engine/ir"
)

// Read loads the ONNX model at path. Tensor data stays in memory maps of the model and
// its external data files until the model is closed.
func Read(path string) (*ir.Model, error) {
	mf, err := mmap.Open(path)
	if err != nil {
		return nil, ir.IOError(path, err)
	}
	m, err := decode(mf.Data, path, filepath.Dir(path), mf.DropUnmodified)
	if err != nil {
		mf.Close()
		return nil, err
	}
	m.KeepAlive(mf)
	return m, nil
}

// ReadBytes decodes a model held in memory. Tensors alias data. dir is the folder that
// external data locations are relative to; empty means the model may not use external data.
func ReadBytes(data []byte, name, dir string) (*ir.Model, error) {
	return decode(data, name, dir, nil)
}

// decoder holds the state of one model read.
type decoder struct {
	file  string
	dir   string                // external data locations are relative to it
	ext   map[string]*mmap.File // external data files, by location
	model *ir.Model
	depth int

	// Parsing touches the header of every tensor, and the kernel maps the page-cache
	// folio around it (up to 2 MiB): drop releases what is behind the parse position so
	// the resident set stays small. nil for a model in caller-owned memory.
	data    []byte
	drop    func([]byte)
	dropped int64 // everything before this offset has been released
}

func decode(data []byte, file, dir string, drop func([]byte)) (m *ir.Model, err error) {
	d := &decoder{file: file, dir: dir, ext: map[string]*mmap.File{}, model: &ir.Model{}, data: data, drop: drop}
	defer func() {
		if err != nil {
			d.model.Close()
		}
	}()
	if len(data) == 0 {
		return nil, ir.Errorf(ir.KindCorrupt, file, "empty file, not an ONNX model")
	}
	if err := d.modelProto(msg{b: data}); err != nil {
		return nil, err
	}
	if d.model.Graph == nil {
		return nil, ir.Errorf(ir.KindCorrupt, file, "no graph: not an ONNX model (or a truncated one)")
	}
	// Some producers (onnxruntime's own quantizer among them) write nodes out of
	// topological order, which onnxruntime accepts: put them in order once, here, so
	// every pass, the runtime and the writer see a sorted graph. A graph that cannot be
	// sorted (a cycle, an input nobody produces) is kept as written; the checker and the
	// runtime name the node.
	_ = ir.SortNodes(d.model.Graph)
	return d.model, nil
}

func (d *decoder) modelProto(b msg) error {
	m := d.model
	return d.each(b, func(f *field) (err error) {
		switch f.num {
		case 1:
			m.IRVersion, err = d.int(f)
		case 2:
			m.ProducerName, err = d.str(f)
		case 3:
			m.ProducerVersion, err = d.str(f)
		case 4:
			m.Domain, err = d.str(f)
		case 5:
			m.ModelVersion, err = d.int(f)
		case 6:
			m.DocString, err = d.str(f)
		case 7:
			m.Graph, err = sub(d, f, d.graph)
		case 8:
			var o ir.OpsetImport
			o, err = d.opset(f)
			m.Opsets = append(m.Opsets, o)
		case 14:
			m.Metadata, err = d.pairs(f, m.Metadata)
		case 20:
			var t *ir.TrainingInfo
			t, err = sub(d, f, d.trainingInfo)
			m.TrainingInfo = append(m.TrainingInfo, t)
		case 25:
			var fn *ir.Function
			fn, err = sub(d, f, d.function)
			m.Functions = append(m.Functions, fn)
		default:
			m.Extra = append(m.Extra, f.raw...)
		}
		return err
	})
}

func (d *decoder) trainingInfo(b msg) (*ir.TrainingInfo, error) {
	t := &ir.TrainingInfo{}
	err := d.each(b, func(f *field) (err error) {
		switch f.num {
		case 1:
			t.Initialization, err = sub(d, f, d.graph)
		case 2:
			t.Algorithm, err = sub(d, f, d.graph)
		case 3:
			t.InitializationBinding, err = d.pairs(f, t.InitializationBinding)
		case 4:
			t.UpdateBinding, err = d.pairs(f, t.UpdateBinding)
		}
		return err
	})
	return t, err
}

func (d *decoder) graph(b msg) (*ir.Graph, error) {
	if d.depth++; d.depth > maxDepth {
		return nil, d.corrupt(b.off, "graphs nested more than %d deep", maxDepth)
	}
	defer func() { d.depth-- }()
	g := &ir.Graph{}
	// Initializer names are unique in a graph (onnx.checker and onnxruntime refuse a model
	// that defines one twice): a duplicate is a corrupt file, not two tensors to carry on.
	defined := map[string]bool{}
	define := func(name string, off int64) error {
		if name != "" && defined[name] {
			return d.corrupt(off, "initializer %q is defined twice in graph %q; initializer names must be unique", name, g.Name)
		}
		defined[name] = true
		return nil
	}
	err := d.each(b, func(f *field) (err error) {
		if f.num != 2 && f.num != 10 && f.num != 16 {
			if err := d.want(f, protowire.BytesType); err != nil {
				return err
			}
		}
		switch f.num {
		case 1:
			var n *ir.Node
			n, err = d.node(f.b)
			g.Nodes = append(g.Nodes, n)
		case 2:
			g.Name, err = d.str(f)
		case 5:
			var t *ir.Tensor
			t, err = d.tensor(f.b)
			if err == nil {
				err = define(t.Name, f.b.off)
			}
			g.Initializers = append(g.Initializers, t)
		case 15:
			var s *ir.SparseTensor
			s, err = d.sparseTensor(f.b)
			if err == nil && s.Values != nil {
				err = define(s.Values.Name, f.b.off)
			}
			g.SparseInitializers = append(g.SparseInitializers, s)
		case 10:
			g.DocString, err = d.str(f)
		case 11, 12, 13:
			var v *ir.ValueInfo
			v, err = d.valueInfo(f.b)
			switch f.num {
			case 11:
				g.Inputs = append(g.Inputs, v)
			case 12:
				g.Outputs = append(g.Outputs, v)
			default:
				g.ValueInfos = append(g.ValueInfos, v)
			}
		case 14:
			var a *ir.TensorAnnotation
			a, err = d.tensorAnnotation(f.b)
			g.QuantizationAnnotation = append(g.QuantizationAnnotation, a)
		case 16:
			g.Metadata, err = d.pairs(f, g.Metadata)
		}
		return err
	})
	return g, err
}

func (d *decoder) tensorAnnotation(b msg) (*ir.TensorAnnotation, error) {
	a := &ir.TensorAnnotation{}
	err := d.each(b, func(f *field) (err error) {
		switch f.num {
		case 1:
			a.TensorName, err = d.str(f)
		case 2:
			a.QuantParams, err = d.pairs(f, a.QuantParams)
		}
		return err
	})
	return a, err
}

func (d *decoder) node(b msg) (*ir.Node, error) {
	n := &ir.Node{}
	err := d.each(b, func(f *field) (err error) {
		var s string
		switch f.num {
		case 1:
			s, err = d.str(f)
			n.Inputs = append(n.Inputs, s)
		case 2:
			s, err = d.str(f)
			n.Outputs = append(n.Outputs, s)
		case 3:
			n.Name, err = d.str(f)
		case 4:
			n.OpType, err = d.str(f)
		case 5:
			var a *ir.Attribute
			a, err = sub(d, f, d.attribute)
			n.Attrs = append(n.Attrs, a)
		case 6:
			n.DocString, err = d.str(f)
		case 7:
			n.Domain, err = d.str(f)
		case 8:
			n.Overload, err = d.str(f)
		case 9:
			n.Metadata, err = d.pairs(f, n.Metadata)
		default:
			n.Extra = append(n.Extra, f.raw...)
		}
		return err
	})
	if err != nil {
		return nil, wrapWhere(err, "node", n.Name, n.OpType)
	}
	return n, nil
}

// wrapWhere adds the node or tensor being read to an error that has no location yet
// beyond a byte offset.
func wrapWhere(err error, kind, name, op string) error {
	e, ok := err.(*ir.Error)
	if !ok || strings.HasPrefix(e.Where, "node") || strings.HasPrefix(e.Where, "tensor") {
		return err
	}
	where := fmt.Sprintf("%s %q", kind, name)
	if op != "" {
		where = fmt.Sprintf("%s %q (%s)", kind, name, op)
	}
	if e.Where != "" {
		where += " at " + e.Where
	}
	return &ir.Error{Kind: e.Kind, File: e.File, Where: where, Err: e.Err}
}

func (d *decoder) attribute(b msg) (*ir.Attribute, error) {
	a := &ir.Attribute{}
	err := d.each(b, func(f *field) (err error) {
		switch f.num {
		case 1:
			a.Name, err = d.str(f)
		case 21:
			a.RefAttrName, err = d.str(f)
		case 13:
			a.DocString, err = d.str(f)
		case 20:
			var v int64
			v, err = d.int(f)
			a.Type = ir.AttrType(v)
		case 2:
			if err = d.want(f, protowire.Fixed32Type); err == nil {
				a.Float = float32frombits(uint32(f.u))
			}
		case 3:
			a.Int, err = d.int(f)
		case 4:
			if err = d.want(f, protowire.BytesType); err == nil {
				a.String = f.b.b
			}
		case 5:
			a.Tensor, err = sub(d, f, d.tensor)
		case 6:
			a.Graph, err = sub(d, f, d.graph)
		case 22:
			a.SparseTensor, err = sub(d, f, d.sparseTensor)
		case 14:
			a.TypeProto, err = sub(d, f, d.typeProto)
		case 7:
			var raw []byte
			if raw, err = d.fixed(f, nil, 4); err == nil {
				for i := 0; i+4 <= len(raw); i += 4 {
					a.Floats = append(a.Floats, float32frombits(le32(raw[i:])))
				}
			}
		case 8:
			var vs []uint64
			vs, err = d.varints(f, nil)
			for _, v := range vs {
				a.Ints = append(a.Ints, int64(v))
			}
		case 9:
			if err = d.want(f, protowire.BytesType); err == nil {
				a.Strings = append(a.Strings, f.b.b)
			}
		case 10:
			var t *ir.Tensor
			t, err = sub(d, f, d.tensor)
			a.Tensors = append(a.Tensors, t)
		case 11:
			var g *ir.Graph
			g, err = sub(d, f, d.graph)
			a.Graphs = append(a.Graphs, g)
		case 23:
			var s *ir.SparseTensor
			s, err = sub(d, f, d.sparseTensor)
			a.SparseTensors = append(a.SparseTensors, s)
		case 15:
			var t *ir.Type
			t, err = sub(d, f, d.typeProto)
			a.TypeProtos = append(a.TypeProtos, t)
		}
		return err
	})
	if err == nil && a.Type == ir.AttrUndefined && a.RefAttrName == "" {
		a.Type = inferAttrType(a)
	}
	return a, err
}

// inferAttrType finds the value field in use for attributes written before IR version 2,
// which had no type field.
func inferAttrType(a *ir.Attribute) ir.AttrType {
	switch {
	case a.Tensor != nil:
		return ir.AttrTensor
	case a.Graph != nil:
		return ir.AttrGraph
	case a.SparseTensor != nil:
		return ir.AttrSparseTensor
	case a.TypeProto != nil:
		return ir.AttrTypeProto
	case len(a.Floats) > 0:
		return ir.AttrFloats
	case len(a.Ints) > 0:
		return ir.AttrInts
	case len(a.Strings) > 0:
		return ir.AttrStrings
	case len(a.Tensors) > 0:
		return ir.AttrTensors
	case len(a.Graphs) > 0:
		return ir.AttrGraphs
	case a.String != nil:
		return ir.AttrString
	case a.Float != 0:
		return ir.AttrFloat
	}
	return ir.AttrInt
}

func (d *decoder) valueInfo(b msg) (*ir.ValueInfo, error) {
	v := &ir.ValueInfo{}
	err := d.each(b, func(f *field) (err error) {
		switch f.num {
		case 1:
			v.Name, err = d.str(f)
		case 2:
			v.Type, err = sub(d, f, d.typeProto)
		case 3:
			v.DocString, err = d.str(f)
		case 4:
			v.Metadata, err = d.pairs(f, v.Metadata)
		}
		return err
	})
	return v, err
}

func (d *decoder) typeProto(b msg) (*ir.Type, error) {
	if d.depth++; d.depth > maxDepth {
		return nil, d.corrupt(b.off, "types nested more than %d deep", maxDepth)
	}
	defer func() { d.depth-- }()
	t := &ir.Type{}
	err := d.each(b, func(f *field) (err error) {
		if f.num == 6 {
			t.Denotation, err = d.str(f)
			return err
		}
		if err := d.want(f, protowire.BytesType); err != nil {
			return err
		}
		switch f.num {
		case 1, 8: // tensor, sparse tensor
			t.Kind = ir.TypeTensor
			if f.num == 8 {
				t.Kind = ir.TypeSparseTensor
			}
			return d.each(f.b, func(f *field) (err error) {
				switch f.num {
				case 1:
					var v int64
					v, err = d.int(f)
					t.ElemType = ir.DType(v)
				case 2:
					t.Shape, err = sub(d, f, d.shape)
				}
				return err
			})
		case 4, 9: // sequence, optional
			t.Kind = ir.TypeSequence
			if f.num == 9 {
				t.Kind = ir.TypeOptional
			}
			return d.each(f.b, func(f *field) (err error) {
				if f.num == 1 {
					t.Elem, err = sub(d, f, d.typeProto)
				}
				return err
			})
		case 5: // map
			t.Kind = ir.TypeMap
			return d.each(f.b, func(f *field) (err error) {
				switch f.num {
				case 1:
					var v int64
					v, err = d.int(f)
					t.ElemType = ir.DType(v)
				case 2:
					t.Elem, err = sub(d, f, d.typeProto)
				}
				return err
			})
		case 7: // opaque
			t.Kind = ir.TypeOpaque
			return d.each(f.b, func(f *field) (err error) {
				switch f.num {
				case 1:
					t.OpaqueDomain, err = d.str(f)
				case 2:
					t.OpaqueName, err = d.str(f)
				}
				return err
			})
		}
		return nil
	})
	return t, err
}

func (d *decoder) shape(b msg) (*ir.Shape, error) {
	s := &ir.Shape{Dims: []ir.Dim{}}
	err := d.each(b, func(f *field) error {
		if f.num != 1 {
			return nil
		}
		if err := d.want(f, protowire.BytesType); err != nil {
			return err
		}
		var dim ir.Dim
		err := d.each(f.b, func(f *field) (err error) {
			switch f.num {
			case 1:
				dim.Value, err = d.int(f)
				dim.HasValue, dim.Param = true, ""
			case 2:
				dim.Param, err = d.str(f)
				dim.HasValue, dim.Value = false, 0
			case 3:
				dim.Denotation, err = d.str(f)
			}
			return err
		})
		s.Dims = append(s.Dims, dim)
		return err
	})
	return s, err
}

func (d *decoder) sparseTensor(b msg) (*ir.SparseTensor, error) {
	s := &ir.SparseTensor{}
	err := d.each(b, func(f *field) (err error) {
		switch f.num {
		case 1, 2:
			var t *ir.Tensor
			t, err = sub(d, f, d.tensor)
			if f.num == 1 {
				s.Values = t
			} else {
				s.Indices = t
			}
		case 3:
			var vs []uint64
			vs, err = d.varints(f, nil)
			for _, v := range vs {
				s.Dims = append(s.Dims, int64(v))
			}
		}
		return err
	})
	return s, err
}

func (d *decoder) function(b msg) (*ir.Function, error) {
	fn := &ir.Function{}
	err := d.each(b, func(f *field) (err error) {
		var s string
		switch f.num {
		case 1:
			fn.Name, err = d.str(f)
		case 4:
			s, err = d.str(f)
			fn.Inputs = append(fn.Inputs, s)
		case 5:
			s, err = d.str(f)
			fn.Outputs = append(fn.Outputs, s)
		case 6:
			s, err = d.str(f)
			fn.Attributes = append(fn.Attributes, s)
		case 11:
			var a *ir.Attribute
			a, err = sub(d, f, d.attribute)
			fn.AttrProtos = append(fn.AttrProtos, a)
		case 7:
			var n *ir.Node
			n, err = sub(d, f, d.node)
			fn.Nodes = append(fn.Nodes, n)
		case 8:
			fn.DocString, err = d.str(f)
		case 9:
			var o ir.OpsetImport
			o, err = d.opset(f)
			fn.Opsets = append(fn.Opsets, o)
		case 10:
			fn.Domain, err = d.str(f)
		case 13:
			fn.Overload, err = d.str(f)
		case 12:
			var v *ir.ValueInfo
			v, err = sub(d, f, d.valueInfo)
			fn.ValueInfos = append(fn.ValueInfos, v)
		case 14:
			fn.Metadata, err = d.pairs(f, fn.Metadata)
		}
		return err
	})
	return fn, err
}

// releaseUpTo lets the kernel drop the file pages before end, which parsing is done
// with. It starts a little before the last release point because faulting in the next
// header maps the whole folio around it, which may reach back.
func (d *decoder) releaseUpTo(end int64) {
	if d.drop == nil || end-d.dropped < 1<<20 {
		return
	}
	start := max(d.dropped-4<<20, 0)
	d.drop(d.data[start:end])
	d.dropped = end
}

// parseDecimal parses an external-data offset or length.
func parseDecimal(s string) (int64, bool) {
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil && v >= 0
}

// ReadTensorProto decodes one serialized TensorProto (the input_K.pb / output_K.pb files
// of the ONNX backend test suite). The tensor aliases data; external data is refused.
func ReadTensorProto(data []byte, file string) (*ir.Tensor, error) {
	d := &decoder{file: file, ext: map[string]*mmap.File{}, model: &ir.Model{}, data: data}
	defer d.model.Close()
	return d.tensor(msg{b: data})
}

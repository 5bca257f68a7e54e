package tflite

import (
	"encoding/binary"
	"fmt"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/modelc/modelc/engine/format/mmap"
	"github.com/modelc/modelc/engine/format/tflite/schema/tfl"
	"github.com/modelc/modelc/engine/ir"
)

// ReadOpset is the ai.onnx opset of the graphs the reader produces (Gelu needs 20).
const ReadOpset = 20

// Read maps the .tflite file at path into memory and converts its main subgraph to the IR.
func Read(path string) (*ir.Model, error) {
	f, err := mmap.Open(path)
	if err != nil {
		return nil, ir.IOError(path, err)
	}
	m, err := ReadBytes(f.Data, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	m.KeepAlive(f)
	return m, nil
}

// ReadBytes converts a TFLite model held in memory (its constants alias data). A
// malformed FlatBuffer is an error naming what is wrong, never a panic.
func ReadBytes(data []byte, name string) (m *ir.Model, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, ir.Errorf(ir.KindCorrupt, name, "malformed TFLite FlatBuffer: %v", r)
		}
	}()
	if len(data) < 16 || !Detect(data) {
		return nil, ir.Errorf(ir.KindCorrupt, name, "not a TFLite model (no TFL3 identifier)")
	}
	root := binary.LittleEndian.Uint32(data)
	if uint64(root)+8 > uint64(len(data)) {
		return nil, ir.Errorf(ir.KindCorrupt, name, "root table offset %d is past the end (%d bytes)", root, len(data))
	}
	r := &reader{data: data, name: name}
	r.model = tfl.GetRootAsModel(data, 0)
	pos := r.model.Table().Pos
	if err := r.checkTable(&pos, "model"); err != nil {
		return nil, err
	}
	if v := r.model.Version(); v != SchemaVersion {
		return nil, ir.Errorf(ir.KindUnsupported, name, "TFLite schema version %d (modelc reads version %d)", v, SchemaVersion)
	}
	return r.read()
}

type reader struct {
	data  []byte
	name  string
	model *tfl.Model
	g     *ir.Graph
	sg    *tfl.SubGraph
	// per tensor
	names   []string
	tensors []*tfl.Tensor
	floatOf map[int32]string // the float value of a quantized or float16 tensor
	n       int
}

func (r *reader) corrupt(format string, args ...any) error {
	return ir.Errorf(ir.KindCorrupt, r.name, format, args...)
}

// checkTable checks that a table position lies in the buffer (the vtable read follows).
func (r *reader) checkTable(pos *flatbuffers.UOffsetT, what string) error {
	if uint64(*pos)+4 > uint64(len(r.data)) {
		return r.corrupt("%s table at offset %d is past the end (%d bytes)", what, *pos, len(r.data))
	}
	return nil
}

// checkLen refuses a vector length that could not fit in the file.
func (r *reader) checkLen(n int, elem int, what string) error {
	if n < 0 || uint64(n)*uint64(elem) > uint64(len(r.data)) {
		return r.corrupt("%s: length %d does not fit in the file (%d bytes)", what, n, len(r.data))
	}
	return nil
}

func (r *reader) read() (*ir.Model, error) {
	md := r.model
	if err := r.checkLen(md.SubgraphsLength(), 4, "subgraphs"); err != nil {
		return nil, err
	}
	if md.SubgraphsLength() == 0 {
		return nil, r.corrupt("the model has no subgraph")
	}
	if err := r.checkLen(md.BuffersLength(), 4, "buffers"); err != nil {
		return nil, err
	}
	if err := r.checkLen(md.OperatorCodesLength(), 4, "operator codes"); err != nil {
		return nil, err
	}
	r.sg = &tfl.SubGraph{}
	if !md.Subgraphs(r.sg, 0) {
		return nil, r.corrupt("subgraph 0 is missing")
	}
	sg := r.sg
	nt := sg.TensorsLength()
	if err := r.checkLen(nt, 4, "tensors"); err != nil {
		return nil, err
	}
	m := &ir.Model{IRVersion: 9, Opsets: []ir.OpsetImport{{Version: ReadOpset}}, ProducerName: "modelc (from TFLite)"}
	if d := md.Description(); len(d) > 0 {
		m.DocString = string(d)
	}
	r.g = &ir.Graph{Name: string(sg.Name())}
	if r.g.Name == "" {
		r.g.Name = "main"
	}
	m.Graph = r.g
	r.floatOf = map[int32]string{}
	seen := map[string]bool{}
	r.names = make([]string, nt)
	r.tensors = make([]*tfl.Tensor, nt)
	for i := range nt {
		t := &tfl.Tensor{}
		if !sg.Tensors(t, i) {
			return nil, r.corrupt("tensor %d is missing", i)
		}
		r.tensors[i] = t
		name := string(t.Name())
		if name == "" || seen[name] {
			name = fmt.Sprintf("%s_%d", name, i)
		}
		seen[name] = true
		r.names[i] = name
	}
	// Constants.
	for i := range nt {
		if err := r.constant(int32(i)); err != nil {
			return nil, err
		}
	}
	for _, idx := range r.indices(sg.InputsLength(), sg.Inputs, "subgraph inputs") {
		vi, err := r.valueInfo(idx)
		if err != nil {
			return nil, err
		}
		r.g.Inputs = append(r.g.Inputs, vi)
	}
	nops := sg.OperatorsLength()
	if err := r.checkLen(nops, 4, "operators"); err != nil {
		return nil, err
	}
	for i := range nops {
		op := &tfl.Operator{}
		if !sg.Operators(op, i) {
			return nil, r.corrupt("operator %d is missing", i)
		}
		if err := r.operator(op, i); err != nil {
			return nil, err
		}
	}
	for _, idx := range r.indices(sg.OutputsLength(), sg.Outputs, "subgraph outputs") {
		vi, err := r.valueInfo(idx)
		if err != nil {
			return nil, err
		}
		r.g.Outputs = append(r.g.Outputs, vi)
	}
	r.prune()
	if err := ir.SortNodes(r.g); err != nil {
		return nil, r.corrupt("%v", err)
	}
	return m, nil
}

func (r *reader) indices(n int, at func(int) int32, what string) []int32 {
	if r.checkLen(n, 4, what) != nil {
		panic(what + ": length past the end")
	}
	out := make([]int32, n)
	for i := range out {
		out[i] = at(i)
	}
	return out
}

func (r *reader) tensor(i int32) (*tfl.Tensor, error) {
	if i < 0 || int(i) >= len(r.tensors) {
		return nil, r.corrupt("tensor index %d out of range (%d tensors)", i, len(r.tensors))
	}
	return r.tensors[i], nil
}

var tensorTypes = map[tfl.TensorType]ir.DType{
	tfl.TensorTypeFLOAT32: ir.Float32, tfl.TensorTypeFLOAT16: ir.Float16, tfl.TensorTypeINT32: ir.Int32,
	tfl.TensorTypeUINT8: ir.Uint8, tfl.TensorTypeINT64: ir.Int64, tfl.TensorTypeBOOL: ir.Bool,
	tfl.TensorTypeINT16: ir.Int16, tfl.TensorTypeINT8: ir.Int8, tfl.TensorTypeFLOAT64: ir.Float64,
	tfl.TensorTypeUINT32: ir.Uint32, tfl.TensorTypeUINT16: ir.Uint16, tfl.TensorTypeUINT64: ir.Uint64,
	tfl.TensorTypeBFLOAT16: ir.BFloat16,
}

func (r *reader) dtype(t *tfl.Tensor) (ir.DType, error) {
	d, ok := tensorTypes[t.Type()]
	if !ok {
		return 0, ir.Errorf(ir.KindUnsupported, r.name, "tensor %q: TFLite type %s is not supported", string(t.Name()), t.Type())
	}
	return d, nil
}

func (r *reader) shape(t *tfl.Tensor) ([]int64, error) {
	n := t.ShapeLength()
	if err := r.checkLen(n, 4, "tensor shape"); err != nil {
		return nil, err
	}
	if n > 8 {
		return nil, r.corrupt("tensor %q: rank %d", string(t.Name()), n)
	}
	s := make([]int64, n)
	for i := range s {
		s[i] = int64(t.Shape(i))
		if s[i] < 0 {
			return nil, r.corrupt("tensor %q: negative dimension %d", string(t.Name()), s[i])
		}
	}
	return s, nil
}

type quantParams struct {
	scale []float32
	zp    []int64
	axis  int
}

func (r *reader) quant(t *tfl.Tensor) (*quantParams, error) {
	q := t.Quantization(nil)
	if q == nil {
		return nil, nil
	}
	ns, nz := q.ScaleLength(), q.ZeroPointLength()
	if err := r.checkLen(ns, 4, "quantization scales"); err != nil {
		return nil, err
	}
	if err := r.checkLen(nz, 8, "quantization zero points"); err != nil {
		return nil, err
	}
	if ns == 0 {
		return nil, nil
	}
	p := &quantParams{scale: make([]float32, ns), zp: make([]int64, ns), axis: int(q.QuantizedDimension())}
	for i := range ns {
		p.scale[i] = q.Scale(i)
		if i < nz {
			p.zp[i] = q.ZeroPoint(i)
		}
	}
	return p, nil
}

// bufferData returns the bytes of buffer b (inside the FlatBuffer or after it).
func (r *reader) bufferData(b uint32) ([]byte, error) {
	if b == 0 {
		return nil, nil
	}
	if int(b) >= r.model.BuffersLength() {
		return nil, r.corrupt("buffer index %d out of range (%d buffers)", b, r.model.BuffersLength())
	}
	buf := &tfl.Buffer{}
	if !r.model.Buffers(buf, int(b)) {
		return nil, r.corrupt("buffer %d is missing", b)
	}
	if off := buf.Offset(); off > 1 {
		size := buf.Size()
		if off > uint64(len(r.data)) || size > uint64(len(r.data))-off {
			return nil, r.corrupt("buffer %d: offset %d + size %d is past the end of the file (%d bytes)", b, off, size, len(r.data))
		}
		return r.data[off : off+size], nil
	}
	if err := r.checkLen(buf.DataLength(), 1, "buffer data"); err != nil {
		return nil, err
	}
	return buf.DataBytes(), nil
}

// constant adds the initializer of tensor i if it has data; quantized and float16
// constants get a DequantizeLinear (or Cast) to their float value.
func (r *reader) constant(i int32) error {
	t := r.tensors[i]
	data, err := r.bufferData(t.Buffer())
	if err != nil || len(data) == 0 {
		return err
	}
	dt, err := r.dtype(t)
	if err != nil {
		return err
	}
	shape, err := r.shape(t)
	if err != nil {
		return err
	}
	q, err := r.quant(t)
	if err != nil {
		return err
	}
	name := r.names[i]
	stored := name
	if q != nil && dt != ir.Float32 {
		stored = name + "_quantized"
	}
	it, err := ir.NewTensor(stored, dt, shape, data)
	if err != nil {
		return r.corrupt("%v", err)
	}
	r.g.Initializers = append(r.g.Initializers, it)
	if q != nil && dt != ir.Float32 {
		return r.dequantize(stored, name, dt, shape, q)
	}
	return nil
}

// dequantize adds DequantizeLinear(from) -> to with q's scales.
func (r *reader) dequantize(from, to string, dt ir.DType, shape []int64, q *quantParams) error {
	sname, zname := to+"_scale", to+"_zero_point"
	zdt := dt
	if dt == ir.Int32 || dt == ir.Int64 {
		zdt = dt
	}
	var sshape []int64
	axis := int64(q.axis)
	if len(q.scale) > 1 {
		sshape = []int64{int64(len(q.scale))}
		if q.axis >= len(shape) || shape[q.axis] != int64(len(q.scale)) {
			return r.corrupt("tensor %q: %d scales along dimension %d of %v", to, len(q.scale), q.axis, shape)
		}
	}
	st, _ := ir.NewTensor(sname, ir.Float32, sshape, f32bytes(q.scale))
	zt, err := zeroPoints(zname, zdt, sshape, q.zp)
	if err != nil {
		return r.corrupt("tensor %q: %v", to, err)
	}
	r.g.Initializers = append(r.g.Initializers, st, zt)
	n := &ir.Node{Name: to + "_dequantize", OpType: "DequantizeLinear", Inputs: []string{from, sname, zname}, Outputs: []string{to}}
	if len(q.scale) > 1 {
		n.Attrs = []*ir.Attribute{{Name: "axis", Type: ir.AttrInt, Int: axis}}
	}
	r.g.Nodes = append(r.g.Nodes, n)
	return nil
}

func zeroPoints(name string, dt ir.DType, shape []int64, zp []int64) (*ir.Tensor, error) {
	var data []byte
	switch dt {
	case ir.Int8, ir.Uint8:
		data = make([]byte, len(zp))
		for i, z := range zp {
			data[i] = byte(z)
		}
	case ir.Int16, ir.Uint16:
		data = make([]byte, 2*len(zp))
		for i, z := range zp {
			binary.LittleEndian.PutUint16(data[2*i:], uint16(z))
		}
	case ir.Int32:
		data = make([]byte, 4*len(zp))
		for i, z := range zp {
			binary.LittleEndian.PutUint32(data[4*i:], uint32(z))
		}
	default:
		return nil, fmt.Errorf("quantized type %v has no DequantizeLinear", dt)
	}
	return ir.NewTensor(name, dt, shape, data)
}

func (r *reader) valueInfo(i int32) (*ir.ValueInfo, error) {
	t, err := r.tensor(i)
	if err != nil {
		return nil, err
	}
	dt, err := r.dtype(t)
	if err != nil {
		return nil, err
	}
	shape, err := r.shape(t)
	if err != nil {
		return nil, err
	}
	typ := ir.TensorType(dt, shape...)
	// A dynamic dimension (shape_signature -1) becomes symbolic.
	if n := t.ShapeSignatureLength(); n == len(shape) && r.checkLen(n, 4, "shape signature") == nil {
		for d := range n {
			if t.ShapeSignature(d) < 0 {
				typ.Shape.Dims[d] = ir.Dim{Param: fmt.Sprintf("d%d", d)}
			}
		}
	}
	return &ir.ValueInfo{Name: r.names[i], Type: typ}, nil
}

// isQuantized says whether tensor i holds integers standing for reals (int8/uint8/int16
// with a scale).
func (r *reader) isQuantized(i int32) (*quantParams, bool) {
	t := r.tensors[i]
	switch t.Type() {
	case tfl.TensorTypeINT8, tfl.TensorTypeUINT8, tfl.TensorTypeINT16:
	default:
		return nil, false
	}
	q, err := r.quant(t)
	if err != nil || q == nil {
		return nil, false
	}
	return q, true
}

// float returns the name of a float value for tensor i: the tensor itself when it is
// float, the dequantized value for a quantized or float16 tensor.
func (r *reader) float(i int32) (string, error) {
	if _, err := r.tensor(i); err != nil {
		return "", err
	}
	if n, ok := r.floatOf[i]; ok {
		return n, nil
	}
	t := r.tensors[i]
	name := r.names[i]
	data, err := r.bufferData(t.Buffer())
	if err != nil {
		return "", err
	}
	isConst := len(data) > 0
	if q, ok := r.isQuantized(i); ok && !isConst {
		f := name + "_dequantized"
		dt, _ := r.dtype(t)
		shape, err := r.shape(t)
		if err != nil {
			return "", err
		}
		if err := r.dequantize(name, f, dt, shape, q); err != nil {
			return "", err
		}
		r.floatOf[i] = f
		return f, nil
	}
	if t.Type() == tfl.TensorTypeFLOAT16 {
		f := name + "_float"
		r.node("Cast", []string{name}, []string{f}, intAttr("to", int64(ir.Float32)))
		r.floatOf[i] = f
		return f, nil
	}
	r.floatOf[i] = name
	return name, nil
}

func (r *reader) node(op string, in, out []string, attrs ...*ir.Attribute) {
	r.n++
	r.g.Nodes = append(r.g.Nodes, &ir.Node{Name: fmt.Sprintf("%s_%d", op, r.n), OpType: op, Inputs: in, Outputs: out, Attrs: attrs})
}

func (r *reader) tmp(p string) string {
	r.n++
	return fmt.Sprintf("%s__%d", p, r.n)
}

func intAttr(name string, v int64) *ir.Attribute {
	return &ir.Attribute{Name: name, Type: ir.AttrInt, Int: v}
}

func intsAttr(name string, v ...int64) *ir.Attribute {
	return &ir.Attribute{Name: name, Type: ir.AttrInts, Ints: v}
}

func floatAttr(name string, v float32) *ir.Attribute {
	return &ir.Attribute{Name: name, Type: ir.AttrFloat, Float: v}
}

func strAttr(name, v string) *ir.Attribute {
	return &ir.Attribute{Name: name, Type: ir.AttrString, String: []byte(v)}
}

// constInt64 adds an int64 initializer.
func (r *reader) constInt64(p string, v []int64, shape ...int64) string {
	name := r.tmp(p)
	d := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(d[8*i:], uint64(x))
	}
	if shape == nil {
		shape = []int64{int64(len(v))}
	}
	t, _ := ir.NewTensor(name, ir.Int64, shape, d)
	r.g.Initializers = append(r.g.Initializers, t)
	return name
}

func (r *reader) constFloat(p string, v []float32, shape ...int64) string {
	name := r.tmp(p)
	t, _ := ir.NewTensor(name, ir.Float32, shape, f32bytes(v))
	r.g.Initializers = append(r.g.Initializers, t)
	return name
}

// ints reads a constant int32/int64 tensor's values.
func (r *reader) ints(i int32) ([]int64, error) {
	t, err := r.tensor(i)
	if err != nil {
		return nil, err
	}
	data, err := r.bufferData(t.Buffer())
	if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, ir.Errorf(ir.KindUnsupported, r.name, "tensor %q must be a constant", r.names[i])
	}
	switch t.Type() {
	case tfl.TensorTypeINT32:
		out := make([]int64, len(data)/4)
		for j := range out {
			out[j] = int64(int32(binary.LittleEndian.Uint32(data[4*j:])))
		}
		return out, nil
	case tfl.TensorTypeINT64:
		out := make([]int64, len(data)/8)
		for j := range out {
			out[j] = int64(binary.LittleEndian.Uint64(data[8*j:]))
		}
		return out, nil
	}
	return nil, r.corrupt("tensor %q: expected int32 values", r.names[i])
}

// prune drops the initializers nothing uses (the TFLite-layout copies of weights that
// were permuted to ONNX's layout).
func (r *reader) prune() {
	used := map[string]bool{}
	for _, n := range r.g.Nodes {
		for _, in := range n.Inputs {
			used[in] = true
		}
	}
	for _, o := range r.g.Outputs {
		used[o.Name] = true
	}
	kept := r.g.Initializers[:0]
	for _, t := range r.g.Initializers {
		if used[t.Name] {
			kept = append(kept, t)
		}
	}
	r.g.Initializers = kept
}

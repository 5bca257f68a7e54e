package tflite

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/modelc/modelc/engine/format/atomicfile"
	"github.com/modelc/modelc/engine/format/tflite/schema/tfl"
	"github.com/modelc/modelc/engine/ir"
)

// WriteOptions are the TFLite writer's settings.
type WriteOptions struct {
	// NHWCIO gives the .tflite's rank-4 inputs and outputs in NHWC, TFLite's own layout;
	// by default they keep the ONNX model's NCHW, so the two take the same arrays (the
	// writer then puts at most one TRANSPOSE at each such edge).
	NHWCIO bool
	// Quantize: "" keeps float32; "fp16" stores float weights as float16 with DEQUANTIZE
	// ops; "int8-dynamic" stores the weights of FULLY_CONNECTED, CONV_2D,
	// DEPTHWISE_CONV_2D and BATCH_MATMUL as symmetric int8 (per channel) for dynamic-range
	// kernels; "int8" is full-integer int8, which needs Ranges.
	Quantize string
	// Ranges are the calibrated [min, max] of the model's float values by ONNX name (full
	// integer quantization); the graph's inputs and every node output need one.
	Ranges map[string][2]float32
	// Int8IO (full integer only) gives the model int8 inputs and outputs, quantized with
	// their calibrated parameters, instead of float ones with QUANTIZE/DEQUANTIZE.
	Int8IO bool
	// Written, if set, receives each piece of tensor data once written (see
	// format.WriteOptions).
	Written func([]byte) error
	// Stats, if set, is filled with what the writer produced.
	Stats *Stats
	// Fold, if set, evaluates a node whose inputs are all constants (the engine passes its
	// runtime): shape arithmetic of exported graphs then becomes constants, not ops.
	Fold func(n *ir.Node, inputs []*ir.Tensor) ([]*ir.Tensor, error)
}

// Stats count what a written model holds.
type Stats struct {
	Operators  int
	Transposes int            // TRANSPOSE operators
	Ops        map[string]int // by builtin name
}

// bufferAlign is the alignment of every buffer's data in the file.
const bufferAlign = 64

// Write lowers m to TFLite and writes it to path atomically.
func Write(m *ir.Model, path string, opts WriteOptions) error {
	f, err := atomicfile.Create(path)
	if err != nil {
		return ir.IOError(path, err)
	}
	if err := Encode(m, f, path, opts); err != nil {
		f.Abort()
		if e, ok := err.(*ir.Error); ok {
			if e.File == "" {
				e.File = path
			}
			return e
		}
		return &ir.Error{Kind: ir.KindIO, File: path, Err: err}
	}
	if err := f.Commit(); err != nil {
		return &ir.Error{Kind: ir.KindIO, File: path, Err: err}
	}
	return nil
}

// Encode lowers m to TFLite and writes the file's bytes to w. The tensor data follows the
// FlatBuffer, each buffer found by its offset and size (schema 3c), so that models over
// 2 GB are written the same way and the weights are streamed, not copied into the
// FlatBuffer builder.
func Encode(m *ir.Model, w io.Writer, name string, opts WriteOptions) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = ir.Errorf(ir.KindInternal, name, "TFLite writer: %v (please report this model)", r)
		}
	}()
	if m == nil || m.Graph == nil {
		return ir.Errorf(ir.KindInvalidArgument, name, "no graph to write")
	}
	b, err := lower(m, opts)
	if err != nil {
		return err
	}
	if opts.Stats != nil {
		*opts.Stats = b.stats()
	}
	return b.encode(w, opts.Written)
}

// encode packs the model twice: once to learn the FlatBuffer's size (the buffer offsets
// are fixed-width fields, so the size does not depend on their values), then with the
// offsets filled in.
func (b *builder) encode(w io.Writer, written func([]byte) error) error {
	for _, buf := range b.model.Buffers[1:] {
		buf.Offset, buf.Size = 2, 1 // placeholders: nonzero so the fields are written
	}
	first := packWithID(b.model)
	offset := align(uint64(len(first)), bufferAlign)
	for i, buf := range b.model.Buffers[1:] {
		buf.Offset = offset
		buf.Size = uint64(len(b.data[i+1]))
		offset = align(offset+buf.Size, bufferAlign)
	}
	head := packWithID(b.model)
	if len(head) != len(first) {
		return ir.Errorf(ir.KindInternal, "", "TFLite FlatBuffer size changed between passes (%d, %d)", len(first), len(head))
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if _, err := bw.Write(head); err != nil {
		return err
	}
	pos := uint64(len(head))
	var zeros [bufferAlign]byte
	for i, buf := range b.model.Buffers[1:] {
		if pad := buf.Offset - pos; pad > 0 {
			if _, err := bw.Write(zeros[:pad]); err != nil {
				return err
			}
		}
		d := b.data[i+1]
		for len(d) > 0 {
			n := min(len(d), 4<<20)
			if _, err := bw.Write(d[:n]); err != nil {
				return err
			}
			if written != nil {
				if err := written(d[:n]); err != nil {
					return err
				}
			}
			d = d[n:]
		}
		pos = buf.Offset + buf.Size
	}
	if end := align(pos, bufferAlign); end > pos {
		if _, err := bw.Write(zeros[:end-pos]); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func packWithID(m *tfl.ModelT) []byte {
	fb := flatbuffers.NewBuilder(1 << 16)
	root := m.Pack(fb)
	fb.FinishWithFileIdentifier(root, []byte(Identifier))
	return fb.FinishedBytes()
}

func align(v, a uint64) uint64 { return (v + a - 1) / a * a }

// builder accumulates the TFLite model being written.
type builder struct {
	model   *tfl.ModelT
	sg      *tfl.SubGraphT
	data    [][]byte // buffer contents by buffer index (0: the empty sentinel)
	opcodes map[[2]int32]uint32
	names   map[string]int
}

func newBuilder() *builder {
	b := &builder{
		model: &tfl.ModelT{
			Version:     SchemaVersion,
			Description: "modelc",
			Buffers:     []*tfl.BufferT{{}},
		},
		sg:      &tfl.SubGraphT{Name: "main"},
		data:    [][]byte{nil},
		opcodes: map[[2]int32]uint32{},
		names:   map[string]int{},
	}
	b.model.Subgraphs = []*tfl.SubGraphT{b.sg}
	return b
}

func (b *builder) uniqueName(name string) string {
	if name == "" {
		name = "t"
	}
	n := b.names[name]
	b.names[name] = n + 1
	if n == 0 {
		return name
	}
	return fmt.Sprintf("%s_%d", name, n)
}

// tensor adds a tensor of the given stored shape; data (if not nil) becomes its buffer.
func (b *builder) tensor(name string, dt tfl.TensorType, shape []int64, data []byte, q *tfl.QuantizationParametersT) int32 {
	s := make([]int32, len(shape))
	for i, d := range shape {
		s[i] = int32(d)
	}
	t := &tfl.TensorT{Name: b.uniqueName(name), Type: dt, Shape: s, Quantization: q, HasRank: true}
	if data != nil {
		t.Buffer = uint32(len(b.model.Buffers))
		b.model.Buffers = append(b.model.Buffers, &tfl.BufferT{})
		b.data = append(b.data, data)
	}
	b.sg.Tensors = append(b.sg.Tensors, t)
	return int32(len(b.sg.Tensors) - 1)
}

func (b *builder) shapeOf(t int32) []int64 {
	s := b.sg.Tensors[t].Shape
	out := make([]int64, len(s))
	for i, d := range s {
		out[i] = int64(d)
	}
	return out
}

// op appends an operator.
func (b *builder) op(code tfl.BuiltinOperator, version int32, in, out []int32, opts *tfl.BuiltinOptionsT) {
	key := [2]int32{int32(code), version}
	idx, ok := b.opcodes[key]
	if !ok {
		oc := &tfl.OperatorCodeT{BuiltinCode: code, Version: version}
		if code < tfl.BuiltinOperatorPLACEHOLDER_FOR_GREATER_OP_CODES {
			oc.DeprecatedBuiltinCode = int8(code)
		} else {
			oc.DeprecatedBuiltinCode = int8(tfl.BuiltinOperatorPLACEHOLDER_FOR_GREATER_OP_CODES)
		}
		idx = uint32(len(b.model.OperatorCodes))
		b.model.OperatorCodes = append(b.model.OperatorCodes, oc)
		b.opcodes[key] = idx
	}
	b.sg.Operators = append(b.sg.Operators, &tfl.OperatorT{OpcodeIndex: idx, Inputs: in, Outputs: out, BuiltinOptions: opts})
}

func (b *builder) stats() Stats {
	s := Stats{Ops: map[string]int{}}
	for _, o := range b.sg.Operators {
		c := b.model.OperatorCodes[o.OpcodeIndex].BuiltinCode
		s.Ops[opName(c)]++
		s.Operators++
		if c == tfl.BuiltinOperatorTRANSPOSE {
			s.Transposes++
		}
	}
	return s
}

// Little-endian packing helpers.

func f32bytes(v []float32) []byte {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
	}
	return out
}

func i32bytes(v []int32) []byte {
	out := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], uint32(x))
	}
	return out
}

func i64sToI32(v []int64) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}

package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/modelc/modelc/engine/format/mmap"
	"github.com/modelc/modelc/engine/ir"
)

func float32frombits(b uint32) float32 { return math.Float32frombits(b) }
func le32(b []byte) uint32             { return binary.LittleEndian.Uint32(b) }

// tensorFields collects a TensorProto's fields before its data is assembled.
type tensorFields struct {
	t                             *ir.Tensor
	raw                           []byte
	hasRaw                        bool
	floats, doubles               []byte // float_data / double_data as little-endian bytes
	int32s, int64s, uint64s       []uint64
	strs                          [][]byte
	external                      []ir.StringPair
	isExternal                    bool
	hasInt32, hasInt64, hasUint64 bool
}

func (d *decoder) tensor(b msg) (*ir.Tensor, error) {
	tf := tensorFields{t: &ir.Tensor{Shape: []int64{}}}
	t := &tf.t
	err := d.each(b, func(f *field) (err error) {
		var vs []uint64
		switch f.num {
		case 1:
			if vs, err = d.varints(f, nil); err == nil {
				for _, v := range vs {
					(*t).Shape = append((*t).Shape, int64(v))
				}
			}
		case 2:
			var v int64
			v, err = d.int(f)
			(*t).DType = ir.DType(v)
		case 4:
			tf.floats, err = d.fixed(f, tf.floats, 4)
		case 5:
			tf.int32s, err = d.varints(f, tf.int32s)
			tf.hasInt32 = true
		case 6:
			if err = d.want(f, protowire.BytesType); err == nil {
				tf.strs = append(tf.strs, f.b.b)
			}
		case 7:
			tf.int64s, err = d.varints(f, tf.int64s)
			tf.hasInt64 = true
		case 8:
			(*t).Name, err = d.str(f)
		case 9:
			if err = d.want(f, protowire.BytesType); err == nil {
				tf.raw, tf.hasRaw = f.b.b, true
			}
		case 10:
			tf.doubles, err = d.fixed(f, tf.doubles, 8)
		case 11:
			tf.uint64s, err = d.varints(f, tf.uint64s)
			tf.hasUint64 = true
		case 12:
			(*t).DocString, err = d.str(f)
		case 13:
			tf.external, err = d.pairs(f, tf.external)
		case 14:
			var v int64
			v, err = d.int(f)
			tf.isExternal = v == 1
		case 16:
			(*t).Metadata, err = d.pairs(f, (*t).Metadata)
		}
		return err
	})
	if err == nil {
		err = d.tensorData(&tf, b.off)
	}
	d.releaseUpTo(b.off + int64(len(b.b)))
	if err != nil {
		return nil, wrapWhere(err, "tensor", tf.t.Name, "")
	}
	return tf.t, nil
}

// tensorData assembles the tensor's packed bytes from whichever field holds them.
func (d *decoder) tensorData(tf *tensorFields, off int64) error {
	t := tf.t
	bad := func(format string, args ...any) error {
		return &ir.Error{Kind: ir.KindCorrupt, File: d.file, Where: fmt.Sprintf("tensor %q", t.Name), Err: fmt.Errorf(format, args...)}
	}
	if !t.DType.Known() || t.DType == ir.Undefined {
		return &ir.Error{Kind: ir.KindUnsupported, File: d.file, Where: fmt.Sprintf("tensor %q", t.Name), Err: fmt.Errorf("unknown data type %d", int32(t.DType))}
	}
	n := t.NumElements()
	if n < 0 {
		return bad("invalid shape %v", t.Shape)
	}
	if t.DType == ir.String {
		if int64(len(tf.strs)) != n {
			return bad("shape %v holds %d strings, string_data has %d", t.Shape, n, len(tf.strs))
		}
		return t.SetStrings(tf.strs)
	}
	want, _ := t.DType.ByteSize(n)
	var data []byte
	switch {
	case tf.isExternal:
		var err error
		if data, err = d.externalData(t.Name, tf.external, want); err != nil {
			return err
		}
	case tf.hasRaw:
		data = tf.raw
	default:
		var err error
		if data, err = typedData(t.DType, n, want, tf); err != nil {
			return bad("%v", err)
		}
	}
	if int64(len(data)) != want {
		return bad("%v%v needs %d bytes of data, the file has %d", t.DType, t.Shape, want, len(data))
	}
	if err := t.SetBytes(data); err != nil {
		return bad("%v", err)
	}
	return nil
}

// typedData converts the typed repeated fields (float_data, int32_data, ...) to packed
// little-endian bytes, following the storage rules of onnx.proto.
func typedData(dt ir.DType, n, want int64, tf *tensorFields) ([]byte, error) {
	count := func(have int, per int64, field string) error {
		if need := (n + per - 1) / per; int64(have) != need {
			return fmt.Errorf("%v of %d elements needs %d %s values, the file has %d", dt, n, need, field, have)
		}
		return nil
	}
	switch dt {
	case ir.Float32, ir.Complex64:
		return tf.floats, nil // length checked by the caller
	case ir.Float64, ir.Complex128:
		return tf.doubles, nil
	case ir.Int64:
		if err := count(len(tf.int64s), 1, "int64_data"); err != nil {
			return nil, err
		}
		out := make([]byte, 8*n)
		for i, v := range tf.int64s {
			binary.LittleEndian.PutUint64(out[8*i:], v)
		}
		return out, nil
	case ir.Uint32, ir.Uint64:
		if err := count(len(tf.uint64s), 1, "uint64_data"); err != nil {
			return nil, err
		}
		size := dt.ElemBytes()
		out := make([]byte, int64(size)*n)
		for i, v := range tf.uint64s {
			for k := 0; k < size; k++ {
				out[i*size+k] = byte(v >> (8 * k))
			}
		}
		return out, nil
	case ir.Float6E2M3, ir.Float6E3M2:
		if err := count(len(tf.int32s), 1, "int32_data"); err != nil {
			return nil, err
		}
		out := make([]byte, want)
		for i, v := range tf.int32s {
			ir.SetSextet(out, int64(i), uint32(v))
		}
		return out, nil
	}
	// Everything else stored in int32_data: one element per value for byte-sized and wider
	// types (truncated to the element width), one packed byte per value for 4- and 2-bit types.
	size, per := int64(dt.ElemBytes()), int64(1)
	switch dt {
	case ir.Int4, ir.Uint4, ir.Float4E2M1:
		size, per = 1, 2
	case ir.Int2, ir.Uint2:
		size, per = 1, 4
	}
	if err := count(len(tf.int32s), per, "int32_data"); err != nil {
		return nil, err
	}
	out := make([]byte, int64(len(tf.int32s))*size)
	for i, v := range tf.int32s {
		for k := int64(0); k < size; k++ {
			out[int64(i)*size+k] = byte(v >> (8 * k))
		}
	}
	if dt == ir.Bool {
		for i := range out {
			out[i] = b2u(out[i] != 0 || tf.int32s[i] != 0)
		}
	}
	return out, nil
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// externalData maps the bytes of an externally stored tensor. The location must stay
// inside the model's folder: absolute paths, "..", and symlinks leading out are refused.
func (d *decoder) externalData(name string, kv []ir.StringPair, want int64) ([]byte, error) {
	where := fmt.Sprintf("tensor %q", name)
	bad := func(kind ir.ErrorKind, format string, args ...any) error {
		return &ir.Error{Kind: kind, File: d.file, Where: where, Err: fmt.Errorf(format, args...)}
	}
	var location string
	offset, length := int64(0), int64(-1)
	for _, p := range kv {
		var ok bool
		switch p.Key {
		case "location":
			location = p.Value
		case "offset":
			if offset, ok = parseDecimal(p.Value); !ok {
				return nil, bad(ir.KindCorrupt, "external data offset %q is not a non-negative integer", p.Value)
			}
		case "length":
			if length, ok = parseDecimal(p.Value); !ok {
				return nil, bad(ir.KindCorrupt, "external data length %q is not a non-negative integer", p.Value)
			}
		}
	}
	if location == "" {
		return nil, bad(ir.KindCorrupt, "external data without a location")
	}
	if d.dir == "" {
		return nil, bad(ir.KindInvalidArgument, "external data %q cannot be resolved for a model read from memory", location)
	}
	rel, err := cleanRelative(location)
	if err != nil {
		return nil, bad(ir.KindCorrupt, "external data location %q: %v", location, err)
	}
	f := d.ext[rel]
	if f == nil {
		if f, err = mmap.OpenInside(d.dir, rel); err != nil {
			if errors.Is(err, mmap.ErrEscapes) {
				return nil, bad(ir.KindCorrupt, "external data location %q: %v", location, err)
			}
			return nil, bad(ir.KindIO, "external data file %q: %v", location, ir.IOError(filepath.Join(d.dir, rel), err).Err)
		}
		d.ext[rel] = f
		d.model.KeepAlive(f)
	}
	if length >= 0 && length != want {
		return nil, bad(ir.KindCorrupt, "external data length %d does not match the %d bytes its shape and type need", length, want)
	}
	if offset > f.Size || want > f.Size-offset {
		return nil, bad(ir.KindCorrupt, "external data [%d, %d) lies past the end of %q (%d bytes)", offset, offset+want, location, f.Size)
	}
	return f.Data[offset : offset+want : offset+want], nil
}

// cleanRelative checks that an external data location is a relative path that stays in
// the model's folder as written; symlinks are checked as the file is opened (see
// mmap.Inside for the rule).
func cleanRelative(location string) (string, error) {
	if filepath.IsAbs(location) || strings.HasPrefix(location, "/") || strings.ContainsRune(location, 0) {
		return "", fmt.Errorf("must be a path relative to the model's folder")
	}
	clean := filepath.Clean(filepath.FromSlash(location))
	if clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("escapes the model's folder")
	}
	return clean, nil
}

package onnx

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/modelc/modelc/engine/ir"
)

// msg is an encoded protobuf message: its bytes, which alias the file (or its memory
// map), and the offset of its first byte in the file, for error messages.
type msg struct {
	b   []byte
	off int64
}

// field is one decoded field of a message.
type field struct {
	num protowire.Number
	typ protowire.Type
	u   uint64 // the value of a varint, fixed32 or fixed64 field
	b   msg    // the payload of a length-delimited field
	raw []byte // the whole encoded field, tag included
	off int64  // offset of the tag in the file
}

// maxDepth bounds the nesting of graphs in attributes so a hostile file cannot exhaust
// the stack or memory.
const maxDepth = 64

// corrupt makes a KindCorrupt error at a byte offset of the file being read.
func (d *decoder) corrupt(off int64, format string, args ...any) error {
	return &ir.Error{Kind: ir.KindCorrupt, File: d.file, Where: fmt.Sprintf("offset %d", off), Err: fmt.Errorf(format, args...)}
}

// each calls fn for every field of m, in order.
func (d *decoder) each(m msg, fn func(f *field) error) error {
	b := m.b
	pos := 0
	for pos < len(b) {
		start := pos
		num, typ, n := protowire.ConsumeTag(b[pos:])
		if n < 0 {
			return d.corrupt(m.off+int64(pos), "bad protobuf tag (%v)", protowire.ParseError(n))
		}
		f := field{num: num, typ: typ, off: m.off + int64(pos)}
		pos += n
		switch typ {
		case protowire.VarintType:
			f.u, n = protowire.ConsumeVarint(b[pos:])
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b[pos:])
			f.u = uint64(v)
		case protowire.Fixed64Type:
			f.u, n = protowire.ConsumeFixed64(b[pos:])
		case protowire.BytesType:
			var v []byte
			v, n = protowire.ConsumeBytes(b[pos:])
			if n < 0 {
				return d.corrupt(f.off, "field %d: declared length runs past the end of its message (%v)", num, protowire.ParseError(n))
			}
			f.b = msg{b: v, off: m.off + int64(pos+n-len(v))}
		default:
			n = protowire.ConsumeFieldValue(num, typ, b[pos:])
		}
		if n < 0 {
			return d.corrupt(f.off, "field %d: %v", num, protowire.ParseError(n))
		}
		pos += n
		f.raw = b[start:pos]
		if err := fn(&f); err != nil {
			return err
		}
	}
	return nil
}

// want checks that f has the wire type the schema gives it.
func (d *decoder) want(f *field, typ protowire.Type) error {
	if f.typ != typ {
		return d.corrupt(f.off, "field %d has wire type %d, expected %d", f.num, f.typ, typ)
	}
	return nil
}

func (d *decoder) str(f *field) (string, error) {
	if err := d.want(f, protowire.BytesType); err != nil {
		return "", err
	}
	return string(f.b.b), nil
}

func (d *decoder) int(f *field) (int64, error) {
	if err := d.want(f, protowire.VarintType); err != nil {
		return 0, err
	}
	return int64(f.u), nil
}

// varints appends the values of a repeated varint field, packed or not.
func (d *decoder) varints(f *field, dst []uint64) ([]uint64, error) {
	if f.typ == protowire.VarintType {
		return append(dst, f.u), nil
	}
	if err := d.want(f, protowire.BytesType); err != nil {
		return nil, err
	}
	b := f.b.b
	for len(b) > 0 {
		v, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return nil, d.corrupt(f.off, "field %d: bad packed varint", f.num)
		}
		dst = append(dst, v)
		b = b[n:]
	}
	return dst, nil
}

// fixed appends the little-endian bytes of a repeated fixed32/fixed64 field, packed or
// not. A single packed run is returned without copying when dst is empty.
func (d *decoder) fixed(f *field, dst []byte, size int) ([]byte, error) {
	want := protowire.Fixed32Type
	if size == 8 {
		want = protowire.Fixed64Type
	}
	if f.typ == want {
		if size == 4 {
			return protowire.AppendFixed32(dst, uint32(f.u)), nil
		}
		return protowire.AppendFixed64(dst, f.u), nil
	}
	if err := d.want(f, protowire.BytesType); err != nil {
		return nil, err
	}
	if len(f.b.b)%size != 0 {
		return nil, d.corrupt(f.off, "field %d: packed length %d is not a multiple of %d", f.num, len(f.b.b), size)
	}
	if dst == nil {
		return f.b.b, nil
	}
	return append(dst, f.b.b...), nil
}

func (d *decoder) pair(m msg) (ir.StringPair, error) {
	var p ir.StringPair
	err := d.each(m, func(f *field) (err error) {
		switch f.num {
		case 1:
			p.Key, err = d.str(f)
		case 2:
			p.Value, err = d.str(f)
		}
		return err
	})
	return p, err
}

func (d *decoder) pairs(f *field, dst []ir.StringPair) ([]ir.StringPair, error) {
	if err := d.want(f, protowire.BytesType); err != nil {
		return nil, err
	}
	p, err := d.pair(f.b)
	return append(dst, p), err
}

func (d *decoder) opset(f *field) (ir.OpsetImport, error) {
	var o ir.OpsetImport
	if err := d.want(f, protowire.BytesType); err != nil {
		return o, err
	}
	err := d.each(f.b, func(f *field) (err error) {
		switch f.num {
		case 1:
			o.Domain, err = d.str(f)
		case 2:
			o.Version, err = d.int(f)
		}
		return err
	})
	return o, err
}

// sub decodes the length-delimited field f as a nested message with parse.
func sub[T any](d *decoder, f *field, parse func(msg) (T, error)) (T, error) {
	if err := d.want(f, protowire.BytesType); err != nil {
		var zero T
		return zero, err
	}
	return parse(f.b)
}

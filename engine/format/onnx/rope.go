package onnx

import (
	"io"

	"google.golang.org/protobuf/encoding/protowire"
)

// rope is an encoded protobuf message kept as a list of byte slices: small fields are
// appended to owned buffers, while tensor data is referenced where it lies (often a
// memory map). A nested message is encoded into its own rope, whose length is then known,
// and spliced in without copying its tensor data, so writing a model never needs a second
// copy of its weights in memory.
type rope struct {
	segs [][]byte
	buf  []byte // the owned tail, not yet in segs
	n    int64  // total length
}

func (r *rope) flush() {
	if len(r.buf) > 0 {
		r.segs = append(r.segs, r.buf)
		r.buf = nil
	}
}

func (r *rope) small(b []byte) { r.buf = append(r.buf, b...); r.n += int64(len(b)) }

// big references b without copying it.
func (r *rope) big(b []byte) {
	if len(b) < 4096 {
		r.small(b)
		return
	}
	r.flush()
	r.segs = append(r.segs, b)
	r.n += int64(len(b))
}

func (r *rope) tag(num protowire.Number, typ protowire.Type) {
	r.small(protowire.AppendTag(nil, num, typ))
}

func (r *rope) varint(num protowire.Number, v uint64) {
	b := protowire.AppendTag(nil, num, protowire.VarintType)
	r.small(protowire.AppendVarint(b, v))
}

func (r *rope) fixed32(num protowire.Number, v uint32) {
	b := protowire.AppendTag(nil, num, protowire.Fixed32Type)
	r.small(protowire.AppendFixed32(b, v))
}

// bytes writes a length-delimited field holding b.
func (r *rope) bytes(num protowire.Number, b []byte) {
	h := protowire.AppendTag(nil, num, protowire.BytesType)
	r.small(protowire.AppendVarint(h, uint64(len(b))))
	r.big(b)
}

// str writes a string field, omitted when empty (proto2 optional, default "").
func (r *rope) str(num protowire.Number, s string) {
	if s != "" {
		r.bytes(num, []byte(s))
	}
}

// message writes a nested message field.
func (r *rope) message(num protowire.Number, sub *rope) {
	h := protowire.AppendTag(nil, num, protowire.BytesType)
	r.small(protowire.AppendVarint(h, uint64(sub.n)))
	sub.flush()
	r.flush()
	r.segs = append(r.segs, sub.segs...)
	r.n += sub.n
}

// writeTo writes the encoded message, calling done (if set) on each piece once it is
// written; an error from done stops the write.
func (r *rope) writeTo(w io.Writer, done func([]byte) error) error {
	r.flush()
	for _, s := range r.segs {
		if err := writeReleasing(w, s, done); err != nil {
			return err
		}
	}
	return nil
}

// writeReleasing writes b in 8 MiB pieces, handing each to done (if set) once written,
// so a memory-mapped tensor is never resident all at once and a caller can report
// progress and cancel between pieces (an error from done stops the write).
func writeReleasing(w io.Writer, b []byte, done func([]byte) error) error {
	const piece = 8 << 20
	for len(b) > 0 {
		n := min(len(b), piece)
		if _, err := w.Write(b[:n]); err != nil {
			return err
		}
		if done != nil {
			if err := done(b[:n]); err != nil {
				return err
			}
		}
		b = b[n:]
	}
	return nil
}

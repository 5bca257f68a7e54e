// Package npy reads and writes NumPy arrays: .npy files (one array) and .npz archives
// (a zip of .npy files, stored or deflated), as numpy.save / numpy.savez write them.
//
// Format reference: numpy/lib/format.py (NEP 1). A .npy file is the magic "\x93NUMPY",
// a major and minor version byte, the header length (u16 in version 1, u32 in versions 2
// and 3), a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}
// padded with spaces and ending in '\n', then the raw element bytes.
//
// Supported element types are little-endian numbers and booleans: <f2 <f4 <f8, i1..i8,
// u1..u8 and |b1. Big-endian data, strings, objects and structured types are refused
// with KindUnsupported. Fortran-order arrays are transposed to C order on read (a copy).
package npy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/modelc/modelc/engine/ir"
)

// Magic is the first six bytes of every .npy file.
const Magic = "\x93NUMPY"

// maxHeader bounds the header length: numpy itself refuses headers over 10,000 bytes
// unless told otherwise; a shape of 32 dimensions fits in a few hundred.
const maxHeader = 1 << 16

// descrs maps the numpy type strings modelc handles to IR dtypes. One-byte types may
// carry '|' (numpy's own spelling), '<' or '=' as byte-order mark.
var descrs = map[string]ir.DType{
	"f2": ir.Float16, "f4": ir.Float32, "f8": ir.Float64,
	"i1": ir.Int8, "i2": ir.Int16, "i4": ir.Int32, "i8": ir.Int64,
	"u1": ir.Uint8, "u2": ir.Uint16, "u4": ir.Uint32, "u8": ir.Uint64,
	"b1": ir.Bool,
}

// descrOf is the numpy type string written for a dtype.
func descrOf(d ir.DType) (string, bool) {
	for k, v := range descrs {
		if v == d {
			if d.ElemBytes() == 1 {
				return "|" + k, true
			}
			return "<" + k, true
		}
	}
	return "", false
}

// header is the parsed .npy header.
type header struct {
	dtype   ir.DType
	shape   []int64
	fortran bool
	dataOff int // where the element bytes start
}

// parseHeader reads the preamble and dict of a .npy file held in data.
func parseHeader(data []byte) (*header, error) {
	if len(data) < 10 || string(data[:6]) != Magic {
		return nil, fmt.Errorf("not a .npy file (no \\x93NUMPY magic)")
	}
	major := data[6]
	var hlen, start int
	switch major {
	case 1:
		hlen, start = int(binary.LittleEndian.Uint16(data[8:])), 10
	case 2, 3:
		if len(data) < 12 {
			return nil, fmt.Errorf("truncated .npy preamble")
		}
		h := binary.LittleEndian.Uint32(data[8:])
		if h > maxHeader {
			return nil, fmt.Errorf("header length %d exceeds the %d-byte limit", h, maxHeader)
		}
		hlen, start = int(h), 12
	default:
		return nil, fmt.Errorf("unknown .npy format version %d.%d", major, data[7])
	}
	if hlen > len(data)-start {
		return nil, fmt.Errorf("header says %d bytes, the file has %d after the preamble", hlen, len(data)-start)
	}
	text := string(data[start : start+hlen])
	dict, err := parseDict(text)
	if err != nil {
		return nil, fmt.Errorf("header %q: %w", strings.TrimSpace(text), err)
	}
	h := &header{dataOff: start + hlen}
	descr, ok := dict["descr"].(string)
	if !ok {
		return nil, fmt.Errorf("header has no 'descr' string")
	}
	if len(descr) != 3 {
		return nil, ir.Errorf(ir.KindUnsupported, "", "numpy dtype %q is not supported (only plain little-endian numbers and bools)", descr)
	}
	dt, known := descrs[descr[1:]]
	order := descr[0]
	switch {
	case !known:
		return nil, ir.Errorf(ir.KindUnsupported, "", "numpy dtype %q is not supported (supported: f2 f4 f8 i1-i8 u1-u8 b1)", descr)
	case order == '>' && dt.ElemBytes() > 1:
		return nil, ir.Errorf(ir.KindUnsupported, "", "big-endian data (%q) is not supported; save it little-endian", descr)
	case order != '<' && order != '|' && order != '=' && order != '>':
		return nil, fmt.Errorf("bad byte-order mark in dtype %q", descr)
	}
	h.dtype = dt
	f, ok := dict["fortran_order"].(bool)
	if !ok {
		return nil, fmt.Errorf("header has no 'fortran_order' True/False")
	}
	h.fortran = f
	shape, ok := dict["shape"].([]int64)
	if !ok {
		return nil, fmt.Errorf("header has no 'shape' tuple")
	}
	if len(shape) > 64 {
		return nil, fmt.Errorf("shape has %d dimensions (limit 64)", len(shape))
	}
	h.shape = shape
	return h, nil
}

// parseDict parses the Python dict literal of a header: string keys, and values that are
// strings, True/False, or tuples of non-negative integers.
func parseDict(s string) (map[string]any, error) {
	p := &lit{s: s}
	p.space()
	if !p.eat('{') {
		return nil, fmt.Errorf("expected '{'")
	}
	out := map[string]any{}
	for {
		p.space()
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.space()
		if !p.eat(':') {
			return nil, fmt.Errorf("expected ':' after %q", key)
		}
		p.space()
		var v any
		switch {
		case p.peek() == '\'' || p.peek() == '"':
			v, err = p.str()
		case p.peek() == '(':
			v, err = p.tuple()
		case strings.HasPrefix(p.s[p.i:], "True"):
			v, p.i = true, p.i+4
		case strings.HasPrefix(p.s[p.i:], "False"):
			v, p.i = false, p.i+5
		default:
			return nil, fmt.Errorf("unexpected value for %q at byte %d", key, p.i)
		}
		if err != nil {
			return nil, err
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("key %q appears twice", key)
		}
		out[key] = v
		p.space()
		if p.eat(',') {
			continue
		}
		p.space()
		if !p.eat('}') {
			return nil, fmt.Errorf("expected ',' or '}' at byte %d", p.i)
		}
		break
	}
	if strings.TrimSpace(p.s[p.i:]) != "" {
		return nil, fmt.Errorf("unexpected text after the dict")
	}
	return out, nil
}

type lit struct {
	s string
	i int
}

func (p *lit) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *lit) eat(c byte) bool {
	if p.peek() == c {
		p.i++
		return true
	}
	return false
}

func (p *lit) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *lit) str() (string, error) {
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", fmt.Errorf("expected a quoted string at byte %d", p.i)
	}
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", fmt.Errorf("unterminated string at byte %d", p.i)
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, nil
}

func (p *lit) tuple() ([]int64, error) {
	p.eat('(')
	dims := []int64{}
	for {
		p.space()
		if p.eat(')') {
			return dims, nil
		}
		j := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		// numpy writes Python ints, sometimes with an L suffix (Python 2 files).
		v, err := strconv.ParseInt(p.s[j:p.i], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad dimension %q in shape", p.s[j:p.i])
		}
		p.eat('L')
		dims = append(dims, v)
		p.space()
		if !p.eat(',') {
			p.space()
			if !p.eat(')') {
				return nil, fmt.Errorf("expected ',' or ')' in shape at byte %d", p.i)
			}
			return dims, nil
		}
	}
}

// Decode parses a whole .npy file held in data. The tensor aliases data unless the array
// is in Fortran order (then it is transposed into a new buffer). name becomes the
// tensor's name; file is used in error messages.
func Decode(data []byte, name, file string) (*ir.Tensor, error) {
	h, err := parseHeader(data)
	if err != nil {
		return nil, wrap(err, file, name)
	}
	n := ir.NumElements(h.shape)
	if n < 0 {
		return nil, ir.Errorf(ir.KindCorrupt, file, "array %q: shape %v overflows", name, h.shape)
	}
	size, ok := h.dtype.ByteSize(n)
	have := int64(len(data) - h.dataOff)
	if !ok || size != have {
		return nil, ir.Errorf(ir.KindCorrupt, file, "array %q: %v%v needs %d bytes of data, the file holds %d", name, h.dtype, h.shape, size, have)
	}
	body := data[h.dataOff:]
	if h.fortran && len(h.shape) > 1 {
		dst, err := ir.AllocBytes(int64(len(body)), file, fmt.Sprintf("array %q", name), "transposing it from Fortran order")
		if err != nil {
			return nil, err
		}
		fortranToC(dst, body, h.shape, h.dtype.ElemBytes())
		body = dst
	}
	t, err := ir.NewTensor(name, h.dtype, h.shape, body)
	if err != nil {
		return nil, ir.Errorf(ir.KindCorrupt, file, "%v", err)
	}
	return t, nil
}

func wrap(err error, file, name string) error {
	var e *ir.Error
	if ok := asIR(err, &e); ok {
		if e.File == "" {
			e.File = file
		}
		if e.Where == "" && name != "" {
			e.Where = fmt.Sprintf("array %q", name)
		}
		return e
	}
	where := ""
	if name != "" {
		where = fmt.Sprintf("array %q", name)
	}
	return &ir.Error{Kind: ir.KindCorrupt, File: file, Where: where, Err: err}
}

func asIR(err error, target **ir.Error) bool {
	e, ok := err.(*ir.Error)
	if ok {
		*target = e
	}
	return ok
}

// fortranToC reorders column-major element bytes src into row-major order in dst.
func fortranToC(dst, src []byte, shape []int64, es int) {
	rank := len(shape)
	// Fortran strides (in elements): the first dimension varies fastest.
	fstride := make([]int64, rank)
	s := int64(1)
	for i := 0; i < rank; i++ {
		fstride[i] = s
		s *= shape[i]
	}
	idx := make([]int64, rank)
	n := ir.NumElements(shape)
	for c := int64(0); c < n; c++ {
		var off int64
		for i := 0; i < rank; i++ {
			off += idx[i] * fstride[i]
		}
		copy(dst[c*int64(es):(c+1)*int64(es)], src[off*int64(es):(off+1)*int64(es)])
		for i := rank - 1; i >= 0; i-- { // row-major odometer over the C index
			idx[i]++
			if idx[i] < shape[i] {
				break
			}
			idx[i] = 0
		}
	}
}

// Encode writes t as a version 1.0 .npy file (version 2.0 if the header needs it), with
// the header padded so the data starts at a multiple of 64 bytes, as numpy does.
func Encode(w io.Writer, t *ir.Tensor) error {
	descr, ok := descrOf(t.DType)
	if !ok {
		return ir.Errorf(ir.KindUnsupported, "", "tensor %q: %v has no NumPy equivalent (supported: float16/32/64, int8-64, uint8-64, bool)", t.Name, t.DType)
	}
	var shape strings.Builder
	shape.WriteByte('(')
	for i, d := range t.Shape {
		if i > 0 {
			shape.WriteString(", ")
		}
		shape.WriteString(strconv.FormatInt(d, 10))
	}
	if len(t.Shape) == 1 {
		shape.WriteByte(',')
	}
	shape.WriteByte(')')
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape.String())
	pre := 10
	if len(dict)+pre+1 > 65535 {
		pre = 12
	}
	total := (pre + len(dict) + 1 + 63) / 64 * 64
	hdr := make([]byte, 0, total)
	hdr = append(hdr, Magic...)
	if pre == 10 {
		hdr = append(hdr, 1, 0)
		hdr = binary.LittleEndian.AppendUint16(hdr, uint16(total-pre))
	} else {
		hdr = append(hdr, 2, 0)
		hdr = binary.LittleEndian.AppendUint32(hdr, uint32(total-pre))
	}
	hdr = append(hdr, dict...)
	hdr = append(hdr, bytes.Repeat([]byte{' '}, total-len(hdr)-1)...)
	hdr = append(hdr, '\n')
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	_, err := w.Write(t.Bytes())
	return err
}

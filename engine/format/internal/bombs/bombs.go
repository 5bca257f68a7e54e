// Package bombs builds the crafted files the readers' tests and fuzz seeds use: a
// protocol-0 (text opcode) pickle, pickles whose memo references nest exponentially
// ("billion laughs"), stride-0 storages that expand, and zip bombs (deflated members
// that inflate a thousandfold, and members that share one compressed body). Only tests
// import it.
package bombs

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strings"
)

// Entry is one member of a zip built by Zip.
type Entry struct {
	Name string
	// Body is the member's bytes as stored in the archive: raw for a stored member,
	// a raw deflate stream when Deflated.
	Body     []byte
	Deflated bool
	Size     uint64 // uncompressed size (len(Body) for a stored member)
	CRC      uint32 // of the uncompressed bytes
	// SameAs, if set, names an earlier member whose local header and body this one
	// shares: the central directory points both at the same bytes (an overlapping zip).
	SameAs string
}

// Stored is a stored member holding data.
func Stored(name string, data []byte) Entry {
	return Entry{Name: name, Body: data, Size: uint64(len(data)), CRC: crc32.ChecksumIEEE(data)}
}

// Zip lays out entries as a zip archive (no zip64: every size below 4 GiB).
func Zip(entries ...Entry) []byte {
	var b bytes.Buffer
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	offsets := map[string]uint32{}
	for _, e := range entries {
		if e.SameAs != "" {
			continue
		}
		offsets[e.Name] = uint32(b.Len())
		le(uint32(0x04034b50))
		le(uint16(20))
		le(uint16(0))
		le(method(e))
		le(uint32(0)) // time, date
		le(e.CRC)
		le(uint32(len(e.Body)))
		le(uint32(e.Size))
		le(uint16(len(e.Name)))
		le(uint16(0))
		b.WriteString(e.Name)
		b.Write(e.Body)
	}
	cd := b.Len()
	for _, e := range entries {
		at, body := offsets[e.Name], e.Body
		if e.SameAs != "" {
			at = offsets[e.SameAs]
			for _, o := range entries {
				if o.Name == e.SameAs {
					body = o.Body
				}
			}
		}
		le(uint32(0x02014b50))
		le(uint16(20))
		le(uint16(20))
		le(uint16(0))
		le(method(e))
		le(uint32(0))
		le(e.CRC)
		le(uint32(len(body)))
		le(uint32(e.Size))
		le(uint16(len(e.Name)))
		le(uint16(0))
		le(uint16(0))
		le(uint16(0))
		le(uint16(0))
		le(uint32(0))
		le(at)
		b.WriteString(e.Name)
	}
	end := b.Len()
	le(uint32(0x06054b50))
	le(uint16(0))
	le(uint16(0))
	le(uint16(len(entries)))
	le(uint16(len(entries)))
	le(uint32(end - cd))
	le(uint32(cd))
	le(uint16(0))
	return b.Bytes()
}

func method(e Entry) uint16 {
	if e.Deflated {
		return 8
	}
	return 0
}

// DeflateZeros returns a raw deflate stream of prefix followed by zeros, total bytes in
// all, and the CRC-32 of those bytes. It compresses one MiB and repeats it: each segment
// is flushed and starts afresh, so the copies are identical and the stream is valid.
func DeflateZeros(prefix []byte, total int64) (stream []byte, crc uint32) {
	const seg = 1 << 20
	segment := func(data []byte) []byte {
		var b bytes.Buffer
		w, _ := flate.NewWriter(&b, flate.BestCompression)
		w.Write(data)
		w.Flush()
		return b.Bytes()
	}
	zero := make([]byte, seg)
	var out bytes.Buffer
	first := append(append([]byte(nil), prefix...), make([]byte, min(int64(seg-len(prefix)), total-int64(len(prefix))))...)
	out.Write(segment(first))
	crc = crc32.ChecksumIEEE(first)
	left := total - int64(len(first))
	body := segment(zero)
	for ; left >= seg; left -= seg {
		out.Write(body)
		crc = crc32.Update(crc, crc32.IEEETable, zero)
	}
	if left > 0 {
		out.Write(segment(zero[:left]))
		crc = crc32.Update(crc, crc32.IEEETable, zero[:left])
	}
	var end bytes.Buffer
	w, _ := flate.NewWriter(&end, flate.BestCompression)
	w.Close() // the final, empty block
	out.Write(end.Bytes())
	return out.Bytes(), crc
}

// ---- pickles ------------------------------------------------------------------------

// TextPickle is a state dict written with protocol-0 text opcodes only (GLOBAL, STRING,
// UNICODE, INT, LONG, FLOAT, PUT, GET, MARK, TUPLE, DICT, SETITEM, REDUCE; BINPERSID is
// the one protocol-1 opcode, as a persistent id must be a tuple) of at least minBytes:
// tensors "layer<i>.weight", 2×2 float32 views of storage "0" (4 elements), with a
// float and an integer beside them.
func TextPickle(minBytes int) []byte {
	var b strings.Builder
	memo := 0
	put := func() int { b.WriteString(fmt.Sprintf("p%d\n", memo)); memo++; return memo - 1 }
	b.WriteString("ccollections\nOrderedDict\n")
	put()
	b.WriteString("(tR")
	put()
	b.WriteString("S'lr'\nF0.001\nsV\\u00e9poch\nL12L\ns")
	rebuild, storage := -1, -1
	for i := 0; b.Len() < minBytes; i++ {
		if i%2 == 0 {
			b.WriteString(fmt.Sprintf("S'layer%d.weight'\n", i))
		} else {
			b.WriteString(fmt.Sprintf("Vlayer%d.weight\n", i))
		}
		put()
		if rebuild < 0 {
			b.WriteString("ctorch._utils\n_rebuild_tensor_v2\n")
			rebuild = put()
		} else {
			b.WriteString(fmt.Sprintf("g%d\n", rebuild))
		}
		b.WriteString("(")
		if storage < 0 {
			b.WriteString("(S'storage'\nctorch\nFloatStorage\nS'0'\nS'cpu'\nI4\ntQ")
			storage = put()
		} else {
			b.WriteString(fmt.Sprintf("g%d\n", storage))
		}
		b.WriteString("I0\n(I2\nI2\nt(I2\nI1\ntI00\n(dtR")
		put()
		b.WriteString("s")
	}
	b.WriteString(".")
	return []byte(b.String())
}

// binput memoizes the top of the stack at index i (< 256).
func binput(b *bytes.Buffer, i int) { b.WriteByte('q'); b.WriteByte(byte(i)) }
func binget(b *bytes.Buffer, i int) { b.WriteByte('h'); b.WriteByte(byte(i)) }
func binunicode(b *bytes.Buffer, s string) {
	b.WriteByte('X')
	binary.Write(b, binary.LittleEndian, uint32(len(s)))
	b.WriteString(s)
}

// rebuild writes _rebuild_tensor_v2(storage key, offset 0, size, stride) for a
// FloatStorage of numel elements.
func rebuild(b *bytes.Buffer, key string, numel int64, size, stride int64) {
	b.WriteString("ctorch._utils\n_rebuild_tensor_v2\n(")
	b.WriteString("(")
	binunicode(b, "storage")
	b.WriteString("ctorch\nFloatStorage\n")
	binunicode(b, key)
	binunicode(b, "cpu")
	b.WriteByte('J')
	binary.Write(b, binary.LittleEndian, int32(numel))
	b.WriteString("tQK\x00")
	b.WriteString("J")
	binary.Write(b, binary.LittleEndian, int32(size))
	b.WriteString("\x85J")
	binary.Write(b, binary.LittleEndian, int32(stride))
	b.WriteString("\x85\x89}tR")
}

// MemoPickle nests memo references levels deep (levels < 256): level 0 is an empty list
// (or, withTensor, a tensor viewing storage "0" of 4 float32s), and each level a tuple,
// a list or a dict holding the level below twice. The pickle grows by a few bytes per
// level; the object graph it describes, walked as a tree, by a factor of two.
func MemoPickle(levels int, withTensor bool) []byte {
	var b bytes.Buffer
	b.WriteString("\x80\x02")
	if withTensor {
		rebuild(&b, "0", 4, 4, 1)
	} else {
		b.WriteString("]")
	}
	binput(&b, 0)
	for i := 1; i <= levels; i++ {
		switch i % 3 {
		case 0:
			binget(&b, i-1)
			binget(&b, i-1)
			b.WriteByte(0x86) // TUPLE2
		case 1:
			b.WriteString("](")
			binget(&b, i-1)
			binget(&b, i-1)
			b.WriteString("e")
		case 2:
			b.WriteString("}(")
			binunicode(&b, "a")
			binget(&b, i-1)
			binunicode(&b, "b")
			binget(&b, i-1)
			b.WriteString("u")
		}
		binput(&b, i)
	}
	b.WriteString(".")
	return b.Bytes()
}

// ExpandPickle is a state dict of n tensors "w<i>", each a stride-0 view (torch's
// expand) of the one float32 of storage "0", elems elements long.
func ExpandPickle(n int, elems int64) []byte {
	var b bytes.Buffer
	b.WriteString("\x80\x02}(")
	for i := 0; i < n; i++ {
		binunicode(&b, fmt.Sprintf("w%d", i))
		rebuild(&b, "0", 1, elems, 0)
	}
	b.WriteString("u.")
	return b.Bytes()
}

// StoragesPickle is a state dict of n tensors "w<i>", each the whole of storage
// "<i>", a FloatStorage of numel elements.
func StoragesPickle(n int, numel int64) []byte {
	var b bytes.Buffer
	b.WriteString("\x80\x02}(")
	for i := 0; i < n; i++ {
		binunicode(&b, fmt.Sprintf("w%d", i))
		rebuild(&b, fmt.Sprint(i), numel, numel, 1)
	}
	b.WriteString("u.")
	return b.Bytes()
}

// ---- whole files --------------------------------------------------------------------

// Checkpoint wraps a pickle into a torch zip checkpoint "archive/" with stored storages
// "archive/data/<key>" (key, bytes, key, bytes, ...).
func Checkpoint(pkl []byte, storages ...string) []byte {
	es := []Entry{Stored("archive/data.pkl", pkl)}
	for i := 0; i+1 < len(storages); i += 2 {
		es = append(es, Stored("archive/data/"+storages[i], []byte(storages[i+1])))
	}
	es = append(es, Stored("archive/version", []byte("3\n")))
	return Zip(es...)
}

// TorchZipBomb is a checkpoint of n float32 tensors whose storages are deflated members
// of size bytes each (all zeros). With overlap, all n members share one compressed body.
func TorchZipBomb(n int, size int64, overlap bool) []byte {
	body, crc := DeflateZeros(nil, size)
	es := []Entry{Stored("archive/data.pkl", StoragesPickle(n, size/4))}
	for i := 0; i < n; i++ {
		e := Entry{Name: fmt.Sprintf("archive/data/%d", i), Body: body, Deflated: true, Size: uint64(size), CRC: crc}
		if overlap && i > 0 {
			e.SameAs = "archive/data/0"
		}
		es = append(es, e)
	}
	return Zip(es...)
}

// NPYHeader is a version 1.0 .npy header for a float32 vector of elems elements.
func NPYHeader(elems int64) []byte {
	d := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d,), }", elems)
	pad := 64 - (10+len(d)+1)%64
	d += strings.Repeat(" ", pad) + "\n"
	h := []byte("\x93NUMPY\x01\x00")
	h = binary.LittleEndian.AppendUint16(h, uint16(len(d)))
	return append(h, d...)
}

// NPZBomb is an .npz of n float32 arrays "a<i>" whose deflated members inflate to about
// size bytes each. With overlap, all n members share one compressed body.
func NPZBomb(n int, size int64, overlap bool) []byte {
	elems := size / 4
	hdr := NPYHeader(elems)
	body, crc := DeflateZeros(hdr, int64(len(hdr))+4*elems)
	var es []Entry
	for i := 0; i < n; i++ {
		e := Entry{Name: fmt.Sprintf("a%d.npy", i), Body: body, Deflated: true, Size: uint64(int64(len(hdr)) + 4*elems), CRC: crc}
		if overlap && i > 0 {
			e.SameAs = "a0.npy"
		}
		es = append(es, e)
	}
	return Zip(es...)
}

package tf

// A reader for the subset of HDF5 that h5py (and so Keras) writes: superblock versions 0
// to 3, object headers v1 and v2 with continuation blocks, groups as symbol tables (B-tree
// v1 + local heap) or compact link messages, datasets compact, contiguous or chunked
// (B-tree v1) with the deflate and shuffle filters, attributes holding numbers, fixed or
// variable-length strings (global heap). Dense link storage (fractal heaps) and shared
// messages are refused by name. Reference: the HDF5 File Format Specification v3.
//
// Every offset and size read from the file is checked against the file before use:
// a bad file is an error (hdf5Error, recovered at the API), never a panic or an
// allocation the file did not pay for.

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/modelc/modelc/engine/ir"
)

const hdf5Magic = "\x89HDF\r\n\x1a\n"

type hdf5Error struct{ msg string }

func h5fail(format string, args ...any) { panic(hdf5Error{fmt.Sprintf(format, args...)}) }

// h5File is an HDF5 file held in memory (usually a memory map).
type h5File struct {
	data    []byte
	base    uint64 // base address: file addresses are relative to it
	offSize int    // bytes of an address
	lenSize int    // bytes of a length
	root    uint64 // object header address of the root group
	steps   int    // work counter against loops in corrupt files
}

// h5Object is an object header: a group or a dataset.
type h5Object struct {
	f    *h5File
	addr uint64
	msgs []h5Msg
}

type h5Msg struct {
	typ   uint16
	flags byte
	data  []byte
}

// h5Link is one member of a group.
type h5Link struct {
	Name string
	Addr uint64
}

// catchH5 turns a hdf5Error panic into a corrupt-file error for file.
func catchH5(err *error, file string) {
	if r := recover(); r != nil {
		if e, ok := r.(hdf5Error); ok {
			*err = ir.Errorf(ir.KindCorrupt, file, "HDF5: %s", e.msg)
			return
		}
		panic(r)
	}
}

func (f *h5File) tick() {
	f.steps++
	if f.steps > 1<<22 {
		h5fail("structure too large or cyclic")
	}
}

// at returns n bytes at file address addr (relative to the base address).
func (f *h5File) at(addr, n uint64) []byte {
	a := addr + f.base
	if a < addr || a > uint64(len(f.data)) || n > uint64(len(f.data))-a {
		h5fail("%d bytes at offset %d are past the end of the file (%d bytes)", n, a, len(f.data))
	}
	return f.data[a : a+n]
}

func undefined(addr uint64, size int) bool {
	return size == 8 && addr == math.MaxUint64 || size == 4 && addr == math.MaxUint32
}

// cursor reads little-endian fields from a slice, failing past its end.
type cursor struct {
	b   []byte
	pos int
	f   *h5File
}

func (c *cursor) need(n int) {
	if n < 0 || c.pos+n > len(c.b) || c.pos+n < c.pos {
		h5fail("structure cut short (%d bytes wanted at %d of %d)", n, c.pos, len(c.b))
	}
}
func (c *cursor) skip(n int) { c.need(n); c.pos += n }
func (c *cursor) u8() byte   { c.need(1); c.pos++; return c.b[c.pos-1] }
func (c *cursor) bytes(n int) []byte {
	c.need(n)
	c.pos += n
	return c.b[c.pos-n : c.pos]
}
func (c *cursor) uint(n int) uint64 {
	c.need(n)
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(c.b[c.pos+i])
	}
	c.pos += n
	return v
}
func (c *cursor) u16() uint64  { return c.uint(2) }
func (c *cursor) u32() uint64  { return c.uint(4) }
func (c *cursor) off() uint64  { return c.uint(c.f.offSize) }
func (c *cursor) leng() uint64 { return c.uint(c.f.lenSize) }
func (c *cursor) align8(start int) {
	if r := (c.pos - start) % 8; r != 0 {
		c.skip(8 - r)
	}
}

// openH5 parses the superblock of an HDF5 file held in data.
func openH5(data []byte, file string) (f *h5File, err error) {
	defer catchH5(&err, file)
	// The superblock may sit at 0, 512, 1024, ... (a user block before it).
	start := -1
	for s := 0; s+8 <= len(data); s = max(512, s*2) {
		if string(data[s:s+8]) == hdf5Magic {
			start = s
			break
		}
	}
	if start < 0 {
		return nil, ir.Errorf(ir.KindCorrupt, file, "not an HDF5 file (no signature)")
	}
	f = &h5File{data: data}
	c := &cursor{b: data[start:], pos: 8, f: f}
	version := c.u8()
	var eof uint64
	switch version {
	case 0, 1:
		c.skip(4) // free-space, root symbol table, reserved, shared header versions
		f.offSize, f.lenSize = int(c.u8()), int(c.u8())
		f.checkSizes()
		c.skip(1 + 2 + 2 + 4) // reserved, leaf K, internal K, consistency flags
		if version == 1 {
			c.skip(4)
		}
		f.base = c.off()
		c.off() // free space
		eof = c.off()
		c.off() // driver info
		c.off() // root entry: link name offset
		f.root = c.off()
	case 2, 3:
		f.offSize, f.lenSize = int(c.u8()), int(c.u8())
		f.checkSizes()
		c.skip(1)
		f.base = c.off()
		c.off() // superblock extension
		eof = c.off()
		f.root = c.off()
	default:
		h5fail("superblock version %d is not supported", version)
	}
	if f.base != 0 && f.base != uint64(start) {
		h5fail("base address %d is not supported", f.base)
	}
	if !undefined(eof, f.offSize) && eof+f.base > uint64(len(data)) {
		h5fail("file cut short: %d bytes, the superblock says %d", len(data), eof+f.base)
	}
	return f, nil
}

func (f *h5File) checkSizes() {
	if (f.offSize != 4 && f.offSize != 8) || (f.lenSize != 4 && f.lenSize != 8) {
		h5fail("offset size %d / length size %d not supported", f.offSize, f.lenSize)
	}
}

// object reads the object header at addr.
func (f *h5File) object(addr uint64) *h5Object {
	o := &h5Object{f: f, addr: addr}
	head := f.at(addr, 4)
	if string(head) == "OHDR" {
		f.readV2(o, addr)
	} else {
		f.readV1(o, addr)
	}
	return o
}

func (f *h5File) readV1(o *h5Object, addr uint64) {
	c := &cursor{b: f.at(addr, 16), f: f}
	if v := c.u8(); v != 1 {
		h5fail("object header at %d: version %d", addr, v)
	}
	c.skip(1)
	nmsgs := int(c.u16())
	c.u32() // reference count
	size := c.u32()
	type block struct{ addr, size uint64 }
	blocks := []block{{addr + 16, size}}
	for i := 0; i < len(blocks); i++ {
		if i > 1000 {
			h5fail("object header at %d: too many continuation blocks", addr)
		}
		b := &cursor{b: f.at(blocks[i].addr, blocks[i].size), f: f}
		for b.pos+8 <= len(b.b) && len(o.msgs) < nmsgs {
			f.tick()
			typ := b.u16()
			n := int(b.u16())
			flags := b.u8()
			b.skip(3)
			data := b.bytes(n)
			b.align8(0)
			if typ == 0x10 {
				cc := &cursor{b: data, f: f}
				blocks = append(blocks, block{cc.off(), cc.leng()})
			}
			o.msgs = append(o.msgs, h5Msg{typ: uint16(typ), flags: flags, data: data})
		}
	}
}

func (f *h5File) readV2(o *h5Object, addr uint64) {
	c := &cursor{b: f.at(addr, 6), f: f, pos: 4}
	if v := c.u8(); v != 2 {
		h5fail("object header at %d: version %d", addr, v)
	}
	flags := c.u8()
	hlen := 6
	if flags&0x20 != 0 {
		hlen += 16
	}
	if flags&0x10 != 0 {
		hlen += 4
	}
	sizeBytes := 1 << (flags & 3)
	c = &cursor{b: f.at(addr+uint64(hlen), uint64(sizeBytes)), f: f}
	size := c.uint(sizeBytes)
	order := flags&0x04 != 0
	type block struct{ addr, size uint64 }
	blocks := []block{{addr + uint64(hlen+sizeBytes), size}}
	for i := 0; i < len(blocks); i++ {
		if i > 1000 {
			h5fail("object header at %d: too many continuation blocks", addr)
		}
		raw := f.at(blocks[i].addr, blocks[i].size)
		if i > 0 {
			if len(raw) < 8 || string(raw[:4]) != "OCHK" {
				h5fail("object header at %d: bad continuation block", addr)
			}
			raw = raw[4 : len(raw)-4]
		}
		b := &cursor{b: raw, f: f}
		hdr := 4
		if order {
			hdr = 6
		}
		for b.pos+hdr <= len(b.b) {
			f.tick()
			typ := b.u8()
			n := int(b.u16())
			mflags := b.u8()
			if order {
				b.skip(2)
			}
			data := b.bytes(n)
			if typ == 0x10 {
				cc := &cursor{b: data, f: f}
				blocks = append(blocks, block{cc.off(), cc.leng()})
			}
			o.msgs = append(o.msgs, h5Msg{typ: uint16(typ), flags: mflags, data: data})
		}
	}
}

func (o *h5Object) msg(typ uint16) *h5Msg {
	for i := range o.msgs {
		if o.msgs[i].typ == typ {
			if o.msgs[i].flags&0x02 != 0 {
				h5fail("object at %d: shared message type %d is not supported", o.addr, typ)
			}
			return &o.msgs[i]
		}
	}
	return nil
}

// links lists the members of a group, sorted by name.
func (o *h5Object) links() []h5Link {
	f := o.f
	var out []h5Link
	if st := o.msg(0x11); st != nil {
		c := &cursor{b: st.data, f: f}
		btree, heap := c.off(), c.off()
		names := f.localHeap(heap)
		f.groupBTree(btree, names, &out, 0, map[uint64]bool{})
	}
	for _, m := range o.msgs {
		switch m.typ {
		case 0x06:
			if l, ok := f.linkMsg(m.data); ok {
				out = append(out, l)
			}
		case 0x02:
			c := &cursor{b: m.data, f: f}
			c.u8()
			fl := c.u8()
			if fl&1 != 0 {
				c.skip(8)
			}
			if heap := c.off(); !undefined(heap, f.offSize) {
				h5fail("object at %d: dense link storage (fractal heap) is not supported", o.addr)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (f *h5File) linkMsg(data []byte) (h5Link, bool) {
	c := &cursor{b: data, f: f}
	if v := c.u8(); v != 1 {
		h5fail("link message version %d", v)
	}
	flags := c.u8()
	ltype := byte(0)
	if flags&0x08 != 0 {
		ltype = c.u8()
	}
	if flags&0x04 != 0 {
		c.skip(8)
	}
	if flags&0x10 != 0 {
		c.skip(1)
	}
	n := int(c.uint(1 << (flags & 3)))
	name := string(c.bytes(n))
	if ltype != 0 {
		return h5Link{}, false // soft or external link: not followed
	}
	return h5Link{Name: name, Addr: c.off()}, true
}

// localHeap returns the data segment of the local heap at addr.
func (f *h5File) localHeap(addr uint64) []byte {
	c := &cursor{b: f.at(addr, uint64(8+2*f.lenSize+f.offSize)), f: f}
	if string(c.bytes(4)) != "HEAP" {
		h5fail("no local heap at %d", addr)
	}
	c.skip(4)
	size := c.leng()
	c.leng()
	return f.at(c.off(), size)
}

func cstring(b []byte, off uint64) string {
	if off >= uint64(len(b)) {
		h5fail("name offset %d is past its heap (%d bytes)", off, len(b))
	}
	s := b[off:]
	if i := bytes.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return string(s)
}

// groupBTree walks a version 1 B-tree of group nodes, appending the symbols it finds.
func (f *h5File) groupBTree(addr uint64, names []byte, out *[]h5Link, depth int, seen map[uint64]bool) {
	if depth > 64 {
		h5fail("B-tree at %d too deep", addr)
	}
	if seen[addr] {
		h5fail("B-tree node at %d reached twice", addr)
	}
	seen[addr] = true
	f.tick()
	hdr := &cursor{b: f.at(addr, uint64(8+2*f.offSize)), f: f}
	if string(hdr.bytes(4)) != "TREE" {
		h5fail("no B-tree node at %d", addr)
	}
	if t := hdr.u8(); t != 0 {
		h5fail("B-tree at %d: node type %d in a group", addr, t)
	}
	level := hdr.u8()
	n := hdr.u16()
	body := &cursor{b: f.at(addr+uint64(8+2*f.offSize), (n*2+1)*uint64(f.lenSize+f.offSize)), f: f}
	for i := uint64(0); i < n; i++ {
		body.leng() // key
		child := body.off()
		if level > 0 {
			f.groupBTree(child, names, out, depth+1, seen)
			continue
		}
		if seen[child] {
			h5fail("symbol table node at %d reached twice", child)
		}
		seen[child] = true
		c := &cursor{b: f.at(child, 8), f: f}
		if string(c.bytes(4)) != "SNOD" {
			h5fail("no symbol table node at %d", child)
		}
		c.skip(2)
		count := c.u16()
		entry := uint64(2*f.offSize + 24)
		e := &cursor{b: f.at(child+8, count*entry), f: f}
		for j := uint64(0); j < count; j++ {
			f.tick()
			nameOff := e.off()
			obj := e.off()
			e.skip(24)
			if len(*out) >= 1<<20 {
				h5fail("group with more than %d members", 1<<20)
			}
			*out = append(*out, h5Link{Name: cstring(names, nameOff), Addr: obj})
		}
	}
}

// h5Type is a datatype message decoded as far as modelc needs it.
type h5Type struct {
	class      byte
	size       int
	signed     bool
	vlenString bool
}

func (f *h5File) parseType(data []byte) h5Type {
	c := &cursor{b: data, f: f}
	cv := c.u8()
	bits := c.bytes(3)
	t := h5Type{class: cv & 0x0f, size: int(c.u32())}
	switch t.class {
	case 0:
		if bits[0]&1 != 0 {
			h5fail("big-endian integers are not supported")
		}
		t.signed = bits[0]&0x08 != 0
	case 1:
		if bits[0]&0x41 != 0 {
			h5fail("big-endian or VAX floats are not supported")
		}
	case 3:
	case 9:
		t.vlenString = bits[0]&0x0f == 1
		if !t.vlenString {
			h5fail("variable-length sequences are not supported")
		}
	default:
		h5fail("datatype class %d is not supported", t.class)
	}
	return t
}

func (t h5Type) dtype() ir.DType {
	switch {
	case t.class == 1 && t.size == 2:
		return ir.Float16
	case t.class == 1 && t.size == 4:
		return ir.Float32
	case t.class == 1 && t.size == 8:
		return ir.Float64
	case t.class == 0 && t.signed && t.size == 1:
		return ir.Int8
	case t.class == 0 && t.signed && t.size == 2:
		return ir.Int16
	case t.class == 0 && t.signed && t.size == 4:
		return ir.Int32
	case t.class == 0 && t.signed && t.size == 8:
		return ir.Int64
	case t.class == 0 && !t.signed && t.size == 1:
		return ir.Uint8
	case t.class == 0 && !t.signed && t.size == 2:
		return ir.Uint16
	case t.class == 0 && !t.signed && t.size == 4:
		return ir.Uint32
	case t.class == 0 && !t.signed && t.size == 8:
		return ir.Uint64
	}
	return ir.Undefined
}

// parseSpace decodes a dataspace message: the dimensions (nil for a scalar).
func (f *h5File) parseSpace(data []byte) []int64 {
	c := &cursor{b: data, f: f}
	v := c.u8()
	rank := int(c.u8())
	c.u8() // flags
	switch v {
	case 1:
		c.skip(5)
	case 2:
		if typ := c.u8(); typ == 2 {
			return []int64{0}
		}
	default:
		h5fail("dataspace version %d", v)
	}
	if rank > 32 {
		h5fail("dataspace rank %d", rank)
	}
	dims := make([]int64, rank)
	for i := range dims {
		d := c.leng()
		if d > 1<<48 {
			h5fail("dimension %d is too large", d)
		}
		dims[i] = int64(d)
	}
	return dims
}

// attr returns the value of the attribute called name: a string, a []string, or nil
// when there is none. Numeric attributes are returned as their raw bytes.
func (o *h5Object) attr(name string) any {
	f := o.f
	for _, m := range o.msgs {
		if m.typ != 0x0C {
			continue
		}
		c := &cursor{b: m.data, f: f}
		v := c.u8()
		c.u8()
		nl, tl, sl := int(c.u16()), int(c.u16()), int(c.u16())
		if v == 3 {
			c.u8() // charset
		}
		pad := func(n int) int {
			if v == 1 {
				return (n + 7) &^ 7
			}
			return n
		}
		an := strings.TrimRight(string(c.bytes(pad(nl))), "\x00")
		td := c.bytes(pad(tl))
		sd := c.bytes(pad(sl))
		if an != name {
			continue
		}
		if v < 1 || v > 3 {
			h5fail("attribute %q: version %d", name, v)
		}
		t := f.parseType(td)
		dims := f.parseSpace(sd)
		n := ir.NumElements(dims)
		if n < 0 || n > 1<<24 {
			h5fail("attribute %q: %d elements", name, n)
		}
		raw := c.b[c.pos:]
		strs := func() []string {
			out := make([]string, 0, n)
			switch {
			case t.class == 3:
				cc := &cursor{b: raw, f: f}
				for i := int64(0); i < n; i++ {
					out = append(out, strings.TrimRight(string(cc.bytes(t.size)), "\x00 "))
				}
			case t.vlenString:
				cc := &cursor{b: raw, f: f}
				for i := int64(0); i < n; i++ {
					ln := cc.u32()
					addr := cc.off()
					idx := cc.u32()
					out = append(out, f.globalHeapObject(addr, idx, ln))
				}
			}
			return out
		}
		if t.class == 3 || t.vlenString {
			s := strs()
			if len(dims) == 0 && len(s) == 1 {
				return s[0]
			}
			return s
		}
		return raw
	}
	return nil
}

// globalHeapObject returns object idx of the global heap collection at addr.
func (f *h5File) globalHeapObject(addr, idx, length uint64) string {
	if length == 0 {
		return ""
	}
	hc := &cursor{b: f.at(addr, uint64(8+f.lenSize)), f: f}
	if string(hc.bytes(4)) != "GCOL" {
		h5fail("no global heap at %d", addr)
	}
	hc.skip(4)
	size := hc.leng()
	c := &cursor{b: f.at(addr, size), f: f, pos: 8 + f.lenSize}
	for c.pos+8+f.lenSize <= len(c.b) {
		f.tick()
		i := c.u16()
		c.skip(6)
		n := c.leng()
		if i == 0 {
			break
		}
		if n > uint64(len(c.b)) {
			h5fail("global heap object %d: size %d", i, n)
		}
		body := c.bytes(int(n))
		c.align8(0)
		if i == idx {
			if length > uint64(len(body)) {
				h5fail("global heap object %d: %d bytes, %d wanted", i, len(body), length)
			}
			return string(body[:length])
		}
	}
	h5fail("global heap at %d has no object %d", addr, idx)
	return ""
}

// h5Dataset is a dataset's type, shape and bytes (which may alias the file).
type h5Dataset struct {
	DType ir.DType
	Shape []int64
	Data  []byte
}

// isDataset says whether the object is a dataset (has a layout message).
func (o *h5Object) isDataset() bool { return o.msg(0x08) != nil }

// dataset reads the object's data.
func (o *h5Object) dataset() h5Dataset {
	f := o.f
	tm, sm, lm := o.msg(0x03), o.msg(0x01), o.msg(0x08)
	if tm == nil || sm == nil || lm == nil {
		h5fail("object at %d is not a dataset", o.addr)
	}
	t := f.parseType(tm.data)
	dt := t.dtype()
	if dt == ir.Undefined {
		h5fail("dataset at %d: datatype class %d size %d is not a tensor type", o.addr, t.class, t.size)
	}
	dims := f.parseSpace(sm.data)
	n := ir.NumElements(dims)
	if n < 0 || n > 1<<40 {
		h5fail("dataset at %d: bad shape %v", o.addr, dims)
	}
	want := uint64(n) * uint64(t.size)
	c := &cursor{b: lm.data, f: f}
	v := c.u8()
	if v != 3 && v != 4 {
		h5fail("dataset at %d: layout version %d is not supported", o.addr, v)
	}
	var data []byte
	switch class := c.u8(); class {
	case 0:
		size := c.u16()
		data = c.bytes(int(size))
	case 1:
		addr := c.off()
		size := c.leng()
		if undefined(addr, f.offSize) {
			// Never written: the fill value (zero), within the memory budget.
			var err error
			if data, err = ir.AllocBytes(int64(want), "", "HDF5 dataset", "unwritten data"); err != nil {
				h5fail("%v", err)
			}
			size = want
		} else {
			data = f.at(addr, size)
		}
		if size != want {
			h5fail("dataset at %d: %d bytes stored, shape %v needs %d", o.addr, size, dims, want)
		}
	case 2:
		if v != 3 {
			h5fail("dataset at %d: chunked layout version %d is not supported", o.addr, v)
		}
		data = o.chunked(c, dims, t.size, want)
	default:
		h5fail("dataset at %d: layout class %d is not supported", o.addr, class)
	}
	if uint64(len(data)) != want {
		h5fail("dataset at %d: %d bytes stored, shape %v needs %d", o.addr, len(data), dims, want)
	}
	return h5Dataset{DType: dt, Shape: dims, Data: data}
}

type h5Filter struct {
	id     uint64
	client []uint64
}

func (o *h5Object) filters() []h5Filter {
	m := o.msg(0x0B)
	if m == nil {
		return nil
	}
	c := &cursor{b: m.data, f: o.f}
	v := c.u8()
	n := int(c.u8())
	if v == 1 {
		c.skip(6)
	}
	var out []h5Filter
	for i := 0; i < n; i++ {
		id := c.u16()
		nl := 0
		if v == 1 || id >= 256 {
			nl = int(c.u16())
		}
		c.u16() // flags
		nv := int(c.u16())
		if v == 1 {
			nl = (nl + 7) &^ 7
		}
		c.skip(nl)
		fl := h5Filter{id: id}
		for j := 0; j < nv; j++ {
			fl.client = append(fl.client, c.u32())
		}
		if v == 1 && nv%2 == 1 {
			c.skip(4)
		}
		if id != 1 && id != 2 {
			h5fail("dataset at %d: filter %d is not supported (deflate and shuffle are)", o.addr, id)
		}
		out = append(out, fl)
	}
	return out
}

// chunked assembles a chunked dataset (layout v3, B-tree v1 chunk index).
func (o *h5Object) chunked(c *cursor, dims []int64, elem int, want uint64) []byte {
	f := o.f
	nd := int(c.u8())
	btree := c.off()
	if nd != len(dims)+1 {
		h5fail("dataset at %d: chunk rank %d for shape %v", o.addr, nd-1, dims)
	}
	chunk := make([]int64, nd-1)
	for i := range chunk {
		chunk[i] = int64(c.u32())
		if chunk[i] <= 0 {
			h5fail("dataset at %d: chunk dimension %d", o.addr, chunk[i])
		}
	}
	c.u32() // element size
	filters := o.filters()
	out, err := ir.AllocBytes(int64(want), "", "HDF5 dataset", "chunked data")
	if err != nil {
		h5fail("%v", err)
	}
	if undefined(btree, f.offSize) {
		return out
	}
	cn := ir.NumElements(chunk)
	if cn <= 0 || cn > 1<<32 {
		h5fail("dataset at %d: chunk %v", o.addr, chunk)
	}
	chunkBytes := uint64(cn) * uint64(elem)
	var walk func(addr uint64, depth int)
	walk = func(addr uint64, depth int) {
		if depth > 64 {
			h5fail("chunk B-tree too deep")
		}
		f.tick()
		hdr := &cursor{b: f.at(addr, uint64(8+2*f.offSize)), f: f}
		if string(hdr.bytes(4)) != "TREE" || hdr.u8() != 1 {
			h5fail("no chunk B-tree node at %d", addr)
		}
		level := hdr.u8()
		n := hdr.u16()
		keySize := uint64(8 + 8*nd)
		body := &cursor{b: f.at(addr+uint64(8+2*f.offSize), n*(keySize+uint64(f.offSize))+keySize), f: f}
		for i := uint64(0); i < n; i++ {
			size := body.u32()
			mask := body.u32()
			offs := make([]int64, nd)
			for j := range offs {
				offs[j] = int64(body.uint(8))
			}
			child := body.off()
			if level > 0 {
				walk(child, depth+1)
				continue
			}
			raw := f.at(child, size)
			raw = applyFilters(raw, filters, mask, chunkBytes, elem)
			copyChunk(out, raw, dims, chunk, offs[:nd-1], elem)
		}
	}
	walk(btree, 0)
	return out
}

func applyFilters(raw []byte, filters []h5Filter, mask uint64, chunkBytes uint64, elem int) []byte {
	for i := len(filters) - 1; i >= 0; i-- {
		if mask&(1<<uint(i)) != 0 {
			continue
		}
		switch filters[i].id {
		case 1:
			zr, err := zlib.NewReader(bytes.NewReader(raw))
			if err != nil {
				h5fail("deflate: %v", err)
			}
			buf, err := io.ReadAll(io.LimitReader(zr, int64(chunkBytes)+1))
			if err != nil {
				h5fail("deflate: %v", err)
			}
			if uint64(len(buf)) > chunkBytes {
				h5fail("deflated chunk larger than its %d bytes", chunkBytes)
			}
			raw = buf
		case 2:
			size := elem
			if len(filters[i].client) > 0 {
				size = int(filters[i].client[0])
			}
			if size <= 0 || len(raw)%size != 0 {
				h5fail("shuffle: %d bytes in elements of %d", len(raw), size)
			}
			n := len(raw) / size
			buf := make([]byte, len(raw))
			for b := 0; b < size; b++ {
				for j := 0; j < n; j++ {
					buf[j*size+b] = raw[b*n+j]
				}
			}
			raw = buf
		}
	}
	if uint64(len(raw)) != chunkBytes {
		h5fail("chunk holds %d bytes, %d expected", len(raw), chunkBytes)
	}
	return raw
}

// copyChunk copies the part of a chunk at offs that lies inside dims into out.
func copyChunk(out, raw []byte, dims, chunk, offs []int64, elem int) {
	rank := len(dims)
	if rank == 0 {
		copy(out, raw)
		return
	}
	for i, o := range offs {
		if o < 0 || o >= dims[i] && dims[i] > 0 || o%chunk[i] != 0 {
			h5fail("chunk offset %v outside shape %v", offs, dims)
		}
	}
	idx := make([]int64, rank-1)
	for {
		// Row of the last dimension at idx.
		var src, dst int64
		ok := true
		for i := 0; i < rank-1; i++ {
			if offs[i]+idx[i] >= dims[i] {
				ok = false
			}
			src = src*chunk[i] + idx[i]
			dst = dst*dims[i] + offs[i] + idx[i]
		}
		if ok {
			n := min(chunk[rank-1], dims[rank-1]-offs[rank-1])
			s := (src * chunk[rank-1]) * int64(elem)
			d := (dst*dims[rank-1] + offs[rank-1]) * int64(elem)
			copy(out[d:d+n*int64(elem)], raw[s:s+n*int64(elem)])
		}
		i := rank - 2
		for ; i >= 0; i-- {
			idx[i]++
			if idx[i] < chunk[i] {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return
		}
	}
}

// h5Node is a path-addressed view of a file: groups and datasets by name.
type h5Node struct {
	f    *h5File
	obj  *h5Object
	path string
}

func (f *h5File) rootNode() *h5Node { return &h5Node{f: f, obj: f.object(f.root), path: "/"} }

// child returns the member called name, or nil.
func (n *h5Node) child(name string) *h5Node {
	for _, l := range n.obj.links() {
		if l.Name == name {
			return &h5Node{f: n.f, obj: n.f.object(l.Addr), path: strings.TrimSuffix(n.path, "/") + "/" + name}
		}
	}
	return nil
}

// lookup follows a slash-separated path from n, or returns nil.
func (n *h5Node) lookup(path string) *h5Node {
	cur := n
	for _, p := range strings.Split(strings.Trim(path, "/"), "/") {
		if p == "" {
			continue
		}
		if cur = cur.child(p); cur == nil {
			return nil
		}
	}
	return cur
}

func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

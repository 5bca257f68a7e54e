package gguf

import (
	"bufio"
	"fmt"
	"io"
	"runtime"
	"strings"
	"unsafe"

	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/format/atomicfile"
	"github.com/modelc/modelc/engine/ir"
)

// WriteOptions control Write.
type WriteOptions struct {
	// Quantize names the type for the weight matrices ("q8_0", "q4_k", "f16", ...; see
	// QuantizeNames; "auto": F16, or BF16 for a BF16 model, as llama.cpp's converter);
	// "" keeps every tensor's type. 1-D tensors and norms become F32
	// and the tensors llama.cpp never quantizes keep their type, as llama.cpp does.
	Quantize string
	// Written, if set, receives each piece of input tensor data once it is consumed (a
	// conversion releases the memory-mapped input with it, reports progress and checks
	// for cancellation); an error from it stops the write.
	Written func([]byte) error
	// Progress, if set, is called after each tensor with the input bytes done and in
	// all; an error from it stops the write (nothing is left behind).
	Progress func(tensor string, done, total int64) error
	// Threads bounds the quantizing workers (0: GOMAXPROCS).
	Threads int
}

// maxName is the longest tensor name ggml accepts (GGML_MAX_NAME − 1).
const maxName = 63

// quantizationVersion is ggml's GGML_QNT_VERSION, written as general.quantization_version.
const quantizationVersion = 2

// chunkElems is how many values one worker converts at a time: whole rows, about this
// many. It bounds the memory in flight to threads × (4 + output) bytes × chunkElems.
const chunkElems = 1 << 18

// copyPiece is the size of the pieces a tensor copied unchanged is written in.
const copyPiece = 8 << 20

// fileTypes are llama.cpp's llama_ftype values for a model quantized to one type.
var fileTypes = map[GGMLType]uint32{F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q8_0: 7, Q5_0: 8, Q5_1: 9,
	Q4_K: 14, Q5_K: 16, Q6_K: 18, BF16: 32}

// item is one tensor as it will be written.
type item struct {
	t      *ir.Tensor
	src    GGMLType // its type now
	dst    GGMLType // its type in the file
	ne     []int64  // GGUF dims, fastest-varying first
	size   int64    // bytes in the file
	offset int64    // from the start of the data section
}

// Write stores the model's initializers and metadata (Model.KV, then Model.Metadata
// entries KV lacks, as strings) as a GGUF v3 file, atomically. Tensors stream one at a
// time from their source through the optional quantizer to the file, quantized in chunks
// of rows on a bounded pool: the output is the same bytes whatever the thread count.
func Write(m *ir.Model, path string, opts WriteOptions) error {
	e, err := prepare(m, path, opts)
	if err != nil {
		return err
	}
	f, err := atomicfile.Create(path)
	if err != nil {
		return ir.IOError(path, err)
	}
	defer f.Abort()
	if err := e.writeTo(f.Writer, path, opts); err != nil {
		return err
	}
	if err := f.Commit(); err != nil {
		return &ir.Error{Kind: ir.KindIO, File: path, Err: err}
	}
	return nil
}

// Encode writes the same bytes as Write to w instead of a file; name is what errors call
// the output.
func Encode(m *ir.Model, w io.Writer, name string, opts WriteOptions) error {
	e, err := prepare(m, name, opts)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if err := e.writeTo(bw, name, opts); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return &ir.Error{Kind: ir.KindIO, File: name, Err: err}
	}
	return nil
}

// encoding is a checked plan of a GGUF file: its tensors with their types and offsets,
// and its key-value header.
type encoding struct {
	items     []item
	kv        []ir.MetaKV
	alignment int64
}

func prepare(m *ir.Model, path string, opts WriteOptions) (*encoding, error) {
	var quant GGMLType
	quantizing := opts.Quantize != ""
	if quantizing {
		var err error
		if quant, err = ResolveQuantize(m, opts.Quantize); err != nil {
			return nil, &ir.Error{Kind: ir.KindInvalidArgument, File: path, Err: err}
		}
	}
	items, err := plan(m, path, quant, quantizing)
	if err != nil {
		return nil, err
	}
	kv, alignment, err := header(m, path, items, quant, quantizing)
	if err != nil {
		return nil, err
	}
	var offset int64
	for i := range items {
		items[i].offset = offset
		offset = alignUp(offset+items[i].size, alignment)
	}
	return &encoding{items: items, kv: kv, alignment: alignment}, nil
}

// writeTo writes the file to bw (the caller flushes it).
func (e *encoding) writeTo(bw *bufio.Writer, path string, opts WriteOptions) error {
	items, alignment := e.items, e.alignment
	w := &writer{w: bw}
	w.bytes(Magic)
	w.u32(3)
	w.u64(uint64(len(items)))
	w.u64(uint64(len(e.kv)))
	for _, e := range e.kv {
		w.str(e.Key)
		t, _ := valueType(e.Value)
		w.u32(t)
		w.value(e.Value)
	}
	for _, it := range items {
		w.str(it.t.Name)
		w.u32(uint32(len(it.ne)))
		for _, d := range it.ne {
			w.u64(uint64(d))
		}
		w.u32(uint32(it.dst))
		w.u64(uint64(it.offset))
	}
	w.pad(alignment)
	if w.err != nil {
		return ir.IOError(path, w.err)
	}
	if err := stream(w, items, alignment, opts); err != nil {
		if e, ok := err.(*ir.Error); ok {
			if e.File == "" {
				e.File = path // a tensor that cannot be converted (validateRows)
			}
			return e
		}
		// ir.IOError drops the *fs.PathError, which names the temporary file.
		return ir.IOError(path, err)
	}
	return nil
}

func alignUp(n, a int64) int64 { return (n + a - 1) / a * a }

func (w *writer) pad(alignment int64) {
	if n := alignUp(w.n, alignment) - w.n; n > 0 {
		w.bytes(make([]byte, n))
	}
}

// plan decides each tensor's type in the file and checks that GGUF can hold it.
func plan(m *ir.Model, path string, quant GGMLType, quantizing bool) ([]item, error) {
	var items []item
	names := map[string]bool{}
	for _, t := range m.Graph.Initializers {
		bad := func(kind ir.ErrorKind, format string, args ...any) error {
			return &ir.Error{Kind: kind, File: path, Where: fmt.Sprintf("tensor %q", t.Name), Err: fmt.Errorf(format, args...)}
		}
		if names[t.Name] {
			return nil, bad(ir.KindInvalidArgument, "two tensors have this name")
		}
		names[t.Name] = true
		if len(t.Name) > maxName {
			return nil, bad(ir.KindUnsupported, "the name is %d bytes; GGUF (ggml) allows at most %d", len(t.Name), maxName)
		}
		src, ok := typeOf(t.DType)
		if !ok {
			return nil, bad(ir.KindUnsupported, "GGUF has no type for %v", t.DType)
		}
		if len(t.Shape) > maxDims {
			return nil, bad(ir.KindUnsupported, "%d dimensions; GGUF allows at most %d", len(t.Shape), maxDims)
		}
		it := item{t: t, src: src, dst: src}
		for i := len(t.Shape) - 1; i >= 0; i-- {
			it.ne = append(it.ne, t.Shape[i])
		}
		if len(it.ne) == 0 {
			it.ne = []int64{1} // a scalar is stored as one element
		}
		if quantizing {
			it.dst = chooseType(t.Name, it.ne, src, quant)
		}
		dinfo := types[it.dst]
		if it.ne[0]%dinfo.blockElems != 0 {
			return nil, bad(ir.KindUnsupported, "row length %d is not a multiple of the %s block size %d", it.ne[0], dinfo.name, dinfo.blockElems)
		}
		if it.dst != it.src {
			if _, ok := codecs[it.src]; !ok && types[it.src].blockElems != 1 {
				return nil, bad(ir.KindUnsupported, "cannot convert %s to %s: modelc does not decode %s", it.src, it.dst, it.src)
			}
		}
		size, ok := dinfo.dtype.ByteSize(t.NumElements())
		if !ok {
			return nil, bad(ir.KindUnsupported, "%d elements do not fit %s blocks", t.NumElements(), dinfo.name)
		}
		it.size = size
		items = append(items, it)
	}
	return items, nil
}

// chooseType is llama.cpp's choice for one tensor when quantizing to quant: the weight
// matrices it allows (tensor_allows_quantization in llama-quant.cpp) get quant, with its
// fallback for rows that are not whole blocks (Q4_K→Q5_0, Q5_K→Q5_1, Q6_K→Q8_0, then F16;
// a legacy type falls back to F16 directly, as convert_hf_to_gguf.py does); 1-D tensors
// and norms of a float type become F32 (convert_hf_to_gguf.py); the rest keep their type.
func chooseType(name string, ne []int64, src, quant GGMLType) GGMLType {
	isFloat := src == F32 || src == F16 || src == BF16 || src == F64 || types[src].blockElems > 1
	if !isFloat {
		return src // integer tensors are never quantized
	}
	nDims := len(ne)
	for nDims > 1 && ne[nDims-1] == 1 {
		nDims-- // ggml_n_dims ignores trailing dims of size 1
	}
	if nDims < 2 || strings.HasSuffix(name, "_norm.weight") {
		if types[src].blockElems > 1 {
			return src
		}
		return F32
	}
	if !allowsQuantization(name) {
		return src
	}
	t := quant
	if ne[0]%types[t].blockElems != 0 {
		switch t {
		case Q4_K:
			t = Q5_0
		case Q5_K:
			t = Q5_1
		case Q6_K:
			t = Q8_0
		}
		if ne[0]%types[t].blockElems != 0 {
			t = F16
		}
	}
	return t
}

// neverQuantized lists the name fragments llama.cpp keeps unquantized.
var neverQuantized = []string{"_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
	"per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
	"time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_v0.weight",
	"time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight",
	"time_mix_g1.weight", "time_mix_g2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
	"time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_",
	".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook", "mm.a.code_embd"}

func allowsQuantization(name string) bool {
	if !strings.HasSuffix(name, "weight") || name == "position_embd.weight" || name == "token_types.weight" {
		return false
	}
	for _, s := range neverQuantized {
		if strings.Contains(name, s) {
			return false
		}
	}
	return true
}

// header assembles the metadata to write and the alignment.
func header(m *ir.Model, path string, items []item, quant GGMLType, quantizing bool) ([]ir.MetaKV, int64, error) {
	kv := append([]ir.MetaKV(nil), m.KV...)
	for _, p := range m.Metadata {
		if ir.MetaLookup(kv, p.Key) == nil {
			kv = append(kv, ir.MetaKV{Key: p.Key, Value: p.Value})
		}
	}
	// general.architecture is required; a model that does not say (an ONNX or
	// safetensors input) is marked "unknown", which gguf readers accept and llama.cpp
	// refuses to run, rightly.
	if _, ok := ir.MetaLookup(kv, "general.architecture").(string); !ok {
		if ir.MetaLookup(kv, "general.architecture") != nil {
			return nil, 0, ir.Errorf(ir.KindInvalidArgument, path, "metadata general.architecture must be a string")
		}
		kv = append([]ir.MetaKV{{Key: "general.architecture", Value: "unknown"}}, kv...)
	}
	quantized := false
	for _, it := range items {
		quantized = quantized || types[it.dst].blockElems > 1
	}
	if quantized {
		ir.MetaSet(&kv, "general.quantization_version", uint32(quantizationVersion))
	}
	if quantizing {
		if ft, ok := fileTypes[quant]; ok {
			ir.MetaSet(&kv, "general.file_type", ft)
		}
	}
	alignment := int64(DefaultAlignment)
	seen := map[string]bool{}
	for _, e := range kv {
		if seen[e.Key] {
			return nil, 0, ir.Errorf(ir.KindInvalidArgument, path, "metadata key %q appears twice", e.Key)
		}
		seen[e.Key] = true
		if err := checkValue(e.Value, 0); err != nil {
			return nil, 0, ir.Errorf(ir.KindUnsupported, path, "metadata %q: %v", e.Key, err)
		}
		if e.Key == "general.alignment" {
			a, ok := e.Value.(uint32)
			if !ok || a == 0 || a&(a-1) != 0 {
				return nil, 0, ir.Errorf(ir.KindInvalidArgument, path, "general.alignment must be a power-of-two uint32, is %v (%T)", e.Value, e.Value)
			}
			alignment = int64(a)
		}
	}
	return kv, alignment, nil
}

// ---- streaming ----------------------------------------------------------------------------

// piece is a run of one tensor's output bytes, produced by a worker (or, for a tensor
// copied as it is, straight from its source).
type piece struct {
	item  int
	out   []byte
	input []byte // the source bytes consumed, handed to Written
	last  bool   // the tensor's final piece
	buf   *chunkBuf
	err   error
}

type chunkBuf struct {
	f32 []float32
	out []byte
	u16 []uint16 // an aligned copy of unaligned 16-bit input
}

// stream writes the tensors' data in order. A producer walks the tensors and cuts each
// into chunks of whole rows; up to `threads` chunks convert at once, each on its own
// goroutine, and the writer takes their results in order, so at most threads+1 chunks
// are in memory whatever the model's size.
func stream(w *writer, items []item, alignment int64, opts WriteOptions) error {
	threads := opts.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	var total int64
	for _, it := range items {
		total += it.t.ByteSize()
	}
	queue := make(chan chan piece, threads)
	slots := make(chan struct{}, threads)
	stop := make(chan struct{})
	bufs := make(chan *chunkBuf, threads+1)
	go produce(items, queue, slots, stop, bufs)
	defer func() {
		close(stop)
		for ch := range queue { // let the producer finish; drop what it made
			<-ch
		}
	}()

	dataStart := w.n
	var done int64
	for ch := range queue {
		p := <-ch
		if p.buf != nil {
			<-slots
		}
		if p.err != nil {
			return p.err
		}
		w.bytes(p.out)
		if w.err != nil { // a failed write (a full disk) is the error, not its consequences
			return w.err
		}
		if p.buf != nil {
			select {
			case bufs <- p.buf:
			default:
			}
		}
		if opts.Written != nil && len(p.input) > 0 {
			if err := opts.Written(p.input); err != nil {
				return err
			}
		}
		done += int64(len(p.input))
		if p.last {
			it := items[p.item]
			if w.n-dataStart != it.offset+it.size {
				return fmt.Errorf("internal error: tensor %q wrote %d bytes, planned %d", it.t.Name, w.n-dataStart-it.offset, it.size)
			}
			if p.item < len(items)-1 {
				w.pad(alignment)
			}
			if w.err != nil {
				return w.err
			}
			if opts.Progress != nil {
				if err := opts.Progress(it.t.Name, done, total); err != nil {
					return err
				}
			}
		}
	}
	return w.err
}

// produce feeds the writer: one channel per piece, in file order. It stops early when
// the writer closes stop.
func produce(items []item, queue chan<- chan piece, slots chan struct{}, stop <-chan struct{}, bufs chan *chunkBuf) {
	defer close(queue)
	send := func(p piece) bool {
		ch := make(chan piece, 1)
		ch <- p
		select {
		case queue <- ch:
			return true
		case <-stop:
			return false
		}
	}
	for i, it := range items {
		var data []byte
		if it.t.Computed() {
			// A tensor computed on demand (a permuted or dequantized view) is built
			// whole, once, and dropped when written.
			data = make([]byte, it.t.ByteSize())
			it.t.FillBytes(data)
		} else {
			data = it.t.Bytes()
		}
		if it.dst == it.src {
			// Copied as it is, in pieces, so the mapped input is released as it goes.
			for off := 0; off < len(data) || off == 0; off += copyPiece {
				end := min(len(data), off+copyPiece)
				if !send(piece{item: i, out: data[off:end], input: data[off:end], last: end == len(data)}) {
					return
				}
			}
			continue
		}
		row := it.ne[0]
		rows := it.t.NumElements() / max(row, 1)
		perChunk := max(1, chunkElems/max(row, 1))
		inRow := rowBytes(it.src, row)
		outRow := rowBytes(it.dst, row)
		if rows == 0 {
			if !send(piece{item: i, last: true}) {
				return
			}
			continue
		}
		for r0 := int64(0); r0 < rows; r0 += perChunk {
			r1 := min(rows, r0+perChunk)
			select {
			case slots <- struct{}{}:
			case <-stop:
				return
			}
			var buf *chunkBuf
			select {
			case buf = <-bufs:
			default:
				buf = &chunkBuf{}
			}
			ch := make(chan piece, 1)
			in := data[r0*inRow : r1*inRow]
			go func(it item, i int, last bool) {
				n := int((r1 - r0) * row)
				out, err := convert(buf, it, in, n, int((r1-r0)*outRow), r0*row)
				ch <- piece{item: i, out: out, input: in, last: last, buf: buf, err: err}
			}(it, i, r1 == rows)
			select {
			case queue <- ch:
			case <-stop:
				<-ch
				return
			}
		}
	}
}

func rowBytes(t GGMLType, row int64) int64 {
	info := types[t]
	return row / info.blockElems * info.blockBytes
}

// convert turns n values of it.src in `in` into outBytes bytes of it.dst via float32;
// first is the index in the tensor of the first value. Output that llama.cpp's
// ggml_validate_row_data would refuse (an f16 scale that overflows) is an error.
func convert(buf *chunkBuf, it item, in []byte, n, outBytes int, first int64) ([]byte, error) {
	if cap(buf.f32) < n {
		buf.f32 = make([]float32, n)
	}
	if cap(buf.out) < outBytes {
		buf.out = make([]byte, outBytes)
	}
	f, out := buf.f32[:n], buf.out[:outBytes]
	switch it.src {
	case F32:
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*n), in)
	case F16:
		accel.F16ToF32(f, buf.halves(in))
	case BF16:
		accel.BF16ToF32(f, buf.halves(in))
	default:
		tmp, err := ir.NewTensor(it.t.Name, types[it.src].dtype, []int64{int64(n)}, in)
		if err == nil {
			var vals []float32
			if vals, err = tmp.Float32s(); err == nil {
				copy(f, vals)
			}
		}
		if err != nil {
			return nil, &ir.Error{Kind: ir.KindUnsupported, Where: fmt.Sprintf("tensor %q", it.t.Name), Err: err}
		}
	}
	encode(it.dst, out, f)
	if err := validateRows(it.dst, out, f, first, it.ne[0]); err != nil {
		return nil, &ir.Error{Kind: ir.KindUnsupported, Where: fmt.Sprintf("tensor %q", it.t.Name), Err: err}
	}
	return out, nil
}

// encode writes float32 values as type t.
func encode(t GGMLType, out []byte, f []float32) {
	switch t {
	case F32:
		copy(out, unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*len(f)))
	case F16:
		accel.F32ToF16(u16View(out), f)
	case BF16:
		accel.F32ToBF16(u16View(out), f)
	default:
		codecs[t].quantize(out, f)
	}
}

// u16View views 2-byte-aligned packed little-endian bytes as uint16s (the host is
// little-endian: ir checks it).
func u16View(b []byte) []uint16 {
	if len(b) < 2 {
		return nil
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(&b[0])), len(b)/2)
}

// halves views input half-precision bytes as uint16s, copying them when they are not
// 2-byte aligned (a safetensors tensor may start at any byte).
func (buf *chunkBuf) halves(b []byte) []uint16 {
	if len(b) < 2 || uintptr(unsafe.Pointer(&b[0]))%2 == 0 {
		return u16View(b)
	}
	if cap(buf.u16) < len(b)/2 {
		buf.u16 = make([]uint16, len(b)/2)
	}
	h := buf.u16[:len(b)/2]
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&h[0])), len(b)), b)
	return h
}

// DequantizeBlocks replaces the block-quantized tensors of m (Q8_0, Q4_K, ...) with
// float32 tensors computed when a writer reaches them: the conversion for formats that
// cannot hold ggml blocks (safetensors, ONNX, NumPy). A block type modelc cannot decode
// is an error naming the tensor.
func DequantizeBlocks(m *ir.Model) error {
	for i, t := range m.Graph.Initializers {
		gt, ok := typeOf(t.DType)
		if !ok || types[gt].blockElems == 1 {
			continue
		}
		c, ok := codecs[gt]
		if !ok {
			return &ir.Error{Kind: ir.KindUnsupported, Where: fmt.Sprintf("tensor %q", t.Name),
				Err: fmt.Errorf("modelc cannot dequantize %s for a format without ggml types; keep the output GGUF", gt)}
		}
		src := t
		f, err := ir.NewComputedTensor(t.Name, ir.Float32, append([]int64(nil), t.Shape...), func(dst []byte) {
			if len(dst) > 0 {
				c.dequantize(unsafe.Slice((*float32)(unsafe.Pointer(&dst[0])), len(dst)/4), src.Bytes())
			}
		})
		if err != nil {
			return &ir.Error{Kind: ir.KindInternal, Where: fmt.Sprintf("tensor %q", t.Name), Err: err}
		}
		f.DocString, f.Metadata = t.DocString, t.Metadata
		m.Graph.Initializers[i] = f
	}
	return nil
}

package tflite

import (
	"github.com/modelc/modelc/engine/format/tflite/schema/tfl"
	"github.com/modelc/modelc/engine/ir"
)

// Layout. Every value of the ONNX graph has a logical shape (ONNX's, channels first) and
// a stored layout in the .tflite: a permutation perm with stored dimension i = logical
// dimension perm[i] (nil: stored as ONNX has it). The decision is made once per value,
// as the graph is lowered in topological order:
//
//   - convolutions, pools, resizes produce channels-last values (perm [0,2,3,1]);
//   - element-wise ops, pads, concatenations, reductions and ONNX Transposes follow their
//     inputs' layout (a Transpose only relabels: it emits nothing);
//   - constants are stored in whatever layout their consumer asks for, permuted as they
//     are written (the permutation is folded into the weights);
//   - a Flatten/Reshape of a channels-last value to [N, K] keeps the channels-last
//     element order, and the FULLY_CONNECTED that reads it gets its weight columns
//     permuted to match;
//   - only an op that needs the ONNX order and gets another one (and a graph edge whose
//     convention differs, see WriteOptions.NHWCIO) costs a TRANSPOSE, and not even that
//     when the permutation moves only dimensions of size 1 (then it is a RESHAPE).

var nhwc = []int{0, 2, 3, 1}

// value is one ONNX value as the writer knows it.
type value struct {
	name  string
	shape []int64 // logical (ONNX) shape
	dtype ir.DType
	perm  []int // stored layout; nil: as ONNX
	t     int32 // the tflite tensor holding it in its stored layout; -1 for constants
	konst *ir.Tensor
	flat  *value // [N, K] stored as the flattening of flat's stored layout
	// cache of tensors in other layouts (key: permString)
	views map[string]int32
}

func isIdentity(p []int) bool {
	for i, v := range p {
		if v != i {
			return false
		}
	}
	return true
}

func permKey(p []int) string {
	b := make([]byte, len(p))
	for i, v := range p {
		b[i] = byte('0' + v)
	}
	return string(b)
}

func identity(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	return p
}

func (v *value) storedPerm() []int {
	if v.perm == nil {
		return identity(len(v.shape))
	}
	return v.perm
}

func permute(shape []int64, perm []int) []int64 {
	out := make([]int64, len(perm))
	for i, p := range perm {
		out[i] = shape[p]
	}
	return out
}

func inverse(p []int) []int {
	out := make([]int, len(p))
	for i, v := range p {
		out[v] = i
	}
	return out
}

// onlyUnitsMove says whether transposing shape by perm keeps the order of the
// dimensions larger than 1: then it moves no data and is a reshape.
func onlyUnitsMove(shape []int64, perm []int) bool {
	last := -1
	for _, p := range perm {
		if shape[p] == 1 {
			continue
		}
		if p < last {
			return false
		}
		last = p
	}
	return true
}

// permuteData transposes packed row-major data of the given shape and element size by perm.
func permuteData(data []byte, shape []int64, perm []int, elem int) []byte {
	n := len(shape)
	out := make([]byte, len(data))
	if n == 0 || len(data) == 0 {
		copy(out, data)
		return out
	}
	strides := make([]int64, n)
	s := int64(1)
	for i := n - 1; i >= 0; i-- {
		strides[i] = s
		s *= shape[i]
	}
	oshape := permute(shape, perm)
	ostrides := make([]int64, n) // input stride of each output dim
	for i, p := range perm {
		ostrides[i] = strides[p]
	}
	idx := make([]int64, n)
	total := ir.NumElements(shape)
	var src int64
	for o := int64(0); o < total; o++ {
		copy(out[o*int64(elem):(o+1)*int64(elem)], data[src*int64(elem):(src+1)*int64(elem)])
		for d := n - 1; d >= 0; d-- {
			idx[d]++
			src += ostrides[d]
			if idx[d] < oshape[d] {
				break
			}
			src -= ostrides[d] * oshape[d]
			idx[d] = 0
		}
	}
	return out
}

// stored returns the tensor holding v in its stored layout.
func (l *lowerer) stored(v *value) int32 {
	if v.konst != nil {
		return l.constIn(v, v.storedPerm())
	}
	return v.t
}

// plain returns a tensor holding v in ONNX's layout.
func (l *lowerer) plain(v *value) int32 {
	if v.flat != nil {
		key := "flat"
		if t, ok := v.views[key]; ok {
			return t
		}
		src := l.plain(v.flat)
		t := l.reshape(src, v.shape, v.name+"_flat", v.dtype)
		l.cache(v, key, t)
		return t
	}
	return l.inLayout(v, identity(len(v.shape)))
}

// inLayout returns a tensor holding v stored with the permutation want.
func (l *lowerer) inLayout(v *value, want []int) int32 {
	if v.flat != nil {
		if isIdentity(want) {
			return l.plain(v)
		}
		return l.transpose(l.plain(v), v.shape, want, v.name, v.dtype)
	}
	if v.konst != nil {
		return l.constIn(v, want)
	}
	have := v.storedPerm()
	if permKey(have) == permKey(want) {
		return v.t
	}
	key := permKey(want)
	if t, ok := v.views[key]; ok {
		return t
	}
	// stored = logical∘have; we want logical∘want: stored dim j of the result is
	// logical want[j] = stored position inverse(have)[want[j]].
	inv := inverse(have)
	p := make([]int, len(want))
	for j, w := range want {
		p[j] = inv[w]
	}
	t := l.transpose(v.t, permute(v.shape, have), p, v.name, v.dtype)
	l.cache(v, key, t)
	return t
}

func (l *lowerer) cache(v *value, key string, t int32) {
	if v.views == nil {
		v.views = map[string]int32{}
	}
	v.views[key] = t
}

// transpose emits a TRANSPOSE (or a RESHAPE when only unit dimensions move) of tensor t of
// stored shape shape by perm.
func (l *lowerer) transpose(t int32, shape []int64, perm []int, name string, dt ir.DType) int32 {
	oshape := permute(shape, perm)
	if onlyUnitsMove(shape, perm) {
		return l.reshape(t, oshape, name+"_r", dt)
	}
	out := l.b.tensor(name+"_t", l.ttype(dt), oshape, nil, l.b.sg.Tensors[t].Quantization)
	p := make([]int32, len(perm))
	for i, x := range perm {
		p[i] = int32(x)
	}
	pt := l.b.tensor(name+"_perm", tfl.TensorTypeINT32, []int64{int64(len(p))}, i32bytes(p), nil)
	l.b.op(tfl.BuiltinOperatorTRANSPOSE, l.ver(1, 2), []int32{t, pt}, []int32{out}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsTransposeOptions, Value: &tfl.TransposeOptionsT{}})
	return out
}

func (l *lowerer) reshape(t int32, shape []int64, name string, dt ir.DType) int32 {
	return l.reshapeTo(t, l.b.tensor(name, l.ttype(dt), shape, nil, l.b.sg.Tensors[t].Quantization), shape)
}

func (l *lowerer) reshapeTo(t, out int32, shape []int64) int32 {
	s := i64sToI32(shape)
	// A dynamic batch stays dynamic: a reshape that keeps the leading dimension says -1.
	if in := l.b.shapeOf(t); l.dynBatch && len(s) > 1 && len(in) > 0 && in[0] == shape[0] && ir.NumElements(shape[1:]) > 0 {
		s[0] = -1
	}
	st := l.b.tensor("shape", tfl.TensorTypeINT32, []int64{int64(len(s))}, i32bytes(s), nil)
	l.b.op(tfl.BuiltinOperatorRESHAPE, 1, []int32{t, st}, []int32{out}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsReshapeOptions, Value: &tfl.ReshapeOptionsT{NewShape: s}})
	return out
}

// constIn returns a constant tensor of v's value stored with permutation want.
func (l *lowerer) constIn(v *value, want []int) int32 {
	key := "c" + permKey(want)
	if t, ok := v.views[key]; ok {
		return t
	}
	k := v.konst
	dt := k.DType
	data := k.Bytes()
	if dt == ir.Int64 { // TFLite index and shape inputs are int32
		vals := int64s(k)
		out := make([]int32, len(vals))
		for i, x := range vals {
			out[i] = int32(x)
		}
		data, dt = i32bytes(out), ir.Int32
	}
	if dt == ir.Float64 {
		f, _ := k.Float32s()
		data, dt = f32bytes(f), ir.Float32
	}
	size, _ := dt.ByteSize(1)
	if !isIdentity(want) {
		data = permuteData(data, k.Shape, want, int(size))
	}
	if l.int8 && dt == ir.Float32 {
		// a float constant an int8 op reads: per-tensor asymmetric int8
		f := bytesF32(data)
		lo, hi := float32(0), float32(0)
		for _, x := range f {
			lo, hi = min(lo, x), max(hi, x)
		}
		q := quantParamsFor(lo, hi)
		t := l.b.tensor(v.name, tfl.TensorTypeINT8, permute(k.Shape, want), quantizeAsym(f, q), q)
		l.cache(v, key, t)
		return t
	}
	t := l.constTensor(v.name, dt, permute(k.Shape, want), data)
	l.cache(v, key, t)
	return t
}

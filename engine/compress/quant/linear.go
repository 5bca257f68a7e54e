// Package quant quantizes a model's weights (and, in the dynamic and static modes, its
// activations) and converts models to float16 or bfloat16. Everything it emits is
// standard ONNX that onnxruntime runs: DequantizeLinear on the weights (weight-only,
// 8-bit per tensor or per channel, 4-bit block-wise with opset 21's block_size),
// DynamicQuantizeLinear + MatMulInteger (dynamic), QuantizeLinear/DequantizeLinear pairs
// around the activations (static, calibrated), Cast nodes around float32 islands (fp16).
package quant

import (
	"fmt"
	"math"
	"strings"
	"unsafe"

	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/ir"
)

// Options select what and how to quantize.
type Options struct {
	// Type is the integer type of the weights: Int8, Uint8, Int4 or Uint4.
	Type ir.DType
	// PerChannel gives every output channel its own scale (8-bit types).
	PerChannel bool
	// Symmetric fixes the zero point at the middle of the range (0 for signed types),
	// which the integer kernels run fastest with; otherwise the zero point is fitted to the
	// weights' minimum and maximum. 4-bit signed weights are always symmetric.
	Symmetric bool
	// BlockSize is the number of weights sharing a scale in 4-bit quantization (a power
	// of two ≥ 16; default 32).
	BlockSize int
	// Exclude leaves matching nodes in float.
	Exclude compress.Exclude
	// MaxLayerError is the accuracy guard: a layer whose worst output channel's relative
	// error ‖w_c − ŵ_c‖/‖w_c‖ would exceed it is kept in higher precision (per-channel
	// instead of per-tensor scales, int8 instead of int4, float32 instead of 8 bits), and
	// the report says which precision each layer got and why. 0 or less: no guard.
	MaxLayerError float64
}

// qrange is the integer range of a type.
func qrange(t ir.DType) (lo, hi int) {
	switch t {
	case ir.Int8:
		return -128, 127
	case ir.Uint8:
		return 0, 255
	case ir.Int4:
		return -8, 7
	case ir.Uint4:
		return 0, 15
	}
	panic(fmt.Sprintf("quant: no integer range for %v", t))
}

// scaleZP computes the scale and zero point mapping [mn, mx] onto t's range. The range
// is widened to hold 0, so that zero (padding, ReLU outputs, pruned weights) is exact.
// Symmetric: scale = max(|mn|, |mx|) / (the positive half of the range), zero point at
// the middle (0 for signed types, 128 or 8 for unsigned).
func scaleZP(mn, mx float32, t ir.DType, symmetric bool) (scale float32, zp int) {
	lo, hi := qrange(t)
	mn, mx = min(mn, 0), max(mx, 0)
	if symmetric {
		a := max(-mn, mx)
		half := (hi - lo) / 2 // 127 for 8 bits, 7 for 4 bits
		zp = 0
		if lo == 0 {
			zp = (hi + 1) / 2
		}
		if a == 0 {
			return 1, zp
		}
		return a / float32(half), zp
	}
	if mx == mn {
		return 1, clampInt(0, lo, hi)
	}
	scale = (mx - mn) / float32(hi-lo)
	zp = clampInt(int(math.RoundToEven(float64(lo)-float64(mn/scale))), lo, hi)
	return scale, zp
}

func clampInt(v, lo, hi int) int { return min(max(v, lo), hi) }

// quant8 holds a weight quantized to 8 bits.
type quant8 struct {
	data    []byte    // int8 or uint8 values, same layout as the float weight
	scale   []float32 // one per channel (or one)
	zp      []int     // one per scale
	relErr  float64   // ‖w − ŵ‖ / ‖w‖ of the values the model computes with afterwards
	chanErr float64   // the worst output channel's ‖w_c − ŵ_c‖ / ‖w_c‖
	dtype   ir.DType
	perAxis bool
}

// quantize8 quantizes w (shape, output-channel axis) to int8 or uint8, per tensor or per
// channel, with onnxruntime's rounding (round half to even, saturate) via accel.
func quantize8(w []float32, shape []int64, axis int, t ir.DType, perChannel, symmetric bool) *quant8 {
	outer, ch, inner := 1, 1, len(w)
	if perChannel {
		outer, ch, inner = compress.Channels(shape, axis)
	}
	mn := make([]float32, ch)
	mx := make([]float32, ch)
	for c := range mn {
		mn[c], mx[c] = float32(math.Inf(1)), float32(math.Inf(-1))
	}
	if !perChannel {
		mn[0], mx[0] = accel.MinMax(w)
	} else {
		for o := 0; o < outer; o++ {
			for c := 0; c < ch; c++ {
				lo, hi := accel.MinMax(w[(o*ch+c)*inner : (o*ch+c+1)*inner])
				mn[c], mx[c] = min(mn[c], lo), max(mx[c], hi)
			}
		}
	}
	q := &quant8{scale: make([]float32, ch), zp: make([]int, ch), dtype: t, perAxis: perChannel,
		data: make([]byte, len(w))}
	for c := range mn {
		if math.IsInf(float64(mn[c]), 0) { // empty or all NaN
			mn[c], mx[c] = 0, 0
		}
		q.scale[c], q.zp[c] = scaleZP(mn[c], mx[c], t, symmetric)
	}
	// The error is measured chunk by chunk (a whole number of channel periods each), so a
	// large weight needs no second float copy.
	period := ch * inner
	chunk := period * max(1, (1<<16)/period)
	deq := make([]float32, min(chunk, len(w)))
	var num, den float64
	// Per output channel (whatever the scales' granularity) for the worst-channel error.
	_, chA, innerA := compress.Channels(shape, axis)
	chNum, chDen := make([]float64, chA), make([]float64, chA)
	measure := func(lo, hi int) {
		for i, x := range w[lo:hi] {
			c := ((lo + i) / innerA) % chA
			d := float64(x) - float64(deq[i])
			chNum[c] += d * d
			chDen[c] += float64(x) * float64(x)
		}
		// Eight float32 lanes per chunk (vectorisable, and a chunk is short enough for
		// float32 sums to stay accurate to far better than the report's 4 digits), then
		// float64 across chunks.
		var n, dd [8]float32
		x := w[lo:hi]
		y := deq[:hi-lo]
		i := 0
		for ; i+8 <= len(x); i += 8 {
			for k := 0; k < 8; k++ {
				d := x[i+k] - y[i+k]
				n[k] += d * d
				dd[k] += x[i+k] * x[i+k]
			}
		}
		for ; i < len(x); i++ {
			d := x[i] - y[i]
			n[0] += d * d
			dd[0] += x[i] * x[i]
		}
		for k := 0; k < 8; k++ {
			num += float64(n[k])
			den += float64(dd[k])
		}
	}
	if t == ir.Int8 {
		dst := bytesAsInt8(q.data)
		zp := make([]int8, ch)
		for c := range zp {
			zp[c] = int8(q.zp[c])
		}
		accel.QuantizeS8Axis(dst, w, inner, q.scale, zp)
		for lo := 0; lo < len(w); lo += chunk {
			hi := min(lo+chunk, len(w))
			accel.DequantizeS8Axis(deq[:hi-lo], dst[lo:hi], inner, q.scale, zp)
			measure(lo, hi)
		}
	} else {
		zp := make([]uint8, ch)
		for c := range zp {
			zp[c] = uint8(q.zp[c])
		}
		accel.QuantizeU8Axis(q.data, w, inner, q.scale, zp)
		for lo := 0; lo < len(w); lo += chunk {
			hi := min(lo+chunk, len(w))
			accel.DequantizeU8Axis(deq[:hi-lo], q.data[lo:hi], inner, q.scale, zp)
			measure(lo, hi)
		}
	}
	if den > 0 {
		q.relErr = math.Sqrt(num / den)
	} else if num > 0 {
		q.relErr = math.Inf(1)
	}
	q.chanErr = worst(chNum, chDen)
	return q
}

// worst is the largest sqrt(num[c]/den[c]) over the channels (0-norm channels with no
// error count 0, with an error 1).
func worst(num, den []float64) float64 {
	e := 0.0
	for c := range num {
		switch {
		case den[c] > 0:
			e = max(e, math.Sqrt(num[c]/den[c]))
		case num[c] > 0:
			e = max(e, 1)
		}
	}
	return e
}

// ChannelError is the worst output channel's relative error between w and its
// reconstruction deq (both laid out as shape, output channels along axis).
func ChannelError(w, deq []float32, shape []int64, axis int) float64 {
	_, ch, inner := compress.Channels(shape, axis)
	num, den := make([]float64, ch), make([]float64, ch)
	for j, x := range w {
		c := (j / inner) % ch
		d := float64(x) - float64(deq[j])
		num[c] += d * d
		den[c] += float64(x) * float64(x)
	}
	return worst(num, den)
}

// plan8 is one layer's 8-bit quantization as decided before the graph changes: the
// matrix quantized (the weight, or a Gemm weight transposed for MatMulInteger), the
// result, and what the accuracy guard decided.
type plan8 struct {
	l     compress.Layer
	shape []int64 // the quantized matrix's shape
	q     *quant8 // nil: kept float32
	why   string  // why the guard changed the precision ("" if it did not)
}

// pick8 quantizes w (shape, output channels along axis) as o asks, then applies the
// accuracy guard: per-tensor scales whose worst channel exceeds o.MaxLayerError are
// redone per channel, and a layer still above it is kept float32 (q nil).
func pick8(l compress.Layer, w []float32, shape []int64, axis int, o Options) plan8 {
	p := plan8{l: l, shape: shape, q: quantize8(w, shape, axis, o.Type, o.PerChannel, o.Symmetric)}
	e := o.MaxLayerError
	if e <= 0 || p.q.chanErr <= e {
		return p
	}
	p.why = fmt.Sprintf("%s worst-channel error %.3g > %g", granularity(o.PerChannel), p.q.chanErr, e)
	if !o.PerChannel {
		q := quantize8(w, shape, axis, o.Type, true, o.Symmetric)
		if q.chanErr <= e {
			p.q = q
			return p
		}
		p.why += fmt.Sprintf(", per-channel %.3g", q.chanErr)
	}
	p.q = nil
	return p
}

func granularity(perChannel bool) string {
	if perChannel {
		return "per-channel"
	}
	return "per-tensor"
}

// keepFloat reports a layer the accuracy guard left in float32.
func keepFloat(r *compress.Report, p plan8) {
	r.Layers = append(r.Layers, compress.LayerReport{
		Node: p.l.Name(), Op: p.l.Node.OpType, Tensor: p.l.Weight.Name,
		ParamsBefore: p.l.Weight.NumElements(), ParamsAfter: p.l.Weight.NumElements(),
		Detail: "float32, kept by the accuracy guard (" + p.why + ")",
	})
}

// guardNote summarises the accuracy guard's decisions in the report's notes.
func guardNote(r *compress.Report, o Options) {
	if o.MaxLayerError <= 0 {
		return
	}
	changed := 0
	for _, l := range r.Layers {
		if strings.Contains(l.Detail, "accuracy guard") {
			changed++
		}
	}
	if changed == 0 {
		return
	}
	r.Notes = append(r.Notes, fmt.Sprintf("accuracy guard (max_layer_error %g, on each layer's worst output channel): %d of %d layers kept in higher precision", o.MaxLayerError, changed, len(r.Layers)))
}

// tensors returns the initializers of q: the quantized weight, its scale and zero point
// (scalars per tensor, 1-D per channel).
func (q *quant8) tensors(names *compress.Names, base string, shape []int64) (w, scale, zp *ir.Tensor) {
	w = mustTensor(names.New(base+"_quantized"), q.dtype, shape, q.data)
	sshape := []int64{}
	if q.perAxis {
		sshape = []int64{int64(len(q.scale))}
	}
	scale = compress.Float32Tensor(names.New(base+"_scale"), sshape, q.scale)
	zb := make([]byte, len(q.zp))
	for i, z := range q.zp {
		zb[i] = byte(int8(z)) // the two's complement byte for int8, the value for uint8
	}
	zp = mustTensor(names.New(base+"_zero_point"), q.dtype, sshape, zb)
	return w, scale, zp
}

func mustTensor(name string, t ir.DType, shape []int64, data []byte) *ir.Tensor {
	tt, err := ir.NewTensor(name, t, append([]int64(nil), shape...), data)
	if err != nil {
		panic(err) // sizes are computed here from the same shape
	}
	return tt
}

// detail describes a quantization for the report.
func detail(t ir.DType, perChannel, symmetric bool) string {
	s := t.String()
	if perChannel {
		s += " per-channel"
	} else {
		s += " per-tensor"
	}
	if symmetric {
		s += " symmetric"
	} else {
		s += " asymmetric"
	}
	return s
}

// insertBefore puts nodes into g right before the node at. Inserted nodes read only
// values available to at, so the topological order holds.
func insertBefore(g *ir.Graph, at *ir.Node, nodes ...*ir.Node) {
	for i, n := range g.Nodes {
		if n == at {
			g.Nodes = append(g.Nodes[:i], append(nodes, g.Nodes[i:]...)...)
			return
		}
	}
	panic("quant: node not in graph")
}

// insertAfter puts nodes into g right after the node at. Inserted nodes read only values
// available after at.
func insertAfter(g *ir.Graph, at *ir.Node, nodes ...*ir.Node) {
	for i, n := range g.Nodes {
		if n == at {
			g.Nodes = append(g.Nodes[:i+1], append(nodes, g.Nodes[i+1:]...)...)
			return
		}
	}
	panic("quant: node not in graph")
}

func attrInt(name string, v int64) *ir.Attribute {
	return &ir.Attribute{Name: name, Type: ir.AttrInt, Int: v}
}

// bytesAsInt8 views a byte slice as int8 (same size and alignment).
func bytesAsInt8(b []byte) []int8 {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*int8)(unsafe.Pointer(&b[0])), len(b))
}

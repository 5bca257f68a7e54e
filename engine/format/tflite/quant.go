package tflite

import (
	"math"

	"github.com/modelc/modelc/engine/format/tflite/schema/tfl"
	"github.com/modelc/modelc/engine/ir"
)

// weight returns the tensor of a constant weight stored with permutation perm, as the
// quantization mode asks: float32; float16 behind a DEQUANTIZE (fp16); or int8 with one
// scale per output channel along stored axis `axis` and zero point 0 (int8-dynamic,
// int8). The second result is the int8 quantization, nil for float weights.
func (l *lowerer) weight(v *value, perm []int, axis int, n *ir.Node) (int32, *tfl.QuantizationParametersT) {
	switch l.opts.Quantize {
	case "fp16":
		f, err := v.konst.Float32s()
		if err != nil {
			return l.constIn(v, perm), nil
		}
		h := make([]byte, 2*len(f))
		for i, x := range f {
			b := ir.Float32ToFloat16(x)
			h[2*i], h[2*i+1] = byte(b), byte(b>>8)
		}
		h = permuteData(h, v.shape, perm, 2)
		shape := permute(v.shape, perm)
		ht := l.b.tensor(v.name+"_fp16", tfl.TensorTypeFLOAT16, shape, h, nil)
		ft := l.b.tensor(v.name, tfl.TensorTypeFLOAT32, shape, nil, nil)
		l.b.op(tfl.BuiltinOperatorDEQUANTIZE, 3, []int32{ht}, []int32{ft}, nil)
		return ft, nil
	case "int8-dynamic", "int8":
		if l.opts.Quantize == "int8-dynamic" && n.OpType == "ConvTranspose" {
			return l.constIn(v, perm), nil // no hybrid TRANSPOSE_CONV kernel
		}
		f, err := v.konst.Float32s()
		if err != nil {
			return l.constIn(v, perm), nil
		}
		f = bytesF32(permuteData(f32bytes(f), v.shape, perm, 4))
		shape := permute(v.shape, perm)
		perTensor := l.opts.Quantize == "int8-dynamic" && (n.OpType == "Gemm" || n.OpType == "MatMul")
		q, scales := quantizeSymmetric(f, shape, axis, perTensor)
		qp := &tfl.QuantizationParametersT{Scale: scales, ZeroPoint: make([]int64, len(scales)), QuantizedDimension: int32(axis)}
		if perTensor {
			qp.QuantizedDimension = 0
		}
		return l.b.tensor(v.name+"_int8", tfl.TensorTypeINT8, shape, q, qp), qp
	}
	return l.constIn(v, perm), nil
}

func bytesF32(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
	}
	return out
}

// quantizeSymmetric quantizes f (row-major, shape) to int8 in [-127, 127] with one scale per
// index of axis (or one in all), zero point 0.
func quantizeSymmetric(f []float32, shape []int64, axis int, perTensor bool) ([]byte, []float32) {
	nch := int64(1)
	inner := int64(1)
	if !perTensor {
		nch = shape[axis]
		inner = ir.NumElements(shape[axis+1:])
	}
	ch := func(i int) int64 {
		if perTensor {
			return 0
		}
		return (int64(i) / inner) % nch
	}
	amax := make([]float32, nch)
	for i, x := range f {
		c := ch(i)
		amax[c] = max(amax[c], float32(math.Abs(float64(x))))
	}
	scales := make([]float32, nch)
	for c, a := range amax {
		scales[c] = a / 127
		if a == 0 {
			scales[c] = 1
		}
	}
	q := make([]byte, len(f))
	for i, x := range f {
		v := math.RoundToEven(float64(x / scales[ch(i)]))
		q[i] = byte(int8(min(max(v, -127), 127)))
	}
	return q, scales
}

// bias returns the bias tensor of a conv or fully connected op with M outputs: float32,
// or int32 with scale input_scale·weight_scale for a full-integer model.
func (l *lowerer) bias(bv *value, M int64, in int32, wq *tfl.QuantizationParametersT, n *ir.Node) int32 {
	var f []float32
	if bv != nil {
		f, _ = floats(bv.konst)
	}
	if len(f) != int(M) {
		f = make([]float32, M)
	}
	if l.int8 && wq != nil {
		iq := l.b.sg.Tensors[in].Quantization
		is := float32(1)
		if iq != nil && len(iq.Scale) == 1 {
			is = iq.Scale[0]
		}
		scales := make([]float32, M)
		q := make([]int32, M)
		for c := range M {
			ws := wq.Scale[0]
			if len(wq.Scale) == int(M) {
				ws = wq.Scale[c]
			}
			scales[c] = is * ws
			q[c] = int32(math.RoundToEven(float64(f[c] / scales[c])))
		}
		qp := &tfl.QuantizationParametersT{Scale: scales, ZeroPoint: make([]int64, M)}
		return l.b.tensor(n.Outputs[0]+"_bias", tfl.TensorTypeINT32, []int64{M}, i32bytes(q), qp)
	}
	return l.b.tensor(n.Outputs[0]+"_bias", tfl.TensorTypeFLOAT32, []int64{M}, f32bytes(f), nil)
}

// weightVersion raises an op's version for int8 weights: int8v for full-integer models,
// hybridv for dynamic-range (float activations, int8 weights).
func (l *lowerer) weightVersion(v int32, wq *tfl.QuantizationParametersT, int8v, hybridv int32) int32 {
	switch {
	case l.int8:
		return max(v, int8v)
	case wq != nil:
		return max(v, hybridv)
	}
	return v
}

// actQuant is the int8 quantization of a float activation of a full-integer model,
// from its calibrated range (nil in other modes, or without a range).
func (l *lowerer) actQuant(name string) *tfl.QuantizationParametersT {
	if !l.int8 {
		return nil
	}
	r, ok := l.opts.Ranges[name]
	if !ok {
		return nil
	}
	return quantParamsFor(r[0], r[1])
}

// quantParamsFor is the per-tensor asymmetric int8 quantization of [lo, hi] (widened to
// hold 0, which must be exact).
func quantParamsFor(lo, hi float32) *tfl.QuantizationParametersT {
	lo, hi = min(lo, 0), max(hi, 0)
	scale := (hi - lo) / 255
	if scale == 0 {
		scale = 1
	}
	zp := math.Round(float64(-128 - lo/scale))
	zp = min(max(zp, -128), 127)
	return &tfl.QuantizationParametersT{Scale: []float32{scale}, ZeroPoint: []int64{int64(zp)}}
}

func quantizeAsym(f []float32, q *tfl.QuantizationParametersT) []byte {
	out := make([]byte, len(f))
	for i, x := range f {
		v := math.RoundToEven(float64(x/q.Scale[0])) + float64(q.ZeroPoint[0])
		out[i] = byte(int8(min(max(v, -128), 127)))
	}
	return out
}

// sameQuant gives tensor out the quantization of tensor in (ops whose int8 kernels keep
// the scale: pools, reshapes, pads, slices, gathers, resizes).
func (l *lowerer) sameQuant(out, in int32) {
	if l.int8 {
		l.b.sg.Tensors[out].Quantization = l.b.sg.Tensors[in].Quantization
	}
}

// fixedQuant sets the output quantization the int8 kernels of SOFTMAX, LOGISTIC and TANH
// require.
func (l *lowerer) fixedQuant(out int32, code tfl.BuiltinOperator) {
	if !l.int8 {
		return
	}
	switch code {
	case tfl.BuiltinOperatorSOFTMAX, tfl.BuiltinOperatorLOGISTIC:
		l.b.sg.Tensors[out].Quantization = &tfl.QuantizationParametersT{Scale: []float32{1.0 / 256}, ZeroPoint: []int64{-128}}
	case tfl.BuiltinOperatorTANH:
		l.b.sg.Tensors[out].Quantization = &tfl.QuantizationParametersT{Scale: []float32{1.0 / 128}, ZeroPoint: []int64{0}}
	}
}

// qdq reads the QDQ form of a model modelc (or onnxruntime) quantized: a DequantizeLinear
// of a constant becomes the float constant it stands for (which --quantize int8 quantizes
// again, per channel); a QuantizeLinear → DequantizeLinear pair on an activation is the
// float value itself.
func (l *lowerer) qdq(n *ir.Node) error {
	x, err := l.in(n, 0)
	if err != nil {
		return err
	}
	if n.OpType == "QuantizeLinear" {
		for _, c := range l.consumers[n.Outputs[0]] {
			if c.OpType != "DequantizeLinear" {
				return unsupported(n, "a QuantizeLinear read by %s (not a DequantizeLinear) has no float equivalent", c.DisplayName())
			}
		}
		if l.outputs[n.Outputs[0]] {
			return unsupported(n, "a quantized graph output")
		}
		if l.int8 {
			l.vals[n.Outputs[0]] = x // its grid is the int8 tensor's (see engine's calibration)
			return nil
		}
		// In float, DequantizeLinear(QuantizeLinear(x)) still clamps x to the integer
		// range (quantizers let that clamp stand for a ReLU): keep the clamp.
		lo, hi, ok := l.qdqRange(n)
		if !ok {
			return unsupported(n, "the scale and zero point must be constants")
		}
		name := n.Outputs[0]
		v := l.binaryOp(name+"_clamp_lo", tfl.BuiltinOperatorMAXIMUM, x, constF32(name+"_lo", nil, []float32{lo}), tfl.ActivationFunctionTypeNONE)
		l.vals[name] = l.binaryOp(name, tfl.BuiltinOperatorMINIMUM, v, constF32(name+"_hi", nil, []float32{hi}), tfl.ActivationFunctionTypeNONE)
		return nil
	}
	if x.konst == nil {
		l.vals[n.Outputs[0]] = x // the DequantizeLinear of a QuantizeLinear above
		return nil
	}
	q, err := x.konst.Float32s()
	if err != nil {
		return unsupported(n, "%v", err)
	}
	sv, err := l.in(n, 1)
	if err != nil || sv.konst == nil {
		return unsupported(n, "the scale must be a constant")
	}
	scale, err := floats(sv.konst)
	if err != nil {
		return unsupported(n, "%v", err)
	}
	zp := make([]float32, len(scale))
	if zv := l.optIn(n, 2); zv != nil {
		if zv.konst == nil {
			return unsupported(n, "the zero point must be a constant")
		}
		if zp, err = floats(zv.konst); err != nil || len(zp) != len(scale) {
			return unsupported(n, "zero points do not match the scales")
		}
	}
	shape := x.konst.Shape
	axis := normAxis(attrInt(n, "axis", 1), len(shape))
	inner := int64(1)
	if len(scale) > 1 {
		if axis >= len(shape) || shape[axis] != int64(len(scale)) || attrInt(n, "block_size", 0) != 0 {
			return unsupported(n, "%d scales for shape %v along axis %d (blocked scales are not supported)", len(scale), shape, axis)
		}
		inner = ir.NumElements(shape[axis+1:])
	}
	f := make([]float32, len(q))
	for i, v := range q {
		c := 0
		if len(scale) > 1 {
			c = int((int64(i) / inner) % int64(len(scale)))
		}
		f[i] = (v - zp[c]) * scale[c]
	}
	l.vals[n.Outputs[0]] = constF32(n.Outputs[0], shape, f)
	return nil
}

// qdqRange is the real range [lo, hi] a per-tensor QuantizeLinear can represent.
func (l *lowerer) qdqRange(n *ir.Node) (lo, hi float32, ok bool) {
	if len(n.Inputs) < 2 {
		return 0, 0, false
	}
	sc, ok := l.scalarConst(n.Inputs[1])
	if !ok {
		return 0, 0, false
	}
	qmin, qmax, zp := float32(0), float32(255), float32(0) // uint8 without a zero point
	if len(n.Inputs) > 2 && n.Inputs[2] != "" {
		zv := l.vals[n.Inputs[2]]
		if zv == nil || zv.konst == nil {
			return 0, 0, false
		}
		if zp, ok = l.scalarConst(n.Inputs[2]); !ok {
			return 0, 0, false
		}
		switch zv.konst.DType {
		case ir.Int8:
			qmin, qmax = -128, 127
		case ir.Uint16:
			qmax = 65535
		case ir.Int16:
			qmin, qmax = -32768, 32767
		}
	}
	return (qmin - zp) * sc, (qmax - zp) * sc, true
}

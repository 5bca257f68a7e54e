package tf

// SavedModel export of the ops that compute shapes at run time (Shape, Gather, Concat,
// Unsqueeze, Slice, Cast, ConstantOfShape, Range, Expand feeding a Reshape: what a model
// with a dynamic batch size exports), reductions, and 1-D and grouped convolutions.

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"

	"github.com/modelc/modelc/engine/ir"
)

// constInts reads ONNX value v as integers when it is an int64 or int32 constant.
func (e *exporter) constInts(v string) ([]int64, bool) {
	c, ok := e.consts[v]
	if !ok || (c.DType != ir.Int64 && c.DType != ir.Int32) {
		return nil, false
	}
	b := c.Bytes()
	if c.DType == ir.Int32 {
		out := make([]int64, len(b)/4)
		for i := range out {
			out[i] = int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
		}
		return out, true
	}
	out := make([]int64, len(b)/8)
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return out, true
}

// constI64 adds an int64 vector constant.
func (e *exporter) constI64(base string, v ...int64) string {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	t, _ := ir.NewTensor(base, ir.Int64, []int64{int64(len(v))}, b)
	s, _ := e.constTensor(base, t)
	return s
}

// axesOf reads a node's axes: the attribute (older opsets) or the constant input i.
func (e *exporter) axesOf(n *ir.Node, i int) ([]int64, bool) {
	if a := n.Attr("axes"); a != nil {
		return a.Ints, true
	}
	if i < len(n.Inputs) && n.Inputs[i] != "" {
		return e.constInts(n.Inputs[i])
	}
	return nil, true
}

// moreOps maps the ops of this file; ok is false for an op it does not know.
func (e *exporter) moreOps(n *ir.Node, unsupported func(string, ...any) error) (ok bool, err error) {
	out := n.Outputs[0]
	in := func(i int) (string, error) {
		if i >= len(n.Inputs) || n.Inputs[i] == "" {
			return "", unsupported("input %d missing", i)
		}
		return e.cf(n.Inputs[i])
	}
	// The inputs each op reads by position (node has checked there is a first).
	if need := map[string]int{"Slice": 3, "ConvTranspose": 2, "Resize": 2, "PRelu": 2, "Expand": 2, "Range": 3}[n.OpType]; len(n.Inputs) < need {
		return true, unsupported("%d inputs, %d needed", len(n.Inputs), need)
	}
	rank0 := e.rank[n.Inputs[0]]
	dt0 := e.dt(n.Inputs[0])
	T := attrType("T", dt0)
	set := func(s string, rank int, dtype uint64) {
		e.layout[out] = s
		e.rank[out] = rank
		if dtype == dtFloat {
			delete(e.dtype, out)
		} else {
			e.dtype[out] = dtype
		}
	}
	switch n.OpType {
	case "Shape":
		x, err := in(0)
		if err != nil {
			return true, err
		}
		s := e.add("Shape", out, []string{x}, T, attrType("out_type", dtInt64))
		start, end := nodeInt(n, "start", 0), nodeInt(n, "end", math.MaxInt32)
		defer func() { e.length[out] = sliceLength(rank0, start, end) }()
		if start != 0 || end < int64(rank0) {
			s = e.add("StridedSlice", out+"_part", []string{s, e.constI32(out+"_b", start), e.constI32(out+"_e", end), e.constI32(out+"_s", 1)},
				attrType("T", dtInt64), attrType("Index", dtInt32), attrInt("end_mask", boolInt(end >= int64(rank0))))
		}
		set(s, 1, dtInt64)
		return true, nil
	case "Unsqueeze", "Squeeze":
		axes, ok := e.axesOf(n, 1)
		if !ok {
			return true, unsupported("axes must be constant")
		}
		x, err := in(0)
		if err != nil {
			return true, err
		}
		if n.OpType == "Squeeze" {
			for i := range axes {
				if axes[i] < 0 {
					axes[i] += int64(rank0)
				}
			}
			var attrs []tfAttr
			r := rank0 - len(axes)
			if len(axes) > 0 {
				attrs = append(attrs, attrInts("squeeze_dims", axes...))
			} else if e.rank[n.Inputs[0]] == 0 {
				return true, unsupported("squeezing all unit axes of a tensor of unknown rank")
			}
			set(e.add("Squeeze", out, []string{x}, append(attrs, T)...), r, dt0)
			return true, nil
		}
		r := rank0 + len(axes)
		for i := range axes {
			if axes[i] < 0 {
				axes[i] += int64(r)
			}
		}
		sort.Slice(axes, func(i, j int) bool { return axes[i] < axes[j] })
		for i, a := range axes {
			x = e.add("ExpandDims", fmt.Sprintf("%s_%d", out, i), []string{x, e.scalarI32(fmt.Sprintf("%s_axis%d", out, i), a)}, T, attrType("Tdim", dtInt32))
		}
		set(x, r, dt0)
		if rank0 == 0 && len(axes) == 1 {
			e.length[out] = 1
		}
		return true, nil
	case "ConstantOfShape":
		dims, err := in(0)
		if err != nil {
			return true, err
		}
		value, _ := ir.NewTensor(out+"_value", ir.Float32, []int64{}, make([]byte, 4))
		if a := n.Attr("value"); a != nil && a.Tensor != nil {
			value, _ = ir.NewTensor(out+"_value", a.Tensor.DType, []int64{}, a.Tensor.Bytes())
		}
		v, err := e.constTensor(out+"_value", value)
		if err != nil {
			return true, err
		}
		length, ok := e.vectorLength(n.Inputs[0])
		if !ok {
			return true, unsupported("a shape of unknown length")
		}
		set(e.add("Fill", out, []string{dims, v}, attrType("T", e.dtOfTensor(value)), attrType("index_type", dtInt64)), length, e.dtOfTensor(value))
		return true, nil
	case "Expand":
		// ONNX broadcasts both ways (a dimension of the shape may be 1 where x's is not):
		// multiplying by ones of the shape does that too.
		x, err := in(0)
		if err != nil {
			return true, err
		}
		dims, err := in(1)
		if err != nil {
			return true, err
		}
		one := e.add("Cast", out+"_one", []string{e.scalarI32(out+"_one_i", 1)}, attrType("SrcT", dtInt32), attrType("DstT", dt0))
		ones := e.add("Fill", out+"_ones", []string{dims, one}, T, attrType("index_type", dtInt64))
		length, ok := e.vectorLength(n.Inputs[1])
		if !ok {
			return true, unsupported("a shape of unknown length")
		}
		set(e.add("Mul", out, []string{x, ones}, T), max(rank0, length), dt0)
		return true, nil
	case "Range":
		var ins []string
		for i := 0; i < 3; i++ {
			x, err := in(i)
			if err != nil {
				return true, err
			}
			ins = append(ins, x)
		}
		set(e.add("Range", out, ins, attrType("Tidx", dt0)), 1, dt0)
		return true, nil
	case "Slice":
		// starts and ends may be computed at run time (from a Shape); axes and steps are
		// constants. TensorFlow's StridedSlice clamps out-of-range bounds as ONNX does.
		axes, ok := e.axesOf(n, 3)
		var steps []int64
		if ok && len(n.Inputs) > 4 && n.Inputs[4] != "" {
			steps, ok = e.constInts(n.Inputs[4])
		}
		if !ok || rank0 == 0 {
			return true, unsupported("only constant axes and steps on a tensor of known rank")
		}
		starts, constStarts := e.constInts(n.Inputs[1])
		ends, constEnds := e.constInts(n.Inputs[2])
		if axes == nil {
			count := len(starts)
			if !constStarts {
				l, known := e.vectorLength(n.Inputs[1])
				if !known {
					return true, unsupported("starts of unknown length and no axes")
				}
				count = l
			}
			for i := 0; i < count; i++ {
				axes = append(axes, int64(i))
			}
		}
		at := map[int64]int{} // axis → its position in starts/ends
		stride := make([]int64, rank0)
		var mask int64 // the axes not sliced: all of them
		for i := range stride {
			stride[i] = 1
		}
		for k, a := range axes {
			if a < 0 {
				a += int64(rank0)
			}
			if a < 0 || a >= int64(rank0) {
				return true, unsupported("axes %v", axes)
			}
			at[a] = k
			if steps != nil {
				stride[a] = steps[k]
			}
		}
		for i := 0; i < rank0; i++ {
			if _, sliced := at[int64(i)]; !sliced {
				mask |= 1 << i
			}
		}
		bound := func(which string, v string, vals []int64, known bool) (string, error) {
			if known {
				full := make([]int64, rank0)
				for a, k := range at {
					if k >= len(vals) {
						return "", unsupported("%d %s for axes %v", len(vals), which, axes)
					}
					full[a] = min(max(vals[k], math.MinInt64/2), math.MaxInt64/2)
				}
				return e.constI64(out+"_"+which, full...), nil
			}
			src, err := e.cf(v)
			if err != nil {
				return "", err
			}
			if e.dt(v) != dtInt64 {
				src = e.add("Cast", out+"_"+which+"_i64", []string{src}, attrType("SrcT", e.dt(v)), attrType("DstT", dtInt64))
			}
			var parts []string
			for i := 0; i < rank0; i++ {
				k, sliced := at[int64(i)]
				if !sliced {
					parts = append(parts, e.constI64(fmt.Sprintf("%s_%s%d", out, which, i), 0))
					continue
				}
				parts = append(parts, e.add("StridedSlice", fmt.Sprintf("%s_%s%d", out, which, i), []string{src, e.constI32(out+"_kb", int64(k)), e.constI32(out+"_ke", int64(k+1)), e.constI32(out+"_ks", 1)},
					attrType("T", dtInt64), attrType("Index", dtInt32)))
			}
			parts = append(parts, e.scalarI32(out+"_"+which+"_axis", 0))
			return e.add("ConcatV2", out+"_"+which, parts, attrInt("N", int64(rank0)), attrType("T", dtInt64), attrType("Tidx", dtInt32)), nil
		}
		begin, err := bound("begin", n.Inputs[1], starts, constStarts)
		if err != nil {
			return true, err
		}
		end, err := bound("end", n.Inputs[2], ends, constEnds)
		if err != nil {
			return true, err
		}
		x, err := in(0)
		if err != nil {
			return true, err
		}
		set(e.add("StridedSlice", out, []string{x, begin, end, e.constI64(out+"_strides", stride...)},
			T, attrType("Index", dtInt64), attrInt("begin_mask", mask), attrInt("end_mask", mask)), rank0, dt0)
		if rank0 == 1 && constStarts && constEnds && stride[0] == 1 {
			if l, ok := e.vectorLength(n.Inputs[0]); ok {
				e.length[out] = sliceLength(l, starts[0], ends[0])
			}
		}
		return true, nil
	case "PRelu":
		// max(x, 0) + slope·min(x, 0), in ONNX's layout where slope broadcasts.
		x, err := in(0)
		if err != nil {
			return true, err
		}
		slope, err := in(1)
		if err != nil {
			return true, err
		}
		neg := e.add("Minimum", out+"_neg", []string{x, e.constF(out+"_zero", []int64{}, []float32{0})}, T)
		set(e.add("AddV2", out, []string{e.add("Relu", out+"_pos", []string{x}, T), e.add("Mul", out+"_scaled", []string{slope, neg}, T)}, T), max(rank0, e.rank[n.Inputs[1]]), dt0)
		return true, nil
	case "Sum":
		y, err := in(0)
		if err != nil {
			return true, err
		}
		r := rank0
		for i := 1; i < len(n.Inputs); i++ {
			x, err := in(i)
			if err != nil {
				return true, err
			}
			y = e.add("AddV2", fmt.Sprintf("%s_%d", out, i), []string{y, x}, T)
			r = max(r, e.rank[n.Inputs[i]])
		}
		if len(n.Inputs) == 1 {
			y = e.add("Identity", out, []string{y}, T)
		}
		set(y, r, dt0)
		return true, nil
	case "HardSigmoid", "HardSwish":
		// min(max(alpha·x + beta, 0), 1), times x for HardSwish; elementwise, so in
		// whichever layout x has.
		x, nhwc := e.nhwc[n.Inputs[0]]
		if !nhwc || e.layout[n.Inputs[0]] != "" {
			if x, err = in(0); err != nil {
				return true, err
			}
			nhwc = false
		}
		alpha, beta := nodeFloat(n, "alpha", 0.2), nodeFloat(n, "beta", 0.5)
		if n.OpType == "HardSwish" {
			alpha = 1.0 / 6
		}
		y := e.add("AddV2", out+"_lin", []string{e.add("Mul", out+"_scaled", []string{x, e.constF(out+"_alpha", []int64{}, []float32{alpha})}, T),
			e.constF(out+"_beta", []int64{}, []float32{beta})}, T)
		y = e.add("Minimum", out+"_clip", []string{e.add("Relu", out+"_pos", []string{y}, T), e.constF(out+"_one", []int64{}, []float32{1})}, T)
		if n.OpType == "HardSwish" {
			y = e.add("Mul", out, []string{x, y}, T)
		}
		if nhwc {
			e.nhwc[out] = y
			e.rank[out] = rank0
		} else {
			set(y, rank0, dt0)
		}
		return true, nil
	case "ConvTranspose":
		return true, e.convTranspose(n, unsupported)
	case "Resize":
		return true, e.resize(n, unsupported)
	case "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd":
		axes, ok := e.axesOf(n, 1) // an attribute before opset 18 (13 for ReduceSum)
		if !ok {
			return true, unsupported("axes must be constant")
		}
		if len(axes) == 0 {
			if nodeInt(n, "noop_with_empty_axes", 0) != 0 {
				x, err := in(0)
				if err != nil {
					return true, err
				}
				set(e.add("Identity", out, []string{x}, T), rank0, dt0)
				return true, nil
			}
			for i := 0; i < rank0; i++ {
				axes = append(axes, int64(i))
			}
		}
		keep := nodeInt(n, "keepdims", 1) != 0
		x, err := in(0)
		if err != nil {
			return true, err
		}
		op := map[string]string{"ReduceMean": "Mean", "ReduceSum": "Sum", "ReduceMax": "Max", "ReduceMin": "Min", "ReduceProd": "Prod"}[n.OpType]
		r := rank0
		if !keep {
			r -= len(axes)
		}
		set(e.add(op, out, []string{x, e.constI32(out+"_axes", axes...)}, T, attrType("Tidx", dtInt32), attrBool("keep_dims", keep)), r, dt0)
		return true, nil
	}
	return false, nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// sliceLength is the length of v[start:end] for a vector of length l, as ONNX clamps.
func sliceLength(l int, start, end int64) int {
	clamp := func(i int64) int64 {
		if i < 0 {
			i += int64(l)
		}
		return min(max(i, 0), int64(l))
	}
	return int(max(clamp(end)-clamp(start), 0))
}

func (e *exporter) dtOfTensor(t *ir.Tensor) uint64 {
	switch t.DType {
	case ir.Int64:
		return dtInt64
	case ir.Int32:
		return dtInt32
	}
	return dtFloat
}

// vectorLength is the number of elements of a 1-D value computed at run time (a shape),
// where the graph fixes it.
func (e *exporter) vectorLength(v string) (int, bool) {
	if c, ok := e.consts[v]; ok {
		return int(c.NumElements()), true
	}
	l, ok := e.length[v]
	return l, ok
}

func boolIntN(b bool) int { return int(boolInt(b)) }

// expand1D returns rank-3 ONNX value v (N, C, L) channels-last with a unit height,
// (N, 1, L, C), for the 2-D kernels that run 1-D convolutions and pools.
func (e *exporter) expand1D(v string) (string, error) {
	x, ok := e.nhwc[v] // (N, L, C)
	if !ok {
		cf, err := e.cf(v)
		if err != nil {
			return "", err
		}
		x = e.add("Transpose", v+"_nlc", []string{cf, e.constI32(v+"_nlc_perm", 0, 2, 1)}, attrType("T", dtFloat), attrType("Tperm", dtInt32))
		e.nhwc[v] = x
	}
	return e.add("ExpandDims", v+"_n1lc", []string{x, e.scalarI32(v+"_n1lc_axis", 1)}, attrType("T", dtFloat), attrType("Tdim", dtInt32)), nil
}

// as2D is a 1-D Conv or pool node with its spatial attributes lifted to 2-D, height 1.
func as2D(n *ir.Node) *ir.Node {
	m := *n
	m.Attrs = nil
	for _, a := range n.Attrs {
		b := *a
		switch a.Name {
		case "kernel_shape", "strides", "dilations":
			b.Ints = append([]int64{1}, a.Ints...)
		case "pads":
			if len(a.Ints) == 2 {
				b.Ints = []int64{0, a.Ints[0], 0, a.Ints[1]}
			}
		}
		m.Attrs = append(m.Attrs, &b)
	}
	return &m
}

// spatialDims reads the run-time height and width of a channels-last tensor as int32s.
func (e *exporter) spatialDims(out, x string) (dims, n, h, w string) {
	dims = e.add("Shape", out+"_dims", []string{x}, attrType("T", dtFloat), attrType("out_type", dtInt32))
	dim := func(i int64) string {
		return e.add("StridedSlice", fmt.Sprintf("%s_dim%d", out, i), []string{dims, e.constI32(out+"_db", i), e.constI32(out+"_de", i+1), e.constI32(out+"_ds", 1)},
			attrType("T", dtInt32), attrType("Index", dtInt32), attrInt("shrink_axis_mask", 1))
	}
	return dims, dim(0), dim(1), dim(2)
}

// convTranspose maps a 2-D ConvTranspose to Conv2DBackpropInput: the full output
// ((H-1)·stride + kernel + output_padding), VALID, then cropped by the pads.
func (e *exporter) convTranspose(n *ir.Node, unsupported func(string, ...any) error) error {
	out := n.Outputs[0]
	w, ok := e.consts[n.Inputs[1]]
	if !ok || len(w.Shape) != 4 {
		return unsupported("only 2-D transposed convolutions with constant weights")
	}
	if nodeInt(n, "group", 1) != 1 || n.Attr("output_shape") != nil {
		return unsupported("group and output_shape are not supported")
	}
	if a := n.Attr("auto_pad"); a != nil && string(a.String) != "NOTSET" && string(a.String) != "" {
		return unsupported("auto_pad %s", a.String)
	}
	for _, d := range nodeInts(n, "dilations", []int64{1, 1}) {
		if d != 1 {
			return unsupported("dilations (TensorFlow's CPU kernel has none)")
		}
	}
	k := []int64{w.Shape[2], w.Shape[3]}
	strides := nodeInts(n, "strides", []int64{1, 1})
	outPad := nodeInts(n, "output_padding", []int64{0, 0})
	pads := nodeInts(n, "pads", []int64{0, 0, 0, 0})
	if len(strides) != 2 || len(outPad) != 2 || len(pads) != 4 {
		return unsupported("only 2-D settings")
	}
	wv, err := w.Float32s()
	if err != nil {
		return unsupported("%v", err)
	}
	x, err := e.cl(n.Inputs[0])
	if err != nil {
		return err
	}
	T := attrType("T", dtFloat)
	_, batch, h, wd := e.spatialDims(out, x)
	full := func(i int, d string) string {
		scaled := e.add("Mul", fmt.Sprintf("%s_full%d_s", out, i), []string{e.add("Sub", fmt.Sprintf("%s_full%d_m", out, i), []string{d, e.scalarI32(out+"_one", 1)}, attrType("T", dtInt32)),
			e.scalarI32(fmt.Sprintf("%s_stride%d", out, i), strides[i])}, attrType("T", dtInt32))
		return e.add("AddV2", fmt.Sprintf("%s_full%d", out, i), []string{scaled, e.scalarI32(fmt.Sprintf("%s_extra%d", out, i), k[i])}, attrType("T", dtInt32))
	}
	sizes := e.add("Pack", out+"_sizes", []string{batch, full(0, h), full(1, wd), e.scalarI32(out+"_channels", w.Shape[1])}, attrType("T", dtInt32), attrInt("N", 4), attrInt("axis", 0))
	fv, fs := permute(wv, w.Shape, []int{2, 3, 1, 0}) // (C_in, C_out, kH, kW) → (kH, kW, C_out, C_in)
	y := e.add("Conv2DBackpropInput", out, []string{sizes, e.constF(n.Inputs[1]+"_hwoi", fs, fv), x}, T,
		attrInts("strides", 1, strides[0], strides[1], 1), attrStr("padding", "VALID"))
	if outPad[0] != 0 || outPad[1] != 0 {
		// output_padding rows and columns receive no input: zeros after the VALID
		// output, an explicit Pad rather than a larger input_sizes, so that readers
		// which take the output size from the filter (modelc's own) get it right.
		y = e.add("Pad", out+"_outpad", []string{y, e.paddings4(out+"_outpaddings", 0, 0, 0, outPad[0], 0, outPad[1], 0, 0)}, T, attrType("Tpaddings", dtInt32))
	}
	if pads[0] != 0 || pads[1] != 0 || pads[2] != 0 || pads[3] != 0 {
		endMask := int64(1 | 8)
		if pads[2] == 0 {
			endMask |= 2
		}
		if pads[3] == 0 {
			endMask |= 4
		}
		y = e.add("StridedSlice", out+"_crop", []string{y, e.constI32(out+"_cb", 0, pads[0], pads[1], 0), e.constI32(out+"_ce", 0, -pads[2], -pads[3], 0), e.constI32(out+"_cs", 1, 1, 1, 1)},
			T, attrType("Index", dtInt32), attrInt("begin_mask", 1|8), attrInt("end_mask", endMask))
	}
	if len(n.Inputs) > 2 && n.Inputs[2] != "" {
		b, err := e.cf(n.Inputs[2])
		if err != nil {
			return err
		}
		y = e.add("BiasAdd", out+"_bias", []string{y, b}, T)
	}
	e.nhwc[out] = y
	e.rank[out] = 4
	return nil
}

// resize maps a 2-D Resize with constant scales or sizes to ResizeNearestNeighbor
// (nearest, asymmetric, floor: Keras' UpSampling2D) or ResizeBilinear (linear,
// half_pixel or align_corners), channels-last.
func (e *exporter) resize(n *ir.Node, unsupported func(string, ...any) error) error {
	out := n.Outputs[0]
	if e.rank[n.Inputs[0]] != 4 {
		return unsupported("only 4-D input")
	}
	attr := func(name, def string) string {
		if a := n.Attr(name); a != nil {
			return string(a.String)
		}
		return def
	}
	mode, coords := attr("mode", "nearest"), attr("coordinate_transformation_mode", "half_pixel")
	var op string
	var attrs []tfAttr
	switch {
	case mode == "nearest" && coords == "asymmetric" && attr("nearest_mode", "round_prefer_floor") == "floor":
		op = "ResizeNearestNeighbor"
	case mode == "linear" && (coords == "half_pixel" || coords == "pytorch_half_pixel"):
		op, attrs = "ResizeBilinear", []tfAttr{attrBool("half_pixel_centers", true)}
	case mode == "linear" && coords == "align_corners":
		op, attrs = "ResizeBilinear", []tfAttr{attrBool("align_corners", true)}
	default:
		return unsupported("mode %s with %s coordinates", mode, coords)
	}
	x, err := e.cl(n.Inputs[0])
	if err != nil {
		return err
	}
	var size string
	if len(n.Inputs) > 3 && n.Inputs[3] != "" {
		sz, ok := e.constInts(n.Inputs[3])
		if !ok || len(sz) != 4 {
			return unsupported("sizes must be a constant of 4")
		}
		size = e.constI32(out+"_size", sz[2], sz[3])
	} else {
		c, ok := e.consts[n.Inputs[min(2, len(n.Inputs)-1)]]
		var sc []float32
		if ok {
			sc, _ = c.Float32s()
		}
		if len(sc) != 4 || sc[0] != 1 || sc[1] != 1 || sc[2] != float32(int64(sc[2])) || sc[3] != float32(int64(sc[3])) {
			return unsupported("only constant whole-number scales of height and width")
		}
		dims, _, _, _ := e.spatialDims(out, x)
		hw := e.add("StridedSlice", out+"_hw", []string{dims, e.constI32(out+"_hwb", 1), e.constI32(out+"_hwe", 3), e.constI32(out+"_hws", 1)},
			attrType("T", dtInt32), attrType("Index", dtInt32))
		size = e.add("Mul", out+"_size", []string{hw, e.constI32(out+"_scales", int64(sc[2]), int64(sc[3]))}, attrType("T", dtInt32))
	}
	e.nhwc[out] = e.add(op, out, []string{x, size}, append([]tfAttr{attrType("T", dtFloat)}, attrs...)...)
	e.rank[out] = 4
	return nil
}

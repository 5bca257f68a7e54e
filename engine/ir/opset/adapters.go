package opset

import (
	"math"
	"slices"

	"github.com/modelc/modelc/engine/ir"
)

// adapter rewrites a node across one version boundary of its op: up turns the form of
// the version before into the form of version at, down the reverse. Either may be nil
// (only the generic attribute rules apply).
type adapter struct{ up, down func(s *step) error }

// adapters, by op and by the version (SinceVersion) whose boundary they cross.
var adapters = map[string]map[int64]adapter{}

func reg(op string, v int64, up, down func(*step) error) {
	if adapters[op] == nil {
		adapters[op] = map[int64]adapter{}
	}
	adapters[op][v] = adapter{up: up, down: down}
}

var reduceOps = []string{"ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean",
	"ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare"}

func init() {
	// Opset 7: numpy broadcasting replaces the broadcast/axis attributes.
	for _, op := range []string{"Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor", "Equal", "Greater", "Less"} {
		reg(op, 7, broadcast7Up, nil)
	}
	reg("Gemm", 7, func(s *step) error { removeAttr(s.n, "broadcast"); return nil }, nil)
	reg("Gemm", 11, nil, gemm11Down)
	reg("Concat", 4, func(s *step) error {
		if s.n.Attr("axis") == nil {
			setAttr(s.n, intAttr("axis", 1))
		}
		return nil
	}, nil)
	for _, op := range []string{"Max", "Min", "Sum", "Mean"} {
		reg(op, 8, nil, sameShapes8Down)
	}

	reg("BatchNormalization", 9, bn9Up, nil)
	reg("BatchNormalization", 14, bn14Up, bn14Down)
	reg("Dropout", 12, dropout12Up, dropout12Down)
	reg("Clip", 11, clip11Up, clip11Down)
	reg("Pad", 2, func(s *step) error {
		if a := s.n.Attr("paddings"); a != nil {
			a.Name = "pads"
		}
		return nil
	}, nil)
	reg("Pad", 11, pad11Up, pad11Down)
	reg("Pad", 18, nil, pad18Down)
	reg("Pad", 19, nil, func(s *step) error {
		if attrString_(s.n, "mode", "constant") == "wrap" {
			return s.refuse("mode \"wrap\" exists from opset 19 on")
		}
		return nil
	})

	for _, op := range reduceOps {
		v := int64(18)
		if op == "ReduceSum" {
			v = 13
		}
		reg(op, v, axesAttrToInput(1), reduceAxesDown)
		reg(op, 11, nil, negAxesDown("axes", nil))
	}
	for _, op := range []string{"ArgMax", "ArgMin", "Concat", "Flatten", "Gather", "OneHot", "Compress"} {
		reg(op, 11, nil, negAxesDown("axis", nil))
	}
	reg("Squeeze", 11, nil, negAxesDown("axes", nil))
	reg("Unsqueeze", 11, nil, negAxesDown("axes", func(s *step, r int) int {
		ax, _ := attrInts(s.n, "axes")
		return r + len(ax)
	}))
	reg("Squeeze", 13, axesAttrToInput(1), axesInputToAttr(1, "axes", true))
	reg("Unsqueeze", 13, axesAttrToInput(1), axesInputToAttr(1, "axes", false))
	reg("Split", 11, nil, negAxesDown("axis", nil))
	reg("Split", 13, attrToInput("split", 1), axesInputToAttr(1, "split", true))
	reg("Split", 18, split18Up, split18Down)
	reg("Slice", 10, slice10Up, slice10Down)
	reg("Slice", 11, nil, slice11Down)
	reg("TopK", 10, topk10Up, topk10Down)

	reg("Upsample", 9, upsample9Up, upsample9Down)
	reg("Upsample", 10, func(s *step) error { s.n.OpType = "Resize"; return nil }, nil)
	reg("Resize", 10, nil, func(s *step) error { s.n.OpType = "Upsample"; return nil })
	reg("Resize", 11, resize11Up, resize11Down)
	reg("Resize", 13, func(s *step) error {
		if attrString_(s.n, "coordinate_transformation_mode", "") == "tf_half_pixel_for_nearest" {
			return s.refuse("coordinate_transformation_mode \"tf_half_pixel_for_nearest\" was removed in opset 13")
		}
		return nil
	}, resize13Down)
	reg("Resize", 18, nil, resize18Down)
	reg("Resize", 19, nil, func(s *step) error {
		if attrString_(s.n, "coordinate_transformation_mode", "") == "half_pixel_symmetric" {
			return s.refuse("coordinate_transformation_mode \"half_pixel_symmetric\" exists from opset 19 on")
		}
		return nil
	})

	for _, op := range []string{"Softmax", "LogSoftmax", "Hardmax"} {
		reg(op, 13, softmax13Up, softmax13Down)
		reg(op, 11, nil, negAxesDown("axis", nil))
	}
	reg("Scatter", 11, func(s *step) error { s.n.OpType = "ScatterElements"; return nil }, nil)
	reg("ScatterElements", 11, nil, func(s *step) error { s.n.OpType = "Scatter"; return nil })
	for _, op := range []string{"ScatterElements", "ScatterND"} {
		reg(op, 18, nil, func(s *step) error {
			if r := attrString_(s.n, "reduction", "none"); r == "max" || r == "min" {
				return s.refuse("reduction %q exists from opset 18 on", r)
			}
			return nil
		})
	}
	reg("Constant", 12, nil, constant12Down)
	reg("Shape", 15, nil, shape15Down)
	for _, op := range []string{"QuantizeLinear", "DequantizeLinear"} {
		reg(op, 13, nil, quant13Down)
	}
	reg("RoiAlign", 16, func(s *step) error {
		if s.n.Attr("coordinate_transformation_mode") == nil {
			setAttr(s.n, stringAttr("coordinate_transformation_mode", "output_half_pixel"))
		}
		return nil
	}, func(s *step) error {
		if m := removeAttr(s.n, "coordinate_transformation_mode"); m == nil || string(m.String) != "output_half_pixel" {
			return s.refuse("coordinate_transformation_mode \"half_pixel\" (the default from opset 16) has no equivalent before opset 16")
		}
		return nil
	})
	reg("Mod", 28, nil, func(s *step) error {
		if attrInt(s.n, "fmod", 0) == 0 && s.gc.elemType(s.input(0)).IsFloat() {
			return s.refuse("fmod=0 on floating-point inputs exists from opset 28 on")
		}
		return nil
	})
	reg("GroupNormalization", 21, nil, func(s *step) error {
		return s.refuse("GroupNormalization before opset 21 is deprecated (its scale and bias were per group)")
	})

	// Pooling with ceil_mode: opset 22 dropped a last window that starts in the padding,
	// so older versions compute another output size.
	for _, op := range []string{"MaxPool", "AveragePool", "LpPool"} {
		reg(op, 22, nil, func(s *step) error {
			if attrInt(s.n, "ceil_mode", 0) != 0 && !ceilSameBefore22(s) {
				return s.refuse("ceil_mode=1 computes another output size before opset 22 here (a last window that starts in the padding), or the input's shape is unknown")
			}
			return nil
		})
	}
	// GridSample-20 renamed its modes and went N-dimensional.
	gridModes := map[string]string{"bilinear": "linear", "bicubic": "cubic"}
	reg("GridSample", 20, func(s *step) error {
		if a := s.n.Attr("mode"); a != nil && gridModes[string(a.String)] != "" {
			a.String = []byte(gridModes[string(a.String)])
		} else if a == nil {
			setAttr(s.n, stringAttr("mode", "linear"))
		}
		return nil
	}, func(s *step) error {
		if r := s.gc.rank(s.input(0)); r != 4 {
			return s.refuse("GridSample before opset 20 samples 4-D inputs only (the input's rank is %d, -1: unknown)", r)
		}
		mode := attrString_(s.n, "mode", "linear")
		for old, nu := range gridModes {
			if mode == nu {
				mode = old
			}
		}
		setAttr(s.n, stringAttr("mode", mode))
		return nil
	})
	// Scan-8 had a batch axis and sequence lengths; Scan-9 has neither.
	reg("Scan", 9, func(s *step) error {
		return s.refuse("Scan-8's batched form has no equivalent from opset 9 on")
	}, func(s *step) error {
		return s.refuse("Scan from opset 9 on has no equivalent in Scan-8's batched form")
	})

	// Control flow: sequences as loop-carried values and branch outputs from 13,
	// optionals from 16.
	for _, op := range []string{"Loop", "If"} {
		reg(op, 13, nil, onlyTensorsIn(ir.TypeTensor, 13))
		reg(op, 16, nil, onlyTensorsIn(ir.TypeSequence, 16))
	}

	// Ops that did not exist at the target, written with older ops.
	reg("CastLike", 15, nil, func(s *step) error {
		d := s.gc.elemType(s.input(1))
		if d == ir.Undefined {
			return s.refuse("CastLike does not exist at opset %d; writing it as Cast needs the element type of %q, which is unknown", s.gc.c.target, s.input(1))
		}
		s.n.OpType, s.n.Inputs = "Cast", s.n.Inputs[:1]
		sat := removeAttr(s.n, "saturate")
		s.n.Attrs = append([]*ir.Attribute{intAttr("to", int64(d))}, s.n.Attrs...)
		if sat != nil {
			s.n.Attrs = append(s.n.Attrs, sat)
		}
		return nil
	})
	reg("Gelu", 20, nil, geluDown)
	reg("HardSwish", 14, nil, hardSwishDown)
	reg("Mish", 18, nil, mishDown)
	reg("LayerNormalization", 17, nil, layerNormDown)
}

// ---- opset 7: broadcasting ----------------------------------------------------------

func broadcast7Up(s *step) error {
	bc, ax := removeAttr(s.n, "broadcast"), removeAttr(s.n, "axis")
	if bc == nil || bc.Int == 0 || ax == nil {
		return nil
	}
	ra, rb := s.gc.rank(s.input(0)), s.gc.rank(s.input(1))
	if ra < 0 || rb < 0 {
		return s.refuse("broadcast with axis=%d needs the ranks of both inputs, which are unknown", ax.Int)
	}
	axis, ok := normAxis(ax.Int, ra)
	if !ok {
		return s.refuse("axis %d is out of range for rank %d", ax.Int, ra)
	}
	trailing := int64(ra) - axis - int64(rb)
	if trailing < 0 {
		return s.refuse("broadcast with axis=%d does not fit ranks %d and %d", ax.Int, ra, rb)
	}
	if trailing == 0 {
		return nil
	}
	axes := make([]int64, trailing)
	for i := range axes {
		axes[i] = int64(rb) + int64(i)
	}
	out := s.value("B")
	s.before(s.node("Unsqueeze", []string{s.input(1)}, []string{out}, intsAttr("axes", axes)))
	s.n.Inputs[1] = out
	return nil
}

func gemm11Down(s *step) error {
	if s.input(2) != "" {
		return nil
	}
	d := s.gc.elemType(s.input(0))
	z := scalarOf(d, 0)
	if z == nil {
		return s.refuse("input C is optional from opset 11 on; writing a zero C needs the element type of A, which is unknown")
	}
	s.setInput(2, s.constInput("C", z))
	return nil
}

func sameShapes8Down(s *step) error {
	if len(s.n.Inputs) <= 1 {
		return nil
	}
	first := s.gc.dims(s.input(0))
	for _, in := range s.n.Inputs[1:] {
		d := s.gc.dims(in)
		if first == nil || d == nil || !slices.Equal(first, d) {
			return s.refuse("inputs of different (or unknown) shapes need the broadcasting of opset 8")
		}
	}
	return nil
}

// ---- BatchNormalization, Dropout ----------------------------------------------------

func bn9Up(s *step) error {
	if a := removeAttr(s.n, "spatial"); a != nil && a.Int != 1 {
		return s.refuse("spatial=0 (statistics per activation) has no equivalent from opset 9 on")
	}
	return nil
}

func bn14Up(s *step) error {
	for i := 1; i < len(s.n.Outputs); i++ {
		if s.n.Outputs[i] != "" {
			return s.refuse("output %q is a training output of the older BatchNormalization; opset 14 computes it only in training mode", s.n.Outputs[i])
		}
	}
	s.n.Outputs = s.n.Outputs[:1]
	return nil
}

func bn14Down(s *step) error {
	if attrInt(s.n, "training_mode", 0) != 0 {
		return s.refuse("training_mode=1 exists from opset 14 on")
	}
	removeAttr(s.n, "training_mode")
	for i := 1; i < len(s.n.Outputs); i++ {
		if s.n.Outputs[i] != "" {
			return s.refuse("output %q exists only in training mode", s.n.Outputs[i])
		}
	}
	s.n.Outputs = s.n.Outputs[:1]
	return nil
}

func dropout12Up(s *step) error {
	if a := removeAttr(s.n, "ratio"); a != nil {
		s.setInput(1, s.constInput("ratio", float32Tensor(nil, a.Float)))
	}
	return nil
}

func dropout12Down(s *step) error {
	removeAttr(s.n, "seed") // only drawn in training mode, which older versions do not run
	if name := s.input(2); name != "" {
		t := s.gc.constant(name)
		if t == nil {
			return s.refuse("training_mode %q is computed at run time; opset %d has no training mode", name, s.at-1)
		}
		if v, err := floatsOf(t); err != nil || len(v) != 1 || v[0] != 0 {
			return s.refuse("training_mode is true; opset %d has no training mode", s.at-1)
		}
		s.gc.consume(name)
	}
	t, err := s.constOf(1, "ratio")
	if err != nil {
		return err
	}
	if t != nil {
		v, err := floatsOf(t)
		if err != nil || len(v) != 1 {
			return s.refuse("ratio must be a scalar")
		}
		setAttr(s.n, floatAttr("ratio", v[0]))
	}
	s.n.Inputs = s.n.Inputs[:1]
	// In inference Dropout-12's mask is all true; the older versions' mask is not
	// reliably so (onnxruntime gives false): compute it from the shape.
	if len(s.n.Outputs) > 1 && s.n.Outputs[1] != "" {
		shape := s.value("shape")
		tru, _ := ir.NewTensor("", ir.Bool, []int64{1}, []byte{1})
		s.after(s.node("Shape", []string{s.input(0)}, []string{shape}))
		s.after(s.node("ConstantOfShape", []string{shape}, []string{s.n.Outputs[1]}, &ir.Attribute{Name: "value", Type: ir.AttrTensor, Tensor: tru}))
		s.n.Outputs = s.n.Outputs[:1]
	}
	return nil
}

// ---- Clip, Pad ----------------------------------------------------------------------

func clip11Up(s *step) error {
	lo, hi := removeAttr(s.n, "min"), removeAttr(s.n, "max")
	if lo == nil && hi == nil {
		return nil
	}
	d := s.gc.elemType(s.input(0))
	if scalarOf(d, 0) == nil {
		return s.refuse("moving min/max into inputs needs the input's element type, which is unknown")
	}
	if lo != nil {
		s.setInput(1, s.constInput("min", scalarOf(d, float64(lo.Float))))
	}
	if hi != nil {
		s.setInput(2, s.constInput("max", scalarOf(d, float64(hi.Float))))
	}
	return nil
}

func clip11Down(s *step) error {
	for i, name := range []string{"min", "max"} {
		t, err := s.constOf(i+1, name)
		if err != nil {
			return err
		}
		if t == nil {
			continue
		}
		v, err := floatsOf(t)
		if err != nil || len(v) != 1 {
			return s.refuse("%s must be a scalar", name)
		}
		setAttr(s.n, floatAttr(name, v[0]))
	}
	s.n.Inputs = s.n.Inputs[:1]
	return nil
}

func pad11Up(s *step) error {
	pads := removeAttr(s.n, "pads")
	if pads == nil {
		return s.refuse("attribute pads is missing")
	}
	s.setInput(1, s.constInput("pads", ints1D(pads.Ints)))
	if v := removeAttr(s.n, "value"); v != nil && v.Float != 0 {
		d := s.gc.elemType(s.input(0))
		c := scalarOf(d, float64(v.Float))
		if c == nil {
			return s.refuse("moving value into an input needs the input's element type, which is unknown")
		}
		s.setInput(2, s.constInput("value", c))
	}
	return nil
}

func pad11Down(s *step) error {
	t, err := s.constOf(1, "pads")
	if err != nil {
		return err
	}
	if t == nil {
		return s.refuse("input pads is missing")
	}
	p, err := intsOf(t)
	if err != nil {
		return s.refuse("pads: %v", err)
	}
	setAttr(s.n, intsAttr("pads", p))
	if v, err := s.constOf(2, "constant_value"); err != nil {
		return err
	} else if v != nil {
		f, err := floatsOf(v)
		if err != nil || len(f) > 1 {
			return s.refuse("constant_value must be a numeric scalar")
		}
		if len(f) == 1 && f[0] != 0 {
			setAttr(s.n, floatAttr("value", f[0]))
		}
	}
	s.n.Inputs = s.n.Inputs[:1]
	return nil
}

func pad18Down(s *step) error {
	if s.input(3) == "" {
		return nil
	}
	at, err := s.constOf(3, "axes")
	if err != nil {
		return err
	}
	axes, err := intsOf(at)
	if err != nil {
		return s.refuse("axes: %v", err)
	}
	r := s.gc.rank(s.input(0))
	pt := s.gc.constant(s.input(1))
	if r < 0 || pt == nil {
		return s.refuse("expanding pads over the axes input needs the input's rank and constant pads")
	}
	p, err := intsOf(pt)
	if err != nil || len(p) != 2*len(axes) {
		return s.refuse("pads do not match axes")
	}
	full := make([]int64, 2*r)
	for i, a := range axes {
		na, ok := normAxis(a, r)
		if !ok {
			return s.refuse("axis %d out of range", a)
		}
		full[na], full[int64(r)+na] = p[i], p[len(axes)+i]
	}
	s.gc.consume(s.input(1))
	s.n.Inputs[1] = s.constInput("pads", ints1D(full))
	s.n.Inputs = s.n.Inputs[:3]
	trimInputs(s.n)
	return nil
}

// ---- attribute ↔ input moves ---------------------------------------------------------

// attrToInput moves an ints attribute into input i (an int64 initializer).
func attrToInput(name string, i int) func(*step) error {
	return func(s *step) error {
		a := removeAttr(s.n, name)
		if a == nil {
			return nil
		}
		s.setInput(i, s.constInput(name, ints1D(a.Ints)))
		return nil
	}
}

func axesAttrToInput(i int) func(*step) error { return attrToInput("axes", i) }

// axesInputToAttr moves constant input i into an ints attribute.
func axesInputToAttr(i int, name string, optional bool) func(*step) error {
	return func(s *step) error {
		t, err := s.constOf(i, name)
		if err != nil {
			return err
		}
		if t == nil {
			if !optional {
				return s.refuse("input %s is missing", name)
			}
		} else {
			v, err := intsOf(t)
			if err != nil {
				return s.refuse("%s: %v", name, err)
			}
			setAttr(s.n, intsAttr(name, v))
		}
		if len(s.n.Inputs) > i {
			s.n.Inputs = s.n.Inputs[:i]
		}
		return nil
	}
}

func reduceAxesDown(s *step) error {
	noop := removeAttr(s.n, "noop_with_empty_axes")
	t, err := s.constOf(1, "axes")
	if err != nil {
		return err
	}
	var axes []int64
	if t != nil {
		if axes, err = intsOf(t); err != nil {
			return s.refuse("axes: %v", err)
		}
	}
	s.n.Inputs = s.n.Inputs[:1]
	if len(axes) == 0 && noop != nil && noop.Int != 0 {
		// No axes and noop_with_empty_axes: the op passes its input through.
		s.n.OpType, s.n.Attrs = "Identity", nil
		return nil
	}
	if len(axes) > 0 {
		setAttr(s.n, intsAttr("axes", axes))
	}
	return nil
}

// negAxesDown normalises negative axes for opsets before 11, which did not accept them;
// rankOf gives the rank the axes refer to (default: the first input's).
func negAxesDown(name string, rankOf func(s *step, inRank int) int) func(*step) error {
	return func(s *step) error {
		a := s.n.Attr(name)
		if a == nil {
			return nil
		}
		vals := a.Ints
		if a.Type == ir.AttrInt {
			vals = []int64{a.Int}
		}
		neg := false
		for _, v := range vals {
			neg = neg || v < 0
		}
		if !neg {
			return nil
		}
		r := s.gc.rank(s.input(0))
		if r >= 0 && rankOf != nil {
			r = rankOf(s, r)
		}
		if r < 0 {
			return s.refuse("negative %s %v need the input's rank before opset 11, which is unknown", name, vals)
		}
		out := make([]int64, len(vals))
		for i, v := range vals {
			nv, ok := normAxis(v, r)
			if !ok {
				return s.refuse("%s %d is out of range for rank %d", name, v, r)
			}
			out[i] = nv
		}
		if a.Type == ir.AttrInt {
			a.Int = out[0]
		} else {
			a.Ints = out
		}
		return nil
	}
}

func split18Up(s *step) error {
	if s.input(1) == "" {
		setAttr(s.n, intAttr("num_outputs", int64(len(s.n.Outputs))))
	}
	return nil
}

func split18Down(s *step) error {
	a := removeAttr(s.n, "num_outputs")
	if a == nil || s.input(1) != "" {
		return nil
	}
	// Older versions split evenly; num_outputs also allows a shorter last chunk.
	d := s.gc.dims(s.input(0))
	axis := attrInt(s.n, "axis", 0)
	if d == nil {
		return nil // an even split where the older op is defined at all
	}
	ax, ok := normAxis(axis, len(d))
	if !ok {
		return s.refuse("axis %d out of range", axis)
	}
	size, k := d[ax], a.Int
	if k <= 0 || size%k == 0 {
		return nil
	}
	chunk := (size + k - 1) / k
	split := make([]int64, k)
	left := size
	for i := range split {
		split[i] = min(chunk, left)
		left -= split[i]
	}
	s.setInput(1, s.constInput("split", ints1D(split)))
	return nil
}

func slice10Up(s *step) error {
	starts, ends, axes := removeAttr(s.n, "starts"), removeAttr(s.n, "ends"), removeAttr(s.n, "axes")
	if starts == nil || ends == nil {
		return s.refuse("attributes starts and ends are required")
	}
	s.setInput(1, s.constInput("starts", ints1D(starts.Ints)))
	s.setInput(2, s.constInput("ends", ints1D(ends.Ints)))
	if axes != nil {
		s.setInput(3, s.constInput("axes", ints1D(axes.Ints)))
	}
	return nil
}

func slice10Down(s *step) error {
	if name := s.input(4); name != "" {
		t, err := s.constOf(4, "steps")
		if err != nil {
			return err
		}
		v, err := intsOf(t)
		if err != nil {
			return s.refuse("steps: %v", err)
		}
		for _, x := range v {
			if x != 1 {
				return s.refuse("steps %v: slicing with a step other than 1 exists from opset 10 on", v)
			}
		}
	}
	for i, name := range []string{"starts", "ends", "axes"} {
		t, err := s.constOf(i+1, name)
		if err != nil {
			return err
		}
		if t == nil {
			if name != "axes" {
				return s.refuse("input %s is missing", name)
			}
			continue
		}
		v, err := intsOf(t)
		if err != nil {
			return s.refuse("%s: %v", name, err)
		}
		setAttr(s.n, intsAttr(name, v))
	}
	s.n.Inputs = s.n.Inputs[:1]
	return nil
}

func slice11Down(s *step) error {
	name := s.input(3)
	if name == "" {
		return nil
	}
	t := s.gc.constant(name)
	if t == nil {
		return nil // slice10Down refuses it below 10
	}
	v, err := intsOf(t)
	if err != nil {
		return s.refuse("axes: %v", err)
	}
	neg := false
	for _, x := range v {
		neg = neg || x < 0
	}
	if !neg {
		return nil
	}
	r := s.gc.rank(s.input(0))
	if r < 0 {
		return s.refuse("negative axes %v need the input's rank before opset 11, which is unknown", v)
	}
	out := make([]int64, len(v))
	for i, x := range v {
		nx, ok := normAxis(x, r)
		if !ok {
			return s.refuse("axis %d out of range", x)
		}
		out[i] = nx
	}
	s.gc.consume(name)
	s.n.Inputs[3] = s.constInput("axes", ints1D(out))
	return nil
}

func topk10Up(s *step) error {
	k := removeAttr(s.n, "k")
	if k == nil {
		return s.refuse("attribute k is missing")
	}
	s.setInput(1, s.constInput("K", ints1D([]int64{k.Int})))
	return nil
}

func topk10Down(s *step) error {
	t, err := s.constOf(1, "K")
	if err != nil {
		return err
	}
	if t == nil {
		return s.refuse("input K is missing")
	}
	v, err := intsOf(t)
	if err != nil || len(v) != 1 {
		return s.refuse("K must hold one integer")
	}
	setAttr(s.n, intAttr("k", v[0]))
	s.n.Inputs = s.n.Inputs[:1]
	return nil
}

// ---- Upsample, Resize -----------------------------------------------------------------

func upsample9Up(s *step) error {
	a := removeAttr(s.n, "scales")
	if a == nil {
		return s.refuse("attribute scales is missing")
	}
	s.setInput(1, s.constInput("scales", float32Tensor([]int64{int64(len(a.Floats))}, a.Floats...)))
	return nil
}

func upsample9Down(s *step) error {
	t, err := s.constOf(1, "scales")
	if err != nil {
		return err
	}
	if t == nil {
		return s.refuse("input scales is missing")
	}
	v, err := floatsOf(t)
	if err != nil {
		return s.refuse("scales: %v", err)
	}
	setAttr(s.n, floatsAttr("scales", v))
	s.n.Inputs = s.n.Inputs[:1]
	return nil
}

// Resize-10 (and Upsample) compute like Resize-11 with asymmetric coordinates and, for
// nearest, rounding down.
func resize11Up(s *step) error {
	scales := s.input(1)
	s.n.Inputs = []string{s.input(0), s.constInput("roi", float32Tensor([]int64{0})), scales}
	setAttr(s.n, stringAttr("coordinate_transformation_mode", "asymmetric"))
	if attrString_(s.n, "mode", "nearest") == "nearest" {
		setAttr(s.n, stringAttr("nearest_mode", "floor"))
	}
	return nil
}

func resize11Down(s *step) error {
	mode := attrString_(s.n, "mode", "nearest")
	if mode != "nearest" && mode != "linear" {
		return s.refuse("mode %q exists from opset 11 on", mode)
	}
	if c := attrString_(s.n, "coordinate_transformation_mode", "half_pixel"); c != "asymmetric" {
		return s.refuse("coordinate_transformation_mode %q has no equivalent before opset 11 (only \"asymmetric\" does)", c)
	}
	if mode == "nearest" {
		if nm := attrString_(s.n, "nearest_mode", "round_prefer_floor"); nm != "floor" {
			return s.refuse("nearest_mode %q has no equivalent before opset 11 (only \"floor\" does)", nm)
		}
	}
	if attrInt(s.n, "exclude_outside", 0) != 0 {
		return s.refuse("exclude_outside=1 exists from opset 11 on")
	}
	for _, a := range []string{"coordinate_transformation_mode", "nearest_mode", "exclude_outside", "cubic_coeff_a", "extrapolation_value"} {
		removeAttr(s.n, a)
	}
	scales := s.input(2)
	if sizes := s.input(3); sizes != "" {
		// Sizes become scales when the input's shape is known.
		st, err := s.constOf(3, "sizes")
		if err != nil {
			return err
		}
		sz, err := intsOf(st)
		d := s.gc.dims(s.input(0))
		if err != nil || d == nil || len(d) != len(sz) {
			return s.refuse("sizes become scales before opset 11, which needs the input's static shape")
		}
		sc := make([]float32, len(sz))
		for i := range sz {
			if d[i] == 0 {
				return s.refuse("sizes of an empty dimension")
			}
			sc[i] = float32(sz[i]) / float32(d[i])
			if int64(math.Floor(float64(float32(d[i])*sc[i]))) != sz[i] {
				return s.refuse("sizes %v are not an exact multiple of the shape %v", sz, d)
			}
		}
		scales = s.constInput("scales", float32Tensor([]int64{int64(len(sc))}, sc...))
	}
	if s.input(1) != "" {
		s.gc.consume(s.input(1))
	}
	if scales == "" {
		return s.refuse("neither scales nor sizes is given")
	}
	s.n.Inputs = []string{s.input(0), scales}
	return nil
}

func resize13Down(s *step) error {
	if s.input(1) == "" {
		s.setInput(1, s.constInput("roi", float32Tensor([]int64{0})))
	}
	if s.input(2) == "" && s.input(3) != "" {
		s.n.Inputs[2] = s.constInput("scales", float32Tensor([]int64{0}))
	}
	return nil
}

// ---- Softmax, LogSoftmax, Hardmax: one axis from opset 13, a flattened 2-D view before --

func softmax13Up(s *step) error {
	axis := attrInt(s.n, "axis", 1)
	r := s.gc.rank(s.input(0))
	if r >= 0 {
		if a, ok := normAxis(axis, r); ok && a == int64(r-1) {
			setAttr(s.n, intAttr("axis", a))
			return nil
		}
	}
	if axis == -1 {
		setAttr(s.n, intAttr("axis", -1))
		return nil
	}
	// Flatten to 2-D at axis, apply along the last axis, restore the shape.
	x, y := s.input(0), s.n.Outputs[0]
	flat, out, shape := s.value("2d"), s.value("out2d"), s.value("shape")
	s.before(s.node("Flatten", []string{x}, []string{flat}, intAttr("axis", axis)))
	s.before(s.node("Shape", []string{x}, []string{shape}))
	s.n.Inputs[0], s.n.Outputs[0] = flat, out
	setAttr(s.n, intAttr("axis", 1))
	s.after(s.node("Reshape", []string{out, shape}, []string{y}))
	return nil
}

func softmax13Down(s *step) error {
	axis := attrInt(s.n, "axis", -1)
	r := s.gc.rank(s.input(0))
	if r < 0 {
		if axis == -1 && s.gc.c.target >= 11 {
			setAttr(s.n, intAttr("axis", -1))
			return nil
		}
		return s.refuse("axis %d: the older versions normalise over all axes from axis on; rewriting needs the input's rank, which is unknown", axis)
	}
	a, ok := normAxis(axis, r)
	if !ok {
		return s.refuse("axis %d out of range for rank %d", axis, r)
	}
	setAttr(s.n, intAttr("axis", int64(r-1)))
	if a == int64(r-1) {
		return nil
	}
	// Move the axis last, apply, move it back.
	perm := make([]int64, r)
	for i := range perm {
		perm[i] = int64(i)
	}
	perm[a], perm[r-1] = perm[r-1], perm[a]
	x, y := s.input(0), s.n.Outputs[0]
	in, out := s.value("T"), s.value("outT")
	s.before(s.node("Transpose", []string{x}, []string{in}, intsAttr("perm", perm)))
	s.n.Inputs[0], s.n.Outputs[0] = in, out
	s.after(s.node("Transpose", []string{out}, []string{y}, intsAttr("perm", perm)))
	return nil
}

// ---- Constant, Shape, Q/DQ ------------------------------------------------------------

func constant12Down(s *step) error {
	for _, a := range s.n.Attrs {
		switch a.Name {
		case "value_float", "value_floats", "value_int", "value_ints", "value_string", "value_strings":
			t := constantValue(s.n)
			if t == nil {
				return s.refuse("attribute %s holds no value", a.Name)
			}
			s.n.Attrs = []*ir.Attribute{{Name: "value", Type: ir.AttrTensor, Tensor: t}}
			return nil
		}
	}
	return nil
}

func shape15Down(s *step) error {
	start, end := removeAttr(s.n, "start"), removeAttr(s.n, "end")
	if (start == nil || start.Int == 0) && end == nil {
		return nil
	}
	lo, hi := int64(0), int64(math.MaxInt64)
	if start != nil {
		lo = start.Int
	}
	if end != nil {
		hi = end.Int
	}
	y := s.n.Outputs[0]
	full := s.value("full")
	s.n.Outputs[0] = full
	s.after(s.node("Slice", []string{full, s.constInput("start", ints1D([]int64{lo})), s.constInput("end", ints1D([]int64{hi}))}, []string{y}))
	return nil
}

func quant13Down(s *step) error {
	a := removeAttr(s.n, "axis")
	if a == nil {
		return nil
	}
	scale := s.input(1)
	if t := s.gc.constant(scale); t != nil && t.NumElements() == 1 {
		return nil
	}
	if r := s.gc.rank(scale); r == 0 {
		return nil
	}
	return s.refuse("per-axis quantization (a scale with more than one value, axis=%d) exists from opset 13 on", a.Int)
}

// ---- ops newer than the target, written with older ops ---------------------------------

// floatConst makes a scalar constant of x's float element type.
func (s *step) floatConst(x, what string, v float64) (string, error) {
	d := s.gc.elemType(x)
	if !d.IsFloat() || scalarOf(d, v) == nil {
		return "", s.refuse("%s does not exist at opset %d; writing it with older ops needs the input's float type, which is %v", s.n.OpType, s.gc.c.target, d)
	}
	return s.constInput(what, scalarOf(d, v)), nil
}

func (s *step) onlyFirstOutput() error {
	for i := 1; i < len(s.n.Outputs); i++ {
		if s.n.Outputs[i] != "" {
			return s.refuse("%s does not exist at opset %d and its output %q has no equivalent", s.n.OpType, s.gc.c.target, s.n.Outputs[i])
		}
	}
	return nil
}

func geluDown(s *step) error {
	x, y := s.input(0), s.n.Outputs[0]
	half, err := s.floatConst(x, "half", 0.5)
	if err != nil {
		return err
	}
	one, _ := s.floatConst(x, "one", 1)
	var inner string
	switch approx := attrString_(s.n, "approximate", "none"); approx {
	case "none": // 0.5·x·(1 + erf(x/√2))
		c, _ := s.floatConst(x, "rsqrt2", 1/math.Sqrt2)
		t, e := s.value("scaled"), s.value("erf")
		s.before(s.node("Mul", []string{x, c}, []string{t}))
		s.before(s.node("Erf", []string{t}, []string{e}))
		inner = e
	case "tanh": // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
		k, _ := s.floatConst(x, "k", 0.044715)
		c, _ := s.floatConst(x, "sqrt2pi", math.Sqrt(2/math.Pi))
		x2, x3, kx3, sum, sc, th := s.value("x2"), s.value("x3"), s.value("kx3"), s.value("sum"), s.value("sc"), s.value("tanh")
		s.before(s.node("Mul", []string{x, x}, []string{x2}))
		s.before(s.node("Mul", []string{x2, x}, []string{x3}))
		s.before(s.node("Mul", []string{x3, k}, []string{kx3}))
		s.before(s.node("Add", []string{x, kx3}, []string{sum}))
		s.before(s.node("Mul", []string{sum, c}, []string{sc}))
		s.before(s.node("Tanh", []string{sc}, []string{th}))
		inner = th
	default:
		return s.refuse("approximate %q is unknown", approx)
	}
	p1, hx := s.value("p1"), s.value("hx")
	s.before(s.node("Add", []string{inner, one}, []string{p1}))
	s.before(s.node("Mul", []string{x, half}, []string{hx}))
	s.before(s.node("Mul", []string{hx, p1}, []string{y}))
	s.removed = true
	return nil
}

func hardSwishDown(s *step) error {
	x, y := s.input(0), s.n.Outputs[0]
	hs := s.value("hardsigmoid")
	s.before(s.node("HardSigmoid", []string{x}, []string{hs}, floatAttr("alpha", 1.0/6), floatAttr("beta", 0.5)))
	s.before(s.node("Mul", []string{x, hs}, []string{y}))
	s.removed = true
	return nil
}

func mishDown(s *step) error {
	x, y := s.input(0), s.n.Outputs[0]
	sp, th := s.value("softplus"), s.value("tanh")
	s.before(s.node("Softplus", []string{x}, []string{sp}))
	s.before(s.node("Tanh", []string{sp}, []string{th}))
	s.before(s.node("Mul", []string{x, th}, []string{y}))
	s.removed = true
	return nil
}

func layerNormDown(s *step) error {
	x, scale, bias, y := s.input(0), s.input(1), s.input(2), s.n.Outputs[0]
	axis := attrInt(s.n, "axis", -1)
	eps := attrFloat(s.n, "epsilon", 1e-5)
	d := s.gc.elemType(x)
	if !d.IsFloat() {
		return s.refuse("LayerNormalization does not exist at opset %d; writing it with older ops needs the input's float type, which is unknown", s.gc.c.target)
	}
	var axes []int64
	if r := s.gc.rank(x); axis == -1 && r < 0 {
		axes = []int64{-1}
	} else {
		if r < 0 {
			return s.refuse("LayerNormalization does not exist at opset %d; writing it with older ops needs the input's rank, which is unknown", s.gc.c.target)
		}
		a, ok := normAxis(axis, r)
		if !ok {
			return s.refuse("axis %d out of range", axis)
		}
		for i := a; i < int64(r); i++ {
			axes = append(axes, i)
		}
	}
	// Compute in float32 when the input is narrower and stash_type asks for it.
	work, cd := x, d
	if (d == ir.Float16 || d == ir.BFloat16) && attrInt(s.n, "stash_type", 1) == 1 {
		work, cd = s.value("f32"), ir.Float32
		s.before(s.node("Cast", []string{x}, []string{work}, intAttr("to", int64(ir.Float32))))
	}
	epsName := s.constInput("epsilon", scalarOf(cd, float64(eps)))
	mean, diff, sq, vr, ve, sd, nrm := s.value("mean"), s.value("diff"), s.value("sq"), s.value("var"), s.value("vareps"), s.value("std"), s.value("norm")
	s.before(s.node("ReduceMean", []string{work}, []string{mean}, intsAttr("axes", axes), intAttr("keepdims", 1)))
	s.before(s.node("Sub", []string{work, mean}, []string{diff}))
	s.before(s.node("Mul", []string{diff, diff}, []string{sq}))
	s.before(s.node("ReduceMean", []string{sq}, []string{vr}, intsAttr("axes", axes), intAttr("keepdims", 1)))
	s.before(s.node("Add", []string{vr, epsName}, []string{ve}))
	s.before(s.node("Sqrt", []string{ve}, []string{sd}))
	s.before(s.node("Div", []string{diff, sd}, []string{nrm}))
	// The optional outputs: the mean and 1/σ, in the computation type.
	if len(s.n.Outputs) > 1 && s.n.Outputs[1] != "" {
		s.before(s.node("Identity", []string{mean}, []string{s.n.Outputs[1]}))
	}
	if len(s.n.Outputs) > 2 && s.n.Outputs[2] != "" {
		s.before(s.node("Reciprocal", []string{sd}, []string{s.n.Outputs[2]}))
	}
	if cd != d {
		back := s.value("norm_t")
		s.before(s.node("Cast", []string{nrm}, []string{back}, intAttr("to", int64(d))))
		nrm = back
	}
	if bias == "" {
		s.before(s.node("Mul", []string{nrm, scale}, []string{y}))
	} else {
		scaled := s.value("scaled")
		s.before(s.node("Mul", []string{nrm, scale}, []string{scaled}))
		s.before(s.node("Add", []string{scaled, bias}, []string{y}))
	}
	s.removed = true
	return nil
}

// ceilSameBefore22 reports whether a ceil_mode pooling gives the same output size before
// and from opset 22: no last window starts in the end padding (the input shape must be
// known to tell).
func ceilSameBefore22(s *step) bool {
	d := s.gc.dims(s.input(0))
	k, ok := attrInts(s.n, "kernel_shape")
	if d == nil || !ok || len(d) != len(k)+2 {
		return false
	}
	if ap := attrString_(s.n, "auto_pad", "NOTSET"); ap != "NOTSET" && ap != "VALID" {
		return false
	}
	strides, _ := attrInts(s.n, "strides")
	pads, _ := attrInts(s.n, "pads")
	dil, _ := attrInts(s.n, "dilations")
	get := func(v []int64, i int, def int64) int64 {
		if i < len(v) {
			return v[i]
		}
		return def
	}
	for i := range k {
		in, st := d[i+2], get(strides, i, 1)
		pb, pe := get(pads, i, 0), get(pads, i+len(k), 0)
		eff := (k[i]-1)*get(dil, i, 1) + 1
		span := in + pb + pe - eff
		if span < 0 || st <= 0 {
			return false
		}
		out := (span+st-1)/st + 1
		if (out-1)*st >= in+pb {
			return false
		}
	}
	return true
}

// onlyTensorsIn refuses a Loop or If whose subgraphs pass values of a kind the older
// version lacks: anything but tensors before 13 (allowed = TypeTensor), optionals
// before 16 (allowed = TypeSequence: tensors and sequences).
func onlyTensorsIn(allowed ir.TypeKind, since int64) func(*step) error {
	return func(s *step) error {
		for _, g := range s.n.Subgraphs() {
			for _, vs := range [][]*ir.ValueInfo{g.Inputs, g.Outputs} {
				for _, v := range vs {
					if v.Type == nil || v.Type.Kind == ir.TypeUnknown || v.Type.Kind == ir.TypeTensor {
						continue
					}
					if allowed == ir.TypeSequence && v.Type.Kind == ir.TypeSequence {
						continue
					}
					return s.refuse("subgraph value %q is %s, which %s passes only from opset %d on", v.Name, kindName(v.Type.Kind), s.n.OpType, since)
				}
			}
		}
		return nil
	}
}

func kindName(k ir.TypeKind) string {
	switch k {
	case ir.TypeSequence:
		return "a sequence"
	case ir.TypeMap:
		return "a map"
	case ir.TypeOptional:
		return "an optional"
	case ir.TypeSparseTensor:
		return "a sparse tensor"
	}
	return "not a tensor"
}

// resize18Down writes scales or sizes given for some axes (attribute axes) for every axis.
func resize18Down(s *step) error {
	a := s.n.Attr("axes")
	if a == nil {
		return nil
	}
	if p := attrString_(s.n, "keep_aspect_ratio_policy", "stretch"); p != "stretch" {
		return s.refuse("keep_aspect_ratio_policy %q exists from opset 18 on", p)
	}
	r := s.gc.rank(s.input(0))
	if r < 0 {
		return s.refuse("axes %v: writing scales or sizes for every axis needs the input's rank, which is unknown", a.Ints)
	}
	if roi := s.input(1); roi != "" {
		if t := s.gc.constant(roi); t == nil || t.NumElements() != 0 {
			return s.refuse("axes %v with a roi has no equivalent before opset 18", a.Ints)
		}
	}
	pos := make([]int64, len(a.Ints))
	for i, ax := range a.Ints {
		na, ok := normAxis(ax, r)
		if !ok {
			return s.refuse("axis %d out of range", ax)
		}
		pos[i] = na
	}
	if name := s.input(2); name != "" {
		t := s.gc.constant(name)
		if t != nil && t.NumElements() == 0 {
			t = nil
			name = ""
		}
		if name != "" {
			if t == nil {
				return s.refuse("axes %v with computed scales has no equivalent before opset 18", a.Ints)
			}
			v, err := floatsOf(t)
			if err != nil || len(v) != len(pos) {
				return s.refuse("scales do not match axes")
			}
			full := make([]float32, r)
			for i := range full {
				full[i] = 1
			}
			for i, p := range pos {
				full[p] = v[i]
			}
			s.gc.consume(name)
			s.n.Inputs[2] = s.constInput("scales", float32Tensor([]int64{int64(r)}, full...))
		}
	}
	if name := s.input(3); name != "" {
		t := s.gc.constant(name)
		d := s.gc.dims(s.input(0))
		if t == nil || d == nil {
			return s.refuse("axes %v with sizes needs constant sizes and the input's static shape before opset 18", a.Ints)
		}
		v, err := intsOf(t)
		if err != nil || len(v) != len(pos) {
			return s.refuse("sizes do not match axes")
		}
		full := append([]int64(nil), d...)
		for i, p := range pos {
			full[p] = v[i]
		}
		s.gc.consume(name)
		s.n.Inputs[3] = s.constInput("sizes", ints1D(full))
	}
	removeAttr(s.n, "axes")
	return nil
}

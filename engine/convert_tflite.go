package engine

import (
	"github.com/modelc/modelc/engine/compress/simplify"
	"github.com/modelc/modelc/engine/format"
	"github.com/modelc/modelc/engine/format/tflite"
	"github.com/modelc/modelc/engine/ir"
)

// tfliteOptions checks the options of a TFLite output.
func tfliteOptions(o ConvertOptions) (tflite.WriteOptions, error) {
	var t tflite.WriteOptions
	if o.NHWCIO && o.KeepNCHWIO {
		return t, Errorf(KindInvalidArgument, "options nhwc_io and keep_nchw_io: choose one")
	}
	t.NHWCIO, t.Int8IO = o.NHWCIO, o.Int8IO
	t.Fold = foldNode
	if o.Int8IO && (o.Quantize != "int8" || o.Mode == "dynamic") {
		return t, Errorf(KindInvalidArgument, "option int8_io: needs full-integer int8 (quantize int8 with calibration)")
	}
	switch o.Quantize {
	case "":
		if o.Mode != "" || o.Calibration != "" {
			return t, Errorf(KindInvalidArgument, "options mode and calibration need quantize int8")
		}
	case "fp16", "float16":
		if o.Mode != "" || o.Calibration != "" {
			return t, Errorf(KindInvalidArgument, "options mode and calibration apply to quantize int8, not fp16")
		}
		t.Quantize = "fp16"
	case "int8":
		switch o.Mode {
		case "dynamic":
			if o.Calibration != "" {
				return t, Errorf(KindInvalidArgument, "option calibration: dynamic-range int8 needs no calibration data")
			}
			t.Quantize = "int8-dynamic"
		case "static", "":
			if o.Calibration == "" {
				return t, Errorf(KindInvalidArgument, "option quantize: full-integer int8 TFLite needs --calibration data.npz (or --mode dynamic for int8 weights only)")
			}
			t.Quantize = "int8"
		default:
			return t, Errorf(KindInvalidArgument, "option mode: %q is not dynamic or static", o.Mode)
		}
	default:
		return t, Errorf(KindInvalidArgument, "option quantize: TFLite outputs take fp16 or int8, not %q", o.Quantize)
	}
	return t, nil
}

// calibrateTFLite fills the calibrated ranges a full-integer int8 TFLite output needs.
func calibrateTFLite(m *ir.Model, w *format.WriteOptions, o ConvertOptions) error {
	if w.TFLite.Quantize != "int8" {
		return nil
	}
	var err error
	w.TFLite.Ranges, err = tfliteRanges(m, o.Calibration)
	return err
}

// tfliteRanges calibrates the float values of m on the inputs in the .npz at path with
// modelc's runtime: the [min, max] of every float graph input and node output (integer
// values such as token ids stay unquantized).
func tfliteRanges(m *ir.Model, path string) (map[string][2]float32, error) {
	m = tflite.CalibrationModel(m) // the writer's intermediate tensors get names and ranges
	collect, err := calibrationCollectorFor(m, path, true)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, in := range m.Graph.Inputs {
		names = append(names, in.Name)
	}
	for _, n := range m.Graph.Nodes {
		switch n.OpType { // outputs that are not float32 activations
		case "QuantizeLinear", "Shape", "Size", "ArgMax", "ArgMin", "NonZero", "Constant", "DynamicQuantizeLinear":
			continue
		}
		for _, o := range n.Outputs {
			if o != "" {
				names = append(names, o)
			}
		}
	}
	vals, err := collect(names)
	if err != nil {
		return nil, err
	}
	out := map[string][2]float32{}
	for name, v := range vals {
		if len(v) == 0 {
			continue
		}
		lo, hi := v[0], v[0]
		for _, x := range v {
			lo, hi = min(lo, x), max(hi, x)
		}
		out[name] = [2]float32{lo, hi}
	}
	// A model already in QDQ form keeps its scales: the value a QuantizeLinear reads gets
	// the range of that quantizer's grid, which TFLite's int8 parameters then reproduce.
	for _, n := range m.Graph.Nodes {
		if n.OpType != "QuantizeLinear" || len(n.Inputs) < 2 {
			continue
		}
		st := m.Graph.Initializer(n.Inputs[1])
		if st == nil {
			continue
		}
		sc, err := st.Float32s()
		if err != nil || len(sc) != 1 {
			continue
		}
		lo, hi, zp := float32(-128), float32(127), float32(0)
		if len(n.Inputs) > 2 {
			if zt := m.Graph.Initializer(n.Inputs[2]); zt != nil {
				if z, err := zt.Float32s(); err == nil && len(z) == 1 {
					zp = z[0]
					if zt.DType == ir.Uint8 {
						lo, hi = 0, 255
					}
				}
			}
		}
		out[n.Inputs[0]] = [2]float32{(lo - zp) * sc[0], (hi - zp) * sc[0]}
	}
	return out, nil
}

// foldNode evaluates one node on constant inputs with the reference runtime (the TFLite
// writer folds shape arithmetic with it), at opset 21, which reads every form the writer
// meets.
func foldNode(n *ir.Node, inputs []*ir.Tensor) ([]*ir.Tensor, error) {
	return simplify.Evaluate(&ir.Model{IRVersion: 9, Opsets: []ir.OpsetImport{{Version: 21}}}, n, inputs)
}

package tflite

import (
	"bytes"
	"encoding/binary"
	"reflect"

	"github.com/modelc/modelc/engine/format/tflite/schema/tfl"
)

// dynamicDims compares two lowerings of one graph whose unknown input sizes were given
// different values (a, then b) and, when they differ only where sizes may, turns a into
// a model whose tensors carry -1 in shape_signature for those sizes, so the interpreter
// can resize them. A RESHAPE target that differs is rewritten: entries that are sizes of
// the RESHAPE's input come from a SHAPE of it at run time (SHAPE, CONCATENATION, GATHER)
// and one entry of neither kind becomes -1. Any other difference (a constant that depends
// on a size, a slice end, a split) makes it give up: it returns false and a is unusable.
func dynamicDims(a, b *builder) bool {
	if len(a.sg.Tensors) != len(b.sg.Tensors) || len(a.sg.Operators) != len(b.sg.Operators) ||
		len(a.data) != len(b.data) || !reflect.DeepEqual(a.model.OperatorCodes, b.model.OperatorCodes) {
		return false
	}
	reshapeOf := map[int32]int{} // shape-target tensor -> index of the RESHAPE reading it
	for i, oa := range a.sg.Operators {
		ob := b.sg.Operators[i]
		if oa.OpcodeIndex != ob.OpcodeIndex || !reflect.DeepEqual(oa.Inputs, ob.Inputs) || !reflect.DeepEqual(oa.Outputs, ob.Outputs) {
			return false
		}
		if a.model.OperatorCodes[oa.OpcodeIndex].BuiltinCode == tfl.BuiltinOperatorRESHAPE {
			if len(oa.Inputs) > 1 {
				reshapeOf[oa.Inputs[1]] = i
			}
			continue
		}
		if !reflect.DeepEqual(oa.BuiltinOptions, ob.BuiltinOptions) {
			return false
		}
	}
	// every operand size of an element-wise op is 1 or the result's, in both: a dynamic
	// size broadcast against a fixed one (the writer's shapes take the larger) was never free
	for _, o := range a.sg.Operators {
		if !broadcasting[a.model.OperatorCodes[o.OpcodeIndex].BuiltinCode] || len(o.Outputs) != 1 {
			continue
		}
		oa, ob := a.sg.Tensors[o.Outputs[0]].Shape, b.sg.Tensors[o.Outputs[0]].Shape
		for _, in := range o.Inputs {
			if in < 0 {
				continue
			}
			ia, ib := a.sg.Tensors[in].Shape, b.sg.Tensors[in].Shape
			for j := range ia {
				k := len(oa) - len(ia) + j
				if j >= len(ib) || k < 0 || k >= len(oa) || k >= len(ob) {
					return false
				}
				if !(ia[j] == 1 && ib[j] == 1) && (ia[j] != oa[k] || ib[j] != ob[k]) {
					return false // broadcast against a size that is not 1
				}
			}
		}
	}
	// tensor shapes: sizes that differ are dynamic
	for i, ta := range a.sg.Tensors {
		tb := b.sg.Tensors[i]
		if len(ta.Shape) != len(tb.Shape) || ta.Type != tb.Type {
			return false
		}
		var sig []int32
		for d := range ta.Shape {
			if ta.Shape[d] != tb.Shape[d] {
				if sig == nil {
					sig = append([]int32(nil), ta.Shape...)
				}
				sig[d] = -1
			}
		}
		if sig != nil {
			if ta.Buffer != 0 {
				return false // a constant whose size depends on an input size
			}
			ta.ShapeSignature = sig
		} else if ta.ShapeSignature != nil && !reflect.DeepEqual(ta.ShapeSignature, ta.Shape) {
			ta.ShapeSignature = nil // a -1 the lowering put in for an input size that did not reach here
			for _, x := range a.sg.Inputs {
				if x == int32(i) {
					return false
				}
			}
		}
	}
	// constants: only RESHAPE targets may differ
	type fix struct {
		op           int
		target       int32
		vals         []int32
		src          []int // per entry: input dimension, or -1 for a constant (-1 itself once)
		needsRuntime bool
	}
	var fixes []fix
	for i, ta := range a.sg.Tensors {
		if ta.Buffer == 0 || bytes.Equal(a.data[ta.Buffer], b.data[b.sg.Tensors[i].Buffer]) {
			continue
		}
		opi, ok := reshapeOf[int32(i)]
		if !ok || ta.Type != tfl.TensorTypeINT32 {
			return false
		}
		va, vb := int32s(a.data[ta.Buffer]), int32s(b.data[b.sg.Tensors[i].Buffer])
		in := a.sg.Operators[opi].Inputs[0]
		ia, ib := a.sg.Tensors[in].Shape, b.sg.Tensors[in].Shape
		f := fix{op: opi, target: int32(i), vals: va, src: make([]int, len(va))}
		free := 0
		for j := range va {
			f.src[j] = -1
			if va[j] == vb[j] {
				continue
			}
			found := false
			for k := range ia {
				if ia[k] != ib[k] && ia[k] == va[j] && ib[k] == vb[j] && (!found || k == j) {
					f.src[j], found = k, true
				}
			}
			if found {
				f.needsRuntime = true
				continue
			}
			f.vals = append([]int32(nil), f.vals...)
			f.vals[j] = -1
			free++
		}
		if free > 1 {
			return false
		}
		fixes = append(fixes, f)
	}
	// rewrite the RESHAPEs, last first so that inserted ops keep earlier indices valid
	for i := len(fixes) - 1; i >= 0; i-- {
		f := fixes[i]
		op := a.sg.Operators[f.op]
		op.BuiltinOptions = &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsReshapeOptions, Value: &tfl.ReshapeOptionsT{}}
		if !f.needsRuntime {
			a.data[a.sg.Tensors[f.target].Buffer] = i32bytes(f.vals)
			continue
		}
		in := op.Inputs[0]
		rin := int64(len(a.sg.Tensors[in].Shape))
		rout := int64(len(f.vals))
		n := len(a.sg.Operators)
		sh := a.tensor("shape_of", tfl.TensorTypeINT32, []int64{rin}, nil, nil)
		a.op(tfl.BuiltinOperatorSHAPE, 1, []int32{in}, []int32{sh}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsShapeOptions, Value: &tfl.ShapeOptionsT{OutType: tfl.TensorTypeINT32}})
		kt := a.tensor("shape_const", tfl.TensorTypeINT32, []int64{rout}, i32bytes(f.vals), nil)
		table := a.tensor("shape_table", tfl.TensorTypeINT32, []int64{rin + rout}, nil, nil)
		a.op(tfl.BuiltinOperatorCONCATENATION, 1, []int32{sh, kt}, []int32{table}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsConcatenationOptions, Value: &tfl.ConcatenationOptionsT{}})
		idx := make([]int32, rout)
		for j, s := range f.src {
			idx[j] = int32(rin) + int32(j)
			if s >= 0 {
				idx[j] = int32(s)
			}
		}
		it := a.tensor("shape_index", tfl.TensorTypeINT32, []int64{rout}, i32bytes(idx), nil)
		target := a.tensor("shape", tfl.TensorTypeINT32, []int64{rout}, nil, nil)
		a.op(tfl.BuiltinOperatorGATHER, 1, []int32{table, it}, []int32{target}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsGatherOptions, Value: &tfl.GatherOptionsT{}})
		op.Inputs = []int32{in, target}
		// move the three new ops before the RESHAPE
		added := append([]*tfl.OperatorT(nil), a.sg.Operators[n:]...)
		rest := append([]*tfl.OperatorT(nil), a.sg.Operators[f.op:n]...)
		a.sg.Operators = append(append(a.sg.Operators[:f.op], added...), rest...)
	}
	return true
}

var broadcasting = map[tfl.BuiltinOperator]bool{
	tfl.BuiltinOperatorADD: true, tfl.BuiltinOperatorSUB: true, tfl.BuiltinOperatorMUL: true, tfl.BuiltinOperatorDIV: true,
	tfl.BuiltinOperatorSQUARED_DIFFERENCE: true, tfl.BuiltinOperatorMAXIMUM: true, tfl.BuiltinOperatorMINIMUM: true,
	tfl.BuiltinOperatorPOW: true, tfl.BuiltinOperatorSELECT_V2: true, tfl.BuiltinOperatorLESS: true,
	tfl.BuiltinOperatorGREATER: true, tfl.BuiltinOperatorEQUAL: true, tfl.BuiltinOperatorNOT_EQUAL: true,
	tfl.BuiltinOperatorLESS_EQUAL: true, tfl.BuiltinOperatorGREATER_EQUAL: true,
	tfl.BuiltinOperatorLOGICAL_AND: true, tfl.BuiltinOperatorLOGICAL_OR: true, tfl.BuiltinOperatorFLOOR_DIV: true,
}

func int32s(b []byte) []int32 {
	out := make([]int32, len(b)/4)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

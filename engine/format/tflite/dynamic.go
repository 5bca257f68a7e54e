package tflite

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"sort"

	"github.com/modelc/modelc/engine/format/tflite/schema/tfl"
)

// dynamicDims compares two lowerings of one graph whose unknown input sizes were given
// different values (a, then b) and, when they differ only where sizes may, turns a into
// a model whose tensors carry -1 in shape_signature for those sizes, so the interpreter
// can resize them. An int32 operand that differs (a RESHAPE target, a slice end) is
// computed at run time: its entries that are sizes of the RESHAPE's input or of a graph
// input come from a SHAPE of that tensor (SHAPE, CONCATENATION, GATHER), and a RESHAPE
// may leave one entry of neither kind as -1. Any other difference (a float constant or an
// op count that depends on a size, a broadcast against a fixed size) makes it give up: it
// returns false and a is unusable.
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
	// int32 constants that differ: each differing entry must be a size of a tensor known
	// before the op that reads it (the RESHAPE's own input, or a graph input), read at run
	// time; a RESHAPE target may leave one entry of neither kind as -1.
	consumers := map[int32][]int{}
	for i, o := range a.sg.Operators {
		for _, in := range o.Inputs {
			if in >= 0 {
				consumers[in] = append(consumers[in], i)
			}
		}
	}
	type fix struct {
		target  int32
		at      int // the first op reading it: the new ops go before it
		vals    []int32
		src     [][2]int32 // per entry: (tensor, dimension) read at run time, or {-1, -1}
		runtime bool
	}
	var fixes []fix
	for i, ta := range a.sg.Tensors {
		if ta.Buffer == 0 || bytes.Equal(a.data[ta.Buffer], b.data[b.sg.Tensors[i].Buffer]) {
			continue
		}
		ops := consumers[int32(i)]
		if ta.Type != tfl.TensorTypeINT32 || len(ops) == 0 {
			return false
		}
		reshape := true
		for _, o := range ops {
			op := a.sg.Operators[o]
			if a.model.OperatorCodes[op.OpcodeIndex].BuiltinCode != tfl.BuiltinOperatorRESHAPE || len(op.Inputs) < 2 || op.Inputs[1] != int32(i) {
				reshape = false
			}
		}
		var cands []int32
		if reshape && len(ops) == 1 {
			cands = append(cands, a.sg.Operators[ops[0]].Inputs[0])
		}
		cands = append(cands, a.sg.Inputs...)
		va, vb := int32s(a.data[ta.Buffer]), int32s(b.data[b.sg.Tensors[i].Buffer])
		f := fix{target: int32(i), at: ops[0], vals: va, src: make([][2]int32, len(va))}
		free := 0
		for j := range va {
			f.src[j] = [2]int32{-1, -1}
			if va[j] == vb[j] {
				continue
			}
		search:
			for ci, c := range cands {
				sa, sb := a.sg.Tensors[c].Shape, b.sg.Tensors[c].Shape
				for k := range sa {
					if sa[k] != sb[k] && sa[k] == va[j] && sb[k] == vb[j] {
						f.src[j] = [2]int32{c, int32(k)}
						if ci > 0 || k == j {
							break search
						}
					}
				}
				if f.src[j][0] >= 0 {
					break
				}
			}
			switch {
			case f.src[j][0] >= 0:
				f.runtime = true
			case reshape:
				f.vals = append([]int32(nil), f.vals...)
				f.vals[j] = -1
				free++
			default:
				return false
			}
		}
		if free > 1 {
			return false
		}
		fixes = append(fixes, f)
	}
	// rewrite, latest insertion point first so that earlier indices stay valid
	sort.SliceStable(fixes, func(i, j int) bool { return fixes[i].at > fixes[j].at })
	for _, f := range fixes {
		for _, o := range consumers[f.target] {
			op := a.sg.Operators[o]
			if a.model.OperatorCodes[op.OpcodeIndex].BuiltinCode == tfl.BuiltinOperatorRESHAPE {
				op.BuiltinOptions = &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsReshapeOptions, Value: &tfl.ReshapeOptionsT{}}
			}
		}
		if !f.runtime {
			a.data[a.sg.Tensors[f.target].Buffer] = i32bytes(f.vals)
			continue
		}
		n := len(a.sg.Operators)
		var parts []int32
		offset := map[int32]int32{}
		size := int32(0)
		for _, s := range f.src {
			if s[0] < 0 {
				continue
			}
			if _, ok := offset[s[0]]; ok {
				continue
			}
			r := int64(len(a.sg.Tensors[s[0]].Shape))
			sh := a.tensor("shape_of", tfl.TensorTypeINT32, []int64{r}, nil, nil)
			a.op(tfl.BuiltinOperatorSHAPE, 1, []int32{s[0]}, []int32{sh}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsShapeOptions, Value: &tfl.ShapeOptionsT{OutType: tfl.TensorTypeINT32}})
			offset[s[0]] = size
			size += int32(r)
			parts = append(parts, sh)
		}
		nv := int64(len(f.vals))
		parts = append(parts, a.tensor("shape_const", tfl.TensorTypeINT32, []int64{nv}, i32bytes(f.vals), nil))
		table := a.tensor("shape_table", tfl.TensorTypeINT32, []int64{int64(size) + nv}, nil, nil)
		a.op(tfl.BuiltinOperatorCONCATENATION, 1, parts, []int32{table}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsConcatenationOptions, Value: &tfl.ConcatenationOptionsT{}})
		idx := make([]int32, nv)
		for j, s := range f.src {
			idx[j] = size + int32(j)
			if s[0] >= 0 {
				idx[j] = offset[s[0]] + s[1]
			}
		}
		it := a.tensor("shape_index", tfl.TensorTypeINT32, []int64{nv}, i32bytes(idx), nil)
		computed := a.tensor(a.sg.Tensors[f.target].Name+"_dynamic", tfl.TensorTypeINT32, []int64{nv}, nil, nil)
		a.op(tfl.BuiltinOperatorGATHER, 1, []int32{table, it}, []int32{computed}, &tfl.BuiltinOptionsT{Type: tfl.BuiltinOptionsGatherOptions, Value: &tfl.GatherOptionsT{}})
		for _, o := range consumers[f.target] {
			for k, in := range a.sg.Operators[o].Inputs {
				if in == f.target {
					a.sg.Operators[o].Inputs[k] = computed
				}
			}
		}
		// move the new ops before the first reader
		added := append([]*tfl.OperatorT(nil), a.sg.Operators[n:]...)
		rest := append([]*tfl.OperatorT(nil), a.sg.Operators[f.at:n]...)
		a.sg.Operators = append(append(a.sg.Operators[:f.at], added...), rest...)
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

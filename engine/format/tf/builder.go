package tf

import (
	"fmt"
	"math"

	"github.com/modelc/modelc/engine/ir"
)

// kval is a Keras tensor in the graph being built. Keras tensors are channels-last; cf
// marks one held channels-first (N, C, spatial...) for the convolutions, which happens
// once, where the first layer that wants it reads it.
type kval struct {
	name  string
	rank  int
	cf    bool
	dtype ir.DType
}

type builder struct {
	file      string
	src       weightSource
	g         *ir.Graph
	used      map[string]bool
	kwTensors map[string]kval
	alt       map[string]string // a value's twin in the other layout, once made
}

func newBuilder(file string, src weightSource) *builder {
	return &builder{file: file, src: src, g: &ir.Graph{}, used: map[string]bool{}, kwTensors: map[string]kval{}, alt: map[string]string{}}
}

// fresh returns an unused value name based on base.
func (b *builder) fresh(base string) string {
	name := base
	for i := 1; b.used[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	b.used[name] = true
	return name
}

// op adds a node with one output named after base and returns that output.
func (b *builder) op(opType, base string, inputs []string, attrs ...*ir.Attribute) string {
	out := b.fresh(base)
	b.g.Nodes = append(b.g.Nodes, &ir.Node{Name: out, OpType: opType, Inputs: inputs, Outputs: []string{out}, Attrs: attrs})
	return out
}

// opN adds a node with n outputs.
func (b *builder) opN(opType, base string, inputs []string, n int, attrs ...*ir.Attribute) []string {
	outs := make([]string, n)
	for i := range outs {
		outs[i] = b.fresh(fmt.Sprintf("%s:%d", base, i))
	}
	b.g.Nodes = append(b.g.Nodes, &ir.Node{Name: b.fresh(base), OpType: opType, Inputs: inputs, Outputs: outs, Attrs: attrs})
	return outs
}

func aInt(name string, v int64) *ir.Attribute {
	return &ir.Attribute{Name: name, Type: ir.AttrInt, Int: v}
}
func aInts(name string, v ...int64) *ir.Attribute {
	return &ir.Attribute{Name: name, Type: ir.AttrInts, Ints: v}
}
func aFloat(name string, v float32) *ir.Attribute {
	return &ir.Attribute{Name: name, Type: ir.AttrFloat, Float: v}
}
func aString(name, v string) *ir.Attribute {
	return &ir.Attribute{Name: name, Type: ir.AttrString, String: []byte(v)}
}

// constF adds a float32 initializer holding v (not copied).
func (b *builder) constF(base string, shape []int64, v []float32) string {
	name := b.fresh(base)
	// v is the tensor's data from here on: a fresh slice, or a view of the input's
	// memory map (which is private: nothing writes it back).
	t, err := ir.NewTensor(name, ir.Float32, append([]int64{}, shape...), ir.Float32Bytes(v))
	if err != nil {
		panic(err) // shapes here are built by the converter itself
	}
	b.g.Initializers = append(b.g.Initializers, t)
	return name
}

// constI adds an int64 initializer.
func (b *builder) constI(base string, v ...int64) string {
	name := b.fresh(base)
	data := make([]byte, 8*len(v))
	for i, x := range v {
		for j := 0; j < 8; j++ {
			data[8*i+j] = byte(uint64(x) >> (8 * j))
		}
	}
	t, _ := ir.NewTensor(name, ir.Int64, []int64{int64(len(v))}, data)
	b.g.Initializers = append(b.g.Initializers, t)
	return name
}

// scalarF adds a float32 scalar initializer.
func (b *builder) scalarF(base string, v float32) string {
	return b.constF(base, []int64{}, []float32{v})
}

// cfPerm is the permutation from channels-last (N, d1..dk, C) to channels-first.
func cfPerm(rank int) []int64 {
	p := []int64{0, int64(rank - 1)}
	for i := 1; i < rank-1; i++ {
		p = append(p, int64(i))
	}
	return p
}

func clPerm(rank int) []int64 {
	p := []int64{0}
	for i := 2; i < rank; i++ {
		p = append(p, int64(i))
	}
	return append(p, 1)
}

// toCF returns v held channels-first (one Transpose, made once per tensor).
func (b *builder) toCF(v kval) kval {
	if v.cf || v.rank < 3 {
		return v
	}
	s, ok := b.alt[v.name]
	if !ok {
		s = b.op("Transpose", v.name+"_nchw", []string{v.name}, aInts("perm", cfPerm(v.rank)...))
		b.alt[v.name], b.alt[s] = s, v.name
	}
	return kval{name: s, rank: v.rank, cf: true, dtype: v.dtype}
}

// toCL returns v held channels-last, as Keras has it.
func (b *builder) toCL(v kval) kval {
	if !v.cf || v.rank < 3 {
		return v
	}
	s, ok := b.alt[v.name]
	if !ok {
		s = b.op("Transpose", v.name+"_nhwc", []string{v.name}, aInts("perm", clPerm(v.rank)...))
		b.alt[v.name], b.alt[s] = s, v.name
	}
	return kval{name: s, rank: v.rank, cf: false, dtype: v.dtype}
}

// input declares a graph input from an InputLayer.
func (b *builder) input(l *kerasObj) (kval, error) {
	var c struct {
		BatchShape      []*int64 `json:"batch_shape"`
		BatchInputShape []*int64 `json:"batch_input_shape"`
		DType           any      `json:"dtype"`
		Name            string   `json:"name"`
		Sparse          bool     `json:"sparse"`
		Ragged          bool     `json:"ragged"`
	}
	if err := jsonConfig(l, &c); err != nil {
		return kval{}, err
	}
	if c.Sparse || c.Ragged {
		return kval{}, ir.Errorf(ir.KindUnsupported, "", "input %q: sparse and ragged inputs are not supported", l.Name)
	}
	shape := c.BatchShape
	if shape == nil {
		shape = c.BatchInputShape
	}
	if shape == nil {
		return kval{}, ir.Errorf(ir.KindCorrupt, "", "input %q has no batch_shape", l.Name)
	}
	dt := ir.Float32
	switch dtypeName(c.DType) {
	case "float32", "":
	case "int32":
		dt = ir.Int32
	case "int64":
		dt = ir.Int64
	default:
		return kval{}, ir.Errorf(ir.KindUnsupported, "", "input %q: dtype %v", l.Name, c.DType)
	}
	s := &ir.Shape{}
	for i, d := range shape {
		if d == nil {
			p := "batch"
			if i > 0 {
				p = fmt.Sprintf("%s_d%d", l.Name, i)
			}
			s.Dims = append(s.Dims, ir.Dim{Param: p})
		} else {
			s.Dims = append(s.Dims, ir.Dim{Value: *d, HasValue: true})
		}
	}
	name := b.fresh(l.Name)
	b.g.Inputs = append(b.g.Inputs, &ir.ValueInfo{Name: name, Type: &ir.Type{Kind: ir.TypeTensor, ElemType: dt, Shape: s}})
	return kval{name: name, rank: len(shape), dtype: dt}, nil
}

func dtypeName(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if c, ok := x["config"].(map[string]any); ok {
			if n, ok := c["name"].(string); ok {
				return n
			}
		}
	}
	return ""
}

// output declares v (channels-last, as Keras gives it) a graph output called name.
func (b *builder) output(v kval, name string) {
	v = b.toCL(v)
	out := v.name
	if out != name || isInput(b.g, out) || isOutput(b.g, out) {
		out = b.fresh(name)
		b.op2("Identity", v.name, out)
	}
	// The rank is known; the sizes are left to shape inference.
	b.g.Outputs = append(b.g.Outputs, &ir.ValueInfo{Name: out, Type: &ir.Type{Kind: ir.TypeTensor, ElemType: v.dtype, Shape: &ir.Shape{Dims: make([]ir.Dim, v.rank)}}})
}

func isOutput(g *ir.Graph, name string) bool {
	for _, o := range g.Outputs {
		if o.Name == name {
			return true
		}
	}
	return false
}

func isInput(g *ir.Graph, name string) bool {
	for _, in := range g.Inputs {
		if in.Name == name {
			return true
		}
	}
	return false
}

// op2 adds a one-input node whose output has exactly the name out.
func (b *builder) op2(opType, in, out string) {
	b.g.Nodes = append(b.g.Nodes, &ir.Node{Name: out, OpType: opType, Inputs: []string{in}, Outputs: []string{out}})
}

// activation applies a Keras activation by name.
func (b *builder) activation(v kval, act any, layer string) (kval, error) {
	name := ""
	switch a := act.(type) {
	case nil:
		return v, nil
	case string:
		name = a
	case map[string]any:
		// {"module": "keras.activations", "class_name": "function", "config": "relu"}
		if c, ok := a["config"].(string); ok {
			name = c
		} else if c, ok := a["class_name"].(string); ok {
			name = c
		}
	}
	out := func(s string) kval { return kval{name: s, rank: v.rank, cf: v.cf, dtype: v.dtype} }
	base := layer + "_" + name
	switch name {
	case "linear", "":
		return v, nil
	case "relu":
		return out(b.op("Relu", base, []string{v.name})), nil
	case "relu6":
		return out(b.op("Clip", base, []string{v.name, b.scalarF(base+"_min", 0), b.scalarF(base+"_max", 6)})), nil
	case "sigmoid":
		return out(b.op("Sigmoid", base, []string{v.name})), nil
	case "tanh":
		return out(b.op("Tanh", base, []string{v.name})), nil
	case "elu":
		return out(b.op("Elu", base, []string{v.name})), nil
	case "selu":
		return out(b.op("Selu", base, []string{v.name})), nil
	case "softplus":
		return out(b.op("Softplus", base, []string{v.name})), nil
	case "softsign":
		return out(b.op("Softsign", base, []string{v.name})), nil
	case "exponential":
		return out(b.op("Exp", base, []string{v.name})), nil
	case "swish", "silu":
		s := b.op("Sigmoid", base+"_sig", []string{v.name})
		return out(b.op("Mul", base, []string{v.name, s})), nil
	case "hard_sigmoid":
		return out(b.op("HardSigmoid", base, []string{v.name}, aFloat("alpha", 1.0/6), aFloat("beta", 0.5))), nil
	case "hard_swish", "hard_silu":
		return out(b.op("HardSwish", base, []string{v.name})), nil
	case "leaky_relu":
		return out(b.op("LeakyRelu", base, []string{v.name}, aFloat("alpha", 0.2))), nil
	case "gelu":
		return b.gelu(v, base), nil
	case "mish":
		sp := b.op("Softplus", base+"_sp", []string{v.name})
		t := b.op("Tanh", base+"_tanh", []string{sp})
		return out(b.op("Mul", base, []string{v.name, t})), nil
	case "softmax":
		cl := b.toCL(v)
		return kval{name: b.op("Softmax", base, []string{cl.name}, aInt("axis", -1)), rank: v.rank, dtype: v.dtype}, nil
	case "log_softmax":
		cl := b.toCL(v)
		return kval{name: b.op("LogSoftmax", base, []string{cl.name}, aInt("axis", -1)), rank: v.rank, dtype: v.dtype}, nil
	}
	return kval{}, ir.Errorf(ir.KindUnsupported, "", "layer %q: activation %q is not supported", layer, name)
}

// gelu is the exact (erf) GELU, as keras.activations.gelu computes by default.
func (b *builder) gelu(v kval, base string) kval {
	d := b.op("Mul", base+"_scaled", []string{v.name, b.scalarF(base+"_rsqrt2", float32(1/math.Sqrt2))})
	e := b.op("Erf", base+"_erf", []string{d})
	p := b.op("Add", base+"_1p", []string{e, b.scalarF(base+"_one", 1)})
	h := b.op("Mul", base+"_half", []string{v.name, b.scalarF(base+"_0.5", 0.5)})
	return kval{name: b.op("Mul", base, []string{h, p}), rank: v.rank, cf: v.cf, dtype: v.dtype}
}

// permute returns the values of a row-major tensor of shape transposed by perm.
func permute(src []float32, shape []int64, perm []int) ([]float32, []int64) {
	rank := len(shape)
	out := make([]float32, len(src))
	oshape := make([]int64, rank)
	for i, p := range perm {
		oshape[i] = shape[p]
	}
	sstride := make([]int64, rank)
	s := int64(1)
	for i := rank - 1; i >= 0; i-- {
		sstride[i] = s
		s *= shape[i]
	}
	idx := make([]int64, rank)
	for o := range out {
		var off int64
		for i := 0; i < rank; i++ {
			off += idx[i] * sstride[perm[i]]
		}
		out[o] = src[off]
		for i := rank - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < oshape[i] {
				break
			}
			idx[i] = 0
		}
	}
	return out, oshape
}

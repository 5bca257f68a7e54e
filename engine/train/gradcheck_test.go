package train

import (
	"math"
	"math/rand"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

func attrInts(name string, v ...int64) *ir.Attribute {
	return &ir.Attribute{Name: name, Type: ir.AttrInts, Ints: v}
}
func attrInt(name string, v int64) *ir.Attribute {
	return &ir.Attribute{Name: name, Type: ir.AttrInt, Int: v}
}
func attrFloat(name string, v float32) *ir.Attribute {
	return &ir.Attribute{Name: name, Type: ir.AttrFloat, Float: v}
}

type init_ struct {
	name  string
	shape []int64
	ints  []int64 // an int64 constant instead of random floats
}

// graphModel builds a one-output model from nodes and random float initializers.
func graphModel(t testing.TB, rng *rand.Rand, nodes []*ir.Node, inits []init_, out string) *ir.Model {
	g := &ir.Graph{Nodes: nodes, Outputs: []*ir.ValueInfo{{Name: out}}}
	for _, in := range inits {
		var tn *ir.Tensor
		var err error
		if in.ints != nil {
			b := make([]byte, 8*len(in.ints))
			for i, v := range in.ints {
				for k := 0; k < 8; k++ {
					b[8*i+k] = byte(uint64(v) >> (8 * k))
				}
			}
			tn, err = ir.NewTensor(in.name, ir.Int64, in.shape, b)
		} else {
			f := make([]float32, ir.NumElements(in.shape))
			for i := range f {
				f[i] = float32(rng.NormFloat64())
			}
			tn, err = ir.NewTensor(in.name, ir.Float32, in.shape, ir.Float32Bytes(f))
		}
		if err != nil {
			t.Fatal(err)
		}
		g.Initializers = append(g.Initializers, tn)
	}
	return &ir.Model{Graph: g, Opsets: []ir.OpsetImport{{Domain: "", Version: 17}}}
}

// gradCheck compares the gradients of Σ out·R with central finite differences.
func gradCheck(t *testing.T, m *ir.Model, out string) {
	t.Helper()
	n, err := NewNet(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	n.Float64 = true
	tp, err := n.Forward(nil)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(7))
	r := zerosLike(tp.Values[out])
	for i := range r.D {
		r.D[i] = rng.NormFloat64()
	}
	// Every pass below runs on recycled buffers filled with NaN: an op that leaves
	// part of a buffer unwritten shows up as a NaN gradient.
	tp.Release()
	poisonArena(n)
	if tp, err = n.Forward(nil); err != nil {
		t.Fatal(err)
	}
	f := func() float64 {
		tp, err := n.Forward(nil)
		if err != nil {
			t.Fatal(err)
		}
		s := 0.0
		for i, v := range tp.Values[out].D {
			s += v * r.D[i]
		}
		tp.Release()
		poisonArena(n)
		return s
	}
	n.ZeroGrad()
	if err := tp.Backward(map[string]*T{out: r}); err != nil {
		t.Fatal(err)
	}
	const h = 1e-6
	for _, p := range n.Params {
		for i := range p.Value.D {
			w := p.Value.D[i]
			p.Value.D[i] = w + h
			fp := f()
			p.Value.D[i] = w - h
			fm := f()
			p.Value.D[i] = w
			num := (fp - fm) / (2 * h)
			if got := p.Grad.D[i]; math.IsNaN(got) || math.IsNaN(num) || math.Abs(got-num) > 1e-5*math.Max(1, math.Abs(num)) {
				t.Fatalf("%s[%d]: backward %.8g, finite differences %.8g", p.Name, i, got, num)
			}
		}
	}
}

func node(op string, in, out []string, attrs ...*ir.Attribute) *ir.Node {
	return &ir.Node{Name: op + "_" + out[0], OpType: op, Inputs: in, Outputs: out, Attrs: attrs}
}

func TestGradients(t *testing.T) {
	x4 := init_{name: "x", shape: []int64{2, 4, 5, 5}}
	cases := []struct {
		name  string
		nodes []*ir.Node
		inits []init_
	}{
		{"Gemm", []*ir.Node{node("Gemm", []string{"a", "b", "c"}, []string{"y"}, attrInt("transB", 1), attrFloat("alpha", 0.7))},
			[]init_{{name: "a", shape: []int64{3, 4}}, {name: "b", shape: []int64{5, 4}}, {name: "c", shape: []int64{5}}}},
		{"GemmTransA", []*ir.Node{node("Gemm", []string{"a", "b", "c"}, []string{"y"}, attrInt("transA", 1), attrFloat("beta", 0.5))},
			[]init_{{name: "a", shape: []int64{4, 3}}, {name: "b", shape: []int64{4, 5}}, {name: "c", shape: []int64{3, 1}}}},
		{"MatMulBatched", []*ir.Node{node("MatMul", []string{"a", "b"}, []string{"y"})},
			[]init_{{name: "a", shape: []int64{2, 3, 4}}, {name: "b", shape: []int64{2, 4, 5}}}},
		{"MatMul2D", []*ir.Node{node("MatMul", []string{"a", "b"}, []string{"y"})},
			[]init_{{name: "a", shape: []int64{2, 3, 4}}, {name: "b", shape: []int64{4, 5}}}},
		{"Conv", []*ir.Node{node("Conv", []string{"x", "w", "b"}, []string{"y"}, attrInts("pads", 1, 0, 1, 2), attrInts("strides", 2, 1), attrInts("dilations", 1, 2))},
			[]init_{x4, {name: "w", shape: []int64{3, 4, 3, 2}}, {name: "b", shape: []int64{3}}}},
		{"ConvGrouped", []*ir.Node{node("Conv", []string{"x", "w"}, []string{"y"}, attrInt("group", 2), attrInts("pads", 1, 1, 1, 1))},
			[]init_{x4, {name: "w", shape: []int64{6, 2, 3, 3}}}},
		{"ConvDepthwise", []*ir.Node{node("Conv", []string{"x", "w", "b"}, []string{"y"}, attrInt("group", 4), attrInts("strides", 2, 2))},
			[]init_{x4, {name: "w", shape: []int64{4, 1, 3, 3}}, {name: "b", shape: []int64{4}}}},
		{"Conv1D", []*ir.Node{node("Conv", []string{"x", "w"}, []string{"y"}, attrInts("pads", 1, 1))},
			[]init_{{name: "x", shape: []int64{2, 3, 7}}, {name: "w", shape: []int64{4, 3, 3}}}},
		{"ConvTranspose", []*ir.Node{node("ConvTranspose", []string{"x", "w", "b"}, []string{"y"}, attrInts("strides", 2, 2), attrInts("pads", 1, 0, 0, 1), attrInt("group", 2))},
			[]init_{x4, {name: "w", shape: []int64{4, 3, 3, 3}}, {name: "b", shape: []int64{6}}}},
		{"AddBroadcast", []*ir.Node{node("Add", []string{"a", "b"}, []string{"y"})},
			[]init_{{name: "a", shape: []int64{2, 3, 4}}, {name: "b", shape: []int64{3, 1}}}},
		{"SubMulDiv", []*ir.Node{node("Sub", []string{"a", "b"}, []string{"s"}), node("Mul", []string{"s", "c"}, []string{"m"}), node("Div", []string{"m", "d"}, []string{"y"})},
			[]init_{{name: "a", shape: []int64{2, 3}}, {name: "b", shape: []int64{1, 3}}, {name: "c", shape: []int64{2, 1}}, {name: "d", shape: []int64{3}}}},
		{"AddMulDivRows", []*ir.Node{node("Add", []string{"a", "b"}, []string{"s"}), node("Mul", []string{"s", "c"}, []string{"m"}), node("Div", []string{"d", "m"}, []string{"q"}), node("Sub", []string{"q", "e"}, []string{"y"})},
			[]init_{{name: "a", shape: []int64{1, 4}}, {name: "b", shape: []int64{2, 3, 4}}, {name: "c", shape: []int64{2, 3, 4}}, {name: "d", shape: []int64{3, 4}}, {name: "e", shape: []int64{2, 3, 4}}}},
		{"MaxPool", []*ir.Node{node("MaxPool", []string{"x"}, []string{"y"}, attrInts("kernel_shape", 3, 2), attrInts("strides", 2, 2), attrInts("pads", 1, 1, 1, 0))}, []init_{x4}},
		{"MaxPool 2×2/2 tiling", []*ir.Node{node("MaxPool", []string{"x"}, []string{"y"}, attrInts("kernel_shape", 2, 2), attrInts("strides", 2, 2))}, []init_{{name: "x", shape: []int64{2, 3, 4, 6}}}},
		{"MaxPool 2×2/2 not tiling", []*ir.Node{node("MaxPool", []string{"x"}, []string{"y"}, attrInts("kernel_shape", 2, 2), attrInts("strides", 2, 2))}, []init_{x4}},
		{"MaxPool 3×2 overlapping", []*ir.Node{node("MaxPool", []string{"x"}, []string{"y"}, attrInts("kernel_shape", 3, 2), attrInts("strides", 1, 2))}, []init_{x4}},
		{"AveragePool", []*ir.Node{node("AveragePool", []string{"x"}, []string{"y"}, attrInts("kernel_shape", 2, 3), attrInts("pads", 0, 1, 1, 1))}, []init_{x4}},
		{"GlobalAveragePool", []*ir.Node{node("GlobalAveragePool", []string{"x"}, []string{"y"})}, []init_{x4}},
		{"FlattenReshapeTranspose", []*ir.Node{node("Flatten", []string{"x"}, []string{"f"}, attrInt("axis", 2)), node("Reshape", []string{"f", "s"}, []string{"r"}), node("Transpose", []string{"r"}, []string{"y"}, attrInts("perm", 2, 0, 1))},
			[]init_{x4, {name: "s", shape: []int64{3}, ints: []int64{4, -1, 5}}}},
		{"Concat", []*ir.Node{node("Concat", []string{"a", "b"}, []string{"y"}, attrInt("axis", 1))},
			[]init_{{name: "a", shape: []int64{2, 3, 2}}, {name: "b", shape: []int64{2, 1, 2}}}},
		{"BatchNormalization", []*ir.Node{node("BatchNormalization", []string{"x", "s", "b", "m", "v"}, []string{"y"})},
			[]init_{x4, {name: "s", shape: []int64{4}}, {name: "b", shape: []int64{4}}, {name: "m", shape: []int64{4}}, {name: "v", shape: []int64{4}, ints: nil}}},
		{"BatchNormalizationTrain", []*ir.Node{node("BatchNormalization", []string{"x", "s", "b", "m", "v"}, []string{"y"}, attrInt("training_mode", 1))},
			[]init_{x4, {name: "s", shape: []int64{4}}, {name: "b", shape: []int64{4}}, {name: "m", shape: []int64{4}}, {name: "v", shape: []int64{4}}}},
		{"LayerNormalization", []*ir.Node{node("LayerNormalization", []string{"x", "s", "b"}, []string{"y"}, attrInt("axis", -2))},
			[]init_{x4, {name: "s", shape: []int64{5, 5}}, {name: "b", shape: []int64{5, 5}}}},
		{"Softmax", []*ir.Node{node("Softmax", []string{"x"}, []string{"y"}, attrInt("axis", 1))}, []init_{x4}},
		{"LogSoftmax", []*ir.Node{node("LogSoftmax", []string{"x"}, []string{"y"})}, []init_{x4}},
	}
	for _, op := range []string{"Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Gelu", "Dropout", "Identity"} {
		cases = append(cases, struct {
			name  string
			nodes []*ir.Node
			inits []init_
		}{op, []*ir.Node{node(op, []string{"x"}, []string{"y"})}, []init_{x4}})
	}
	cases = append(cases, struct {
		name  string
		nodes []*ir.Node
		inits []init_
	}{"Clip", []*ir.Node{node("Clip", []string{"x", "lo", "hi"}, []string{"y"})}, []init_{x4}})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(1))
			m := graphModel(t, rng, c.nodes, c.inits, "y")
			if c.name == "Clip" {
				// lo and hi as float constants, not trained.
				m.Graph.Nodes = append([]*ir.Node{
					{Name: "lo", OpType: "Constant", Outputs: []string{"lo"}, Attrs: []*ir.Attribute{{Name: "value", Type: ir.AttrTensor, Tensor: scalar("lo", -0.5)}}},
					{Name: "hi", OpType: "Constant", Outputs: []string{"hi"}, Attrs: []*ir.Attribute{{Name: "value", Type: ir.AttrTensor, Tensor: scalar("hi", 0.7)}}},
				}, m.Graph.Nodes...)
			}
			if c.name == "BatchNormalization" || c.name == "BatchNormalizationTrain" {
				v := m.Graph.Initializers[4]
				f, _ := v.Float32s()
				for i := range f {
					f[i] = f[i]*f[i] + 0.1
				}
				_ = v.SetBytes(ir.Float32Bytes(f))
			}
			gradCheck(t, m, "y")
		})
	}
}

func scalar(name string, v float32) *ir.Tensor {
	t, _ := ir.NewTensor(name, ir.Float32, nil, ir.Float32Bytes([]float32{v}))
	return t
}

func TestLossGradients(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	s, te := New(4, 5), New(4, 5)
	for i := range s.D {
		s.D[i], te.D[i] = rng.NormFloat64(), rng.NormFloat64()
	}
	labels := []int64{0, 3, 4, 1}
	for name, f := range map[string]func(*T) (float64, *T){
		"KD":  func(x *T) (float64, *T) { return KD(x, te, 2.5) },
		"CE":  func(x *T) (float64, *T) { return CE(x, labels) },
		"MSE": func(x *T) (float64, *T) { return MSE(x, te) },
	} {
		_, g := f(s)
		for i := range s.D {
			w := s.D[i]
			s.D[i] = w + 1e-6
			fp, _ := f(s)
			s.D[i] = w - 1e-6
			fm, _ := f(s)
			s.D[i] = w
			if num := (fp - fm) / 2e-6; math.Abs(num-g.D[i]) > 1e-6 {
				t.Fatalf("%s[%d]: gradient %g, finite differences %g", name, i, g.D[i], num)
			}
		}
	}
}

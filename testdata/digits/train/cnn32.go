package main

import (
	"math/rand"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/modelc/modelc/engine/ir"
	modeltrain "github.com/modelc/modelc/engine/train"
)

// side is the resolution the input-downscaling demonstration starts from: the 8×8 digits
// upsampled to 32×32.
const side = 32

// upsample resizes 8×8 images (64 values each) to side×side with modelc's bilinear resize
// (half-pixel centres, as ONNX Resize linear and torch's align_corners=False), the same
// resize `compress --recover` applies to a retargeted student's images.
func upsample(rows [][]float32) [][]float32 {
	x := modeltrain.New(len(rows), 1, 8, 8)
	for i, r := range rows {
		for j, v := range r {
			x.D[i*features+j] = float64(v)
		}
	}
	y := modeltrain.ResizeBilinear(x, side, side)
	out := make([][]float32, len(rows))
	for i := range out {
		out[i] = make([]float32, side*side)
		for j := range out[i] {
			out[i][j] = float32(y.D[i*side*side+j])
		}
	}
	return out
}

// cnn32Spec: Conv 3×3 1→8, ReLU, MaxPool 2×2, Conv 3×3 8→16, ReLU, MaxPool 2×2, Flatten,
// Gemm 1024→10, on the 32×32 images. Two pools leave an 8×8 feature map for the
// classifier, so retargeting to a smaller input has something to save in every conv.
func cnn32Spec() netSpec {
	rng := rand.New(rand.NewSource(3))
	p := []param{
		{"conv1.weight", []int{8, 1, 3, 3}, heInit(rng, 8*9, 9)}, {"conv1.bias", []int{8}, make([]float32, 8)},
		{"conv2.weight", []int{16, 8, 3, 3}, heInit(rng, 16*8*9, 8*9)}, {"conv2.bias", []int{16}, make([]float32, 16)},
		{"fc.weight", []int{10, 1024}, heInit(rng, 10*1024, 1024)}, {"fc.bias", []int{10}, make([]float32, 10)},
	}
	return netSpec{name: "cnn32", inputs: side * side, params: p, epochs: 20, lr: 0.002,
		forward: func(g *G.ExprGraph, x *G.Node, w []*G.Node, n int) (*G.Node, error) {
			h, err := G.Reshape(x, tensor.Shape{n, 1, side, side})
			if err != nil {
				return nil, err
			}
			for l := 0; l < 2; l++ {
				if h, err = conv3x3BiasRelu(h, w[2*l], w[2*l+1]); err != nil {
					return nil, err
				}
				if h, err = G.MaxPool2D(h, tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2}); err != nil {
					return nil, err
				}
			}
			if h, err = G.Reshape(h, tensor.Shape{n, 1024}); err != nil {
				return nil, err
			}
			wt, err := G.Transpose(w[4])
			if err != nil {
				return nil, err
			}
			if h, err = G.Mul(h, wt); err != nil {
				return nil, err
			}
			return G.BroadcastAdd(h, w[5], nil, []byte{0})
		},
		export: exportCNN32,
	}
}

// exportCNN32 writes the graph with an image input, "image" float32 [N, 1, 32, 32]: the
// shape `compress --input-shape/--input-scale` retargets.
func exportCNN32(w [][]float32) (*ir.Model, error) {
	spec := cnn32Spec()
	g := &ir.Graph{}
	for i, p := range spec.params {
		g.Initializers = append(g.Initializers, f32Tensor(p.name, p.shape, w[i]))
	}
	pool := func(name, in string) *ir.Node {
		return node(name, "MaxPool", []string{in}, []string{name + ".out"}, ints("kernel_shape", 2, 2), ints("strides", 2, 2))
	}
	g.Nodes = []*ir.Node{
		node("conv1", "Conv", []string{"image", "conv1.weight", "conv1.bias"}, []string{"conv1.out"},
			ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1)),
		node("relu1", "Relu", []string{"conv1.out"}, []string{"relu1.out"}),
		pool("pool1", "relu1.out"),
		node("conv2", "Conv", []string{"pool1.out", "conv2.weight", "conv2.bias"}, []string{"conv2.out"},
			ints("kernel_shape", 3, 3), ints("pads", 1, 1, 1, 1)),
		node("relu2", "Relu", []string{"conv2.out"}, []string{"relu2.out"}),
		pool("pool2", "relu2.out"),
		node("flatten", "Flatten", []string{"pool2.out"}, []string{"flat"}, intAttr("axis", 1)),
		node("fc", "Gemm", []string{"flat", "fc.weight", "fc.bias"}, []string{"logits"}, intAttr("transB", 1)),
	}
	m := newModel("cnn32", g)
	m.Graph.Inputs = []*ir.ValueInfo{{Name: "image", Type: &ir.Type{Kind: ir.TypeTensor, ElemType: ir.Float32,
		Shape: &ir.Shape{Dims: []ir.Dim{{Param: "N"}, {Value: 1, HasValue: true}, {Value: side, HasValue: true}, {Value: side, HasValue: true}}}}}}
	m.DocString = "UCI optical digits upsampled to 32×32 (bilinear), CNN trained with gorgonia; see testdata/digits/README.md"
	return m, nil
}

// Command train retrains the two digits classifiers of testdata/digits (an MLP and a
// small CNN) with gorgonia, from a fixed seed, and exports them to ONNX with modelc's own
// writer, together with the test split (inputs and labels) and a calibration set.
//
//	go run ./testdata/digits/train            # rewrites testdata/digits/*.onnx, *.npz, *.npy
//	go run ./testdata/digits/train -out DIR   # writes them to DIR instead
//
// Everything is deterministic: the weight initialisation and the batch order come from
// math/rand with fixed seeds, gorgonia's float32 kernels run single-threaded in a fixed
// order, so running it again on the same platform reproduces the committed files byte for
// byte: `go run ./testdata/digits/train -check` retrains into a temporary folder and
// compares.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/modelc/modelc/engine/format/npy"
	"github.com/modelc/modelc/engine/format/onnx"
	"github.com/modelc/modelc/engine/ir"
)

const (
	features = 64 // 8×8 pixels
	classes  = 10
	batch    = 32
)

func main() {
	out := flag.String("out", "testdata/digits", "folder for the models and data files")
	data := flag.String("data", "testdata/digits/digits.csv.gz", "the UCI digits (scikit-learn's digits.csv.gz)")
	check := flag.Bool("check", false, "retrain into a temporary folder and compare with -out byte for byte")
	flag.Parse()
	dst := *out
	if *check {
		tmp, err := os.MkdirTemp("", "digits")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(tmp)
		dst = tmp
	}
	if err := run(*data, dst); err != nil {
		log.Fatal(err)
	}
	if *check {
		for _, name := range outputs {
			a, err1 := os.ReadFile(filepath.Join(*out, name))
			b, err2 := os.ReadFile(filepath.Join(dst, name))
			if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
				log.Fatalf("%s: retrained file differs from the committed one (%v %v)", name, err1, err2)
			}
		}
		fmt.Println("retrained files are identical to the committed ones")
	}
}

// outputs are the files run writes.
var outputs = []string{"mlp.onnx", "cnn.onnx", "cnn32.onnx", "test_inputs.npz", "test_labels.npy", "calib.npz"}

func run(dataPath, dst string) error {
	x, y, err := load(dataPath)
	if err != nil {
		return err
	}
	// The fixed split: every fifth sample (index % 5 == 0) is test data, 360 of 1797.
	var trX, teX [][]float32
	var trY, teY []int
	for i := range x {
		if i%5 == 0 {
			teX, teY = append(teX, x[i]), append(teY, y[i])
		} else {
			trX, trY = append(trX, x[i]), append(trY, y[i])
		}
	}
	log.Printf("train %d, test %d", len(trX), len(teX))
	trX32, teX32 := upsample(trX), upsample(teX)
	for _, spec := range []netSpec{mlpSpec(), cnnSpec(), cnn32Spec()} {
		tr, te := trX, teX
		if spec.inputs == side*side {
			tr, te = trX32, teX32
		}
		w, err := train(spec, tr, trY, te, teY)
		if err != nil {
			return fmt.Errorf("%s: %w", spec.name, err)
		}
		m, err := spec.export(w)
		if err != nil {
			return err
		}
		if _, err := onnx.Write(m, filepath.Join(dst, spec.name+".onnx"), onnx.WriteOptions{}); err != nil {
			return err
		}
	}
	// The test split as the models' input, the labels, and 128 training images (every
	// tenth) to calibrate static quantization on data the accuracy is not measured on.
	in, err := floatTensor("input", teX)
	if err != nil {
		return err
	}
	if err := npy.WriteNPZ(filepath.Join(dst, "test_inputs.npz"), []*ir.Tensor{in}); err != nil {
		return err
	}
	lab := make([]int64, len(teY))
	for i, v := range teY {
		lab[i] = int64(v)
	}
	lt, err := ir.FromDense("labels", tensor.New(tensor.WithShape(len(lab)), tensor.WithBacking(lab)))
	if err != nil {
		return err
	}
	if err := npy.WriteNPY(filepath.Join(dst, "test_labels.npy"), lt); err != nil {
		return err
	}
	var cal [][]float32
	for i := 0; i < len(trX) && len(cal) < 128; i += 10 {
		cal = append(cal, trX[i])
	}
	ct, err := floatTensor("input", cal)
	if err != nil {
		return err
	}
	return npy.WriteNPZ(filepath.Join(dst, "calib.npz"), []*ir.Tensor{ct})
}

// load reads the csv: 64 pixel values 0..16 then the class, one image a line. Pixels are
// scaled to [0, 1].
func load(path string) ([][]float32, []int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, nil, err
	}
	r := csv.NewReader(zr)
	var xs [][]float32
	var ys []int
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		if len(rec) != features+1 {
			return nil, nil, fmt.Errorf("%s: line %d has %d fields, want %d", path, len(xs)+1, len(rec), features+1)
		}
		x := make([]float32, features)
		for j := range x {
			v, err := strconv.ParseFloat(rec[j], 64)
			if err != nil {
				return nil, nil, err
			}
			x[j] = float32(v / 16)
		}
		c, err := strconv.Atoi(rec[features])
		if err != nil || c < 0 || c >= classes {
			return nil, nil, fmt.Errorf("%s: line %d: bad class %q", path, len(xs)+1, rec[features])
		}
		xs, ys = append(xs, x), append(ys, c)
	}
	return xs, ys, nil
}

func floatTensor(name string, rows [][]float32) (*ir.Tensor, error) {
	flat := make([]float32, 0, len(rows)*features)
	for _, r := range rows {
		flat = append(flat, r...)
	}
	return ir.FromDense(name, tensor.New(tensor.WithShape(len(rows), features), tensor.WithBacking(flat)))
}

// param is one learnable tensor: its name in the ONNX file, shape and initial values.
type param struct {
	name  string
	shape []int
	init  []float32
}

// netSpec describes one network: its parameters, how to build its forward graph in
// gorgonia, how to export it, and how long to train.
type netSpec struct {
	name    string
	inputs  int // values per sample the graph reads: 64 pixels, or 1024 for the 32×32 CNN
	params  []param
	forward func(g *G.ExprGraph, x *G.Node, w []*G.Node, n int) (*G.Node, error)
	export  func(w [][]float32) (*ir.Model, error)
	epochs  int
	lr      float64
}

// heInit draws fan-in-scaled normal weights (He et al.) from rng.
func heInit(rng *rand.Rand, n, fanIn int) []float32 {
	v := make([]float32, n)
	s := math.Sqrt(2 / float64(fanIn))
	for i := range v {
		v[i] = float32(rng.NormFloat64() * s)
	}
	return v
}

func mlpSpec() netSpec {
	rng := rand.New(rand.NewSource(1))
	p := []param{
		{"fc1.weight", []int{64, 128}, heInit(rng, 64*128, 64)}, {"fc1.bias", []int{128}, make([]float32, 128)},
		{"fc2.weight", []int{128, 64}, heInit(rng, 128*64, 128)}, {"fc2.bias", []int{64}, make([]float32, 64)},
		{"fc3.weight", []int{64, 10}, heInit(rng, 64*10, 64)}, {"fc3.bias", []int{10}, make([]float32, 10)},
	}
	return netSpec{name: "mlp", inputs: features, params: p, epochs: 40, lr: 0.002,
		forward: func(g *G.ExprGraph, x *G.Node, w []*G.Node, n int) (*G.Node, error) {
			h := x
			for l := 0; l < 3; l++ {
				var err error
				if h, err = G.Mul(h, w[2*l]); err != nil {
					return nil, err
				}
				if h, err = G.BroadcastAdd(h, w[2*l+1], nil, []byte{0}); err != nil {
					return nil, err
				}
				if l < 2 {
					if h, err = G.Rectify(h); err != nil {
						return nil, err
					}
				}
			}
			return h, nil
		},
		export: exportMLP,
	}
}

func cnnSpec() netSpec {
	rng := rand.New(rand.NewSource(2))
	p := []param{
		{"conv1.weight", []int{16, 1, 3, 3}, heInit(rng, 16*9, 9)}, {"conv1.bias", []int{16}, make([]float32, 16)},
		{"conv2.weight", []int{32, 16, 3, 3}, heInit(rng, 32*16*9, 16*9)}, {"conv2.bias", []int{32}, make([]float32, 32)},
		{"fc1.weight", []int{64, 512}, heInit(rng, 64*512, 512)}, {"fc1.bias", []int{64}, make([]float32, 64)},
		{"fc2.weight", []int{10, 64}, heInit(rng, 10*64, 64)}, {"fc2.bias", []int{10}, make([]float32, 10)},
	}
	return netSpec{name: "cnn", inputs: features, params: p, epochs: 30, lr: 0.002,
		forward: func(g *G.ExprGraph, x *G.Node, w []*G.Node, n int) (*G.Node, error) {
			h, err := G.Reshape(x, tensor.Shape{n, 1, 8, 8})
			if err != nil {
				return nil, err
			}
			for l := 0; l < 2; l++ {
				if h, err = conv3x3BiasRelu(h, w[2*l], w[2*l+1]); err != nil {
					return nil, err
				}
			}
			if h, err = G.MaxPool2D(h, tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2}); err != nil {
				return nil, err
			}
			if h, err = G.Reshape(h, tensor.Shape{n, 512}); err != nil {
				return nil, err
			}
			// The fully connected weights are stored [out, in] (Gemm with transB=1).
			for l := 2; l < 4; l++ {
				wt, err := G.Transpose(w[2*l])
				if err != nil {
					return nil, err
				}
				if h, err = G.Mul(h, wt); err != nil {
					return nil, err
				}
				if h, err = G.BroadcastAdd(h, w[2*l+1], nil, []byte{0}); err != nil {
					return nil, err
				}
				if l == 2 {
					if h, err = G.Rectify(h); err != nil {
						return nil, err
					}
				}
			}
			return h, nil
		},
		export: exportCNN,
	}
}

// build makes a graph of the network for n images with the given weights.
func build(spec netSpec, w [][]float32, n int) (*G.ExprGraph, *G.Node, []*G.Node, *G.Node, error) {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float32, G.WithShape(n, spec.inputs), G.WithName("x"))
	nodes := make([]*G.Node, len(spec.params))
	for i, p := range spec.params {
		val := tensor.New(tensor.WithShape(p.shape...), tensor.WithBacking(append([]float32(nil), w[i]...)))
		nodes[i] = G.NewTensor(g, tensor.Float32, len(p.shape), G.WithShape(p.shape...), G.WithName(p.name), G.WithValue(val))
	}
	logits, err := spec.forward(g, x, nodes, n)
	return g, x, nodes, logits, err
}

// train runs Adam on mini-batches in a seeded order and returns the final weights.
func train(spec netSpec, trX [][]float32, trY []int, teX [][]float32, teY []int) ([][]float32, error) {
	w := make([][]float32, len(spec.params))
	for i, p := range spec.params {
		w[i] = p.init
	}
	g, x, nodes, logits, err := build(spec, w, batch)
	if err != nil {
		return nil, err
	}
	y := G.NewMatrix(g, tensor.Float32, G.WithShape(batch, classes), G.WithName("y"))
	logp, err := G.LogSoftMax(logits)
	if err != nil {
		return nil, err
	}
	prod, err := G.HadamardProd(logp, y)
	if err != nil {
		return nil, err
	}
	sum, err := G.Sum(prod)
	if err != nil {
		return nil, err
	}
	cost, err := G.Mul(sum, G.NewConstant(float32(-1.0/batch)))
	if err != nil {
		return nil, err
	}
	if _, err := G.Grad(cost, nodes...); err != nil {
		return nil, err
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(nodes...))
	defer vm.Close()
	solver := G.NewAdamSolver(G.WithLearnRate(spec.lr))
	rng := rand.New(rand.NewSource(42))
	xb := make([]float32, batch*spec.inputs)
	yb := make([]float32, batch*classes)
	for epoch := 0; epoch < spec.epochs; epoch++ {
		perm := rng.Perm(len(trX))
		var total float64
		steps := len(perm) / batch // the remainder of each epoch is skipped; the order changes every epoch
		for s := 0; s < steps; s++ {
			clear(yb)
			for i := 0; i < batch; i++ {
				k := perm[s*batch+i]
				copy(xb[i*spec.inputs:], trX[k])
				yb[i*classes+trY[k]] = 1
			}
			if err := G.Let(x, tensor.New(tensor.WithShape(batch, spec.inputs), tensor.WithBacking(xb))); err != nil {
				return nil, err
			}
			if err := G.Let(y, tensor.New(tensor.WithShape(batch, classes), tensor.WithBacking(yb))); err != nil {
				return nil, err
			}
			if err := vm.RunAll(); err != nil {
				return nil, err
			}
			total += float64(cost.Value().Data().(float32))
			if err := solver.Step(G.NodesToValueGrads(nodes)); err != nil {
				return nil, err
			}
			vm.Reset()
		}
		if epoch%10 == 9 || epoch == spec.epochs-1 {
			cur := weights(nodes)
			acc, err := accuracy(spec, cur, teX, teY)
			if err != nil {
				return nil, err
			}
			log.Printf("%s epoch %d: loss %.4f, test accuracy %.2f%%", spec.name, epoch+1, total/float64(steps), 100*acc)
		}
	}
	return weights(nodes), nil
}

func weights(nodes []*G.Node) [][]float32 {
	w := make([][]float32, len(nodes))
	for i, n := range nodes {
		w[i] = append([]float32(nil), n.Value().Data().([]float32)...)
	}
	return w
}

// accuracy runs the network once on the whole test split.
func accuracy(spec netSpec, w [][]float32, teX [][]float32, teY []int) (float64, error) {
	g, x, _, logits, err := build(spec, w, len(teX))
	if err != nil {
		return 0, err
	}
	flat := make([]float32, 0, len(teX)*spec.inputs)
	for _, r := range teX {
		flat = append(flat, r...)
	}
	if err := G.Let(x, tensor.New(tensor.WithShape(len(teX), spec.inputs), tensor.WithBacking(flat))); err != nil {
		return 0, err
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		return 0, err
	}
	out := logits.Value().Data().([]float32)
	right := 0
	for i, want := range teY {
		best := 0
		for c := 1; c < classes; c++ {
			if out[i*classes+c] > out[i*classes+best] {
				best = c
			}
		}
		if best == want {
			right++
		}
	}
	return float64(right) / float64(len(teY)), nil
}

// conv3x3BiasRelu is a 3×3 convolution (stride 1, padding 1) of h, its per-channel bias
// and a ReLU: the layer both CNNs are built from.
func conv3x3BiasRelu(h, weight, bias *G.Node) (*G.Node, error) {
	h, err := G.Conv2d(h, weight, tensor.Shape{3, 3}, []int{1, 1}, []int{1, 1}, []int{1, 1})
	if err != nil {
		return nil, err
	}
	b, err := G.Reshape(bias, tensor.Shape{1, weight.Shape()[0], 1, 1})
	if err != nil {
		return nil, err
	}
	if h, err = G.BroadcastAdd(h, b, nil, []byte{0, 2, 3}); err != nil {
		return nil, err
	}
	return G.Rectify(h)
}

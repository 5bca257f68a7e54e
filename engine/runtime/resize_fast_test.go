package runtime

import (
	"context"
	"fmt"
	"math/rand"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// Nearest and linear Resize with cached two-tap tables against the generic float64
// path: every coordinate transformation mode and nearest rounding mode, 2× and odd
// scales up and down, sizes instead of scales, batches of planes.
func TestResizeTwoTap(t *testing.T) {
	rng := rand.New(rand.NewSource(31))
	str := func(name, v string) *ir.Attribute {
		return &ir.Attribute{Name: name, Type: ir.AttrString, String: []byte(v)}
	}
	coords := []string{"half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel", "half_pixel_symmetric"}
	nearest := []string{"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}
	for i := 0; i < 80; i++ {
		attrs := []*ir.Attribute{str("coordinate_transformation_mode", coords[i%len(coords)])}
		mode := "linear"
		if i%2 == 1 {
			mode = "nearest"
			attrs = append(attrs, str("nearest_mode", nearest[(i/2)%len(nearest)]))
		}
		attrs = append(attrs, str("mode", mode))
		x := randT(rng, 1, 1+rng.Intn(2), 1+rng.Intn(4), 1+rng.Intn(12), 1+rng.Intn(12))
		in := []*Tensor{x, nil, nil, nil}
		what := fmt.Sprintf("Resize %d %s %v", i, mode, attrs[0].String)
		if i%5 == 4 { // sizes
			sz := []int64{int64(x.Shape[0]), int64(x.Shape[1]), int64(1 + rng.Intn(20)), int64(1 + rng.Intn(20))}
			in[3] = &Tensor{DType: ir.Int64, Shape: []int{4}, Data: sz}
			what += fmt.Sprint(" sizes ", sz)
		} else {
			sc := [][2]float32{{2, 2}, {2, 2}, {3, 0.5}, {0.75, 1.5}}[rng.Intn(4)]
			in[2] = &Tensor{DType: ir.Float32, Shape: []int{4}, Data: []float32{1, 1, sc[0], sc[1]}}
			what += fmt.Sprint(" scales ", sc)
		}
		n := &ir.Node{OpType: "Resize", Inputs: make([]string, 4), Outputs: []string{"y"}, Attrs: attrs}
		fast, slow := runBoth(t, n, in)
		closeTo(t, what+fmt.Sprint(" x ", x.Shape), fast[0], slow[0], 1e-5, 1e-5)
	}
}

// One session fed two input shapes in turn: the cached taps follow the shape.
func TestResizeTwoTapShapes(t *testing.T) {
	rng := rand.New(rand.NewSource(32))
	g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x"}}, Outputs: []*ir.ValueInfo{{Name: "y"}}}
	g.Initializers = append(g.Initializers, f32Tensor(t, "s", []int64{4}, []float32{1, 1, 2, 2}))
	g.Nodes = []*ir.Node{{OpType: "Resize", Name: "r", Inputs: []string{"x", "", "s"}, Outputs: []string{"y"},
		Attrs: []*ir.Attribute{{Name: "mode", Type: ir.AttrString, String: []byte("linear")}}}}
	model := &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: g}
	s, err := New(model, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, shape := range [][]int{{1, 2, 5, 7}, {1, 3, 4, 4}, {1, 2, 5, 7}} {
		x := randT(rng, 1, shape...)
		got, err := s.Run(context.Background(), map[string]*Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		n := &ir.Node{OpType: "Resize", Inputs: make([]string, 3), Outputs: []string{"y"}, Attrs: g.Nodes[0].Attrs}
		_, slow := runBoth(t, n, []*Tensor{x, nil, {DType: ir.Float32, Shape: []int{4}, Data: []float32{1, 1, 2, 2}}})
		closeTo(t, fmt.Sprint("run ", i, shape), got["y"], slow[0], 1e-5, 1e-5)
	}
}

// BenchmarkResize2x times a UNet's 2× upsampling (16 planes of 64×64, half_pixel),
// followed by a GlobalAveragePool (so that its output lives in the run's arena): cached
// two-tap tables against resize2D32 (taps rebuilt per run).
func BenchmarkResize2x(b *testing.B) {
	rng := rand.New(rand.NewSource(33))
	x := randT(rng, 1, 1, 16, 64, 64)
	for _, mode := range []string{"linear", "nearest"} {
		g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x"}}, Outputs: []*ir.ValueInfo{{Name: "y"}}}
		g.Initializers = append(g.Initializers, f32Tensor(b, "s", []int64{4}, []float32{1, 1, 2, 2}))
		g.Nodes = []*ir.Node{{OpType: "Resize", Name: "r", Inputs: []string{"x", "", "s"}, Outputs: []string{"u"},
			Attrs: []*ir.Attribute{{Name: "mode", Type: ir.AttrString, String: []byte(mode)}}},
			{OpType: "GlobalAveragePool", Name: "gap", Inputs: []string{"u"}, Outputs: []string{"y"}}}
		model := &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: g}
		for _, flat := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/flat=%v", mode, flat), func(b *testing.B) {
				resizeFlat = flat
				defer func() { resizeFlat = true }()
				benchModel(b, model, map[string]*Tensor{"x": x}, true)
			})
		}
	}
}

// Nearest Resize with integer upscales (2× and 3× per axis, floor and round modes,
// asymmetric and half_pixel): the repeated-column path against interpRow's gather (the
// same values, bit for bit), odd sizes, batches of planes.
func TestResizeNearestRepeat(t *testing.T) {
	rng := rand.New(rand.NewSource(34))
	str := func(name, v string) *ir.Attribute {
		return &ir.Attribute{Name: name, Type: ir.AttrString, String: []byte(v)}
	}
	for i := 0; i < 24; i++ {
		coord := []string{"asymmetric", "half_pixel"}[i%2]
		attrs := []*ir.Attribute{str("mode", "nearest"), str("coordinate_transformation_mode", coord),
			str("nearest_mode", []string{"floor", "round_prefer_floor", "round_prefer_ceil"}[i%3])}
		sh, sw := float32(1+rng.Intn(3)), float32(2+rng.Intn(2))
		x := randT(rng, 1, 1+rng.Intn(3), 1+rng.Intn(5), 1+rng.Intn(13), 1+rng.Intn(40))
		g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x"}}, Outputs: []*ir.ValueInfo{{Name: "y"}}}
		g.Initializers = append(g.Initializers, f32Tensor(t, "s", []int64{4}, []float32{1, 1, sh, sw}))
		g.Nodes = []*ir.Node{{OpType: "Resize", Name: "r", Inputs: []string{"x", "", "s"}, Outputs: []string{"y"}, Attrs: attrs}}
		model := &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: g}
		run := func(rep bool) *Tensor {
			res, _ := runSwitched(t, &resizeRep, rep, model, Options{}, map[string]*Tensor{"x": x})
			return res["y"]
		}
		got, want := run(true), run(false)
		closeTo(t, fmt.Sprintf("%d %s scales %g×%g x %v", i, coord, sh, sw, x.Shape), got, want, 0, 0)
	}
	cols := twoTaps{i0: []int32{0, 0, 1, 1, 2, 2}}
	if colRepeat(&cols, 3, 6) != 2 || colRepeat(&twoTaps{i0: []int32{0, 1, 1, 2, 2, 2}}, 3, 6) != 0 {
		t.Fatal("colRepeat misjudged a 2× row")
	}
}

// BenchmarkResizeNearest2x times the OCR detector's nearest 2× upsamplings (32 planes,
// 6×20 and 12×40, asymmetric/floor), each followed by a GlobalAveragePool: repeated
// columns against interpRow's gather.
func BenchmarkResizeNearest2x(b *testing.B) {
	rng := rand.New(rand.NewSource(35))
	for _, hw := range [][2]int{{6, 20}, {12, 40}} {
		x := randT(rng, 1, 1, 32, hw[0], hw[1])
		g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x"}}, Outputs: []*ir.ValueInfo{{Name: "y"}}}
		g.Initializers = append(g.Initializers, f32Tensor(b, "s", []int64{4}, []float32{1, 1, 2, 2}))
		g.Nodes = []*ir.Node{{OpType: "Resize", Name: "r", Inputs: []string{"x", "", "s"}, Outputs: []string{"u"},
			Attrs: []*ir.Attribute{{Name: "mode", Type: ir.AttrString, String: []byte("nearest")},
				{Name: "coordinate_transformation_mode", Type: ir.AttrString, String: []byte("asymmetric")},
				{Name: "nearest_mode", Type: ir.AttrString, String: []byte("floor")}}},
			{OpType: "GlobalAveragePool", Name: "gap", Inputs: []string{"u"}, Outputs: []string{"y"}}}
		model := &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: g}
		for _, rep := range []bool{true, false} {
			b.Run(fmt.Sprintf("%dx%d/repeat=%v", hw[0], hw[1], rep), func(b *testing.B) {
				resizeRep = rep
				defer func() { resizeRep = true }()
				benchModel(b, model, map[string]*Tensor{"x": x}, true)
			})
		}
	}
}

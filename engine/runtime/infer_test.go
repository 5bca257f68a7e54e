package runtime

import (
	"context"
	"math/rand"
	"strconv"
	"testing"

	"github.com/modelc/modelc/engine/format/onnx"
	"github.com/modelc/modelc/engine/ir"
)

func dimsOf(v *ir.ValueInfo) []string {
	var out []string
	for _, d := range v.Type.Shape.Dims {
		switch {
		case d.HasValue:
			out = append(out, strconv.Itoa(int(d.Value)))
		case d.Param != "":
			out = append(out, d.Param)
		default:
			out = append(out, "?")
		}
	}
	return out
}

// Inference carries the inputs' symbolic dimensions through the exporters' graphs.
func TestShapeInference(t *testing.T) {
	for _, tc := range []struct{ model, value, want string }{
		{"cnn", "/features/features.0/Conv_output_0", "batch 8 16 16"},
		{"cnn", "/features/features.7/MaxPool_output_0", "batch 16 4 4"},
		{"cnn", "/classifier/classifier.0/Flatten_output_0", "batch 256"},
		{"lstm", "/lstm/LSTM_output_0", "steps 1 batch 16"},
		{"transformer", "/self_attn/MatMul_output_0", "sequence batch 96"},
	} {
		m, err := onnx.Read("../../testdata/onnx/" + tc.model + ".onnx")
		if err != nil {
			t.Skip(err)
		}
		s, err := New(m, Options{})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, v := range s.ValueTypes() {
			if v.Name == tc.value {
				found = true
				got := ""
				for i, d := range dimsOf(v) {
					if i > 0 {
						got += " "
					}
					got += d
				}
				if got != tc.want || v.Type.ElemType != ir.Float32 {
					t.Errorf("%s %s: %v [%s], want float32 [%s]", tc.model, tc.value, v.Type.ElemType, got, tc.want)
				}
			}
		}
		if !found {
			t.Errorf("%s: no type for %s", tc.model, tc.value)
		}
		m.Close()
	}
}

// The shape-only steps are replayed per input shape: a session fed shapes A, B, A
// gives what fresh sessions give.
func TestShapeCacheAcrossShapes(t *testing.T) {
	m, err := onnx.Read("../../testdata/onnx/transformer.onnx")
	if err != nil {
		t.Skip(err)
	}
	defer m.Close()
	rng := rand.New(rand.NewSource(6))
	s, err := New(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := countShapeSteps(s.main); n == 0 {
		t.Fatal("no shape-only steps found in the transformer")
	}
	for _, sh := range [][]int{{2, 5, 32}, {1, 3, 32}, {3, 7, 32}, {2, 5, 32}} {
		x := randT(rng, 1, sh...)
		got, err := s.Run(context.Background(), map[string]*Tensor{"tokens": x})
		if err != nil {
			t.Fatal(err)
		}
		fresh, _ := New(m, Options{})
		want, err := fresh.Run(context.Background(), map[string]*Tensor{"tokens": x})
		if err != nil {
			t.Fatal(err)
		}
		for name, w := range want {
			closeTo(t, name, got[name], w, 0, 0)
		}
	}
}

func countShapeSteps(p *graphPlan) int {
	n := 0
	for _, st := range p.steps {
		if st.shape {
			n++
		}
	}
	return n
}

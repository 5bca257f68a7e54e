package runtime

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelc/modelc/engine/format/npy"
	"github.com/modelc/modelc/engine/format/onnx"
	"github.com/modelc/modelc/engine/ir"
)

// TestFixtures runs the real-exporter fixtures of testdata/onnx and compares every output
// with PyTorch's (<model>.outputs.npz) within 1e-4 relative, three runs in a row so the
// pooled buffers of one run are reused by the next, and with 1 and 2 threads.
func TestFixtures(t *testing.T) {
	models, _ := filepath.Glob("../../testdata/onnx/*.onnx")
	if len(models) == 0 {
		t.Skip("no fixtures")
	}
	for _, path := range models {
		name := strings.TrimSuffix(filepath.Base(path), ".onnx")
		t.Run(name, func(t *testing.T) {
			m, err := onnx.Read(path)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			ins, err := npy.ReadTensors(strings.TrimSuffix(path, ".onnx") + ".inputs.npz")
			if err != nil {
				t.Fatal(err)
			}
			outs, err := npy.ReadTensors(strings.TrimSuffix(path, ".onnx") + ".outputs.npz")
			if err != nil {
				t.Fatal(err)
			}
			inputs := map[string]*Tensor{}
			for _, it := range ins {
				if inputs[it.Name], err = FromIR(it); err != nil {
					t.Fatal(err)
				}
			}
			var first map[string][]float64
			for _, threads := range []int{1, 2} {
				s, err := New(m, Options{Threads: threads})
				if err != nil {
					t.Fatal(err)
				}
				for run := 0; run < 3; run++ {
					got, err := s.Run(context.Background(), inputs)
					if err != nil {
						t.Fatal(err)
					}
					for _, ot := range outs {
						want, err := FromIR(ot)
						if err != nil {
							t.Fatal(err)
						}
						g := got[ot.Name]
						if g == nil || !sameShape(g.Shape, want.Shape) {
							t.Fatalf("output %s: got %v, want %v", ot.Name, g, want)
						}
						gv, wv := float64s(g), float64s(want)
						for i := range wv {
							if math.Abs(gv[i]-wv[i]) > 1e-4*math.Abs(wv[i])+1e-5 {
								t.Fatalf("threads %d run %d: output %s[%d] = %v, want %v", threads, run, ot.Name, i, gv[i], wv[i])
							}
						}
						// Deterministic: every run and thread count gives the same bits.
						if first == nil {
							first = map[string][]float64{}
						}
						if prev, ok := first[ot.Name]; ok {
							for i := range prev {
								if prev[i] != gv[i] && !(math.IsNaN(prev[i]) && math.IsNaN(gv[i])) {
									t.Fatalf("threads %d run %d: output %s[%d] = %v, an earlier run gave %v", threads, run, ot.Name, i, gv[i], prev[i])
								}
							}
						} else {
							first[ot.Name] = gv
						}
					}
				}
			}
		})
	}
}

// runSwitched runs model on feed in a new session with the fast-path switch *sw (fastPaths,
// resizeRep …) set to on, restores the switch, and returns the outputs and the session
// (whose plan the caller may check).
func runSwitched(t testing.TB, sw *bool, on bool, model *ir.Model, opts Options, feed map[string]*Tensor) (map[string]*Tensor, *Session) {
	t.Helper()
	prev := *sw
	*sw = on
	defer func() { *sw = prev }()
	s, err := New(model, opts)
	if err != nil {
		t.Fatalf("New with the switch %v: %v", on, err)
	}
	res, err := s.Run(context.Background(), feed)
	if err != nil {
		t.Fatalf("Run with the switch %v: %v", on, err)
	}
	return res, s
}

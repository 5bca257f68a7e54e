package verify

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/modelc/modelc/engine/ir"
	"github.com/modelc/modelc/engine/runtime"
)

func session(t *testing.T, dt ir.DType) *runtime.Session {
	t.Helper()
	m := &ir.Model{Opsets: []ir.OpsetImport{{Version: 17}}, Graph: &ir.Graph{
		Inputs:  []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(dt, 3)}},
		Outputs: []*ir.ValueInfo{{Name: "y", Type: ir.TensorType(dt, 3)}},
		Nodes:   []*ir.Node{{Name: "id", OpType: "Identity", Inputs: []string{"x"}, Outputs: []string{"y"}}},
	}}
	s, err := runtime.New(m, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tensor(t *testing.T, dt ir.DType, v ...float64) *runtime.Tensor {
	x, err := runtime.FromFloat64s(dt, []int64{int64(len(v))}, v)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestCastInputs(t *testing.T) {
	casts := map[string]bool{}
	// float32 → float16 rounds; the caller's tensor is untouched.
	in := map[string]*runtime.Tensor{"x": tensor(t, ir.Float32, 1.0001, 2, 70000)}
	out, err := CastInputs(session(t, ir.Float16), in, "candidate", casts)
	if err != nil {
		t.Fatal(err)
	}
	got := runtime.Float64s(out["x"])
	if out["x"].DType != ir.Float16 || got[0] != 1 || got[1] != 2 || !math.IsInf(got[2], 1) {
		t.Errorf("float16 cast: %v %v", out["x"].DType, got)
	}
	if in["x"].DType != ir.Float32 || in["x"].Data.([]float32)[0] != 1.0001 {
		t.Errorf("the input was changed: %v", in["x"].Data)
	}
	if !casts[`candidate input "x": float32 → float16`] {
		t.Errorf("casts %v", casts)
	}
	// Same type: the very map comes back.
	if out, _ := CastInputs(session(t, ir.Float32), in, "reference", casts); out["x"] != in["x"] {
		t.Error("a float32 input to a float32 model was copied")
	}
	// Whole numbers feed an int32 model; fractions and out-of-range values do not.
	if _, err := CastInputs(session(t, ir.Int32), map[string]*runtime.Tensor{"x": tensor(t, ir.Int64, 1, 2, 3)}, "candidate", casts); err != nil {
		t.Errorf("int64 → int32: %v", err)
	}
	for _, bad := range []*runtime.Tensor{tensor(t, ir.Float32, 1, 2.5, 3), tensor(t, ir.Int64, 1, 1<<40, 3)} {
		_, err := CastInputs(session(t, ir.Int32), map[string]*runtime.Tensor{"x": bad}, "candidate", casts)
		if ir.KindOf(err) != ir.KindInvalidArgument || !strings.Contains(err.Error(), `input "x"`) || !strings.Contains(err.Error(), "element 1") {
			t.Errorf("%v → int32: %v", bad.DType, err)
		}
	}
}

func TestCompareCountsNonFinite(t *testing.T) {
	ref, cand := session(t, ir.Float32), session(t, ir.Float16)
	// 70000 overflows float16: the candidate says +Inf where the reference is finite.
	r, err := Compare(context.Background(), ref, cand, Options{Inputs: map[string]*runtime.Tensor{"x": tensor(t, ir.Float32, 1, 2, 70000)}, ATol: math.Inf(1), MinCosine: -1})
	if err != nil {
		t.Fatal(err)
	}
	if o := r.Outputs[0]; o.NonFinite != 1 || o.Pass || r.Pass {
		t.Errorf("output %+v", o)
	}
}

func TestSameNaNAndInfAgree(t *testing.T) {
	s := session(t, ir.Float32)
	x := tensor(t, ir.Float32, math.NaN(), math.Inf(1), math.Inf(-1))
	x.Data.([]float32)[0] = float32(math.NaN())
	r, err := Compare(context.Background(), s, s, Options{Inputs: map[string]*runtime.Tensor{"x": x}})
	if err != nil {
		t.Fatal(err)
	}
	if o := r.Outputs[0]; !o.Pass || o.Mismatches != 0 || o.NonFinite != 0 || o.Cosine != 1 || o.MaxAbsError != 0 {
		t.Errorf("a model against itself on NaN/Inf inputs: %+v", o)
	}
}

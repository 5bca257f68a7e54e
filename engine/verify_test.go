package engine

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/modelc/modelc/engine/format/npy"
	"github.com/modelc/modelc/engine/format/onnx"
	"github.com/modelc/modelc/engine/ir"
)

func f32Tensor(t *testing.T, name string, shape []int64, v ...float32) *ir.Tensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	tt, err := ir.NewTensor(name, ir.Float32, shape, b)
	require.NoError(t, err)
	return tt
}

func i64Tensor(t *testing.T, name string, v ...int64) *ir.Tensor {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
	}
	tt, err := ir.NewTensor(name, ir.Int64, []int64{int64(len(v))}, b)
	require.NoError(t, err)
	return tt
}

func writeModel(t *testing.T, dir, name string, g *ir.Graph) string {
	m := &ir.Model{IRVersion: 8, Opsets: []ir.OpsetImport{{Version: 17}}, Graph: g}
	path := filepath.Join(dir, name)
	_, err := onnx.Write(m, path, onnx.WriteOptions{})
	require.NoError(t, err)
	return path
}

// classifier writes x[2,4] · w[4,3] → y[2,3], a model compress can quantize.
func classifier(t *testing.T, dir string) string {
	w := make([]float32, 12)
	for i := range w {
		w[i] = float32(i%5)*0.25 - 0.5
	}
	return writeModel(t, dir, "cls.onnx", &ir.Graph{Name: "g",
		Nodes:        []*ir.Node{{Name: "mm", OpType: "MatMul", Inputs: []string{"x", "w"}, Outputs: []string{"y"}}},
		Inputs:       []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 2, 4)}},
		Outputs:      []*ir.ValueInfo{{Name: "y", Type: ir.TensorType(ir.Float32, 2, 3)}},
		Initializers: []*ir.Tensor{f32Tensor(t, "w", []int64{4, 3}, w...)},
	})
}

func TestVerifyFeedsAFloat16Candidate(t *testing.T) {
	dir := t.TempDir()
	ref := classifier(t, dir)
	cand := filepath.Join(dir, "fp16.onnx")
	// Without keep_io_types the result takes and gives float16; compress's own
	// verification feeds it.
	crep, err := Compress(context.Background(), ref, cand, CompressOptions{Quantize: "fp16", Verify: true}, nil)
	require.NoError(t, err)
	require.NotNil(t, crep.Verify)
	assert.True(t, crep.Verify.Pass)
	assert.Contains(t, crep.Verify.InputCasts, `candidate input "x": float32 → float16`)
	info, err := Inspect(cand)
	require.NoError(t, err)
	require.Equal(t, "float16", info.Inputs[0].DType, "the candidate's input must be float16 for this test")

	tol := 1e-2
	rep, err := Verify(context.Background(), ref, cand, VerifyOptions{Samples: 3, Seed: 7, ATol: &tol, RTol: &tol}, nil)
	require.NoError(t, err)
	assert.True(t, rep.Pass)
	assert.Equal(t, []string{`candidate input "x": float32 → float16`}, rep.InputCasts)
	assert.Equal(t, 18, rep.Outputs[0].Elements)

	// An .npz of float32 inputs feeds it too.
	in := filepath.Join(dir, "in.npz")
	require.NoError(t, npy.WriteNPZ(in, []*ir.Tensor{f32Tensor(t, "x", []int64{2, 4}, 1, 2, 3, 4, -1, -2, -3, -4)}))
	rep, err = Verify(context.Background(), ref, cand, VerifyOptions{Inputs: in, ATol: &tol, RTol: &tol}, nil)
	require.NoError(t, err)
	assert.True(t, rep.Pass)

	// The other way round: a float16 reference, a float32 candidate.
	_, err = Verify(context.Background(), cand, ref, VerifyOptions{Samples: 2, ATol: &tol, RTol: &tol}, nil)
	require.NoError(t, err)
}

func TestVerifyNaNFailsAndJSONHoldsIt(t *testing.T) {
	dir := t.TempDir()
	ref := writeModel(t, dir, "ref.onnx", &ir.Graph{Name: "g",
		Nodes:   []*ir.Node{{Name: "id", OpType: "Identity", Inputs: []string{"x"}, Outputs: []string{"y"}}},
		Inputs:  []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 4)}},
		Outputs: []*ir.ValueInfo{{Name: "y", Type: ir.TensorType(ir.Float32, 4)}},
	})
	// y = x / 0: ±Inf, and NaN where x is 0.
	cand := writeModel(t, dir, "cand.onnx", &ir.Graph{Name: "g",
		Nodes:        []*ir.Node{{Name: "div", OpType: "Div", Inputs: []string{"x", "zero"}, Outputs: []string{"y"}}},
		Inputs:       []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 4)}},
		Outputs:      []*ir.ValueInfo{{Name: "y", Type: ir.TensorType(ir.Float32, 4)}},
		Initializers: []*ir.Tensor{f32Tensor(t, "zero", []int64{}, 0)},
	})
	in := filepath.Join(dir, "in.npz")
	require.NoError(t, npy.WriteNPZ(in, []*ir.Tensor{f32Tensor(t, "x", []int64{4}, 1, 0, -2, 3)}))
	rep, err := Verify(context.Background(), ref, cand, VerifyOptions{Inputs: in}, nil)
	require.Error(t, err)
	assert.Equal(t, KindVerifyFailed, KindOf(err))
	assert.ErrorContains(t, err, "4 NaN/Inf")
	require.NotNil(t, rep)
	assert.Equal(t, 4, rep.Outputs[0].NonFinite)
	assert.False(t, rep.Outputs[0].Pass)

	_, err = json.Marshal(rep)
	require.Error(t, err, "encoding/json refuses NaN: the case MarshalJSON is for")
	b, err := MarshalJSON(rep, true)
	require.NoError(t, err)
	var back map[string]any
	require.NoError(t, json.Unmarshal(b, &back))
	out := back["outputs"].([]any)[0].(map[string]any)
	assert.Nil(t, out["max_abs_error"])
	assert.Nil(t, out["cosine"])
	assert.Equal(t, 4.0, out["non_finite"])

	// compress --verify's rule (cosine only) fails on it too.
	rep, err = verifySources(context.Background(), fileSource(ref), fileSource(cand), VerifyOptions{Inputs: in, MinCosine: -1, cosineOnly: true}, nil)
	assert.Equal(t, KindVerifyFailed, KindOf(err))
	assert.Equal(t, 4, rep.Outputs[0].NonFinite)
}

func TestVerifyLabelsMustMatchTheRows(t *testing.T) {
	dir := t.TempDir()
	ref := classifier(t, dir)
	in := filepath.Join(dir, "in.npz")
	require.NoError(t, npy.WriteNPZ(in, []*ir.Tensor{f32Tensor(t, "x", []int64{2, 4}, 1, 2, 3, 4, -1, -2, -3, -4)}))
	three := filepath.Join(dir, "three.npy")
	require.NoError(t, npy.WriteNPY(three, i64Tensor(t, "labels", 0, 1, 2)))
	_, err := Verify(context.Background(), ref, ref, VerifyOptions{Inputs: in, Labels: three}, nil)
	require.Error(t, err)
	assert.Equal(t, KindInvalidArgument, KindOf(err))
	for _, s := range []string{three, in, "3 labels", "2 rows", `"y"`} {
		assert.ErrorContains(t, err, s)
	}
	// compress --verify says the same.
	_, err = Compress(context.Background(), ref, filepath.Join(dir, "q.onnx"), CompressOptions{Quantize: "fp16", Verify: true, Inputs: in, Labels: three}, nil)
	assert.Equal(t, KindInvalidArgument, KindOf(err))
	assert.ErrorContains(t, err, "3 labels")

	two := filepath.Join(dir, "two.npy")
	require.NoError(t, npy.WriteNPY(two, i64Tensor(t, "labels", 0, 1)))
	rep, err := Verify(context.Background(), ref, ref, VerifyOptions{Inputs: in, Labels: two}, nil)
	require.NoError(t, err)
	require.NotNil(t, rep.Outputs[0].RefAccuracy)

	// Two random samples: four rows, two labels.
	_, err = Verify(context.Background(), ref, ref, VerifyOptions{Samples: 2, Labels: two}, nil)
	assert.Equal(t, KindInvalidArgument, KindOf(err))
	assert.ErrorContains(t, err, "2 labels for 4 rows")
}

func TestVerifyCandidateCheckerFailsVerification(t *testing.T) {
	dir := t.TempDir()
	ref := classifier(t, dir)
	prev := checkCandidate
	t.Cleanup(func() { checkCandidate = prev })
	checkCandidate = func(m *ir.Model) error { return errors.New(`node "mm" (MatMul): made-up rule`) }
	rep, err := Verify(context.Background(), ref, ref, VerifyOptions{}, nil)
	require.Error(t, err)
	assert.Equal(t, KindVerifyFailed, KindOf(err))
	assert.ErrorContains(t, err, "made-up rule")
	require.NotNil(t, rep)
	assert.False(t, rep.Pass)
	assert.True(t, rep.Outputs[0].Pass, "the numbers agree; the checker alone fails it")
	assert.Len(t, rep.Problems, 1)
}

func TestVerifyToleranceIsStated(t *testing.T) {
	dir := t.TempDir()
	ref := classifier(t, dir)
	rep, err := Verify(context.Background(), ref, ref, VerifyOptions{}, nil)
	require.NoError(t, err)
	assert.False(t, rep.CosineOnly)
	assert.Equal(t, DefaultATol, rep.ATol)
	assert.Equal(t, DefaultRTol, rep.RTol)
	assert.Equal(t, DefaultMinCosine, rep.MinCosine)
	assert.Contains(t, rep.Tolerance, "every element within atol 1e-05 + rtol 0.0001")

	crep, err := Compress(context.Background(), ref, filepath.Join(dir, "i8.onnx"), CompressOptions{Quantize: "int8", Verify: true}, nil)
	require.NoError(t, err)
	v := crep.Verify
	assert.True(t, v.CosineOnly)
	assert.Equal(t, MinVerifyCosine, v.MinCosine)
	assert.Equal(t, DefaultATol, v.ATol, "mismatches are counted against verify's defaults")
	assert.Contains(t, v.Tolerance, "cosine ≥ 0.95")
	assert.Contains(t, v.Tolerance, "not enforced")
}

func TestMarshalJSONMatchesEncodingJSON(t *testing.T) {
	dir := t.TempDir()
	ref := classifier(t, dir)
	crep, err := Compress(context.Background(), ref, filepath.Join(dir, "i8.onnx"), CompressOptions{Quantize: "int8", Verify: true}, nil)
	require.NoError(t, err)
	info, err := Inspect(ref)
	require.NoError(t, err)
	type inner struct {
		A float32 `json:"a,omitempty"`
		B []byte
	}
	type odd struct {
		inner
		M      map[int]float64 `json:"m"`
		S      int             `json:"s,string"`
		Skip   int             `json:"-"`
		hidden int
		Any    any
		P      *float64 `json:"p"`
	}
	for _, v := range []any{crep, info, odd{inner: inner{A: 1, B: []byte("hi")}, M: map[int]float64{10: 1, 2: 2}, S: 5, Any: []any{1.5, "x"}}} {
		want, err := json.MarshalIndent(v, "", "  ")
		require.NoError(t, err)
		got, err := MarshalJSON(v, true)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got))
	}
	inf := math.Inf(1)
	got, err := MarshalJSON(odd{M: map[int]float64{1: math.NaN()}, P: &inf, Any: math.Inf(-1)}, false)
	require.NoError(t, err)
	assert.JSONEq(t, `{"B":null,"m":{"1":null},"s":"0","Any":null,"p":null}`, string(got))
}

func TestInfoCountsConstantNodesAndSubgraphWeights(t *testing.T) {
	dir := t.TempDir()
	branch := func(name string) *ir.Graph {
		return &ir.Graph{Name: name,
			Nodes:        []*ir.Node{{Name: name + "_add", OpType: "Add", Inputs: []string{"x", name + "_b"}, Outputs: []string{name + "_y"}}},
			Outputs:      []*ir.ValueInfo{{Name: name + "_y", Type: ir.TensorType(ir.Float32, 3)}},
			Initializers: []*ir.Tensor{f32Tensor(t, name+"_b", []int64{3}, 1, 2, 3)},
		}
	}
	path := writeModel(t, dir, "m.onnx", &ir.Graph{Name: "g",
		Nodes: []*ir.Node{
			{Name: "k", OpType: "Constant", Outputs: []string{"k"}, Attrs: []*ir.Attribute{{Name: "value", Type: ir.AttrTensor, Tensor: f32Tensor(t, "", []int64{2, 3}, 1, 2, 3, 4, 5, 6)}}},
			{Name: "c", OpType: "Greater", Inputs: []string{"s", "zero"}, Outputs: []string{"c"}},
			{Name: "if", OpType: "If", Inputs: []string{"c"}, Outputs: []string{"y"}, Attrs: []*ir.Attribute{
				{Name: "then_branch", Type: ir.AttrGraph, Graph: branch("then")}, {Name: "else_branch", Type: ir.AttrGraph, Graph: branch("else")}}},
			{Name: "z", OpType: "Constant", Outputs: []string{"zero"}, Attrs: []*ir.Attribute{{Name: "value_float", Type: ir.AttrFloat, Float: 0}}},
		},
		Inputs:  []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 3)}, {Name: "s", Type: ir.TensorType(ir.Float32)}},
		Outputs: []*ir.ValueInfo{{Name: "y", Type: ir.TensorType(ir.Float32, 3)}, {Name: "k", Type: ir.TensorType(ir.Float32, 2, 3)}},
	})
	info, err := Inspect(path)
	require.NoError(t, err)
	assert.Equal(t, int64(6+3+3+1), info.ParameterCount)
	assert.Equal(t, map[string]int64{"float32": 4 * 13}, info.BytesPerDType)

	// The runtime takes the Constant written after its user.
	x := filepath.Join(dir, "x.npz")
	require.NoError(t, npy.WriteNPZ(x, []*ir.Tensor{f32Tensor(t, "x", []int64{3}, 1, 1, 1), f32Tensor(t, "s", []int64{}, 1)}))
	rep, err := Verify(context.Background(), path, path, VerifyOptions{Inputs: x}, nil)
	require.NoError(t, err)
	assert.True(t, rep.Pass)
}

func TestVerifyCandidateOnnxruntimeWouldRefuseFails(t *testing.T) {
	// ReduceMean's axes became an input in opset 18: the attribute is refused there.
	dir := t.TempDir()
	g := func() *ir.Graph {
		return &ir.Graph{Name: "g",
			Nodes: []*ir.Node{{Name: "rm", OpType: "ReduceMean", Inputs: []string{"x"}, Outputs: []string{"y"},
				Attrs: []*ir.Attribute{{Name: "axes", Type: ir.AttrInts, Ints: []int64{1}}}}},
			Inputs:  []*ir.ValueInfo{{Name: "x", Type: ir.TensorType(ir.Float32, 2, 3)}},
			Outputs: []*ir.ValueInfo{{Name: "y", Type: ir.TensorType(ir.Float32, 2, 1)}},
		}
	}
	ref := writeModel(t, dir, "ref.onnx", g())
	bad := &ir.Model{IRVersion: 8, Opsets: []ir.OpsetImport{{Version: 18}}, Graph: g()}
	cand := filepath.Join(dir, "cand.onnx")
	_, err := onnx.Write(bad, cand, onnx.WriteOptions{})
	require.NoError(t, err)
	rep, err := Verify(context.Background(), ref, cand, VerifyOptions{}, nil)
	require.Error(t, err)
	assert.Equal(t, KindVerifyFailed, KindOf(err), "%v", err)
	assert.ErrorContains(t, err, "axes")
	require.NotNil(t, rep)
	assert.False(t, rep.Pass)
	require.Len(t, rep.Problems, 1)
	_, err = MarshalJSON(rep, false)
	require.NoError(t, err)
}

package engine

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const digitsCNN = "../testdata/digits/cnn.onnx"

func TestCompressBadOptionsWriteNothing(t *testing.T) {
	dir := t.TempDir()
	recipe := filepath.Join(dir, "r.json")
	os.WriteFile(recipe, []byte(`[{"prune":"2:4"},{"quantize":"int4","block_size":20}]`), 0o644)
	cases := []struct {
		opts CompressOptions
		key  string
	}{
		{CompressOptions{Prune: "magnitude", Sparsity: 1}, "sparsity"},
		{CompressOptions{Prune: "magnitude", Sparsity: -0.5}, "sparsity"},
		{CompressOptions{Quantize: "int4", BlockSize: 48}, "block_size"},
		{CompressOptions{Quantize: "int8", BlockSize: 32}, "block_size"},
		{CompressOptions{Quantize: "int5"}, "quantize"},
		{CompressOptions{Quantize: "fp16", Mode: "dynamic"}, "mode"},
		{CompressOptions{Quantize: "int8", Mode: "static"}, "calibration"},
		{CompressOptions{Quantize: "int8", Mode: "static", Calibration: "../testdata/digits/test_labels.npy"}, "calibration"},
		{CompressOptions{Quantize: "int8", Exclude: []string{"LayerNormalization"}}, "exclude"},
		{CompressOptions{Quantize: "int8", QuantizeOps: []string{"Softmax"}}, "quantize_ops"},
		{CompressOptions{Quantize: "int8", Mode: "static", Calibration: "../testdata/digits/calib.npz", QuantizeOps: []string{"Softmaxx"}}, "quantize_ops"},
		{CompressOptions{Quantize: "int8", Mode: "static", Calibration: "../testdata/digits/calib.npz", QuantizeOps: []string{"LayerNormalization"}}, "quantize_ops"},
		{CompressOptions{Clip: "range:1,0"}, "clip"},
		{CompressOptions{Lowrank: "energy:2"}, "lowrank"},
		{CompressOptions{Recipe: recipe}, "block_size"},
		{CompressOptions{Recipe: recipe, QuantizeOps: []string{"Softmax"}}, "recipe"},
		{CompressOptions{}, "nothing to do"},
		{CompressOptions{Quantize: "int8", Inputs: "x.npz"}, "verify"},
	}
	for _, c := range cases {
		out := filepath.Join(dir, "out.onnx")
		_, err := Compress(context.Background(), digitsCNN, out, c.opts, nil)
		if err == nil || KindOf(err) != KindInvalidArgument || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%+v: %v", c.opts, err)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%+v: output written", c.opts)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 { // the recipe only
		t.Errorf("left behind: %v", entries)
	}
}

func TestCompressDeterministicAndRecipe(t *testing.T) {
	dir := t.TempDir()
	recipe := filepath.Join(dir, "r.json")
	os.WriteFile(recipe, []byte(`[{"prune":"global","sparsity":0.5},{"quantize":"int4","block_size":32}]`), 0o644)
	var files [][]byte
	for i := 0; i < 2; i++ {
		out := filepath.Join(dir, "out"+string(rune('a'+i))+".onnx")
		rep, err := Compress(context.Background(), digitsCNN, out, CompressOptions{Recipe: recipe}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Passes) != 2 || !strings.HasPrefix(rep.Passes[0].Pass, "prune global") || rep.Sparsity < 0.49 || rep.BytesAfter >= rep.BytesBefore/4 {
			t.Fatalf("%+v", rep)
		}
		b, _ := os.ReadFile(out)
		files = append(files, b)
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Fatal("two runs wrote different bytes")
	}
}

func TestCompressCancelled(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.onnx")
	_, err := Compress(context.Background(), digitsCNN, out, CompressOptions{Quantize: "int8"}, func(string, float64) bool { return false })
	if KindOf(err) != KindCancelled {
		t.Fatal(err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("output written")
	}
}

func TestCompressOptionsJSON(t *testing.T) {
	var o CompressOptions
	if err := ParseOptions([]byte(`{"quantize":"int8","mode":"dynamic","per_channel":true,"block_size":0,"exclude":["fc2"]}`), &o); err != nil {
		t.Fatal(err)
	}
	if o.Quantize != "int8" || o.PerChannel == nil || !*o.PerChannel || o.Exclude[0] != "fc2" {
		t.Fatalf("%+v", o)
	}
	// per_channel: unset means the default (per channel for 8 bits), false is kept apart.
	for _, c := range []struct {
		json string
		want bool
	}{{`{"quantize":"int8"}`, true}, {`{"quantize":"int8","per_channel":false}`, false}, {`{"quantize":"int8","per_channel":true}`, true}} {
		var o CompressOptions
		if err := ParseOptions([]byte(c.json), &o); err != nil {
			t.Fatal(err)
		}
		if o.perChannel(true) != c.want {
			t.Errorf("%s: per channel %v", c.json, o.perChannel(true))
		}
	}
	if err := ParseOptions([]byte(`{"quantise":"int8"}`), &o); err == nil || !strings.Contains(err.Error(), "quantise") {
		t.Fatal(err)
	}
}

// FuzzRecipe: a recipe file of any content is accepted or refused with an
// invalid-argument error, never a panic.
func FuzzRecipe(f *testing.F) {
	f.Add([]byte(`[{"prune":"2:4"},{"quantize":"int4","block_size":32}]`))
	f.Add([]byte(`[{"quantize":"int8","mode":"static","calibration":"x.npz","calibration_method":"percentile:99.9"}]`))
	f.Add([]byte(`[{"clip":"range:-1,1","lowrank":"energy:0.9","exclude":["fc*"]}]`))
	f.Add([]byte(`{}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "recipe.json")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		steps, err := compressSteps(CompressOptions{Recipe: p})
		if err != nil && KindOf(err) != KindInvalidArgument {
			t.Fatalf("error of kind %v: %v", KindOf(err), err)
		}
		if err == nil && len(steps) == 0 {
			t.Fatal("no steps and no error")
		}
	})
}

// Quantization adds scales and zero points, not weights: the report counts them apart.
func TestCompressCountsScalesApart(t *testing.T) {
	dir := t.TempDir()
	for _, mode := range []string{"", "dynamic", "static"} {
		opts := CompressOptions{Quantize: "int8", Mode: mode}
		if mode == "static" {
			opts.Calibration = "../testdata/digits/calib.npz"
		}
		rep, err := Compress(context.Background(), "../testdata/digits/cnn.onnx", filepath.Join(dir, "q"+mode+".onnx"), opts, nil)
		if err != nil {
			t.Fatal(mode, err)
		}
		if rep.QuantParamsBefore != 0 || rep.QuantParamsAfter == 0 || rep.ParamsAfter-rep.QuantParamsAfter != rep.ParamsBefore {
			t.Errorf("%q: params %d → %d, scales and zero points %d → %d", mode, rep.ParamsBefore, rep.ParamsAfter, rep.QuantParamsBefore, rep.QuantParamsAfter)
		}
	}
}

package engine

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/format/npy"
	"github.com/modelc/modelc/engine/ir"
)

const digitsCalib = "../testdata/digits/calib.npz"

func TestTrainOptionsAreChecked(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.onnx")
	neg := -0.5
	cases := []struct {
		opts CompressOptions
		want string
	}{
		{CompressOptions{Prune: "2:4", TrainOptions: TrainOptions{Epochs: 3}}, "add recover"},
		{CompressOptions{Prune: "2:4", Recover: true}, "option data"},
		{CompressOptions{Prune: "2:4", Recover: true, TrainOptions: TrainOptions{Data: digitsCalib, Optimizer: "lbfgs"}}, "option optimizer"},
		{CompressOptions{Prune: "2:4", Recover: true, TrainOptions: TrainOptions{Data: digitsCalib, HeldOut: &neg}}, "option held_out"},
		{CompressOptions{Prune: "2:4", Recover: true, TrainOptions: TrainOptions{Data: "../testdata/digits/test_labels.npy"}}, "input"},
		{CompressOptions{Clip: "percentile:99", Recover: true, TrainOptions: TrainOptions{Data: digitsCalib, Epochs: 1}}, "clipped"},
	}
	for _, c := range cases {
		_, err := Compress(context.Background(), digitsCNN, out, c.opts, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one naming %q", c.opts, err, c.want)
		}
	}
	var o CompressOptions
	if err := ParseOptions([]byte(`{"prune":"2:4","recover":true,"data":"x.npz","epochs":2,"held_out":0.2}`), &o); err != nil || o.Epochs != 2 || *o.HeldOut != 0.2 {
		t.Fatalf("training keys: %v %+v", err, o)
	}
	err := ParseOptions([]byte(`{"epoch":2}`), &o)
	if err == nil || !strings.Contains(err.Error(), "epochs") {
		t.Fatalf("an unknown key lists the training keys too: %v", err)
	}
}

// Recovery keeps the pruned weights at zero and reports its epochs.
func TestRecoverKeepsSparsity(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.onnx")
	rep, err := Compress(context.Background(), digitsCNN, out, CompressOptions{Prune: "magnitude", Recover: true,
		TrainOptions: TrainOptions{Data: digitsCalib, Epochs: 2}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Recover == nil || len(rep.Recover.Epochs) != 2 || rep.Recover.AgreementAfter < rep.Recover.AgreementBefore {
		t.Fatalf("recover report: %+v", rep.Recover)
	}
	m, _, err := Read(out)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if s := compress.WeightSparsity(m); s < 0.49 {
		t.Fatalf("sparsity after recovery %.3f", s)
	}
}

// The same input and options give the same bytes.
func TestRecoverDeterministic(t *testing.T) {
	dir := t.TempDir()
	var outs [2][]byte
	for i := range outs {
		out := filepath.Join(dir, fmt.Sprintf("o%d.onnx", i))
		if _, err := Compress(context.Background(), digitsCNN, out, CompressOptions{Prune: "2:4", Recover: true,
			TrainOptions: TrainOptions{Data: digitsCalib, Epochs: 1, Seed: 4}}, nil); err != nil {
			t.Fatal(err)
		}
		outs[i], _ = os.ReadFile(out)
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Fatal("two runs wrote different bytes")
	}
}

func TestDistillAutoWidth(t *testing.T) {
	out := filepath.Join(t.TempDir(), "student.onnx")
	rep, err := Distill(context.Background(), digitsCNN, "auto:width=0.5", out, DistillOptions{TrainOptions: TrainOptions{Data: digitsCalib, Epochs: 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.StudentParams*100 > rep.TeacherParams*35 {
		t.Fatalf("student %d parameters, teacher %d", rep.StudentParams, rep.TeacherParams)
	}
	for _, bad := range []string{"auto:depth=2", "auto:depth=1", "auto:width=2", "auto:height=0.5"} {
		if _, err := Distill(context.Background(), digitsCNN, bad, out, DistillOptions{TrainOptions: TrainOptions{Data: digitsCalib}}, nil); err == nil || !strings.Contains(err.Error(), "auto:") {
			t.Errorf("%s: %v", bad, err)
		}
	}
	// The digits CNN has no block that repeats (conv 1→16, conv 16→32, two Gemms).
	if _, err := Distill(context.Background(), digitsCNN, "auto:depth=0.5", out, DistillOptions{TrainOptions: TrainOptions{Data: digitsCalib}}, nil); KindOf(err) != KindUnsupported || !strings.Contains(err.Error(), "repeats") {
		t.Errorf("auto:depth on the digits CNN: %v", err)
	}
	cancel := func(stage string, _ float64) bool { return !strings.HasPrefix(stage, "epoch") }
	_, err = Distill(context.Background(), digitsCNN, "auto:width=0.5", filepath.Join(t.TempDir(), "c.onnx"), DistillOptions{TrainOptions: TrainOptions{Data: digitsCalib, Epochs: 3}}, cancel)
	if KindOf(err) != KindCancelled {
		t.Fatalf("cancel: %v", err)
	}
}

// input_scale 0.5 with recover: a quarter of the MACs, the student trained on the data
// resized to its new size.
func TestRetargetAndRecover(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "images.npz")
	f := make([]float32, 64*3*16*16)
	for i := range f {
		f[i] = float32(i%97) / 97
	}
	img, _ := ir.NewTensor("image", ir.Float32, []int64{64, 3, 16, 16}, ir.Float32Bytes(f))
	if err := npy.Write(&ir.Model{Graph: &ir.Graph{Initializers: []*ir.Tensor{img}}}, data); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "small.onnx")
	rep, err := Compress(context.Background(), "../testdata/onnx/cnn.onnx", out, CompressOptions{InputScale: 0.5, Recover: true,
		TrainOptions: TrainOptions{Data: data, Epochs: 2}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.MACsBefore != 131584 || rep.MACsAfter*3 > rep.MACsBefore || rep.Recover == nil {
		t.Fatalf("MACs %d → %d, recover %v", rep.MACsBefore, rep.MACsAfter, rep.Recover)
	}
	if _, err := Compress(context.Background(), "../testdata/onnx/cnn.onnx", out, CompressOptions{InputScale: 0.5, InputShape: []string{"image=1x3x8x8"}}, nil); err == nil {
		t.Fatal("input_shape and input_scale together")
	}
}

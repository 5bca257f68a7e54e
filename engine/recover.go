package engine

import (
	"context"

	"github.com/modelc/modelc/engine/ir"
	"github.com/modelc/modelc/engine/train"
)

// recoverModel fine-tunes the compressed model m by distillation from the uncompressed
// model teacher reads, on the inputs opts.Data, with the compression kept: weights that
// are zero (pruned) stay zero and quantized weights stay on their grid (trained as
// float shadows, fake-quantized with a straight-through gradient): int8/int4 weights read
// by DequantizeLinear or MatMulInteger, float16/bfloat16 weights (see train.NewNet).
func recoverModel(ctx context.Context, teacher modelSource, m *ir.Model, opts TrainOptions, step func(string, float64) error) (*TrainReport, error) {
	tm, _, err := teacher.open()
	if err != nil {
		return nil, err
	}
	defer tm.Close()
	inputs, n, err := loadInputs(opts.Data, tm)
	if err != nil {
		return nil, err
	}
	logits, _, err := teacherOutputs(ctx, tm, inputs, n, nil)
	if err != nil {
		return nil, withFile(err, teacher.name)
	}
	d := &train.Data{Inputs: studentInputs(m, inputs), Teacher: logits}
	return fit(ctx, m, d, opts, true, step)
}

// recoverable refuses the passes whose result recovery would undo: clipping bounds each
// weight's range, which training does not know and would leave. Quantizing after the
// clip keeps the range (the grid ends where the clipped weights did).
func recoverable(steps []CompressOptions) error {
	clipped := false
	for _, s := range steps {
		if s.Clip != "" {
			clipped = true
		}
		if s.Quantize != "" {
			clipped = false
		}
	}
	if clipped {
		return Errorf(KindInvalidArgument, "option recover: training would move the clipped weights out of their range; "+
			"quantize after the clip (recovery keeps the quantization grid) or recover without clip")
	}
	return nil
}

// studentInputs resizes (bilinear) the images of a retargeted student's [N, C, H, W]
// inputs from the teacher's size to the student's declared one.
func studentInputs(m *ir.Model, inputs map[string]*train.T) map[string]*train.T {
	out := map[string]*train.T{}
	for k, v := range inputs {
		out[k] = v
	}
	for _, in := range m.Graph.Inputs {
		v := out[in.Name]
		if v == nil || in.Type == nil || in.Type.Shape == nil || len(in.Type.Shape.Dims) != len(v.Shape) || len(v.Shape) < 2 {
			continue
		}
		d := in.Type.Shape.Dims
		if len(d) <= 3 && d[1].HasValue && int(d[1].Value) < v.Shape[1] {
			out[in.Name] = firstTokens(v, int(d[1].Value))
			continue
		}
		if len(d) == 4 && d[2].HasValue && d[3].HasValue && (int(d[2].Value) != v.Shape[2] || int(d[3].Value) != v.Shape[3]) {
			out[in.Name] = train.ResizeBilinear(v, int(d[2].Value), int(d[3].Value))
		}
	}
	return out
}

// firstTokens keeps the first n entries of dimension 1 of v ([batch, sequence, ...]).
func firstTokens(v *train.T, n int) *train.T {
	inner := 1
	for _, d := range v.Shape[2:] {
		inner *= d
	}
	sh := append([]int(nil), v.Shape...)
	sh[1] = n
	out := train.New(sh...)
	for b := 0; b < v.Shape[0]; b++ {
		copy(out.D[b*n*inner:(b+1)*n*inner], v.D[b*v.Shape[1]*inner:b*v.Shape[1]*inner+n*inner])
	}
	return out
}

package engine

import (
	"context"

	"github.com/modelc/modelc/engine/ir"
	"github.com/modelc/modelc/engine/train"
)

// recoverModel fine-tunes the compressed model m by distillation from the uncompressed
// model teacher reads, on the inputs opts.Data, with the compression kept: weights that
// are zero (pruned) stay zero and weights read by DequantizeLinear stay on their grid
// (trained as float shadows, fake-quantized with a straight-through gradient).
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
	d := &train.Data{Inputs: inputs, Teacher: logits}
	return fit(ctx, m, d, opts, true, step)
}

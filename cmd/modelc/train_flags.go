package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/modelc/modelc/engine"
)

// optFloat is a float flag that remembers whether it was given: nil when absent.
type optFloat struct{ p **float64 }

func (f optFloat) String() string {
	if f.p == nil || *f.p == nil {
		return ""
	}
	return strconv.FormatFloat(**f.p, 'g', -1, 64)
}
func (f optFloat) Set(v string) error {
	x, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return err
	}
	*f.p = &x
	return nil
}

// addTrainFlags declares the training flags distill and compress --recover share; the
// returned function finishes o after parsing.
func addTrainFlags(fs *flag.FlagSet, o *engine.TrainOptions) func() {
	var freeze multiFlag
	fs.StringVar(&o.Data, "data", "", "training inputs (.npz keyed by input name)")
	fs.IntVar(&o.Epochs, "epochs", 0, "epochs (10)")
	fs.IntVar(&o.BatchSize, "batch-size", 0, "samples per step (32)")
	fs.Float64Var(&o.LR, "lr", 0, "learning rate (adam 0.003, sgd 0.01)")
	fs.StringVar(&o.Optimizer, "optimizer", "", "adam|sgd")
	fs.Float64Var(&o.Momentum, "momentum", 0, "sgd momentum")
	fs.Float64Var(&o.WeightDecay, "weight-decay", 0, "L2 weight decay")
	fs.StringVar(&o.Schedule, "schedule", "", "cosine|constant learning rate")
	fs.Float64Var(&o.Temperature, "temperature", 0, "distillation temperature (2)")
	fs.Var(optFloat{&o.Alpha}, "alpha", "weight of distillation against cross-entropy with labels (0.5)")
	fs.Var(optFloat{&o.HeldOut}, "held-out", "fraction of the data held out for early stopping (0.1)")
	fs.IntVar(&o.Patience, "patience", 0, "stop after N epochs without a better held-out loss")
	fs.Int64Var(&o.Seed, "seed", 0, "seed of the split, the batch order and dropout")
	fs.Var(&freeze, "freeze", "initializer or node name pattern or op type not trained (repeatable)")
	fs.BoolVar(&o.Float64, "float64", false, "matrix products in float64 too (slower)")
	fs.StringVar(&o.BatchNorm, "batchnorm", "", "BatchNormalization while training: auto (train mode for fresh statistics), train or frozen")
	return func() { o.Freeze = freeze }
}

// printTrainReport prints the epochs and the before/after numbers of a training run.
func printTrainReport(w io.Writer, title string, r *engine.TrainReport) {
	fmt.Fprintf(w, "\n%s: %d training samples, %d held out, %d trainable values\n", title, r.Samples, r.HeldOut, r.Trainable)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  epoch\tloss\theld-out loss\tagreement\tseconds\t")
	for _, e := range r.Epochs {
		mark := ""
		if e.Best {
			mark = "*"
		}
		fmt.Fprintf(tw, "  %d%s\t%.4g\t%.4g\t%.2f%%\t%.2f\t\n", e.Epoch, mark, e.Loss, e.HeldLoss, 100*e.Agreement, e.Seconds)
	}
	tw.Flush()
	if n := len(r.Epochs); n > 0 && r.Epochs[n-1].Stopped != "" {
		fmt.Fprintf(w, "  stopped: %s\n", r.Epochs[n-1].Stopped)
	}
	fmt.Fprintf(w, "  kept epoch %d; held-out agreement with the teacher %.2f%% → %.2f%%", r.BestEpoch, 100*r.AgreementBefore, 100*r.AgreementAfter)
	if r.AccuracyBefore != nil && r.AccuracyAfter != nil {
		fmt.Fprintf(w, ", accuracy %.2f%% → %.2f%%", 100**r.AccuracyBefore, 100**r.AccuracyAfter)
		if r.TeacherAccuracy != nil {
			fmt.Fprintf(w, " (teacher %.2f%%)", 100**r.TeacherAccuracy)
		}
	}
	fmt.Fprintf(w, "\n  %.2f s per epoch\n", r.SecondsPerEpoch)
}

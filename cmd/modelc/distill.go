package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/modelc/modelc/engine"
)

func cmdDistill(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("distill", flag.ContinueOnError)
	var o engine.DistillOptions
	var match multiFlag
	var asJSON bool
	finishTrain := addTrainFlags(fs, &o.TrainOptions)
	fs.StringVar(&o.Labels, "labels", "", "class labels (.npy), one per sample of --data")
	fs.Var(&match, "match", "teacher_tensor=student_tensor feature matching (MSE; repeatable)")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	pos, err := parseArgs(fs, args, 3, "TEACHER STUDENT|auto:width=F|auto:depth=F OUT --data INPUTS.npz [--labels Y.npy] ... (see modelc help)")
	if err != nil {
		return err
	}
	finishTrain()
	o.Match = match
	bar := newProgressBar(stderr, "distill")
	rep, err := engine.Distill(context.Background(), pos[0], pos[1], pos[2], o, bar.report)
	bar.finish()
	if err != nil {
		return withFlagNames(fs, err)
	}
	if asJSON {
		return printJSON(stdout, rep)
	}
	fmt.Fprintf(stdout, "distilled %s → %s (student %s)\n", rep.Teacher, rep.Output, rep.Student)
	for _, d := range rep.Derived {
		fmt.Fprintf(stdout, "  %s\n", d)
	}
	fmt.Fprintf(stdout, "  parameters  %d → %d (%.1f%%)\n", rep.TeacherParams, rep.StudentParams, pct(rep.StudentParams, rep.TeacherParams))
	fmt.Fprintf(stdout, "  bytes       %d → %d (%.1f%%)\n", rep.TeacherBytes, rep.StudentBytes, pct(rep.StudentBytes, rep.TeacherBytes))
	printTrainReport(stdout, "train", rep.Train)
	return nil
}

package engine

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/compress/depth"
	"github.com/modelc/modelc/engine/compress/prune"
	"github.com/modelc/modelc/engine/format"
	"github.com/modelc/modelc/engine/ir"
	"github.com/modelc/modelc/engine/train"
)

// DistillOptions are the settings of Distill (TrainOptions plus the labels and feature
// matching). The JSON keys are the CLI flag names with dashes turned into underscores.
type DistillOptions struct {
	TrainOptions
	// Labels: an .npy of integer classes, one per sample of Data; the loss becomes
	// α·KD + (1−α)·cross-entropy. Without labels (the usual case) it is KD alone.
	Labels string `json:"labels,omitempty"`
	// Match: teacher_tensor=student_tensor pairs whose mean squared difference is added
	// to the loss (feature matching); the tensors must have the same number of values.
	Match []string `json:"match,omitempty"`
}

// DistillReport is what Distill did (the JSON of `modelc distill --json`).
type DistillReport struct {
	Teacher string `json:"teacher"`
	Student string `json:"student"` // a path, "auto:width=F" or "auto:depth=F"
	// Derived says how an auto: student was made from the teacher (the blocks removed).
	Derived       []string     `json:"derived,omitempty"`
	Output        string       `json:"output"`
	TeacherParams int64        `json:"teacher_params"`
	StudentParams int64        `json:"student_params"`
	TeacherBytes  int64        `json:"teacher_bytes"`
	StudentBytes  int64        `json:"student_bytes"` // the output's size
	Train         *TrainReport `json:"train"`
}

// Distill trains the student (an ONNX model with the teacher's inputs and output shape,
// or "auto:width=F": the teacher with a fraction 1−F of the output channels of every
// layer removed, or "auto:depth=F": the teacher with a fraction 1−F of its repeated
// blocks removed) to reproduce the teacher's outputs on opts.Data, and writes it to dst.
func Distill(ctx context.Context, teacher, student, dst string, opts DistillOptions, progress Progress) (*DistillReport, error) {
	if err := checkPaths(teacher, dst); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(student, "auto:") {
		if err := checkPaths(student, dst); err != nil {
			return nil, err
		}
	}
	if err := checkOutputFolder(dst); err != nil {
		return nil, err
	}
	if err := opts.TrainOptions.check(); err != nil {
		return nil, err
	}
	if opts.Alpha != nil && opts.Labels == "" {
		return nil, Errorf(KindInvalidArgument, "option alpha weighs the labels' cross-entropy: give labels")
	}
	var pairs [][2]string
	for _, mt := range opts.Match {
		t, s, ok := strings.Cut(mt, "=")
		if !ok || t == "" || s == "" {
			return nil, Errorf(KindInvalidArgument, "option match: %q is not teacher_tensor=student_tensor", mt)
		}
		pairs = append(pairs, [2]string{t, s})
	}
	out, err := format.ForWrite(dst)
	if err != nil {
		return nil, err
	}
	if out.Name != "onnx" {
		return nil, &Error{Kind: KindInvalidArgument, File: dst, Err: fmt.Errorf("distill writes ONNX models: name the output *.onnx")}
	}
	step := stepper(ctx, progress)
	if err := step("read", 0); err != nil {
		return nil, err
	}
	tm, _, err := Read(teacher)
	if err != nil {
		return nil, err
	}
	defer tm.Close()
	if tm.Graph == nil || len(tm.Graph.Nodes) == 0 {
		return nil, &Error{Kind: KindInvalidArgument, File: teacher, Err: fmt.Errorf("the teacher has no graph (weights only)")}
	}
	rep := &DistillReport{Teacher: teacher, Student: student, Output: dst, TeacherParams: compress.Params(tm)}
	if st, err := os.Stat(teacher); err == nil {
		rep.TeacherBytes = st.Size()
	}
	sm, derived, err := studentModel(teacher, student)
	if err != nil {
		return nil, err
	}
	rep.Derived = derived
	defer sm.Close()
	inputs, n, err := loadInputs(opts.Data, tm)
	if err != nil {
		return nil, err
	}
	var labels []int64
	if opts.Labels != "" {
		if labels, err = loadLabels(opts.Labels, n); err != nil {
			return nil, err
		}
	}
	var names []string
	for _, p := range pairs {
		names = append(names, p[0])
	}
	if err := step("teacher", 0.05); err != nil {
		return nil, err
	}
	logits, feats, err := teacherOutputs(ctx, tm, inputs, n, names)
	if err != nil {
		return nil, withFile(err, teacher)
	}
	d := &train.Data{Inputs: inputs, Teacher: logits, Labels: labels, Features: map[string]*train.T{}}
	for _, p := range pairs {
		d.Features[p[1]] = feats[p[0]]
	}
	tr, err := fit(ctx, sm, d, opts.TrainOptions, true, func(stage string, f float64) error { return step(stage, 0.1+0.85*f) })
	if err != nil {
		return nil, withFile(err, student)
	}
	rep.Train = tr
	rep.StudentParams = compress.Params(sm)
	if err := step("write", 0.95); err != nil {
		return nil, err
	}
	if err := checkModel(sm, KindUnsupported, dst); err != nil {
		return nil, err
	}
	if err := out.Write(sm, dst, format.WriteOptions{}); err != nil {
		return nil, err
	}
	if st, err := os.Stat(dst); err == nil {
		rep.StudentBytes = st.Size()
	}
	if progress != nil {
		progress("done", 1)
	}
	return rep, nil
}

// studentModel reads the student, or derives it from the teacher: "auto:width=F" keeps
// a fraction F of the output channels of every layer, "auto:depth=F" a fraction F of each
// run of repeated blocks (package depth). The notes say what was removed.
func studentModel(teacher, student string) (*ir.Model, []string, error) {
	spec, ok := strings.CutPrefix(student, "auto:")
	if !ok {
		m, _, err := Read(student)
		return m, nil, err
	}
	key, val, _ := strings.Cut(spec, "=")
	f, err := strconv.ParseFloat(val, 64)
	switch {
	case key == "depth" && (err != nil || !(f > 0 && f < 1)):
		return nil, nil, Errorf(KindInvalidArgument, "student %q: expected auto:depth=F with 0 < F < 1 (the fraction of each run of repeated blocks kept)", student)
	case key != "width" && key != "depth" || key == "width" && (err != nil || !(f > 0 && f <= 1)):
		return nil, nil, Errorf(KindInvalidArgument, "student %q: expected auto:width=F with 0 < F ≤ 1 or auto:depth=F with 0 < F < 1", student)
	}
	m, _, err := Read(teacher)
	if err != nil {
		return nil, nil, err
	}
	var r *compress.Report
	switch {
	case key == "depth":
		r, err = depth.Drop(m, f)
	case f < 1:
		r, err = prune.Channels(m, 1-f, "l1", nil)
	}
	if err != nil {
		m.Close()
		return nil, nil, &Error{Kind: KindUnsupported, File: teacher, Err: fmt.Errorf("deriving the student: %w", err)}
	}
	if key == "depth" {
		return m, r.Notes, nil
	}
	return m, nil, nil
}

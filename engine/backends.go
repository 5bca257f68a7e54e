package engine

import "github.com/modelc/modelc/accel"

// BackendReport describes the CPU, the kernel backend chosen (MODELC_ACCEL or automatic)
// and the implementation serving each kernel.
type BackendReport = accel.Report

// Backends reports the kernel choice. An unusable MODELC_ACCEL value is an
// invalid-argument error; the report is returned beside it so callers can show why.
func Backends() (BackendReport, error) {
	r := accel.Describe()
	if err := accel.Init(); err != nil {
		return r, &Error{Kind: KindInvalidArgument, Err: err}
	}
	return r, nil
}

package accel

// ConvRows2D computes a 2-D convolution without groups and with at most
// ConvRowsMaxChannels input channels, such as a network's RGB stem, directly by output
// rows: y[co] = act(conv(x, w[co]) + bias[co]) for m output channels over the cin planes
// of x (each H×W) under the window p (dilation 1), w being m × cin·KH·KW row-major and y
// m × OH·OW; bias may be nil and act is any Act, ActSiLU included. Output rows are split
// over the worker pool; every output sums its taps in the same order whatever the split,
// so results depend on the backend only. It returns false, touching nothing, where the
// backend has no such kernel or the layer is outside its limits (the caller then runs its
// implicit-GEMM or im2col path and the epilogue).
func ConvRows2D(m, cin int, p Window2D, w, x, bias, y []float32, act Act) bool {
	const fn = "ConvRows2D"
	kern := tab().convRows2D
	lrow := convRowsLen(p)
	if kern == nil || cin < 1 || cin > ConvRowsMaxChannels || p.DH != 1 || p.DW != 1 || p.KH > 7 || p.KW > 7 ||
		p.SH > 4 || p.SW > 4 || cin*p.KH*p.SW*lrow > convRowsMaxBuf {
		return false
	}
	if !(m >= 0 && p.H >= 0 && p.W >= 0 && p.OH >= 0 && p.OW >= 0 && p.KH > 0 && p.KW > 0 && p.SH > 0 && p.SW > 0 && p.PH >= 0 && p.PW >= 0) {
		fail(fn, "bad geometry %+v", p)
	}
	if !(len(w) >= m*cin*p.KH*p.KW && len(x) >= cin*p.H*p.W && len(y) >= m*p.OH*p.OW) {
		fail(fn, "buffers too short for %d×%d %+v", m, cin, p)
	}
	if !(bias == nil || len(bias) >= m) {
		fail(fn, "len(bias) = %d < m = %d", len(bias), m)
	}
	if !(act.Kind >= ActNone && act.Kind <= ActSiLU) {
		fail(fn, "unknown activation %d", act.Kind)
	}
	if m == 0 || p.OH == 0 || p.OW == 0 {
		return true
	}
	// A few rows per task: each task splits its own input rows into phases.
	grain := max(1, convRowsGrain/max(1, m*p.OW*cin*p.KH*p.KW))
	ParallelFor(p.OH, grain, func(r0, r1 int) {
		kern(m, cin, &p, w, x, bias, y, r0, r1, lrow, act)
	})
	return true
}

// ConvRowsMaxChannels is the most input channels ConvRows2D takes: beyond a few, the
// implicit GEMM's longer columns use the FMA units better.
const ConvRowsMaxChannels = 4

// convRowsMaxBuf bounds the phase rows one kernel call keeps on its stack (floats).
const convRowsMaxBuf = 1 << 14

// convRowsGrain is the number of multiply-adds one ConvRows2D task does at least.
const convRowsGrain = 1 << 18

// convRowsLen is the length of one zero-padded stride-phase row: every 16-wide vector of
// outputs, shifted by a tap's kx/SW, reads inside it.
func convRowsLen(p Window2D) int {
	return (p.OW+15)&^15 + (p.KW-1)/max(p.SW, 1)
}

// HasConvRows2D reports whether ConvRows2D has a kernel on the selected backend.
func HasConvRows2D() bool { return tab().convRows2D != nil }

// refConvRows2D is the reference ConvRows2D builds on: the implicit-GEMM reference, then
// the bias and activation, then SiLU, in the pure-Go kernels.
func refConvRows2D(m, cin int, p Window2D, w, x, bias, y []float32, act Act) {
	n := p.OH * p.OW
	refConvImplicit2D(m, cin, &p, w, x, y, 0, n)
	refEpilogue(y, m, n, bias, act)
}

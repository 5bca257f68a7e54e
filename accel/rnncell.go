package accel

import "math"

// LSTMCell runs one LSTM step of one sequence with the default activations: with
// g = hr + xw holding the pre-activations of the gates i, o, f, c (ONNX order, each
// len(h) wide), it sets c = σ(f)·c + σ(i)·tanh(c̃) and h = σ(o)·tanh(c). hr is the
// recurrent product H·Rᵀ and xw the input projection with the biases; c and h are
// updated in place. The SIMD kernels use σ(x) = 1/(1+e^−x) and tanh(x) = 1 − 2/(e^{2x}+1)
// on a polynomial exp: each activation is within 3·2⁻²³ of the float64 function (absolute
// error: tanh loses relative accuracy near 0), and h and c within 2⁻²⁰·(1+|c|) of the
// reference.
func LSTMCell(hr, xw, c, h []float32) {
	const fn = "LSTMCell"
	n := len(h)
	// if/fail rather than check, whose boxed arguments would allocate at every step.
	if len(hr) < 4*n || len(xw) < 4*n {
		fail(fn, "gate rows hold %d and %d values, want %d", len(hr), len(xw), 4*n)
	}
	if len(c) < n {
		fail(fn, "len(c) = %d < len(h) = %d", len(c), n)
	}
	if n == 0 {
		return
	}
	tab().lstmCell(hr[:4*n], xw[:4*n], c[:n], h)
}

// GRUCellLBR runs one GRU step (linear_before_reset = 1, default activations) of one
// sequence: the gates z, r, h, each len(h) wide, are z = σ(xw_z + hr_z),
// r = σ(xw_r + hr_r), ĥ = tanh(xw_h + r·hr_h), and h becomes (1−z)·ĥ + z·h. hr is
// H·Rᵀ plus the hidden gate's recurrent bias, xw the input projection with the other
// biases. Error as for LSTMCell.
func GRUCellLBR(hr, xw, h []float32) {
	const fn = "GRUCellLBR"
	n := len(h)
	if len(hr) < 3*n || len(xw) < 3*n {
		fail(fn, "gate rows hold %d and %d values, want %d", len(hr), len(xw), 3*n)
	}
	if n == 0 {
		return
	}
	tab().gruCellLBR(hr[:3*n], xw[:3*n], h)
}

func refSigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// refLSTMCell is LSTMCell in float64 with the exact functions.
func refLSTMCell(hr, xw, c, h []float32) {
	n := len(h)
	for j := 0; j < n; j++ {
		gate := func(k int) float64 { return float64(hr[k*n+j]) + float64(xw[k*n+j]) }
		cn := refSigmoid(gate(2))*float64(c[j]) + refSigmoid(gate(0))*math.Tanh(gate(3))
		c[j] = float32(cn)
		h[j] = float32(refSigmoid(gate(1)) * math.Tanh(cn))
	}
}

// refGRUCellLBR is GRUCellLBR in float64 with the exact functions.
func refGRUCellLBR(hr, xw, h []float32) {
	n := len(h)
	for j := 0; j < n; j++ {
		z := refSigmoid(float64(hr[j]) + float64(xw[j]))
		r := refSigmoid(float64(hr[n+j]) + float64(xw[n+j]))
		hh := math.Tanh(float64(xw[2*n+j]) + r*float64(hr[2*n+j]))
		h[j] = float32((1-z)*hh + z*float64(h[j]))
	}
}

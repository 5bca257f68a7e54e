package quant

import (
	"fmt"
	"math"
	"sort"

	"github.com/modelc/modelc/accel"
	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/ir"
)

// Collector runs the float model on the calibration data and returns the values each
// named tensor took (all batches concatenated).
type Collector func(names []string) (map[string][]float32, error)

// Calibration methods.
const (
	MinMax     = "minmax"     // the observed minimum and maximum
	Percentile = "percentile" // the P-th and (100−P)-th percentiles: outliers are clipped
	Entropy    = "entropy"    // the threshold minimising the KL divergence between the histograms before and after quantization (TensorRT's method)
)

// StaticOptions add calibration to Options.
type StaticOptions struct {
	Options
	Method     string  // MinMax (default), Percentile or Entropy
	Percentile float64 // for Percentile; default 99.999
}

// Static quantizes in the QDQ form with ranges calibrated ahead of time: each input
// activation of a MatMul, Gemm or Conv gets a QuantizeLinear → DequantizeLinear pair
// with a fixed scale and zero point (uint8 asymmetric, or int8 symmetric with
// Symmetric), and the weights are stored as 8-bit integers behind a DequantizeLinear.
// onnxruntime fuses the pattern into integer kernels. Only the inputs of those layers
// are quantized: LayerNormalization, Softmax, GELU and every other op keep computing in
// float32.
func Static(m *ir.Model, o StaticOptions, collect Collector) (*compress.Report, error) {
	if o.Type != ir.Int8 && o.Type != ir.Uint8 {
		return nil, fmt.Errorf("static quantization to %v is not supported (int8, uint8)", o.Type)
	}
	if o.Method == "" {
		o.Method = MinMax
	}
	if o.Percentile == 0 {
		o.Percentile = 99.999
	}
	r := &compress.Report{Pass: fmt.Sprintf("quantize %v static (%s calibration)", o.Type, o.Method)}
	layers := compress.Layers(m, o.Exclude, r)
	var acts []string
	seen := map[string]bool{}
	for _, l := range layers {
		if x := l.Node.Inputs[0]; !seen[x] {
			seen[x] = true
			acts = append(acts, x)
		}
	}
	values, err := collect(acts)
	if err != nil {
		return nil, err
	}
	actType, actSym := ir.Uint8, false
	if o.Symmetric && o.Type == ir.Int8 {
		actType, actSym = ir.Int8, true
	}
	g := m.Graph
	names := compress.NewNames(m)
	deq := map[string]string{}
	for _, l := range layers {
		x := l.Node.Inputs[0]
		if d, ok := deq[x]; ok {
			l.Node.Inputs[0] = d
		} else {
			v := values[x]
			if len(v) == 0 {
				return nil, fmt.Errorf("calibration produced no values for %q", x)
			}
			lo, hi := calibRange(v, o.Method, o.Percentile)
			s, z := scaleZP(lo, hi, actType, actSym)
			st := compress.Float32Tensor(names.New(x+"_scale"), nil, []float32{s})
			zt := mustTensor(names.New(x+"_zero_point"), actType, nil, []byte{byte(int8(z))})
			qOut, dqOut := names.New(x+"_quantized"), names.New(x+"_dequantized")
			insertBefore(g, l.Node,
				&ir.Node{Name: names.New(x + "_QuantizeLinear"), OpType: "QuantizeLinear", Inputs: []string{x, st.Name, zt.Name}, Outputs: []string{qOut}},
				&ir.Node{Name: names.New(x + "_DequantizeLinear"), OpType: "DequantizeLinear", Inputs: []string{qOut, st.Name, zt.Name}, Outputs: []string{dqOut}})
			g.Initializers = append(g.Initializers, st, zt)
			deq[x] = dqOut
			l.Node.Inputs[0] = dqOut
			r.Notes = append(r.Notes, fmt.Sprintf("activation %q: range [%.4g, %.4g] → %v scale %.4g zero point %d", x, lo, hi, actType, s, z))
		}
		if err := dequantWeight(m, l, o.Options, names, r); err != nil {
			return nil, err
		}
	}
	r.Notes = append(r.Notes, "only the inputs of MatMul, Gemm and Conv are quantized; LayerNormalization, Softmax, GELU and all other ops compute in float32")
	compress.SetOpset(m, 13)
	return r, nil
}

// calibRange picks the range to quantize the observed values v to.
func calibRange(v []float32, method string, pct float64) (lo, hi float32) {
	switch method {
	case Percentile:
		s := append([]float32(nil), v...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		at := func(p float64) float32 { return s[int(math.Round(p/100*float64(len(s)-1)))] }
		return at(100 - pct), at(pct)
	case Entropy:
		mn, mx := accel.MinMax(v)
		t := klThreshold(v)
		if mn >= 0 {
			return 0, min(t, mx)
		}
		return max(-t, mn), min(t, mx)
	}
	return accel.MinMax(v)
}

// klThreshold is TensorRT's entropy calibration: a 2048-bin histogram of |x|; for each
// candidate cut i (from 128 bins up) the distribution P clipped at i (outliers folded into
// the last bin) is compared with Q, the same bins merged into 128 levels and spread back;
// the cut with the least KL(P‖Q) gives the threshold.
func klThreshold(v []float32) float32 {
	const bins, levels = 2048, 128
	amax := accel.AbsMax(v)
	if amax == 0 {
		return 0
	}
	width := float64(amax) / bins
	hist := make([]float64, bins)
	for _, x := range v {
		b := int(math.Abs(float64(x)) / width)
		hist[min(b, bins-1)]++
	}
	best, bestKL := bins, math.Inf(1)
	p := make([]float64, bins)
	q := make([]float64, bins)
	for i := levels; i <= bins; i++ {
		copy(p, hist[:i])
		for _, h := range hist[i:] {
			p[i-1] += h
		}
		// Q: merge hist[:i] into `levels` groups, spread each group's count over its
		// non-empty bins.
		clear(q[:i])
		for k := 0; k < levels; k++ {
			start, end := k*i/levels, (k+1)*i/levels
			var sum float64
			nz := 0
			for j := start; j < end; j++ {
				sum += hist[j]
				if hist[j] > 0 {
					nz++
				}
			}
			for j := start; j < end; j++ {
				if hist[j] > 0 {
					q[j] = sum / float64(nz)
				}
			}
		}
		var ps, qs float64
		for j := 0; j < i; j++ {
			ps += p[j]
			qs += q[j]
		}
		kl := 0.0
		for j := 0; j < i; j++ {
			if p[j] == 0 {
				continue
			}
			pj := p[j] / ps
			qj := q[j] / qs
			if qj == 0 {
				qj = 1e-12 // an outlier bin Q has no mass for: heavily penalised, not infinite
			}
			kl += pj * math.Log(pj/qj)
		}
		if kl < bestKL {
			best, bestKL = i, kl
		}
	}
	return float32((float64(best) + 0.5) * width)
}

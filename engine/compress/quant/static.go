package quant

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

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
	// Ops names op types (from QDQOps) whose activations are quantized too: each
	// node's float inputs and its first output get a QuantizeLinear → DequantizeLinear
	// pair from the calibrated ranges, as onnxruntime's QDQ quantizer emits them. By
	// default they compute in float32. Excluded nodes stay float.
	Ops []string
}

// QDQOps are the op types Ops may name, each with the indices of its inputs that carry
// activations (its other inputs, such as LayerNormalization's scale and bias, stay
// float). Their activations are always float, never integer shape arithmetic.
var QDQOps = map[string][]int{
	"LayerNormalization": {0},
	"Softmax":            {0},
	"Gelu":               {0},
	"Sigmoid":            {0},
	"Tanh":               {0},
}

// QDQOpNames lists QDQOps' keys in order, for messages.
func QDQOpNames() string { return strings.Join(compress.SortedKeys(QDQOps), ", ") }

// CheckOps rejects an op type Ops cannot name.
func CheckOps(ops []string) error {
	for _, op := range ops {
		switch {
		case op == "MatMul" || op == "Gemm" || op == "Conv":
			return fmt.Errorf("%q: the inputs of MatMul, Gemm and Conv are always quantized; name other op types (%s)", op, QDQOpNames())
		case QDQOps[op] == nil:
			return fmt.Errorf("%q is not an op type static quantization can quantize (%s)", op, QDQOpNames())
		}
	}
	return nil
}

// opNodes returns, for each op type of ops (deduplicated, in the order given), the nodes
// of m's main graph of that type that exclude leaves alone. An op type the model lacks,
// or whose every node is excluded, is an error.
func opNodes(m *ir.Model, ops []string, ex compress.Exclude, r *compress.Report) (map[*ir.Node]bool, error) {
	if err := CheckOps(ops); err != nil {
		return nil, err
	}
	out := map[*ir.Node]bool{}
	done := map[string]bool{}
	for _, op := range ops {
		if done[op] {
			continue
		}
		done[op] = true
		found, kept := 0, 0
		for _, n := range m.Graph.Nodes {
			if n.OpType != op || (n.Domain != "" && n.Domain != "ai.onnx") {
				continue
			}
			found++
			if ex.Matches(n) {
				r.Skip(compress.NodeName(n), "excluded")
				continue
			}
			kept++
			out[n] = true
		}
		if found == 0 {
			return nil, fmt.Errorf("the model has no %s node (its ops: %s)", op, compress.OpTypes(m))
		}
		if kept == 0 {
			return nil, fmt.Errorf("every %s node is excluded", op)
		}
	}
	return out, nil
}

// Static quantizes in the QDQ form with ranges calibrated ahead of time: each input
// activation of a MatMul, Gemm or Conv gets a QuantizeLinear → DequantizeLinear pair
// with a fixed scale and zero point (uint8 asymmetric, or int8 symmetric with
// Symmetric), and the weights are stored as 8-bit integers behind a DequantizeLinear.
// onnxruntime fuses the pattern into integer kernels. By default only the inputs of those
// layers are quantized: LayerNormalization, Softmax, GELU and every other op keep
// computing in float32; o.Ops adds op types whose inputs and outputs are quantized too.
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
	named, err := opNodes(m, o.Ops, o.Exclude, r)
	if err != nil {
		return nil, err
	}
	var layers, nested []compress.Layer
	for _, l := range compress.Layers(m, o.Exclude, r) {
		if l.Nested() {
			nested = append(nested, l)
		} else {
			layers = append(layers, l)
		}
	}
	if len(layers) == 0 && len(nested) == 0 && len(named) == 0 {
		return r, nil
	}
	// int8 weights are symmetric (zero point 0) whatever o.Symmetric says: onnxruntime's
	// integer convolution (QLinearConv) and TFLite's take no other, and with per-channel
	// zero points onnxruntime falls back to a reference loop (mobilenet_v2: 98 ms a run
	// against 8 ms in float32, one thread).
	wo := o.Options
	if o.Type == ir.Int8 {
		wo.Symmetric = true
	}
	plans, err := planWeights(layers, wo)
	if err != nil {
		return nil, err
	}
	nestedPlans, err := planWeights(nested, wo)
	if err != nil {
		return nil, err
	}
	if err := requireDQ(m, append(append([]plan8{}, plans...), nestedPlans...)); err != nil {
		return nil, err
	}
	g := m.Graph
	inits := map[string]bool{}
	for _, t := range g.Initializers {
		inits[t.Name] = true
	}
	// The activations to calibrate, in node order: each layer's input, each named node's
	// activation inputs and first output.
	var acts []string
	seen := map[string]bool{}
	want := func(x string) {
		if x != "" && !seen[x] {
			seen[x] = true
			acts = append(acts, x)
		}
	}
	layerOf := map[*ir.Node]int{}
	for i, l := range layers {
		layerOf[l.Node] = i
	}
	var namedOrder []*ir.Node
	for _, n := range g.Nodes {
		if i, ok := layerOf[n]; ok {
			want(layers[i].Node.Inputs[0])
		}
		if named[n] {
			namedOrder = append(namedOrder, n)
			for _, i := range activationInputs(n, inits) {
				want(n.Inputs[i])
			}
			if len(n.Outputs) > 0 {
				want(n.Outputs[0])
			}
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
	names := compress.NewNames(m)
	// qdq makes the QuantizeLinear → DequantizeLinear pair of activation x reading from
	// in and writing out, and returns x's scale and zero point.
	qdq := func(x, in, out string) ([]*ir.Node, float32, int, error) {
		v := values[x]
		if len(v) == 0 {
			return nil, 0, 0, fmt.Errorf("calibration produced no values for %q", x)
		}
		lo, hi := calibRange(v, o.Method, o.Percentile)
		s, z := scaleZP(lo, hi, actType, actSym)
		st := compress.Float32Tensor(names.New(x+"_scale"), nil, []float32{s})
		zt := mustTensor(names.New(x+"_zero_point"), actType, nil, []byte{byte(int8(z))})
		qOut := names.New(x + "_quantized")
		g.Initializers = append(g.Initializers, st, zt)
		r.Notes = append(r.Notes, fmt.Sprintf("activation %q: range [%.4g, %.4g] → %v scale %.4g zero point %d", x, lo, hi, actType, s, z))
		return []*ir.Node{
			{Name: names.New(x + "_QuantizeLinear"), OpType: "QuantizeLinear", Inputs: []string{in, st.Name, zt.Name}, Outputs: []string{qOut}},
			{Name: names.New(x + "_DequantizeLinear"), OpType: "DequantizeLinear", Inputs: []string{qOut, st.Name, zt.Name}, Outputs: []string{out}},
		}, s, z, nil
	}
	uses := compress.Uses(g)
	dropped, bounds := 0, []string(nil) // clamps dropped, and their Clip bounds
	// deq maps an activation to the name its quantized value is read under.
	deq := map[string]string{}
	// A named node's output y is quantized where it is made: the node writes y_float and
	// the pair turns it into y, so that every consumer and a graph output read the
	// quantized value under the old name.
	for _, n := range namedOrder {
		if len(n.Outputs) == 0 || n.Outputs[0] == "" {
			continue
		}
		y := n.Outputs[0]
		if _, ok := deq[y]; ok {
			continue
		}
		yf := names.New(y + "_float")
		pair, _, _, err := qdq(y, yf, y)
		if err != nil {
			return nil, err
		}
		n.Outputs[0] = yf
		insertAfter(g, n, pair...)
		deq[y] = y
	}
	// Inputs: a pair before the first quantized consumer, shared by the later ones.
	input := func(n *ir.Node, i int) error {
		x := n.Inputs[i]
		if d, ok := deq[x]; ok {
			n.Inputs[i] = d
			return nil
		}
		d := names.New(x + "_dequantized")
		pair, s, z, err := qdq(x, x, d)
		if err != nil {
			return err
		}
		if actType == ir.Uint8 && uses[x] == 1 {
			if c := redundantClamp(g, x, s, z); c != nil {
				// The quantization clamps as the Relu or Clip did: quantize its input,
				// and onnxruntime sees DequantizeLinear → Conv → QuantizeLinear, which
				// it runs as one integer convolution (with the clamp between them, as
				// a float convolution on dequantized weights).
				pair[0].Inputs[0] = c.Inputs[0]
				removeNode(g, c)
				dropped++
				bounds = append(bounds, c.Inputs[1:]...)
			}
		}
		insertBefore(g, n, pair...)
		deq[x] = d
		n.Inputs[i] = d
		return nil
	}
	for _, n := range append([]*ir.Node(nil), g.Nodes...) {
		if named[n] {
			for _, i := range activationInputs(n, inits) {
				if err := input(n, i); err != nil {
					return nil, err
				}
			}
		}
		if i, ok := layerOf[n]; ok {
			if err := input(n, 0); err != nil {
				return nil, err
			}
			if err := dequantWeight(m, plans[i], wo, names, r); err != nil {
				return nil, err
			}
		}
	}
	// Activations inside subgraphs cannot be calibrated (the model's outputs cannot
	// reach them): those layers get their weights quantized and compute in float32.
	for _, p := range nestedPlans {
		if err := dequantWeight(m, p, wo, names, r); err != nil {
			return nil, err
		}
		r.Layers[len(r.Layers)-1].Detail += ", weight-only (inside a subgraph: its input is not calibrated)"
	}
	if dropped > 0 {
		now := compress.Uses(g)
		g.Initializers = slices.DeleteFunc(g.Initializers, func(t *ir.Tensor) bool {
			return now[t.Name] == 0 && slices.Contains(bounds, t.Name)
		})
		r.Notes = append(r.Notes, fmt.Sprintf("%d Relu/Clip nodes dropped: the uint8 quantization after each clamps to the same values", dropped))
	}
	if len(namedOrder) == 0 {
		r.Notes = append(r.Notes, "only the inputs of MatMul, Gemm and Conv are quantized; LayerNormalization, Softmax, GELU and all other ops compute in float32")
	} else {
		count := map[string]int{}
		for _, n := range namedOrder {
			count[n.OpType]++
		}
		var parts []string
		for _, op := range compress.SortedKeys(count) {
			parts = append(parts, fmt.Sprintf("%d %s", count[op], op))
		}
		r.Notes = append(r.Notes, fmt.Sprintf("quantized: the inputs of MatMul, Gemm and Conv, and the activation inputs and outputs of %s (quantize_ops; their other inputs, such as LayerNormalization's scale and bias, stay float32); all other ops compute in float32", strings.Join(parts, ", ")))
	}
	guardNote(r, o.Options)
	return r, nil
}

// activationInputs are the indices of n's inputs (per QDQOps) that are present and not
// initializers.
func activationInputs(n *ir.Node, inits map[string]bool) []int {
	var out []int
	for _, i := range QDQOps[n.OpType] {
		if i < len(n.Inputs) && n.Inputs[i] != "" && !inits[n.Inputs[i]] {
			out = append(out, i)
		}
	}
	return out
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

// redundantClamp returns the Relu or Clip (of the main graph) that makes x when
// quantizing x to uint8 with scale s and zero point z clamps every value to what
// quantizing the clamp's input gives: z is 0, so everything at or below 0 becomes 0, which
// covers a lower bound at or below 0; and the upper bound, if any, quantizes to 255, so
// everything above it saturates as it would. Nil otherwise. (The calibrated range of a
// clamp's output lies inside its bounds, so with minmax calibration this always holds.)
func redundantClamp(g *ir.Graph, x string, s float32, z int) *ir.Node {
	if z != 0 || !(s > 0) {
		return nil
	}
	var c *ir.Node
	for _, n := range g.Nodes {
		if len(n.Outputs) == 1 && n.Outputs[0] == x {
			c = n
		}
	}
	if c == nil || c.Domain != "" && c.Domain != "ai.onnx" || len(c.Inputs) == 0 || c.Inputs[0] == "" {
		return nil
	}
	switch c.OpType {
	case "Relu":
		return c
	case "Clip":
	default:
		return nil
	}
	lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
	if a := c.Attr("min"); a != nil { // opset < 11
		lo = a.Float
	}
	if a := c.Attr("max"); a != nil {
		hi = a.Float
	}
	bound := func(i int, v *float32) bool { // opset ≥ 11: optional constant inputs
		if i >= len(c.Inputs) || c.Inputs[i] == "" {
			return true
		}
		var t *ir.Tensor
		for _, it := range g.Initializers {
			if it.Name == c.Inputs[i] {
				t = it
			}
		}
		if t == nil || t.DType != ir.Float32 {
			return false
		}
		f, err := t.Float32s()
		if err != nil || len(f) != 1 {
			return false
		}
		*v = f[0]
		return true
	}
	if !bound(1, &lo) || !bound(2, &hi) || !(lo <= 0) {
		return nil
	}
	if q := math.RoundToEven(float64(hi / s)); !(q >= 255) { // QuantizeLinear's float32 division
		return nil
	}
	return c
}

// removeNode takes n out of g's nodes.
func removeNode(g *ir.Graph, n *ir.Node) {
	for i, m := range g.Nodes {
		if m == n {
			g.Nodes = append(g.Nodes[:i], g.Nodes[i+1:]...)
			return
		}
	}
}

package tf

import (
	"encoding/json"
	"math"

	"github.com/modelc/modelc/engine/ir"
)

func jsonConfig(l *kerasObj, dst any) error {
	if len(l.Config) == 0 {
		return nil
	}
	if err := json.Unmarshal(l.Config, dst); err != nil {
		return ir.Errorf(ir.KindCorrupt, "", "layer %q (%s): config: %v", l.Name, l.ClassName, err)
	}
	return nil
}

// layerConfig is the union of the Keras layer settings modelc reads.
type layerConfig struct {
	Activation      any      `json:"activation"`
	UseBias         *bool    `json:"use_bias"`
	Filters         int64    `json:"filters"`
	KernelSize      []int64  `json:"kernel_size"`
	Strides         []int64  `json:"strides"`
	Padding         any      `json:"padding"`
	DataFormat      string   `json:"data_format"`
	DilationRate    []int64  `json:"dilation_rate"`
	Groups          int64    `json:"groups"`
	DepthMultiplier int64    `json:"depth_multiplier"`
	PoolSize        []int64  `json:"pool_size"`
	Keepdims        bool     `json:"keepdims"`
	Axis            any      `json:"axis"`
	Epsilon         *float64 `json:"epsilon"`
	Center          *bool    `json:"center"`
	Scale           any      `json:"scale"`
	Offset          any      `json:"offset"`
	RMSScaling      bool     `json:"rms_scaling"`
	TargetShape     []int64  `json:"target_shape"`
	Dims            []int64  `json:"dims"`
	Size            []int64  `json:"size"`
	Interpolation   string   `json:"interpolation"`
	MaxValue        *float64 `json:"max_value"`
	NegativeSlope   *float64 `json:"negative_slope"`
	Alpha           *float64 `json:"alpha"`
	Threshold       *float64 `json:"threshold"`
	SharedAxes      []int64  `json:"shared_axes"`
	NumHeads        int64    `json:"num_heads"`
	KeyDim          int64    `json:"key_dim"`
	ValueDim        *int64   `json:"value_dim"`
	AttentionAxes   any      `json:"attention_axes"`
	UseGate         bool     `json:"use_gate"`
	Units           int64    `json:"units"`
	RecurrentAct    any      `json:"recurrent_activation"`
	ReturnSequences bool     `json:"return_sequences"`
	ReturnState     bool     `json:"return_state"`
	GoBackwards     bool     `json:"go_backwards"`
	Stateful        bool     `json:"stateful"`
	ResetAfter      *bool    `json:"reset_after"`
	Invert          bool     `json:"invert"`
	Mean            any      `json:"mean"`
	Variance        any      `json:"variance"`
	MaskZero        bool     `json:"mask_zero"`
	OutputPadding   []int64  `json:"output_padding"`
	Cropping        any      `json:"cropping"`
}

func (c *layerConfig) useBias() bool { return c.UseBias == nil || *c.UseBias }

// layer converts one call of a Keras layer.
func (b *builder) layer(l *kerasObj, args []kval, kwargs map[string]any) ([]kval, error) {
	var c layerConfig
	if err := jsonConfig(l, &c); err != nil {
		return nil, err
	}
	if c.DataFormat == "channels_first" {
		return nil, ir.Errorf(ir.KindUnsupported, "", "layer %q (%s): data_format channels_first is not supported", l.Name, l.ClassName)
	}
	if len(args) == 0 {
		return nil, ir.Errorf(ir.KindCorrupt, "", "layer %q (%s) has no input", l.Name, l.ClassName)
	}
	if m, ok := kwargs["mask"]; ok && m != nil {
		return nil, ir.Errorf(ir.KindUnsupported, "", "layer %q (%s): masks are not supported", l.Name, l.ClassName)
	}
	w, err := b.src.weights(l.Name, l.ClassName)
	if err != nil {
		return nil, err
	}
	x := args[0]
	one := func(v kval, err error) ([]kval, error) {
		if err != nil {
			return nil, err
		}
		return []kval{v}, nil
	}
	name := l.Name
	switch l.ClassName {
	case "Dense", "EinsumDense":
		if l.ClassName == "EinsumDense" {
			break
		}
		return one(b.dense(name, &c, x, w))
	case "Conv1D", "Conv2D":
		return one(b.conv(name, l.ClassName, &c, x, w))
	case "DepthwiseConv2D":
		return one(b.depthwise(name, &c, x, w))
	case "SeparableConv2D":
		return one(b.separable(name, &c, x, w))
	case "Conv2DTranspose":
		return one(b.convTranspose(name, &c, x, w))
	case "BatchNormalization":
		return one(b.batchNorm(name, &c, x, w))
	case "LayerNormalization":
		return one(b.layerNorm(name, &c, x, w))
	case "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D":
		return one(b.pool(name, l.ClassName, &c, x))
	case "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D":
		return one(b.globalPool(name, l.ClassName, &c, x))
	case "Activation":
		return one(b.activation(x, c.Activation, name))
	case "ReLU":
		return one(b.relu(name, &c, x))
	case "LeakyReLU":
		alpha := 0.3
		if c.NegativeSlope != nil {
			alpha = *c.NegativeSlope
		} else if c.Alpha != nil {
			alpha = *c.Alpha
		}
		return []kval{b.same(x, b.op("LeakyRelu", name, []string{x.name}, aFloat("alpha", float32(alpha))))}, nil
	case "ELU":
		alpha := 1.0
		if c.Alpha != nil {
			alpha = *c.Alpha
		}
		return []kval{b.same(x, b.op("Elu", name, []string{x.name}, aFloat("alpha", float32(alpha))))}, nil
	case "PReLU":
		return one(b.prelu(name, &c, x, w))
	case "Softmax":
		if ax := axisList(c.Axis); len(ax) > 1 || len(ax) == 1 && ax[0] != -1 && ax[0] != int64(x.rank-1) {
			return nil, ir.Errorf(ir.KindUnsupported, "", "layer %q (Softmax): axis %v (only the last axis)", name, c.Axis)
		}
		return one(b.activation(x, "softmax", name))
	case "Add", "Subtract", "Multiply", "Maximum", "Minimum", "Average":
		return one(b.merge(name, l.ClassName, args))
	case "Concatenate":
		return one(b.concat(name, &c, args))
	case "Flatten":
		v := b.toCL(x)
		return []kval{{name: b.op("Flatten", name, []string{v.name}, aInt("axis", 1)), rank: 2, dtype: x.dtype}}, nil
	case "Reshape":
		v := b.toCL(x)
		shape := append([]int64{0}, c.TargetShape...)
		return []kval{{name: b.op("Reshape", name, []string{v.name, b.constI(name+"_shape", shape...)}), rank: len(shape), dtype: x.dtype}}, nil
	case "Permute":
		v := b.toCL(x)
		perm := []int64{0}
		for _, d := range c.Dims {
			perm = append(perm, d)
		}
		return []kval{{name: b.op("Transpose", name, []string{v.name}, aInts("perm", perm...)), rank: x.rank, dtype: x.dtype}}, nil
	case "Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity":
		return []kval{x}, nil
	case "ZeroPadding1D", "ZeroPadding2D":
		return one(b.zeroPad(name, &c, x))
	case "UpSampling2D":
		return one(b.upsample(name, &c, x))
	case "Embedding":
		return one(b.embedding(name, &c, x, w))
	case "Rescaling":
		return one(b.rescaling(name, &c, x))
	case "Normalization":
		return one(b.normalization(name, &c, x, w))
	case "MultiHeadAttention":
		return one(b.mha(name, &c, args, kwargs, w))
	case "LSTM", "GRU":
		return b.rnn(name, l.ClassName, &c, x, w)
	}
	return nil, ir.Errorf(ir.KindUnsupported, "", "layer %q: Keras layer class %s is not supported", name, l.ClassName)
}

// same wraps a node output as a tensor of x's rank and layout.
func (b *builder) same(x kval, name string) kval {
	return kval{name: name, rank: x.rank, cf: x.cf, dtype: x.dtype}
}

func axisList(v any) []int64 {
	switch a := v.(type) {
	case float64:
		return []int64{int64(a)}
	case []any:
		var out []int64
		for _, e := range a {
			if f, ok := e.(float64); ok {
				out = append(out, int64(f))
			}
		}
		return out
	}
	return nil
}

// f32 returns a weight's values as float32.
func f32(t *ir.Tensor) ([]float32, error) {
	v, err := t.Float32s()
	if err != nil {
		return nil, ir.Errorf(ir.KindUnsupported, "", "weight %q: %v", t.Name, err)
	}
	return v, nil
}

func needWeights(layer, class string, w []*ir.Tensor, n int, shapes ...int) error {
	if len(w) < n {
		return ir.Errorf(ir.KindCorrupt, "", "layer %q (%s): %d weights stored, %d expected", layer, class, len(w), n)
	}
	for i, r := range shapes {
		if i < len(w) && r >= 0 && len(w[i].Shape) != r {
			return ir.Errorf(ir.KindCorrupt, "", "layer %q (%s): weight %d has shape %v, rank %d expected", layer, class, i, w[i].Shape, r)
		}
	}
	return nil
}

func (b *builder) dense(name string, c *layerConfig, x kval, w []*ir.Tensor) (kval, error) {
	if err := needWeights(name, "Dense", w, 1, 2, 1); err != nil {
		return kval{}, err
	}
	x = b.toCL(x)
	k, err := f32(w[0])
	if err != nil {
		return kval{}, err
	}
	if x.rank == 2 {
		// Gemm with the kernel stored (out, in): the layout of torch.nn.Linear.weight.
		kt, ks := permute(k, w[0].Shape, []int{1, 0})
		ins := []string{x.name, b.constF(name+".weight", ks, kt)}
		if c.useBias() && len(w) > 1 {
			bias, err := f32(w[1])
			if err != nil {
				return kval{}, err
			}
			ins = append(ins, b.constF(name+".bias", w[1].Shape, bias))
		}
		y := b.op("Gemm", name+"_gemm", ins, aInt("transB", 1))
		return b.activation(kval{name: y, rank: 2, dtype: ir.Float32}, c.Activation, name)
	}
	y := b.op("MatMul", name+"_matmul", []string{x.name, b.constF(name+".kernel", w[0].Shape, k)})
	if c.useBias() && len(w) > 1 {
		bias, err := f32(w[1])
		if err != nil {
			return kval{}, err
		}
		y = b.op("Add", name+"_bias", []string{y, b.constF(name+".bias", w[1].Shape, bias)})
	}
	return b.activation(kval{name: y, rank: x.rank, dtype: ir.Float32}, c.Activation, name)
}

func paddingMode(c *layerConfig) string {
	if s, ok := c.Padding.(string); ok {
		return s
	}
	return "valid"
}

func ones(n int, v int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func orDefault(v []int64, n int, d int64) []int64 {
	if len(v) == n {
		return v
	}
	if len(v) == 1 {
		return ones(n, v[0])
	}
	return ones(n, d)
}

// convAttrs are the Conv attributes for a Keras convolution's settings.
func convAttrs(name string, c *layerConfig, spatial int, kernel []int64) ([]*ir.Attribute, []int64, error) {
	strides := orDefault(c.Strides, spatial, 1)
	dil := orDefault(c.DilationRate, spatial, 1)
	attrs := []*ir.Attribute{aInts("kernel_shape", kernel...), aInts("strides", strides...), aInts("dilations", dil...)}
	switch p := paddingMode(c); p {
	case "valid":
		attrs = append(attrs, aInts("pads", ones(2*spatial, 0)...))
		return attrs, nil, nil
	case "same":
		attrs = append(attrs, aString("auto_pad", "SAME_UPPER"))
		return attrs, nil, nil
	case "causal":
		if spatial != 1 {
			break
		}
		return append(attrs, aInts("pads", (kernel[0]-1)*dil[0], 0)), nil, nil
	}
	return nil, nil, ir.Errorf(ir.KindUnsupported, "", "layer %q: padding %v is not supported", name, c.Padding)
}

func (b *builder) conv(name, class string, c *layerConfig, x kval, w []*ir.Tensor) (kval, error) {
	spatial := 2
	if class == "Conv1D" {
		spatial = 1
	}
	if err := needWeights(name, class, w, 1, spatial+2, 1); err != nil {
		return kval{}, err
	}
	if x.rank != spatial+2 {
		return kval{}, ir.Errorf(ir.KindUnsupported, "", "layer %q (%s): input of rank %d", name, class, x.rank)
	}
	x = b.toCF(x)
	k, err := f32(w[0])
	if err != nil {
		return kval{}, err
	}
	// Keras kernel (spatial..., in/groups, out) → ONNX (out, in/groups, spatial...).
	perm := []int{spatial + 1, spatial}
	for i := 0; i < spatial; i++ {
		perm = append(perm, i)
	}
	kt, ks := permute(k, w[0].Shape, perm)
	attrs, _, err := convAttrs(name, c, spatial, ks[2:])
	if err != nil {
		return kval{}, err
	}
	if c.Groups > 1 {
		attrs = append(attrs, aInt("group", c.Groups))
	}
	ins := []string{x.name, b.constF(name+".weight", ks, kt)}
	if c.useBias() && len(w) > 1 {
		bias, err := f32(w[1])
		if err != nil {
			return kval{}, err
		}
		ins = append(ins, b.constF(name+".bias", w[1].Shape, bias))
	}
	y := kval{name: b.op("Conv", name+"_conv", ins, attrs...), rank: x.rank, cf: true, dtype: ir.Float32}
	return b.activation(y, c.Activation, name)
}

// depthwiseKernel turns a Keras depthwise kernel (H, W, C, M) into ONNX (C·M, 1, H, W).
func depthwiseKernel(t *ir.Tensor) ([]float32, []int64, error) {
	k, err := f32(t)
	if err != nil {
		return nil, nil, err
	}
	kt, ks := permute(k, t.Shape, []int{2, 3, 0, 1})
	return kt, []int64{ks[0] * ks[1], 1, ks[2], ks[3]}, nil
}

func (b *builder) depthwise(name string, c *layerConfig, x kval, w []*ir.Tensor) (kval, error) {
	if err := needWeights(name, "DepthwiseConv2D", w, 1, 4, 1); err != nil {
		return kval{}, err
	}
	x = b.toCF(x)
	kt, ks, err := depthwiseKernel(w[0])
	if err != nil {
		return kval{}, err
	}
	attrs, _, err := convAttrs(name, c, 2, ks[2:])
	if err != nil {
		return kval{}, err
	}
	attrs = append(attrs, aInt("group", w[0].Shape[2]))
	ins := []string{x.name, b.constF(name+".weight", ks, kt)}
	if c.useBias() && len(w) > 1 {
		bias, err := f32(w[1])
		if err != nil {
			return kval{}, err
		}
		ins = append(ins, b.constF(name+".bias", w[1].Shape, bias))
	}
	y := kval{name: b.op("Conv", name+"_conv", ins, attrs...), rank: 4, cf: true, dtype: ir.Float32}
	return b.activation(y, c.Activation, name)
}

func (b *builder) separable(name string, c *layerConfig, x kval, w []*ir.Tensor) (kval, error) {
	if err := needWeights(name, "SeparableConv2D", w, 2, 4, 4, 1); err != nil {
		return kval{}, err
	}
	x = b.toCF(x)
	kt, ks, err := depthwiseKernel(w[0])
	if err != nil {
		return kval{}, err
	}
	attrs, _, err := convAttrs(name, c, 2, ks[2:])
	if err != nil {
		return kval{}, err
	}
	attrs = append(attrs, aInt("group", w[0].Shape[2]))
	d := b.op("Conv", name+"_depthwise", []string{x.name, b.constF(name+".depthwise_kernel", ks, kt)}, attrs...)
	p, err := f32(w[1])
	if err != nil {
		return kval{}, err
	}
	pt, ps := permute(p, w[1].Shape, []int{3, 2, 0, 1})
	ins := []string{d, b.constF(name+".pointwise_kernel", ps, pt)}
	if c.useBias() && len(w) > 2 {
		bias, err := f32(w[2])
		if err != nil {
			return kval{}, err
		}
		ins = append(ins, b.constF(name+".bias", w[2].Shape, bias))
	}
	y := kval{name: b.op("Conv", name+"_pointwise", ins, aInts("kernel_shape", 1, 1)), rank: 4, cf: true, dtype: ir.Float32}
	return b.activation(y, c.Activation, name)
}

func (b *builder) convTranspose(name string, c *layerConfig, x kval, w []*ir.Tensor) (kval, error) {
	if err := needWeights(name, "Conv2DTranspose", w, 1, 4, 1); err != nil {
		return kval{}, err
	}
	x = b.toCF(x)
	k, err := f32(w[0])
	if err != nil {
		return kval{}, err
	}
	// Keras (H, W, out, in) → ONNX ConvTranspose (in, out, H, W).
	kt, ks := permute(k, w[0].Shape, []int{3, 2, 0, 1})
	attrs, err := convTransposeAttrs(name, c, ks)
	if err != nil {
		return kval{}, err
	}
	ins := []string{x.name, b.constF(name+".weight", ks, kt)}
	if c.useBias() && len(w) > 1 {
		bias, err := f32(w[1])
		if err != nil {
			return kval{}, err
		}
		ins = append(ins, b.constF(name+".bias", w[1].Shape, bias))
	}
	y := kval{name: b.op("ConvTranspose", name+"_convT", ins, attrs...), rank: 4, cf: true, dtype: ir.Float32}
	return b.activation(y, c.Activation, name)
}

func lastAxis(c *layerConfig, rank int) bool {
	ax := axisList(c.Axis)
	if c.Axis == nil {
		return true
	}
	return len(ax) == 1 && (ax[0] == -1 || ax[0] == int64(rank-1))
}

func (b *builder) batchNorm(name string, c *layerConfig, x kval, w []*ir.Tensor) (kval, error) {
	if !lastAxis(c, x.rank) {
		return kval{}, ir.Errorf(ir.KindUnsupported, "", "layer %q (BatchNormalization): axis %v (only the channel axis, last)", name, c.Axis)
	}
	scale := c.Scale == nil || c.Scale == true
	center := c.Center == nil || *c.Center
	n := 2
	if scale {
		n++
	}
	if center {
		n++
	}
	if err := needWeights(name, "BatchNormalization", w, n); err != nil {
		return kval{}, err
	}
	var vals [][]float32
	for _, t := range w[:n] {
		v, err := f32(t)
		if err != nil {
			return kval{}, err
		}
		vals = append(vals, v)
	}
	ch := len(vals[n-1])
	gamma, beta := fill(ch, 1), fill(ch, 0)
	i := 0
	if scale {
		gamma, i = vals[i], i+1
	}
	if center {
		beta, i = vals[i], i+1
	}
	mean, variance := vals[i], vals[i+1]
	eps := 1e-3
	if c.Epsilon != nil {
		eps = *c.Epsilon
	}
	if x.cf || x.rank == 2 {
		shape := []int64{int64(ch)}
		y := b.op("BatchNormalization", name, []string{x.name, b.constF(name+".weight", shape, gamma), b.constF(name+".bias", shape, beta),
			b.constF(name+".running_mean", shape, mean), b.constF(name+".running_var", shape, variance)}, aFloat("epsilon", float32(eps)))
		return b.same(x, y), nil
	}
	// Channels-last of another rank: the same affine map on the last axis.
	mul, add := make([]float32, ch), make([]float32, ch)
	for j := range mul {
		mul[j] = gamma[j] / float32(math.Sqrt(float64(variance[j])+eps))
		add[j] = beta[j] - mean[j]*mul[j]
	}
	y := b.op("Mul", name+"_scale", []string{x.name, b.constF(name+".scale", []int64{int64(ch)}, mul)})
	return b.same(x, b.op("Add", name, []string{y, b.constF(name+".offset", []int64{int64(ch)}, add)})), nil
}

func fill(n int, v float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func (b *builder) layerNorm(name string, c *layerConfig, x kval, w []*ir.Tensor) (kval, error) {
	if !lastAxis(c, x.rank) || c.RMSScaling {
		return kval{}, ir.Errorf(ir.KindUnsupported, "", "layer %q (LayerNormalization): axis %v (only the last axis, without rms_scaling)", name, c.Axis)
	}
	x = b.toCL(x)
	scale := c.Scale == nil || c.Scale == true
	center := c.Center == nil || *c.Center
	n := 0
	if scale {
		n++
	}
	if center {
		n++
	}
	if err := needWeights(name, "LayerNormalization", w, n); err != nil {
		return kval{}, err
	}
	var ch int
	if n > 0 {
		ch = int(w[0].NumElements())
	} else {
		return kval{}, ir.Errorf(ir.KindUnsupported, "", "layer %q (LayerNormalization): without scale and center", name)
	}
	gamma, beta := fill(ch, 1), fill(ch, 0)
	i := 0
	var err error
	if scale {
		if gamma, err = f32(w[i]); err != nil {
			return kval{}, err
		}
		i++
	}
	if center {
		if beta, err = f32(w[i]); err != nil {
			return kval{}, err
		}
	}
	eps := 1e-3
	if c.Epsilon != nil {
		eps = *c.Epsilon
	}
	shape := []int64{int64(ch)}
	y := b.op("LayerNormalization", name, []string{x.name, b.constF(name+".weight", shape, gamma), b.constF(name+".bias", shape, beta)},
		aInt("axis", -1), aFloat("epsilon", float32(eps)))
	return b.same(x, y), nil
}

func (b *builder) pool(name, class string, c *layerConfig, x kval) (kval, error) {
	spatial := 2
	if class[len(class)-2:] == "1D" {
		spatial = 1
	}
	if x.rank != spatial+2 {
		return kval{}, ir.Errorf(ir.KindUnsupported, "", "layer %q (%s): input of rank %d", name, class, x.rank)
	}
	x = b.toCF(x)
	size := orDefault(c.PoolSize, spatial, 2)
	strides := size
	if len(c.Strides) > 0 {
		strides = orDefault(c.Strides, spatial, 1)
	}
	attrs := []*ir.Attribute{aInts("kernel_shape", size...), aInts("strides", strides...)}
	switch paddingMode(c) {
	case "valid":
	case "same":
		attrs = append(attrs, aString("auto_pad", "SAME_UPPER"))
	default:
		return kval{}, ir.Errorf(ir.KindUnsupported, "", "layer %q: padding %v is not supported", name, c.Padding)
	}
	op := "MaxPool"
	if class[:3] == "Ave" {
		op = "AveragePool" // count_include_pad 0: TensorFlow averages over the valid cells
	}
	return b.same(x, b.op(op, name, []string{x.name}, attrs...)), nil
}

func (b *builder) globalPool(name, class string, c *layerConfig, x kval) (kval, error) {
	if x.rank < 3 {
		return kval{}, ir.Errorf(ir.KindUnsupported, "", "layer %q (%s): input of rank %d", name, class, x.rank)
	}
	x = b.toCF(x)
	op := "GlobalAveragePool"
	if class[:9] == "GlobalMax" {
		op = "GlobalMaxPool"
	}
	y := b.op(op, name+"_pool", []string{x.name})
	if c.Keepdims {
		return b.same(x, y), nil
	}
	return kval{name: b.op("Flatten", name, []string{y}, aInt("axis", 1)), rank: 2, dtype: x.dtype}, nil
}

func (b *builder) relu(name string, c *layerConfig, x kval) (kval, error) {
	slope, thr := 0.0, 0.0
	if c.NegativeSlope != nil {
		slope = *c.NegativeSlope
	}
	if c.Threshold != nil {
		thr = *c.Threshold
	}
	if thr != 0 {
		return kval{}, ir.Errorf(ir.KindUnsupported, "", "layer %q (ReLU): threshold %v", name, thr)
	}
	var y string
	if slope != 0 {
		y = b.op("LeakyRelu", name+"_leaky", []string{x.name}, aFloat("alpha", float32(slope)))
	} else {
		y = b.op("Relu", name+"_relu", []string{x.name})
	}
	if c.MaxValue != nil {
		y = b.op("Clip", name, []string{y, "", b.scalarF(name+"_max", float32(*c.MaxValue))})
	}
	return b.same(x, y), nil
}

func (b *builder) prelu(name string, c *layerConfig, x kval, w []*ir.Tensor) (kval, error) {
	if err := needWeights(name, "PReLU", w, 1, x.rank-1); err != nil {
		return kval{}, err
	}
	a, err := f32(w[0])
	if err != nil {
		return kval{}, err
	}
	shape := w[0].Shape
	if x.cf {
		// alpha is (d1..dk, C): to (C, d1..dk) as the channels-first tensor.
		perm := []int{len(shape) - 1}
		for i := 0; i < len(shape)-1; i++ {
			perm = append(perm, i)
		}
		a, shape = permute(a, shape, perm)
	}
	return b.same(x, b.op("PRelu", name, []string{x.name, b.constF(name+".alpha", shape, a)})), nil
}

func (b *builder) merge(name, class string, args []kval) (kval, error) {
	if len(args) < 2 {
		return kval{}, ir.Errorf(ir.KindCorrupt, "", "layer %q (%s): %d inputs", name, class, len(args))
	}
	// One layout for all: channels-first when any input already is.
	cf := false
	for _, a := range args {
		cf = cf || a.cf
	}
	for i := range args {
		if cf {
			args[i] = b.toCF(args[i])
		} else {
			args[i] = b.toCL(args[i])
		}
		if args[i].rank != args[0].rank {
			return kval{}, ir.Errorf(ir.KindUnsupported, "", "layer %q (%s): inputs of ranks %d and %d", name, class, args[0].rank, args[i].rank)
		}
	}
	op := map[string]string{"Add": "Add", "Subtract": "Sub", "Multiply": "Mul", "Maximum": "Max", "Minimum": "Min", "Average": "Sum"}[class]
	if op == "Sub" || op == "Mul" && len(args) == 2 || op == "Add" && len(args) == 2 {
		return b.same(args[0], b.op(op, name, []string{args[0].name, args[1].name})), nil
	}
	var ins []string
	for _, a := range args {
		ins = append(ins, a.name)
	}
	if op == "Add" || op == "Mul" {
		y := ins[0]
		for _, in := range ins[1:] {
			y = b.op(op, name+"_part", []string{y, in})
		}
		return b.same(args[0], b.op("Identity", name, []string{y})), nil
	}
	y := b.op(op, name+"_n", ins)
	if class == "Average" {
		y = b.op("Div", name, []string{y, b.scalarF(name+"_count", float32(len(args)))})
	}
	return b.same(args[0], y), nil
}

func (b *builder) concat(name string, c *layerConfig, args []kval) (kval, error) {
	rank := args[0].rank
	ax := int64(-1)
	if a := axisList(c.Axis); len(a) == 1 {
		ax = a[0]
	}
	if ax < 0 {
		ax += int64(rank)
	}
	if ax < 0 || ax >= int64(rank) {
		return kval{}, ir.Errorf(ir.KindCorrupt, "", "layer %q (Concatenate): axis %v for rank %d", name, c.Axis, rank)
	}
	cf := false
	for _, a := range args {
		cf = cf || a.cf
	}
	var ins []string
	for i := range args {
		if cf {
			args[i] = b.toCF(args[i])
		} else {
			args[i] = b.toCL(args[i])
		}
		ins = append(ins, args[i].name)
	}
	if cf && rank >= 3 && ax > 0 {
		if ax == int64(rank-1) {
			ax = 1
		} else {
			ax++
		}
	}
	return b.same(args[0], b.op("Concat", name, ins, aInt("axis", ax))), nil
}

func (b *builder) zeroPad(name string, c *layerConfig, x kval) (kval, error) {
	spatial := x.rank - 2
	var p [][2]int64
	switch v := c.Padding.(type) {
	case float64:
		for i := 0; i < spatial; i++ {
			p = append(p, [2]int64{int64(v), int64(v)})
		}
	case []any:
		for _, e := range v {
			switch q := e.(type) {
			case float64:
				if spatial == 1 && len(v) == 2 {
					p = [][2]int64{{int64(v[0].(float64)), int64(v[1].(float64))}}
				} else {
					p = append(p, [2]int64{int64(q), int64(q)})
				}
			case []any:
				if len(q) == 2 {
					a, _ := q[0].(float64)
					bb, _ := q[1].(float64)
					p = append(p, [2]int64{int64(a), int64(bb)})
				}
			}
			if spatial == 1 && len(p) == 1 {
				break
			}
		}
	}
	if len(p) != spatial {
		return kval{}, ir.Errorf(ir.KindUnsupported, "", "layer %q: padding %v", name, c.Padding)
	}
	x = b.toCF(x)
	pads := make([]int64, 2*x.rank)
	for i, q := range p {
		pads[2+i], pads[x.rank+2+i] = q[0], q[1]
	}
	return b.same(x, b.op("Pad", name, []string{x.name, b.constI(name+"_pads", pads...)})), nil
}

func (b *builder) upsample(name string, c *layerConfig, x kval) (kval, error) {
	size := orDefault(c.Size, 2, 2)
	x = b.toCF(x)
	scales := b.constF(name+"_scales", []int64{4}, []float32{1, 1, float32(size[0]), float32(size[1])})
	var attrs []*ir.Attribute
	switch c.Interpolation {
	case "nearest", "":
		attrs = []*ir.Attribute{aString("mode", "nearest"), aString("coordinate_transformation_mode", "asymmetric"), aString("nearest_mode", "floor")}
	case "bilinear":
		attrs = []*ir.Attribute{aString("mode", "linear"), aString("coordinate_transformation_mode", "half_pixel")}
	default:
		return kval{}, ir.Errorf(ir.KindUnsupported, "", "layer %q (UpSampling2D): interpolation %q", name, c.Interpolation)
	}
	return b.same(x, b.op("Resize", name, []string{x.name, "", scales}, attrs...)), nil
}

func (b *builder) embedding(name string, c *layerConfig, x kval, w []*ir.Tensor) (kval, error) {
	if err := needWeights(name, "Embedding", w, 1, 2); err != nil {
		return kval{}, err
	}
	if c.MaskZero {
		return kval{}, ir.Errorf(ir.KindUnsupported, "", "layer %q (Embedding): mask_zero", name)
	}
	e, err := f32(w[0])
	if err != nil {
		return kval{}, err
	}
	x = b.toCL(x)
	idx := b.op("Cast", name+"_ids", []string{x.name}, aInt("to", int64(ir.Int64)))
	y := b.op("Gather", name, []string{b.constF(name+".weight", w[0].Shape, e), idx})
	return kval{name: y, rank: x.rank + 1, dtype: ir.Float32}, nil
}

func (b *builder) rescaling(name string, c *layerConfig, x kval) (kval, error) {
	scale, ok := c.Scale.(float64)
	offset, ok2 := c.Offset.(float64)
	if c.Offset == nil {
		ok2 = true
	}
	if !ok || !ok2 {
		return kval{}, ir.Errorf(ir.KindUnsupported, "", "layer %q (Rescaling): scale %v offset %v (scalars only)", name, c.Scale, c.Offset)
	}
	in := x.name
	if x.dtype != ir.Float32 {
		in = b.op("Cast", name+"_float", []string{in}, aInt("to", int64(ir.Float32)))
	}
	y := b.op("Mul", name+"_scale", []string{in, b.scalarF(name+".scale", float32(scale))})
	y = b.op("Add", name, []string{y, b.scalarF(name+".offset", float32(offset))})
	return kval{name: y, rank: x.rank, cf: x.cf, dtype: ir.Float32}, nil
}

func (b *builder) normalization(name string, c *layerConfig, x kval, w []*ir.Tensor) (kval, error) {
	if c.Invert {
		return kval{}, ir.Errorf(ir.KindUnsupported, "", "layer %q (Normalization): invert", name)
	}
	if !lastAxis(c, x.rank) {
		return kval{}, ir.Errorf(ir.KindUnsupported, "", "layer %q (Normalization): axis %v (only the last axis)", name, c.Axis)
	}
	if err := needWeights(name, "Normalization", w, 2); err != nil {
		return kval{}, err
	}
	mean, err := f32(w[0])
	if err != nil {
		return kval{}, err
	}
	variance, err := f32(w[1])
	if err != nil {
		return kval{}, err
	}
	if len(mean) != len(variance) {
		return kval{}, ir.Errorf(ir.KindCorrupt, "", "layer %q (Normalization): mean and variance of %d and %d values", name, len(mean), len(variance))
	}
	x = b.toCL(x)
	inv := make([]float32, len(variance))
	for i, v := range variance {
		// Keras: (x - mean) / max(sqrt(variance), epsilon).
		inv[i] = 1 / float32(math.Max(math.Sqrt(float64(v)), 1e-7))
	}
	shape := []int64{int64(len(mean))}
	y := b.op("Sub", name+"_center", []string{x.name, b.constF(name+".mean", shape, mean)})
	y = b.op("Mul", name, []string{y, b.constF(name+".inv_std", shape, inv)})
	return b.same(x, y), nil
}

// mha is MultiHeadAttention over axis 1 of (batch, sequence, features) inputs, without
// masks: the projections, scaled dot-product attention per head, and the output dense.
func (b *builder) mha(name string, c *layerConfig, args []kval, kwargs map[string]any, w []*ir.Tensor) (kval, error) {
	if c.UseGate {
		return kval{}, ir.Errorf(ir.KindUnsupported, "", "layer %q (MultiHeadAttention): use_gate", name)
	}
	for _, k := range []string{"attention_mask", "use_causal_mask", "return_attention_scores"} {
		if v, ok := kwargs[k]; ok && v != nil && v != false {
			return kval{}, ir.Errorf(ir.KindUnsupported, "", "layer %q (MultiHeadAttention): %s", name, k)
		}
	}
	if ax := axisList(c.AttentionAxes); c.AttentionAxes != nil && !(len(ax) == 1 && ax[0] == 1) {
		return kval{}, ir.Errorf(ir.KindUnsupported, "", "layer %q (MultiHeadAttention): attention_axes %v", name, c.AttentionAxes)
	}
	q := args[0]
	var v, k kval
	switch {
	case len(args) >= 2:
		v = args[1]
	default:
		var ok bool
		if v, ok = b.kwTensors["value"]; !ok {
			return kval{}, ir.Errorf(ir.KindCorrupt, "", "layer %q (MultiHeadAttention): no value input", name)
		}
	}
	k = v
	if len(args) >= 3 {
		k = args[2]
	} else if kk, ok := b.kwTensors["key"]; ok {
		k = kk
	}
	q, k, v = b.toCL(q), b.toCL(k), b.toCL(v)
	if q.rank != 3 || k.rank != 3 || v.rank != 3 {
		return kval{}, ir.Errorf(ir.KindUnsupported, "", "layer %q (MultiHeadAttention): inputs of rank %d (3 supported)", name, q.rank)
	}
	bias := c.useBias()
	per := 1
	if bias {
		per = 2
	}
	if err := needWeights(name, "MultiHeadAttention", w, 4*per); err != nil {
		return kval{}, err
	}
	proj := func(x kval, i int, part string) (string, int64, int64, error) {
		kt := w[i*per]
		if len(kt.Shape) != 3 {
			return "", 0, 0, ir.Errorf(ir.KindCorrupt, "", "layer %q: %s kernel shape %v", name, part, kt.Shape)
		}
		kv, err := f32(kt)
		if err != nil {
			return "", 0, 0, err
		}
		d, h, dh := kt.Shape[0], kt.Shape[1], kt.Shape[2]
		y := b.op("MatMul", name+"_"+part, []string{x.name, b.constF(name+"."+part+".kernel", []int64{d, h * dh}, kv)})
		if bias {
			bv, err := f32(w[i*per+1])
			if err != nil {
				return "", 0, 0, err
			}
			if int64(len(bv)) != h*dh {
				return "", 0, 0, ir.Errorf(ir.KindCorrupt, "", "layer %q: %s bias of %d values", name, part, len(bv))
			}
			y = b.op("Add", name+"_"+part+"_bias", []string{y, b.constF(name+"."+part+".bias", []int64{h * dh}, bv)})
		}
		y = b.op("Reshape", name+"_"+part+"_heads", []string{y, b.constI(name+"_"+part+"_shape", 0, 0, h, dh)})
		return y, h, dh, nil
	}
	qh, h, dk, err := proj(q, 0, "query")
	if err != nil {
		return kval{}, err
	}
	kh, _, _, err := proj(k, 1, "key")
	if err != nil {
		return kval{}, err
	}
	vh, _, dv, err := proj(v, 2, "value")
	if err != nil {
		return kval{}, err
	}
	qt := b.op("Transpose", name+"_q_t", []string{qh}, aInts("perm", 0, 2, 1, 3))
	kt := b.op("Transpose", name+"_k_t", []string{kh}, aInts("perm", 0, 2, 3, 1))
	vt := b.op("Transpose", name+"_v_t", []string{vh}, aInts("perm", 0, 2, 1, 3))
	qs := b.op("Mul", name+"_q_scaled", []string{qt, b.scalarF(name+"_scale", float32(1/math.Sqrt(float64(dk))))})
	s := b.op("MatMul", name+"_scores", []string{qs, kt})
	p := b.op("Softmax", name+"_probs", []string{s}, aInt("axis", -1))
	ctx := b.op("MatMul", name+"_context", []string{p, vt})
	ctx = b.op("Transpose", name+"_context_t", []string{ctx}, aInts("perm", 0, 2, 1, 3))
	ctx = b.op("Reshape", name+"_context_flat", []string{ctx, b.constI(name+"_context_shape", 0, 0, h*dv)})
	ot := w[3*per]
	if len(ot.Shape) != 3 || ot.Shape[0] != h || ot.Shape[1] != dv {
		return kval{}, ir.Errorf(ir.KindUnsupported, "", "layer %q: output kernel shape %v", name, ot.Shape)
	}
	ov, err := f32(ot)
	if err != nil {
		return kval{}, err
	}
	y := b.op("MatMul", name+"_output", []string{ctx, b.constF(name+".output.kernel", []int64{h * dv, ot.Shape[2]}, ov)})
	if bias {
		bv, err := f32(w[3*per+1])
		if err != nil {
			return kval{}, err
		}
		y = b.op("Add", name, []string{y, b.constF(name+".output.bias", []int64{int64(len(bv))}, bv)})
	}
	return kval{name: y, rank: 3, dtype: ir.Float32}, nil
}

func actName(v any) string {
	switch a := v.(type) {
	case string:
		return a
	case map[string]any:
		if c, ok := a["config"].(string); ok {
			return c
		}
	}
	return ""
}

// rnn converts LSTM and GRU (one direction, batch-major input) to the ONNX ops, which
// take (sequence, batch, features).
func (b *builder) rnn(name, class string, c *layerConfig, x kval, w []*ir.Tensor) ([]kval, error) {
	if c.GoBackwards || c.Stateful || c.ReturnState {
		return nil, ir.Errorf(ir.KindUnsupported, "", "layer %q (%s): go_backwards, stateful and return_state are not supported", name, class)
	}
	if a := actName(c.Activation); a != "tanh" && a != "" {
		return nil, ir.Errorf(ir.KindUnsupported, "", "layer %q (%s): activation %q (tanh only)", name, class, a)
	}
	if a := actName(c.RecurrentAct); a != "sigmoid" && a != "" {
		return nil, ir.Errorf(ir.KindUnsupported, "", "layer %q (%s): recurrent_activation %q (sigmoid only)", name, class, a)
	}
	if err := needWeights(name, class, w, 2, 2, 2); err != nil {
		return nil, err
	}
	x = b.toCL(x)
	if x.rank != 3 {
		return nil, ir.Errorf(ir.KindUnsupported, "", "layer %q (%s): input of rank %d", name, class, x.rank)
	}
	if c.Units <= 0 || w[1].Shape[0] != c.Units {
		return nil, ir.Errorf(ir.KindCorrupt, "", "layer %q (%s): recurrent kernel %v for %d units", name, class, w[1].Shape, c.Units)
	}
	var bias *ir.Tensor
	if c.useBias() && len(w) > 2 {
		bias = w[2]
	}
	xt := b.op("Transpose", name+"_time_major", []string{x.name}, aInts("perm", 1, 0, 2))
	outs, err := b.rnnOp(name, class, xt, w[0], w[1], bias, c.ResetAfter == nil || *c.ResetAfter, "", "")
	if err != nil {
		return nil, err
	}
	if c.ReturnSequences {
		y := b.op("Squeeze", name+"_seq", []string{outs[0], b.constI(name+"_axis", 1)})
		y = b.op("Transpose", name, []string{y}, aInts("perm", 1, 0, 2))
		return []kval{{name: y, rank: 3, dtype: ir.Float32}}, nil
	}
	y := b.op("Squeeze", name, []string{outs[1], b.constI(name+"_axis", 0)})
	return []kval{{name: y, rank: 2, dtype: ir.Float32}}, nil
}

// rnnOp emits one ONNX LSTM or GRU over the time-major input xt from Keras' weights:
// kernel (in, gates·u), recurrent kernel (u, gates·u) and bias (gates·u, or (2, gates·u)
// for a GRU with reset_after: input and recurrent biases; nil for none). initH and
// initC are optional (batch, u) initial states. Its outputs: Y (T, 1, batch, u), Y_h
// and, for an LSTM, Y_c (1, batch, u).
func (b *builder) rnnOp(name, class, xt string, kernel, recurrent, bias *ir.Tensor, resetAfter bool, initH, initC string) ([]string, error) {
	gates := int64(4)
	if class == "GRU" {
		gates = 3
	}
	if len(kernel.Shape) != 2 || len(recurrent.Shape) != 2 {
		return nil, ir.Errorf(ir.KindCorrupt, "", "layer %q (%s): kernel %v and recurrent kernel %v", name, class, kernel.Shape, recurrent.Shape)
	}
	in, u := kernel.Shape[0], recurrent.Shape[0]
	if u <= 0 || kernel.Shape[1] != gates*u || recurrent.Shape[1] != gates*u {
		return nil, ir.Errorf(ir.KindCorrupt, "", "layer %q (%s): kernel %v and recurrent kernel %v for %d units", name, class, kernel.Shape, recurrent.Shape, u)
	}
	kern, err := f32(kernel)
	if err != nil {
		return nil, err
	}
	rec, err := f32(recurrent)
	if err != nil {
		return nil, err
	}
	var bv []float32
	if bias != nil {
		if bv, err = f32(bias); err != nil {
			return nil, err
		}
	}
	// Keras gate blocks → ONNX order: LSTM i,f,c,o → i,o,f,c; GRU z,r,h stays.
	order := []int64{0, 1, 2}
	if class == "LSTM" {
		order = []int64{0, 3, 1, 2}
	}
	kt, _ := permute(kern, kernel.Shape, []int{1, 0})   // (gates·u, in)
	rt, _ := permute(rec, recurrent.Shape, []int{1, 0}) // (gates·u, u)
	W := make([]float32, 0, len(kt))
	R := make([]float32, 0, len(rt))
	B := make([]float32, 2*gates*u)
	for gi, g := range order {
		W = append(W, kt[g*u*in:(g+1)*u*in]...)
		R = append(R, rt[g*u*u:(g+1)*u*u]...)
		switch {
		case bv == nil:
		case int64(len(bv)) == gates*u:
			copy(B[int64(gi)*u:], bv[g*u:(g+1)*u])
		case int64(len(bv)) == 2*gates*u && class == "GRU": // reset_after: input and recurrent biases
			copy(B[int64(gi)*u:], bv[g*u:(g+1)*u])
			copy(B[(gates+int64(gi))*u:], bv[(gates+g)*u:(gates+g+1)*u])
		default:
			return nil, ir.Errorf(ir.KindCorrupt, "", "layer %q (%s): bias of %d values", name, class, len(bv))
		}
	}
	attrs := []*ir.Attribute{aInt("hidden_size", u)}
	if class == "GRU" && resetAfter {
		attrs = append(attrs, aInt("linear_before_reset", 1))
	}
	inputs := []string{xt, b.constF(name+".W", []int64{1, gates * u, in}, W),
		b.constF(name+".R", []int64{1, gates * u, u}, R), b.constF(name+".B", []int64{1, 2 * gates * u}, B), ""}
	// Initial states gain the direction axis: (batch, u) → (1, batch, u).
	state := func(s, label string) string {
		if s == "" {
			return ""
		}
		return b.op("Unsqueeze", name+"_"+label, []string{s, b.constI(name+"_"+label+"_axis", 0)})
	}
	if h := state(initH, "initial_h"); h != "" {
		inputs = append(inputs, h)
	}
	if c := state(initC, "initial_c"); c != "" {
		if len(inputs) == 5 {
			inputs = append(inputs, "")
		}
		inputs = append(inputs, c, "")
	}
	for len(inputs) > 0 && inputs[len(inputs)-1] == "" {
		inputs = inputs[:len(inputs)-1]
	}
	n := 2
	if class == "LSTM" {
		n = 3
	}
	return b.opN(class, name+"_"+class, inputs, n, attrs...), nil
}

// convTransposeAttrs are the ConvTranspose attributes of a Keras Conv2DTranspose (or
// TensorFlow's Conv2DBackpropInput) with an ONNX weight of shape ks.
func convTransposeAttrs(name string, c *layerConfig, ks []int64) ([]*ir.Attribute, error) {
	strides := orDefault(c.Strides, 2, 1)
	dil := orDefault(c.DilationRate, 2, 1)
	attrs := []*ir.Attribute{aInts("kernel_shape", ks[2:]...), aInts("strides", strides...), aInts("dilations", dil...)}
	pads := make([]int64, 4)
	outPad := make([]int64, 2)
	if len(c.OutputPadding) == 2 {
		copy(outPad, c.OutputPadding)
	}
	switch paddingMode(c) {
	case "valid":
	case "same":
		// The transpose of a "same" convolution from n·s to n: crop the forward
		// convolution's padding, the smaller half first.
		for i := 0; i < 2; i++ {
			ke := (ks[2+i]-1)*dil[i] + 1
			total := ke - strides[i]
			if total < 0 {
				if len(c.OutputPadding) != 2 {
					outPad[i] = -total
				}
				total = 0
			}
			pads[i], pads[2+i] = total/2, total-total/2
		}
	default:
		return nil, ir.Errorf(ir.KindUnsupported, "", "layer %q: padding %v is not supported", name, c.Padding)
	}
	attrs = append(attrs, aInts("pads", pads...))
	if outPad[0] != 0 || outPad[1] != 0 {
		attrs = append(attrs, aInts("output_padding", outPad...))
	}
	return attrs, nil
}

package train

import (
	"fmt"
	"math"
)

func init() {
	register(batchNorm, "BatchNormalization")
	register(layerNorm, "LayerNormalization")
	register(dequantize, "DequantizeLinear")
}

// batchNorm normalises with the running statistics (inference form, the usual choice for
// fine-tuning), or with the batch's when the node says training_mode=1 or the net trains
// the node in batch mode (Options.BatchNorm); then a training forward also updates the
// running mean and variance in place, as torch's train mode does.
func batchNorm(c *opCtx, in []*T) ([]*T, backFn, error) {
	x, scale, bias, mean, vr := in[0], in[1], in[2], in[3], in[4]
	eps := c.float("epsilon", 1e-5)
	n, ch := x.Shape[0], x.Shape[1]
	sp := x.Len() / (n * ch)
	update := c.net.Train && c.net.bnTrain[c.node]
	batch := c.int("training_mode", 0) == 1 || update
	mom := c.float("momentum", 0.9)
	cnt := float64(n * sp)
	mu, inv, bv := make([]float64, ch), make([]float64, ch), make([]float64, ch)
	defer func() {
		if !update {
			return
		}
		for k := 0; k < ch; k++ {
			v := bv[k]
			if cnt > 1 {
				v *= cnt / (cnt - 1)
			}
			mean.D[k] = mom*mean.D[k] + (1-mom)*mu[k]
			vr.D[k] = mom*vr.D[k] + (1-mom)*v
		}
	}()
	for k := 0; k < ch; k++ {
		m, v := mean.D[k], vr.D[k]
		if batch {
			m, v = 0, 0
			for b := 0; b < n; b++ {
				for _, x := range x.D[(b*ch+k)*sp : (b*ch+k+1)*sp] {
					m += x
				}
			}
			m /= float64(n * sp)
			for b := 0; b < n; b++ {
				for _, x := range x.D[(b*ch+k)*sp : (b*ch+k+1)*sp] {
					v += (x - m) * (x - m)
				}
			}
			v /= float64(n * sp)
		}
		mu[k], inv[k], bv[k] = m, 1/math.Sqrt(v+eps), v
	}
	xhat, y := zerosLike(x), zerosLike(x)
	for i, v := range x.D {
		k := (i / sp) % ch
		xhat.D[i] = (v - mu[k]) * inv[k]
		y.D[i] = scale.D[k]*xhat.D[i] + bias.D[k]
	}
	back := func(g []*T) []*T {
		gx, gs, gb := zerosLike(x), zerosLike(scale), zerosLike(bias)
		for i, v := range g[0].D {
			k := (i / sp) % ch
			gs.D[k] += v * xhat.D[i]
			gb.D[k] += v
		}
		for i, v := range g[0].D {
			k := (i / sp) % ch
			if batch {
				gx.D[i] = scale.D[k] * inv[k] * (v - gb.D[k]/cnt - xhat.D[i]*gs.D[k]/cnt)
			} else {
				gx.D[i] = v * scale.D[k] * inv[k]
			}
		}
		return []*T{gx, gs, gb, nil, nil}
	}
	return []*T{y}, back, nil
}

func layerNorm(c *opCtx, in []*T) ([]*T, backFn, error) {
	x, scale := in[0], in[1]
	var bias *T
	if len(in) > 2 {
		bias = in[2]
	}
	axis := c.int("axis", -1)
	if axis < 0 {
		axis += len(x.Shape)
	}
	eps := c.float("epsilon", 1e-5)
	d := numel(x.Shape[axis:])
	rows := x.Len() / d
	if scale.Len() != d || bias != nil && bias.Len() != d {
		return nil, nil, fmt.Errorf("scale and bias must cover the normalised axes (%d values)", d)
	}
	xhat, y := zerosLike(x), zerosLike(x)
	inv := make([]float64, rows)
	for r := 0; r < rows; r++ {
		row := x.D[r*d : (r+1)*d]
		m, v := 0.0, 0.0
		for _, a := range row {
			m += a
		}
		m /= float64(d)
		for _, a := range row {
			v += (a - m) * (a - m)
		}
		inv[r] = 1 / math.Sqrt(v/float64(d)+eps)
		for j, a := range row {
			h := (a - m) * inv[r]
			xhat.D[r*d+j] = h
			y.D[r*d+j] = h * scale.D[j]
			if bias != nil {
				y.D[r*d+j] += bias.D[j]
			}
		}
	}
	back := func(g []*T) []*T {
		gx, gs := zerosLike(x), zerosLike(scale)
		var gb *T
		if bias != nil {
			gb = zerosLike(bias)
		}
		for r := 0; r < rows; r++ {
			s1, s2 := 0.0, 0.0
			for j := 0; j < d; j++ {
				i := r*d + j
				gv := g[0].D[i]
				gs.D[j] += gv * xhat.D[i]
				if gb != nil {
					gb.D[j] += gv
				}
				gh := gv * scale.D[j]
				s1 += gh
				s2 += gh * xhat.D[i]
			}
			for j := 0; j < d; j++ {
				i := r*d + j
				gh := g[0].D[i] * scale.D[j]
				gx.D[i] = inv[r] * (gh - s1/float64(d) - xhat.D[i]*s2/float64(d))
			}
		}
		return []*T{gx, gs, gb}
	}
	return []*T{y}, back, nil
}

// dequantize reads a parameter with a grid: the float shadow rounded to the grid, the
// gradient passed straight through where the value is inside the grid's range.
func dequantize(c *opCtx, in []*T) ([]*T, backFn, error) {
	p := c.net.params[c.node.Inputs[0]]
	if p == nil || p.Grid == nil {
		return dequantizeActivation(c, in)
	}
	y, inRange := p.Grid.fake(in[0])
	back := func(g []*T) []*T {
		gx := zerosLike(in[0])
		for i, v := range g[0].D {
			if inRange[i] {
				gx.D[i] = v
			}
		}
		return []*T{gx}
	}
	return []*T{y}, back, nil
}

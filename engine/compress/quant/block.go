package quant

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/ir"
)

// Block quantizes weights to int4 or uint4 in blocks of o.BlockSize values along the
// reduction (input-channel) axis, each block with its own float32 scale (and, for
// asymmetric uint4, zero point), as opset 21's DequantizeLinear with block_size reads
// them. A Conv weight [M, C, kh, kw] is stored flattened to [M, C·kh·kw] (blocks then
// span the whole receptive field) and reshaped back after dequantization.
//
// Each block's scale is chosen by minimising the block's squared reconstruction error
// over a grid of candidates that includes the plain absmax scale, so the error is never
// worse than absmax rounding; the report gives both.
func Block(m *ir.Model, o Options) (*compress.Report, error) {
	if o.Type != ir.Int4 && o.Type != ir.Uint4 {
		return nil, fmt.Errorf("block quantization to %v is not supported (int4, uint4)", o.Type)
	}
	bs := o.BlockSize
	if bs == 0 {
		bs = 32
	}
	if bs < 16 || bs&(bs-1) != 0 {
		return nil, fmt.Errorf("block size %d is not a power of two ≥ 16", bs)
	}
	symmetric := o.Symmetric || o.Type == ir.Int4
	r := &compress.Report{Pass: fmt.Sprintf("quantize %v block-wise (block %d)", o.Type, bs)}
	layers := compress.Layers(m, o.Exclude, r)
	if len(layers) == 0 {
		return r, nil
	}
	// int4 and DequantizeLinear's block_size are opset 21.
	if err := compress.RequireOpset(m, 21); err != nil {
		return nil, err
	}
	names := compress.NewNames(m)
	for _, l := range layers {
		g := l.Graph
		w, err := l.Weight.Float32s()
		if err != nil {
			return nil, err
		}
		// The stored layout: 2-D for MatMul/Gemm, flattened for Conv.
		shape, axis := l.Weight.Shape, l.InAxis
		if l.Node.OpType == "Conv" {
			shape, axis = []int64{l.Weight.Shape[0], l.Weight.NumElements() / l.Weight.Shape[0]}, 1
		}
		if shape[axis] < int64(bs) {
			r.Skip(l.Name(), "reduction length %d is shorter than the block size %d", shape[axis], bs)
			continue
		}
		b := quantizeBlocks(w, shape, axis, bs, o.Type, symmetric)
		chanErr := ChannelError(w, b.deq, shape, l.OutAxis)
		if e := o.MaxLayerError; e > 0 && chanErr > e {
			// The accuracy guard: 8 bits per channel instead (or float32).
			o8 := o
			o8.Type, o8.PerChannel = ir.Int8, true
			if o.Type == ir.Uint4 {
				o8.Type = ir.Uint8
			}
			p := pick8(l, w, l.Weight.Shape, l.OutAxis, o8)
			why := fmt.Sprintf("%v worst-channel error %.3g > %g", o.Type, chanErr, e)
			if p.why != "" {
				why += ", " + p.why
			}
			p.why = why
			if err := dequantWeight(m, p, o8, names, r); err != nil {
				return nil, err
			}
			continue
		}
		base := l.Weight.Name
		wq := mustTensor(names.New(base+"_quantized"), o.Type, shape, packNibbles(b.q))
		sshape := append([]int64(nil), shape...)
		sshape[axis] = int64(b.nb)
		scale := compress.Float32Tensor(names.New(base+"_scale"), sshape, b.scale)
		inputs := []string{wq.Name, scale.Name}
		inits := []*ir.Tensor{wq, scale}
		if !(o.Type == ir.Int4) { // signed symmetric needs no zero point (it is 0)
			zp := mustTensor(names.New(base+"_zero_point"), o.Type, sshape, packNibbles(b.zp))
			inputs = append(inputs, zp.Name)
			inits = append(inits, zp)
		}
		dq := &ir.Node{
			Name: names.New(l.Name() + "/weight_DequantizeLinear"), OpType: "DequantizeLinear",
			Inputs: inputs, Outputs: []string{names.New(base + "_dequantized")},
			Attrs: []*ir.Attribute{attrInt("axis", int64(axis)), attrInt("block_size", int64(bs))},
		}
		nodes := []*ir.Node{dq}
		out := dq.Outputs[0]
		if l.Node.OpType == "Conv" {
			shp := mustTensor(names.New(base+"_shape"), ir.Int64, []int64{int64(len(l.Weight.Shape))}, int64Bytes(l.Weight.Shape))
			inits = append(inits, shp)
			rs := &ir.Node{Name: names.New(l.Name() + "/weight_Reshape"), OpType: "Reshape",
				Inputs: []string{out, shp.Name}, Outputs: []string{names.New(base + "_dequantized_4d")}}
			nodes = append(nodes, rs)
			out = rs.Outputs[0]
		}
		insertBefore(g, l.Node, nodes...)
		l.Node.Inputs[1] = out
		l.ReplaceWeight(m, inits...)
		r.Layers = append(r.Layers, compress.LayerReport{
			Node: l.Name(), Op: l.Node.OpType, Tensor: base,
			ParamsBefore: l.Weight.NumElements(), ParamsAfter: l.Weight.NumElements(),
			RelError: compress.RelError(w, b.deq), RelErrorAbsmax: compress.RelError(w, b.deqAbsmax), ChannelError: chanErr,
			Detail: fmt.Sprintf("%v block %d, %s, error-minimising scales", o.Type, bs, map[bool]string{true: "symmetric", false: "asymmetric"}[symmetric]),
		})
	}
	guardNote(r, o)
	return r, nil
}

// blocked is a weight quantized block-wise.
type blocked struct {
	q, zp          []int     // values and zero points (zp one per block)
	scale          []float32 // one per block, laid out like the scale tensor
	nb             int       // blocks along the axis
	deq, deqAbsmax []float32 // reconstruction with the chosen and the absmax scales
}

// quantizeBlocks quantizes w (shape, blocks of bs along axis).
func quantizeBlocks(w []float32, shape []int64, axis, bs int, t ir.DType, symmetric bool) *blocked {
	outer, ch, inner := compress.Channels(shape, axis)
	nb := (ch + bs - 1) / bs
	b := &blocked{q: make([]int, len(w)), zp: make([]int, outer*nb*inner), scale: make([]float32, outer*nb*inner), nb: nb,
		deq: make([]float32, len(w)), deqAbsmax: make([]float32, len(w))}
	lo, hi := qrange(t)
	// Blocks are independent and each writes only its own indices, so they are spread
	// over the CPUs in fixed ranges: the result does not depend on the thread count.
	total := outer * nb * inner
	workers := min(runtime.GOMAXPROCS(0), max(1, total/256))
	var wg sync.WaitGroup
	for wk := 0; wk < workers; wk++ {
		first, last := total*wk/workers, total*(wk+1)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			vals := make([]float32, 0, bs)
			idx := make([]int, 0, bs)
			for si := first; si < last; si++ {
				o, k, i := si/(nb*inner), si/inner%nb, si%inner
				vals, idx = vals[:0], idx[:0]
				for c := k * bs; c < min(ch, (k+1)*bs); c++ {
					j := (o*ch+c)*inner + i
					vals, idx = append(vals, w[j]), append(idx, j)
				}
				s0, z0 := baseScale(vals, t, symmetric)
				s, z := s0, z0
				best := blockErr(vals, s0, z0, lo, hi)
				// Candidates: the absmax scale shrunk to f % of itself, f from 96 down to 60
				// in steps of 4, then the 1 % steps around the best f (coarse to fine: 16
				// trials instead of 40); the zero point refitted for each. Strictly better
				// errors only, so ties keep absmax.
				mn, _ := minMax(vals)
				bestF := 100
				try := func(f int) {
					cs := s0 * float32(f) / 100
					cz := z0
					if !symmetric {
						cz = clampInt(int(math.RoundToEven(float64(lo)-float64(min(mn, 0)/cs))), lo, hi)
					}
					if e := blockErr(vals, cs, cz, lo, hi); e < best {
						best, s, z, bestF = e, cs, cz, f
					}
				}
				for f := 96; f >= 60; f -= 4 {
					try(f)
				}
				center := bestF
				for _, d := range []int{-3, -2, -1, 1, 2, 3} {
					if f := center + d; f >= 57 && f < 100 {
						try(f)
					}
				}
				b.scale[si], b.zp[si] = s, z
				for n, j := range idx {
					b.q[j] = quantOne(vals[n], s, z, lo, hi)
					b.deq[j] = float32(b.q[j]-z) * s
					b.deqAbsmax[j] = float32(quantOne(vals[n], s0, z0, lo, hi)-z0) * s0
				}
			}
		}()
	}
	wg.Wait()
	return b
}

// baseScale is the plain absmax (symmetric) or min/max (asymmetric) choice.
func baseScale(v []float32, t ir.DType, symmetric bool) (float32, int) {
	mn, mx := minMax(v)
	return scaleZP(mn, mx, t, symmetric)
}

func minMax(v []float32) (mn, mx float32) {
	mn, mx = float32(math.Inf(1)), float32(math.Inf(-1))
	for _, x := range v {
		mn, mx = min(mn, x), max(mx, x)
	}
	if mn > mx {
		return 0, 0
	}
	return mn, mx
}

// quantOne is QuantizeLinear for one value: round half to even, saturate.
func quantOne(x, s float32, z, lo, hi int) int {
	return clampInt(int(math.RoundToEven(float64(x/s)))+z, lo, hi)
}

// blockErr is the squared reconstruction error of v with scale s and zero point z.
func blockErr(v []float32, s float32, z, lo, hi int) float64 {
	var e float64
	for _, x := range v {
		d := float64(x) - float64(float32(quantOne(x, s, z, lo, hi)-z)*s)
		e += d * d
	}
	return e
}

// packNibbles stores 4-bit values two per byte, the first in the low nibble.
func packNibbles(v []int) []byte {
	out := make([]byte, (len(v)+1)/2)
	for i, x := range v {
		out[i/2] |= byte(x&0xF) << (4 * (i % 2))
	}
	return out
}

func int64Bytes(v []int64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		for k := 0; k < 8; k++ {
			b[8*i+k] = byte(uint64(x) >> (8 * k))
		}
	}
	return b
}

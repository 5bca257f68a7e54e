// Package prune removes weights: unstructured magnitude pruning (per layer or with one
// global threshold), N:M semi-structured pruning (2:4, what sparse tensor cores run), and
// structured channel pruning that deletes whole output channels of a layer together with
// the matching inputs of the next layer, so the model really gets smaller.
package prune

import (
	"fmt"
	"math"
	"sort"

	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/ir"
)

// smallest returns the indices of the k smallest |v| (ties broken by index, so the
// result is deterministic).
func smallest(v []float32, k int) []int {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool {
		x, y := abs(v[idx[a]]), abs(v[idx[b]])
		if x != y {
			return x < y
		}
		return idx[a] < idx[b]
	})
	return idx[:k]
}

func abs(x float32) float32 { return float32(math.Abs(float64(x))) }

// report records a pruned weight.
func report(r *compress.Report, l compress.Layer, before, after []float32, detail string) {
	r.Layers = append(r.Layers, compress.LayerReport{
		Node: l.Name(), Op: l.Node.OpType, Tensor: l.Weight.Name,
		ParamsBefore: int64(len(before)), ParamsAfter: int64(len(after)),
		RelError: compress.RelError(before, after), Sparsity: compress.Sparsity(after), Detail: detail,
	})
}

// Magnitude zeroes the fraction sparsity of each layer's weights with the smallest
// magnitudes.
func Magnitude(m *ir.Model, sparsity float64, ex compress.Exclude) (*compress.Report, error) {
	r := &compress.Report{Pass: fmt.Sprintf("prune magnitude %.3g (per layer)", sparsity)}
	for _, l := range compress.Layers(m, ex, r) {
		w, err := compress.Floats(l.Weight)
		if err != nil {
			return nil, err
		}
		orig := append([]float32(nil), w...)
		for _, i := range smallest(w, int(sparsity*float64(len(w)))) {
			w[i] = 0
		}
		compress.SetFloats(l.Weight, l.Weight.Shape, w)
		report(r, l, orig, w, "")
	}
	return r, nil
}

// Global zeroes the fraction sparsity of all the layers' weights together, below one
// magnitude threshold: layers with many small weights lose more than others.
func Global(m *ir.Model, sparsity float64, ex compress.Exclude) (*compress.Report, error) {
	r := &compress.Report{Pass: fmt.Sprintf("prune global %.3g", sparsity)}
	layers := compress.Layers(m, ex, r)
	var all []float32
	var ws [][]float32
	for _, l := range layers {
		w, err := compress.Floats(l.Weight)
		if err != nil {
			return nil, err
		}
		ws = append(ws, w)
		all = append(all, w...)
	}
	// Mark the k smallest across layers by their position in the concatenation.
	zero := make([]bool, len(all))
	for _, i := range smallest(all, int(sparsity*float64(len(all)))) {
		zero[i] = true
	}
	off := 0
	for k, l := range layers {
		w := ws[k]
		orig := append([]float32(nil), w...)
		for i := range w {
			if zero[off+i] {
				w[i] = 0
			}
		}
		off += len(w)
		compress.SetFloats(l.Weight, l.Weight.Shape, w)
		report(r, l, orig, w, "")
	}
	return r, nil
}

// NM keeps the n largest of every m consecutive weights along the reduction (input)
// axis — 2:4 for n, m = 2, 4. A layer whose input dimension is not a multiple of m is
// left alone (and listed as skipped).
func NM(m *ir.Model, n, mm int, ex compress.Exclude) (*compress.Report, error) {
	r := &compress.Report{Pass: fmt.Sprintf("prune %d:%d", n, mm)}
	for _, l := range compress.Layers(m, ex, r) {
		outer, ch, inner := compress.Channels(l.Weight.Shape, l.InAxis)
		if ch%mm != 0 {
			r.Skip(l.Name(), "input dimension %d is not a multiple of %d", ch, mm)
			continue
		}
		w, err := compress.Floats(l.Weight)
		if err != nil {
			return nil, err
		}
		orig := append([]float32(nil), w...)
		group := make([]float32, mm)
		for o := 0; o < outer; o++ {
			for i := 0; i < inner; i++ {
				for c := 0; c < ch; c += mm {
					at := func(j int) int { return (o*ch+c+j)*inner + i }
					for j := range group {
						group[j] = w[at(j)]
					}
					for _, j := range smallest(group, mm-n) {
						w[at(j)] = 0
					}
				}
			}
		}
		compress.SetFloats(l.Weight, l.Weight.Shape, w)
		report(r, l, orig, w, fmt.Sprintf("%d:%d along axis %d", n, mm, l.InAxis))
	}
	return r, nil
}

// Package lowrank replaces a MatMul or Gemm weight W by two thin factors from its
// truncated singular value decomposition, W ≈ P·Q, where that needs fewer parameters:
// rank r of a rows×cols weight pays off when r·(rows+cols) < rows·cols.
package lowrank

import (
	"fmt"

	"gonum.org/v1/gonum/mat"

	"github.com/modelc/modelc/engine/compress"
	"github.com/modelc/modelc/engine/ir"
)

// Options choose the rank: a fixed Rank, or the smallest rank keeping the fraction
// Energy (0 < E ≤ 1) of Σσ².
type Options struct {
	Rank    int
	Energy  float64
	Exclude compress.Exclude
}

// Factorize factors every MatMul and Gemm weight (Conv is left alone).
func Factorize(m *ir.Model, o Options) (*compress.Report, error) {
	name := fmt.Sprintf("lowrank rank %d", o.Rank)
	if o.Rank == 0 {
		name = fmt.Sprintf("lowrank energy %g", o.Energy)
	}
	r := &compress.Report{Pass: name}
	names := compress.NewNames(m)
	for _, l := range compress.Layers(m, o.Exclude, r) {
		g := l.Graph
		if l.Node.OpType == "Conv" {
			continue
		}
		rows, cols := int(l.Weight.Shape[0]), int(l.Weight.Shape[1])
		w, err := l.Weight.Float32s()
		if err != nil {
			return nil, err
		}
		a := mat.NewDense(rows, cols, nil)
		for i := 0; i < rows; i++ {
			for j := 0; j < cols; j++ {
				a.Set(i, j, float64(w[i*cols+j]))
			}
		}
		var svd mat.SVD
		if !svd.Factorize(a, mat.SVDThin) {
			r.Skip(l.Name(), "the SVD did not converge")
			continue
		}
		s := svd.Values(nil)
		rank := o.Rank
		if rank == 0 {
			rank = energyRank(s, o.Energy)
		}
		rank = min(rank, len(s))
		if rank*(rows+cols) >= rows*cols {
			r.Skip(l.Name(), "rank %d of a %d×%d weight would not reduce its parameters", rank, rows, cols)
			continue
		}
		var u, v mat.Dense
		svd.UTo(&u)
		svd.VTo(&v)
		// W = U·diag(s)·Vᵀ. Stored [K, N] (MatMul, Gemm without transB): x·W = (x·P)·Q
		// with P = U_r·diag(s_r) [K, r], Q = V_rᵀ [r, N]. Stored [N, K] (Gemm with transB):
		// x·Wᵀ = (x·V_r)·(U_r·diag(s_r))ᵀ: the first factor is V_r [K, r], the second,
		// still transposed, U_r·diag(s_r) [N, r].
		first := make([]float32, 0)
		second := make([]float32, 0)
		var fShape, sShape []int64
		approx := make([]float32, rows*cols)
		for i := 0; i < rows; i++ {
			for j := 0; j < cols; j++ {
				var x float64
				for k := 0; k < rank; k++ {
					x += u.At(i, k) * s[k] * v.At(j, k)
				}
				approx[i*cols+j] = float32(x)
			}
		}
		if l.OutAxis == 1 { // [K, N]
			for i := 0; i < rows; i++ {
				for k := 0; k < rank; k++ {
					first = append(first, float32(u.At(i, k)*s[k]))
				}
			}
			for k := 0; k < rank; k++ {
				for j := 0; j < cols; j++ {
					second = append(second, float32(v.At(j, k)))
				}
			}
			fShape, sShape = []int64{int64(rows), int64(rank)}, []int64{int64(rank), int64(cols)}
		} else { // [N, K]
			for j := 0; j < cols; j++ {
				for k := 0; k < rank; k++ {
					first = append(first, float32(v.At(j, k)))
				}
			}
			for i := 0; i < rows; i++ {
				for k := 0; k < rank; k++ {
					second = append(second, float32(u.At(i, k)*s[k]))
				}
			}
			fShape, sShape = []int64{int64(cols), int64(rank)}, []int64{int64(rows), int64(rank)}
		}
		base := l.Weight.Name
		ft := compress.Float32Tensor(names.New(base+"_lowrank_a"), fShape, first)
		st := compress.Float32Tensor(names.New(base+"_lowrank_b"), sShape, second)
		mid := names.New(l.Name() + "_lowrank_out")
		mm := &ir.Node{Name: names.New(l.Name() + "/lowrank_MatMul"), OpType: "MatMul",
			Inputs: []string{l.Node.Inputs[0], ft.Name}, Outputs: []string{mid}}
		for i, n := range g.Nodes {
			if n == l.Node {
				g.Nodes = append(g.Nodes[:i], append([]*ir.Node{mm}, g.Nodes[i:]...)...)
				break
			}
		}
		l.Node.Inputs[0], l.Node.Inputs[1] = mid, st.Name
		l.ReplaceWeight(m, ft, st)
		r.Layers = append(r.Layers, compress.LayerReport{
			Node: l.Name(), Op: l.Node.OpType, Tensor: base,
			ParamsBefore: int64(rows * cols), ParamsAfter: int64(rank * (rows + cols)),
			RelError: compress.RelError(w, approx), Detail: fmt.Sprintf("rank %d of %d", rank, len(s)),
		})
	}
	return r, nil
}

// energyRank is the smallest r with Σ_{i<r} σᵢ² ≥ e·Σσ².
func energyRank(s []float64, e float64) int {
	var total float64
	for _, x := range s {
		total += x * x
	}
	var acc float64
	for i, x := range s {
		acc += x * x
		if acc >= e*total*(1-1e-12) {
			return i + 1
		}
	}
	return len(s)
}

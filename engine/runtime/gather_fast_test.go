package runtime

import (
	"context"
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"github.com/modelc/modelc/engine/ir"
)

// TestGatherFast runs Gather on float32 and int64 data with int64 and int32 indices
// (negative ones included, a scalar index, every axis of odd-sized shapes) with the fast
// path on and off: identical results; an index out of range is an error either way.
func TestGatherFast(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	intData := func(shape ...int) *Tensor {
		v := make([]int64, prod(shape))
		for i := range v {
			v[i] = rng.Int63n(1000) - 500
		}
		return &Tensor{DType: ir.Int64, Shape: shape, Data: v}
	}
	index := func(i32 bool, dim int, shape ...int) *Tensor {
		n := prod(shape)
		if i32 {
			v := make([]int32, n)
			for i := range v {
				v[i] = int32(rng.Intn(2*dim) - dim)
			}
			return &Tensor{DType: ir.Int32, Shape: shape, Data: v}
		}
		v := make([]int64, n)
		for i := range v {
			v[i] = int64(rng.Intn(2*dim) - dim)
		}
		return &Tensor{DType: ir.Int64, Shape: shape, Data: v}
	}
	for _, shape := range [][]int{{37, 13}, {3, 5, 7}, {1, 64, 128}} {
		for axis := range shape {
			for _, i32 := range []bool{false, true} {
				for _, ishape := range [][]int{{}, {1, 7}, {3}} {
					for _, x := range []*Tensor{randT(rng, 1, shape...), intData(shape...)} {
						name := fmt.Sprintf("%v/axis%d/int32=%v/%v/%v", shape, axis, i32, ishape, x.DType)
						n := &ir.Node{OpType: "Gather", Inputs: make([]string, 2), Outputs: []string{"y"},
							Attrs: []*ir.Attribute{{Name: "axis", Type: ir.AttrInt, Int: int64(axis)}}}
						fast, slow := runBoth(t, n, []*Tensor{x, index(i32, shape[axis], ishape...)})
						if !reflect.DeepEqual(fast[0].Shape, slow[0].Shape) || !reflect.DeepEqual(fast[0].Data, slow[0].Data) {
							t.Errorf("%s: fast %v %v, generic %v %v", name, fast[0].Shape, fast[0].Data, slow[0].Shape, slow[0].Data)
						}
					}
				}
			}
		}
	}
	// Out of range: the same error from both paths.
	g := &ir.Graph{Inputs: []*ir.ValueInfo{{Name: "x"}, {Name: "i"}},
		Nodes:   []*ir.Node{{OpType: "Gather", Name: "g", Inputs: []string{"x", "i"}, Outputs: []string{"y"}}},
		Outputs: []*ir.ValueInfo{{Name: "y"}}}
	for _, on := range []bool{true, false} {
		fastPaths = on
		s, err := New(&ir.Model{Opsets: []ir.OpsetImport{{Version: 13}}, Graph: g}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Run(context.Background(), map[string]*Tensor{"x": randT(rng, 1, 4, 3),
			"i": {DType: ir.Int64, Shape: []int{2}, Data: []int64{1, 4}}})
		fastPaths = true
		if err == nil || !strings.Contains(err.Error(), "index 4 out of range for dimension 4") {
			t.Errorf("fast %v: error %v, want index 4 out of range", on, err)
		}
	}
}

// TestTransposeUnitView: a Transpose that moves only axes of length 1 returns a view of
// its input with the same values as the copy; one that reorders longer axes copies.
func TestTransposeUnitView(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	for _, tc := range []struct {
		shape, perm []int
		view        bool
	}{
		{[]int{1, 64, 128}, []int{1, 0, 2}, true},
		{[]int{64, 1, 128}, []int{1, 0, 2}, true},
		{[]int{3, 1, 5, 1}, []int{1, 0, 3, 2}, true},
		{[]int{1, 1, 7}, []int{2, 1, 0}, true},
		{[]int{64, 4, 32}, []int{1, 0, 2}, false},
		{[]int{3, 1, 5}, []int{2, 1, 0}, false},
	} {
		x := randT(rng, 1, tc.shape...)
		n := &ir.Node{OpType: "Transpose", Inputs: make([]string, 1), Outputs: []string{"y"},
			Attrs: []*ir.Attribute{{Name: "perm", Type: ir.AttrInts, Ints: int64sOf(tc.perm)}}}
		fast, slow := runBoth(t, n, []*Tensor{x})
		if !reflect.DeepEqual(fast[0].Shape, slow[0].Shape) || !reflect.DeepEqual(fast[0].Data, slow[0].Data) {
			t.Errorf("%v perm %v: fast %v, generic %v", tc.shape, tc.perm, fast[0].Shape, slow[0].Shape)
		}
		c := &opContext{}
		y, err := transpose(c, x, tc.perm)
		if err != nil {
			t.Fatal(err)
		}
		if isView := &y.Data.([]float32)[0] == &x.Data.([]float32)[0]; isView != tc.view {
			t.Errorf("%v perm %v: view %v, want %v", tc.shape, tc.perm, isView, tc.view)
		}
	}
}

func int64sOf(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

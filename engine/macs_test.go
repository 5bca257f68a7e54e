package engine

import (
	"context"
	"strings"
	"testing"
)

func TestMACsOfDigitsCNN(t *testing.T) {
	r, err := InspectMACs(context.Background(), digitsCNN, nil)
	if err != nil {
		t.Fatal(err)
	}
	// conv1 8·8 outputs × 16 × 1·3·3, conv2 8·8 × 32 × 16·3·3; fc1 512·64, fc2 64·10.
	if r.PerOp["Conv"] != 64*16*9+64*32*144 || r.PerOp["Gemm"] != 512*64+64*10 || r.Total != 337536 {
		t.Fatalf("MACs %+v", r)
	}
	r, err = InspectMACs(context.Background(), digitsCNN, map[string][]int64{"input": {4, 64}})
	if err != nil || r.Total != 4*337536 {
		t.Fatalf("batch 4: %v %+v", err, r)
	}
	if _, err := ParseInputShapes([]string{"input=4x0"}); err == nil || !strings.Contains(err.Error(), "input_shape") {
		t.Fatalf("bad shape: %v", err)
	}
}

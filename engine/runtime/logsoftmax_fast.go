package runtime

import "math"

// LogSoftmax over the last axis of float32 rows (a CTC recognizer's output over its
// alphabet): x − max written to the output, one vector exp over all rows in place,
// then per row the float64 sum of those and x − max − log(sum) in float64, rounded
// once. The generic kernel converted the tensor to float64 and called math.Exp twice
// per value. Rows holding NaN, +Inf or only −Inf give the generic kernel's NaN. dst must
// not overlap src.
func logSoftmaxRows32(dst, src []float32, cols int) {
	rowMax := func(row []float32) float32 {
		m := float32(math.Inf(-1))
		for _, v := range row {
			if v > m {
				m = v
			}
		}
		return m
	}
	n := len(src) / cols * cols
	for r := 0; r < n; r += cols {
		row, o := src[r:r+cols], dst[r:r+cols]
		m := rowMax(row)
		for j, v := range row {
			o[j] = v - m
		}
	}
	exp32(dst[:n], dst[:n])
	for r := 0; r < n; r += cols {
		row, o := src[r:r+cols], dst[r:r+cols]
		var s float64
		for _, e := range o {
			s += float64(e)
		}
		m, ls := float64(rowMax(row)), math.Log(s)
		for j, v := range row {
			o[j] = float32(float64(v) - m - ls)
		}
	}
}

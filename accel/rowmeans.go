package accel

// RowMeans writes out[r] = the mean of row r of src (rows rows of cols values, back to
// back), summed in float64: GlobalAveragePool's plane means. The sum has a fixed order
// on every backend, so they all give the same bits: sixteen partial sums, partial k
// taking the values at i ≡ k (mod 16) in turn, then folded in halves (k + 8 into k, then
// k + 4, k + 2, k + 1). That is one 8-lane float64 add per 8 values on AVX-512 instead
// of one scalar add per value, and a float64 sum of float32 values in any order is
// within a unit of the float32 result's last place of the ordered one. The caller splits
// rows over threads.
func RowMeans(src []float32, rows, cols int, out []float32) {
	const fn = "RowMeans"
	if !(rows >= 0 && cols >= 0) {
		fail(fn, "negative size %d×%d", rows, cols)
	}
	if !(len(src) >= rows*cols && len(out) >= rows) {
		fail(fn, "buffers too short for %d×%d: src %d, out %d", rows, cols, len(src), len(out))
	}
	if rows == 0 {
		return
	}
	if cols == 0 {
		for r := range out[:rows] {
			out[r] = float32(0.0 / float64(cols)) // NaN, as the reference mean of nothing
		}
		return
	}
	tab().rowMeans(src, rows, cols, out)
}

// refRowMeans is the pure-Go reference of the row_means kernel, in its order. The
// partial sums are taken eight at a time (i mod 16 in 0–7, then 8–15), in eight
// variables: sixteen at once would not fit the registers Go allocates.
func refRowMeans(src []float32, rows, cols int, out []float32) {
	for r := 0; r < rows; r++ {
		row := src[r*cols : (r+1)*cols]
		var s [16]float64
		for base := 0; base < 16; base += 8 {
			var s0, s1, s2, s3, s4, s5, s6, s7 float64
			i := base
			for ; i+8 <= len(row); i += 16 {
				v := row[i : i+8 : i+8]
				s0, s1, s2, s3 = s0+float64(v[0]), s1+float64(v[1]), s2+float64(v[2]), s3+float64(v[3])
				s4, s5, s6, s7 = s4+float64(v[4]), s5+float64(v[5]), s6+float64(v[6]), s7+float64(v[7])
			}
			s[base], s[base+1], s[base+2], s[base+3] = s0, s1, s2, s3
			s[base+4], s[base+5], s[base+6], s[base+7] = s4, s5, s6, s7
			for k := 0; i+k < len(row) && k < 8; k++ { // the last, partial group of eight
				s[base+k] += float64(row[i+k])
			}
		}
		for half := 8; half >= 1; half /= 2 {
			for k := 0; k < half; k++ {
				s[k] += s[k+half]
			}
		}
		out[r] = float32(s[0] / float64(cols))
	}
}

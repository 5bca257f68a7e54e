// Bias and a clamp-type activation over rows, included once per ISA file after that file
// defines KTGT and BIASACT_FN: y[r][c] = act(y[r][c] + bias[r]) (bias may be null).
// act: 0 none, 1 Relu, 2 Clip(p, q), 3 HardSigmoid(αx+β clamped to [0, 1]; α = p, β = q),
// 4 HardSwish as x·HardSigmoid(x). Written as compare-and-select, so NaN passes through
// as in the Go reference, and the compiler vectorises each row for the ISA.
void KTGT BIASACT_FN(float *y, int64_t rows, int64_t cols, const float *bias, int act, float p, float q) {
	for (int64_t r = 0; r < rows; r++) {
		float *yr = y + r * cols;
		const float b = bias ? bias[r] : 0.0f;
		switch (act) {
		case 0:
			for (int64_t c = 0; c < cols; c++) yr[c] = yr[c] + b;
			break;
		case 1:
			for (int64_t c = 0; c < cols; c++) {
				float v = yr[c] + b;
				yr[c] = v < 0.0f ? 0.0f : v;
			}
			break;
		case 2:
			for (int64_t c = 0; c < cols; c++) {
				float v = yr[c] + b;
				v = v < p ? p : v;
				yr[c] = v > q ? q : v;
			}
			break;
		case 3:
			for (int64_t c = 0; c < cols; c++) {
				float u = p * (yr[c] + b) + q;
				u = u < 0.0f ? 0.0f : u;
				yr[c] = u > 1.0f ? 1.0f : u;
			}
			break;
		case 4:
			for (int64_t c = 0; c < cols; c++) {
				float v = yr[c] + b, u = p * v + q;
				u = u < 0.0f ? 0.0f : u;
				u = u > 1.0f ? 1.0f : u;
				yr[c] = v * u;
			}
			break;
		}
	}
}

#ifdef ADDACT_FN
// The sum of two tensors and a clamp-type activation: y[i] = act(a[i] + b[i]), y may be a
// (a residual connection's Add and the Relu after it, in one pass over memory). The same
// compare-and-select activations as BIASACT_FN, so the bits are those of Add then BiasAct.
void KTGT ADDACT_FN(float *y, const float *a, const float *b, int64_t n, int act, float p, float q) {
	switch (act) {
	case 0:
		for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
		break;
	case 1:
		for (int64_t i = 0; i < n; i++) {
			float v = a[i] + b[i];
			y[i] = v < 0.0f ? 0.0f : v;
		}
		break;
	case 2:
		for (int64_t i = 0; i < n; i++) {
			float v = a[i] + b[i];
			v = v < p ? p : v;
			y[i] = v > q ? q : v;
		}
		break;
	case 3:
		for (int64_t i = 0; i < n; i++) {
			float u = p * (a[i] + b[i]) + q;
			u = u < 0.0f ? 0.0f : u;
			y[i] = u > 1.0f ? 1.0f : u;
		}
		break;
	case 4:
		for (int64_t i = 0; i < n; i++) {
			float v = a[i] + b[i], u = p * v + q;
			u = u < 0.0f ? 0.0f : u;
			u = u > 1.0f ? 1.0f : u;
			y[i] = v * u;
		}
		break;
	}
}
#endif

// WindowRows8 (window8.go) for one ISA, included once per target after KTGT and
// WINDOW8_FN are defined: the Go reference's loops, which the compiler vectorises (the
// xor-copy of a stride-1 row most of all). A target may define WINDOW8_ROW1(d, s, off,
// lo, hi, OW, flip, pad) to write a whole stride-1 row (pads included) its own way: rows
// are short (an image's width), so two memset calls and a vectorised loop with its
// prologue and tail cost more than the copy itself; and WINDOW8_STRIDED(d, s, n, SW,
// flip) to copy the inside of a row at stride 2 or 4.
void KTGT WINDOW8_FN(int8_t *dst, int64_t ld, const uint8_t *x, int64_t planes, int64_t H, int64_t W, int64_t OH,
                     int64_t OW, int64_t KH, int64_t KW, int64_t SH, int64_t SW, int64_t PH, int64_t PW, int64_t DH,
                     int64_t DW, uint8_t flip, int8_t pad) {
	const int64_t K = KH * KW;
	for (int64_t c = 0; c < planes; c++) {
		const uint8_t *plane = x + c * H * W;
		for (int64_t kp = 0; kp < K; kp++) {
			const int64_t ki = kp / KW, kj = kp % KW;
			int8_t *row = dst + (c * K + kp) * ld;
			const int64_t off = kj * DW - PW;
			int64_t lo = 0, hi = 0;
			if (off < 0) {
				lo = (-off + SW - 1) / SW;
				if (lo > OW) lo = OW;
			}
			if (W - 1 - off >= 0) {
				hi = (W - 1 - off) / SW + 1;
				if (hi > OW) hi = OW;
			}
			if (hi < lo) hi = lo;
			for (int64_t yo = 0; yo < OH; yo++) {
				int8_t *d = row + yo * OW;
				const int64_t yy = yo * SH + ki * DH - PH;
				if (yy < 0 || yy >= H) {
					memset(d, (uint8_t)pad, (size_t)OW);
					continue;
				}
				const uint8_t *s = plane + yy * W;
#ifdef WINDOW8_ROW1
				if (SW == 1) { // the whole row in 64-byte masked steps, padding included
					WINDOW8_ROW1(d, s, off, lo, hi, OW, flip, pad);
					continue;
				}
#endif
				memset(d, (uint8_t)pad, (size_t)lo);
				memset(d + hi, (uint8_t)pad, (size_t)(OW - hi));
#ifdef WINDOW8_STRIDED
				if ((SW == 2 || SW == 4) && hi > lo) {
					WINDOW8_STRIDED(d + lo, s + (lo * SW + off), hi - lo, SW, flip);
					continue;
				}
#endif
				if (SW == 1) {
					const uint8_t *s1 = s + (lo + off);
					for (int64_t xo = 0; xo < hi - lo; xo++) d[lo + xo] = (int8_t)(s1[xo] ^ flip);
				} else {
					for (int64_t xo = lo; xo < hi; xo++) d[xo] = (int8_t)(s[xo * SW + off] ^ flip);
				}
			}
		}
	}
}

package accel

// WindowRows8 writes the window matrix of an integer convolution (im2col) for planes 2-D
// planes of bytes x (each H×W), every byte xor flip (0x80 turns uint8 into int8 shifted by
// −128, 0 keeps int8): plane c gives KH·KW rows, one per kernel position, starting at
// dst[c·KH·KW·ld], rows ld apart, each holding the value the window at every output
// position (oh·OW + ow) reads there, or pad where it covers the padding. Trailing padding
// is implied by OH, OW. Exact (a copy) on every backend.
func WindowRows8(dst []int8, ld int, x []byte, planes int, p Window2D, flip byte, pad int8) {
	const fn = "WindowRows8"
	if !(planes >= 0 && p.H >= 0 && p.W >= 0 && p.OH >= 0 && p.OW >= 0 && p.KH > 0 && p.KW > 0) {
		fail(fn, "bad geometry %+v", p)
	}
	if !(p.SH > 0 && p.SW > 0 && p.DH > 0 && p.DW > 0 && p.PH >= 0 && p.PW >= 0) {
		fail(fn, "bad strides, dilations or pads %+v", p)
	}
	K, O := p.KH*p.KW, p.OH*p.OW
	if ld < O {
		fail(fn, "ld = %d < %d output positions", ld, O)
	}
	if planes == 0 || O == 0 {
		return
	}
	if len(x) < planes*p.H*p.W {
		fail(fn, "len(x) = %d < %d planes of %d×%d", len(x), planes, p.H, p.W)
	}
	if need := (planes*K-1)*ld + O; len(dst) < need {
		fail(fn, "len(dst) = %d < %d", len(dst), need)
	}
	tab().windowRows8(dst, ld, x, planes, &p, flip, pad)
}

// refWindowRows8 is the pure-Go reference of WindowRows8: per plane, kernel position and
// output row, the columns whose input lies inside the image, [lo, hi), copied (strided
// when SW > 1), pad on either side.
func refWindowRows8(dst []int8, ld int, x []byte, planes int, p *Window2D, flip byte, pad int8) {
	K := p.KH * p.KW
	fill := func(d []int8) {
		for i := range d {
			d[i] = pad
		}
	}
	for c := 0; c < planes; c++ {
		plane := x[c*p.H*p.W : (c+1)*p.H*p.W]
		for kp := 0; kp < K; kp++ {
			ki, kj := kp/p.KW, kp%p.KW
			row := dst[(c*K+kp)*ld : (c*K+kp)*ld+p.OH*p.OW]
			off := kj*p.DW - p.PW
			lo := 0
			if off < 0 {
				lo = min(p.OW, (-off+p.SW-1)/p.SW)
			}
			hi := 0
			if last := p.W - 1 - off; last >= 0 {
				hi = min(p.OW, last/p.SW+1)
			}
			hi = max(hi, lo)
			for yo := 0; yo < p.OH; yo++ {
				d := row[yo*p.OW : (yo+1)*p.OW]
				yy := yo*p.SH + ki*p.DH - p.PH
				if yy < 0 || yy >= p.H {
					fill(d)
					continue
				}
				s := plane[yy*p.W : (yy+1)*p.W]
				fill(d[:lo])
				fill(d[hi:])
				for xo := lo; xo < hi; xo++ {
					d[xo] = int8(s[xo*p.SW+off] ^ flip)
				}
			}
		}
	}
}

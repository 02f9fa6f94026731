package cpu

import "math"

// BNGradSums returns Σ d and Σ d·x over a block, where d is dy, or with
// mask dy where y > 0 and 0 elsewhere (a BatchNorm followed by ReLU, whose
// output is y): the two sums of BatchNorm's backward, in one pass.
func BNGradSums(y, dy, x []float32, mask bool) (s, sx float32) {
	n := len(dy)
	if len(x) != n || (mask && len(y) != n) {
		panicLen("BNGradSums", "dy", "x or y", n, min(len(x), len(y)))
	}
	if n == 0 {
		return 0, 0
	}
	if hasAVX512 {
		var out [2]float32
		yp := &dy[0]
		if mask {
			yp = &y[0]
		}
		bnSumsAVX512(yp, &dy[0], &x[0], n, mask, &out[0])
		return out[0], out[1]
	}
	for i, d := range dy {
		if mask {
			d = ReLUGrad(y[i], d)
		}
		s += d
		sx += d * x[i]
	}
	return s, sx
}

// BNGradApply adds k·d − kx·x + c to dx over a block, d as in BNGradSums:
// BatchNorm's input gradient in one pass. With overwrite it stores the
// value instead, ignoring dx's old contents (a gradient buffer lent
// unzeroed).
func BNGradApply(dx, y, dy, x []float32, mask, overwrite bool, k, kx, c float32) {
	n := len(dy)
	if len(x) != n || len(dx) != n || (mask && len(y) != n) {
		panicLen("BNGradApply", "dy", "dx, x or y", n, min(len(x), len(dx), len(y)))
	}
	if n == 0 {
		return
	}
	if hasAVX512 {
		yp := &dy[0]
		if mask {
			yp = &y[0]
		}
		bnApplyAVX512(&dx[0], yp, &dy[0], &x[0], n, mask, overwrite, k, kx, c)
		return
	}
	for i, d := range dy {
		if mask {
			d = ReLUGrad(y[i], d)
		}
		v := k*d - kx*x[i] + c
		if !overwrite {
			v += dx[i]
		}
		dx[i] = v
	}
}

// ReLUGrad returns d where y > 0 and +0 elsewhere: the gradient through a
// ReLU whose output is y. The mask is the sign of y's negated bits as an
// integer (positive exactly where y > 0), so there is no branch.
func ReLUGrad(y, d float32) float32 {
	m := uint32(-int32(math.Float32bits(y)) >> 31)
	return math.Float32frombits(math.Float32bits(d) & m)
}

package cpu

import (
	"math"
)

// Affine writes y[i] = a·x[i] + b, rounded once (a fused multiply-add), and
// with relu then ReLU's +0 wherever the sign bit is set: BatchNorm's
// normalisation (and the ReLU after it) in one pass. It panics if
// len(y) != len(x).
func Affine(y, x []float32, a, b float32, relu bool) {
	if len(y) != len(x) {
		panicLen("Affine", "y", "x", len(y), len(x))
	}
	if len(x) == 0 {
		return
	}
	if hasAVX512 {
		affineAVX512(&y[0], &x[0], len(x), a, b, relu)
		return
	}
	for i, v := range x {
		r := float32(math.FMA(float64(a), float64(v), float64(b)))
		if relu {
			r = reluBits(r)
		}
		y[i] = r
	}
}

// ReLU writes dst[i] = src[i], or +0 where src[i]'s sign bit is set
// (max(x, 0) that lets a NaN with a clear sign bit through, as PyTorch).
// dst may be src. It panics if len(dst) != len(src).
func ReLU(dst, src []float32) {
	if len(dst) != len(src) {
		panicLen("ReLU", "dst", "src", len(dst), len(src))
	}
	if len(src) == 0 {
		return
	}
	if hasAVX512 {
		reluAVX512(&dst[0], &src[0], len(src))
		return
	}
	for i, v := range src {
		dst[i] = reluBits(v)
	}
}

// reluBits clears v when its sign bit is set: the mask is an arithmetic
// shift of the bits, so the loop has no branch to mispredict.
func reluBits(v float32) float32 {
	b := math.Float32bits(v)
	return math.Float32frombits(b &^ uint32(int32(b)>>31))
}

package cpu

import "fmt"

// Taps computes dst[j] = Σ_k w[k]·src[j+offs[k]] for every j < len(dst):
// a direct convolution over a flattened, padded plane, each tap a shifted
// view of src. With AVX-512 every output vector sums all its taps in
// registers; elsewhere it is one AXPY per tap. It panics if a tap reads past
// src or an offset is negative.
func Taps(dst, src []float32, offs []int, w []float32) {
	if len(offs) != len(w) {
		panic(fmt.Sprintf("cpu.Taps: %d offsets for %d weights", len(offs), len(w)))
	}
	n := len(dst)
	if n == 0 {
		return
	}
	checkTaps("Taps", offs, n, len(src))
	if len(offs) == 0 {
		clear(dst)
		return
	}
	if hasAVX512 {
		tapsAVX512(&dst[0], &src[0], &offs[0], &w[0], len(offs), n)
		return
	}
	clear(dst)
	for k, o := range offs {
		Axpy(w[k], src[o:o+n], dst)
	}
}

// DotTaps adds Σ_j y[j]·x[j+offs[k]] (j < len(y)) to acc[k] for every k:
// the weight gradient of a direct convolution, each tap a dot product of the
// output gradient with a shifted view of the input. With AVX-512 eight taps
// share each load of y. It panics if a tap reads past x.
func DotTaps(acc, y, x []float32, offs []int) {
	if len(offs) != len(acc) {
		panic(fmt.Sprintf("cpu.DotTaps: %d offsets for %d accumulators", len(offs), len(acc)))
	}
	n := len(y)
	if n == 0 {
		return
	}
	checkTaps("DotTaps", offs, n, len(x))
	k := 0
	if hasAVX512 {
		for ; k+8 <= len(offs); k += 8 {
			dotTaps8AVX512(&y[0], &x[0], &offs[k], n, &acc[k])
		}
	}
	for ; k < len(offs); k++ {
		acc[k] += Dot(y, x[offs[k]:offs[k]+n])
	}
}

// checkTaps panics unless every tap's window [o, o+n) lies in [0, size):
// the assembly kernels read without bounds checks.
func checkTaps(fn string, offs []int, n, size int) {
	for _, o := range offs {
		if o < 0 || o+n > size {
			panic(fmt.Sprintf("cpu.%s: offset %d reads [%d, %d) of an input of %d", fn, o, o, o+n, size))
		}
	}
}

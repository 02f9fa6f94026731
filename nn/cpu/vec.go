package cpu

import "fmt"

// The public vector functions call the AVX-512 routine directly (a
// compile-time false elsewhere): they run on short rows in hot loops, where
// each extra call level shows.

// Axpy computes y[i] += alpha*x[i]. It panics if len(x) != len(y).
func Axpy(alpha float32, x, y []float32) {
	if len(x) != len(y) {
		panicLen("Axpy", "x", "y", len(x), len(y))
	}
	if len(x) == 0 {
		return
	}
	if hasAVX512 {
		axpyAVX512(alpha, &x[0], &y[0], len(x))
		return
	}
	axpyOther(alpha, x, y)
}

// Dot returns Σ x[i]*y[i]. It panics if len(x) != len(y).
func Dot(x, y []float32) float32 {
	if len(x) != len(y) {
		panicLen("Dot", "x", "y", len(x), len(y))
	}
	if len(x) == 0 {
		return 0
	}
	if hasAVX512 {
		return dotAVX512(&x[0], &y[0], len(x))
	}
	return dotOther(x, y)
}

// Scal computes x[i] *= alpha.
func Scal(alpha float32, x []float32) {
	if len(x) == 0 {
		return
	}
	if hasAVX512 {
		scalAVX512(alpha, &x[0], len(x))
		return
	}
	scalOther(alpha, x)
}

// Add computes dst[i] += x[i]. It panics if len(dst) != len(x).
func Add(dst, x []float32) {
	if len(dst) != len(x) {
		panicLen("Add", "dst", "x", len(dst), len(x))
	}
	if len(x) == 0 {
		return
	}
	if hasAVX512 {
		addAVX512(&dst[0], &x[0], len(x))
		return
	}
	addOther(dst, x)
}

// panicLen is out of line so that the callers stay small enough to inline.
func panicLen(fn, a, b string, la, lb int) {
	panic(fmt.Sprintf("cpu.%s: len(%s)=%d != len(%s)=%d", fn, a, la, b, lb))
}

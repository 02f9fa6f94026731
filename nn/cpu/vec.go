package cpu

import "fmt"

// Axpy computes y[i] += alpha*x[i]. It panics if len(x) != len(y).
func Axpy(alpha float32, x, y []float32) {
	if len(x) != len(y) {
		panic(fmt.Sprintf("cpu.Axpy: len(x)=%d != len(y)=%d", len(x), len(y)))
	}
	if len(x) > 0 {
		axpy(alpha, x, y)
	}
}

// Dot returns Σ x[i]*y[i]. It panics if len(x) != len(y).
func Dot(x, y []float32) float32 {
	if len(x) != len(y) {
		panic(fmt.Sprintf("cpu.Dot: len(x)=%d != len(y)=%d", len(x), len(y)))
	}
	if len(x) == 0 {
		return 0
	}
	return dot(x, y)
}

// Scal computes x[i] *= alpha.
func Scal(alpha float32, x []float32) {
	if len(x) > 0 {
		scal(alpha, x)
	}
}

// Add computes dst[i] += x[i]. It panics if len(dst) != len(x).
func Add(dst, x []float32) {
	if len(dst) != len(x) {
		panic(fmt.Sprintf("cpu.Add: len(dst)=%d != len(x)=%d", len(dst), len(x)))
	}
	if len(x) > 0 {
		add(dst, x)
	}
}

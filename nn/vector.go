package nn

import (
	"fmt"

	"github.com/bionaslab/bionas/nn/cpu"
)

// Vector helpers over host slices for code outside nn that mixes and
// accumulates values itself (a supernet's recomputed mixed ops): the CPU
// kernels of nn/cpu, split over cores when long, so that such code does
// no kernel arithmetic of its own.

// Workers is the number of cores the kernels split their work over.
func Workers() int { return cpu.Workers() }

// ForEach runs fn(i) for i in [0, n) on every core, handing indices out in
// order as cores free up (cpu.ForEach): the engine's one set of worker
// goroutines, so that work split inside fn finds the cores busy and runs
// in place instead of oversubscribing them.
func ForEach(n int, fn func(i int)) { cpu.ForEach(n, fn) }

// AddPar computes y += x.
func AddPar(y, x []float32) {
	cpu.For(len(x), parWork, func(lo, hi int) { cpu.Add(y[lo:hi], x[lo:hi]) })
}

// AxpyPar computes y += a·x.
func AxpyPar(a float32, x, y []float32) {
	cpu.For(len(x), parWork, func(lo, hi int) { cpu.Axpy(a, x[lo:hi], y[lo:hi]) })
}

// ScalePar writes dst = a·x (a copy, then the vector kernel's scaling: Go
// does not vectorise the one-loop form).
func ScalePar(dst []float32, a float32, x []float32) {
	cpu.For(len(x), parWork, func(lo, hi int) {
		copy(dst[lo:hi], x[lo:hi])
		cpu.Scal(a, dst[lo:hi])
	})
}

// ScaleDot64 writes dst = s·x and returns Dot64(y, x) (the same bits, by
// the same code), in one pass over x instead of two: a mixed unit's
// backward seed and its architecture-weight gradient ⟨y, dL/dout⟩ both
// read dL/dout.
func ScaleDot64(dst []float32, s float32, x, y []float32) float64 {
	if len(dst) != len(x) || len(y) != len(x) {
		panic(fmt.Sprintf("nn.ScaleDot64: lengths %d, %d, %d differ", len(dst), len(x), len(y)))
	}
	return dot64(y, x, dst, s)
}

// Dot64 returns Σ a·b: vector dot products over blocks of 1024 values,
// accumulated in float64, deterministic for a given number of cores.
func Dot64(a, b []float32) float64 { return dot64(a, b, nil, 0) }

// dot64 is Dot64, also writing dst = s·b block by block when dst is not
// nil (while the block is in cache).
func dot64(a, b, dst []float32, s float32) float64 {
	const block = 1024
	parts := make([]float64, cpu.Workers())
	used := cpu.ForWorker(len(a), parWork, func(wk, lo, hi int) {
		var d float64
		for i := lo; i < hi; i += block {
			j := min(i+block, hi)
			d += float64(cpu.Dot(a[i:j], b[i:j]))
			if dst != nil {
				copy(dst[i:j], b[i:j])
				cpu.Scal(s, dst[i:j])
			}
		}
		parts[wk] = d
	})
	var d float64
	for _, v := range parts[:used] {
		d += v
	}
	return d
}

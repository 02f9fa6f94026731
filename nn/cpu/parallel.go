// Package cpu holds the CPU compute kernels of the engine: the float32 GEMM
// (Go assembly micro-kernels for AVX-512 and AVX2, chosen at run time, with a
// pure-Go fallback), vector primitives, and the helpers that spread work over
// every core. It knows nothing about tensors or layers: everything is a flat
// []float32 with explicit sizes and leading dimensions.
package cpu

import (
	"runtime"
	"sync/atomic"
)

// Workers is the number of goroutines For uses: one per usable core.
func Workers() int { return runtime.GOMAXPROCS(0) }

// For splits [0, n) into at most Workers() contiguous chunks and runs fn on
// each chunk concurrently, returning when all are done. Work smaller than
// grain items per worker runs on the calling goroutine, because handing
// a chunk to another core costs more than a few microseconds of
// arithmetic. The chunks run on long-lived helpers (see helpers.go).
func For(n, grain int, fn func(lo, hi int)) {
	ForWorker(n, grain, func(_, lo, hi int) { fn(lo, hi) })
}

// ForWorker is For with the worker index passed to fn, so that each worker
// can own a private accumulator (for example a weight gradient) that the
// caller reduces afterwards. It returns the number of workers used; worker
// indices are in [0, that number).
func ForWorker(n, grain int, fn func(worker, lo, hi int)) int {
	if n <= 0 {
		return 0
	}
	if grain < 1 {
		grain = 1
	}
	w := Workers()
	if w > n/grain {
		w = n / grain
	}
	if w <= 1 {
		fn(0, 0, n)
		return 1
	}
	chunk := (n + w - 1) / w
	used := (n + chunk - 1) / chunk
	spread(used, func(i int) { fn(i, i*chunk, min((i+1)*chunk, n)) })
	return used
}

// ForEach runs fn(i) for every i in [0, n) on up to Workers() goroutines,
// handing the indices out in order as workers free up: for items of
// uneven cost (a mixed op's units), where equal chunks would leave a core
// idle.
func ForEach(n int, fn func(i int)) {
	w := min(Workers(), n)
	if w <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	spread(w, func(int) {
		for {
			i := int(next.Add(1) - 1)
			if i >= n {
				return
			}
			fn(i)
		}
	})
}

// bigCopy is the length, in floats, from which CopyParallel and
// ClearParallel split the work: one core streams about 20 GB/s here, two
// about 45, and starting the second costs a few microseconds.
const bigCopy = 1 << 18

// CopyParallel is copy(dst, src) (len(dst) == len(src)) spread over every
// core when it is large: a 4 MB backward seed is 0.2 ms on one core.
func CopyParallel(dst, src []float32) {
	if len(dst) != len(src) {
		panicLen("CopyParallel", "dst", "src", len(dst), len(src))
	}
	For(len(dst), bigCopy, func(lo, hi int) { copy(dst[lo:hi], src[lo:hi]) })
}

// ClearParallel zeroes x, spread over every core when it is large.
func ClearParallel(x []float32) {
	For(len(x), bigCopy, func(lo, hi int) { clear(x[lo:hi]) })
}

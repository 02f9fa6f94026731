// Package cpu holds the CPU compute kernels of the engine: the float32 GEMM
// (Go assembly micro-kernels for AVX-512 and AVX2, chosen at run time, with a
// pure-Go fallback), vector primitives, and the helpers that spread work over
// every core. It knows nothing about tensors or layers: everything is a flat
// []float32 with explicit sizes and leading dimensions.
package cpu

import (
	"runtime"
	"sync"
)

// Workers is the number of goroutines For uses: one per usable core.
func Workers() int { return runtime.GOMAXPROCS(0) }

// For splits [0, n) into at most Workers() contiguous chunks and runs fn on
// each chunk concurrently, returning when all are done. Work smaller than
// grain items per worker runs on the calling goroutine, because starting a
// goroutine costs more than a few microseconds of arithmetic.
func For(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	w := Workers()
	if w > n/grain {
		w = n / grain
	}
	if w <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + w - 1) / w
	for lo := chunk; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, hi)
	}
	fn(0, min(chunk, n))
	wg.Wait()
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
	var wg sync.WaitGroup
	for i := 1; i < used; i++ {
		lo := i * chunk
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func(i, lo, hi int) {
			defer wg.Done()
			fn(i, lo, hi)
		}(i, lo, hi)
	}
	fn(0, 0, min(chunk, n))
	wg.Wait()
	return used
}

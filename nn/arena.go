package nn

import (
	"sync"
	"unsafe"
)

// Arena lends the buffers of op outputs and their gradients and takes them
// all back at once. A graph with an Arena (Graph.Arena) allocates through
// it; after Reset, every tensor made from it is dead and its memory goes to
// the next borrower.
//
// Why: a mixed op's recomputation builds and drops a whole small network per
// pair, many megabytes at a time. Fresh allocations arrive cold (page
// faults, and memory the cache has not seen) and leave garbage for the
// collector; reused ones were touched a moment ago and sit in the cache.
// Buffers are handed out zeroed, exactly like New's, so an op cannot tell.
//
// Arenas of one ArenaPool share its free buffers, so that concurrent
// borrowers (one per core) and successive ones (edge after edge) reuse the
// same memory. An Arena is used by one goroutine at a time.
type Arena struct {
	pool *ArenaPool
	used [][]float32
}

// ArenaPool holds the free buffers of its arenas, by capacity. A request
// takes a free buffer of its own length, else the smallest one up to 4×
// longer (sliced), so that the sizes of a network's stages (halved at each
// reduction) share memory instead of each keeping its own free list.
type ArenaPool struct {
	mu    sync.Mutex
	free  map[int][][]float32
	bytes int64 // held in free
	// Limit caps the bytes kept free (0: 1 GiB); beyond it, returned
	// buffers are left to the garbage collector.
	Limit int64
}

// NewArena returns an empty arena drawing on p.
func (p *ArenaPool) NewArena() *Arena { return &Arena{pool: p} }

// Get returns a zeroed buffer of n values, reused when one is free.
func (a *Arena) Get(n int) []float32 { return a.get(n, true) }

// GetFull is Get for a caller that writes every value: a reused buffer
// keeps its old values instead of being zeroed first.
func (a *Arena) GetFull(n int) []float32 { return a.get(n, false) }

// GetIndex is GetFull for n int32 values (an op's saved argmax indices):
// a float32 buffer of the pool viewed as int32, the same four bytes per
// value and, like it, free of pointers, so it goes back to the pool with
// the rest on Reset.
func (a *Arena) GetIndex(n int) []int32 {
	if n == 0 {
		return nil
	}
	b := a.get(n, false)
	return unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

// get is Get, leaving a reused buffer's old values when zero is false.
func (a *Arena) get(n int, zero bool) []float32 {
	p := a.pool
	p.mu.Lock()
	var b []float32
	key := n
	if len(p.free[n]) == 0 {
		key = 0
		for c, list := range p.free {
			if len(list) > 0 && c > n && c <= 4*n && (key == 0 || c < key) {
				key = c
			}
		}
	}
	if list := p.free[key]; key > 0 && len(list) > 0 {
		b = list[len(list)-1][:n]
		p.free[key] = list[:len(list)-1]
		p.bytes -= int64(4 * key)
	}
	p.mu.Unlock()
	if b == nil {
		b = make([]float32, n)
	} else if zero {
		clear(b)
	}
	a.used = append(a.used, b)
	return b
}

// Reset gives every buffer the arena lent back to its pool. Tensors made
// from them must not be used afterwards.
func (a *Arena) Reset() {
	p := a.pool
	limit := p.Limit
	if limit == 0 {
		limit = 1 << 30
	}
	p.mu.Lock()
	if p.free == nil {
		p.free = map[int][][]float32{}
	}
	for _, b := range a.used {
		c := cap(b)
		if p.bytes+int64(4*c) > limit {
			continue
		}
		p.free[c] = append(p.free[c], b[:c])
		p.bytes += int64(4 * c)
	}
	p.mu.Unlock()
	clear(a.used)
	a.used = a.used[:0]
}

// Alloc returns a zero tensor of the given shape for an op's output: from
// g's Arena when it has one (its gradient then comes from there too), else
// a fresh one. It is valid on a nil graph.
func (g *Graph) Alloc(shape ...int) *Tensor { return g.alloc(shape, true) }

// AllocFull is Alloc for an output the op writes in full before anyone
// reads it: a buffer from the arena keeps its old values (zeroing it would
// be a wasted pass over memory). Without an arena it is Alloc.
func (g *Graph) AllocFull(shape ...int) *Tensor { return g.alloc(shape, false) }

func (g *Graph) alloc(shape []int, zero bool) *Tensor {
	if g == nil || g.Arena == nil {
		return New(shape...)
	}
	t := &Tensor{Shape: append([]int(nil), shape...), arena: g.Arena}
	t.Data = g.Arena.get(numel(shape), zero)
	return t
}

// View returns a leaf tensor sharing t's values whose gradient, once a
// backward pass asks for one, is lent by a (zeroed) instead of allocated.
// Concurrent consumers of one tensor each take a view, accumulate into its
// private gradient, and add it into t's afterwards; lending those
// accumulators means the step does not fault in fresh memory for each.
func (a *Arena) View(t *Tensor) *Tensor {
	return &Tensor{Shape: t.Shape, Data: t.Data, NeedsGrad: t.NeedsGrad, arena: a}
}

package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// For and ForWorker hand their chunks to helper goroutines that outlive
// one call. A goroutine started per call (what they did before) lands on a
// parked OS thread, and on a VM waking a parked thread's idle vCPU costs
// 40–60 µs: measured here, two 33 µs chunks on two cores took 74 µs with
// a goroutine per call and 36 µs with helpers. The engine's ops are 10 µs – 1 ms each and come
// back to back, so a helper that has just finished one chunk spins (yielding
// to any other goroutine) for a while before it parks, and the next call
// finds it awake, as OpenMP's threads are between parallel regions. The
// helpers are a process-wide resource, like the Go scheduler's threads
// they stand in for: one set, grown to GOMAXPROCS-1, shared by every
// caller. A caller that finds none free (nested or concurrent For calls)
// runs the share itself, so For never waits for a helper.

// helperSpin is how long an idle helper stays awake for the next job, and
// waitSpin how long For's caller polls for its helpers' chunks before it
// blocks: about two wake-ups and one. Ops within a step come microseconds
// apart, so this is enough to find the helpers awake, and it keeps what an
// idle helper burns small for other processes on the machine (go test's
// parallel packages, a cluster node's other jobs): 500 µs measured the
// same here and slowed the test suite's concurrent packages.
const (
	helperSpin = 100 * time.Microsecond
	waitSpin   = 50 * time.Microsecond
)

const (
	helperIdle   int32 = iota // awake, polling for a job
	helperParked              // blocked on wake
	helperBusy                // claimed by a caller
)

type helper struct {
	state atomic.Int32
	job   atomic.Pointer[chunkJob]
	wake  chan struct{} // capacity 1: a claim of a parked helper sends once
}

// chunkJob is one worker's share of a For call.
type chunkJob struct {
	fn     func(worker int)
	worker int
	call   *forCall
}

// forCall tracks one For call's outstanding chunks: pending is polled by
// the caller while it spins, wg is what it blocks on afterwards.
type forCall struct {
	pending atomic.Int32
	wg      sync.WaitGroup
}

func (c *forCall) done() {
	c.pending.Add(-1)
	c.wg.Done()
}

// helperSet is the process's helpers (copy on grow).
var helperSet struct {
	mu   sync.Mutex
	list atomic.Pointer[[]*helper]
}

// helpers returns at least n helpers (fewer only if n < 0), starting more
// the first time GOMAXPROCS asks for them.
func helpers(n int) []*helper {
	if l := helperSet.list.Load(); l != nil && len(*l) >= n {
		return *l
	}
	helperSet.mu.Lock()
	defer helperSet.mu.Unlock()
	var list []*helper
	if l := helperSet.list.Load(); l != nil {
		list = *l
	}
	if len(list) < n {
		list = append([]*helper(nil), list...)
		for len(list) < n {
			h := &helper{wake: make(chan struct{}, 1)}
			go h.loop()
			list = append(list, h)
		}
		helperSet.list.Store(&list)
	}
	return list
}

// claim gives j to h if h is free, waking it if it parked.
func (h *helper) claim(j *chunkJob) bool {
	if h.state.CompareAndSwap(helperIdle, helperBusy) {
		h.job.Store(j)
		return true
	}
	if h.state.CompareAndSwap(helperParked, helperBusy) {
		h.job.Store(j)
		h.wake <- struct{}{}
		return true
	}
	return false
}

func (h *helper) loop() {
	for {
		since := time.Now()
		for spins := 1; h.job.Load() == nil; spins++ {
			spinPause()
			if spins%64 != 0 {
				continue
			}
			if time.Since(since) > helperSpin {
				// Park unless a caller claimed us meanwhile (then its job
				// is about to be stored: keep polling).
				if h.state.CompareAndSwap(helperIdle, helperParked) {
					<-h.wake
				}
				since = time.Now()
			} else {
				// Every microsecond or so, let a goroutine waiting for a
				// core (a nested For's chunk) have this one.
				runtime.Gosched()
			}
		}
		j := h.job.Swap(nil)
		j.run()
		h.state.Store(helperIdle)
	}
}

func (j *chunkJob) run() {
	defer j.call.done()
	j.fn(j.worker)
}

// spread runs fn(0) on the caller and fn(1..used-1) on free helpers, and
// returns when all are done. A share no helper is free for (For called
// from inside a For's chunk, or from several goroutines at once: every
// core is busy already) runs on the caller after its own.
func spread(used int, fn func(worker int)) {
	call := &forCall{}
	hs := helpers(used - 1)
	var inline []int
	next := 0
	for i := 1; i < used; i++ {
		j := &chunkJob{fn: fn, worker: i, call: call}
		call.pending.Add(1)
		call.wg.Add(1)
		claimed := false
		for ; next < len(hs) && !claimed; next++ {
			claimed = hs[next].claim(j)
		}
		if !claimed {
			call.pending.Add(-1)
			call.wg.Done()
			inline = append(inline, i)
		}
	}
	fn(0)
	for _, i := range inline {
		fn(i)
	}
	since := time.Now()
	for spins := 1; call.pending.Load() != 0; spins++ {
		spinPause()
		if spins%64 != 0 {
			continue
		}
		if time.Since(since) > waitSpin {
			break
		}
		// A woken helper may sit on this goroutine's run queue: yield
		// now and then so that it runs.
		runtime.Gosched()
	}
	call.wg.Wait()
}

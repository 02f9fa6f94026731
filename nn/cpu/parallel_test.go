package cpu

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// cover runs ForWorker over n items, running inner inside every chunk, and
// says what went wrong unless every item is visited exactly once, by
// chunks with distinct worker indices in [0, used). (Chunks run on helper
// goroutines, where a test must not call t.Fatal.)
func cover(n, grain int, inner func() error) error {
	seen := make([]atomic.Int32, n)
	var mu sync.Mutex
	workers := map[int]int{}
	var innerErr atomic.Pointer[error]
	used := ForWorker(n, grain, func(w, lo, hi int) {
		mu.Lock()
		workers[w]++
		mu.Unlock()
		for i := lo; i < hi; i++ {
			seen[i].Add(1)
		}
		if inner != nil {
			if err := inner(); err != nil {
				innerErr.Store(&err)
			}
		}
	})
	if p := innerErr.Load(); p != nil {
		return *p
	}
	for i := range seen {
		if c := seen[i].Load(); c != 1 {
			return fmt.Errorf("n=%d grain=%d: item %d visited %d times", n, grain, i, c)
		}
	}
	for w, c := range workers {
		if w < 0 || w >= used || c != 1 {
			return fmt.Errorf("n=%d grain=%d: worker %d ran %d chunks (%d workers used)", n, grain, w, c, used)
		}
	}
	return nil
}

// For, ForWorker and ForEach cover every item once, whether the helpers
// are free, busy with a For nested inside a chunk, shared by goroutines
// calling at once, or parked after a pause longer than their spin.
func TestForCoversEveryItemOnce(t *testing.T) {
	prev := runtime.GOMAXPROCS(4)
	defer runtime.GOMAXPROCS(prev)
	nested := func() error { return cover(9, 1, nil) }
	for _, n := range []int{1, 2, 3, 7, 64, 1000} {
		for _, grain := range []int{1, 5, 100} {
			if err := cover(n, grain, nil); err != nil {
				t.Fatal(err)
			}
			if err := cover(n, grain, nested); err != nil {
				t.Fatal("nested:", err)
			}
		}
	}
	errs := make(chan error, 6)
	for range 6 {
		go func() {
			var err error
			for i := 0; i < 50 && err == nil; i++ {
				err = cover(37, 1, func() error { return cover(5, 1, nil) })
			}
			errs <- err
		}()
	}
	for range 6 {
		if err := <-errs; err != nil {
			t.Fatal("concurrent:", err)
		}
	}
	time.Sleep(3 * helperSpin) // the helpers park
	if err := cover(64, 1, nil); err != nil {
		t.Fatal("after parking:", err)
	}

	for _, n := range []int{0, 1, 2, 5, 100} {
		hits := make([]atomic.Int32, n)
		var innerErr atomic.Pointer[error]
		ForEach(n, func(i int) {
			hits[i].Add(1)
			if err := cover(6, 1, nil); err != nil {
				innerErr.Store(&err)
			}
		})
		if p := innerErr.Load(); p != nil {
			t.Fatal("inside ForEach:", *p)
		}
		for i := range hits {
			if c := hits[i].Load(); c != 1 {
				t.Fatalf("ForEach(%d): index %d ran %d times", n, i, c)
			}
		}
	}
}

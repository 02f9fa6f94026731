package nn

import (
	"math"
	"slices"
	"testing"
	"unsafe"
)

// TestArenaLendsZeroedReusedBuffers: a reset arena's buffers go to the next
// borrower zeroed (Get) and are reused, also for a shorter request (up to 4×
// shorter, sliced); the pool keeps no more than its Limit; a View's
// gradient is lent by its arena; a Release gives a graph's buffers back.
func TestArenaLendsZeroedReusedBuffers(t *testing.T) {
	p := &ArenaPool{}
	a := p.NewArena()
	b := a.Get(100)
	for i := range b {
		b[i] = 7
	}
	a.Reset()
	c := p.NewArena().Get(100)
	if &c[0] != &b[0] {
		t.Error("a buffer of the same length was not reused")
	}
	for _, v := range c {
		if v != 0 {
			t.Fatal("a reused buffer was not zeroed")
		}
	}
	big := p.NewArena()
	x := big.Get(400)
	big.Reset()
	small := p.NewArena().Get(150)
	if len(small) != 150 || &small[0] != &x[0] {
		t.Errorf("a 150-value request did not reuse the free 400-value buffer (len %d)", len(small))
	}
	huge := p.NewArena()
	h := huge.Get(1000)
	huge.Reset()
	if tiny := p.NewArena().Get(50); &tiny[0] == &h[0] {
		t.Error("a buffer 20× longer than asked was lent")
	}

	limited := &ArenaPool{Limit: 4 * 100}
	la := limited.NewArena()
	la.Get(100)
	la.Get(100)
	la.Reset()
	if limited.bytes > limited.Limit {
		t.Errorf("pool keeps %d bytes, over its limit %d", limited.bytes, limited.Limit)
	}

	src := New(2, 3)
	src.NeedsGrad = true
	va := p.NewArena()
	v := va.View(src)
	if &v.Data[0] != &src.Data[0] || !v.NeedsGrad {
		t.Fatal("a view does not share its tensor's values")
	}
	gb := v.GradBuf()
	if src.Grad != nil || len(gb) != 6 || len(va.used) != 1 {
		t.Errorf("a view's gradient was not lent by its arena (src.Grad %v, lent %d)", src.Grad, len(va.used))
	}

	g := NewGraph(true, nil)
	g.Arena = p.NewArena()
	g.Alloc(5)
	g.Release()
	if len(g.Arena.used) != 0 {
		t.Error("Release kept the graph's buffers")
	}
}

// GetFull lends a reused buffer as it was left: its caller writes it all.
func TestArenaGetFullSkipsTheZeroing(t *testing.T) {
	p := &ArenaPool{}
	a := p.NewArena()
	b := a.Get(64)
	b[3] = 7
	a.Reset()
	c := p.NewArena().GetFull(64)
	if &c[0] != &b[0] || c[3] != 7 {
		t.Fatalf("GetFull: reused %v, value %v; want the same buffer, 7", &c[0] == &b[0], c[3])
	}
}

// GetIndex lends int32 views of the pool's buffers, which go back with the
// arena's other buffers on Reset.
func TestArenaGetIndexReusesPoolBuffers(t *testing.T) {
	p := &ArenaPool{}
	a := p.NewArena()
	idx := a.GetIndex(64)
	if len(idx) != 64 {
		t.Fatalf("GetIndex(64) has %d values", len(idx))
	}
	idx[63] = -5
	a.Reset()
	b := p.NewArena().GetFull(64)
	if unsafe.Pointer(&b[0]) != unsafe.Pointer(&idx[0]) {
		t.Error("the index buffer did not go back to the pool")
	}
	if got := p.NewArena().GetIndex(0); got != nil {
		t.Errorf("GetIndex(0) = %v, want nil", got)
	}
}

// A max pool on an arena graph, whose argmax buffer is lent already
// holding other values, gives the output and input gradient of one without.
func TestMaxPoolOnAnArenaMatchesPlain(t *testing.T) {
	x := randTensor(9, 1, 2, 3, 8, 8)
	x.NeedsGrad = true
	seed := randTensor(10, 1, 2, 3, 8, 8).Data
	g := NewGraph(true, nil)
	y := g.MaxPool2d(x, 3, 1, 1)
	g.BackwardFrom(y, seed)
	want, wantGrad := slices.Clone(y.Data), slices.Clone(x.Grad)

	pool := &ArenaPool{}
	stale := pool.NewArena()
	for range 4 {
		b := stale.Get(y.Len())
		for i := range b {
			b[i] = float32(math.Inf(1)) // as int32: a wild index
		}
	}
	stale.Reset()
	ga := NewGraph(true, nil)
	ga.Arena = pool.NewArena()
	v := ga.Arena.View(x)
	ya := ga.MaxPool2d(v, 3, 1, 1)
	ga.BackwardFrom(ya, seed)
	if !slices.Equal(ya.Data, want) || !slices.Equal(v.Grad, wantGrad) {
		t.Fatal("the max pool on an arena differs from the plain one")
	}
}

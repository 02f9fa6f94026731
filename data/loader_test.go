package data

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"
)

// indexDataset is a dataset whose image i holds i+v/1000 at position v, and
// label i mod classes, so a batch tells which images it holds.
type indexDataset struct{ n, c, h, w, classes int }

func (d indexDataset) Len() int             { return d.n }
func (d indexDataset) Shape() (c, h, w int) { return d.c, d.h, d.w }
func (d indexDataset) Classes() int         { return d.classes }
func (d indexDataset) ClassNames() []string { return make([]string, d.classes) }
func (d indexDataset) Image(i int, dst []float32) int {
	for v := range d.c * d.h * d.w {
		dst[v] = float32(i) + float32(v)/1000
	}
	return i % d.classes
}

// collectEpoch reads one epoch and returns the image indices in order.
func collectEpoch(t *testing.T, l *Loader, per int) (ids []int, sizes []int) {
	t.Helper()
	ctx := context.Background()
	for {
		b, ok := l.Next(ctx)
		if !ok {
			return ids, sizes
		}
		if len(b.X) != b.N*per || len(b.Y) != b.N {
			t.Fatalf("batch of %d with %d values and %d labels", b.N, len(b.X), len(b.Y))
		}
		sizes = append(sizes, b.N)
		for k := range b.N {
			ids = append(ids, int(b.X[k*per]))
		}
	}
}

func TestLoaderSequential(t *testing.T) {
	ds := indexDataset{n: 10, c: 1, h: 2, w: 2, classes: 3}
	for _, tc := range []struct {
		dropLast bool
		sizes    []int
	}{{false, []int{4, 4, 2}}, {true, []int{4, 4}}} {
		l := NewLoader(ds, LoaderConfig{BatchSize: 4, DropLast: tc.dropLast})
		if l.Batches() != len(tc.sizes) || l.Len() != 10 {
			t.Fatalf("Batches %d Len %d", l.Batches(), l.Len())
		}
		for epoch := range 3 {
			if l.Epoch() != epoch {
				t.Fatalf("Epoch %d, want %d", l.Epoch(), epoch)
			}
			ids, sizes := collectEpoch(t, l, 4)
			if !slices.Equal(sizes, tc.sizes) {
				t.Fatalf("batch sizes %v, want %v", sizes, tc.sizes)
			}
			for k, id := range ids {
				if id != k {
					t.Fatalf("epoch %d: position %d holds image %d", epoch, k, id)
				}
			}
		}
		l.Close()
	}
}

func TestLoaderBatchContent(t *testing.T) {
	ds := indexDataset{n: 7, c: 2, h: 3, w: 2, classes: 4}
	l := NewLoader(ds, LoaderConfig{BatchSize: 3, Indices: []int{6, 2, 5}})
	defer l.Close()
	b, ok := l.Next(context.Background())
	if !ok || b.N != 3 || b.C != 2 || b.H != 3 || b.W != 2 {
		t.Fatalf("batch %+v", b)
	}
	want := make([]float32, 12)
	for k, i := range []int{6, 2, 5} {
		if b.Y[k] != i%4 {
			t.Fatalf("label %d = %d", k, b.Y[k])
		}
		ds.Image(i, want)
		if !slices.Equal(b.X[k*12:(k+1)*12], want) {
			t.Fatalf("image %d differs", k)
		}
	}
}

func TestLoaderShuffle(t *testing.T) {
	ds := indexDataset{n: 103, c: 1, h: 1, w: 1, classes: 10}
	sub := make([]int, 0, 50)
	for i := 0; i < 100; i += 2 {
		sub = append(sub, i)
	}
	run := func(seed uint64, workers, prefetch int, idx []int) [][]int {
		l := NewLoader(ds, LoaderConfig{BatchSize: 8, Shuffle: true, Seed: seed, Workers: workers, Prefetch: prefetch, Indices: idx})
		defer l.Close()
		var epochs [][]int
		for range 3 {
			ids, _ := collectEpoch(t, l, 1)
			epochs = append(epochs, ids)
		}
		return epochs
	}
	a := run(7, 1, 2, nil)
	for e, ids := range a {
		s := slices.Clone(ids)
		sort.Ints(s)
		for k, v := range s {
			if v != k {
				t.Fatalf("epoch %d is not a permutation of 0..102", e)
			}
		}
	}
	if slices.Equal(a[0], a[1]) || slices.Equal(a[1], a[2]) {
		t.Fatal("epochs share an order")
	}
	if sorted := slices.IsSorted(a[0]); sorted {
		t.Fatal("not shuffled")
	}
	// Same seed, any number of workers: same stream. Other seed: another.
	for _, w := range []int{2, 4} {
		if b := run(7, w, 1, nil); !slices.EqualFunc(a, b, slices.Equal) {
			t.Fatalf("%d workers changed the order", w)
		}
	}
	if b := run(8, 1, 4, nil); slices.Equal(a[0], b[0]) {
		t.Fatal("seed 8 gives the order of seed 7")
	}
	// A subset is permuted within itself.
	for _, ids := range run(3, 2, 2, sub) {
		s := slices.Clone(ids)
		sort.Ints(s)
		if !slices.Equal(s, sub) {
			t.Fatalf("subset epoch holds %v", s)
		}
	}
}

func TestLoaderAugmentDeterministic(t *testing.T) {
	ds := Synthetic(SyntheticConfig{N: 40, C: 3, H: 8, W: 8, Seed: 1})
	cfg := LoaderConfig{BatchSize: 16, Shuffle: true, Seed: 11,
		Augment: Augment{CropPad: 2, Flip: true, Cutout: 4, Normalize: &Norm{Mean: []float32{0.5}, Std: []float32{0.25}}}}
	stream := func(workers int) []Batch {
		c := cfg
		c.Workers = workers
		l := NewLoader(ds, c)
		defer l.Close()
		var out []Batch
		for len(out) < 7 {
			if b, ok := l.Next(context.Background()); ok {
				out = append(out, b)
			}
		}
		return out
	}
	a, b := stream(1), stream(3)
	for i := range a {
		if !slices.Equal(a[i].X, b[i].X) || !slices.Equal(a[i].Y, b[i].Y) {
			t.Fatalf("batch %d differs between 1 and 3 workers", i)
		}
	}
	// Augmentation changes images between epochs: batch 0 of epoch 0 and of
	// epoch 2 (3 batches per epoch) hold different pixels.
	if slices.Equal(a[0].X, a[6].X) {
		t.Fatal("same augmentation in two epochs")
	}
}

func TestLoaderContextAndClose(t *testing.T) {
	ds := indexDataset{n: 20, c: 1, h: 1, w: 1, classes: 2}
	l := NewLoader(ds, LoaderConfig{BatchSize: 5})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := l.Next(ctx); ok {
		t.Fatal("Next with a done context returned a batch")
	}
	// Nothing was lost: the stream starts at image 0.
	b, ok := l.Next(context.Background())
	if !ok || b.X[0] != 0 {
		t.Fatalf("first batch after cancel starts at %v", b.X)
	}
	l.Release(b)
	b2, _ := l.Next(context.Background())
	if b2.X[0] != 5 {
		t.Fatalf("second batch starts at %v", b2.X[0])
	}
	done := make(chan struct{})
	go func() { l.Close(); l.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs")
	}
	if _, ok := l.Next(context.Background()); ok {
		t.Fatal("Next after Close returned a batch")
	}
}

func TestLoaderEmpty(t *testing.T) {
	l := NewLoader(indexDataset{n: 3, c: 1, h: 1, w: 1, classes: 1}, LoaderConfig{BatchSize: 4, DropLast: true})
	defer l.Close()
	for e := range 3 {
		if _, ok := l.Next(context.Background()); ok {
			t.Fatal("batch from an empty epoch")
		}
		if l.Epoch() != e+1 {
			t.Fatalf("Epoch %d", l.Epoch())
		}
	}
}

func TestLoaderPanics(t *testing.T) {
	ds := indexDataset{n: 3, c: 3, h: 1, w: 1, classes: 1}
	for name, cfg := range map[string]LoaderConfig{
		"index":     {Indices: []int{0, 3}},
		"negative":  {BatchSize: -1},
		"norm size": {Augment: Augment{Normalize: &Norm{Mean: []float32{0, 0}, Std: []float32{1}}}},
		"zero std":  {Augment: Augment{Normalize: &Norm{Mean: []float32{0}, Std: []float32{0}}}},
		"fill size": {Augment: Augment{Cutout: 1, CutoutFill: []float32{0, 0}}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			NewLoader(ds, cfg).Close()
		}()
	}
}

package data

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
)

// LoaderConfig configures a Loader. The zero value is usable: batches of 64
// in sequential order, no augmentation, 4 batches prefetched by 1 worker.
type LoaderConfig struct {
	// BatchSize is the number of images per batch (default 64).
	BatchSize int
	// Shuffle draws a fresh random order each epoch from Seed and the epoch
	// number; otherwise images come in index order.
	Shuffle bool
	// Seed seeds the order and the augmentation. The same seed gives the
	// same batches, whatever Workers and Prefetch are.
	Seed uint64
	// DropLast drops the last batch of an epoch if it is smaller than
	// BatchSize.
	DropLast bool
	// Prefetch is how many batches are made ahead of the consumer
	// (default 4).
	Prefetch int
	// Augment is applied to every image (zero value: none).
	Augment Augment
	// Indices, if not nil, restricts the loader to these dataset indices
	// (e.g. one half of SearchSplit). They are copied.
	Indices []int
	// Workers is the number of goroutines making batches (default 1).
	Workers int
}

// Loader iterates over a dataset in batches, epoch after epoch, making the
// batches in background goroutines so that they are ready before the
// consumer asks. A Loader is meant for one consumer goroutine; Close may be
// called from any goroutine.
//
// Epochs: Next returns the batches of epoch 0, then (Batch{}, false) once to
// mark the end of the epoch, then the batches of epoch 1, and so on without
// end (until Close). Epoch tells which epoch the next batch belongs to.
//
// Randomness: the order of epoch e is a permutation drawn from (Seed, e);
// the augmentation of batch b of epoch e draws from its own source seeded
// with (Seed, e, b). So the stream of batches depends only on the dataset
// and the config.
type Loader struct {
	ds        Dataset
	cfg       LoaderConfig
	idx       []int
	c, h, w   int
	per       int
	batches   int
	fill      []float32
	augmented bool

	cancel context.CancelFunc
	done   <-chan struct{}
	wg     sync.WaitGroup
	order  chan *loaderJob // jobs in delivery order, epoch ends included
	free   chan []float32  // released X buffers
	close  sync.Once

	// consumer state
	pending *loaderJob
	epoch   int
}

type loaderJob struct {
	epoch, batch int
	idx          []int // dataset indices; nil marks the end of an epoch
	result       chan Batch
}

// NewLoader starts a loader over ds. It panics if the config is invalid
// (negative sizes, an index out of range, normalisation constants that do
// not match the channels). Call Close when done to stop its goroutines.
func NewLoader(ds Dataset, cfg LoaderConfig) *Loader {
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 64
	}
	if cfg.Prefetch == 0 {
		cfg.Prefetch = 4
	}
	if cfg.Workers == 0 {
		cfg.Workers = 1
	}
	if cfg.BatchSize < 0 || cfg.Prefetch < 0 || cfg.Workers < 0 {
		panic(fmt.Sprintf("data.NewLoader: negative BatchSize %d, Prefetch %d or Workers %d", cfg.BatchSize, cfg.Prefetch, cfg.Workers))
	}
	c, h, w := ds.Shape()
	if err := cfg.Augment.validate(c); err != nil {
		panic("data.NewLoader: " + err.Error())
	}
	n := ds.Len()
	var idx []int
	if cfg.Indices != nil {
		idx = append([]int(nil), cfg.Indices...)
		for _, i := range idx {
			if i < 0 || i >= n {
				panic(fmt.Sprintf("data.NewLoader: index %d out of range [0,%d)", i, n))
			}
		}
	} else {
		idx = make([]int, n)
		for i := range idx {
			idx[i] = i
		}
	}
	cfg.Indices = nil
	l := &Loader{ds: ds, cfg: cfg, idx: idx, c: c, h: h, w: w, per: c * h * w,
		augmented: !cfg.Augment.IsZero()}
	l.batches = len(idx) / cfg.BatchSize
	if !cfg.DropLast && len(idx)%cfg.BatchSize != 0 {
		l.batches++
	}
	if a := cfg.Augment; a.Cutout > 0 && a.Normalize == nil {
		if a.CutoutFill != nil {
			l.fill = perChannel(a.CutoutFill, c)
		} else {
			l.fill = channelMean(ds, idx)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, ctx.Done()
	l.order = make(chan *loaderJob, max(cfg.Prefetch, cfg.Workers))
	l.free = make(chan []float32, cfg.Prefetch+cfg.Workers+2)
	jobs := make(chan *loaderJob)
	l.wg.Add(1 + cfg.Workers)
	go l.dispatch(ctx, jobs)
	for range cfg.Workers {
		go l.work(ctx, jobs)
	}
	return l
}

// Len returns the number of images per epoch (before DropLast).
func (l *Loader) Len() int { return len(l.idx) }

// Batches returns the number of batches per epoch.
func (l *Loader) Batches() int { return l.batches }

// Epoch returns the epoch of the next batch: 0 until Next has reported the
// end of the first epoch, then 1, and so on.
func (l *Loader) Epoch() int { return l.epoch }

// Next returns the next batch and true, or (Batch{}, false) at the end of an
// epoch (the next call starts the next epoch), after Close, or when ctx is
// done (check ctx.Err(); a batch being waited for is not lost: the next call
// returns it).
func (l *Loader) Next(ctx context.Context) (Batch, bool) {
	select {
	case <-l.done:
		return Batch{}, false
	default:
	}
	if l.pending == nil {
		select {
		case j := <-l.order:
			l.pending = j
		case <-ctx.Done():
			return Batch{}, false
		case <-l.done:
			return Batch{}, false
		}
	}
	j := l.pending
	if j.idx == nil {
		l.pending = nil
		l.epoch++
		return Batch{}, false
	}
	select {
	case b := <-j.result:
		l.pending = nil
		return b, true
	case <-ctx.Done():
		return Batch{}, false
	case <-l.done:
		return Batch{}, false
	}
}

// Release hands the memory of a batch back to the loader for reuse. It is
// optional; after it the batch must not be used.
func (l *Loader) Release(b Batch) {
	if cap(b.X) != l.cfg.BatchSize*l.per {
		return
	}
	select {
	case l.free <- b.X[:cap(b.X)]:
	default:
	}
}

// Close stops the loader's goroutines and waits for them. Next then returns
// false. Close is idempotent.
func (l *Loader) Close() {
	l.close.Do(func() {
		l.cancel()
		l.wg.Wait()
	})
}

// epochOrder returns the dataset indices of epoch e in order.
func (l *Loader) epochOrder(e int) []int {
	if !l.cfg.Shuffle {
		return l.idx
	}
	r := rand.New(rand.NewPCG(l.cfg.Seed, 0x0bde_7e4d^uint64(e)))
	out := make([]int, len(l.idx))
	for i, p := range r.Perm(len(l.idx)) {
		out[i] = l.idx[p]
	}
	return out
}

func (l *Loader) dispatch(ctx context.Context, jobs chan<- *loaderJob) {
	defer l.wg.Done()
	bs := l.cfg.BatchSize
	for e := 0; ; e++ {
		order := l.epochOrder(e)
		for b := range l.batches {
			j := &loaderJob{epoch: e, batch: b, idx: order[b*bs : min((b+1)*bs, len(order))], result: make(chan Batch, 1)}
			select {
			case l.order <- j:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return
			}
		}
		select {
		case l.order <- &loaderJob{epoch: e}:
		case <-ctx.Done():
			return
		}
	}
}

func (l *Loader) work(ctx context.Context, jobs <-chan *loaderJob) {
	defer l.wg.Done()
	var aug *augmenter
	if l.augmented {
		aug = newAugmenter(l.cfg.Augment, l.c, l.h, l.w, l.fill)
	}
	for {
		select {
		case j := <-jobs:
			j.result <- l.build(j, aug)
		case <-ctx.Done():
			return
		}
	}
}

// build makes one batch.
func (l *Loader) build(j *loaderJob, aug *augmenter) Batch {
	n := len(j.idx)
	var x []float32
	select {
	case x = <-l.free:
	default:
		x = make([]float32, l.cfg.BatchSize*l.per)
	}
	x = x[:n*l.per]
	y := make([]int, n)
	var rng *rand.Rand
	if aug != nil {
		rng = rand.New(rand.NewPCG(l.cfg.Seed^0xa5a5_0f0f_3c3c_9696, uint64(j.epoch)<<32|uint64(j.batch)))
	}
	for k, i := range j.idx {
		img := x[k*l.per : (k+1)*l.per]
		y[k] = l.ds.Image(i, img)
		if aug != nil {
			aug.apply(img, rng)
		}
	}
	return Batch{X: x, N: n, C: l.c, H: l.h, W: l.w, Y: y}
}

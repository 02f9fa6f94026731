package data

import (
	"context"
	"testing"
	"time"
)

// benchLoader reports how many images per second a loader delivers to a
// consumer that does nothing else.
func benchLoader(b *testing.B, ds Dataset, cfg LoaderConfig) {
	l := NewLoader(ds, cfg)
	defer l.Close()
	ctx := context.Background()
	// Let the prefetch fill, as it would during the first training step.
	for range 2 {
		if bt, ok := l.Next(ctx); ok {
			l.Release(bt)
		}
	}
	images := 0
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		bt, ok := l.Next(ctx)
		if !ok {
			bt, _ = l.Next(ctx)
		}
		images += bt.N
		l.Release(bt)
	}
	b.ReportMetric(float64(images)/time.Since(start).Seconds(), "images/s")
}

// BenchmarkLoaderMNIST: real MNIST, batches of 64, shuffled, normalised.
func BenchmarkLoaderMNIST(b *testing.B) {
	train, _ := loadRealMNIST(b)
	benchLoader(b, train, LoaderConfig{BatchSize: 64, Shuffle: true, Seed: 1,
		Augment: Augment{Normalize: DefaultNorm("mnist")}})
}

// BenchmarkLoaderCIFAR: CIFAR-shaped data (3×32×32, 10 classes) with the
// full DARTS evaluation augmentation: crop (pad 4), flip, normalise,
// cutout 16; batches of 96 (DARTS' evaluation batch).
func BenchmarkLoaderCIFAR(b *testing.B) {
	ds := Synthetic(SyntheticConfig{N: 5000, C: 3, H: 32, W: 32, Seed: 1})
	for _, workers := range []int{1, 2} {
		b.Run(map[int]string{1: "workers=1", 2: "workers=2"}[workers], func(b *testing.B) {
			a := DefaultAugment("cifar10", true)
			a.Normalize = DefaultNorm("cifar10")
			benchLoader(b, ds, LoaderConfig{BatchSize: 96, Shuffle: true, Seed: 1, Augment: a, Workers: workers})
		})
	}
}

package data

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSynthetic(t *testing.T) {
	cfg := SyntheticConfig{N: 60, C: 3, H: 5, W: 7, Classes: 13, Seed: 4}
	a, b := Synthetic(cfg), Synthetic(cfg)
	if c, h, w := a.Shape(); a.Len() != 60 || c != 3 || h != 5 || w != 7 || a.Classes() != 13 || len(a.ClassNames()) != 13 {
		t.Fatalf("Len %d shape %d×%d×%d classes %d", a.Len(), c, h, w, a.Classes())
	}
	x, y := make([]float32, 105), make([]float32, 105)
	for i := range 60 {
		la, lb := a.Image(i, x), b.Image(i, y)
		if la != i%13 || lb != la || !slices.Equal(x, y) {
			t.Fatalf("image %d not reproducible (labels %d %d)", i, la, lb)
		}
		for _, v := range x {
			if v < 0 || v > 1 {
				t.Fatalf("value %v outside [0,1]", v)
			}
		}
	}
	cfg.Seed = 5
	Synthetic(cfg).Image(0, y)
	if slices.Equal(x[:105], y) {
		t.Fatal("another seed gives the same image")
	}
	if d := Synthetic(SyntheticConfig{}); d.Len() != 1000 || d.Classes() != 10 {
		t.Fatalf("defaults: %d images, %d classes", d.Len(), d.Classes())
	}
}

// TestSyntheticLearnable: nearest class mean, fitted on one stream, labels
// another stream of the same seed well.
func TestSyntheticLearnable(t *testing.T) {
	train := Synthetic(SyntheticConfig{N: 500, Seed: 9})
	test := Synthetic(SyntheticConfig{N: 200, Seed: 9, Stream: 1})
	const size = 28 * 28
	means := make([][]float64, 10)
	for k := range means {
		means[k] = make([]float64, size)
	}
	img := make([]float32, size)
	for i := range train.Len() {
		l := train.Image(i, img)
		for j, v := range img {
			means[l][j] += float64(v) / 50
		}
	}
	correct := 0
	for i := range test.Len() {
		l := test.Image(i, img)
		best, bestD := -1, math.Inf(1)
		for k, m := range means {
			d := 0.0
			for j, v := range img {
				d += (float64(v) - m[j]) * (float64(v) - m[j])
			}
			if d < bestD {
				best, bestD = k, d
			}
		}
		if best == l {
			correct++
		}
	}
	if acc := float64(correct) / float64(test.Len()); acc < 0.9 {
		t.Fatalf("nearest-mean accuracy %.2f, want ≥ 0.9", acc)
	}
}

func TestSearchSplit(t *testing.T) {
	for _, n := range []int{0, 1, 7, 50000} {
		train, val := SearchSplit(indexDataset{n: n, c: 1, h: 1, w: 1, classes: 1})
		if len(train) != n/2 || len(val) != n-n/2 {
			t.Fatalf("n=%d: %d/%d", n, len(train), len(val))
		}
		for i, v := range append(train, val...) {
			if v != i {
				t.Fatalf("n=%d: index %d is %d", n, i, v)
			}
		}
	}
	a, b := Split(indexDataset{n: 10, c: 1, h: 1, w: 1, classes: 1}, 0.9)
	if len(a) != 9 || len(b) != 1 || b[0] != 9 {
		t.Fatalf("Split 0.9: %v %v", a, b)
	}
}

func TestSubset(t *testing.T) {
	ds := indexDataset{n: 10, c: 1, h: 1, w: 2, classes: 3}
	s := Subset(ds, []int{9, 0, 4})
	x := make([]float32, 2)
	if s.Len() != 3 || s.Classes() != 3 {
		t.Fatal(s.Len())
	}
	if l := s.Image(0, x); l != 0 || x[0] != 9 {
		t.Fatalf("image 0 = %v label %d", x, l)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for index 10")
		}
	}()
	Subset(ds, []int{10})
}

func TestStats(t *testing.T) {
	ds := Synthetic(SyntheticConfig{N: 30, C: 2, H: 3, W: 3, Classes: 4, Noise: -1})
	s := ComputeStats(ds)
	if !slices.Equal(s.Counts, []int{8, 8, 7, 7}) || s.Len != 30 || s.C != 2 {
		t.Fatalf("stats %+v", s)
	}
	// Check against a direct two-pass computation.
	img := make([]float32, 18)
	var vals [2][]float64
	for i := range 30 {
		ds.Image(i, img)
		for k, v := range img {
			vals[k/9] = append(vals[k/9], float64(v))
		}
	}
	for ch := range 2 {
		m := 0.0
		for _, v := range vals[ch] {
			m += v
		}
		m /= float64(len(vals[ch]))
		sd := 0.0
		for _, v := range vals[ch] {
			sd += (v - m) * (v - m)
		}
		sd = math.Sqrt(sd / float64(len(vals[ch])))
		if math.Abs(s.Mean[ch]-m) > 1e-9 || math.Abs(s.Std[ch]-sd) > 1e-9 {
			t.Fatalf("channel %d: mean %v std %v, want %v %v", ch, s.Mean[ch], s.Std[ch], m, sd)
		}
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	im, lb := smallIDX(4)
	writeFile(t, filepath.Join(dir, "mnist", mnistTestImages), im)
	writeFile(t, filepath.Join(dir, "mnist", mnistTestLabels), lb)
	if ds, err := Open(context.Background(), "MNIST", filepath.Join(dir, "mnist"), false); err != nil || ds.Len() != 4 {
		t.Fatalf("mnist from dir: %v", err)
	}
	if ds, err := Open(context.Background(), "synthetic", "", false); err != nil || ds.Len() != 500 {
		t.Fatalf("synthetic: %v", err)
	}
	writeFile(t, filepath.Join(dir, "c100", "test.bin"), cifarRecords(0, 2, func(int) []byte { return []byte{1, 2} }))
	if ds, err := Open(context.Background(), "cifar-100", filepath.Join(dir, "c100"), false); err != nil || ds.Classes() != 100 {
		t.Fatalf("cifar100: %v", err)
	}
	writeFile(t, filepath.Join(dir, "in16", "val_data"), imagenet16Pickle{labels: []int{1, 150, 151, 200}}.bytes(0))
	if ds, err := Open(context.Background(), "imagenet16-150", filepath.Join(dir, "in16"), false); err != nil || ds.Len() != 2 || ds.Classes() != 150 {
		t.Fatalf("imagenet16-150: %v", err)
	}
	for _, name := range []string{"imagenet16-0", "imagenet16-1001", "svhn"} {
		if _, err := Open(context.Background(), name, dir, true); err == nil {
			t.Errorf("Open(%q) succeeded", name)
		}
	}
	_, err := Open(context.Background(), "cifar10", filepath.Join(dir, "none"), true)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "bionas data fetch cifar10") {
		t.Fatalf("missing cifar10: %v", err)
	}
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "xdg"))
	if d, err := DefaultDir("imagenet16-120"); err != nil || d != filepath.Join(dir, "xdg", "bionas", "imagenet16") {
		t.Fatalf("DefaultDir = %q, %v", d, err)
	}
	// Not in the cache folder: Debian's package folder, as .ci/run
	// installs it; without it, the error names both places.
	ds, err := Open(context.Background(), "fashion-mnist", "", true)
	if _, serr := os.Stat(DebianFashionMNIST); serr == nil {
		if err != nil || ds.Len() != 60000 {
			t.Fatalf("fashion-mnist from %s: %v", DebianFashionMNIST, err)
		}
	} else if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), filepath.Join(dir, "xdg", "bionas", "fashion-mnist")) || !strings.Contains(err.Error(), DebianFashionMNIST) {
		t.Fatalf("fashion-mnist in the default folder: %v", err)
	}
}

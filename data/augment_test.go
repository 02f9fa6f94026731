package data

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

// refCropFlip is torchvision's RandomCrop(padding=p) then
// RandomHorizontalFlip written plainly: pad with zeros, take the window at
// (i, j), mirror.
func refCropFlip(img []float32, c, h, w, p, i, j int, flip bool) []float32 {
	ph, pw := h+2*p, w+2*p
	padded := make([]float32, c*ph*pw)
	for ch := range c {
		for y := range h {
			for x := range w {
				padded[(ch*ph+y+p)*pw+x+p] = img[(ch*h+y)*w+x]
			}
		}
	}
	out := make([]float32, c*h*w)
	for ch := range c {
		for y := range h {
			for x := range w {
				out[(ch*h+y)*w+x] = padded[(ch*ph+y+i)*pw+x+j]
			}
		}
	}
	if flip {
		for ch := range c {
			for y := range h {
				row := out[(ch*h+y)*w : (ch*h+y+1)*w]
				for a, b := 0, w-1; a < b; a, b = a+1, b-1 {
					row[a], row[b] = row[b], row[a]
				}
			}
		}
	}
	return out
}

func testImage(c, h, w int) []float32 {
	img := make([]float32, c*h*w)
	for k := range img {
		img[k] = float32(k%251+1) / 252
	}
	return img
}

func TestAugmentCropFlip(t *testing.T) {
	const c, h, w, p = 3, 7, 5, 3
	src := testImage(c, h, w)
	offsets := map[[2]int]int{}
	flips := 0
	const trials = 2000
	for s := range uint64(trials) {
		g := newAugmenter(Augment{CropPad: p, Flip: true}, c, h, w, nil)
		img := append([]float32(nil), src...)
		g.apply(img, rand.New(rand.NewPCG(s, 1)))
		// The same draws, in the documented order: y offset, x offset, flip.
		r := rand.New(rand.NewPCG(s, 1))
		i, j := r.IntN(2*p+1), r.IntN(2*p+1)
		flip := r.IntN(2) == 1
		want := refCropFlip(src, c, h, w, p, i, j, flip)
		for k := range want {
			if img[k] != want[k] {
				t.Fatalf("seed %d (offset %d,%d flip %v): value %d = %v, want %v", s, i, j, flip, k, img[k], want[k])
			}
		}
		offsets[[2]int{i, j}]++
		if flip {
			flips++
		}
	}
	if len(offsets) != (2*p+1)*(2*p+1) {
		t.Fatalf("%d distinct offsets, want %d", len(offsets), (2*p+1)*(2*p+1))
	}
	if f := float64(flips) / trials; math.Abs(f-0.5) > 0.05 {
		t.Fatalf("flip rate %.3f, want 0.5", f)
	}
}

func TestAugmentNormalizeCutout(t *testing.T) {
	const c, h, w, L = 2, 9, 9, 4
	norm := &Norm{Mean: []float32{0.25, 0.5}, Std: []float32{0.5, 0.25}}
	src := testImage(c, h, w)
	for s := range uint64(200) {
		for _, normalize := range []bool{true, false} {
			a := Augment{Cutout: L}
			fill := []float32{0.7, 0.1}
			if normalize {
				a.Normalize = norm
			}
			g := newAugmenter(a, c, h, w, fill)
			img := append([]float32(nil), src...)
			g.apply(img, rand.New(rand.NewPCG(s, 2)))
			r := rand.New(rand.NewPCG(s, 2))
			cy, cx := r.IntN(h), r.IntN(w)
			for ch := range c {
				for y := range h {
					for x := range w {
						k := (ch*h+y)*w + x
						in := y >= cy-L/2 && y < cy+L/2 && x >= cx-L/2 && x < cx+L/2
						want := src[k]
						switch {
						case in && normalize:
							want = 0 // DARTS: zero after normalisation
						case in:
							want = fill[ch]
						case normalize:
							want = (src[k] - norm.Mean[ch]) * (1 / norm.Std[ch])
						}
						if img[k] != want {
							t.Fatalf("seed %d normalize %v centre (%d,%d): (%d,%d,%d) = %v, want %v", s, normalize, cy, cx, ch, y, x, img[k], want)
						}
					}
				}
			}
		}
	}
}

// TestCutoutPixelSpaceMatchesDARTS: cutout in pixel units with the mean
// colour, normalised afterwards, equals DARTS' zeroing after normalisation.
func TestCutoutPixelSpaceMatchesDARTS(t *testing.T) {
	ds := Synthetic(SyntheticConfig{N: 64, C: 3, H: 12, W: 12, Seed: 5})
	norm := &Norm{Mean: []float32{0.4, 0.45, 0.5}, Std: []float32{0.2, 0.25, 0.3}}
	base := LoaderConfig{BatchSize: 32, Shuffle: true, Seed: 3, Augment: Augment{CropPad: 2, Flip: true, Cutout: 6}}
	darts, pixel := base, base
	darts.Augment.Normalize = norm
	pixel.Augment.CutoutFill = norm.Mean
	ld, lp := NewLoader(ds, darts), NewLoader(ds, pixel)
	defer ld.Close()
	defer lp.Close()
	for range 4 {
		a, ok1 := ld.Next(context.Background())
		b, ok2 := lp.Next(context.Background())
		if !ok1 || !ok2 {
			continue
		}
		for k, v := range b.X {
			ch := (k / (12 * 12)) % 3
			want := (v - norm.Mean[ch]) * (1 / norm.Std[ch])
			if math.Abs(float64(a.X[k]-want)) > 1e-6 {
				t.Fatalf("value %d: DARTS %v, pixel-space cutout then normalise %v", k, a.X[k], want)
			}
		}
	}
}

// TestCutoutDefaultFill: without normalisation and CutoutFill, cutout writes
// the mean colour of the loader's images.
func TestCutoutDefaultFill(t *testing.T) {
	ds := Synthetic(SyntheticConfig{N: 10, C: 3, H: 6, W: 6, Seed: 2})
	mean := ComputeStats(ds).Mean
	// A cutout larger than twice the image covers it all.
	l := NewLoader(ds, LoaderConfig{BatchSize: 10, Augment: Augment{Cutout: 12}})
	defer l.Close()
	b, _ := l.Next(context.Background())
	for k, v := range b.X {
		ch := (k / 36) % 3
		if math.Abs(float64(v)-mean[ch]) > 1e-6 {
			t.Fatalf("value %d = %v, want the channel mean %v", k, v, mean[ch])
		}
	}
}

func TestDefaults(t *testing.T) {
	if a := DefaultAugment("cifar10", true); a.CropPad != 4 || !a.Flip || a.Cutout != 16 || a.Normalize != nil {
		t.Errorf("cifar10: %+v", a)
	}
	if a := DefaultAugment("CIFAR-100", false); a.CropPad != 4 || !a.Flip || a.Cutout != 0 {
		t.Errorf("cifar100: %+v", a)
	}
	if a := DefaultAugment("imagenet16-120", false); a.CropPad != 2 || !a.Flip {
		t.Errorf("imagenet16: %+v", a)
	}
	if a := DefaultAugment("mnist", false); !a.IsZero() {
		t.Errorf("mnist: %+v (no flips for digits)", a)
	}
	n := DefaultNorm("cifar10")
	if n.Mean[0] != 0.49139968 || n.Std[2] != 0.26158768 {
		t.Errorf("cifar10 norm %+v", n)
	}
	if n := DefaultNorm("imagenet16-120"); math.Abs(float64(n.Mean[0])-122.68/255) > 1e-7 || math.Abs(float64(n.Std[2])-65.09/255) > 1e-7 {
		t.Errorf("imagenet16 norm %+v", n)
	}
	if DefaultNorm("synthetic") != nil || DefaultNorm("nope") != nil {
		t.Error("norm for synthetic")
	}
}

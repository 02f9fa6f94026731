package data

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// SyntheticConfig configures Synthetic. The zero value is usable: 1000
// MNIST-shaped images (1×28×28) of 10 classes.
type SyntheticConfig struct {
	// N is the number of images (default 1000).
	N int
	// C, H, W give the image shape (default 1, 28, 28).
	C, H, W int
	// Classes is the number of classes (default 10).
	Classes int
	// Noise is the standard deviation of the Gaussian pixel noise added to
	// each image, in pixel units (default 0.1; negative means none).
	Noise float64
	// Seed draws the class patterns.
	Seed uint64
	// Stream draws the images: two datasets with the same Seed and different
	// Streams show the same classes through independent images (use 0 for a
	// training set and 1 for its test set).
	Stream uint64
}

func (c SyntheticConfig) withDefaults() SyntheticConfig {
	if c.N <= 0 {
		c.N = 1000
	}
	if c.C <= 0 {
		c.C = 1
	}
	if c.H <= 0 {
		c.H = 28
	}
	if c.W <= 0 {
		c.W = 28
	}
	if c.Classes <= 0 {
		c.Classes = 10
	}
	if c.Noise == 0 {
		c.Noise = 0.1
	}
	if c.Noise < 0 {
		c.Noise = 0
	}
	return c
}

// synthPattern is one class: a sinusoidal grating of a class-specific
// orientation and frequency, with a per-channel phase and contrast, plus a
// bright Gaussian blob at a class-specific place.
type synthPattern struct {
	theta, freq float64
	phase, amp  []float64
	by, bx      float64
}

// Synthetic returns a seeded dataset of class-dependent patterns: image i has
// label i mod Classes (so classes are balanced) and shows its class's
// grating, shifted by a small random phase, with its blob moved by up to a
// pixel, plus Gaussian noise, clipped to [0,1] and quantised to bytes like a
// real image. Orientations of different classes are at least π/Classes
// apart, so a small network separates them quickly. The same config gives
// the same images.
func Synthetic(cfg SyntheticConfig) Dataset {
	cfg = cfg.withDefaults()
	c, h, w, k := cfg.C, cfg.H, cfg.W, cfg.Classes
	prng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed_c1a55))
	pats := make([]synthPattern, k)
	orient := prng.Perm(k)
	for j := range pats {
		p := &pats[j]
		p.theta = math.Pi * (float64(orient[j]) + 0.3*prng.Float64()) / float64(k)
		p.freq = 1 + 2*prng.Float64()
		p.phase = make([]float64, c)
		p.amp = make([]float64, c)
		for ch := range c {
			p.phase[ch] = 2 * math.Pi * prng.Float64()
			p.amp[ch] = 0.25 + 0.15*prng.Float64()
		}
		p.by = (0.2 + 0.6*prng.Float64()) * float64(h-1)
		p.bx = (0.2 + 0.6*prng.Float64()) * float64(w-1)
	}
	size := c * h * w
	pix := make([]byte, cfg.N*size)
	labels := make([]int32, cfg.N)
	sigma := max(float64(min(h, w))/8, 0.75)
	for i := range cfg.N {
		lab := i % k
		labels[i] = int32(lab)
		p := &pats[lab]
		r := rand.New(rand.NewPCG(cfg.Seed^0x9e3779b97f4a7c15, cfg.Stream<<40^uint64(i)))
		jit := 0.6 * (r.Float64() - 0.5)
		by := p.by + 2*(r.Float64()-0.5)
		bx := p.bx + 2*(r.Float64()-0.5)
		ct, st := math.Cos(p.theta), math.Sin(p.theta)
		img := pix[i*size : (i+1)*size]
		for ch := range c {
			for y := range h {
				for x := range w {
					u := (ct*float64(x)/float64(w) + st*float64(y)/float64(h)) * p.freq
					v := 0.45 + p.amp[ch]*math.Sin(2*math.Pi*u+p.phase[ch]+jit)
					dy, dx := float64(y)-by, float64(x)-bx
					v += 0.35 * math.Exp(-(dy*dy+dx*dx)/(2*sigma*sigma))
					v += cfg.Noise * r.NormFloat64()
					img[(ch*h+y)*w+x] = byte(math.Round(255 * min(max(v, 0), 1)))
				}
			}
		}
	}
	names := make([]string, k)
	for j := range names {
		names[j] = fmt.Sprintf("pattern %d", j)
	}
	return newMemDataset(c, h, w, pix, labels, names)
}

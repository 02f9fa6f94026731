package data

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Augment is the training-time augmentation pipeline of the reference
// papers (torchvision RandomCrop + RandomHorizontalFlip + ToTensor +
// Normalize, then DARTS' Cutout). The zero value does nothing. The steps run
// in this order on each image:
//
//  1. CropPad > 0: pad each side with CropPad zero (black) pixels and crop a
//     window of the original size at an offset drawn uniformly from
//     [0, 2·CropPad]² (RandomCrop(size, padding=CropPad));
//  2. Flip: mirror left–right with probability 1/2 (not for digits);
//  3. Normalize != nil: x ← (x − Mean[c]) / Std[c] per channel;
//  4. Cutout > 0: fill a square of side Cutout centred at a pixel drawn
//     uniformly from the image, clipped at the borders (DARTS' Cutout; for
//     odd sides it covers [y−L/2, y+L/2) with integer division, as DARTS).
//
// What cutout writes: after normalisation it writes 0, exactly as DARTS.
// Without normalisation the images stay in pixel units, and cutout writes
// the per-channel colour that normalisation would map to 0, the mean colour:
// CutoutFill if given, otherwise the mean of the loader's images, computed
// once when the loader is made. A model that normalises internally thus sees
// the same zeros as in DARTS.
//
// The random draws come from the loader's per-batch source in the order
// crop offsets (y then x), flip, cutout centre (y then x), for each image in
// the batch, and only for the steps that are on.
type Augment struct {
	// CropPad is the padding of the random crop (4 for CIFAR, 2 for
	// ImageNet16); 0 means no crop.
	CropPad int
	// Flip turns on random horizontal flips.
	Flip bool
	// Cutout is the side of the cutout square (16 for CIFAR); 0 means none.
	Cutout int
	// Normalize, if set, normalises per channel. Mean and Std have one value
	// per channel (or one value for all).
	Normalize *Norm
	// CutoutFill, if set and Normalize is nil, is the per-channel pixel
	// value that cutout writes (one per channel, or one for all).
	CutoutFill []float32
}

// Norm holds per-channel normalisation constants in pixel units ([0,1]).
type Norm struct {
	Mean, Std []float32
}

// IsZero reports whether a does nothing.
func (a Augment) IsZero() bool {
	return a.CropPad <= 0 && !a.Flip && a.Cutout <= 0 && a.Normalize == nil
}

// validate checks a against an image shape.
func (a Augment) validate(c int) error {
	if a.CropPad < 0 || a.Cutout < 0 {
		return fmt.Errorf("augment: negative CropPad %d or Cutout %d", a.CropPad, a.Cutout)
	}
	if n := a.Normalize; n != nil {
		if (len(n.Mean) != c && len(n.Mean) != 1) || (len(n.Std) != c && len(n.Std) != 1) {
			return fmt.Errorf("augment: normalisation has %d means and %d stds, want %d (or 1)", len(n.Mean), len(n.Std), c)
		}
		for _, s := range n.Std {
			if s == 0 {
				return fmt.Errorf("augment: normalisation std is 0")
			}
		}
	}
	if f := a.CutoutFill; f != nil && len(f) != c && len(f) != 1 {
		return fmt.Errorf("augment: CutoutFill has %d values, want %d (or 1)", len(f), c)
	}
	return nil
}

// perChannel expands v (one value, or one per channel; none gives zeros)
// to c values.
func perChannel(v []float32, c int) []float32 {
	out := make([]float32, c)
	for i := range out {
		if len(v) == 0 {
			break
		}
		if len(v) == 1 {
			out[i] = v[0]
		} else {
			out[i] = v[i]
		}
	}
	return out
}

// augmenter applies an Augment to images of one shape.
type augmenter struct {
	a         Augment
	c, h, w   int
	mean, inv []float32 // normalisation, expanded
	fill      []float32 // cutout fill, expanded (zeros when normalising)
	scratch   []float32 // one image
}

func newAugmenter(a Augment, c, h, w int, fill []float32) *augmenter {
	g := &augmenter{a: a, c: c, h: h, w: w, scratch: make([]float32, c*h*w)}
	if a.Normalize != nil {
		g.mean = perChannel(a.Normalize.Mean, c)
		g.inv = perChannel(a.Normalize.Std, c)
		for i, s := range g.inv {
			g.inv[i] = 1 / s
		}
		g.fill = make([]float32, c)
	} else {
		g.fill = perChannel(fill, c)
	}
	return g
}

// apply augments one CHW image in place.
func (g *augmenter) apply(img []float32, rng *rand.Rand) {
	c, h, w := g.c, g.h, g.w
	a := g.a
	if a.CropPad > 0 || a.Flip {
		dy, dx := 0, 0
		if a.CropPad > 0 {
			dy = rng.IntN(2*a.CropPad+1) - a.CropPad
			dx = rng.IntN(2*a.CropPad+1) - a.CropPad
		}
		flip := a.Flip && rng.IntN(2) == 1
		if dy != 0 || dx != 0 || flip {
			src := g.scratch
			copy(src, img)
			for ch := range c {
				plane := src[ch*h*w : (ch+1)*h*w]
				out := img[ch*h*w : (ch+1)*h*w]
				for y := range h {
					sy := y + dy
					row := out[y*w : (y+1)*w]
					if sy < 0 || sy >= h {
						clear(row)
						continue
					}
					srow := plane[sy*w : (sy+1)*w]
					for x := range w {
						xx := x
						if flip {
							xx = w - 1 - x
						}
						sx := xx + dx
						if sx < 0 || sx >= w {
							row[x] = 0
						} else {
							row[x] = srow[sx]
						}
					}
				}
			}
		}
	}
	if g.mean != nil {
		for ch := range c {
			m, s := g.mean[ch], g.inv[ch]
			plane := img[ch*h*w : (ch+1)*h*w]
			for i, v := range plane {
				plane[i] = (v - m) * s
			}
		}
	}
	if a.Cutout > 0 {
		cy, cx := rng.IntN(h), rng.IntN(w)
		y1, y2 := max(cy-a.Cutout/2, 0), min(cy+a.Cutout/2, h)
		x1, x2 := max(cx-a.Cutout/2, 0), min(cx+a.Cutout/2, w)
		for ch := range c {
			v := g.fill[ch]
			for y := y1; y < y2; y++ {
				row := img[(ch*h+y)*w : (ch*h+y+1)*w]
				for x := x1; x < x2; x++ {
					row[x] = v
				}
			}
		}
	}
}

// DefaultNorm returns the normalisation constants the reference code uses
// for a dataset: DARTS' for CIFAR-10 ([0.49139968, 0.48215827, 0.44653124],
// [0.24703233, 0.24348505, 0.26158768]), NAS-Bench-201's for CIFAR-100 and
// ImageNet16, the usual (0.1307, 0.3081) for MNIST and (0.2860, 0.3530) for
// Fashion-MNIST. It returns nil for other names (synthetic).
func DefaultNorm(name string) *Norm {
	canon, _, err := canonicalName(name)
	if err != nil {
		return nil
	}
	d255 := func(v ...float32) []float32 {
		for i := range v {
			v[i] /= 255
		}
		return v
	}
	switch {
	case canon == "mnist":
		return &Norm{Mean: []float32{0.1307}, Std: []float32{0.3081}}
	case canon == "fashion-mnist":
		return &Norm{Mean: []float32{0.2860}, Std: []float32{0.3530}}
	case canon == "cifar10":
		return &Norm{Mean: []float32{0.49139968, 0.48215827, 0.44653124}, Std: []float32{0.24703233, 0.24348505, 0.26158768}}
	case canon == "cifar100":
		return &Norm{Mean: d255(129.3, 124.1, 112.4), Std: d255(68.2, 65.4, 70.4)}
	case strings.HasPrefix(canon, "imagenet16"):
		return &Norm{Mean: d255(122.68, 116.66, 104.01), Std: d255(63.22, 61.26, 65.09)}
	}
	return nil
}

// DefaultAugment returns the training augmentation of the reference
// pipelines for a dataset, in pixel units (Normalize nil: the model
// normalises, and attacks see [0,1] images):
//
//   - cifar10, cifar100: crop with padding 4 and flip (DARTS search and
//     evaluation, biotorch); with cutout, Cutout 16 (DARTS evaluation);
//   - imagenet16-N: crop with padding 2 and flip (NAS-Bench-201); with
//     cutout, Cutout 8 (half the side);
//   - mnist, fashion-mnist, synthetic: nothing (no flips for digits); with
//     cutout, Cutout 14 (half the side).
//
// Set Normalize (e.g. to DefaultNorm(name)) to normalise in the loader.
func DefaultAugment(name string, cutout bool) Augment {
	canon, _, _ := canonicalName(name)
	var a Augment
	switch {
	case canon == "cifar10" || canon == "cifar100":
		a = Augment{CropPad: 4, Flip: true}
		if cutout {
			a.Cutout = 16
		}
	case strings.HasPrefix(canon, "imagenet16"):
		a = Augment{CropPad: 2, Flip: true}
		if cutout {
			a.Cutout = 8
		}
	default:
		if cutout {
			a.Cutout = 14
		}
	}
	return a
}

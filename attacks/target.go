package attacks

import (
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/bionaslab/bionas/nn"
)

// TargetMode chooses the classes a targeted attack pushes images to, as
// torchattacks' set_mode_targeted_* (REFERENCE.md §4.1). The zero value is
// untargeted.
type TargetMode string

// The target modes.
const (
	Untargeted TargetMode = ""
	// TargetRandom draws, per image, a class uniformly among those ≠ label.
	TargetRandom TargetMode = "random"
	// TargetLeastLikely takes the Kth smallest clean logit among the
	// classes ≠ label (K = 1: the least likely class).
	TargetLeastLikely TargetMode = "least-likely"
	// TargetFixed uses Targeting.Classes as the targets (torchattacks'
	// set_mode_targeted_by_label, where the passed labels are the targets).
	TargetFixed TargetMode = "fixed"
	// TargetFunc calls Targeting.Func.
	TargetFunc TargetMode = "func"
)

// Targeting configures the targeted mode of FGSM, PGD, One-Pixel and
// Square (the attacks for which torchattacks has one). Targets are chosen
// once, from the clean images, when the attack starts.
type Targeting struct {
	Mode TargetMode
	// Kth is the rank for TargetLeastLikely (0 means 1).
	Kth int
	// Classes are the targets for TargetFixed, one per image.
	Classes []int
	// Func returns the targets for TargetFunc from the clean images and
	// labels.
	Func func(x *nn.Tensor, labels []int) []int
}

// ParseTargetMode accepts "", "none", "random", "least-likely" and "fixed"
// ("func" needs code).
func ParseTargetMode(s string) (TargetMode, error) {
	switch TargetMode(s) {
	case "", "none":
		return Untargeted, nil
	case TargetRandom, TargetLeastLikely, TargetFixed:
		return TargetMode(s), nil
	}
	return "", fmt.Errorf("unknown target mode %q: want none, random, least-likely or fixed", s)
}

// Targeted reports whether t asks for a targeted attack.
func (t Targeting) Targeted() bool { return t.Mode != Untargeted }

// validate checks the settings that do not need the batch.
func (t Targeting) validate() error {
	switch t.Mode {
	case Untargeted, TargetRandom, TargetFixed:
	case TargetLeastLikely:
		if t.Kth < 0 {
			return fmt.Errorf("target least-likely: Kth %d < 0", t.Kth)
		}
	case TargetFunc:
		if t.Func == nil {
			return fmt.Errorf("target func: Func is nil")
		}
	default:
		return fmt.Errorf("unknown target mode %q", t.Mode)
	}
	return nil
}

// targets returns one target per image, or nil when untargeted. clean
// holds the model's logits on the clean images (needed for the number of
// classes and by least-likely).
func (t Targeting) targets(x *nn.Tensor, labels []int, clean *nn.Tensor, rng *rand.Rand) ([]int, error) {
	n, k := clean.Shape[0], clean.Shape[1]
	var out []int
	switch t.Mode {
	case Untargeted:
		return nil, nil
	case TargetRandom:
		out = make([]int, n)
		for i, y := range labels {
			// uniform over the k−1 classes ≠ y
			c := rng.IntN(k - 1)
			if c >= y {
				c++
			}
			out[i] = c
		}
	case TargetLeastLikely:
		kth := max(t.Kth, 1)
		if kth > k-1 {
			return nil, fmt.Errorf("target least-likely: Kth %d but only %d classes other than the label", kth, k-1)
		}
		out = make([]int, n)
		for i, y := range labels {
			row := clean.Data[i*k : (i+1)*k]
			idx := make([]int, 0, k-1)
			for c := range k {
				if c != y {
					idx = append(idx, c)
				}
			}
			sort.SliceStable(idx, func(a, b int) bool { return row[idx[a]] < row[idx[b]] })
			out[i] = idx[kth-1]
		}
	case TargetFixed:
		out = append([]int(nil), t.Classes...)
	case TargetFunc:
		out = t.Func(x, labels)
	default:
		return nil, fmt.Errorf("unknown target mode %q", t.Mode)
	}
	if len(out) != n {
		return nil, fmt.Errorf("target %s: %d targets for %d images", t.Mode, len(out), n)
	}
	for i, c := range out {
		if c < 0 || c >= k {
			return nil, fmt.Errorf("target %s: target %d of image %d outside the %d classes", t.Mode, c, i, k)
		}
	}
	return out, nil
}

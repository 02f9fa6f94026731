package nn

import "math"

// Schedule gives the learning rate for an epoch (or, for the per-step
// schedules, for a step) counted from 0. Arguments below 0 are treated as 0
// and, for schedules with a length, arguments past the end as the end.
//
// DARTS (REFERENCE.md §2.3) uses Cosine per epoch, set at the start of each
// epoch e = 0..E−1: 0.025 at e=0 falling towards 0.001, never quite reaching
// it (PyTorch 0.3's intended behaviour, not the later off-by-one).
type Schedule interface {
	LR(epoch int) float32
}

// Cosine is cosine annealing from Base at epoch 0 to Min at epoch Epochs:
// lr_e = Min + (Base−Min)·(1+cos(π·e/Epochs))/2, the closed form of
// PyTorch's CosineAnnealingLR. Epochs ≤ 0 gives Base throughout.
type Cosine struct {
	Base, Min float32
	Epochs    int
}

func (s Cosine) LR(epoch int) float32 { return scheduleCosineAt(s.Base, s.Min, epoch, s.Epochs) }

// CosineStep is Cosine over optimizer steps instead of epochs, for runs
// that anneal within an epoch: LR(step) with step in 0..Steps.
type CosineStep struct {
	Base, Min float32
	Steps     int
}

func (s CosineStep) LR(step int) float32 { return scheduleCosineAt(s.Base, s.Min, step, s.Steps) }

func scheduleCosineAt(base, lo float32, e, n int) float32 {
	if n <= 0 {
		return base
	}
	e = min(max(e, 0), n)
	c := (1 + math.Cos(math.Pi*float64(e)/float64(n))) / 2
	return float32(float64(lo) + (float64(base)-float64(lo))*c)
}

// LinearDecay moves linearly from Start at epoch 0 to End at epoch Epochs and
// stays there. Epochs ≤ 0 gives End throughout.
type LinearDecay struct {
	Start, End float32
	Epochs     int
}

func (s LinearDecay) LR(epoch int) float32 {
	if s.Epochs <= 0 {
		return s.End
	}
	e := min(max(epoch, 0), s.Epochs)
	f := float64(e) / float64(s.Epochs)
	return float32(float64(s.Start) + (float64(s.End)-float64(s.Start))*f)
}

// Constant is a fixed learning rate: Constant(0.01).
type Constant float32

func (c Constant) LR(int) float32 { return float32(c) }

// MultiStep multiplies Base by Gamma at each milestone reached, as
// PyTorch's MultiStepLR: lr_e = Base·Gamma^(number of milestones ≤ e).
// Gamma 0 means PyTorch's default 0.1. Milestones need not be sorted.
type MultiStep struct {
	Base       float32
	Milestones []int
	Gamma      float32
}

func (s MultiStep) LR(epoch int) float32 {
	g := float64(s.Gamma)
	if g == 0 {
		g = 0.1
	}
	k := 0
	for _, m := range s.Milestones {
		if m <= epoch {
			k++
		}
	}
	return float32(float64(s.Base) * math.Pow(g, float64(k)))
}

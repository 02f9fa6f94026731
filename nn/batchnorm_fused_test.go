package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// bnInput returns an (n, c, h, w) tensor of N(0,1) values from seed,
// marked as needing gradients.
func bnInput(seed uint64, n, c, h, w int) *Tensor {
	rng := rand.New(rand.NewPCG(seed, 99))
	x := New(n, c, h, w)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	x.NeedsGrad = true
	return x
}

// bnSeed returns a fixed gradient to back-propagate from an output.
func bnSeed(n int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 7))
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// bnMaxDiff returns max |a−b| / (1 + max |b|).
func bnMaxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d, m float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
		m = max(m, math.Abs(float64(b[i])))
	}
	return d / (1 + m)
}

// TestBatchNormFastMatchesTwoPass: the fast BatchNormReLU (blocks, raw
// sums with a centred fallback, x̂ recomputed) gives the two-pass form's
// outputs, gradients and running statistics, with and without the ReLU.
func TestBatchNormFastMatchesTwoPass(t *testing.T) {
	for _, tc := range []struct {
		name          string
		train, affine bool
		relu          bool
		offset        float32 // added to the input: large values test the centred sums
	}{
		{"train", true, false, false, 3},
		{"train affine", true, true, false, 3},
		{"eval affine", false, true, false, 3},
		{"train relu", true, true, true, 3},
		{"eval relu", false, false, true, 3},
		{"train large mean", true, true, true, 300},
		{"eval large mean", false, true, false, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := NewBatchNorm2d("bn", 3, tc.affine)
			ours := NewBatchNorm2d("bn", 3, tc.affine)
			if tc.affine {
				for i := range 3 {
					ref.Weight.Data[i], ref.Bias.Data[i] = 0.5+float32(i), float32(i)-1
					ours.Weight.Data[i], ours.Bias.Data[i] = ref.Weight.Data[i], ref.Bias.Data[i]
				}
			}
			for i := range 3 { // non-trivial running statistics for evaluation
				ref.RunningMean.Data[i], ref.RunningVar.Data[i] = tc.offset+0.3*float32(i), 1+float32(i)
				ours.RunningMean.Data[i], ours.RunningVar.Data[i] = ref.RunningMean.Data[i], ref.RunningVar.Data[i]
			}
			x1 := bnInput(1, 2, 3, 40, 33) // planes longer than one block, with a tail
			for i := range x1.Data {
				x1.Data[i] = tc.offset + 2*x1.Data[i] // a mean far from 0
			}
			x2 := x1.Clone()
			seed := bnSeed(x1.Len(), 2)

			g1 := NewGraph(tc.train, nil)
			y1 := batchNormTwoPass(g1, ref, x1)
			if tc.relu {
				y1 = g1.ReLU(y1)
			}
			g1.BackwardFrom(y1, seed)
			g2 := NewGraph(tc.train, nil)
			y2 := BatchNormReLU(g2, ours, x2, tc.relu)
			g2.BackwardFrom(y2, seed)

			for _, c := range []struct {
				what string
				a, b []float32
			}{
				{"output", y2.Data, y1.Data}, {"input gradient", x2.Grad, x1.Grad},
				{"running mean", ours.RunningMean.Data, ref.RunningMean.Data}, {"running var", ours.RunningVar.Data, ref.RunningVar.Data},
			} {
				if d := bnMaxDiff(c.a, c.b); d > 2e-5 {
					t.Errorf("%s differs from the two-pass form by %.3g", c.what, d)
				}
			}
			if tc.affine {
				if d := bnMaxDiff(ours.Weight.Grad, ref.Weight.Grad); d > 2e-5 {
					t.Errorf("weight gradient differs by %.3g", d)
				}
				if d := bnMaxDiff(ours.Bias.Grad, ref.Bias.Grad); d > 2e-5 {
					t.Errorf("bias gradient differs by %.3g", d)
				}
			}
		})
	}
}

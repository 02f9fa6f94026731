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

// batchNormTwoPass is BatchNorm2d's forward and backward written out
// plainly (float64 sums per channel, x̂ stored): the oracle that tests
// hold the fast BatchNormReLU to.
func batchNormTwoPass(g *Graph, bn *BatchNorm2d, x *Tensor) *Tensor {
	train := g.Training()
	n, c, h, w := bn.InputDims(x, train)
	hw, m := h*w, n*h*w
	mean, invstd := make([]float32, c), make([]float32, c)
	var batchVar []float64
	if train {
		batchVar = make([]float64, c)
		parRows(c, 2*m, func(lo, hi int) {
			for ch := lo; ch < hi; ch++ {
				var s float64
				for b := range n {
					for _, v := range x.Data[(b*c+ch)*hw : (b*c+ch+1)*hw] {
						s += float64(v)
					}
				}
				mu := s / float64(m)
				var ss float64 // two passes: no cancellation
				for b := range n {
					for _, v := range x.Data[(b*c+ch)*hw : (b*c+ch+1)*hw] {
						d := float64(v) - mu
						ss += d * d
					}
				}
				batchVar[ch] = ss / float64(m)
				mean[ch] = float32(mu)
				invstd[ch] = float32(1 / math.Sqrt(batchVar[ch]+float64(bn.Eps)))
			}
		})
		mom := float64(bn.Momentum)
		for ch := range c {
			rm, rv := &bn.RunningMean.Data[ch], &bn.RunningVar.Data[ch]
			*rm = float32((1-mom)*float64(*rm) + mom*float64(mean[ch]))
			*rv = float32((1-mom)*float64(*rv) + mom*batchVar[ch]*float64(m)/float64(m-1))
		}
	} else {
		copy(mean, bn.RunningMean.Data)
		for ch, v := range bn.RunningVar.Data {
			invstd[ch] = float32(1 / math.Sqrt(float64(v)+float64(bn.Eps)))
		}
	}
	weight := func(ch int) float32 {
		if bn.Weight == nil {
			return 1
		}
		return bn.Weight.Data[ch]
	}
	rec := g.Records(x, bn.Weight, bn.Bias)
	var xhat []float32 // kept for backward
	if rec {
		xhat = make([]float32, x.Len())
	}
	y := g.Alloc(x.Shape...)
	parRows(n*c, hw, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			ch := p % c
			mu, is, wt := mean[ch], invstd[ch], weight(ch)
			var bias float32
			if bn.Bias != nil {
				bias = bn.Bias.Data[ch]
			}
			for i := p * hw; i < (p+1)*hw; i++ {
				xh := (x.Data[i] - mu) * is
				if rec {
					xhat[i] = xh
				}
				y.Data[i] = wt*xh + bias
			}
		}
	})
	if !rec {
		return y
	}
	g.Record(y, func() {
		var dx, dw, db []float32
		if x.NeedsGrad {
			dx = x.GradBuf()
		}
		if bn.Weight != nil && bn.Weight.NeedsGrad {
			dw = bn.Weight.GradBuf()
		}
		if bn.Bias != nil && bn.Bias.NeedsGrad {
			db = bn.Bias.GradBuf()
		}
		dy := y.Grad
		parRows(c, 2*m, func(lo, hi int) {
			for ch := lo; ch < hi; ch++ {
				var sdy, sdyx float64
				for b := range n {
					for i := (b*c + ch) * hw; i < (b*c+ch+1)*hw; i++ {
						sdy += float64(dy[i])
						sdyx += float64(dy[i]) * float64(xhat[i])
					}
				}
				if dw != nil {
					dw[ch] += float32(sdyx)
				}
				if db != nil {
					db[ch] += float32(sdy)
				}
				if dx == nil {
					continue
				}
				k := weight(ch) * invstd[ch]
				// Training: dx = w·σ⁻¹·(dy − mean(dy) − x̂·mean(dy·x̂)).
				var mdy, mdyx float32
				if train {
					mdy, mdyx = float32(sdy/float64(m)), float32(sdyx/float64(m))
				}
				for b := range n {
					for i := (b*c + ch) * hw; i < (b*c+ch+1)*hw; i++ {
						dx[i] += k * (dy[i] - mdy - xhat[i]*mdyx)
					}
				}
			}
		})
	})
	return y
}

// BatchNorm's input gradient lent unzeroed by an arena (NaN-filled here)
// is overwritten by its first consumer and added to by the second, in
// training and evaluation, with and without the ReLU, on plain and
// centred channels: the sum of each consumer's gradient on its own.
func TestBatchNormInputGradientOnAStaleArenaBuffer(t *testing.T) {
	for _, train := range []bool{true, false} {
		for _, relu := range []bool{false, true} {
			x := randTensor(6, 1, 3, 4, 5, 5)
			for i := 0; i < 25; i++ {
				x.Data[i] += 40 // channel 0 of image 0: mean ≫ spread, the centred path
			}
			x.NeedsGrad = true
			seeds := [2][]float32{randTensor(7, 1, x.Shape...).Data, randTensor(8, 1, x.Shape...).Data}
			bn := func(i int) *BatchNorm2d {
				b := NewBatchNorm2d("bn", 4, true)
				b.Weight.Data[1] = float32(2 + i)
				b.RunningVar.Data[0] = 1e-4 // evaluation: channel 0 centred too
				b.RunningMean.Data[0] = 40
				return b
			}
			// Each consumer alone, on a plain tensor.
			want := make([]float64, x.Len())
			for i := range 2 {
				x.Grad = nil
				g := NewGraph(train, nil)
				g.BackwardFrom(BatchNormReLU(g, bn(i), x, relu), seeds[i])
				for j, v := range x.Grad {
					want[j] += float64(v)
				}
			}
			pool := &ArenaPool{}
			stale := pool.NewArena()
			for range 4 {
				buf := stale.Get(x.Len())
				for i := range buf {
					buf[i] = float32(math.NaN())
				}
			}
			stale.Reset()
			g := NewGraph(train, nil)
			g.Arena = pool.NewArena()
			v := g.Arena.View(x)
			y0, y1 := BatchNormReLU(g, bn(0), v, relu), BatchNormReLU(g, bn(1), v, relu)
			y1.Grad, y0.Grad = seeds[1], seeds[0] // y1's backward runs first
			g.BackwardSeeded()
			for i, w := range want {
				if got := float64(v.Grad[i]); !(math.Abs(got-w) <= 1e-5*(1+math.Abs(w))) {
					t.Fatalf("train=%v relu=%v: dx[%d] = %v on a stale buffer, want %v", train, relu, i, got, w)
				}
			}
		}
	}
}

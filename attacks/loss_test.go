package attacks

import (
	"math"
	"testing"

	"github.com/bionaslab/bionas/nn"
)

// TestLossGradients checks each objective's logit gradient against central
// finite differences of the summed (or mean) values.
func TestLossGradients(t *testing.T) {
	z := nn.FromSlice([]float32{
		0.3, -1.2, 2.0, 0.5, 0.1,
		1.5, 1.4, -0.3, 0.0, 0.9,
		-0.5, 0.2, 0.25, 2.5, -1.0,
	}, 3, 5)
	y := []int{2, 0, 1}
	p := softmaxRows(nn.FromSlice([]float32{1, 0, 0, 2, 0, 0, 1, 1, 0, 0, 3, 2, 1, 0, 0}, 3, 5))
	cases := []struct {
		name string
		f    lossFunc
		mean bool
	}{
		{"ce mean", ceLoss(y, 1, true, false), true},
		{"ce targeted sum", ceLoss(y, -1, false, false), false},
		{"dlr", dlrLoss(y, false), false},
		{"kl", klLoss(p, false), false},
	}
	for _, c := range cases {
		_, dl := c.f(z)
		total := func(zz *nn.Tensor) float64 {
			v, _ := c.f(zz)
			var s float64
			for _, x := range v {
				s += float64(x)
			}
			if c.mean {
				s /= 3
			}
			return s
		}
		for i := range z.Data {
			const h = 1e-3
			zp, zm := z.Clone(), z.Clone()
			zp.Data[i] += h
			zm.Data[i] -= h
			fd := (total(zp) - total(zm)) / (2 * h)
			if math.Abs(fd-float64(dl[i])) > 2e-3 {
				t.Fatalf("%s: d/dz[%d] = %v, finite difference %v", c.name, i, dl[i], fd)
			}
		}
	}
}

// TestDLRValue pins DLR on hand-computed rows.
func TestDLRValue(t *testing.T) {
	z := nn.FromSlice([]float32{4, 1, 2, 0, 1, 3, 2, 0}, 2, 4)
	v, _ := dlrLoss([]int{0, 0}, false)(z)
	// row 0: predicted 0 = y: −(4 − 2)/(4 − 1) ; row 1: −(1 − 3)/(3 − 1)
	if math.Abs(float64(v[0])+2.0/3) > 1e-6 || math.Abs(float64(v[1])-1) > 1e-6 {
		t.Fatalf("DLR %v, want [-0.667 1]", v)
	}
}

func TestMargin(t *testing.T) {
	row := []float32{1, 3, 2}
	if m := margin(row, 1, false); m != 1 {
		t.Fatalf("untargeted margin %v", m)
	}
	if m := margin(row, 2, true); m != 1 {
		t.Fatalf("targeted margin %v", m)
	}
}

// TestUnitGradientsKeepTheSign: unit-scaled rows are positive multiples of
// the plain gradient rows.
func TestUnitGradientsKeepTheSign(t *testing.T) {
	z := nn.FromSlice([]float32{0.3, -1.2, 2.0, 0.5, 1.5, 1.4, -0.3, 0.0, -0.5, 0.2, 0.25, 2.5}, 3, 4)
	y := []int{2, 0, 1}
	p := softmaxRows(nn.FromSlice([]float32{1, 0, 0, 2, 0, 1, 1, 0, 3, 2, 1, 0}, 3, 4))
	pairs := [][2]lossFunc{
		{ceLoss(y, 1, true, false), ceLoss(y, 1, true, true)},
		{ceLoss(y, -1, false, false), ceLoss(y, -1, false, true)},
		{dlrLoss(y, false), dlrLoss(y, true)},
		{klLoss(p, false), klLoss(p, true)},
	}
	for pi, pr := range pairs {
		_, plain := pr[0](z)
		_, unit := pr[1](z)
		for r := range 3 {
			var m float64
			for i := r * 4; i < r*4+4; i++ {
				m = math.Max(m, math.Abs(float64(unit[i])))
			}
			if m == 0 { // a zero gradient stays zero (DLR is constant when y ranks third)
				for i := r * 4; i < r*4+4; i++ {
					if plain[i] != 0 {
						t.Fatalf("pair %d row %d: unit row zero, plain %v", pi, r, plain[r*4:r*4+4])
					}
				}
				continue
			}
			if math.Abs(m-1) > 1e-6 {
				t.Fatalf("pair %d row %d: max |unit| = %v", pi, r, m)
			}
			c := 0.0 // plain = c·unit
			for i := r * 4; i < r*4+4; i++ {
				if unit[i] != 0 {
					c = float64(plain[i] / unit[i])
					break
				}
			}
			if !(c > 0) {
				t.Fatalf("pair %d row %d: ratio %v", pi, r, c)
			}
			for i := r * 4; i < r*4+4; i++ {
				if math.Abs(float64(plain[i])-c*float64(unit[i])) > 1e-6 {
					t.Fatalf("pair %d row %d: plain %v is not %v × unit %v", pi, r, plain[i], c, unit[i])
				}
			}
		}
	}
}

// TestSaturatedSoftmax: with a logit gap of 10⁶ the plain CE gradient is
// exactly zero in floating point, while the unit one keeps the limit
// direction: −1 at the label, +1 at the runner-up, 0 elsewhere. The same
// holds for KL to a one-hot clean distribution.
func TestSaturatedSoftmax(t *testing.T) {
	z := nn.FromSlice([]float32{1e6, 0, 3e5, -1e6}, 1, 4)
	_, plain := ceLoss([]int{0}, 1, false, false)(z)
	for _, v := range plain {
		if v != 0 {
			t.Fatalf("plain gradient %v: expected total underflow", plain)
		}
	}
	want := []float32{-1, 0, 1, 0}
	_, unit := ceLoss([]int{0}, 1, false, true)(z)
	_, kl := klLoss([]float32{1, 0, 0, 0}, true)(z)
	for i := range want {
		if unit[i] != want[i] || kl[i] != want[i] {
			t.Fatalf("unit CE %v, unit KL %v; want %v", unit, kl, want)
		}
	}
}

package nn

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestHebbianUpdate checks the intended Hebbian rule on a case small enough
// to compute by hand: ΔW[o, c, a, b] = LR·Σ_positions ŷ_o·p̂_{c,a,b}.
func TestHebbianUpdate(t *testing.T) {
	h, err := NewHebbConv2d(HebbConfig{Name: "hebb", In: 2, Out: 3, Kernel: 3, Padding: 1, LR: 0.5}, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	x := randTensor(3, 1, 2, 2, 4, 5)
	w0 := slices.Clone(h.W.Data)
	gm, _ := newConvGeom(x.Shape, h.W.Shape, 1, 1, 1, 1)
	y := naiveConv(gm, x.Data, w0)

	// Expected update, straight from the definition (float64).
	want := make([]float64, len(w0))
	rows := 2 * 9
	for n := 0; n < 2; n++ {
		for i := 0; i < 4; i++ {
			for j := 0; j < 5; j++ {
				p := make([]float64, rows)
				var pn float64
				for c := 0; c < 2; c++ {
					for a := 0; a < 3; a++ {
						for b := 0; b < 3; b++ {
							ih, iw := i-1+a, j-1+b
							if ih >= 0 && iw >= 0 && ih < 4 && iw < 5 {
								p[(c*3+a)*3+b] = float64(x.Data[((n*2+c)*4+ih)*5+iw])
							}
							pn += p[(c*3+a)*3+b] * p[(c*3+a)*3+b]
						}
					}
				}
				yv := make([]float64, 3)
				var yn float64
				for o := 0; o < 3; o++ {
					yv[o] = float64(y[((n*3+o)*4+i)*5+j])
					yn += yv[o] * yv[o]
				}
				for o := 0; o < 3; o++ {
					for r := 0; r < rows; r++ {
						want[o*rows+r] += yv[o] / math.Sqrt(yn) * p[r] / math.Sqrt(pn)
					}
				}
			}
		}
	}
	// A training forward that is not a weight step's (an architecture
	// step, say) leaves the weights alone.
	h.Forward(NewGraph(true, nil), x)
	if !slices.Equal(w0, h.W.Data) {
		t.Fatal("a training forward outside a weight step changed the Hebbian weights")
	}
	out := h.Forward(weightStepGraph(), x)
	for i := range want {
		exp := math.Min(1, math.Max(-1, float64(w0[i])+0.5*want[i]))
		if math.Abs(float64(h.W.Data[i])-exp) > 1e-4 {
			t.Fatalf("weight %d = %g, want %g", i, h.W.Data[i], exp)
		}
	}
	assertClose(t, "output uses the updated weights", out.Data, naiveConv(gm, x.Data, h.W.Data), 1e-4)

	// Evaluation forwards never change the weights, even marked WeightStep.
	w1 := slices.Clone(h.W.Data)
	h.Forward(nil, x)
	h.Forward(NewGraph(false, nil), x)
	ev := NewGraph(false, nil)
	ev.WeightStep = true
	h.Forward(ev, x)
	if !slices.Equal(w1, h.W.Data) {
		t.Fatal("an evaluation forward changed the Hebbian weights")
	}
}

// weightStepGraph is the training graph of a weight step, in which
// Hebbian layers learn.
func weightStepGraph() *Graph {
	g := NewGraph(true, nil)
	g.WeightStep = true
	return g
}

func TestHebbianNormalizeAndGradient(t *testing.T) {
	h, _ := NewHebbConv2d(HebbConfig{Name: "hebb", In: 2, Out: 3, Kernel: 3, Padding: 1, Normalize: true}, rand.New(rand.NewPCG(1, 1)))
	x := randTensor(3, 1, 2, 2, 4, 5)
	h.Forward(weightStepGraph(), x)
	for o := 0; o < 3; o++ {
		var s float64
		for _, v := range h.W.Data[o*18 : (o+1)*18] {
			s += float64(v) * float64(v)
		}
		if math.Abs(s-1) > 1e-4 {
			t.Fatalf("filter %d has squared norm %g, want 1", o, s)
		}
	}
	// The error passes down exactly (through Wᵀ) in evaluation mode.
	checkGrad(t, "hebb input", false, func(g *Graph) *Tensor { return h.Forward(g, x) }, x)
	if len(h.Params()) != 0 || len(h.Buffers()) != 1 {
		t.Fatal("Hebbian weights must be a buffer, not a parameter")
	}
}

func TestPredictiveCodingConv(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	cases := []PCConfig{
		{Name: "same", In: 3, Out: 3, Kernel: 3, Padding: 1, Steps: 2},
		{Name: "proj", In: 2, Out: 4, Kernel: 3, Padding: 1, Steps: 1, Gate: true},
		{Name: "stride", In: 2, Out: 2, Kernel: 3, Padding: 1, Stride: 2, Steps: 3, Gate: true, Normalize: true},
	}
	for _, cfg := range cases {
		t.Run(cfg.Name, func(t *testing.T) {
			p, err := NewPCConv2d(cfg, rng)
			if err != nil {
				t.Fatal(err)
			}
			// Move e away from 1 so the steps do not cancel the conv out.
			for i := range p.E.Data {
				p.E.Data[i] = 0.3 + 0.1*float32(i)
			}
			x := randTensor(9, 1, 2, cfg.In, 6, 6)
			inputs := append([]*Tensor{x}, Tensors(p.Params())...)
			checkGrad(t, cfg.Name, true, func(g *Graph) *Tensor { return p.Forward(g, x) }, inputs...)
		})
	}
	// With e = 1, no gate and matching shapes, one step predicts x exactly.
	p, _ := NewPCConv2d(PCConfig{Name: "id", In: 2, Out: 2, Kernel: 3, Padding: 1}, rng)
	x := randTensor(2, 1, 1, 2, 5, 5)
	assertClose(t, "one step with e=1", p.Forward(nil, x).Data, x.Data, 1e-5)
}

// TestPCConvGateLearnsAtInit: at initialisation (e = 1) the convolution of
// an ungated predictive-coding conv gets exactly zero gradient (its output
// is x̃ whatever the weights, for any number of steps); with the gate it
// gets a gradient from the first step.
func TestPCConvGateLearnsAtInit(t *testing.T) {
	for _, cfg := range []PCConfig{
		{Name: "same", In: 3, Out: 3, Kernel: 3, Padding: 1},
		{Name: "steps", In: 3, Out: 3, Kernel: 3, Padding: 1, Steps: 3},
		{Name: "proj", In: 2, Out: 3, Kernel: 3, Padding: 1, Stride: 2},
	} {
		for _, gate := range []bool{false, true} {
			cfg.Gate = gate
			p, err := NewPCConv2d(cfg, rand.New(rand.NewPCG(7, 7)))
			if err != nil {
				t.Fatal(err)
			}
			x := randTensor(4, 1, 2, cfg.In, 6, 6)
			g := NewGraph(true, nil)
			y := p.Forward(g, x)
			g.BackwardFrom(y, randTensor(5, 1, y.Shape...).Data)
			var n float64
			for _, v := range p.Conv.W.Grad {
				n += float64(v) * float64(v)
			}
			if gate != (n > 0) {
				t.Errorf("%s, gate %v: conv weight gradient squared norm %g", cfg.Name, gate, n)
			}
		}
	}
}

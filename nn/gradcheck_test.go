package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// checkGrad compares the gradients that Backward computes for inputs with
// central finite differences of L = Σ r·f(inputs), where r is a fixed random
// projection. f must build its output on the graph it is given (the graph is
// in training mode iff train is true) and be deterministic.
//
// Float32 finite differences are noisy, so the step is 1e-2 and the
// tolerance is relative to the larger magnitude; kinks (ReLU, max) are
// avoided by the callers' choice of inputs.
func checkGrad(t *testing.T, name string, train bool, f func(g *Graph) *Tensor, inputs ...*Tensor) {
	t.Helper()
	for _, x := range inputs {
		x.NeedsGrad = true
		x.Grad = nil
	}
	g := &Graph{Train: train}
	y := f(g)
	rng := rand.New(rand.NewPCG(7, 7))
	r := make([]float32, y.Len())
	for i := range r {
		r[i] = float32(rng.NormFloat64())
	}
	g.BackwardFrom(y, r)
	loss := func() float64 {
		out := f(&Graph{Train: train})
		var s float64
		for i, v := range out.Data {
			s += float64(v) * float64(r[i])
		}
		return s
	}
	const eps = 1e-2
	for xi, x := range inputs {
		if x.Grad == nil {
			t.Fatalf("%s: input %d got no gradient", name, xi)
		}
		// Check up to 40 coordinates spread over the tensor.
		stride := max(1, x.Len()/40)
		for i := 0; i < x.Len(); i += stride {
			old := x.Data[i]
			x.Data[i] = old + eps
			lp := loss()
			x.Data[i] = old - eps
			lm := loss()
			x.Data[i] = old
			num := (lp - lm) / (2 * eps)
			ana := float64(x.Grad[i])
			scale := math.Max(1, math.Max(math.Abs(num), math.Abs(ana)))
			if math.Abs(num-ana) > 2e-2*scale {
				t.Errorf("%s: input %d elem %d: analytic %.5f, numeric %.5f", name, xi, i, ana, num)
			}
		}
	}
}

// randTensor returns a tensor of N(0,1)·scale values from a seeded source.
func randTensor(seed uint64, scale float32, shape ...int) *Tensor {
	rng := rand.New(rand.NewPCG(seed, 1))
	t := New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64()) * scale
	}
	return t
}

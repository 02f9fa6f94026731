package attacks

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/bionaslab/bionas/nn"
)

// oracle is an attack's only access to the model: forward passes and input
// gradients in the attack's gradient mode, each counted as one query for
// every image it touches.
type oracle struct {
	m    Model
	mode GradMode
	// queries[i] counts the evaluations of batch image i.
	queries []int
	// rng drives the graph's stochastic ops; in evaluation mode there are
	// none, but a graph wants a source.
	rng *rand.Rand
}

// lossFunc computes, from logits (rows × K), the per-row value of an
// objective and the gradient, with respect to the logits, of the quantity
// whose input gradient the attack wants (a sum or a mean of the values).
type lossFunc func(logits *nn.Tensor) (values, dlogits []float32)

// count adds a query for each row of a batch whose rows are the batch
// images rows (nil: rows 0..n−1 are images 0..n−1).
func (o *oracle) count(n int, rows []int) {
	if rows == nil {
		for i := range n {
			o.queries[i]++
		}
		return
	}
	for _, r := range rows {
		o.queries[r]++
	}
}

// logits evaluates the model on x with no graph (inference).
func (o *oracle) logits(x *nn.Tensor, rows []int) *nn.Tensor {
	o.count(x.Shape[0], rows)
	out := o.m.Forward(nil, x)
	mustLogits(out, x.Shape[0])
	return out
}

// gradient evaluates the model on x on a recording evaluation graph,
// applies loss to the logits and backpropagates its gradient to x in the
// oracle's mode. It returns the logits, the loss values and dL/dx (zeros
// if the model does not depend on x).
func (o *oracle) gradient(x *nn.Tensor, rows []int, loss lossFunc) (logits *nn.Tensor, values, grad []float32) {
	o.count(x.Shape[0], rows)
	defer o.freeze()()
	g := nn.NewGraph(false, o.rng)
	defer g.Release() // a device model's step memory; everything read is on the host
	g.TrueGradient = o.mode == True
	// A leaf of our own: the caller's tensor keeps no gradient buffer.
	in := &nn.Tensor{Shape: slices.Clone(x.Shape), Data: x.Data, NeedsGrad: true}
	logits = o.m.Forward(g, in)
	mustLogits(logits, x.Shape[0])
	// DFA layers broadcast the error at the output; mark it before backward.
	g.SetOutput(logits)
	values, dl := loss(logits)
	g.BackwardFrom(logits, dl)
	grad = in.Grad
	if grad == nil {
		grad = make([]float32, x.Len())
	}
	return logits, values, grad
}

// freeze turns off NeedsGrad on the model's parameters and returns the
// function that turns it back on. Without it every gradient pass would
// also compute and accumulate weight gradients: wasted work, and garbage
// left in the optimizer's buffers.
func (o *oracle) freeze() (restore func()) {
	mod, ok := o.m.(nn.Module)
	if !ok {
		return func() {}
	}
	var frozen []*nn.Tensor
	for _, p := range mod.Params() {
		if p.T != nil && p.T.NeedsGrad {
			p.T.NeedsGrad = false
			frozen = append(frozen, p.T)
		}
	}
	return func() {
		for _, t := range frozen {
			t.NeedsGrad = true
		}
	}
}

// mustLogits panics unless out is (n, K): a model that returns something
// else is a programming error of the caller, not an input error.
func mustLogits(out *nn.Tensor, n int) {
	if len(out.Shape) != 2 || out.Shape[0] != n || out.Shape[1] < 2 {
		panic(fmt.Sprintf("attacks: the model returned shape %v for %d images; want logits (%d, K≥2)", out.Shape, n, n))
	}
}

// InputGradient returns the logits of m on x and the gradient, with respect
// to x, of the mean cross-entropy against labels, taken in the given mode.
// It is the quantity FGSM steps along, exposed for tests and for viewers
// that compare the two modes.
func InputGradient(m Model, x *nn.Tensor, labels []int, mode GradMode) (logits *nn.Tensor, grad []float32, err error) {
	mode, err = ParseGradMode(string(mode))
	if err != nil {
		return nil, nil, fmt.Errorf("input gradient: %w", err)
	}
	if x == nil || len(x.Shape) == 0 || x.Shape[0] != len(labels) || len(labels) == 0 {
		return nil, nil, fmt.Errorf("input gradient: %d labels for a batch of shape %v", len(labels), shapeOf(x))
	}
	o := &oracle{m: m, mode: mode, queries: make([]int, len(labels)), rng: rand.New(rand.NewPCG(0, 0))}
	logits, _, grad = o.gradient(x, nil, ceLoss(labels, 1, true, false))
	return logits, grad, nil
}

func shapeOf(t *nn.Tensor) []int {
	if t == nil {
		return nil
	}
	return t.Shape
}

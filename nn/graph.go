package nn

import (
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/bionaslab/bionas/nn/cpu"
)

// Graph records the ops of one forward pass so that Backward can run them in
// reverse. A nil *Graph is valid everywhere and means: inference, no
// recording, layers in evaluation mode.
type Graph struct {
	// Train selects training behaviour: batch statistics in BatchNorm,
	// dropout and drop-path active, brSF feedback redrawn.
	Train bool
	// WeightStep marks the forward of a weight step: a training forward
	// whose backward is followed by the weights' optimizer step. Layers
	// with a local learning rule (Hebbian convolutions) change their
	// weights only then (see LocalUpdates), not in every training-mode
	// forward: an architecture step on the validation half, an
	// evaluation or a candidate's scoring leaves them as they were.
	// nn.TrainBatch sets it; other training loops set it on the graph of
	// their weight steps.
	WeightStep bool
	// TrueGradient makes every layer send its error down through Wᵀ,
	// whatever its rule: the exact gradient of the forward function. The
	// attacks' "true" mode sets it; training never does.
	TrueGradient bool
	// Rand drives stochastic ops (dropout, drop-path). Nil means a fixed seed.
	Rand *rand.Rand
	// Arena, if set, lends the buffers of the tensors this graph's ops make
	// (outputs and their gradients); see Arena for their lifetime.
	Arena *Arena

	// inference makes Records false whatever the inputs (NewInference).
	inference bool

	tape   []func()
	output *Tensor // the network output whose gradient DFA layers broadcast

	// inputs, when not nil, collects the input of every named layer
	// (TapInputs); guarded by mu like held.
	inputs map[string]*Tensor

	mu   sync.Mutex // guards held: mixed-op units record from several goroutines
	held []*storage // device memory of this step (Release)
}

// NewGraph returns a recording graph in training or evaluation mode.
func NewGraph(train bool, rng *rand.Rand) *Graph {
	return &Graph{Train: train, Rand: rng}
}

// NewInference returns a graph that records nothing, in evaluation mode:
// a nil graph's semantics, plus step memory that Release gives back, which
// device evaluation needs (a nil graph leaves its device buffers to the
// garbage collector).
func NewInference() *Graph { return &Graph{inference: true} }

// Training reports whether g is in training mode (false for a nil graph).
func (g *Graph) Training() bool { return g != nil && g.Train }

// LocalUpdates reports whether layers with a local learning rule update
// their weights in this forward: g is a training graph of a weight step
// (Train and WeightStep).
func (g *Graph) LocalUpdates() bool { return g != nil && g.Train && g.WeightStep }

// Records reports whether an op on these inputs must be recorded: g is not
// nil and some input needs a gradient.
func (g *Graph) Records(inputs ...*Tensor) bool {
	if g == nil || g.inference {
		return false
	}
	for _, t := range inputs {
		if t != nil && t.NeedsGrad {
			return true
		}
	}
	return false
}

// Record appends a backward closure for out. It is called by ops after they
// computed out; the closure runs only if some gradient reached out.
func (g *Graph) Record(out *Tensor, backward func()) {
	out.NeedsGrad = true
	g.tape = append(g.tape, func() {
		if out.HasGrad() {
			backward()
		}
	})
}

// SetOutput marks the network output (the logits). Layers with the DFA rule
// take the gradient of the loss with respect to it as their global error.
func (g *Graph) SetOutput(t *Tensor) {
	if g != nil {
		g.output = t
	}
}

// ShareOutput makes from's marked output g's too, so that dfa layers on a
// graph made for part of from's forward (a recomputed mixed op) read the
// network's output error once from's backward has produced it.
func (g *Graph) ShareOutput(from *Graph) {
	if g == nil || from == nil || from.output == nil {
		return
	}
	o := from.output
	g.output = &Tensor{Shape: o.Shape, Data: o.Data, Grad: o.Grad, store: o.store, gstore: o.gstore}
}

// OutputError returns dL/d(output) during Backward, or nil if no output was
// marked or no gradient has reached it yet.
func (g *Graph) OutputError() *Tensor {
	if g == nil || g.output == nil || !g.output.HasGrad() {
		return nil
	}
	if o := g.output; o.store != nil {
		return &Tensor{Shape: o.Shape, store: o.gstore}
	}
	return &Tensor{Shape: g.output.Shape, Data: g.output.Grad}
}

// Rng returns the graph's random source, or a fixed-seed one.
func (g *Graph) Rng() *rand.Rand {
	if g == nil || g.Rand == nil {
		r := rand.New(rand.NewPCG(1, 2))
		if g != nil {
			g.Rand = r
		}
		return r
	}
	return g.Rand
}

// Backward seeds d(loss)/d(loss) = 1 (loss must hold one value) and runs
// the tape in reverse, accumulating gradients into every tensor that needs
// one. The tape is released afterwards, so a graph is backed through once.
func (g *Graph) Backward(loss *Tensor) {
	if loss.Len() != 1 {
		panic(fmt.Sprintf("nn.Graph.Backward: loss must be a scalar, got shape %v", loss.Shape))
	}
	if d := loss.Device(); d != nil {
		// The seed is set where the loss lives: no copy.
		mustDev(d, "seed the backward pass", d.Fill(loss.GradBufDev(), 1, 1))
		g.runTape()
		return
	}
	g.BackwardFrom(loss, []float32{1})
}

// BackwardWith is BackwardFrom for a caller that hands over grad as out's
// gradient buffer instead of having it copied; out must have no gradient
// yet, and grad belongs to the graph afterwards.
func (g *Graph) BackwardWith(out *Tensor, grad []float32) {
	if len(grad) != out.Len() || out.Grad != nil {
		panic(fmt.Sprintf("nn.Graph.BackwardWith: gradient of %d values for shape %v (out has a gradient: %v)", len(grad), out.Shape, out.Grad != nil))
	}
	out.Grad = grad
	g.runTape()
}

// BackwardFrom runs the tape in reverse with seed as the gradient of out.
// Used when the caller already holds dL/d(out) (for example the output
// error of an attack's custom loss).
func (g *Graph) BackwardFrom(out *Tensor, seed []float32) {
	if len(seed) != out.Len() {
		panic(fmt.Sprintf("nn.Graph.BackwardFrom: seed has %d values for shape %v", len(seed), out.Shape))
	}
	if d := out.Device(); d != nil {
		tmp, done := g.uploadScratch(d, seed, "a backward seed")
		mustDev(d, "seed the backward pass", d.Axpby(1, tmp, 1, out.GradBufDev(), out.Len()))
		done()
		g.runTape()
		return
	}
	if out.Grad == nil {
		if out.arena != nil {
			out.Grad = out.arena.get(len(seed), false) // overwritten next line
		} else {
			out.Grad = make([]float32, len(seed))
		}
		cpu.CopyParallel(out.Grad, seed)
	} else {
		cpu.Add(out.Grad, seed)
	}
	g.runTape()
}

// BackwardSeeded runs the tape in reverse with the gradients the caller
// has already put on the graph's outputs (Tensor.Alias(true), AxpyAt):
// the device's BackwardFrom, with no seed on the host.
func (g *Graph) BackwardSeeded() { g.runTape() }

// runTape runs the recorded closures in reverse and releases them.
func (g *Graph) runTape() {
	for i := len(g.tape) - 1; i >= 0; i-- {
		g.tape[i]()
		g.tape[i] = nil
	}
	g.tape = g.tape[:0]
}

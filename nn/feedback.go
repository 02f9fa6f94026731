package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/bionaslab/bionas/nn/rule"
)

// Feedback is the backward-path state of one conv or linear layer: which
// rule it follows and what that rule needs to build B (REFERENCE.md §1.3).
//
//   - bp:   B = W.
//   - fa:   B drawn once from the init distribution and never changed.
//   - usf:  B = Scale·Sign(W), Scale = the init std (xavier: sqrt(2/(fan_in+fan_out))).
//   - brsf: B = |R|·Sign(W) with R redrawn from the init distribution at every
//     training forward. R comes from the stream (Seed, Draws), so a restored
//     layer continues exactly where it stopped.
//   - frsf: B = |R|·Sign(W) with |R| drawn once (stored in B).
//   - dfa:  B maps the network's output error to this layer's input; shape
//     (classes, in, kh, kw) for conv and (classes, in) for linear.
type Feedback struct {
	Rule rule.Rule
	Init Init
	Seed uint64
	// Draws counts brSF redraws made in training forwards.
	Draws uint64
	// B holds fa's B, frsf's magnitudes |R| or dfa's B; nil otherwise.
	B *Tensor
	// Scale is the uSF scale and the bound-derived std of the init.
	Scale float32

	fanIn, fanOut int
	wShape        []int
}

// newFeedback builds the state of rule r for a weight of the given shape.
// classes is the network output size, needed only by dfa.
func newFeedback(r rule.Rule, init Init, seed uint64, wShape []int, groups, classes int) (*Feedback, error) {
	if !r.IsFeedback() {
		return nil, fmt.Errorf("rule %q is not a feedback rule for conv/linear layers (want one of bp, fa, dfa, usf, brsf, frsf)", r)
	}
	fi, fo := Fans(wShape)
	f := &Feedback{Rule: r, Init: init, Seed: seed, fanIn: fi, fanOut: fo, wShape: wShape}
	if init == "" {
		f.Init = Xavier
	}
	f.Scale = f.std(fi, fo)
	switch r {
	case rule.FA:
		f.B = New(wShape...)
		f.fill(f.B.Data, rand.New(rand.NewPCG(seed, 0)), fi, fo)
	case rule.FRSF:
		f.B = New(wShape...)
		f.fill(f.B.Data, rand.New(rand.NewPCG(seed, 0)), fi, fo)
		for i, v := range f.B.Data {
			f.B.Data[i] = float32(math.Abs(float64(v)))
		}
	case rule.DFA:
		if classes <= 0 {
			return nil, fmt.Errorf("rule dfa needs the number of network outputs (classes), got %d", classes)
		}
		shape := append([]int{classes}, wShape[1:]...)
		if len(wShape) == 4 {
			// conv: (classes, in, kh, kw) whatever the layer's groups
			shape = []int{classes, wShape[1] * groups, wShape[2], wShape[3]}
		}
		dfi, dfo := Fans(shape)
		f.B = New(shape...)
		f.fill(f.B.Data, rand.New(rand.NewPCG(seed, 0)), dfi, dfo)
	}
	return f, nil
}

func (f *Feedback) std(fanIn, fanOut int) float32 {
	if f.Init == Kaiming {
		return KaimingStd(fanIn)
	}
	return XavierStd(fanIn, fanOut)
}

// fill draws values from the layer's init distribution.
func (f *Feedback) fill(dst []float32, rng *rand.Rand, fanIn, fanOut int) {
	t := &Tensor{Shape: []int{len(dst)}, Data: dst}
	if f.Init == Kaiming {
		KaimingUniform(t, fanIn, rng)
		return
	}
	XavierUniform(t, fanIn, fanOut, rng)
}

// Effective returns the matrix the backward pass uses in place of W, for
// the current W. For brsf it draws a fresh R; advance says whether this draw
// counts (training forwards) or is a side draw that leaves the stream where
// it was (evaluation forwards whose gradient an attack asks for).
// It returns w itself for bp, the stored B for fa (callers must not modify
// either) and nil for dfa (which uses B directly).
func (f *Feedback) Effective(w []float32, advance bool) []float32 {
	switch f.Rule {
	case rule.BP:
		return w
	case rule.FA:
		return f.B.Data
	case rule.DFA:
		return nil
	case rule.USF:
		eff := make([]float32, len(w))
		for i, v := range w {
			eff[i] = f.Scale * Sign(v)
		}
		return eff
	case rule.FRSF:
		eff := make([]float32, len(w))
		for i, v := range w {
			eff[i] = f.B.Data[i] * Sign(v)
		}
		return eff
	case rule.BRSF:
		eff := f.drawR(len(w), advance)
		for i, v := range w {
			eff[i] = float32(math.Abs(float64(eff[i]))) * Sign(v)
		}
		return eff
	}
	panic(fmt.Sprintf("nn.Feedback.Effective: unknown rule %q", f.Rule))
}

// dfaOutputError is the global error a dfa layer (kind, layer) sends
// down: the gradient of the marked network output, which must hold n rows
// of classes values. It panics, naming the layer, when no output was
// marked or its shape is not the layer's B's.
func dfaOutputError(g *Graph, kind, layer string, n, classes int) *Tensor {
	e := g.OutputError()
	if e == nil {
		panic(fmt.Sprintf("%s %q: rule dfa needs the network output marked with Graph.SetOutput before Backward", kind, layer))
	}
	if e.Len() != n*classes {
		panic(fmt.Sprintf("%s %q: dfa output error has shape %v, want (%d, %d)", kind, layer, e.Shape, n, classes))
	}
	return e
}

// drawR returns brSF's next R (n values) from the stream (Seed, Draws+1),
// moving the stream on when advance. The device path draws the same R.
func (f *Feedback) drawR(n int, advance bool) []float32 {
	r := make([]float32, n)
	f.fill(r, rand.New(rand.NewPCG(f.Seed, f.Draws+1)), f.fanIn, f.fanOut)
	if advance {
		f.Draws++
	}
	return r
}

// Sign is torch.sign: −1, 0 or 1 (Sign(0) = 0), the uSF/brSF B's and the
// attacks' signed steps.
func Sign(v float32) float32 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// FeedbackState is the JSON form of a layer's feedback in a checkpoint
// sidecar. B itself (fa, frsf, dfa) travels in the safetensors file under
// "<layer>.feedback".
type FeedbackState struct {
	Rule  rule.Rule `json:"rule"`
	Init  Init      `json:"init"`
	Seed  uint64    `json:"seed"`
	Draws uint64    `json:"draws,omitempty"`
	Scale float32   `json:"scale"`
	Shape []int     `json:"b_shape,omitempty"`
}

// State returns the JSON-able part of f.
func (f *Feedback) State() FeedbackState {
	s := FeedbackState{Rule: f.Rule, Init: f.Init, Seed: f.Seed, Draws: f.Draws, Scale: f.Scale}
	if f.B != nil {
		s.Shape = f.B.Shape
	}
	return s
}

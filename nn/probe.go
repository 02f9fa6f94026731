package nn

import "math"

// What a measurement of learning dynamics (search.ProbeDynamics) needs from
// the engine: the input each layer read, so that the gradient with respect
// to it can be read after Backward; a layer's feedback state; and the angle
// between two vectors.

// TapInputs makes g remember, by layer name, the tensor that every conv,
// linear, Hebbian and predictive-coding layer reads in g's forwards (the
// layer's Forward argument). After Backward, Input(name).Grad is the
// gradient of the loss with respect to that tensor, as the graph's rules
// propagated it — the whole gradient of the tensor, through every op that
// read it, not only through the layer. Call it before the forward; a layer
// that runs twice on one graph is remembered by its last input.
func (g *Graph) TapInputs() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inputs = map[string]*Tensor{}
}

// Input returns the input the named layer read in g's forward, or nil if
// the layer did not run or TapInputs was not called.
func (g *Graph) Input(layer string) *Tensor {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inputs[layer]
}

// tapInput records x as the input of layer when g taps inputs; a no-op
// otherwise (one nil check on the forward path of every layer).
func (g *Graph) tapInput(layer string, x *Tensor) {
	if g == nil || g.inputs == nil {
		return
	}
	g.mu.Lock()
	g.inputs[layer] = x
	g.mu.Unlock()
}

// FeedbackOf returns the feedback state of a conv or linear layer (the
// rule layers of this package), nil for any other RuleLayer. The state is
// the layer's own: reading B or Draws is safe, changing them changes the
// layer.
func FeedbackOf(l RuleLayer) *Feedback {
	switch v := l.(type) {
	case *Conv2d:
		return v.Feedback
	case *Linear:
		return v.Feedback
	}
	return nil
}

// AngleDeg is the angle in degrees between a and b seen as vectors of one
// length, in float64, by Kahan's formula 2·atan2(|â − b̂|, |â + b̂|) (â =
// a/|a|): unlike acos of the cosine it is exactly 0 for b = a and stays
// accurate near 0° and 180°. It is NaN when either vector is zero (no
// direction) or the lengths differ.
func AngleDeg(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.NaN()
	}
	var na, nb float64
	for i := range a {
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 || math.IsInf(na, 0) || math.IsInf(nb, 0) || math.IsNaN(na+nb) {
		return math.NaN()
	}
	na, nb = math.Sqrt(na), math.Sqrt(nb)
	var diff, sum float64
	for i := range a {
		x, y := float64(a[i])/na, float64(b[i])/nb
		diff += (x - y) * (x - y)
		sum += (x + y) * (x + y)
	}
	return 2 * math.Atan2(math.Sqrt(diff), math.Sqrt(sum)) * 180 / math.Pi
}

package nn

import (
	"slices"
	"testing"
)

// BackwardWith gives the gradients BackwardFrom gives, taking the buffer
// instead of copying it, and refuses an output that already has a gradient.
func TestBackwardWithMatchesBackwardFrom(t *testing.T) {
	var got [2][]float32
	for i := range 2 {
		x := randTensor(4, 1, 2, 3, 5, 5)
		x.NeedsGrad = true
		g := NewGraph(true, nil)
		y := g.Scale(g.ReLU(x), 3)
		seed := randTensor(5, 1, 2, 3, 5, 5).Data
		if i == 0 {
			g.BackwardFrom(y, seed)
		} else {
			g.BackwardWith(y, seed)
			if &y.Grad[0] != &seed[0] {
				t.Error("BackwardWith copied the gradient")
			}
		}
		got[i] = x.Grad
	}
	if !slices.Equal(got[0], got[1]) {
		t.Fatal("BackwardWith and BackwardFrom give different gradients")
	}
	y := New(2)
	y.Grad = []float32{1, 1}
	defer func() {
		if recover() == nil {
			t.Error("BackwardWith accepted an output that has a gradient")
		}
	}()
	NewGraph(true, nil).BackwardWith(y, []float32{1, 2})
}

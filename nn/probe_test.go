package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bionaslab/bionas/nn/rule"
)

func TestAngleDeg(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b []float32
		want float64 // NaN: undefined
	}{
		{"same", []float32{0.3, -1.7, 2e-3}, []float32{0.3, -1.7, 2e-3}, 0},
		{"scaled", []float32{1, 2, 3}, []float32{4, 8, 12}, 0},
		{"orthogonal", []float32{1, 0}, []float32{0, 5}, 90},
		{"opposite", []float32{1, -2}, []float32{-2, 4}, 180},
		{"45", []float32{1, 0}, []float32{1, 1}, 45},
		{"zero", []float32{0, 0}, []float32{1, 1}, math.NaN()},
		{"lengths", []float32{1}, []float32{1, 1}, math.NaN()},
	} {
		got := AngleDeg(tc.a, tc.b)
		if math.IsNaN(tc.want) != math.IsNaN(got) || (!math.IsNaN(got) && math.Abs(got-tc.want) > 1e-12) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := AngleDeg([]float32{0.3, -1.7}, []float32{0.3, -1.7}); got != 0 {
		t.Errorf("a vector with itself: %v, want exactly 0", got)
	}
}

// TestTapInputs: the tapped input's gradient is what the layer's rule sends
// down (Bᵀ·dy: W under bp and under TrueGradient, B under fa); FeedbackOf
// reads the layer's own state.
func TestTapInputs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	l := MustLinear(LinearConfig{Name: "fc", In: 3, Out: 2, Rule: rule.FA}, rng)
	x := Param(4, 3)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	want := func(b []float32) []float32 { // dy = 1 everywhere: dx[n,i] = Σ_o b[o,i]
		out := make([]float32, 12)
		for n := range 4 {
			for i := range 3 {
				out[n*3+i] = b[i] + b[3+i]
			}
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		true_ bool
		b     []float32
	}{{"fa", false, FeedbackOf(l).B.Data}, {"true", true, l.W.Data}} {
		x.Grad = nil
		g := NewGraph(true, nil)
		g.TrueGradient = tc.true_
		g.TapInputs()
		y := l.Forward(g, x)
		if g.Input("fc") != x || g.Input("other") != nil {
			t.Fatalf("%s: tapped %v", tc.name, g.Input("fc"))
		}
		g.BackwardFrom(y, []float32{1, 1, 1, 1, 1, 1, 1, 1})
		w := want(tc.b)
		for i, v := range g.Input("fc").Grad {
			if math.Abs(float64(v-w[i])) > 1e-6 {
				t.Fatalf("%s: input gradient %v, want %v", tc.name, g.Input("fc").Grad, w)
			}
		}
	}
	if FeedbackOf(l) != l.Feedback || FeedbackOf(nil) != nil {
		t.Fatal("FeedbackOf does not return the layer's feedback")
	}
	var nilGraph *Graph
	if nilGraph.Input("fc") != nil {
		t.Fatal("a nil graph taps nothing")
	}
}

package nn

import (
	"math"
	"testing"
)

// awayFromZero pushes values within gap of 0 out to ±gap·2, so finite
// differences never straddle ReLU's kink.
func awayFromZero(t *Tensor, gap float32) *Tensor {
	for i, v := range t.Data {
		if v > -gap && v < gap {
			if v < 0 {
				t.Data[i] = -2 * gap
			} else {
				t.Data[i] = 2 * gap
			}
		}
	}
	return t
}

// nearSlice fails t unless got and want agree within tol elementwise.
func nearSlice(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > tol {
			t.Errorf("%s[%d] = %.6f, want %.6f", what, i, got[i], want[i])
		}
	}
}

func TestActivationGrad(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   func(g *Graph, x *Tensor) *Tensor
	}{
		{"ReLU", (*Graph).ReLU},
		{"Sigmoid", (*Graph).Sigmoid},
		{"Tanh", (*Graph).Tanh},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := awayFromZero(randTensor(1, 2, 2, 3, 4, 4), 0.05)
			checkGrad(t, tc.name, true, func(g *Graph) *Tensor { return tc.op(g, x) }, x)
		})
	}
}

func TestActivationValues(t *testing.T) {
	x := FromSlice([]float32{-2, -0.5, 0, 0.5, 2, -100, 100}, 7)
	for _, tc := range []struct {
		name string
		op   func(g *Graph, x *Tensor) *Tensor
		f    func(float64) float64
	}{
		{"ReLU", (*Graph).ReLU, func(v float64) float64 { return math.Max(v, 0) }},
		{"Sigmoid", (*Graph).Sigmoid, func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }},
		{"Tanh", (*Graph).Tanh, math.Tanh},
	} {
		y := tc.op(nil, x)
		want := make([]float32, x.Len())
		for i, v := range x.Data {
			want[i] = float32(tc.f(float64(v)))
		}
		nearSlice(t, tc.name, y.Data, want, 1e-6)
		if y.NeedsGrad {
			t.Errorf("%s on a nil graph marked its output as needing a gradient", tc.name)
		}
	}
}

func TestReLUSignedZerosAndMask(t *testing.T) {
	x := FromSlice([]float32{0, float32(math.Copysign(0, -1)), -2, 3, float32(math.Inf(1)), float32(math.Inf(-1))}, 6)
	x.NeedsGrad = true
	g := NewGraph(true, nil)
	y := g.ReLU(x)
	g.BackwardFrom(y, []float32{1, 1, 1, 1, 1, 1})
	want := []float32{0, 0, 0, 3, float32(math.Inf(1)), 0}
	for i := range want {
		if y.Data[i] != want[i] || math.Signbit(float64(y.Data[i])) {
			t.Fatalf("ReLU[%d] = %v, want +%v", i, y.Data[i], want[i])
		}
	}
	if got := x.Grad; got[0] != 0 || got[1] != 0 || got[2] != 0 || got[3] != 1 || got[4] != 1 || got[5] != 0 {
		t.Fatalf("ReLU gradient %v, want [0 0 0 1 1 0]", got)
	}
}

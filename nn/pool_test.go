package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// distinctTensor holds a shuffled ramp with steps of 0.05, so no two values
// are within a finite-difference step of each other (no max ties).
func distinctTensor(seed uint64, shape ...int) *Tensor {
	t := New(shape...)
	for i, p := range rand.New(rand.NewPCG(seed, 3)).Perm(t.Len()) {
		t.Data[i] = 0.05*float32(p) - 0.025*float32(t.Len())
	}
	return t
}

var poolConfigs = []struct{ k, s, p int }{
	{3, 1, 1}, {3, 2, 1}, {2, 2, 0}, {3, 3, 0}, {5, 3, 0}, {1, 1, 0},
}

func TestPoolGrad(t *testing.T) {
	for _, pc := range poolConfigs {
		for _, hw := range [][2]int{{6, 6}, {7, 5}} {
			name := fmt.Sprintf("k%d_s%d_p%d_%dx%d", pc.k, pc.s, pc.p, hw[0], hw[1])
			t.Run("MaxPool2d_"+name, func(t *testing.T) {
				x := distinctTensor(2, 2, 3, hw[0], hw[1])
				checkGrad(t, name, true, func(g *Graph) *Tensor { return g.MaxPool2d(x, pc.k, pc.s, pc.p) }, x)
			})
			for _, inc := range []bool{false, true} {
				t.Run(fmt.Sprintf("AvgPool2d_%s_incl%v", name, inc), func(t *testing.T) {
					x := randTensor(3, 1, 2, 3, hw[0], hw[1])
					checkGrad(t, name, true, func(g *Graph) *Tensor { return g.AvgPool2d(x, pc.k, pc.s, pc.p, inc) }, x)
				})
			}
		}
	}
	t.Run("GlobalAvgPool", func(t *testing.T) {
		x := randTensor(4, 1, 2, 3, 4, 5)
		checkGrad(t, "GlobalAvgPool", true, func(g *Graph) *Tensor { return g.GlobalAvgPool(x) }, x)
	})
}

func TestPoolShapes(t *testing.T) {
	for _, tc := range []struct {
		h, k, s, p, want int
	}{
		{32, 3, 1, 1, 32}, {32, 3, 2, 1, 16}, {31, 3, 2, 1, 16}, {32, 2, 2, 0, 16}, {8, 5, 3, 0, 2}, {7, 2, 2, 0, 3},
	} {
		x := New(1, 2, tc.h, tc.h)
		for name, y := range map[string]*Tensor{
			"max": (*Graph)(nil).MaxPool2d(x, tc.k, tc.s, tc.p),
			"avg": (*Graph)(nil).AvgPool2d(x, tc.k, tc.s, tc.p, false),
		} {
			if want := []int{1, 2, tc.want, tc.want}; !SameShape(y, New(want...)) {
				t.Errorf("%s pool h=%d k=%d s=%d p=%d: shape %v, want %v", name, tc.h, tc.k, tc.s, tc.p, y.Shape, want)
			}
		}
	}
}

func TestAvgPoolValues(t *testing.T) {
	// 3×3 image 1..9; k3 s1 p1.
	x := FromSlice([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, 1, 1, 3, 3)
	excl := (*Graph)(nil).AvgPool2d(x, 3, 1, 1, false)
	// Corners average 4 in-bounds pixels, edges 6, the centre 9.
	nearSlice(t, "excluding pad", excl.Data, []float32{
		(1 + 2 + 4 + 5) / 4.0, (1 + 2 + 3 + 4 + 5 + 6) / 6.0, (2 + 3 + 5 + 6) / 4.0,
		(1 + 2 + 4 + 5 + 7 + 8) / 6.0, 5, (2 + 3 + 5 + 6 + 8 + 9) / 6.0,
		(4 + 5 + 7 + 8) / 4.0, (4 + 5 + 6 + 7 + 8 + 9) / 6.0, (5 + 6 + 8 + 9) / 4.0,
	}, 1e-6)
	incl := (*Graph)(nil).AvgPool2d(x, 3, 1, 1, true)
	if got, want := incl.Data[0], float32(12.0/9); math.Abs(float64(got-want)) > 1e-6 {
		t.Errorf("including pad: corner %v, want %v", got, want)
	}
	// Stride 2: windows at (−1,−1), (−1,1), (1,−1), (1,1).
	s2 := (*Graph)(nil).AvgPool2d(x, 3, 2, 1, false)
	nearSlice(t, "stride 2", s2.Data, []float32{3, 4, 6, 7}, 1e-6)

	// Backward: each input gets Σ over windows covering it of 1/count.
	g := NewGraph(true, nil)
	x.NeedsGrad = true
	g.BackwardFrom(g.AvgPool2d(x, 3, 1, 1, false), []float32{1, 1, 1, 1, 1, 1, 1, 1, 1})
	corner := float32(1.0/4 + 1.0/6 + 1.0/6 + 1.0/9)
	if math.Abs(float64(x.Grad[0]-corner)) > 1e-6 {
		t.Errorf("avg pool grad at corner %v, want %v", x.Grad[0], corner)
	}
}

func TestMaxPoolValues(t *testing.T) {
	x := FromSlice([]float32{
		1, 5, 2, 0,
		3, 4, 9, 9,
		-1, -2, -3, -4,
		-5, -6, -7, -8,
	}, 1, 1, 4, 4)
	g := NewGraph(true, nil)
	x.NeedsGrad = true
	y := g.MaxPool2d(x, 2, 2, 0)
	nearSlice(t, "k2s2", y.Data, []float32{5, 9, -1, -3}, 0)
	g.BackwardFrom(y, []float32{1, 2, 3, 4})
	// The tie 9, 9 sends the gradient to the first.
	nearSlice(t, "k2s2 grad", x.Grad, []float32{
		0, 1, 0, 0,
		0, 0, 2, 0,
		3, 0, 4, 0,
		0, 0, 0, 0,
	}, 0)
	// Padding is −∞, so an all-negative corner still yields a real pixel.
	neg := FromSlice([]float32{-3, -2, -1, -4}, 1, 1, 2, 2)
	nearSlice(t, "k3s1p1 negative", (*Graph)(nil).MaxPool2d(neg, 3, 1, 1).Data, []float32{-1, -1, -1, -1}, 0)
}

func TestPoolPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"pad > k/2":  func() { (*Graph)(nil).MaxPool2d(New(1, 1, 4, 4), 2, 1, 2) },
		"not NCHW":   func() { (*Graph)(nil).AvgPool2d(New(4, 4), 2, 2, 0, false) },
		"too small":  func() { (*Graph)(nil).MaxPool2d(New(1, 1, 2, 2), 5, 1, 1) },
		"stride 0":   func() { (*Graph)(nil).AvgPool2d(New(1, 1, 4, 4), 2, 0, 0, true) },
		"global 2-D": func() { (*Graph)(nil).GlobalAvgPool(New(2, 3)) },
	} {
		mustPanic(t, name, f)
	}
}

// mustPanic fails t unless f panics.
func mustPanic(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: no panic", name)
		}
	}()
	f()
}

// directMaxPool is the k×k scan the separable MaxPool2d must agree with:
// the first maximum in row-major order wins, the first NaN wins and sticks.
func directMaxPool(x []float32, h, w, k, s, p int) (vals []float32, arg []int32) {
	ho, wo := (h+2*p-k)/s+1, (w+2*p-k)/s+1
	for oy := range ho {
		for ox := range wo {
			best, bi := float32(0), -1
			for iy := max(oy*s-p, 0); iy < min(oy*s-p+k, h); iy++ {
				for ix := max(ox*s-p, 0); ix < min(ox*s-p+k, w); ix++ {
					if v := x[iy*w+ix]; bi < 0 || v > best || (v != v && best == best) {
						best, bi = v, iy*w+ix
					}
				}
			}
			vals, arg = append(vals, best), append(arg, int32(bi))
		}
	}
	return vals, arg
}

// The separable max pool picks the same value and the same source pixel as
// a direct scan, with many ties (values from a set of 3) and some NaN.
func TestMaxPoolMatchesDirectScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, pc := range poolConfigs {
		for _, hw := range [][2]int{{6, 6}, {7, 5}, {9, 11}} {
			h, w := hw[0], hw[1]
			x := New(1, 1, h, w)
			for i := range x.Data {
				x.Data[i] = float32(rng.IntN(3))
				if rng.IntN(20) == 0 {
					x.Data[i] = float32(math.NaN())
				}
			}
			x.NeedsGrad = true
			g := NewGraph(true, nil)
			y := g.MaxPool2d(x, pc.k, pc.s, pc.p)
			ones := make([]float32, y.Len())
			for i := range ones {
				ones[i] = float32(i + 1) // distinct, so the source of each output shows in dx
			}
			g.BackwardFrom(y, ones)
			vals, arg := directMaxPool(x.Data, h, w, pc.k, pc.s, pc.p)
			want := make([]float32, x.Len())
			for o, a := range arg {
				want[a] += ones[o]
			}
			for i, v := range vals {
				if got := y.Data[i]; got != v && !(got != got && v != v) {
					t.Fatalf("k%d s%d p%d %dx%d: output %d = %v, direct scan %v", pc.k, pc.s, pc.p, h, w, i, got, v)
				}
			}
			for i := range want {
				if x.Grad[i] != want[i] {
					t.Fatalf("k%d s%d p%d %dx%d: gradient at %d = %v, direct scan sends %v", pc.k, pc.s, pc.p, h, w, i, x.Grad[i], want[i])
				}
			}
		}
	}
}

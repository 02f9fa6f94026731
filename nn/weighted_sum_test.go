package nn

import (
	"math"
	"testing"
)

// WeightedSum against its definition: out = Σᵢ sᵢ·yᵢ with sᵢ the sum of
// the unit's weights; dyᵢ = sᵢ·dout, dw[k] = ⟨yᵢ, dout⟩ for every k of
// unit i, and nothing for weights no unit uses.
func TestWeightedSum(t *testing.T) {
	for _, tc := range []struct {
		name string
		idx  [][]int
	}{
		{"one pair per unit", [][]int{{0}, {1}}},
		{"a shared unit", [][]int{{0, 2}, {1}}},
		{"an unused weight", [][]int{{3}, {0, 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y0 := FromSlice([]float32{1, -2, 3, 0.5}, 1, 4)
			y1 := FromSlice([]float32{-1, 4, 0.25, 2}, 1, 4)
			w := FromSlice([]float32{0.1, 0.2, 0.3, 0.4}, 1, 4)
			for _, x := range []*Tensor{y0, y1, w} {
				x.NeedsGrad = true
			}
			ys := []*Tensor{y0, y1}
			dout := []float32{0.5, -1, 2, 1}
			g := NewGraph(true, nil)
			out := g.WeightedSum(ys, w, tc.idx)
			g.BackwardFrom(out, dout)
			s := make([]float32, len(ys))
			for i, ks := range tc.idx {
				for _, k := range ks {
					s[i] += w.Data[k]
				}
			}
			wantW := make([]float32, w.Len())
			for i, y := range ys {
				var dot float32
				for j := range dout {
					dot += y.Data[j] * dout[j]
				}
				for _, k := range tc.idx[i] {
					wantW[k] += dot
				}
			}
			for j := range dout {
				if want := s[0]*y0.Data[j] + s[1]*y1.Data[j]; !near(out.Data[j], want) {
					t.Errorf("out[%d] = %v, want %v", j, out.Data[j], want)
				}
				for i, y := range ys {
					if want := s[i] * dout[j]; !near(y.Grad[j], want) {
						t.Errorf("dy%d[%d] = %v, want %v", i, j, y.Grad[j], want)
					}
				}
			}
			for k, want := range wantW {
				if !near(w.Grad[k], want) {
					t.Errorf("dw[%d] = %v, want %v", k, w.Grad[k], want)
				}
			}
		})
	}
}

func near(a, b float32) bool { return math.Abs(float64(a-b)) <= 1e-6*(1+math.Abs(float64(b))) }

// ScaleDot64 writes s·x and returns exactly Dot64(y, x), at lengths around
// its blocks and the parallel split.
func TestScaleDot64IsScaleAndDot64(t *testing.T) {
	for _, n := range []int{1, 1000, 1024, 5000, 300000} {
		x, y := randTensor(uint64(n), 1, n).Data, randTensor(uint64(n)+1, 1, n).Data
		dst := make([]float32, n)
		got := ScaleDot64(dst, 0.3, x, y)
		if want := Dot64(y, x); got != want {
			t.Fatalf("n=%d: dot %v, Dot64 gives %v", n, got, want)
		}
		for i := range dst {
			if dst[i] != 0.3*x[i] {
				t.Fatalf("n=%d: dst[%d] = %v, want %v", n, i, dst[i], 0.3*x[i])
			}
		}
	}
}

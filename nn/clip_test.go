package nn

import (
	"math"
	"testing"
)

func TestClipGradNorm(t *testing.T) {
	tests := []struct {
		name     string
		grads    [][]float32
		max      float32
		wantNorm float64
		wantG    [][]float32
	}{
		{"clipped", [][]float32{{3, 4}, {12}}, 5, 13, [][]float32{{15 / 13., 20 / 13.}, {60 / 13.}}},
		{"under", [][]float32{{0.3, 0.4}}, 5, 0.5, [][]float32{{0.3, 0.4}}},
		{"nil grad skipped", [][]float32{nil, {0, 10}}, 1, 10, [][]float32{nil, {0, 1}}},
		{"empty", nil, 5, 0, nil},
	}
	for _, tc := range tests {
		ps := []*Tensor{nil} // a nil tensor is skipped too
		for _, g := range tc.grads {
			ps = append(ps, &Tensor{Shape: []int{len(g)}, Data: make([]float32, len(g)), Grad: append([]float32(nil), g...)})
		}
		norm := ClipGradNorm(ps, tc.max)
		if math.Abs(float64(norm)-tc.wantNorm) > 1e-5 {
			t.Errorf("%s: norm %v, want %v", tc.name, norm, tc.wantNorm)
		}
		for i, g := range tc.wantG {
			for j := range g {
				if math.Abs(float64(ps[i+1].Grad[j]-g[j])) > 1e-5 {
					t.Errorf("%s: grad[%d][%d] = %v, want %v", tc.name, i, j, ps[i+1].Grad[j], g[j])
				}
			}
		}
	}
}

func TestClipGradNormNonFinite(t *testing.T) {
	p := &Tensor{Grad: []float32{1, float32(math.Inf(1))}}
	if n := ClipGradNorm([]*Tensor{p}, 5); !math.IsInf(float64(n), 1) || p.Grad[0] != 1 {
		t.Errorf("norm %v, grad %v: want +Inf returned and gradients untouched", n, p.Grad)
	}
}

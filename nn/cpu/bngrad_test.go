package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The fused BatchNorm backward kernels agree with their definitions, with
// and without the ReLU mask, at lengths around the vector width.
func TestBNGradMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, n := range []int{1, 5, 16, 17, 33, 1024} {
		y, dy, x, dx := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range n {
			y[i], dy[i], x[i], dx[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64()), float32(rng.NormFloat64()), float32(rng.NormFloat64())
		}
		y[0] = 0 // not > 0: masked
		for _, mask := range []bool{false, true} {
			var ws, wsx float64
			want := make([]float64, n)
			k, kx, c := float32(0.7), float32(-1.3), float32(0.05)
			for i := range n {
				d := float64(dy[i])
				if mask && !(y[i] > 0) {
					d = 0
				}
				ws += d
				wsx += d * float64(x[i])
				want[i] = float64(dx[i]) + float64(k)*d - float64(kx)*float64(x[i]) + float64(c)
			}
			s, sx := BNGradSums(y, dy, x, mask)
			tol := 1e-4 * math.Sqrt(float64(n))
			if math.Abs(float64(s)-ws) > tol || math.Abs(float64(sx)-wsx) > tol {
				t.Fatalf("BNGradSums n=%d mask=%v: %v, %v; want %v, %v", n, mask, s, sx, ws, wsx)
			}
			got := append([]float32(nil), dx...)
			BNGradApply(got, y, dy, x, mask, false, k, kx, c)
			for i := range n {
				if math.Abs(float64(got[i])-want[i]) > 1e-5*(1+math.Abs(want[i])) {
					t.Fatalf("BNGradApply n=%d mask=%v: dx[%d] = %v, want %v", n, mask, i, got[i], want[i])
				}
			}
			// Overwriting ignores what was there, even NaN.
			for i := range got {
				got[i] = float32(math.NaN())
			}
			BNGradApply(got, y, dy, x, mask, true, k, kx, c)
			for i := range n {
				w := want[i] - float64(dx[i])
				if !(math.Abs(float64(got[i])-w) <= 1e-5*(1+math.Abs(w))) {
					t.Fatalf("BNGradApply n=%d mask=%v overwrite: dx[%d] = %v, want %v", n, mask, i, got[i], w)
				}
			}
		}
	}
}

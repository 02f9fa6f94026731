package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Affine and ReLU agree with their scalar definitions at every length
// around the vector width, and keep ReLU's sign-bit rule: −0 and negative
// values (and a NaN with its sign bit set) become +0, a NaN without it
// passes.
func TestAffineAndReLUMatchDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	negNaN := math.Float32frombits(0xffc00000)
	for _, n := range []int{1, 7, 16, 17, 40, 100} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		x[0] = float32(math.Copysign(0, -1))
		if n > 3 {
			x[1], x[2] = float32(math.NaN()), negNaN
		}
		for _, relu := range []bool{false, true} {
			y := make([]float32, n)
			a, b := float32(1.7), float32(-0.3)
			Affine(y, x, a, b, relu)
			for i, v := range x {
				want := float32(math.FMA(float64(a), float64(v), float64(b)))
				if relu {
					want = reluBits(want)
				}
				if math.Float32bits(y[i]) != math.Float32bits(want) && !(y[i] != y[i] && want != want) {
					t.Fatalf("Affine n=%d relu=%v: y[%d] = %v, want %v", n, relu, i, y[i], want)
				}
			}
		}
		r := make([]float32, n)
		ReLU(r, x)
		for i, v := range x {
			if want := reluBits(v); math.Float32bits(r[i]) != math.Float32bits(want) {
				t.Fatalf("ReLU n=%d: %v -> %v, want %v", n, v, r[i], want)
			}
			if math.Signbit(float64(r[i])) {
				t.Fatalf("ReLU n=%d: %v -> %v has its sign bit set", n, v, r[i])
			}
		}
	}
}

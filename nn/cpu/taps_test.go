package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Taps and DotTaps agree with their definitions for tap counts around the
// kernels' blocks (8 per DotTaps call) and lengths around the vector widths
// (16, 64) and their tails.
func TestTapsMatchDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, taps := range []int{1, 2, 8, 9, 16, 17, 25} {
		for _, n := range []int{1, 7, 15, 16, 17, 63, 64, 65, 130, 1087} {
			src := make([]float32, n+300)
			for i := range src {
				src[i] = float32(rng.NormFloat64())
			}
			offs := make([]int, taps)
			w := make([]float32, taps)
			for k := range offs {
				offs[k] = rng.IntN(301)
				w[k] = float32(rng.NormFloat64())
			}
			dst := make([]float32, n)
			for i := range dst {
				dst[i] = 99 // Taps overwrites
			}
			Taps(dst, src, offs, w)
			y := make([]float32, n)
			for i := range y {
				y[i] = float32(rng.NormFloat64())
			}
			acc := make([]float32, taps)
			for k := range acc {
				acc[k] = 1 // DotTaps adds
			}
			DotTaps(acc, y, src, offs)
			for j := range n {
				var want float64
				for k, o := range offs {
					want += float64(w[k]) * float64(src[j+o])
				}
				if math.Abs(float64(dst[j])-want) > 1e-4*(1+math.Abs(want)) {
					t.Fatalf("Taps taps=%d n=%d: dst[%d] = %v, want %v", taps, n, j, dst[j], want)
				}
			}
			for k, o := range offs {
				want := 1.0
				for j := range n {
					want += float64(y[j]) * float64(src[j+o])
				}
				if math.Abs(float64(acc[k])-want) > 1e-4*(1+math.Sqrt(float64(n))) {
					t.Fatalf("DotTaps taps=%d n=%d: acc[%d] = %v, want %v", taps, n, k, acc[k], want)
				}
			}
		}
	}
}

func TestTapsPanicOnOutOfRange(t *testing.T) {
	for name, f := range map[string]func(){
		"Taps past src":     func() { Taps(make([]float32, 10), make([]float32, 12), []int{3}, []float32{1}) },
		"Taps negative":     func() { Taps(make([]float32, 10), make([]float32, 12), []int{-1}, []float32{1}) },
		"Taps lengths":      func() { Taps(make([]float32, 10), make([]float32, 12), []int{0, 1}, []float32{1}) },
		"DotTaps past x":    func() { DotTaps(make([]float32, 1), make([]float32, 10), make([]float32, 12), []int{3}) },
		"DotTaps acc short": func() { DotTaps(make([]float32, 1), make([]float32, 10), make([]float32, 12), []int{0, 1}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// DotsAdd agrees with its definition (summed in float64) for block counts
// around the kernel's 4×4 (edges in rows, columns and both), lengths around
// the vector width and its tail, one and several segments, and padded
// strides.
func TestDotsAddMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	for _, tc := range []struct{ m, nb, n, segs, pad int }{
		{4, 4, 16, 1, 0},
		{16, 16, 1024, 2, 0},
		{5, 7, 33, 3, 3},
		{3, 2, 15, 2, 1},
		{8, 12, 1, 4, 0},
		{9, 4, 64, 1, 17},
		{4, 9, 49, 5, 0},
		{36, 36, 196, 2, 0},
	} {
		lda, ldb := tc.n+tc.pad, tc.n+2*tc.pad
		sa, sb := tc.m*lda+tc.pad, tc.nb*ldb+5
		a := make([]float32, (tc.segs-1)*sa+(tc.m-1)*lda+tc.n)
		b := make([]float32, (tc.segs-1)*sb+(tc.nb-1)*ldb+tc.n)
		for i := range a {
			a[i] = float32(rng.NormFloat64())
		}
		for i := range b {
			b[i] = float32(rng.NormFloat64())
		}
		ldacc := tc.nb + 2
		acc := make([]float32, tc.m*ldacc)
		for i := range acc {
			acc[i] = 0.5
		}
		DotsAdd(tc.m, tc.nb, tc.n, tc.segs, a, lda, sa, b, ldb, sb, acc, ldacc)
		for i := 0; i < tc.m; i++ {
			for j := 0; j < ldacc; j++ {
				want, scale := 0.5, 1.0
				if j < tc.nb {
					for s := 0; s < tc.segs; s++ {
						for l := 0; l < tc.n; l++ {
							p := float64(a[s*sa+i*lda+l]) * float64(b[s*sb+j*ldb+l])
							want += p
							scale += math.Abs(p)
						}
					}
				}
				if got := float64(acc[i*ldacc+j]); math.Abs(got-want) > 1e-5*scale {
					t.Fatalf("%+v: acc[%d][%d] = %v, want %v", tc, i, j, got, want)
				}
			}
		}
	}
}

// DotsAdd refuses operands too short for what it is asked to read: the
// kernel reads without bounds checks.
func TestDotsAddRefusesShortOperands(t *testing.T) {
	acc := make([]float32, 16)
	for _, tc := range []struct {
		name string
		a, b int
	}{
		{"a", 2*64 - 1, 2 * 64},
		{"b", 2 * 64, 2*64 - 1},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("short %s: no panic", tc.name)
				}
			}()
			DotsAdd(4, 4, 16, 2, make([]float32, tc.a), 16, 64, make([]float32, tc.b), 16, 64, acc, 4)
		}()
	}
}

package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestMaxMergeMatchesScalarScan checks both merges against the scalar rule,
// ties and NaNs included, at lengths around the vector width.
func TestMaxMergeMatchesScalarScan(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	nan := float32(math.NaN())
	pick := func() float32 {
		switch r.IntN(6) {
		case 0:
			return nan
		case 1:
			return 1 // ties
		}
		return float32(r.NormFloat64())
	}
	for _, n := range []int{1, 15, 16, 17, 32, 33, 100} {
		for rep := 0; rep < 20; rep++ {
			y, v := make([]float32, n), make([]float32, n)
			ay, iv := make([]int32, n), make([]int32, n)
			for j := range y {
				y[j], v[j], ay[j], iv[j] = pick(), pick(), int32(r.IntN(1000)), int32(r.IntN(1000))
			}
			wy, wa := append([]float32(nil), y...), append([]int32(nil), ay...)
			wy2, wa2 := append([]float32(nil), y...), append([]int32(nil), ay...)
			for j, x := range v {
				if x > wy[j] || (x != x && wy[j] == wy[j]) {
					wy[j], wa[j] = x, iv[j]
					wy2[j], wa2[j] = x, 7+int32(j)
				}
			}
			y2, ay2 := append([]float32(nil), y...), append([]int32(nil), ay...)
			MaxMerge(y, ay, v, iv)
			MaxMergeIota(y2, ay2, v, 7)
			for j := range y {
				same := func(a, b float32) bool { return a == b || (a != a && b != b) }
				if !same(y[j], wy[j]) || ay[j] != wa[j] {
					t.Fatalf("n=%d MaxMerge lane %d: got %v@%d, want %v@%d", n, j, y[j], ay[j], wy[j], wa[j])
				}
				if !same(y2[j], wy2[j]) || ay2[j] != wa2[j] {
					t.Fatalf("n=%d MaxMergeIota lane %d: got %v@%d, want %v@%d", n, j, y2[j], ay2[j], wy2[j], wa2[j])
				}
			}
		}
	}
}

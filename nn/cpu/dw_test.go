package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestDepthwisePlaneMatchesDirectSum checks every kernel size, dilation,
// row-block remainder and column tail against the defining sum.
func TestDepthwisePlaneMatchesDirectSum(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, k := range []int{1, 3, 5} {
		for _, d := range []int{1, 2} {
			for _, size := range [][2]int{{32, 32}, {16, 16}, {7, 7}, {8, 20}, {13, 33}, {1, 1}} {
				for _, add := range []bool{false, true} {
					rows, cols := size[0], size[1]
					name := fmt.Sprintf("k%d_d%d_%dx%d_add%v", k, d, rows, cols, add)
					t.Run(name, func(t *testing.T) {
						sstride, dstride := cols+(k-1)*d+3, cols+1
						src := randSlice(r, (rows+(k-1)*d)*sstride)
						w := randSlice(r, k*k)
						dst := randSlice(r, rows*dstride)
						want := append([]float32(nil), dst...)
						for i := range rows {
							for j := range cols {
								var s float64
								if add {
									s = float64(want[i*dstride+j])
								}
								for a := range k {
									for b := range k {
										s += float64(w[a*k+b]) * float64(src[(i+a*d)*sstride+j+b*d])
									}
								}
								want[i*dstride+j] = float32(s)
							}
						}
						DepthwisePlane(dst, dstride, src, sstride, w, k, d, rows, cols, add)
						for i, v := range dst {
							if math.Abs(float64(v-want[i])) > 1e-4*(1+math.Abs(float64(want[i]))) {
								t.Fatalf("dst[%d] (row %d col %d) = %v, want %v", i, i/dstride, i%dstride, v, want[i])
							}
						}
					})
				}
			}
		}
	}
}

func TestDepthwisePlaneRefusesShortBuffers(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a source one value short")
		}
	}()
	src := make([]float32, (4-1+2)*6+4+2-1) // one short of what the last tap reads
	DepthwisePlane(make([]float32, 16), 4, src, 6, make([]float32, 9), 3, 1, 4, 4, false)
}

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

// DepthwiseWeightGrad agrees with its definition (summed in float64) for
// k 1/3/5, dilation 1/2, widths around the vector and its tail, on a dy
// padded with zero rows as the kernel requires, and adds to acc.
func TestDepthwiseWeightGradMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	for _, k := range []int{1, 3, 5} {
		for _, d := range []int{1, 2} {
			for _, cols := range []int{1, 7, 16, 17, 32, 33} {
				rows := 5
				stride := cols + (k-1)*d + 3
				pad := (k - 1) * d
				span := rows + pad
				src := make([]float32, (span-1)*stride+cols+pad)
				for i := range src {
					src[i] = float32(rng.NormFloat64())
				}
				dy0 := pad * stride
				dy := make([]float32, dy0+(span-1)*stride+cols)
				for i := range rows {
					for j := range cols {
						dy[dy0+i*stride+j] = float32(rng.NormFloat64())
					}
				}
				acc := make([]float32, k*k)
				for i := range acc {
					acc[i] = 0.25
				}
				DepthwiseWeightGrad(acc, dy, dy0, src, stride, k, d, rows, cols)
				for a := range k {
					for b := range k {
						want, scale := 0.25, 1.0
						for i := range rows {
							for j := range cols {
								p := float64(dy[dy0+i*stride+j]) * float64(src[(i+a*d)*stride+j+b*d])
								want += p
								scale += math.Abs(p)
							}
						}
						if got := float64(acc[a*k+b]); !(math.Abs(got-want) <= 1e-5*scale) {
							t.Fatalf("k=%d d=%d cols=%d: acc[%d][%d] = %v, want %v", k, d, cols, a, b, got, want)
						}
					}
				}
			}
		}
	}
}

// DepthwiseWeightGrad refuses a dy without the padding rows it reads and a
// src too short for the kernel's reach.
func TestDepthwiseWeightGradRefusesShortBuffers(t *testing.T) {
	const k, d, rows, cols, stride = 3, 1, 4, 8, 10
	acc := make([]float32, 9)
	src := make([]float32, (rows+1)*stride+cols+2)
	dy := make([]float32, 2*stride+(rows+1)*stride+cols)
	for _, tc := range []struct {
		name    string
		dy, src []float32
		dy0     int
	}{
		{"no rows above dy", dy, src, stride},
		{"dy too short below", dy[:len(dy)-1], src, 2 * stride},
		{"src too short", dy, src[:len(src)-1], 2 * stride},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tc.name)
				}
			}()
			DepthwiseWeightGrad(acc, tc.dy, tc.dy0, tc.src, stride, k, d, rows, cols)
		}()
	}
}

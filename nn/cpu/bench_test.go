package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

type gemmFunc = func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int)

func benchGemm(b *testing.B, f gemmFunc, tA, tB bool, m, n, k int) {
	r := rand.New(rand.NewPCG(7, 8))
	a, bb, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	lda, ldb := k, n
	if tA {
		lda = m
	}
	if tB {
		ldb = k
	}
	f(tA, tB, m, n, k, 1, a, lda, bb, ldb, 0, c, n) // warm the pools
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f(tA, tB, m, n, k, 1, a, lda, bb, ldb, 0, c, n)
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkSgemm512(b *testing.B) {
	b.Run("serial", func(b *testing.B) { benchGemm(b, Sgemm, false, false, 512, 512, 512) })
	b.Run("parallel", func(b *testing.B) { benchGemm(b, SgemmParallel, false, false, 512, 512, 512) })
}

// The top of the 512³–1024³ range, on both cores.
func BenchmarkSgemm1024(b *testing.B) {
	b.Run("parallel", func(b *testing.B) { benchGemm(b, SgemmParallel, false, false, 1024, 1024, 1024) })
}

// The engine's convolution GEMMs (batch 64, 32×32, 16 channels, 3×3):
// forward W·col, input gradient Wᵀ·dY, weight gradient dY·colᵀ, and 1×1.
var convShapes = []struct {
	name    string
	tA, tB  bool
	m, n, k int
}{
	{"fwd_16x65536x144", false, false, 16, 65536, 144},
	{"fwd1x1_16x65536x16", false, false, 16, 65536, 16},
	{"dcol_144x65536x16_tA", true, false, 144, 65536, 16},
	{"dW_16x144x65536_tB", false, true, 16, 144, 65536},
	{"dW1x1_16x16x65536_tB", false, true, 16, 16, 65536},
}

func BenchmarkSgemmConvShapes(b *testing.B) {
	for _, s := range convShapes {
		b.Run(s.name+"/serial", func(b *testing.B) { benchGemm(b, Sgemm, s.tA, s.tB, s.m, s.n, s.k) })
		b.Run(s.name+"/parallel", func(b *testing.B) { benchGemm(b, SgemmParallel, s.tA, s.tB, s.m, s.n, s.k) })
	}
}

func BenchmarkSgemmSmall(b *testing.B) {
	for _, s := range []gemmShape{{3, 5, 7}, {16, 16, 16}, {64, 10, 256}} {
		b.Run(fmt.Sprintf("%dx%dx%d", s.m, s.n, s.k), func(b *testing.B) { benchGemm(b, Sgemm, false, false, s.m, s.n, s.k) })
	}
}

// The vector benchmarks make vecReps calls per iteration so that short runs
// (-benchtime 20x) still time something; ns/call is the figure to read.
const vecReps = 1000

func BenchmarkAxpy(b *testing.B) {
	for _, n := range []int{32, 1088} {
		x, y := make([]float32, n), make([]float32, n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				for r := 0; r < vecReps; r++ {
					Axpy(0.5, x, y)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*vecReps), "ns/call")
		})
	}
}

func BenchmarkDot(b *testing.B) {
	for _, n := range []int{32, 1088} {
		x, y := make([]float32, n), make([]float32, n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var s float32
			for i := 0; i < b.N; i++ {
				for r := 0; r < vecReps; r++ {
					s += Dot(x, y)
				}
			}
			sink = s
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*vecReps), "ns/call")
		})
	}
}

var sink float32

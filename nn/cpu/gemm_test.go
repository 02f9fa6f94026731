package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

type gemmShape struct{ m, n, k int }

// Edge sizes around every tile and block size of every set (mr 4/8, nr
// 16/24/48, step 4/8/16, kc 256, mc 128/192, nc 960/1024), the 16-wide
// blocks of the AVX-512 packing routines, and the engine's convolution
// shapes at reduced n. With par2/par3 they cover the m, n and k splits.
var gemmShapes = []gemmShape{
	{1, 1, 1}, {3, 5, 7}, {1, 100, 50}, {100, 1, 50}, {2, 3, 300},
	{4, 16, 8}, {8, 48, 256}, {7, 47, 255}, {9, 49, 257}, {5, 17, 33},
	{12, 32, 64}, {13, 33, 65}, {3, 23, 10}, {25, 25, 25}, {16, 96, 9},
	{16, 2000, 144}, {16, 1500, 16}, {144, 600, 16}, {16, 144, 1200},
	{200, 60, 40}, {130, 70, 20}, {9, 1000, 20}, {33, 1001, 10},
	{10, 12, 2000}, {64, 64, 64}, {97, 101, 103},
}

type abCase struct {
	alpha, beta float32
	nanC        bool // fill C with NaN (beta must be 0)
}

var abCases = []abCase{{1, 0, true}, {1, 1, false}, {-0.5, -0.5, false}, {0.7, 0, false}, {0, 2, false}}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// randMat returns a rows×cols matrix with leading dimension ld whose gaps
// hold NaN, so reading outside the matrix shows up in the result.
func randMat(r *rand.Rand, rows, cols, ld int) []float32 {
	s := make([]float32, max(0, (rows-1)*ld+cols))
	for i := range s {
		if i%ld < cols {
			s[i] = float32(r.NormFloat64())
		} else {
			s[i] = float32(math.NaN())
		}
	}
	return s
}

// refGemm returns op(A)·op(B) and Σ|op(A)||op(B)| in float64.
func refGemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int) (ab, abs []float64) {
	ab = make([]float64, m*n)
	abs = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, t float64
			for p := 0; p < k; p++ {
				var x, y float64
				if transA {
					x = float64(a[p*lda+i])
				} else {
					x = float64(a[i*lda+p])
				}
				if transB {
					y = float64(b[j*ldb+p])
				} else {
					y = float64(b[p*ldb+j])
				}
				s += x * y
				t += math.Abs(x * y)
			}
			ab[i*n+j], abs[i*n+j] = s, t
		}
	}
	return ab, abs
}

type gemmPath struct {
	name string
	run  func(ks *kernelSet, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
}

var gemmPaths = []gemmPath{
	{"blocked", func(ks *kernelSet, tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		if k == 0 || alpha == 0 {
			sgemm(ks, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
			return
		}
		blockedGemm(ks, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}},
	{"serial", sgemm},
	{"par2", func(ks *kernelSet, tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		sgemmParallelForced(ks, 2, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}},
	{"par3", func(ks *kernelSet, tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		sgemmParallelForced(ks, 3, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}},
}

// sgemmParallelForced runs sgemmParallel with the size threshold lifted so
// that the small test shapes still exercise every split.
func sgemmParallelForced(ks *kernelSet, workers int, tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmParallel(ks, workers, 0, tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func TestSgemm(t *testing.T) {
	// Enough Ps that par3 really runs three workers (For caps at Workers()).
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	r := rand.New(rand.NewPCG(1, 2))
	for si, sh := range gemmShapes {
		for tr := 0; tr < 4; tr++ {
			tA, tB := tr&1 != 0, tr&2 != 0
			m, n, k := sh.m, sh.n, sh.k
			// Alternate tight and padded leading dimensions.
			pad := (si + tr) % 3
			ar, ac := m, k
			if tA {
				ar, ac = k, m
			}
			br, bc := k, n
			if tB {
				br, bc = n, k
			}
			lda, ldb, ldc := ac+pad, bc+2*pad, n+pad
			a := randMat(r, ar, ac, lda)
			b := randMat(r, br, bc, ldb)
			c0 := randMat(r, m, n, ldc)
			ab, abs := refGemm(tA, tB, m, n, k, a, lda, b, ldb)
			for _, ks := range availableSets() {
				for _, path := range gemmPaths {
					for _, abc := range abCases {
						c := append([]float32(nil), c0...)
						if abc.nanC {
							for i := range c {
								if i%ldc < n {
									c[i] = float32(math.NaN())
								}
							}
						}
						path.run(ks, tA, tB, m, n, k, abc.alpha, a, lda, b, ldb, abc.beta, c, ldc)
						name := fmt.Sprintf("%s/%s m=%d n=%d k=%d tA=%v tB=%v alpha=%v beta=%v nanC=%v lda=%d ldb=%d ldc=%d",
							ks.name, path.name, m, n, k, tA, tB, abc.alpha, abc.beta, abc.nanC, lda, ldb, ldc)
						checkC(t, name, m, n, k, abc, ab, abs, c0, c, ldc)
					}
				}
			}
		}
	}
}

func checkC(t *testing.T, name string, m, n, k int, abc abCase, ab, abs []float64, c0, c []float32, ldc int) {
	t.Helper()
	bad := 0
	for i := range c {
		row, col := i/ldc, i%ldc
		if col >= n {
			if math.Float32bits(c[i]) != math.Float32bits(c0[i]) {
				t.Errorf("%s: gap C[%d][%d] changed", name, row, col)
				return
			}
			continue
		}
		want := float64(abc.alpha) * ab[row*n+col]
		mag := math.Abs(float64(abc.alpha)) * abs[row*n+col]
		if abc.beta != 0 {
			want += float64(abc.beta) * float64(c0[i])
			mag += math.Abs(float64(abc.beta) * float64(c0[i]))
		}
		tol := 1e-6*(math.Sqrt(float64(k))+4)*mag + 1e-30
		if got := float64(c[i]); !(math.Abs(got-want) <= tol) {
			if bad < 3 {
				t.Errorf("%s: C[%d][%d] = %v, want %v (tol %g)", name, row, col, got, want, tol)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d wrong elements", name, bad)
	}
}

func TestSgemmPublic(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	m, n, k := 70, 90, 110
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	ab, abs := refGemm(false, false, m, n, k, a, k, b, n)
	c0 := make([]float32, m*n)
	for _, f := range []func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int){Sgemm, SgemmParallel} {
		c := make([]float32, m*n)
		f(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
		checkC(t, "public", m, n, k, abCase{1, 0, false}, ab, abs, c0, c, n)
	}
	if Kernel() != active.name {
		t.Fatalf("Kernel() = %q", Kernel())
	}
	t.Logf("kernel: %s, sets: %d", Kernel(), len(availableSets()))
}

func TestSgemmPanics(t *testing.T) {
	cases := []struct {
		name       string
		tA, tB     bool
		m, n, k    int
		la, lb, lc int
		lda, ldb   int
		ldc        int
		want       string
	}{
		{"short a", false, false, 4, 5, 6, 23, 30, 20, 6, 5, 5, "len(a)=23"},
		{"short b", false, false, 4, 5, 6, 24, 29, 20, 6, 5, 5, "len(b)=29"},
		{"short c", false, false, 4, 5, 6, 24, 30, 19, 6, 5, 5, "len(c)=19"},
		{"short bT", false, true, 4, 5, 6, 24, 29, 20, 6, 6, 5, "len(b)=29"},
		{"small lda", false, false, 4, 5, 6, 100, 100, 100, 5, 5, 5, "lda=5"},
		{"small ldaT", true, false, 4, 5, 6, 100, 100, 100, 3, 5, 5, "lda=3"},
		{"small ldc", false, false, 4, 5, 6, 100, 100, 100, 6, 5, 4, "ldc=4"},
		{"negative", false, false, -1, 5, 6, 100, 100, 100, 6, 5, 5, "negative"},
	}
	for _, tc := range cases {
		for _, f := range []func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int){Sgemm, SgemmParallel} {
			func() {
				defer func() {
					msg := fmt.Sprint(recover())
					if !strings.Contains(msg, tc.want) {
						t.Errorf("%s: panic %q, want it to mention %q", tc.name, msg, tc.want)
					}
				}()
				f(tc.tA, tc.tB, tc.m, tc.n, tc.k, 1, make([]float32, tc.la), tc.lda, make([]float32, tc.lb), tc.ldb, 0, make([]float32, tc.lc), tc.ldc)
			}()
		}
	}
	// Empty matrices need no storage.
	Sgemm(false, false, 0, 5, 3, 1, nil, 3, make([]float32, 15), 5, 0, nil, 5)
	Sgemm(false, false, 4, 5, 0, 1, nil, 1, nil, 5, 0, make([]float32, 20), 5)
}

// TestSgemmRowsMatchesGathered checks the implicit GEMM against Sgemm on the
// gathered rows, over tile edges (m, n not multiples of the micro-tile), k
// blocks (k > kc) and both betas, on every shape class the convolutions use.
func TestSgemmRowsMatchesGathered(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, s := range []struct{ m, n, k int }{{16, 1088, 144}, {16, 1088, 9}, {3, 50, 7}, {20, 100, 300}, {8, 48, 16}, {1, 1, 1}, {9, 1000, 260}} {
		for _, beta := range []float32{0, 0.5} {
			t.Run(fmt.Sprintf("%dx%dx%d_beta%v", s.m, s.n, s.k, beta), func(t *testing.T) {
				b := randSlice(r, s.n+3*s.k+40)
				offs := make([]int, s.k)
				for p := range offs {
					offs[p] = r.IntN(len(b) - s.n + 1)
				}
				a := randSlice(r, s.m*s.k)
				c := randSlice(r, s.m*s.n)
				want := append([]float32(nil), c...)
				g := make([]float32, s.k*s.n)
				for p, o := range offs {
					copy(g[p*s.n:], b[o:o+s.n])
				}
				naiveGemm(false, false, s.m, s.n, s.k, 1.5, a, s.k, g, s.n, beta, want, s.n)
				SgemmRows(s.m, s.n, s.k, 1.5, a, s.k, b, offs, beta, c, s.n)
				for i := range c {
					if d := math.Abs(float64(c[i] - want[i])); d > 1e-3*(1+math.Abs(float64(want[i]))) {
						t.Fatalf("c[%d] = %v, want %v", i, c[i], want[i])
					}
				}
			})
		}
	}
}

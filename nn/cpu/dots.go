package cpu

//go:generate go run gen_dots.go

import "fmt"

// DotsAdd adds to acc[i·ldacc+j], for i < m and j < nb, the dot products
// of row i of a with row j of b, summed over segs segments:
//
//	acc[i·ldacc+j] += Σ_{s<segs} Σ_{l<n} a[s·sa+i·lda+l] · b[s·sb+j·ldb+l]
//
// It is Σ_s A_s·B_sᵀ without packing either operand: a 1×1 convolution's
// weight gradient, dy·xᵀ summed over a batch's images (segments), whose
// GEMM would transpose both 64 KB planes of every image to make a 16×16
// result. With AVX-512, 4×4 blocks of acc are summed in registers (half a
// load per FMA); the ragged edges are dot products.
func DotsAdd(m, nb, n, segs int, a []float32, lda, sa int, b []float32, ldb, sb int, acc []float32, ldacc int) {
	if m < 0 || nb < 0 || n < 0 || segs < 0 {
		panic(fmt.Sprintf("cpu.DotsAdd: negative size m=%d nb=%d n=%d segs=%d", m, nb, n, segs))
	}
	if m == 0 || nb == 0 || n == 0 || segs == 0 {
		return
	}
	checkSegs("a", m, n, segs, len(a), lda, sa)
	checkSegs("b", nb, n, segs, len(b), ldb, sb)
	checkMat("DotsAdd", "acc", m, nb, len(acc), ldacc)
	i0, j0 := 0, 0
	if hasAVX512 {
		i0, j0 = m/4*4, nb/4*4
		for i := 0; i < i0; i += 4 {
			for j := 0; j < j0; j += 4 {
				dots4x4AVX512(&a[i*lda], lda, &b[j*ldb], ldb, n, segs, sa, sb, &acc[i*ldacc+j], ldacc)
			}
		}
	}
	// The edges: rows past i0 against every column, and the block rows
	// against the columns past j0.
	for i := 0; i < m; i++ {
		from := 0
		if i < i0 {
			from = j0
		}
		for j := from; j < nb; j++ {
			var s float32
			for g := 0; g < segs; g++ {
				ao, bo := g*sa+i*lda, g*sb+j*ldb
				s += Dot(a[ao:ao+n], b[bo:bo+n])
			}
			acc[i*ldacc+j] += s
		}
	}
}

// checkSegs panics unless every segment's rows×n matrix (row stride ld,
// segment stride seg) lies inside size values.
func checkSegs(name string, rows, n, segs, size, ld, seg int) {
	if ld < n || seg < 0 {
		panic(fmt.Sprintf("cpu.DotsAdd: %s's row stride %d < %d columns, or segment stride %d < 0", name, ld, n, seg))
	}
	if last := (segs-1)*seg + (rows-1)*ld + n; last > size {
		panic(fmt.Sprintf("cpu.DotsAdd: len(%s)=%d too short for %d segments of %d×%d (need %d)", name, size, segs, rows, n, last))
	}
}

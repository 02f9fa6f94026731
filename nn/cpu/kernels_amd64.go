//go:build !purego

package cpu

import "golang.org/x/sys/cpu"

var (
	avx512Set = &kernelSet{
		name: "avx512",
		mr:   mrAVX512, nr: nrAVX512, step: 16,
		kc: 256, mc: 192, nc: 960,
		micro: kernAVX512, microOff: kernOffAVX512,
		packA: packA8AVX512,
		packBT: func(d []float32, ldd int, b []float32, ldb, nblk int) {
			_ = b[15*ldb+16*nblk-1]
			_ = d[(16*nblk-1)*ldd+15]
			packT16AVX512(&d[0], ldd, &b[0], ldb, nblk)
		},
		axpy: func(alpha float32, x, y []float32) { axpyAVX512(alpha, &x[0], &y[0], len(x)) },
		dot:  func(x, y []float32) float32 { return dotAVX512(&x[0], &y[0], len(x)) },
		scal: func(alpha float32, x []float32) { scalAVX512(alpha, &x[0], len(x)) },
		add:  func(dst, x []float32) { addAVX512(&dst[0], &x[0], len(x)) },
	}
	avx2Set = &kernelSet{
		name: "avx2",
		mr:   mrAVX2, nr: nrAVX2, step: 8,
		kc: 256, mc: 192, nc: 960,
		micro: kernAVX2,
		axpy:  func(alpha float32, x, y []float32) { axpyAVX2(alpha, &x[0], &y[0], len(x)) },
		dot:   func(x, y []float32) float32 { return dotAVX2(&x[0], &y[0], len(x)) },
		scal:  func(alpha float32, x []float32) { scalAVX2(alpha, &x[0], len(x)) },
		add:   func(dst, x []float32) { addAVX2(&dst[0], &x[0], len(x)) },
	}
	hasAVX512 = cpu.X86.HasAVX512F
	hasAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
)

// packA8AVX512 packs nblk·16 columns of an 8-row A panel (mrAVX512 == 8).
func packA8AVX512(d, a []float32, lda, nblk int, alpha float32) {
	_ = a[7*lda+16*nblk-1]
	_ = d[8*16*nblk-1]
	packT8AVX512(&d[0], &a[0], lda, nblk, alpha)
}

func init() {
	if mrAVX512 != 8 {
		avx512Set.packA = nil
	}
	switch {
	case hasAVX512:
		active = avx512Set
	case hasAVX2:
		active = avx2Set
	}
}

// availableSets lists every set this machine can run (for tests).
func availableSets() []*kernelSet {
	s := []*kernelSet{genericSet}
	if hasAVX2 {
		s = append(s, avx2Set)
	}
	if hasAVX512 {
		s = append(s, avx512Set)
	}
	return s
}

func axpyOther(alpha float32, x, y []float32) {
	if hasAVX2 {
		axpyAVX2(alpha, &x[0], &y[0], len(x))
		return
	}
	axpyGeneric(alpha, x, y)
}

func dotOther(x, y []float32) float32 {
	if hasAVX2 {
		return dotAVX2(&x[0], &y[0], len(x))
	}
	return dotGeneric(x, y)
}

func scalOther(alpha float32, x []float32) {
	if hasAVX2 {
		scalAVX2(alpha, &x[0], len(x))
		return
	}
	scalGeneric(alpha, x)
}

func addOther(dst, x []float32) {
	if hasAVX2 {
		addAVX2(&dst[0], &x[0], len(x))
		return
	}
	addGeneric(dst, x)
}

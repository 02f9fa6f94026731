package cpu

import "sync"

//go:generate go run gen_asm.go

// microFn computes the mr×w tile C = Apanel·Bpanel + beta·C over k steps.
// a is a packed A micro-panel (k×mr, mr floats per step, alpha already
// applied); b holds k rows of w floats, bs floats apart; w is a multiple of
// the set's step and at most nr. beta==0 must not read C. pf is a prefetch
// distance in bytes past each B row read (a hint; 0 for none).
type microFn func(w, k int, a, b []float32, bs int, c []float32, ldc int, beta float32, pf int)

// kernelSet is one instruction-set implementation. The sets are built once
// at init and never mutated, so tests can run any of them side by side.
type kernelSet struct {
	name   string
	mr, nr int // micro-tile
	step   int // panel widths are multiples of step (the vector width)
	kc     int // k block: A micro-panel (mr×kc) stays in L1
	mc     int // m block packed at once
	nc     int // n block: the B block (kc×nc) stays in L2
	micro  microFn
	// microOff, if set, is micro with B's rows at offsets (SgemmRows).
	microOff func(w, k int, a, b []float32, offs []int, c []float32, ldc int, beta float32, pf int)

	// Optional packing fast paths for whole 16-column blocks (see packA, packBT).
	packA  func(d, a []float32, lda, nblk int, alpha float32)
	packBT func(d []float32, ldd int, b []float32, ldb, nblk int)

	axpy func(alpha float32, x, y []float32)
	dot  func(x, y []float32) float32
	scal func(alpha float32, x []float32)
	add  func(dst, x []float32)

	pool sync.Pool // *gemmBuf sized for this set
}

var (
	genericSet = &kernelSet{
		name: "generic",
		mr:   4, nr: 16, step: 4,
		kc: 256, mc: 128, nc: 1024,
		micro: microGeneric,
		axpy:  axpyGeneric, dot: dotGeneric, scal: scalGeneric, add: addGeneric,
	}
	// active is the best set for this machine, chosen once at init.
	active = genericSet
)

// Kernel reports which implementation is active: "avx512", "avx2" or "generic".
func Kernel() string { return active.name }

// microGeneric is the portable micro-kernel: 4×4 register blocks in scalar
// code (the compiler keeps the 16 accumulators in registers).
func microGeneric(w, k int, a, b []float32, bs int, c []float32, ldc int, beta float32, _ int) {
	a = a[:k*4]
	for j := 0; j < w; j += 4 {
		var c00, c01, c02, c03, c10, c11, c12, c13 float32
		var c20, c21, c22, c23, c30, c31, c32, c33 float32
		bo := j
		for p := 0; p < k; p++ {
			ap := a[p*4 : p*4+4 : p*4+4]
			bp := b[bo : bo+4 : bo+4]
			a0, a1, a2, a3 := ap[0], ap[1], ap[2], ap[3]
			b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
			c00 += a0 * b0
			c01 += a0 * b1
			c02 += a0 * b2
			c03 += a0 * b3
			c10 += a1 * b0
			c11 += a1 * b1
			c12 += a1 * b2
			c13 += a1 * b3
			c20 += a2 * b0
			c21 += a2 * b1
			c22 += a2 * b2
			c23 += a2 * b3
			c30 += a3 * b0
			c31 += a3 * b1
			c32 += a3 * b2
			c33 += a3 * b3
			bo += bs
		}
		store4(c[j:], beta, c00, c01, c02, c03)
		store4(c[ldc+j:], beta, c10, c11, c12, c13)
		store4(c[2*ldc+j:], beta, c20, c21, c22, c23)
		store4(c[3*ldc+j:], beta, c30, c31, c32, c33)
	}
}

func store4(c []float32, beta, v0, v1, v2, v3 float32) {
	c = c[:4]
	if beta != 0 {
		v0 += beta * c[0]
		v1 += beta * c[1]
		v2 += beta * c[2]
		v3 += beta * c[3]
	}
	c[0], c[1], c[2], c[3] = v0, v1, v2, v3
}

func axpyGeneric(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

func dotGeneric(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
		s2 += x[i+2] * y[i+2]
		s3 += x[i+3] * y[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func scalGeneric(alpha float32, x []float32) {
	for i := range x {
		x[i] *= alpha
	}
}

func addGeneric(dst, x []float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] += v
	}
}

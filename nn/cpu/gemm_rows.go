package cpu

import (
	"fmt"
	"sync"
)

// SgemmRows computes C = alpha·A·B + beta·C where row p of B (k×n) is not
// stored at a fixed stride but starts at b[offs[p]]: op(B)[p][j] =
// b[offs[p]+j]. It is an implicit GEMM: a convolution's column matrix is k
// shifted views of one zero-padded plane (row (c, a, b) at c·plane +
// a·D·wp + b·D), so the kernel reads them in place instead of copying
// k·n floats out first. A is m×k row-major (lda), C m×n (ldc). Single
// goroutine; without the AVX-512 kernels it gathers B and calls Sgemm.
func SgemmRows(m, n, k int, alpha float32, a []float32, lda int, b []float32, offs []int, beta float32, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 || len(offs) != k {
		panic(fmt.Sprintf("cpu.SgemmRows: sizes m=%d n=%d k=%d with %d row offsets", m, n, k, len(offs)))
	}
	checkMat("SgemmRows", "a", m, k, len(a), lda)
	checkMat("SgemmRows", "c", m, n, len(c), ldc)
	for p, o := range offs {
		if o < 0 || o+n > len(b) {
			panic(fmt.Sprintf("cpu.SgemmRows: row %d of b at %d..%d outside its %d values", p, o, o+n, len(b)))
		}
	}
	if m == 0 || n == 0 {
		return
	}
	ks := active
	if ks.microOff == nil || k == 0 || alpha == 0 || m*n*k <= smallGemm {
		gathered := getScratch(k * n)
		for p, o := range offs {
			copy(gathered[p*n:(p+1)*n], b[o:o+n])
		}
		sgemm(ks, false, false, m, n, k, alpha, a, lda, gathered, n, beta, c, ldc)
		putScratch(gathered)
		return
	}
	buf := ks.getBuf()
	defer ks.pool.Put(buf)
	for jc := 0; jc < n; jc += ks.nc {
		nc := min(ks.nc, n-jc)
		full := nc / ks.nr * ks.nr
		for pc := 0; pc < k; pc += ks.kc {
			kc := min(ks.kc, k-pc)
			bet := beta
			if pc > 0 {
				bet = 1
			}
			po := offs[pc : pc+kc]
			// The ragged last panel is gathered, zero padded, into buf.b.
			if full < nc {
				cols := nc - full
				w := (cols + ks.step - 1) / ks.step * ks.step
				d := buf.b[full*kc : full*kc+kc*w]
				for p, o := range po {
					dp := d[p*w : p*w+w]
					copy(dp, b[o+jc+full:o+jc+nc])
					clear(dp[cols:])
				}
			}
			for ic := 0; ic < m; ic += ks.mc {
				mc := min(ks.mc, m-ic)
				packA(ks, false, alpha, a, lda, ic, pc, mc, kc, buf.a)
				for jr := 0; jr < nc; jr += ks.nr {
					for ir := 0; ir < mc; ir += ks.mr {
						if jr < full {
							tileRows(ks, buf, kc, mc, ir, b[jc+jr:], po, c[(ic+ir)*ldc+jc+jr:], ldc, bet)
						} else {
							tile(ks, buf, kc, mc, nc, ir, jr, nil, 0, c[ic*ldc+jc:], ldc, bet)
						}
					}
				}
			}
		}
	}
}

// tileRows is tile for a full-width panel of B read in place through row
// offsets; c starts at the tile.
func tileRows(ks *kernelSet, buf *gemmBuf, kc, mc, ir int, b []float32, offs []int, c []float32, ldc int, beta float32) {
	mr, nr := ks.mr, ks.nr
	ap := buf.a[ir*kc : (ir+mr)*kc]
	pf := pfPanels * nr * 4
	if rows := min(mr, mc-ir); rows < mr {
		tmp := buf.tmp[:mr*nr]
		ks.microOff(nr, kc, ap, b, offs, tmp, nr, 0, pf)
		storeEdge(c, ldc, tmp, nr, rows, nr, beta)
		return
	}
	ks.microOff(nr, kc, ap, b, offs, c, ldc, beta, pf)
}

// scratchPool recycles the drivers' scratch: parallelK's private C
// buffers and SgemmRows' gathered B where there is no offsets kernel.
var scratchPool sync.Pool

func getScratch(n int) []float32 {
	if v, ok := scratchPool.Get().(*[]float32); ok && cap(*v) >= n {
		return (*v)[:n]
	}
	return make([]float32, n)
}

func putScratch(b []float32) { scratchPool.Put(&b) }

package cpu

import "fmt"

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, like
// cblas_sgemm(CblasRowMajor, ...). op(A) is m×k, op(B) is k×n, C is m×n.
// transA means A is stored k×m (op(A)=Aᵀ), transB means B is stored n×k.
// lda/ldb/ldc are row strides (leading dimensions) in elements. beta==0 means C is overwritten
// (its old contents, even NaN, ignored). Single goroutine; safe for concurrent calls on disjoint C.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm("Sgemm", transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	sgemm(active, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// SgemmParallel is Sgemm spread over every core (cpu.Workers()); same semantics.
// Small problems run serially on the calling goroutine.
func SgemmParallel(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm("SgemmParallel", transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	sgemmParallel(active, Workers(), parallelMin, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// checkGemm panics unless every matrix fits its slice.
func checkGemm(fn string, transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("cpu.%s: negative size m=%d n=%d k=%d", fn, m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkMat(fn, "a", ar, ac, len(a), lda)
	checkMat(fn, "b", br, bc, len(b), ldb)
	checkMat(fn, "c", m, n, len(c), ldc)
}

func checkMat(fn, name string, rows, cols, size, ld int) {
	if ld < max(1, cols) {
		panic(fmt.Sprintf("cpu.%s: ld%s=%d < max(1, %d columns)", fn, name, ld, cols))
	}
	if rows > 0 && cols > 0 && size < (rows-1)*ld+cols {
		panic(fmt.Sprintf("cpu.%s: len(%s)=%d too short for %d×%d with ld%s=%d (need %d)",
			fn, name, size, rows, cols, name, ld, (rows-1)*ld+cols))
	}
}

// smallGemm is the m·n·k below which packing costs more than it saves.
const smallGemm = 2048

// sgemm is the serial driver; arguments are already checked.
func sgemm(ks *kernelSet, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	if m*n*k <= smallGemm {
		naiveGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	blockedGemm(ks, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
		} else {
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

// naiveGemm handles tiny products directly.
func naiveGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sa, ta := lda, 1 // op(A)[i][p] = a[i*sa + p*ta]
	if transA {
		sa, ta = 1, lda
	}
	sb, tb := ldb, 1 // op(B)[p][j] = b[p*sb + j*tb]
	if transB {
		sb, tb = 1, ldb
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				s += a[i*sa+p*ta] * b[p*sb+j*tb]
			}
			s *= alpha
			if beta != 0 {
				s += beta * c[i*ldc+j]
			}
			c[i*ldc+j] = s
		}
	}
}

// gemmBuf holds the packed panels of one serial driver call.
type gemmBuf struct {
	a, b []float32
	tmp  []float32 // one mr×nr edge tile
}

func (ks *kernelSet) getBuf() *gemmBuf {
	if v := ks.pool.Get(); v != nil {
		return v.(*gemmBuf)
	}
	mc := (ks.mc + ks.mr - 1) / ks.mr * ks.mr
	nc := (ks.nc + ks.nr - 1) / ks.nr * ks.nr
	return &gemmBuf{
		a:   make([]float32, mc*ks.kc),
		b:   make([]float32, nc*ks.kc),
		tmp: make([]float32, ks.mr*ks.nr),
	}
}

// blockedGemm is the Goto/BLIS loop nest: n blocks of nc columns, k blocks
// of kc, m blocks of mc rows; inside, each A micro-panel stays in L1 while
// the B block streams past it.
//
// An untransposed B is not packed: the kernel reads its rows in place (with
// software prefetch), which measured as fast as packing for large products
// and up to 1.5× faster for the engine's small-m, large-n ones, where the
// copy is not amortized. Only its ragged last panel is packed, zero padded.
func blockedGemm(ks *kernelSet, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	buf := ks.getBuf()
	defer ks.pool.Put(buf)
	for jc := 0; jc < n; jc += ks.nc {
		nc := min(ks.nc, n-jc)
		for pc := 0; pc < k; pc += ks.kc {
			kc := min(ks.kc, k-pc)
			bet := beta
			if pc > 0 {
				bet = 1
			}
			var bIn []float32
			if transB {
				packBT(ks, b, ldb, pc, jc, kc, nc, buf.b)
			} else {
				bIn = b[pc*ldb+jc:]
				if last := nc / ks.nr * ks.nr; last < nc {
					packBN(ks, b, ldb, pc, jc+last, kc, nc-last, buf.b[last*kc:])
				}
			}
			for ic := 0; ic < m; ic += ks.mc {
				mc := min(ks.mc, m-ic)
				packA(ks, transA, alpha, a, lda, ic, pc, mc, kc, buf.a)
				// Few A panels (small m): give each B micro-panel to all of
				// them while it is in L1, so B streams from memory once and
				// steadily instead of in bursts.
				if mc <= 4*ks.mr {
					for jr := 0; jr < nc; jr += ks.nr {
						for ir := 0; ir < mc; ir += ks.mr {
							tile(ks, buf, kc, mc, nc, ir, jr, bIn, ldb, c[ic*ldc+jc:], ldc, bet)
						}
					}
					continue
				}
				for ir := 0; ir < mc; ir += ks.mr {
					for jr := 0; jr < nc; jr += ks.nr {
						tile(ks, buf, kc, mc, nc, ir, jr, bIn, ldb, c[ic*ldc+jc:], ldc, bet)
					}
				}
			}
		}
	}
}

// tile runs the micro-kernel on C[ir:ir+mr, jr:jr+nr] of the current block
// (c starts at the block; mc×nc is the block size). With bIn != nil, full
// panels of B are read in place from bIn (row stride ldb); the others come
// packed from buf.b.
func tile(ks *kernelSet, buf *gemmBuf, kc, mc, nc, ir, jr int, bIn []float32, ldb int, c []float32, ldc int, beta float32) {
	mr := ks.mr
	rows := min(mr, mc-ir)
	cols := min(ks.nr, nc-jr)
	w := (cols + ks.step - 1) / ks.step * ks.step
	ap := buf.a[ir*kc : (ir+mr)*kc]
	bp, bs, pf := buf.b[jr*kc:jr*kc+kc*w], w, pfRows*w*4
	if bIn != nil && cols == ks.nr {
		bp, bs, pf = bIn[jr:], ldb, pfPanels*ks.nr*4
	}
	co := ir*ldc + jr
	if rows == mr && cols == w {
		ks.micro(w, kc, ap, bp, bs, c[co:], ldc, beta, pf)
		return
	}
	tmp := buf.tmp[:mr*w]
	ks.micro(w, kc, ap, bp, bs, tmp, w, 0, pf)
	storeEdge(c[co:], ldc, tmp, w, rows, cols, beta)
}

// storeEdge writes the rows×cols corner of an edge tile computed into tmp
// (rows w apart) to C: C = tmp + beta·C.
func storeEdge(c []float32, ldc int, tmp []float32, w, rows, cols int, beta float32) {
	for i := 0; i < rows; i++ {
		crow := c[i*ldc : i*ldc+cols]
		trow := tmp[i*w : i*w+cols]
		if beta == 0 {
			copy(crow, trow)
		} else {
			for j, v := range trow {
				crow[j] = v + beta*crow[j]
			}
		}
	}
}

// B prefetch distances: rows ahead in a packed panel (in L2, contiguous);
// one panel ahead, i.e. the same rows 192 bytes on, when B is read in place
// (rows far apart, which the hardware prefetchers do not follow).
const pfRows, pfPanels = 8, 1

// packA copies op(A)[ic:ic+mc, pc:pc+kc]·alpha into micro-panels of mr rows:
// panel r holds, for each p, the mr values op(A)[ic+r*mr+i][pc+p], zero
// padded past mc.
func packA(ks *kernelSet, transA bool, alpha float32, a []float32, lda, ic, pc, mc, kc int, dst []float32) {
	mr := ks.mr
	for ir := 0; ir < mc; ir += mr {
		rows := min(mr, mc-ir)
		d := dst[ir*kc : (ir+mr)*kc]
		if transA {
			for p := 0; p < kc; p++ {
				src := a[(pc+p)*lda+ic+ir:]
				src = src[:rows]
				dp := d[p*mr : p*mr+mr]
				for i, v := range src {
					dp[i] = alpha * v
				}
				clear(dp[rows:])
			}
			continue
		}
		o := (ic+ir)*lda + pc
		p0 := 0
		if rows == mr && ks.packA != nil && kc >= 16 {
			p0 = kc &^ 15
			ks.packA(d, a[o:], lda, p0/16, alpha)
		}
		gatherRows(alpha, d[p0*mr:], mr, kc-p0, a, o+p0, lda, rows)
		if rows < mr {
			for p := 0; p < kc; p++ {
				clear(d[p*mr+rows : p*mr+mr])
			}
		}
	}
}

// packBN copies B[pc:pc+kc, jc:jc+cols] (cols < nr) into one panel of w
// columns (cols rounded up to the set's step), zero padded.
func packBN(ks *kernelSet, b []float32, ldb, pc, jc, kc, cols int, dst []float32) {
	w := (cols + ks.step - 1) / ks.step * ks.step
	for p := 0; p < kc; p++ {
		src := b[(pc+p)*ldb+jc:]
		dp := dst[p*w : p*w+w]
		copy(dp, src[:cols])
		clear(dp[cols:])
	}
}

// packBT copies op(B)[pc:pc+kc, jc:jc+nc] = Bᵀ into panels of nr columns
// (the last one w wide, w a multiple of step): panel q starts at q*nr*kc and
// holds kc rows of w floats, zero padded past nc.
func packBT(ks *kernelSet, b []float32, ldb, pc, jc, kc, nc int, dst []float32) {
	nr, step := ks.nr, ks.step
	for jr := 0; jr < nc; jr += nr {
		cols := min(nr, nc-jr)
		w := (cols + step - 1) / step * step
		d := dst[jr*kc : jr*kc+kc*w]
		o := (jc+jr)*ldb + pc
		j0 := 0
		if ks.packBT != nil && kc >= 16 {
			p0 := kc &^ 15
			for ; j0+16 <= cols; j0 += 16 {
				ks.packBT(d[j0:], w, b[o+j0*ldb:], ldb, p0/16)
			}
			gatherRows(1, d[p0*w:], w, kc-p0, b, o+p0, ldb, j0)
		}
		gatherRows(1, d[j0:], w, kc, b, o+j0*ldb, ldb, cols-j0)
		if cols < w {
			for p := 0; p < kc; p++ {
				clear(d[p*w+cols : p*w+w])
			}
		}
	}
}

// gatherRows interleaves rows: d[p*ds+i] = alpha·src[o+i*ld+p] for i < rows,
// p < kc. Eight rows at a time, so each store group is contiguous.
func gatherRows(alpha float32, d []float32, ds, kc int, src []float32, o, ld, rows int) {
	if kc <= 0 {
		return
	}
	i := 0
	for ; i+8 <= rows; i += 8 {
		q := o + i*ld
		gather8(alpha, d[i:], ds, kc, src[q:q+kc], src[q+ld:q+ld+kc], src[q+2*ld:q+2*ld+kc], src[q+3*ld:q+3*ld+kc],
			src[q+4*ld:q+4*ld+kc], src[q+5*ld:q+5*ld+kc], src[q+6*ld:q+6*ld+kc], src[q+7*ld:q+7*ld+kc])
	}
	for ; i < rows; i++ {
		r := src[o+i*ld : o+i*ld+kc]
		j := i
		for _, v := range r {
			d[j] = alpha * v
			j += ds
		}
	}
}

func gather8(alpha float32, d []float32, ds, kc int, r0, r1, r2, r3, r4, r5, r6, r7 []float32) {
	r0, r1, r2, r3 = r0[:kc], r1[:kc], r2[:kc], r3[:kc]
	r4, r5, r6, r7 = r4[:kc], r5[:kc], r6[:kc], r7[:kc]
	for p := 0; p < kc; p++ {
		dp := d[p*ds : p*ds+8 : p*ds+8]
		dp[0] = alpha * r0[p]
		dp[1] = alpha * r1[p]
		dp[2] = alpha * r2[p]
		dp[3] = alpha * r3[p]
		dp[4] = alpha * r4[p]
		dp[5] = alpha * r5[p]
		dp[6] = alpha * r6[p]
		dp[7] = alpha * r7[p]
	}
}

// parallelMin is the m·n·k below which SgemmParallel stays serial: about
// 5 µs of arithmetic, a few goroutine hand-offs.
const parallelMin = 1 << 19

// sgemmParallel splits C (or k) into one part per worker; products under
// minWork multiply-adds run serially.
func sgemmParallel(ks *kernelSet, workers, minWork int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if workers <= 1 || m == 0 || n == 0 || k == 0 || alpha == 0 || m*n*k < minWork {
		sgemm(ks, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	mr, nr := ks.mr, ks.nr
	// Long k with a small C (weight gradients): an m or n split would make
	// every worker read and pack all of one long operand, so give each worker
	// a slice of k and sum the partial products.
	if k >= 4*max(m, n) && m*n <= 1<<16 && k >= workers*ks.kc {
		parallelK(ks, workers, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	// Time of the slowest worker, in multiply-adds, for an m or n split: its
	// padded share of C times k, plus reading all of the operand the split
	// does not divide (an m split makes every worker read all of B), at
	// ~15 multiply-adds per float fetched from memory.
	const readCost = 15
	tilesM := (m + mr - 1) / mr
	tilesN := (n + ks.step - 1) / ks.step
	costM := (tilesM+workers-1)/workers*mr*n*k + readCost*k*n
	costN := (tilesN+workers-1)/workers*ks.step*tilesM*mr*k + readCost*m*k
	if tilesM < workers {
		costM = 1 << 62
	}
	if tilesN < workers {
		costN = 1 << 62
	}
	if costM == 1<<62 && costN == 1<<62 {
		sgemm(ks, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if costM <= costN {
		chunk := (tilesM + workers - 1) / workers
		For(tilesM, chunk, func(lo, hi int) {
			i0, i1 := lo*mr, min(hi*mr, m)
			ao := i0 * lda
			if transA {
				ao = i0
			}
			sgemm(ks, transA, transB, i1-i0, n, k, alpha, a[ao:], lda, b, ldb, beta, c[i0*ldc:], ldc)
		})
		return
	}
	// Split n at multiples of nr where that balances, else of step.
	unit := ks.step
	if tilesN*ks.step >= 8*workers*nr {
		unit = nr
	}
	units := (n + unit - 1) / unit
	chunk := (units + workers - 1) / workers
	For(units, chunk, func(lo, hi int) {
		j0, j1 := lo*unit, min(hi*unit, n)
		bo := j0
		if transB {
			bo = j0 * ldb
		}
		sgemm(ks, transA, transB, m, j1-j0, k, alpha, a, lda, b[bo:], ldb, beta, c[j0:], ldc)
	})
}

// parallelK gives worker w the k range [k0,k1); worker 0 accumulates into C
// with the caller's beta, the others into private m×n buffers added at the end.
func parallelK(ks *kernelSet, workers int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	units := (k + ks.kc - 1) / ks.kc
	chunk := (units + workers - 1) / workers
	parts := make([][]float32, workers)
	used := ForWorker(units, chunk, func(w, lo, hi int) {
		k0, k1 := lo*ks.kc, min(hi*ks.kc, k)
		ao, bo := k0, k0*ldb
		if transA {
			ao = k0 * lda
		}
		if transB {
			bo = k0
		}
		if w == 0 {
			sgemm(ks, transA, transB, m, n, k1-k0, alpha, a[ao:], lda, b[bo:], ldb, beta, c, ldc)
			return
		}
		buf := getScratch(m * n)
		sgemm(ks, transA, transB, m, n, k1-k0, alpha, a[ao:], lda, b[bo:], ldb, 0, buf, n)
		parts[w] = buf
	})
	for w := 1; w < used; w++ {
		for i := 0; i < m; i++ {
			ks.add(c[i*ldc:i*ldc+n], parts[w][i*n:i*n+n])
		}
		putScratch(parts[w])
	}
}

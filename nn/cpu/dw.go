package cpu

//go:generate go run gen_dw.go

import "fmt"

// DepthwisePlane is the stride-1 depthwise convolution of one zero-padded
// plane with a k×k kernel dilated by d: for i < rows and j < cols,
//
//	dst[i·dstride+j] (+)= Σ_{a,b<k} w[a·k+b] · src[(i+a·d)·sstride + j+b·d]
//
// accumulating into dst when add is set. With AVX-512 and k ∈ {3, 5} the
// weights stay in registers and each kernel call covers a block of rows
// (rows i, i+d, i+2d, … share input rows), so an input vector is loaded
// once for up to k output rows instead of once per tap; output rows are
// written straight to dst, without a padded-width scratch row to copy.
// It panics if a read or write falls outside src or dst.
func DepthwisePlane(dst []float32, dstride int, src []float32, sstride int, w []float32, k, d, rows, cols int, add bool) {
	if k < 1 || d < 1 || rows < 0 || cols < 0 || len(w) != k*k || dstride < cols || sstride < cols+(k-1)*d {
		panic(fmt.Sprintf("cpu.DepthwisePlane: bad geometry k=%d d=%d rows=%d cols=%d strides %d/%d with %d weights", k, d, rows, cols, dstride, sstride, len(w)))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*dstride + cols; need > len(dst) {
		panic(fmt.Sprintf("cpu.DepthwisePlane: %d rows of %d need %d values of dst, have %d", rows, cols, need, len(dst)))
	}
	if need := (rows-1+(k-1)*d)*sstride + cols + (k-1)*d; need > len(src) {
		panic(fmt.Sprintf("cpu.DepthwisePlane: %d rows of %d with a %d×%d kernel dilated %d need %d values of src, have %d", rows, cols, k, k, d, need, len(src)))
	}
	blocks := dwBlocks(k)
	if blocks == nil {
		depthwiseGeneric(dst, dstride, src, sstride, w, k, d, rows, cols, add)
		return
	}
	// Rows of one residue mod d share their input rows; each residue's rows
	// go in blocks, largest first.
	for par := 0; par < d && par < rows; par++ {
		n := (rows - par + d - 1) / d
		i := 0
		for _, r := range blocks {
			if nb := (n - i) / r; nb > 0 {
				row := par + i*d
				dwKernel(k, r)(&dst[row*dstride], d*dstride, &src[row*sstride], d*sstride, &w[0], cols, d, add, nb)
				i += nb * r
			}
		}
	}
}

// depthwiseGeneric is DepthwisePlane in plain Go.
func depthwiseGeneric(dst []float32, dstride int, src []float32, sstride int, w []float32, k, d, rows, cols int, add bool) {
	for i := range rows {
		out := dst[i*dstride : i*dstride+cols]
		if !add {
			clear(out)
		}
		for a := range k {
			for b := range k {
				off := (i+a*d)*sstride + b*d
				Axpy(w[a*k+b], src[off:off+cols], out)
			}
		}
	}
}

// DepthwiseWeightGrad adds one plane's weight gradient of a stride-1
// depthwise convolution with a k×k kernel dilated by d to acc (k² values):
//
//	acc[a·k+b] += Σ_{i<rows, j<cols} dy[dy0+i·stride+j] · src[(i+a·d)·stride + j+b·d]
//
// dy and the zero-padded input plane src share the row stride. With
// AVX-512 and k ∈ {3, 5} the k² sums stay in registers while src is
// scanned once, row by row, each loaded vector meeting the k dy rows it
// pairs with; that reads dy rows −(k−1)·d … −1 and rows … rows+(k−1)·d−1
// around the plane, which the caller must provide as zeros (a padded
// copy of dy, as the input gradient uses). It panics if a read falls
// outside dy or src.
func DepthwiseWeightGrad(acc, dy []float32, dy0 int, src []float32, stride, k, d, rows, cols int) {
	if k < 1 || d < 1 || rows < 0 || cols < 0 || len(acc) != k*k || stride < cols+(k-1)*d {
		panic(fmt.Sprintf("cpu.DepthwiseWeightGrad: bad geometry k=%d d=%d rows=%d cols=%d stride %d with %d sums", k, d, rows, cols, stride, len(acc)))
	}
	if rows == 0 || cols == 0 {
		return
	}
	span := rows + (k-1)*d // src rows read, and dy rows from −(k−1)·d
	if dy0 < (k-1)*d*stride || dy0+(span-1)*stride+cols > len(dy) {
		panic(fmt.Sprintf("cpu.DepthwiseWeightGrad: dy rows −%d…%d around %d rows at %d need values %d…%d, have %d", (k-1)*d, rows+(k-1)*d-1, rows, dy0, dy0-(k-1)*d*stride, dy0+(span-1)*stride+cols, len(dy)))
	}
	if need := (span-1)*stride + cols + (k-1)*d; need > len(src) {
		panic(fmt.Sprintf("cpu.DepthwiseWeightGrad: %d rows of %d with a %d×%d kernel dilated %d need %d values of src, have %d", rows, cols, k, k, d, need, len(src)))
	}
	if kern := dwGradKernel(k); kern != nil {
		kern(&acc[0], &dy[dy0], &src[0], stride, span, cols, d)
		return
	}
	for a := range k {
		for b := range k {
			var s float32
			for i := range rows {
				o := dy0 + i*stride
				s += Dot(dy[o:o+cols], src[(i+a*d)*stride+b*d:][:cols])
			}
			acc[a*k+b] += s
		}
	}
}

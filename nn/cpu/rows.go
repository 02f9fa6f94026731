package cpu

import "fmt"

// CopyRows copies a rows×cols block: row i of src (starting at i·sstride)
// to row i of dst (starting at i·dstride). It is the padding copy of image
// planes (dst wider than src) and its inverse.
func CopyRows(dst []float32, dstride int, src []float32, sstride int, rows, cols int) {
	if !checkRows("CopyRows", dst, dstride, src, sstride, rows, cols) {
		return
	}
	if hasAVX512 {
		copyRowsAVX512(&dst[0], dstride, &src[0], sstride, rows, cols)
		return
	}
	for i := range rows {
		copy(dst[i*dstride:i*dstride+cols], src[i*sstride:i*sstride+cols])
	}
}

// AddRows adds a rows×cols block of src into dst, rows laid out as in
// CopyRows.
func AddRows(dst []float32, dstride int, src []float32, sstride int, rows, cols int) {
	if !checkRows("AddRows", dst, dstride, src, sstride, rows, cols) {
		return
	}
	if hasAVX512 {
		addRowsAVX512(&dst[0], dstride, &src[0], sstride, rows, cols)
		return
	}
	for i := range rows {
		Add(dst[i*dstride:i*dstride+cols], src[i*sstride:i*sstride+cols])
	}
}

// checkRows panics unless both blocks fit their slices (the assembly reads
// and writes without bounds checks); it reports whether there is any work.
func checkRows(fn string, dst []float32, dstride int, src []float32, sstride int, rows, cols int) bool {
	if rows < 0 || cols < 0 || dstride < cols || sstride < cols {
		panic(fmt.Sprintf("cpu.%s: bad block %d×%d with strides %d (dst) and %d (src)", fn, rows, cols, dstride, sstride))
	}
	if rows == 0 || cols == 0 {
		return false
	}
	if need := (rows-1)*dstride + cols; need > len(dst) {
		panic(fmt.Sprintf("cpu.%s: a %d×%d block with stride %d needs %d values of dst, have %d", fn, rows, cols, dstride, need, len(dst)))
	}
	if need := (rows-1)*sstride + cols; need > len(src) {
		panic(fmt.Sprintf("cpu.%s: a %d×%d block with stride %d needs %d values of src, have %d", fn, rows, cols, sstride, need, len(src)))
	}
	return true
}

// EveryOther writes dst[j] = src[2j] for j < len(dst): a stride-2
// convolution's or pooling's sampling of a row, two vectors per
// permutation with AVX-512. It reads src[0 … 2·len(dst)−2] and panics if
// src is shorter.
func EveryOther(dst, src []float32) {
	n := len(dst)
	if n == 0 {
		return
	}
	if len(src) < 2*n-1 {
		panic(fmt.Sprintf("cpu.EveryOther: %d values of src for %d outputs, need %d", len(src), n, 2*n-1))
	}
	if hasAVX512 {
		everyOtherAVX512(&dst[0], &src[0], n)
		return
	}
	for j := range dst {
		dst[j] = src[2*j]
	}
}

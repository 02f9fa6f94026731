//go:build !purego

package cpu

//go:noescape
func tapsAVX512(dst, src *float32, offs *int, w *float32, t, n int)

//go:noescape
func dotTaps8AVX512(y, x *float32, offs *int, n int, acc *float32)

//go:noescape
func copyRowsAVX512(dst *float32, dstride int, src *float32, sstride int, rows, cols int)

//go:noescape
func addRowsAVX512(dst *float32, dstride int, src *float32, sstride int, rows, cols int)

//go:noescape
func affineAVX512(y, x *float32, n int, a, b float32, relu bool)

//go:noescape
func reluAVX512(dst, src *float32, n int)

//go:noescape
func bnSumsAVX512(y, dy, x *float32, n int, mask bool, out *float32)

//go:noescape
func bnApplyAVX512(dx, y, dy, x *float32, n int, mask, overwrite bool, k, kx, c float32)

//go:noescape
func maxMergeIdxAVX512(y *float32, ay *int32, v *float32, iv *int32, n int)

//go:noescape
func maxMergeIotaAVX512(y *float32, ay *int32, v *float32, start int32, n int)

//go:noescape
func dots4x4AVX512(a *float32, lda int, b *float32, ldb int, n, segs, sa, sb int, acc *float32, ldacc int)

//go:noescape
func everyOtherAVX512(dst, src *float32, n int)

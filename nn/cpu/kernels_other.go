//go:build !amd64 || purego

package cpu

func availableSets() []*kernelSet { return []*kernelSet{genericSet} }

const hasAVX512 = false

func axpyOther(alpha float32, x, y []float32) { axpyGeneric(alpha, x, y) }
func dotOther(x, y []float32) float32         { return dotGeneric(x, y) }
func scalOther(alpha float32, x []float32)    { scalGeneric(alpha, x) }
func addOther(dst, x []float32)               { addGeneric(dst, x) }

// Never called (hasAVX512 is false); they let vec.go compile everywhere.
func axpyAVX512(alpha float32, x, y *float32, n int) { panic("unreachable") }
func dotAVX512(x, y *float32, n int) float32         { panic("unreachable") }
func scalAVX512(alpha float32, x *float32, n int)    { panic("unreachable") }
func addAVX512(dst, x *float32, n int)               { panic("unreachable") }

func tapsAVX512(dst, src *float32, offs *int, w *float32, t, n int) { panic("unreachable") }
func dotTaps8AVX512(y, x *float32, offs *int, n int, acc *float32)  { panic("unreachable") }
func dots4x4AVX512(a *float32, lda int, b *float32, ldb int, n, segs, sa, sb int, acc *float32, ldacc int) {
	panic("unreachable")
}
func copyRowsAVX512(dst *float32, dstride int, src *float32, sstride int, rows, cols int) {
	panic("unreachable")
}
func addRowsAVX512(dst *float32, dstride int, src *float32, sstride int, rows, cols int) {
	panic("unreachable")
}
func affineAVX512(y, x *float32, n int, a, b float32, relu bool)     { panic("unreachable") }
func reluAVX512(dst, src *float32, n int)                            { panic("unreachable") }
func bnSumsAVX512(y, dy, x *float32, n int, mask bool, out *float32) { panic("unreachable") }
func bnApplyAVX512(dx, y, dy, x *float32, n int, mask, overwrite bool, k, kx, c float32) {
	panic("unreachable")
}

func dwKernel(k, r int) func(dst *float32, dstep int, src *float32, sstep int, w *float32, cols, d int, add bool, nblk int) {
	return nil
}

func dwBlocks(k int) []int { return nil }

func maxMergeIdxAVX512(y *float32, ay *int32, v *float32, iv *int32, n int) { panic("no AVX-512") }
func maxMergeIotaAVX512(y *float32, ay *int32, v *float32, start int32, n int) {
	panic("no AVX-512")
}

func dwGradKernel(k int) func(acc, dy, src *float32, stride, rows, cols, d int) { return nil }

func everyOtherAVX512(dst, src *float32, n int) { panic("unreachable") }

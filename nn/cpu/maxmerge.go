package cpu

import "fmt"

// MaxMerge folds one more candidate row into a running max-pool row: for
// j < len(y), v[j] (whose source index is iv[j]) replaces y[j] (index ay[j])
// when it is larger, or when it is NaN and y[j] is not, so the first
// maximum, or the first NaN, wins, as a scalar scan would.
func MaxMerge(y []float32, ay []int32, v []float32, iv []int32) {
	n := len(y)
	if len(ay) != n || len(v) != n || len(iv) != n {
		panic(fmt.Sprintf("cpu.MaxMerge: lengths %d, %d, %d, %d differ", len(y), len(ay), len(v), len(iv)))
	}
	if n == 0 {
		return
	}
	if hasAVX512 {
		maxMergeIdxAVX512(&y[0], &ay[0], &v[0], &iv[0], n)
		return
	}
	for j, x := range v {
		if x > y[j] || (x != x && y[j] == y[j]) {
			y[j], ay[j] = x, iv[j]
		}
	}
}

// MaxMergeIota is MaxMerge with v[j]'s index start+j.
func MaxMergeIota(y []float32, ay []int32, v []float32, start int32) {
	n := len(y)
	if len(ay) != n || len(v) != n {
		panic(fmt.Sprintf("cpu.MaxMergeIota: lengths %d, %d, %d differ", len(y), len(ay), len(v)))
	}
	if n == 0 {
		return
	}
	if hasAVX512 {
		maxMergeIotaAVX512(&y[0], &ay[0], &v[0], start, n)
		return
	}
	for j, x := range v {
		if x > y[j] || (x != x && y[j] == y[j]) {
			y[j], ay[j] = x, start+int32(j)
		}
	}
}

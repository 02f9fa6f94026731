package cpu

import (
	"math/rand/v2"
	"testing"
)

// CopyRows and AddRows move exactly the block, for widths around the
// vector width and its tails, and leave everything else alone.
func TestRowsMatchDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	for _, cols := range []int{1, 5, 15, 16, 17, 32, 33, 64} {
		for _, rows := range []int{1, 3, 32} {
			sstride, dstride := cols+rng.IntN(4), cols+2+rng.IntN(4)
			src := make([]float32, (rows-1)*sstride+cols)
			for i := range src {
				src[i] = float32(rng.NormFloat64())
			}
			dst := make([]float32, rows*dstride+3)
			for i := range dst {
				dst[i] = float32(i)
			}
			want := append([]float32(nil), dst...)
			CopyRows(dst, dstride, src, sstride, rows, cols)
			for i := range rows {
				copy(want[i*dstride:i*dstride+cols], src[i*sstride:])
			}
			for i := range dst {
				if dst[i] != want[i] {
					t.Fatalf("CopyRows %d×%d: dst[%d] = %v, want %v", rows, cols, i, dst[i], want[i])
				}
			}
			AddRows(dst, dstride, src, sstride, rows, cols)
			for i := range rows {
				for j := range cols {
					want[i*dstride+j] += src[i*sstride+j]
				}
			}
			for i := range dst {
				if dst[i] != want[i] {
					t.Fatalf("AddRows %d×%d: dst[%d] = %v, want %v", rows, cols, i, dst[i], want[i])
				}
			}
		}
	}
}

func TestRowsPanicOnShortSlices(t *testing.T) {
	for name, f := range map[string]func(){
		"dst short":  func() { CopyRows(make([]float32, 10), 5, make([]float32, 20), 5, 3, 5) },
		"src short":  func() { AddRows(make([]float32, 20), 5, make([]float32, 10), 5, 3, 5) },
		"stride < n": func() { CopyRows(make([]float32, 20), 4, make([]float32, 20), 5, 3, 5) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// EveryOther samples every other value at lengths around the kernel's
// chunk and tail, on a src of exactly 2n−1 values.
func TestEveryOtherSamplesEvenValues(t *testing.T) {
	for n := 1; n <= 70; n++ {
		src := make([]float32, 2*n-1)
		for i := range src {
			src[i] = float32(i) + 0.5
		}
		dst := make([]float32, n+1)
		dst[n] = -7
		EveryOther(dst[:n], src)
		for j := range n {
			if dst[j] != src[2*j] {
				t.Fatalf("n=%d: dst[%d] = %v, want %v", n, j, dst[j], src[2*j])
			}
		}
		if dst[n] != -7 {
			t.Fatalf("n=%d: wrote past dst", n)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("a src too short: no panic")
		}
	}()
	EveryOther(make([]float32, 4), make([]float32, 6))
}

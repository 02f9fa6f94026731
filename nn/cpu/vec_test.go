package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

var vecLens = []int{0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 1088, 1100}

type vecImpl struct {
	name string
	axpy func(alpha float32, x, y []float32)
	dot  func(x, y []float32) float32
	scal func(alpha float32, x []float32)
	add  func(dst, x []float32)
}

// vecImpls covers the public functions (empty slices included) and each
// set's routines (which need n ≥ 1).
func vecImpls() []vecImpl {
	v := []vecImpl{{"public", Axpy, Dot, Scal, Add}}
	for _, ks := range availableSets() {
		v = append(v, vecImpl{ks.name, ks.axpy, ks.dot, ks.scal, ks.add})
	}
	return v
}

func TestVec(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const guard = 5 // elements past the end that must stay untouched
	for _, im := range vecImpls() {
		for _, n := range vecLens {
			if n == 0 && im.name != "public" {
				continue
			}
			for _, off := range []int{0, 1, 3} { // misalign the start
				xb := randSlice(r, off+n+guard)
				yb := randSlice(r, off+n+guard)
				x, y := xb[off:off+n], yb[off:off+n]
				y0 := append([]float32(nil), yb...)
				const alpha = -0.75

				var want, mag float64
				for i := range x {
					want += float64(x[i]) * float64(y[i])
					mag += math.Abs(float64(x[i]) * float64(y[i]))
				}
				if got := im.dot(x, y); math.Abs(float64(got)-want) > 1e-6*(mag+1) {
					t.Errorf("%s dot n=%d off=%d: %v want %v", im.name, n, off, got, want)
				}

				im.axpy(alpha, x, y)
				checkVec(t, im.name+" axpy", n, off, yb, y0, func(i int) float64 { return float64(y0[i]) + alpha*float64(xb[i]) })
				copy(yb, y0)
				im.add(y, x)
				checkVec(t, im.name+" add", n, off, yb, y0, func(i int) float64 { return float64(y0[i]) + float64(xb[i]) })
				copy(yb, y0)
				im.scal(alpha, y)
				checkVec(t, im.name+" scal", n, off, yb, y0, func(i int) float64 { return alpha * float64(y0[i]) })
			}
		}
	}
}

func checkVec(t *testing.T, name string, n, off int, got, orig []float32, want func(i int) float64) {
	t.Helper()
	for i := range got {
		if i < off || i >= off+n {
			if got[i] != orig[i] {
				t.Fatalf("%s n=%d off=%d: element %d outside the slice changed", name, n, off, i)
			}
			continue
		}
		w := want(i)
		if math.Abs(float64(got[i])-w) > 1e-6*(math.Abs(w)+1) {
			t.Fatalf("%s n=%d off=%d: [%d] = %v want %v", name, n, off, i-off, got[i], w)
		}
	}
}

func TestVecPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"Axpy": func() { Axpy(1, make([]float32, 3), make([]float32, 4)) },
		"Dot":  func() { Dot(make([]float32, 3), make([]float32, 4)) },
		"Add":  func() { Add(make([]float32, 3), make([]float32, 4)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic on length mismatch", name)
				}
			}()
			f()
		}()
	}
}

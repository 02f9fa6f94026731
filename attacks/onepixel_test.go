package attacks

import (
	"context"
	"math"
	"testing"

	"github.com/bionaslab/bionas/nn/rule"
)

// changedPixels counts the (row, col) positions where two C×H×W images
// differ in some channel.
func changedPixels(a, b []float32, c, h, w int) int {
	n := 0
	plane := h * w
	for p := range plane {
		for ch := range c {
			if math.Float32bits(a[ch*plane+p]) != math.Float32bits(b[ch*plane+p]) {
				n++
				break
			}
		}
	}
	return n
}

// TestOnePixelChangesAtMostKPixels runs One-Pixel with k = 1..4 pixels,
// untargeted and targeted, and counts the changed positions of every
// result; it also checks the query count of the evolution.
func TestOnePixelChangesAtMostKPixels(t *testing.T) {
	m := tinyCNN(t, rule.FA, 21)
	x, y := synthBatch(12, 1)
	per := x.Len() / len(y)
	for _, k := range []int{1, 2, 4} {
		for _, tg := range []Targeting{{}, {Mode: TargetRandom}} {
			a, err := NewOnePixel(m, x, y, OnePixelConfig{Pixels: k, Steps: 4, Target: tg}, Options{Seed: uint64(k)})
			if err != nil {
				t.Fatal(err)
			}
			adv, err := a.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			st := a.State()
			changed := 0
			for i := range y {
				c := changedPixels(adv.Data[i*per:(i+1)*per], x.Data[i*per:(i+1)*per], tC, tH, tW)
				if c > k {
					t.Fatalf("k=%d: image %d has %d changed pixels", k, i, c)
				}
				changed += c
				// clean query + initial population + one population per
				// generation run
				if q := st.Queries[i]; q > 1+a.popN*(1+4) || (q-1)%a.popN != 0 {
					t.Fatalf("k=%d: image %d used %d queries (population %d)", k, i, q, a.popN)
				}
			}
			if changed == 0 {
				t.Fatalf("k=%d: nothing changed", k)
			}
			t.Logf("k=%d %s: %d/%d fooled", k, tg.Mode, st.Fooled(y), len(y))
		}
	}
}

// TestOnePixelApply: a pixel is SET to absolute values at truncated
// coordinates; a coordinate of exactly 1 lands on the last row/column.
func TestOnePixelApply(t *testing.T) {
	m := linearModel(12*12, 4, 1)
	x := randomImages(1, 1, 12, 12, 3)
	a, err := NewOnePixel(m, x, []int{0}, OnePixelConfig{Pixels: 2}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float32, 144)
	a.apply(dst, 0, []float32{0.51, 0.99, 0.25, 1, 1, 0.75})
	for q, v := range dst {
		switch q {
		case 6*12 + 11: // ⌊0.51·12⌋ = 6, ⌊0.99·12⌋ = 11
			if v != 0.25 {
				t.Fatalf("pixel (6,11) = %v, want 0.25", v)
			}
		case 11*12 + 11:
			if v != 0.75 {
				t.Fatalf("pixel (11,11) = %v, want 0.75", v)
			}
		default:
			if v != x.Data[q] {
				t.Fatalf("pixel %d changed", q)
			}
		}
	}
}

// TestOnePixelPopulation pins SciPy's population size max(5, m·d).
func TestOnePixelPopulation(t *testing.T) {
	for _, c := range []struct{ ch, pixels, popsize, want int }{
		{3, 1, 10, 10}, // d = 5, m = 2: torchattacks' default on RGB
		{1, 1, 10, 9},  // d = 3, m = 3
		{1, 6, 10, 18}, // d = 18, m = 1
		{1, 1, 1, 5},   // at least 5
		{3, 1, 150, 150},
	} {
		m := linearModel(c.ch*16, 3, 1)
		a, err := NewOnePixel(m, randomImages(1, c.ch, 4, 4, 1), []int{0}, OnePixelConfig{Pixels: c.pixels, PopSize: c.popsize}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if a.popN != c.want {
			t.Fatalf("C=%d, %d px, popsize %d: population %d, want %d", c.ch, c.pixels, c.popsize, a.popN, c.want)
		}
	}
}

// TestOnePixelSkipsMisclassified: images already misclassified are left
// clean and cost one query.
func TestOnePixelSkipsMisclassified(t *testing.T) {
	m := tinyCNN(t, rule.BP, 22)
	x, y := synthBatch(6, 1)
	wrong := make([]int, len(y))
	for i, v := range y {
		wrong[i] = (v + 1) % tK
	}
	a, _ := NewOnePixel(m, x, wrong, OnePixelConfig{}, Options{})
	adv, err := a.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range adv.Data {
		if math.Float32bits(v) != math.Float32bits(x.Data[i]) {
			t.Fatal("a misclassified image was changed")
		}
	}
	if q := a.State().MaxQueries(); q != 1 {
		t.Fatalf("%d queries", q)
	}
}

// TestOnePixelFindsTheWeakRow: a linear model that flips to class 1 when
// any pixel of row 5 is bright is fooled, and the fooled images stop
// evolving early.
func TestOnePixelFindsTheWeakRow(t *testing.T) {
	m := linearModel(tH*tW, 2, 1)
	clear(m.W.Data)
	for c := range tW {
		m.W.Data[tH*tW+5*tW+c] = 10
	}
	m.Bias.Data = []float32{2, 0}
	x := randomImages(8, 1, tH, tW, 5)
	clear(x.Data) // black images: class 0
	y := make([]int, 8)
	a, err := NewOnePixel(m, x, y, OnePixelConfig{Steps: 30}, Options{Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	adv, err := a.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st := a.State()
	if f := st.Fooled(y); f < 6 {
		t.Fatalf("fooled %d/8", f)
	}
	for i, p := range st.Pred {
		if p == 0 {
			continue
		}
		if c := changedPixels(adv.Data[i*144:(i+1)*144], x.Data[i*144:(i+1)*144], 1, tH, tW); c != 1 {
			t.Fatalf("image %d: %d pixels changed", i, c)
		}
		if st.Queries[i] >= 1+a.popN*31 {
			t.Fatalf("image %d: fooled but used the whole budget (%d queries)", i, st.Queries[i])
		}
	}
}

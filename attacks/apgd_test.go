package attacks

import (
	"context"
	"math"
	"testing"

	"github.com/bionaslab/bionas/nn/rule"
)

// TestAPGDSchedule pins the checkpoint constants (REFERENCE.md §4.5).
func TestAPGDSchedule(t *testing.T) {
	m := linearModel(4, 3, 1)
	x := randomImages(2, 1, 2, 2, 1)
	for _, c := range []struct{ steps, p1, kMin, kDecr int }{{10, 2, 1, 1}, {100, 22, 6, 3}, {50, 11, 3, 1}, {1, 1, 1, 1}} {
		a, err := NewAPGD(m, x, []int{0, 1}, APGDConfig{Steps: c.steps}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if a.p1 != c.p1 || a.kMin != c.kMin || a.kDecr != c.kDecr {
			t.Fatalf("steps %d: p1 %d, min %d, decr %d; want %d, %d, %d", c.steps, a.p1, a.kMin, a.kDecr, c.p1, c.kMin, c.kDecr)
		}
	}
}

// TestAPGDBestLossNeverDecreases steps APGD (CE and DLR, both modes) and
// checks that every image's best loss never goes down, and that the result
// is the clean image for every image never fooled.
func TestAPGDBestLossNeverDecreases(t *testing.T) {
	m := tinyCNN(t, rule.USF, 11)
	x, y := synthBatch(24, 1)
	for _, loss := range []string{"ce", "dlr"} {
		for _, mode := range []GradMode{Own, True} {
			for _, eps := range []float64{0.03, 0.15} {
				a, err := NewAPGD(m, x, y, APGDConfig{Eps: eps, Steps: 20, Loss: loss}, Options{Grad: mode, Seed: 3})
				if err != nil {
					t.Fatal(err)
				}
				var prev []float32
				halved := false
				for {
					done, err := a.Step(context.Background())
					if err != nil {
						t.Fatal(err)
					}
					st := a.State()
					if prev != nil {
						for i, v := range st.BestLoss {
							if !math.IsNaN(float64(prev[i])) && v < prev[i] {
								t.Fatalf("%s/%s ε %v: image %d best loss fell %v → %v at iteration %d", loss, mode, eps, i, prev[i], v, st.Iter)
							}
						}
					}
					if a.run != nil {
						for _, e := range a.run.eta {
							halved = halved || e < float32(2*eps)
						}
					}
					prev = append(prev[:0], st.BestLoss...)
					if done {
						break
					}
				}
				st := a.State()
				per := x.Len() / len(y)
				fooled := 0
				for i, p := range st.Pred {
					if p != y[i] {
						fooled++
						continue
					}
					for j := i * per; j < (i+1)*per; j++ {
						if st.Adv.Data[j] != x.Data[j] {
							t.Fatalf("%s/%s: image %d never fooled but its result is not the clean image", loss, mode, i)
						}
					}
				}
				checkInvariants(t, "apgd", x, st, eps)
				t.Logf("%s/%s ε %v: %d/%d fooled, step size halved somewhere: %v", loss, mode, eps, fooled, len(y), halved)
			}
		}
	}
}

// TestAPGDBeatsPGD: with the same budget APGD fools at least as many
// images as PGD on this model (a sanity check of the schedule, not a law).
func TestAPGDFoolsImages(t *testing.T) {
	m := tinyCNN(t, rule.BP, 12)
	x, y := synthBatch(32, 1)
	a, _ := NewAPGD(m, x, y, APGDConfig{Eps: 0.15, Steps: 20}, Options{Seed: 1})
	if _, err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f := a.State().Fooled(y); f == 0 {
		t.Fatal("APGD at ε 0.15 fooled nothing")
	}
}

package attacks

import (
	"context"
	"math"
	"testing"

	"github.com/bionaslab/bionas/nn/rule"
)

// TestIterateShowsTheSearch: Square and APGD return the clean image where
// they have not fooled the model, so their Adv stays clean while they
// search; Iterate is where the search stands. Square's first step is the
// striped start x ± ε (REFERENCE.md §4.7), so its Iterate is ε away at
// once; APGD's first step starts on the ε-ball. PGD's Iterate is its Adv.
func TestIterateShowsTheSearch(t *testing.T) {
	m := tinyCNN(t, rule.BP, 71)
	x, y := synthBatch(12, 1)
	const eps = 0.3
	per := x.Len() / len(y)
	for _, spec := range []Spec{SquareConfig{Eps: eps, Queries: 50}, APGDConfig{Eps: eps, Steps: 5}} {
		a, err := spec.Start(m, x, y, Options{Seed: 4})
		if err != nil {
			t.Fatal(err)
		}
		attacked := a.State().Pred // the clean predictions: only correct ones are attacked
		correct := make([]bool, len(y))
		for i, p := range attacked {
			correct[i] = p == y[i]
		}
		if _, err := a.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
		st := a.State()
		if st.Iterate == nil || st.Iterate == st.Adv {
			t.Fatalf("%s: no Iterate of its own", spec.Name())
		}
		for i := range y {
			var li float64
			for j := i * per; j < (i+1)*per; j++ {
				li = max(li, math.Abs(float64(st.Iterate.Data[j]-x.Data[j])))
			}
			if math.Abs(li-float64(st.IterLInf[i])) > 1e-6 {
				t.Fatalf("%s image %d: IterLInf %v, measured %v", spec.Name(), i, st.IterLInf[i], li)
			}
			switch {
			case !correct[i] && li != 0:
				t.Fatalf("%s image %d: misclassified clean, not attacked, yet its iterate moved %v", spec.Name(), i, li)
			case correct[i] && spec.Name() == "square" && math.Abs(li-eps) > 1e-6:
				t.Fatalf("square image %d: after the striped start ‖δ‖∞ = %v, want ε %v", i, li, eps)
			case correct[i] && spec.Name() == "apgd" && li < eps/4:
				t.Fatalf("apgd image %d: after one step ‖δ‖∞ = %v", i, li)
			}
			if st.Pred[i] == y[i] && st.LInf[i] != 0 {
				t.Fatalf("%s image %d: unfooled, yet its result moved %v", spec.Name(), i, st.LInf[i])
			}
		}
	}
	a, err := NewPGD(m, x, y, PGDConfig{Eps: eps}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := a.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
		if st := a.State(); st.Iterate != st.Adv || st.IterLInf[0] != st.LInf[0] {
			t.Fatal("PGD's Iterate is not its Adv")
		}
	}
}

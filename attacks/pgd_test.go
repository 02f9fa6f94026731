package attacks

import (
	"context"
	"testing"

	"github.com/bionaslab/bionas/nn/rule"
)

// TestPGDOneStepIsFGSM: one step of α ≤ ε from x itself is FGSM with ε = α.
func TestPGDOneStepIsFGSM(t *testing.T) {
	m := tinyCNN(t, rule.FA, 13)
	x, y := synthBatch(8, 1)
	for _, mode := range []GradMode{Own, True} {
		p, _ := NewPGD(m, x, y, PGDConfig{Eps: 0.3, Alpha: 0.05, Steps: 1, NoRandomStart: true}, Options{Grad: mode})
		f, _ := NewFGSM(m, x, y, FGSMConfig{Eps: 0.05}, Options{Grad: mode})
		pa, err := p.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		fa, err := f.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for i := range pa.Data {
			if pa.Data[i] != fa.Data[i] {
				t.Fatalf("%s: PGD step and FGSM differ at %d: %v vs %v", mode, i, pa.Data[i], fa.Data[i])
			}
		}
	}
}

// TestPGDStepsAndQueries: Steps iterations, Steps+1 model passes, the
// random start inside the ball, and the loss rising.
func TestPGDStepsAndQueries(t *testing.T) {
	m := tinyCNN(t, rule.BP, 14)
	x, y := synthBatch(8, 1)
	a, _ := NewPGD(m, x, y, PGDConfig{Eps: 0.1, Alpha: 0.02, Steps: 6}, Options{Seed: 1})
	checkInvariants(t, "random start", x, a.State(), 0.1)
	if a.State().MaxLInf() == 0 {
		t.Fatal("no random start")
	}
	var first float32
	n := 0
	for {
		done, err := a.Step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		n++
		if n == 1 {
			first = a.State().MeanLoss()
		}
		if done {
			break
		}
	}
	st := a.State()
	if n != 6 || st.Iter != 6 {
		t.Fatalf("%d steps, iter %d", n, st.Iter)
	}
	if q := st.MaxQueries(); q != 7 {
		t.Fatalf("%d queries, want 7", q)
	}
	if !(st.MeanLoss() > first) {
		t.Fatalf("loss %v after 6 steps, %v after 1", st.MeanLoss(), first)
	}
}

// TestTPGDAscendsKL: the KL to the clean prediction starts near 0 and
// grows.
func TestTPGDAscendsKL(t *testing.T) {
	m := tinyCNN(t, rule.BRSF, 15)
	x, y := synthBatch(8, 1)
	a, _ := NewTPGD(m, x, y, TPGDConfig{Eps: 0.1, Alpha: 0.02, Steps: 5}, Options{Seed: 1, Grad: Own})
	if _, err := a.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := a.State().MeanLoss()
	if _, err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	last := a.State().MeanLoss()
	if !(last > first) || first < 0 {
		t.Fatalf("KL %v after one step, %v at the end", first, last)
	}
}

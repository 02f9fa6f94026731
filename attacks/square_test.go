package attacks

import (
	"context"
	"math"
	"testing"

	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/rule"
)

// TestSquareNeverExceedsItsQueryBudget runs Square with budgets from 1 to
// 40 queries, restarts and both window modes, on a model it can and one it
// cannot fool.
func TestSquareNeverExceedsItsQueryBudget(t *testing.T) {
	strong := tinyCNN(t, rule.BP, 31)
	x, y := synthBatch(10, 1)
	for _, eps := range []float64{0.02, 0.4} {
		for _, q := range []int{1, 2, 7, 40} {
			for _, restarts := range []int{1, 3} {
				for _, shared := range []bool{false, true} {
					cfg := SquareConfig{Eps: eps, Queries: q, Restarts: restarts, SharedWindow: shared}
					a, err := NewSquare(strong, x, y, cfg, Options{Seed: 9})
					if err != nil {
						t.Fatal(err)
					}
					steps := 0
					for {
						done, err := a.Step(context.Background())
						if err != nil {
							t.Fatal(err)
						}
						steps++
						if got := a.State().MaxQueries(); got > cfg.QueryBudget() {
							t.Fatalf("%s: %d queries > budget %d", cfg.Label(), got, cfg.QueryBudget())
						}
						if done {
							break
						}
					}
					st := a.State()
					if steps > cfg.Restarts*cfg.Queries+1 {
						t.Fatalf("%s: %d steps", cfg.Label(), steps)
					}
					// An image the attack could not fool comes back clean.
					per := x.Len() / len(y)
					for i, p := range st.Pred {
						if p == y[i] {
							for j := i * per; j < (i+1)*per; j++ {
								if st.Adv.Data[j] != x.Data[j] {
									t.Fatalf("%s: unfooled image %d is not clean", cfg.Label(), i)
								}
							}
						}
					}
					checkInvariants(t, cfg.Label(), x, st, eps)
				}
			}
		}
	}
}

// spy records the batches a model is shown.
type spy struct {
	m       Model
	batches []*nn.Tensor
}

func (s *spy) Forward(g *nn.Graph, x *nn.Tensor) *nn.Tensor {
	s.batches = append(s.batches, x.Clone())
	return s.m.Forward(g, x)
}

// TestSquareWindows: with SharedWindow every candidate of an iteration
// changes pixels inside one common s×s window; by default each image draws
// its own. A model that always predicts the label never accepts a
// candidate, so each candidate differs from the striped start only inside
// its window.
func TestSquareWindows(t *testing.T) {
	lin := linearModel(tH*tW, tK, 1)
	clear(lin.W.Data)
	lin.Bias.Data = []float32{5, 0, 0, 0}
	x := randomImages(16, 1, tH, tW, 4)
	for i := range x.Data {
		x.Data[i] = 0.3 + 0.4*x.Data[i] // far from the [0,1] walls
	}
	y := make([]int, 16)
	for _, shared := range []bool{true, false} {
		sp := &spy{m: lin}
		cfg := SquareConfig{Eps: 0.05, Queries: 12, PInit: 0.05, SharedWindow: shared}
		a, err := NewSquare(sp, x, y, cfg, Options{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		// batches: clean, stripes, then one per iteration
		if len(sp.batches) != 1+cfg.Queries {
			t.Fatalf("%d model calls, want %d", len(sp.batches), 1+cfg.Queries)
		}
		start := sp.batches[1]
		wider := 0
		for it, cand := range sp.batches[2:] {
			s := max(int(math.Round(math.Sqrt(a.pSelection(it)*tH*tW))), 1)
			r0, r1, c0, c1 := tH, -1, tW, -1
			for q, v := range cand.Data {
				if v != start.Data[q] {
					p := q % (tH * tW)
					r, c := p/tW, p%tW
					r0, r1, c0, c1 = min(r0, r), max(r1, r), min(c0, c), max(c1, c)
				}
			}
			if r1 < 0 {
				continue
			}
			if r1-r0+1 > s || c1-c0+1 > s {
				wider++
			}
		}
		if shared && wider > 0 {
			t.Fatalf("shared window: %d iterations changed pixels outside one %s window", wider, "s×s")
		}
		if !shared && wider == 0 {
			t.Fatal("per-image windows: every iteration's changes fit in one window")
		}
	}
}

// TestSquareSchedule pins p_selection at the breakpoints (rescaled to
// 10000 queries).
func TestSquareSchedule(t *testing.T) {
	a := &Square{cfg: SquareConfig{Queries: 10000, PInit: 0.8}}
	for _, c := range []struct {
		i int
		p float64
	}{{0, 0.8}, {10, 0.8}, {11, 0.4}, {50, 0.4}, {51, 0.2}, {500, 0.1}, {501, 0.05}, {8001, 0.8 / 512}} {
		if got := a.pSelection(c.i); got != c.p {
			t.Fatalf("p(%d) = %v, want %v", c.i, got, c.p)
		}
	}
	a.cfg.Queries = 100 // i = 1 is 100 on the 10000 scale
	if got := a.pSelection(1); got != 0.2 {
		t.Fatalf("rescaled p(1 of 100) = %v, want 0.2", got)
	}
}

package attacks

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/rule"
)

// invariantSpecs are small versions of every attack, untargeted and
// targeted where the method has both.
func invariantSpecs(surrogate Model) []Spec {
	rnd := Targeting{Mode: TargetRandom}
	return []Spec{
		FGSMConfig{Eps: 0.2},
		FGSMConfig{Eps: 0.05, Target: rnd},
		PGDConfig{Eps: 0.1, Alpha: 0.03, Steps: 5},
		PGDConfig{Eps: 0.1, Alpha: 0.03, Steps: 3, NoRandomStart: true, Target: Targeting{Mode: TargetLeastLikely}},
		TPGDConfig{Eps: 0.08, Alpha: 0.02, Steps: 4},
		APGDConfig{Eps: 0.1, Steps: 8, Restarts: 2},
		APGDConfig{Eps: 0.05, Steps: 6, Loss: "dlr"},
		OnePixelConfig{Pixels: 2, Steps: 3, PopSize: 4, Batch: 7},
		OnePixelConfig{Pixels: 1, Steps: 2, Target: rnd},
		SquareConfig{Eps: 0.1, Queries: 20},
		SquareConfig{Eps: 0.1, Queries: 15, Restarts: 2, SharedWindow: true, Target: rnd},
		TransferConfig{Surrogate: surrogate, SurrogateName: "bp"},
		TransferConfig{Surrogate: surrogate, Attack: PGDConfig{Eps: 0.05, Steps: 2}},
	}
}

// TestEveryAttackKeepsItsBudget steps every attack on fa and dfa models in
// both modes and checks, after every step: pixels in [0,1], inside the
// ε-ball (L∞ attacks) or the pixel budget (One-Pixel), queries within the
// budget (Square), norms and predictions consistent, and termination.
func TestEveryAttackKeepsItsBudget(t *testing.T) {
	ctx := context.Background()
	sur := tinyCNN(t, rule.BP, 7)
	x, y := synthBatch(10, 1)
	for _, r := range []rule.Rule{rule.FA, rule.DFA} {
		m := tinyCNN(t, r, 2)
		for _, spec := range invariantSpecs(sur) {
			modes := []GradMode{Own, True}
			if !spec.WhiteBox() {
				modes = []GradMode{Own}
			}
			for _, mode := range modes {
				name := string(r) + "/" + string(mode) + "/" + spec.Label()
				a, err := spec.Start(m, x, y, Options{Grad: mode, Seed: 5})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if a.Name() != spec.Name() {
					t.Fatalf("%s: attack name %q, spec %q", name, a.Name(), spec.Name())
				}
				steps := 0
				for {
					done, err := a.Step(ctx)
					if err != nil {
						t.Fatalf("%s: step %d: %v", name, steps, err)
					}
					steps++
					st := a.State()
					checkInvariants(t, name, x, st, spec.Epsilon())
					if st.Iter > st.Iters {
						t.Fatalf("%s: iteration %d of %d", name, st.Iter, st.Iters)
					}
					if op, ok := spec.(OnePixelConfig); ok {
						per := x.Len() / len(y)
						for i := range y {
							if c := changedPixels(st.Adv.Data[i*per:(i+1)*per], x.Data[i*per:(i+1)*per], tC, tH, tW); c > op.Pixels {
								t.Fatalf("%s: image %d has %d changed pixels, budget %d", name, i, c, op.Pixels)
							}
						}
					}
					if sq, ok := spec.(SquareConfig); ok {
						if q := st.MaxQueries(); q > sq.QueryBudget() {
							t.Fatalf("%s: %d queries, budget %d", name, q, sq.QueryBudget())
						}
					}
					if done {
						break
					}
					if steps > 1000 {
						t.Fatalf("%s: no end after %d steps", name, steps)
					}
				}
				st := a.State()
				if !st.Done {
					t.Fatalf("%s: Step said done but State.Done is false", name)
				}
				if again, err := a.Step(ctx); !again || err != nil {
					t.Fatalf("%s: Step after done = %v, %v", name, again, err)
				}
				// Pred must be the model's prediction on Adv, and the norms
				// those of Adv − x.
				pred := nn.Argmax(m.Forward(nil, st.Adv))
				for i := range pred {
					if pred[i] != st.Pred[i] {
						t.Fatalf("%s: image %d: state says prediction %d, the model %d", name, i, st.Pred[i], pred[i])
					}
				}
				per := x.Len() / len(y)
				for i := range y {
					var li float32
					for j := i * per; j < (i+1)*per; j++ {
						li = max(li, float32(math.Abs(float64(st.Adv.Data[j]-x.Data[j]))))
					}
					if li != st.LInf[i] {
						t.Fatalf("%s: image %d: L∞ %v, state says %v", name, i, li, st.LInf[i])
					}
				}
			}
		}
	}
}

// TestRunHonoursCancellation: a cancelled context stops every attack with
// an error that wraps context.Canceled and names the attack.
func TestRunHonoursCancellation(t *testing.T) {
	m := tinyCNN(t, rule.BP, 3)
	x, y := synthBatch(4, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, spec := range invariantSpecs(m) {
		a, err := spec.Start(m, x, y, Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.Run(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: Run on a cancelled context: %v", spec.Label(), err)
		}
	}
}

// TestGradModesAgreeOnBPDifferOnFeedbackRules: own and true gradients are
// the same computation (bit for bit) on a bp model, and differ on models
// whose layers send errors through B.
func TestGradModesAgreeOnBPDifferOnFeedbackRules(t *testing.T) {
	x, y := synthBatch(8, 1)
	for _, r := range []rule.Rule{rule.BP, rule.FA, rule.DFA, rule.USF, rule.BRSF, rule.FRSF} {
		t.Run(string(r), func(t *testing.T) {
			m := tinyCNN(t, r, 4)
			_, own, err := InputGradient(m, x, y, Own)
			if err != nil {
				t.Fatal(err)
			}
			_, tru, err := InputGradient(m, x, y, True)
			if err != nil {
				t.Fatal(err)
			}
			var diff, norm float64
			for i := range own {
				diff = math.Max(diff, math.Abs(float64(own[i]-tru[i])))
				norm = math.Max(norm, math.Abs(float64(tru[i])))
			}
			if norm == 0 {
				t.Fatal("zero true gradient")
			}
			if r == rule.BP {
				if diff != 0 {
					t.Fatalf("bp: own and true differ by %g", diff)
				}
				// and whole attacks agree too
				advs := map[GradMode]*nn.Tensor{}
				for _, mode := range []GradMode{Own, True} {
					a, err := NewPGD(m, x, y, PGDConfig{Eps: 0.1, Steps: 3}, Options{Grad: mode, Seed: 1})
					if err != nil {
						t.Fatal(err)
					}
					if advs[mode], err = a.Run(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
				for i, v := range advs[Own].Data {
					if v != advs[True].Data[i] {
						t.Fatalf("bp: PGD own and true differ at %d", i)
					}
				}
				return
			}
			if diff < 1e-3*norm {
				t.Fatalf("%s: own and true agree to %g (|g| %g): the own mode does not use the feedback path", r, diff, norm)
			}
		})
	}
}

// TestGradientDoesNotTouchWeights: a gradient pass leaves no weight
// gradients behind and restores NeedsGrad.
func TestGradientDoesNotTouchWeights(t *testing.T) {
	m := tinyCNN(t, rule.FA, 5)
	for _, p := range m.Params() {
		p.T.Grad = nil
	}
	x, y := synthBatch(4, 1)
	if _, _, err := InputGradient(m, x, y, Own); err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params() {
		if p.T.Grad != nil || !p.T.NeedsGrad {
			t.Fatalf("%s: grad %v, NeedsGrad %v after an attack's gradient pass", p.Name, p.T.Grad != nil, p.T.NeedsGrad)
		}
	}
	if x.Grad != nil {
		t.Fatal("the caller's batch received a gradient buffer")
	}
}

// TestTargetedRaisesTargetProbability: every targeted attack raises the
// mean probability of the targets.
func TestTargetedRaisesTargetProbability(t *testing.T) {
	m := tinyCNN(t, rule.BP, 6)
	x, y := synthBatch(16, 1)
	p0, k := probsOf(m, x)
	for _, mode := range []TargetMode{TargetRandom, TargetLeastLikely} {
		tg := Targeting{Mode: mode}
		for _, spec := range []Spec{
			FGSMConfig{Eps: 0.1, Target: tg},
			PGDConfig{Eps: 0.1, Alpha: 0.02, Steps: 5, Target: tg},
			OnePixelConfig{Pixels: 3, Steps: 5, Target: tg},
			SquareConfig{Eps: 0.3, Queries: 50, Target: tg},
		} {
			a, err := spec.Start(m, x, y, Options{Seed: 2})
			if err != nil {
				t.Fatal(err)
			}
			adv, err := a.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			ts := a.State().Targets
			if len(ts) != len(y) {
				t.Fatalf("%s: %d targets", spec.Label(), len(ts))
			}
			p1, _ := probsOf(m, adv)
			var before, after float64
			for i, tc := range ts {
				if tc == y[i] {
					t.Fatalf("%s: target %d equals the label of image %d", spec.Label(), tc, i)
				}
				before += float64(p0[i*k+tc])
				after += float64(p1[i*k+tc])
			}
			if !(after > before) {
				t.Fatalf("%s: mean target probability %.4f → %.4f", spec.Label(), before/16, after/16)
			}
			t.Logf("%s: mean target probability %.4f → %.4f", spec.Label(), before/16, after/16)
		}
	}
}

// TestTargets pins the target modes.
func TestTargets(t *testing.T) {
	logits := nn.FromSlice([]float32{
		0, 1, 2, 3,
		3, 2, 1, 0,
		5, 0, 4, 1,
	}, 3, 4)
	y := []int{0, 0, 1}
	x := nn.New(3, 1, 1, 1)
	ll, err := Targeting{Mode: TargetLeastLikely}.targets(x, y, logits, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{1, 3, 3}; !equalInts(ll, want) {
		t.Fatalf("least likely %v, want %v", ll, want)
	}
	// image 2: classes ≠ 1 by increasing logit are 3, 2, 0
	second, _ := Targeting{Mode: TargetLeastLikely, Kth: 2}.targets(x, y, logits, nil)
	if want := []int{2, 2, 2}; !equalInts(second, want) {
		t.Fatalf("2nd least likely %v, want %v", second, want)
	}
	if _, err := (Targeting{Mode: TargetFixed, Classes: []int{1}}).targets(x, y, logits, nil); err == nil {
		t.Fatal("fixed targets of the wrong length accepted")
	}
	if _, err := (Targeting{Mode: TargetFixed, Classes: []int{1, 2, 9}}).targets(x, y, logits, nil); err == nil {
		t.Fatal("target out of range accepted")
	}
	if err := (Targeting{Mode: TargetFunc}).validate(); err == nil {
		t.Fatal("func mode without Func accepted")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestBadInputs: constructors reject what they cannot attack.
func TestBadInputs(t *testing.T) {
	m := linearModel(4, 3, 1)
	x := randomImages(2, 1, 2, 2, 1)
	bad := x.Clone()
	bad.Data[0] = 1.5
	cases := []struct {
		name string
		run  func() error
	}{
		{"pixel above 1", func() error { _, err := NewFGSM(m, bad, []int{0, 1}, FGSMConfig{}, Options{}); return err }},
		{"labels", func() error { _, err := NewPGD(m, x, []int{0}, PGDConfig{}, Options{}); return err }},
		{"eps", func() error { _, err := NewPGD(m, x, []int{0, 1}, PGDConfig{Eps: 2}, Options{}); return err }},
		{"mode", func() error { _, err := NewFGSM(m, x, []int{0, 1}, FGSMConfig{}, Options{Grad: "fast"}); return err }},
		{"apgd loss", func() error { _, err := NewAPGD(m, x, []int{0, 1}, APGDConfig{Loss: "hinge"}, Options{}); return err }},
		{"dlr 2 classes", func() error {
			_, err := NewAPGD(linearModel(4, 2, 1), x, []int{0, 1}, APGDConfig{Loss: "dlr"}, Options{})
			return err
		}},
		{"square p", func() error { _, err := NewSquare(m, x, []int{0, 1}, SquareConfig{PInit: 2}, Options{}); return err }},
		{"onepixel pixels", func() error {
			_, err := NewOnePixel(m, x, []int{0, 1}, OnePixelConfig{Pixels: 5}, Options{})
			return err
		}},
		{"transfer", func() error { _, err := NewTransfer(m, x, []int{0, 1}, TransferConfig{}, Options{}); return err }},
	}
	for _, c := range cases {
		if err := c.run(); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

// TestSameSeedSameAttack: randomness comes only from the seed.
func TestSameSeedSameAttack(t *testing.T) {
	m := tinyCNN(t, rule.FRSF, 8)
	x, y := synthBatch(6, 1)
	for _, spec := range []Spec{PGDConfig{Eps: 0.1, Steps: 2}, SquareConfig{Eps: 0.2, Queries: 10}, OnePixelConfig{Steps: 2}, APGDConfig{Eps: 0.1, Steps: 3}} {
		var prev *nn.Tensor
		for range 2 {
			a, _ := spec.Start(m, x, y, Options{Seed: 42})
			adv, err := a.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if prev != nil {
				for i := range adv.Data {
					if adv.Data[i] != prev.Data[i] {
						t.Fatalf("%s: same seed, different result at %d", spec.Label(), i)
					}
				}
			}
			prev = adv.Clone()
		}
	}
}

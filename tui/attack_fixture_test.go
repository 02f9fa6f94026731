package tui

import (
	"context"
	"maps"
	"math"
	"testing"
	"time"

	"github.com/bionaslab/bionas/attacks"
	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/lab/labtest"
)

// attackLab is a lab of fake runs (r0001 a search, r0002 its training,
// r0003 a retrain, r0004 a robustness report of r0003) whose report and
// stepper look like the engine's: the report has every attack, white-box
// ones in both modes, n per row, black-box rows, a PGD budget warning and
// a Square row at 0.0%; the stepper (scriptStepper) knows black-box and
// L0 attacks, budgets and warnings, and takes as many steps as the real
// attacks (Square 5000). delay slows each step down.
func attackLab(t testing.TB, delay time.Duration) *lab.Lab {
	t.Helper()
	f := &labtest.Fake{StepsPerEpoch: 10, Epochs: 2}
	b := f.Backend()
	b.Jobs = maps.Clone(b.Jobs)
	b.Jobs[lab.KindAttack] = func(ctx context.Context, j *lab.Job) error {
		j.Emit(lab.Event{Kind: lab.EventAttack, Attack: fixtureReport(j.Parent.ID, j.Spec.Attack.Eps)})
		return nil
	}
	b.Attacks = []string{"fgsm", "pgd", "tpgd", "apgd", "onepixel", "square"}
	b.Stepper = func(_ context.Context, model lab.RunInfo, _ string, spec lab.AttackSpec) (lab.Stepper, error) {
		return newScriptStepper(spec, delay), nil
	}
	l, err := lab.Open(lab.Options{Dir: t.TempDir(), Backend: b, Now: fixedNow, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ctx := context.Background()
	must := func(info lab.RunInfo, err error) lab.RunInfo {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		got, err := l.WaitRun(ctx, info.ID)
		if err != nil || got.Status != lab.StatusDone {
			t.Fatalf("%s: %s %v", info.ID, got.Status, err)
		}
		return got
	}
	s := must(l.Start(lab.Spec{Kind: lab.KindSearch, Preset: "mnist-tiny", Epochs: 2}))
	tr := must(l.TrainGenotype(s.ID))
	rt := must(l.Retrain(tr.ID, []lab.RuleEdit{{Selector: "all", Rule: "usf"}}))
	must(l.Attack(lab.AttackSpec{Model: rt.ID, Attack: "all", BothModes: true, Eps: 0.3, N: 100}))
	return l
}

// fixtureReport is a finished report as the engine writes it.
func fixtureReport(model string, eps float64) *lab.AttackReport {
	pgd := attacks.PGDConfig{Eps: eps}
	rep := &lab.AttackReport{Model: model, Dataset: "mnist test", N: 100, Seed: 0, BatchSize: 100, CleanAcc: 0.97, WorstCase: 0}
	row := func(name, label, mode string, robust float64, budget, warning string) {
		bb := mode == attacks.BlackBoxLabel
		e := eps
		if name == "onepixel" {
			e = 0
		}
		rep.Rows = append(rep.Rows, lab.AttackRow{Attack: name, Label: label, Mode: mode, BlackBox: bb, Eps: e, Budget: budget,
			N: 100, RobustAcc: robust, Warning: warning})
	}
	b := attacks.Budget(pgd)
	row("fgsm", "FGSM ε=0.3", "own", 0.63, b, "")
	row("fgsm", "FGSM ε=0.3", "true", 0.41, b, "")
	row("pgd", pgd.Label(), "own", 0.87, b, attacks.BudgetWarning(pgd))
	row("pgd", pgd.Label(), "true", 0.8, b, attacks.BudgetWarning(pgd))
	tpgd := attacks.TPGDConfig{Eps: eps}
	row("tpgd", tpgd.Label(), "own", 0.9, b, attacks.BudgetWarning(tpgd))
	row("tpgd", tpgd.Label(), "true", 0.85, b, attacks.BudgetWarning(tpgd))
	row("apgd", "APGD-ce ε=0.3 10 steps", "own", 0.1, b, "")
	row("apgd", "APGD-ce ε=0.3 10 steps", "true", 0.02, b, "")
	row("onepixel", "OnePixel 1 px, 10 steps, popsize 10", attacks.BlackBoxLabel, 0.95, "1 pixel", "")
	row("square", "Square ε=0.3 5000 queries", attacks.BlackBoxLabel, 0, b, "")
	rep.Total = 100 * len(rep.Rows)
	rep.Done = rep.Total
	return rep
}

// scriptStepper is a stepper with the engine's manners and no model: an
// attack on labtest.Digit that moves by the budget from its first step
// (L∞ attacks: checks of ±ε; One-Pixel: one pixel set), as many steps as
// the real attack (Square 5000 queries), and the state's labels filled in
// as the engine fills them.
type scriptStepper struct {
	st    lab.AttackState
	delay time.Duration
}

func newScriptStepper(spec lab.AttackSpec, delay time.Duration) *scriptStepper {
	steps := map[string]int{"fgsm": 1, "square": 5000, "onepixel": 10}[spec.Attack]
	if steps == 0 {
		steps = 10
	}
	if spec.Steps > 0 && spec.Attack != "fgsm" {
		steps = spec.Steps
	}
	eps := spec.Eps
	if eps == 0 {
		eps = 8.0 / 255
	}
	label := spec.Image % 10
	clean := labtest.Digit(label)
	st := lab.AttackState{Spec: spec, Steps: steps, Label: label, Pred: label,
		Classes: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}, CleanIm: clean, AdvIm: clean.Clone(),
		Probs: probsFor(label, 0), Clean: probsFor(label, 0), Budget: eps, Desc: spec.Attack}
	st.Losses = []float64{-math.Log(st.Probs[label])}
	switch spec.Attack {
	case "square":
		st.BlackBox = true
	case "onepixel":
		st.BlackBox, st.Budget, st.PixelBudget = true, 0, 1
	case "pgd":
		st.Warning = attacks.BudgetWarning(attacks.PGDConfig{Eps: eps, Steps: steps})
	}
	return &scriptStepper{st: st, delay: delay}
}

// probsFor moves probability mass from the label to the next class.
func probsFor(label int, t float64) []float64 {
	p := make([]float64, 10)
	for i := range p {
		p[i] = 0.01
	}
	p[label] += 0.9 * (1 - t)
	p[(label+1)%10] += 0.9 * t
	return p
}

func (s *scriptStepper) State() lab.AttackState { return *s.st.Clone() }

func (s *scriptStepper) Step(ctx context.Context) (lab.AttackState, error) {
	if err := ctx.Err(); err != nil {
		return s.State(), err
	}
	if s.delay > 0 {
		select {
		case <-ctx.Done():
			return s.State(), ctx.Err()
		case <-time.After(s.delay):
		}
	}
	st := &s.st
	if st.Done {
		return s.State(), nil
	}
	st.Step++
	t := float64(st.Step) / float64(st.Steps)
	if st.PixelBudget > 0 {
		copy(st.AdvIm.Pix, st.CleanIm.Pix)
		q := (st.Step * 37) % len(st.AdvIm.Pix)
		st.AdvIm.Pix[q] = 1 - st.CleanIm.Pix[q]
		st.LInf, st.Changed = 1, 1
	} else {
		eps := float32(st.Budget)
		for i := range st.AdvIm.Pix {
			d := eps
			if (i/28/4+i%28/4)%2 == 1 {
				d = -d
			}
			st.AdvIm.Pix[i] = min(max(st.CleanIm.Pix[i]+d, 0), 1)
		}
		st.LInf, st.Changed = float64(eps), 28*28
	}
	st.Probs = probsFor(st.Label, t)
	st.Pred = 0
	for k, v := range st.Probs {
		if v > st.Probs[st.Pred] {
			st.Pred = k
		}
	}
	st.Success = st.Pred != st.Label
	st.Losses = append(st.Losses, -math.Log(st.Probs[st.Label]))
	st.Queries = st.Step
	st.Done = st.Step >= st.Steps || st.Success
	return s.State(), nil
}

func (s *scriptStepper) Close() error { return nil }

package lab_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/lab"
)

// firstCorrect steps nothing: it finds a test image the model classifies
// correctly (attacks leave the others alone) by starting steppers.
func firstCorrect(t *testing.T, l *lab.Lab, spec lab.AttackSpec) lab.Stepper {
	t.Helper()
	for i := range 20 {
		spec.Image = i
		st, err := l.NewStepper(context.Background(), spec)
		if err != nil {
			t.Fatal(err)
		}
		if s := st.State(); s.Pred == s.Label {
			return st
		}
		st.Close()
	}
	t.Fatal("the model classifies none of the first 20 test images correctly")
	return nil
}

// TestStepperSquarePerturbsFromTheFirstStep: Square's first step is the
// striped start x ± ε, so the stepper's image moves by ε at once (it
// showed the clean image, ‖δ‖∞ 0.000, until the attack succeeded), and
// every step after keeps it in the ε-ball.
func TestStepperSquarePerturbsFromTheFirstStep(t *testing.T) {
	l, m := tinyModel(t)
	const eps = 0.3
	st := firstCorrect(t, l, lab.AttackSpec{Model: m.ID, Attack: "square", Eps: eps})
	defer st.Close()
	ctx := context.Background()
	for k := 1; k <= 9; k++ {
		s, err := st.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(s.LInf-eps) > 1e-6 {
			t.Fatalf("step %d: ‖δ‖∞ %v, want ε %v", k, s.LInf, eps)
		}
		var moved float64
		for i, v := range s.AdvIm.Pix {
			moved = max(moved, math.Abs(float64(v-s.CleanIm.Pix[i])))
		}
		if math.Abs(moved-s.LInf) > 1e-6 {
			t.Fatalf("step %d: the image shown moved %v, the state says %v", k, moved, s.LInf)
		}
		if s.Done {
			break
		}
	}
}

// TestStepperSaysWhatTheAttackIs: the stepper's state names black-box
// attacks as such (no gradient mode applies), gives One-Pixel's budget in
// pixels with the pixels it changed (it sets them to any value, so no ε
// bounds its ‖δ‖∞), and warns when PGD's steps cannot reach ε.
func TestStepperSaysWhatTheAttackIs(t *testing.T) {
	l, m := tinyModel(t)
	ctx := context.Background()
	for _, tc := range []struct {
		spec     lab.AttackSpec
		blackBox bool
		budget   float64
		pixels   int
		warn     string
	}{
		{lab.AttackSpec{Attack: "pgd", Eps: 0.3}, false, 0.3, 0, "10 steps × α 2/255 = 0.078 < ε 0.3"},
		{lab.AttackSpec{Attack: "pgd", Eps: 0.3, Steps: 50}, false, 0.3, 0, ""},
		{lab.AttackSpec{Attack: "pgd"}, false, 8.0 / 255, 0, ""}, // ε 0: the default 8/255
		{lab.AttackSpec{Attack: "square", Eps: 0.3, Mode: "true"}, true, 0.3, 0, ""},
		{lab.AttackSpec{Attack: "onepixel", Eps: 0.3}, true, 0, 1, ""},
	} {
		tc.spec.Model = m.ID
		st := firstCorrect(t, l, tc.spec)
		s := st.State()
		name := tc.spec.Attack
		if s.BlackBox != tc.blackBox || math.Abs(s.Budget-tc.budget) > 1e-12 || s.PixelBudget != tc.pixels || s.Desc == "" {
			t.Errorf("%s: black-box %v budget %v pixels %d desc %q", name, s.BlackBox, s.Budget, s.PixelBudget, s.Desc)
		}
		if (tc.warn == "") != (s.Warning == "") || !strings.Contains(s.Warning, tc.warn) {
			t.Errorf("%s: warning %q, want %q", name, s.Warning, tc.warn)
		}
		for k := 0; k < 4 && !s.Done; k++ {
			var err error
			if s, err = st.Step(ctx); err != nil {
				t.Fatal(err)
			}
			linf, changed := 0.0, 0
			plane := s.CleanIm.H * s.CleanIm.W
			for q := range plane {
				moved := false
				for c := range s.CleanIm.C {
					d := math.Abs(float64(s.AdvIm.Pix[c*plane+q] - s.CleanIm.Pix[c*plane+q]))
					linf, moved = max(linf, d), moved || d > 0
				}
				if moved {
					changed++
				}
			}
			if linf != s.LInf || changed != s.Changed || s.Queries < s.Step {
				t.Fatalf("%s step %d: ‖δ‖∞ %v changed %d queries %d; the image: %v, %d", name, s.Step, s.LInf, s.Changed, s.Queries, linf, changed)
			}
			if tc.pixels > 0 && s.Changed > tc.pixels {
				t.Fatalf("%s step %d: %d pixels changed, budget %d", name, s.Step, s.Changed, tc.pixels)
			}
			if tc.budget > 0 && s.LInf > tc.budget+1e-6 {
				t.Fatalf("%s step %d: ‖δ‖∞ %v > ε %v", name, s.Step, s.LInf, tc.budget)
			}
		}
		st.Close()
	}
}

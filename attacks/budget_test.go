package attacks

import (
	"context"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/nn/rule"
)

// TestBudgetWarning: an iterative attack whose steps·α fall short of ε is
// flagged (PGD at ε 0.3 with torchattacks' α 2/255 × 10 steps moves 0.078
// at most), with the steps that would reach ε; attacks that reach ε at
// once are not.
func TestBudgetWarning(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		want []string // substrings; none: no warning
	}{
		{PGDConfig{Eps: 0.3}, []string{"PGD: 10 steps × α 2/255 = 0.078 < ε 0.3", "≥ 39 steps", "pgd.steps", "α ≥ 0.03"}},
		{PGDConfig{Eps: 0.35, Alpha: 2.0 / 255, Steps: 10}, []string{"PGD", "≥ 45 steps"}}, // the paper's PGD
		{PGDConfig{Eps: 0.3, Steps: 38}, []string{"38 steps"}},
		{PGDConfig{Eps: 0.3, Steps: 39}, nil},
		{PGDConfig{}, nil}, // torchattacks' default: 10 × 2/255 ≥ 8/255
		{PGDConfig{Eps: 0.3, Alpha: 0.03}, nil},
		{TPGDConfig{Eps: 0.3}, []string{"TPGD: 10 steps", "tpgd.steps"}},
		{TPGDConfig{Eps: 8.0 / 255, Alpha: 2.0 / 255, Steps: 7}, nil}, // the paper's TPGD
		{TransferConfig{Attack: PGDConfig{Eps: 0.3}}, []string{"crafted by PGD"}},
		{TransferConfig{}, nil},
		{FGSMConfig{Eps: 0.3}, nil},
		{APGDConfig{Eps: 0.3}, nil},
		{SquareConfig{Eps: 0.3}, nil},
		{OnePixelConfig{}, nil},
	} {
		got := BudgetWarning(tc.spec)
		if len(tc.want) == 0 && got != "" {
			t.Errorf("%s: warning %q, want none", tc.spec.Label(), got)
		}
		if len(tc.want) > 0 && got == "" {
			t.Errorf("%s: no warning", tc.spec.Label())
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: warning %q lacks %q", tc.spec.Label(), got, w)
			}
		}
	}
}

// TestBudgetWarningIsTrue: PGD from the clean image (no random start)
// never moves a pixel more than steps·α, whatever ε; the warning's claim.
func TestBudgetWarningIsTrue(t *testing.T) {
	m := tinyCNN(t, rule.BP, 61)
	x, y := synthBatch(8, 1)
	cfg := PGDConfig{Eps: 0.3, NoRandomStart: true}
	a, err := NewPGD(m, x, y, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, reach := a.State().MaxLInf(), float32(10*2.0/255); got > reach+1e-6 || got < reach/2 {
		t.Fatalf("PGD at ε 0.3 moved %v, want ≤ steps·α = %v", got, reach)
	}
}

// TestBudgetAndGradientWords: the words reports use for budgets and
// gradient modes; One-Pixel's budget is pixels (it sets them to any
// value), the black-box attacks have no gradient whatever the mode.
func TestBudgetAndGradientWords(t *testing.T) {
	for _, tc := range []struct {
		spec           Spec
		budget, gradOn string
		pixels         int
	}{
		{FGSMConfig{Eps: 0.3}, "ε 0.3", "true", 0},
		{PGDConfig{}, "ε 8/255", "true", 0},
		{OnePixelConfig{}, "1 pixel", BlackBoxLabel, 1},
		{OnePixelConfig{Pixels: 3}, "3 pixels", BlackBoxLabel, 3},
		{SquareConfig{Eps: 0.3}, "ε 0.3", BlackBoxLabel, 0},
		{TransferConfig{}, "ε 8/255", BlackBoxLabel, 0},
	} {
		if got := Budget(tc.spec); got != tc.budget {
			t.Errorf("%s: budget %q, want %q", tc.spec.Label(), got, tc.budget)
		}
		if got := Gradient(tc.spec, True); got != tc.gradOn {
			t.Errorf("%s: gradient %q, want %q", tc.spec.Label(), got, tc.gradOn)
		}
		if got := PixelBudget(tc.spec); got != tc.pixels {
			t.Errorf("%s: pixel budget %d, want %d", tc.spec.Label(), got, tc.pixels)
		}
	}
	if got := Gradient(FGSMConfig{}, ""); got != "own" {
		t.Errorf("the zero mode is %q, want own", got)
	}
}

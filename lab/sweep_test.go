package lab_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/nn/rule"
	"github.com/bionaslab/bionas/search"
)

func jsonMarshalIndent(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }

func TestGridSpecs(t *testing.T) {
	g := lab.Grid{Base: lab.Spec{Kind: lab.KindSearch, Preset: "mnist-tiny"}, Seeds: []uint64{1, 2}, Spaces: []string{"bp", "bio"},
		Methods: []search.Method{"darts"}}
	specs, err := g.Specs()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range specs {
		got = append(got, s.Space+"/"+string(s.Method)+"/"+string(rune('0'+s.Seed)))
	}
	if want := "bp/darts/1 bp/darts/2 bio/darts/1 bio/darts/2"; strings.Join(got, " ") != want {
		t.Errorf("specs %v, want %s", got, want)
	}
	atk := lab.Grid{Base: lab.Spec{Kind: lab.KindAttack, Attack: &lab.AttackSpec{Model: "r0003"}}, Attacks: []string{"fgsm", "pgd"}, Eps: []float64{0.1, 0.3}}
	specs, err = atk.Specs()
	if err != nil || len(specs) != 4 || specs[3].Attack.Attack != "pgd" || specs[3].Attack.Eps != 0.3 || specs[0].Attack == specs[1].Attack {
		t.Fatalf("attack × eps: %v %+v", err, specs)
	}
	rules := lab.Grid{Base: lab.Spec{Kind: lab.KindRetrain, Parent: "r0002", Edits: []lab.RuleEdit{{Selector: "cell0", Rule: "bp"}}}, Rules: []rule.Rule{"fa", "dfa"}}
	specs, err = rules.Specs()
	if err != nil || len(specs) != 2 || len(specs[1].Edits) != 2 || specs[1].Edits[1].String() != "all=dfa" || len(specs[0].Edits) != 2 {
		t.Fatalf("rules: %v %+v", err, specs)
	}
}

func TestGridCheck(t *testing.T) {
	tests := []struct {
		g    lab.Grid
		want string
	}{
		{lab.Grid{Base: lab.Spec{Kind: lab.KindSearch}, Rules: []rule.Rule{"fa"}}, "rules apply to train and retrain"},
		{lab.Grid{Base: lab.Spec{Kind: lab.KindSearch}, Eps: []float64{0.1}}, "eps apply to attack"},
		{lab.Grid{Base: lab.Spec{Kind: lab.KindTrain}, Spaces: []string{"bp"}}, "spaces apply to search"},
		{lab.Grid{Base: lab.Spec{Kind: lab.KindSearch}, Spaces: []string{"nope"}}, `space "nope"`},
		{lab.Grid{Base: lab.Spec{Kind: lab.KindSearch}, Methods: []search.Method{"nope"}}, "nope"},
		{lab.Grid{Base: lab.Spec{Kind: lab.KindRetrain}, Rules: []rule.Rule{"fa"}}, "needs the run to retrain"},
		{lab.Grid{Base: lab.Spec{Kind: lab.KindAttack}, Attacks: []string{"fgsm"}}, "needs the model's run"},
		{lab.Grid{Base: lab.Spec{Kind: lab.KindAttack, Attack: &lab.AttackSpec{Model: "r1"}}, Eps: []float64{2}}, "eps 2"},
		{lab.Grid{Base: lab.Spec{Kind: lab.KindSearch}, Seeds: make([]uint64, 40), Spaces: make([]string, 40)}, "more than 1000 runs"},
	}
	for _, tc := range tests {
		if err := tc.g.Check(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v; want %q", tc.g, err, tc.want)
		}
	}
}

func TestSweepProgress(t *testing.T) {
	runs := []lab.RunInfo{{ID: "r1"}, {ID: "r2", Sweep: "s0002", Status: lab.StatusDone}, {ID: "r3", Sweep: "s0002", Status: lab.StatusRunning},
		{ID: "r4", Sweep: "s0002", Status: lab.StatusFailed}}
	p := lab.Sweeps(runs)
	if len(p) != 1 || p[0].String() != "1/3 done, 1 running, 1 failed" {
		t.Errorf("%+v", p)
	}
}

package lab_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bionaslab/bionas/attacks"
	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/search"
)

// TestEngineTinySynthetic runs the real backend end to end on a few
// synthetic images with tiny networks: a search, the training of its
// genotype, a retrain with an edited rule, an attack stepper and a
// robustness report. It checks the plumbing (events, snapshots, files,
// parent links), not the numbers.
func TestEngineTinySynthetic(t *testing.T) {
	if testing.Short() {
		t.Skip("trains (tiny) networks")
	}
	l, err := lab.Open(lab.Options{Dir: t.TempDir(), Backend: lab.Engine(lab.EngineOptions{}), FlushInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := func(info lab.RunInfo, err error) lab.RunInfo {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		got, err := l.WaitRun(ctx, info.ID)
		if err != nil || got.Status != lab.StatusDone {
			t.Fatalf("%s %s: %s %q %v", info.ID, info.Kind, got.Status, got.Error, err)
		}
		return got
	}
	start := time.Now()
	s := run(l.Start(lab.Spec{Kind: lab.KindSearch, Preset: "mnist-tiny", Dataset: "synthetic", Space: "bp",
		Epochs: 1, Subset: 32, BatchSize: 8, C: 2, Cells: 2, Seed: 3}))
	t.Logf("search: %v", time.Since(start))
	snap, _ := l.Snapshot(s.ID)
	if snap.Genotype == nil || snap.Alphas == nil || len(snap.Alphas.Normal) != len(snap.Alphas.Edges) || len(snap.Points) == 0 {
		t.Fatalf("search snapshot: genotype %v, alphas %v, %d points", snap.Genotype != nil, snap.Alphas != nil, len(snap.Points))
	}
	// The job records the configuration it ran with, defaults filled in
	// (the run details show it).
	for id, want := range map[string][]string{s.ID: {`"method": "darts"`, `"darts": {`, `"seed": 3`}} {
		b, err := os.ReadFile(filepath.Join(l.RunDir(id), "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s config.json lacks %s:\n%s", id, w, b)
			}
		}
	}
	layers, err := l.Layers(ctx, s.ID)
	if err != nil || len(layers) == 0 {
		t.Fatalf("layers of the search's genotype: %v", err)
	}

	start = time.Now()
	tr := run(l.Start(lab.Spec{Kind: lab.KindTrain, Parent: s.ID, Dataset: "synthetic", Genotype: snap.Genotype,
		Epochs: 1, Subset: 32, BatchSize: 16, C: 4, Cells: 2, Seed: 3}))
	t.Logf("train: %v", time.Since(start))
	if tr.Last.TestAcc == 0 {
		t.Fatalf("train run reported no test accuracy: %+v", tr.Last)
	}
	if b, err := os.ReadFile(filepath.Join(l.RunDir(tr.ID), "config.json")); err != nil || !strings.Contains(string(b), `"train": {`) || !strings.Contains(string(b), `"params":`) {
		t.Errorf("train config.json: %v\n%s", err, b)
	}
	ch := run(l.Retrain(tr.ID, []lab.RuleEdit{{Selector: "all", Rule: "fa"}}))
	cl, _ := l.Layers(ctx, ch.ID)
	for _, x := range cl {
		if x.Rule != "fa" {
			t.Fatalf("retrained layer %s is %s", x.Name, x.Rule)
		}
	}

	st, err := l.NewStepper(ctx, lab.AttackSpec{Model: ch.ID, Attack: "pgd", Mode: attacks.Own, Eps: 0.1, Steps: 2, Image: 3})
	if err != nil {
		t.Fatal(err)
	}
	var as lab.AttackState
	for i := 0; !as.Done && i < 5; i++ {
		if as, err = st.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if !as.Done || as.Step != 2 || len(as.Probs) != 10 || as.LInf > 0.1+1e-6 || len(as.AdvIm.Pix) != 28*28 {
		t.Fatalf("stepper: done %v step %d probs %d linf %v", as.Done, as.Step, len(as.Probs), as.LInf)
	}
	rep := run(l.Attack(lab.AttackSpec{Model: ch.ID, Attack: "fgsm", Mode: attacks.True, Eps: 0.1, N: 8}))
	rs, _ := l.Snapshot(rep.ID)
	if rs.Attack == nil || len(rs.Attack.Rows) != 1 || rs.Attack.Done != 8 {
		t.Fatalf("attack report %+v", rs.Attack)
	}
}

// TestEngineRulesStudySmoke runs a rules study on the real engine (smoke
// budget, synthetic images): every single rule and a random assignment
// train, dfa included, and the report is written.
func TestEngineRulesStudySmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("trains tiny networks")
	}
	l, err := lab.Open(lab.Options{Dir: t.TempDir(), Backend: lab.Engine(lab.EngineOptions{}), FlushInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// A smoke search would find a cell of pools and skips, which the study
	// refuses (no rule to compare): study a hand-made genotype instead,
	// through a train run that holds it.
	g, err := search.ParseGenotype("Genotype(normal=[('sep_conv_3x3:fa', 0), ('max_pool_3x3', 1), ('dil_conv_3x3:usf', 0), ('skip_connect', 2)], normal_concat=range(2, 4), " +
		"reduce=[('sep_conv_3x3:frsf', 0), ('avg_pool_3x3', 1), ('dil_conv_3x3:brsf', 2), ('max_pool_3x3', 0)], reduce_concat=range(2, 4))")
	if err != nil {
		t.Fatal(err)
	}
	holder, err := l.Start(lab.Spec{Kind: lab.KindTrain, Dataset: "synthetic", Genotype: &g, Epochs: 1, Subset: 32, C: 2, Cells: 2, BatchSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := l.WaitRun(context.Background(), holder.ID); r.Status != lab.StatusDone {
		t.Fatalf("holder run %s: %s", r.Status, r.Error)
	}
	start := time.Now()
	st, err := l.RunStudy(context.Background(), lab.StudySpec{Kind: lab.StudyRules, Dataset: "synthetic", Budget: lab.BudgetSmoke, Random: 1, Search: holder.ID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rules study, smoke budget: %v; genotype %s", time.Since(start), st.Genotype)
	rep, err := lab.ReadStudyReport(l.Dir(), st.ID)
	if err != nil || rep == nil {
		t.Fatal(err)
	}
	for _, r := range rep.Rules {
		if r.N != 1 || r.Mean <= 0 {
			t.Errorf("row %+v", r)
		}
	}
	// The robustness study on those models: every attack, both modes, the
	// transfer from the bp model, One-Pixel on 1 and 2 pixels.
	start = time.Now()
	rs, err := l.RunStudy(context.Background(), lab.StudySpec{Kind: lab.StudyRobustness, Dataset: "synthetic", Budget: lab.BudgetSmoke}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("robustness study, smoke budget: %v", time.Since(start))
	rr, err := lab.ReadStudyReport(l.Dir(), rs.ID)
	if err != nil || rr == nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rr.Robustness {
		seen[r.Attack+" "+r.Budget] = true
		if !r.BlackBox && r.Models != 1 {
			t.Errorf("row %+v", r)
		}
	}
	for _, want := range []string{"fgsm ε 0.1", "pgd ε 0.1", "tpgd ε 0.1", "apgd ε 0.1", "square ε 0.1", "transfer ε 0.1", "onepixel 1 pixel", "onepixel 2 pixels"} {
		if !seen[want] {
			t.Errorf("no %q row: %v", want, seen)
		}
	}
	// The dynamics study: the probes reach dynamics.jsonl and the report.
	start = time.Now()
	ds, err := l.RunStudy(context.Background(), lab.StudySpec{Kind: lab.StudyDynamics, Dataset: "synthetic", Budget: lab.BudgetSmoke, Search: holder.ID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dynamics study, smoke budget: %v", time.Since(start))
	dr, err := lab.ReadStudyReport(l.Dir(), ds.ID)
	if err != nil || dr == nil {
		t.Fatal(err)
	}
	if len(dr.Dynamics) != 3*(1+len(lab.SingleRules)) || len(dr.Plots) < 10 { // epochs 0, 1, 2
		t.Fatalf("%d dynamics rows, plots %v", len(dr.Dynamics), dr.Plots)
	}
	for _, r := range dr.Dynamics {
		if r.Variant == "bp" && (r.AngleGrad > 1e-6 || r.AngleBW != 0) {
			t.Errorf("bp angles %+v", r)
		}
		if r.Variant == "fa" && !(r.AngleGrad > 1) {
			t.Errorf("fa angle to the true gradient %+v", r)
		}
	}
}

package lab_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/lab/labtest"
)

func TestStudySpecChecks(t *testing.T) {
	l := openLab(t, t.TempDir(), &labtest.Fake{})
	for _, c := range []struct {
		spec lab.StudySpec
		want string
	}{
		{lab.StudySpec{Kind: "speed"}, `unknown study "speed"`},
		{lab.StudySpec{Kind: lab.StudyRules, Dataset: "imagenet"}, "study --dataset"},
		{lab.StudySpec{Kind: lab.StudyRules, Seeds: 99}, "study --seeds 99"},
		{lab.StudySpec{Kind: lab.StudyRules, Budget: "huge"}, `study --budget "huge"`},
	} {
		if _, err := l.RunStudy(context.Background(), c.spec, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.spec, err, c.want)
		}
	}
}

// TestRulesStudyRunsResumesAndReports: a rules study is a search and one
// training per variant and seed; its report has a row per variant with
// the runs behind it; running it again starts nothing new.
func TestRulesStudyRunsResumesAndReports(t *testing.T) {
	dir := t.TempDir()
	l := openLab(t, dir, &labtest.Fake{StepsPerEpoch: 2, Epochs: 1})
	spec := lab.StudySpec{Kind: lab.StudyRules, Dataset: "fashion", Seeds: 2, Random: 2}
	var msgs []string
	st, err := l.RunStudy(context.Background(), spec, func(p lab.StudyProgress) { msgs = append(msgs, p.Message) })
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != "rules-fashion-mnist-quick-2seeds-2random" || st.Status != "done" || st.Search == "" || st.Genotype == nil {
		t.Fatalf("study %+v", st)
	}
	variants := 1 + len(lab.SingleRules) + 2
	if len(st.Cells) != 2*variants {
		t.Fatalf("%d cells, want %d", len(st.Cells), 2*variants)
	}
	runs := len(l.Runs())
	if runs != 1+2*variants {
		t.Fatalf("%d runs in the lab, want %d", runs, 1+2*variants)
	}
	for _, c := range st.Cells {
		r, _ := l.Run(c.Run)
		if r.Kind != lab.KindTrain || r.Parent != st.Search || r.Spec.Seed != c.Seed || r.Spec.Dataset != "fashion-mnist" || r.Spec.Subset != 8000 {
			t.Fatalf("cell %s seed %d: run %+v", c.Variant, c.Seed, r.Spec)
		}
		// A single-rule variant has that rule on every edge where a rule
		// acts, and nothing else.
		if c.Variant == "usf" && !strings.HasPrefix(lab.RuleCountsForTest(c.Genotype), "usf ") {
			t.Errorf("usf variant rules: %s", lab.RuleCountsForTest(c.Genotype))
		}
	}
	rep, err := lab.ReadStudyReport(dir, st.ID)
	if err != nil || rep == nil {
		t.Fatalf("report: %v", err)
	}
	if len(rep.Rules) != variants+1 { // + random (all)
		t.Fatalf("%d report rows", len(rep.Rules))
	}
	for _, r := range rep.Rules {
		want := 2
		if r.Variant == "random (all)" {
			want = 4
		}
		if r.N != want || len(r.Runs) != want || r.Mean <= 0 {
			t.Errorf("row %+v", r)
		}
	}
	if len(rep.Claims) < 2 {
		t.Errorf("claims %+v", rep.Claims)
	}
	md, err := os.ReadFile(filepath.Join(l.StudyDir(st.ID), lab.FileStudyReport))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| mixed |", "| usf |", "| random-2 |", "| random (all) |", "## The paper's claims, tested", "plots/rules-accuracy.png"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	for _, p := range rep.Plots {
		if fi, err := os.Stat(filepath.Join(l.StudyDir(st.ID), p)); err != nil || fi.Size() == 0 {
			t.Errorf("plot %s: %v", p, err)
		}
	}
	// Again: nothing new starts, the report is the same.
	if _, err := l.RunStudy(context.Background(), spec, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(l.Runs()); n != runs {
		t.Fatalf("the second run of the study started %d new runs", n-runs)
	}
	list, _ := l.Studies()
	if len(list) != 1 || list[0].ID != st.ID {
		t.Fatalf("studies %+v", list)
	}
}

// TestStudyResumesInterruptedRuns: a study stopped midway picks up where
// it was: finished runs kept, interrupted ones resumed.
func TestStudyResumesInterruptedRuns(t *testing.T) {
	dir := t.TempDir()
	f := &labtest.Fake{StepsPerEpoch: 2, Epochs: 1}
	l := openLab(t, dir, f)
	spec := lab.StudySpec{Kind: lab.StudyRules, Seeds: 1, Random: 1}
	ctx, cancel := context.WithCancel(context.Background())
	started := 0
	_, err := l.RunStudy(ctx, spec, func(p lab.StudyProgress) {
		if p.Done >= 3 && started == 0 {
			started = p.Done
			cancel()
		}
	})
	if err == nil {
		t.Fatal("a cancelled study returned no error")
	}
	st, _ := l.Studies()
	if len(st) != 1 || st[0].Status != "interrupted" {
		t.Fatalf("after cancel: %+v", st)
	}
	before := len(l.Runs())
	if _, err := l.RunStudy(context.Background(), spec, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(l.Runs()); n != before {
		t.Fatalf("resuming started %d new runs; the study recorded them all before", n-before)
	}
}

// TestStudyRunsOnce: a second orchestrator of the same study (another
// viewer pressing the same key) is refused while the first runs.
func TestStudyRunsOnce(t *testing.T) {
	f := &labtest.Fake{StepsPerEpoch: 2, Epochs: 1, Pace: make(chan struct{})}
	l := openLab(t, t.TempDir(), f)
	spec := lab.StudySpec{Kind: lab.StudyRules, Random: 1}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := l.RunStudy(ctx, spec, nil); done <- err }()
	waitFor(t, "the study's search", func() bool { return len(l.Runs()) > 0 })
	if _, err := l.RunStudy(context.Background(), spec, nil); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second orchestrator: %v", err)
	}
	cancel()
	<-done
	for _, r := range l.Runs() {
		l.Stop(r.ID)
	}
}

// TestRobustnessStudyAttacksTheRulesModels: the robustness study takes the
// rules study's trained models, attacks each at every ε of the grid with
// both gradients (and a transfer from bp) and with One-Pixel on 1 to 5
// pixels, and flags own − true gaps.
func TestRobustnessStudyAttacksTheRulesModels(t *testing.T) {
	dir := t.TempDir()
	l := openLab(t, dir, &labtest.Fake{StepsPerEpoch: 2, Epochs: 1})
	ctx := context.Background()
	if _, err := l.RunStudy(ctx, lab.StudySpec{Kind: lab.StudyRobustness, Seeds: 1}, nil); err == nil || !strings.Contains(err.Error(), "bionas study rules") {
		t.Fatalf("robustness before rules: %v", err)
	}
	rules, err := l.RunStudy(ctx, lab.StudySpec{Kind: lab.StudyRules, Seeds: 1, Random: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := l.RunStudy(ctx, lab.StudySpec{Kind: lab.StudyRobustness, Seeds: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	models := len(rules.Cells)
	if want := models * (3 + 5); len(st.Cells) != want { // 3 ε, 5 pixel counts
		t.Fatalf("%d attack cells, want %d", len(st.Cells), want)
	}
	for _, c := range st.Cells {
		a := c.Attack
		if a.Attack != "onepixel" && (!a.BothModes || a.Settings["pgd.alpha"] == "" || (c.Variant != "bp" && a.Surrogate == "")) {
			t.Fatalf("cell %s: %+v", c.Variant, a)
		}
	}
	rep, err := lab.ReadStudyReport(dir, st.ID)
	if err != nil || rep == nil {
		t.Fatal(err)
	}
	var masked, bb int
	for _, r := range rep.Robustness {
		if r.Masking {
			masked++
		}
		if r.BlackBox {
			bb++
			if r.Own != r.True {
				t.Errorf("black-box row with two numbers: %+v", r)
			}
		}
		if r.Models != 1 || len(r.Runs) != 1 {
			t.Errorf("row %+v", r)
		}
	}
	if masked == 0 || bb == 0 {
		t.Errorf("%d masking rows, %d black-box rows (the fake's true gradient is 20 points stronger)", masked, bb)
	}
	md, _ := os.ReadFile(filepath.Join(l.StudyDir(st.ID), lab.FileStudyReport))
	for _, want := range []string{"| mixed | pgd | ε 0.1 |", "**yes**", "plots/robust-pgd.png", "No gradient masking"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
}

// TestDynamicsStudyProbesMixedAndSingleRules: the dynamics study trains
// the mixed and the single-rule networks with probes on and reports them
// per epoch, with its plots.
func TestDynamicsStudyProbesMixedAndSingleRules(t *testing.T) {
	dir := t.TempDir()
	l := openLab(t, dir, &labtest.Fake{StepsPerEpoch: 2, Epochs: 2})
	st, err := l.RunStudy(context.Background(), lab.StudySpec{Kind: lab.StudyDynamics}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Cells) != 1+len(lab.SingleRules) {
		t.Fatalf("%d cells", len(st.Cells))
	}
	for _, c := range st.Cells {
		if r, _ := l.Run(c.Run); !r.Spec.Dynamics {
			t.Fatalf("cell %s trains without probes", c.Variant)
		}
	}
	rep, err := lab.ReadStudyReport(dir, st.ID)
	if err != nil || rep == nil {
		t.Fatal(err)
	}
	epochs := map[string]int{}
	for _, r := range rep.Dynamics {
		epochs[r.Variant]++
	}
	if len(epochs) != 1+len(lab.SingleRules) || epochs["mixed"] != 5 { // epochs 0 to 4 (the quick budget trains 4)
		t.Fatalf("rows per variant %v", epochs)
	}
	if len(rep.Claims) != 2 {
		t.Errorf("claims %+v", rep.Claims)
	}
	for _, want := range []string{"plots/dynamics-gradvar.png", "plots/dynamics-angle-bw.svg", "plots/dynamics-weights.png"} {
		if !slices.Contains(rep.Plots, want) {
			t.Errorf("no plot %s in %v", want, rep.Plots)
		}
	}
}

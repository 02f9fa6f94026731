package lab_test

import (
	"context"
	"os"
	"path/filepath"
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

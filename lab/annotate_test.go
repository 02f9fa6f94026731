package lab_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/lab/labtest"
)

func TestStartSaysQueuedWhenTheLaneIsBusy(t *testing.T) {
	f := &labtest.Fake{StepsPerEpoch: 2, Epochs: 1, Pace: make(chan struct{})}
	l := openLab(t, t.TempDir(), f)
	a, err := l.Start(lab.Spec{Kind: lab.KindSearch})
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != lab.StatusRunning {
		t.Fatalf("first run is %s at Start; want running", a.Status)
	}
	b, _ := l.Start(lab.Spec{Kind: lab.KindSearch})
	c, _ := l.Start(lab.Spec{Kind: lab.KindSearch})
	if b.Status != lab.StatusQueued || c.Status != lab.StatusQueued {
		t.Fatalf("b %s, c %s while a runs; want queued", b.Status, c.Status)
	}
	if got := l.Ahead(b.ID); got != 0 {
		t.Fatalf("ahead of b: %d, want 0", got)
	}
	if got := l.Ahead(c.ID); got != 1 {
		t.Fatalf("ahead of c: %d, want 1", got)
	}
	for _, id := range []string{c.ID, b.ID, a.ID} {
		if err := l.Stop(id); err != nil {
			t.Fatal(err)
		}
	}
}

// A small robustness report must not wait behind a long training: it
// takes the light lane and runs while the main lane's job runs.
func TestLightJobsDoNotWaitBehindTraining(t *testing.T) {
	f := &labtest.Fake{StepsPerEpoch: 1000, Epochs: 1}
	dir := t.TempDir()
	l := openLab(t, dir, f)
	model, _ := l.Start(lab.Spec{Kind: lab.KindTrain, Genotype: labtest.Derive(labtest.Alphas(1, 1)), Epochs: 1})
	if wait(t, l, model.ID).Status != lab.StatusDone {
		t.Fatal("model run failed")
	}
	f.Pace = make(chan struct{})
	long, _ := l.Start(lab.Spec{Kind: lab.KindTrain, Genotype: labtest.Derive(labtest.Alphas(1, 1))})
	queued, _ := l.Start(lab.Spec{Kind: lab.KindTrain, Genotype: labtest.Derive(labtest.Alphas(1, 1))})
	small, err := l.Attack(lab.AttackSpec{Model: model.ID, Attack: "fgsm", Eps: 0.1, N: 3})
	if err != nil {
		t.Fatal(err)
	}
	big, _ := l.Attack(lab.AttackSpec{Model: model.ID, Attack: "fgsm", Eps: 0.1, N: 5000})
	if byDefault, _ := l.Attack(lab.AttackSpec{Model: model.ID, Attack: "fgsm", Eps: 0.1}); byDefault.Lane != lab.LaneLight {
		t.Errorf("a report on the default %d images takes lane %q", lab.DefaultReportImages, byDefault.Lane)
	} else {
		defer l.Stop(byDefault.ID)
	}
	if small.Lane != lab.LaneLight || big.Lane != "" || long.Lane != "" {
		t.Fatalf("lanes: small %q big %q long %q", small.Lane, big.Lane, long.Lane)
	}
	if small.Status != lab.StatusRunning {
		t.Fatalf("the small report is %s while a training runs; want running in the light lane", small.Status)
	}
	if queued.Status != lab.StatusQueued || big.Status != lab.StatusQueued {
		t.Fatalf("main lane: second training %s, big report %s; want both queued", queued.Status, big.Status)
	}
	for _, id := range []string{big.ID, queued.ID, small.ID, long.ID} {
		if err := l.Stop(id); err != nil {
			t.Fatal(err)
		}
	}
	// The lane is part of the record: a resumed small report takes the
	// light lane again.
	wait(t, l, small.ID)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openLab(t, dir, &labtest.Fake{})
	if r, _ := l2.Run(small.ID); r.Lane != lab.LaneLight {
		t.Fatalf("reloaded lane %q", r.Lane)
	}
}

func TestRenameNoteArchivePersist(t *testing.T) {
	dir := t.TempDir()
	l := openLab(t, dir, &labtest.Fake{})
	a, _ := l.Start(lab.Spec{Kind: lab.KindSearch})
	wait(t, l, a.ID)
	if _, err := l.Rename(a.ID, "  baseline bio  "); err != nil {
		t.Fatal(err)
	}
	if _, err := l.SetNote(a.ID, "lr 0.025 looked too high\nrerun with 0.01\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Archive(a.ID, true); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		call func() error
		want string
	}{
		{"long name", func() error { _, err := l.Rename(a.ID, strings.Repeat("x", lab.MaxNameLen+1)); return err }, "at most 60"},
		{"newline in name", func() error { _, err := l.Rename(a.ID, "a\nb"); return err }, "control character"},
		{"long note", func() error { _, err := l.SetNote(a.ID, strings.Repeat("x", lab.MaxNoteLen+1)); return err }, "at most 4000"},
		{"escape in note", func() error { _, err := l.SetNote(a.ID, "a\x1b[2Jb"); return err }, "control character"},
		{"unknown run", func() error { _, err := l.Rename("r9999", "x"); return err }, `no run "r9999"`},
	}
	for _, c := range bad {
		if err := c.call(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openLab(t, dir, &labtest.Fake{})
	r, _ := l2.Run(a.ID)
	if r.Name != "baseline bio" || r.Title() != "baseline bio" || r.Note != "lr 0.025 looked too high\nrerun with 0.01" || !r.Archived {
		t.Fatalf("reloaded: name %q title %q note %q archived %v", r.Name, r.Title(), r.Note, r.Archived)
	}
	if _, err := l2.Rename(a.ID, ""); err != nil {
		t.Fatal(err)
	}
	if r, _ := l2.Run(a.ID); r.Title() == "" || r.Name != "" {
		t.Fatalf("after clearing the name: title %q", r.Title())
	}
}

func TestArchiveRefusesActiveRuns(t *testing.T) {
	f := &labtest.Fake{Pace: make(chan struct{})}
	l := openLab(t, t.TempDir(), f)
	a, _ := l.Start(lab.Spec{Kind: lab.KindSearch})
	if _, err := l.Archive(a.ID, true); err == nil || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("archive of a running run: %v", err)
	}
	if _, err := l.Delete(a.ID); err == nil || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("delete of a running run: %v", err)
	}
	l.Stop(a.ID)
}

// Delete moves a run to the trash, whole, and refuses a run that others
// start from.
func TestDeleteMovesToTrash(t *testing.T) {
	dir := t.TempDir()
	l := openLab(t, dir, &labtest.Fake{})
	s, _ := l.Start(lab.Spec{Kind: lab.KindSearch})
	wait(t, l, s.ID)
	tr, err := l.TrainGenotype(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, l, tr.ID)
	if _, err := l.Delete(s.ID); err == nil || !strings.Contains(err.Error(), tr.ID) || !strings.Contains(err.Error(), "archive it instead") {
		t.Fatalf("delete of a parent: %v", err)
	}
	sub := l.Subscribe()
	defer sub.Close()
	dst, err := l.Delete(tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(dst) != filepath.Join(dir, lab.DirTrash) {
		t.Fatalf("moved to %s", dst)
	}
	for _, f := range []string{lab.FileRun, lab.FileMetrics, "model.json"} {
		if _, err := os.Stat(filepath.Join(dst, f)); err != nil {
			t.Fatalf("the trash copy lacks %s: %v", f, err)
		}
	}
	if _, err := os.Stat(l.RunDir(tr.ID)); !os.IsNotExist(err) {
		t.Fatalf("runs/%s still there: %v", tr.ID, err)
	}
	if _, ok := l.Run(tr.ID); ok {
		t.Fatal("the lab still lists the deleted run")
	}
	waitFor(t, "deleted event", func() bool {
		for _, e := range sub.Drain().Events {
			if e.Kind == lab.EventDeleted && e.Run == tr.ID {
				return true
			}
		}
		return false
	})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openLab(t, dir, &labtest.Fake{})
	if len(l2.Runs()) != 1 {
		t.Fatalf("after reopening: %d runs", len(l2.Runs()))
	}
	// Ids are never reused, not even the trash's: a note or an export
	// that names r0002 names one run.
	next, _ := l2.Start(lab.Spec{Kind: lab.KindSearch})
	if next.ID != "r0003" {
		t.Fatalf("next id %s after deleting r0002; want r0003", next.ID)
	}
}

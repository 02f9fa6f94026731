package lab_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bionaslab/bionas/attacks"
	"github.com/bionaslab/bionas/internal/dirlock"
	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/lab/labtest"
	"github.com/bionaslab/bionas/nn/rule"
)

func openLab(t *testing.T, dir string, f *labtest.Fake, opts ...func(*lab.Options)) *lab.Lab {
	t.Helper()
	o := lab.Options{Dir: dir, Backend: f.Backend(), FlushInterval: 10 * time.Millisecond}
	for _, fn := range opts {
		fn(&o)
	}
	l, err := lab.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func wait(t *testing.T, l *lab.Lab, id string) lab.RunInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := l.WaitRun(ctx, id)
	if err != nil {
		t.Fatalf("wait %s: %v (status %s)", id, err, info.Status)
	}
	return info
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestSearchRunsToDoneAndPersists(t *testing.T) {
	dir := t.TempDir()
	l := openLab(t, dir, &labtest.Fake{})
	info, err := l.Start(lab.Spec{Kind: lab.KindSearch, Preset: "mnist-tiny"})
	if err != nil {
		t.Fatal(err)
	}
	// A free slot starts the run at once: Start reports it running (or
	// already done), never queued, so that a viewer says "started" only
	// of a run that did.
	if info.ID != "r0001" || info.Status == lab.StatusQueued {
		t.Fatalf("started %+v", info)
	}
	if info.Spec.Dataset != "mnist" || info.Spec.Subset != 512 || info.Spec.Epochs != 1 {
		t.Fatalf("preset not applied: %+v", info.Spec)
	}
	got := wait(t, l, info.ID)
	if got.Status != lab.StatusDone || got.Error != "" {
		t.Fatalf("status %s error %q", got.Status, got.Error)
	}
	if got.Last.Step != 10 || got.Last.TotalSteps != 10 || got.Last.ValAcc == 0 {
		t.Fatalf("last metrics %+v", got.Last)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rd := filepath.Join(dir, "runs", "r0001")
	if err := lab.CheckRunFolder(rd); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{lab.FileRun, lab.FileMetrics, lab.FileAlphas, lab.FileGenotype, lab.FileGenotypeText} {
		if _, err := os.Stat(filepath.Join(rd, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(rd, lab.FileMetrics))
	if n := strings.Count(string(b), "\n"); n != 11 { // 10 steps + 1 epoch
		t.Errorf("metrics.jsonl has %d lines, want 11", n)
	}

	// Reopen: the run is there with its points and snapshots.
	l2 := openLab(t, dir, &labtest.Fake{})
	runs := l2.Runs()
	if len(runs) != 1 || runs[0].Status != lab.StatusDone {
		t.Fatalf("reloaded %+v", runs)
	}
	s, err := l2.Snapshot("r0001")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Points) != 11 || s.Alphas == nil || s.Genotype == nil || !strings.HasPrefix(s.GenotypeText, "Genotype(") {
		t.Fatalf("snapshot: %d points, alphas %v, genotype %v, text %q", len(s.Points), s.Alphas != nil, s.Genotype != nil, s.GenotypeText)
	}
	if len(s.Genotype.Normal.Edges) != 8 {
		t.Fatalf("genotype normal edges %d", len(s.Genotype.Normal.Edges))
	}
	// The next run continues the numbering.
	next, err := l2.Start(lab.Spec{Kind: lab.KindSearch, Preset: "mnist-tiny"})
	if err != nil {
		t.Fatal(err)
	}
	if next.ID != "r0002" {
		t.Fatalf("next id %s", next.ID)
	}
}

func TestConcurrencyLimitQueues(t *testing.T) {
	f := &labtest.Fake{StepsPerEpoch: 2, Epochs: 1, Pace: make(chan struct{})}
	l := openLab(t, t.TempDir(), f, func(o *lab.Options) { o.MaxConcurrent = 1 })
	a, _ := l.Start(lab.Spec{Kind: lab.KindSearch})
	b, _ := l.Start(lab.Spec{Kind: lab.KindSearch})
	waitFor(t, "a running", func() bool { r, _ := l.Run(a.ID); return r.Status == lab.StatusRunning })
	if r, _ := l.Run(b.ID); r.Status != lab.StatusQueued {
		t.Fatalf("b is %s while a runs; want queued", r.Status)
	}
	f.Pace <- struct{}{}
	f.Pace <- struct{}{}
	if r := wait(t, l, a.ID); r.Status != lab.StatusDone {
		t.Fatalf("a %s", r.Status)
	}
	waitFor(t, "b running", func() bool { r, _ := l.Run(b.ID); return r.Status == lab.StatusRunning })
	f.Pace <- struct{}{}
	f.Pace <- struct{}{}
	if r := wait(t, l, b.ID); r.Status != lab.StatusDone {
		t.Fatalf("b %s", r.Status)
	}
}

func TestStopResumeRewindsToCheckpoint(t *testing.T) {
	f := &labtest.Fake{StepsPerEpoch: 5, Epochs: 2, Pace: make(chan struct{})}
	l := openLab(t, t.TempDir(), f)
	r, _ := l.Start(lab.Spec{Kind: lab.KindSearch})
	for range 7 { // epoch 0 (checkpointed) and two steps of epoch 1
		f.Pace <- struct{}{}
	}
	waitFor(t, "7 steps", func() bool { i, _ := l.Run(r.ID); return i.Last.Step == 7 })
	if err := l.Stop(r.ID); err != nil {
		t.Fatal(err)
	}
	got := wait(t, l, r.ID)
	if got.Status != lab.StatusInterrupted || !got.Status.Resumable() {
		t.Fatalf("after stop: %s", got.Status)
	}
	if _, err := l.Resume(r.ID); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		f.Pace <- struct{}{}
	}
	got = wait(t, l, r.ID)
	if got.Status != lab.StatusDone || got.Resumes != 1 {
		t.Fatalf("after resume: %s, resumes %d", got.Status, got.Resumes)
	}
	s, _ := l.Snapshot(r.ID)
	var steps []int
	epochs := 0
	for _, p := range s.Points {
		if p.Kind == lab.EventStep {
			steps = append(steps, p.Step)
		} else {
			epochs++
		}
	}
	if len(steps) != 10 || epochs != 2 {
		t.Fatalf("points after resume: steps %v, %d epochs", steps, epochs)
	}
	for i, st := range steps {
		if st != i+1 {
			t.Fatalf("steps not 1…10 after the rewind: %v", steps)
		}
	}
	if !strings.Contains(strings.Join(s.Log, "\n"), "resumed at epoch 1") {
		t.Fatalf("job did not resume from its checkpoint: log %q", s.Log)
	}
	if _, err := l.Resume(r.ID); err == nil {
		t.Fatal("resuming a done run should fail")
	}
}

func TestStopQueuedRun(t *testing.T) {
	f := &labtest.Fake{StepsPerEpoch: 1, Epochs: 1, Pace: make(chan struct{})}
	l := openLab(t, t.TempDir(), f)
	a, _ := l.Start(lab.Spec{Kind: lab.KindSearch})
	b, _ := l.Start(lab.Spec{Kind: lab.KindSearch})
	if err := l.Stop(b.ID); err != nil {
		t.Fatal(err)
	}
	if r, _ := l.Run(b.ID); r.Status != lab.StatusInterrupted {
		t.Fatalf("stopped queued run is %s", r.Status)
	}
	f.Pace <- struct{}{}
	wait(t, l, a.ID)
}

func TestFailureAndPanic(t *testing.T) {
	l := openLab(t, t.TempDir(), &labtest.Fake{Fail: 3})
	r, _ := l.Start(lab.Spec{Kind: lab.KindSearch})
	if got := wait(t, l, r.ID); got.Status != lab.StatusFailed || got.Error != "fake failure" {
		t.Fatalf("%s %q", got.Status, got.Error)
	}

	b := lab.Backend{Jobs: map[lab.Kind]lab.JobFunc{lab.KindSearch: func(context.Context, *lab.Job) error { panic("boom") }}}
	l2, err := lab.Open(lab.Options{Dir: t.TempDir(), Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	r2, _ := l2.Start(lab.Spec{Kind: lab.KindSearch})
	if got := wait(t, l2, r2.ID); got.Status != lab.StatusFailed || !strings.Contains(got.Error, "boom") {
		t.Fatalf("%s %q", got.Status, got.Error)
	}
}

func TestUnavailableIsSaid(t *testing.T) {
	l, err := lab.Open(lab.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Start(lab.Spec{Kind: lab.KindSearch}); !errors.Is(err, lab.ErrUnavailable) {
		t.Fatalf("start without backend: %v", err)
	}
	if _, err := l.NewStepper(context.Background(), lab.AttackSpec{Model: "r0001"}); !errors.Is(err, lab.ErrUnavailable) {
		t.Fatalf("stepper without backend: %v", err)
	}
}

func TestRetrainRecordsParentAndEdits(t *testing.T) {
	l := openLab(t, t.TempDir(), &labtest.Fake{StepsPerEpoch: 2, Epochs: 1})
	s, _ := l.Start(lab.Spec{Kind: lab.KindSearch, Preset: "mnist-tiny"})
	wait(t, l, s.ID)
	layers, err := l.Layers(context.Background(), s.ID)
	if err != nil || len(layers) < 3 {
		t.Fatalf("layers of a search: %v %v", layers, err)
	}
	tr, err := l.TrainGenotype(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, l, tr.ID)
	c1, err := l.Retrain(tr.ID, []lab.RuleEdit{{Selector: "all", Rule: "usf"}})
	if err != nil {
		t.Fatal(err)
	}
	if c1.Parent != tr.ID || c1.Kind != lab.KindRetrain || len(c1.Edits) != 1 || c1.Spec.Genotype == nil {
		t.Fatalf("child: %+v", c1)
	}
	wait(t, l, c1.ID)
	c2, err := l.Retrain(c1.ID, []lab.RuleEdit{{Selector: "classifier", Rule: "bp"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(c2.Edits) != 1 || len(c2.Spec.Edits) != 2 || c2.Spec.Edits[0].Rule != "usf" {
		t.Fatalf("grandchild edits %+v, spec edits %+v", c2.Edits, c2.Spec.Edits)
	}
	wait(t, l, c2.ID)
	ls, _ := l.Layers(context.Background(), c2.ID)
	for _, x := range ls {
		want := rule.USF
		if x.Name == "classifier" {
			want = rule.BP
		}
		if x.Rule != want {
			t.Fatalf("layer %s rule %s, want %s", x.Name, x.Rule, want)
		}
	}
	p, _ := l.Run(tr.ID)
	ch, _ := l.Run(c1.ID)
	if p.Last.TestAcc == ch.Last.TestAcc || ch.Last.TestAcc == 0 {
		t.Fatalf("parent and child test accuracy %v %v", p.Last.TestAcc, ch.Last.TestAcc)
	}

	st, err := l.NewStepper(context.Background(), lab.AttackSpec{Model: c1.ID, Attack: "pgd", Mode: attacks.Own, Eps: 0.3, Steps: 3, Image: 7})
	if err != nil {
		t.Fatal(err)
	}
	var as lab.AttackState
	for !as.Done {
		as, err = st.Step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
	}
	if as.Step != 3 || len(as.Losses) != 4 || !as.Success {
		t.Fatalf("stepper end state: step %d, losses %v, success %v", as.Step, as.Losses, as.Success)
	}
	if _, err := l.NewStepper(context.Background(), lab.AttackSpec{Model: s.ID}); err == nil {
		t.Fatal("attacking a search run should fail")
	}
	ar, err := l.Attack(lab.AttackSpec{Model: c1.ID, Attack: "all", Mode: attacks.True, Eps: 0.1, N: 4})
	if err != nil {
		t.Fatal(err)
	}
	got := wait(t, l, ar.ID)
	if got.Status != lab.StatusDone || got.Last.RobustAcc == 0 || got.Parent != c1.ID {
		t.Fatalf("attack run %+v", got)
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	openLab(t, dir, &labtest.Fake{})
	_, err := lab.Open(lab.Options{Dir: dir})
	if err == nil {
		t.Fatal("a second Open of an open lab succeeded")
	}
	if !errors.Is(err, dirlock.ErrLocked) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "pid ") {
		t.Fatalf("second Open: %v, want an error naming the lab folder and the holder's pid", err)
	}
}

func TestReopenMarksRunningAsInterrupted(t *testing.T) {
	dir := t.TempDir()
	rd := filepath.Join(dir, "runs", "r0007")
	os.MkdirAll(rd, 0o755)
	os.WriteFile(filepath.Join(rd, lab.FileRun), []byte(`{"id":"r0007","kind":"search","spec":{"kind":"search"},"status":"running","created":"2025-01-01T00:00:00Z","last":{"step":3}}`), 0o644)
	os.WriteFile(filepath.Join(rd, ".run.json.tmp-123"), []byte(`{"id":`), 0o644)
	os.MkdirAll(filepath.Join(dir, "runs", ".new-r0008"), 0o755)
	bad := filepath.Join(dir, "runs", "r0009")
	os.MkdirAll(bad, 0o755)
	os.WriteFile(filepath.Join(bad, lab.FileRun), []byte(`{"id":`), 0o644)

	l := openLab(t, dir, &labtest.Fake{StepsPerEpoch: 1, Epochs: 1})
	runs := l.Runs()
	if len(runs) != 2 {
		t.Fatalf("runs %+v", runs)
	}
	r, _ := l.Run("r0007")
	if r.Status != lab.StatusInterrupted || !strings.Contains(r.Error, "interrupted") {
		t.Fatalf("r0007: %s %q", r.Status, r.Error)
	}
	if err := lab.CheckRunFolder(rd); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "runs", ".new-r0008")); !os.IsNotExist(err) {
		t.Fatal("half-created run folder kept")
	}
	b, _ := l.Run("r0009")
	if b.Status != lab.StatusFailed || !strings.Contains(b.Error, "unreadable") {
		t.Fatalf("damaged run: %s %q", b.Status, b.Error)
	}
	n, _ := l.Start(lab.Spec{Kind: lab.KindSearch})
	if n.ID != "r0010" {
		t.Fatalf("next id %s", n.ID)
	}
	if _, err := l.Resume("r0007"); err != nil {
		t.Fatal(err)
	}
	wait(t, l, "r0007")
}

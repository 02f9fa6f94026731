package tui

import (
	"context"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/lab/labtest"
)

// pacedLab is a lab whose fake jobs take one step per value sent on the
// returned channel.
func pacedLab(t testing.TB, stepsPerEpoch, epochs int) (*lab.Lab, chan struct{}) {
	t.Helper()
	pace := make(chan struct{})
	f := &labtest.Fake{StepsPerEpoch: stepsPerEpoch, Epochs: epochs, Pace: pace}
	l, err := lab.Open(lab.Options{Dir: t.TempDir(), Backend: f.Backend(), StatusInterval: time.Millisecond, FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, pace
}

// feed hands out n steps to the paced jobs.
func feed(t testing.TB, pace chan struct{}, n int) {
	t.Helper()
	for i := range n {
		select {
		case pace <- struct{}{}:
		case <-time.After(5 * time.Second):
			t.Fatalf("no job took step %d of %d", i+1, n)
		}
	}
}

// TestEndToEnd drives the whole product through the TUI, as a user would,
// over fake jobs: start the quick search with one key and watch its chart
// and alpha heatmap move, train its genotype, edit the rules and retrain as
// a child run, compare child and parent, and step an attack on the child.
func TestEndToEnd(t *testing.T) {
	l, pace := pacedLab(t, 5, 2)
	m := New(l, Options{FrameInterval: 5 * time.Millisecond})
	defer m.Close()
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 24))
	waitOutput(t, tm, "No runs yet")

	// One key starts the MNIST quick search and shows its charts.
	tm.Send(keys("s")[0])
	waitOutput(t, tm, "started r0001")
	feed(t, pace, 2)
	waitOutput(t, tm, "step 2/10")
	feed(t, pace, 2)
	waitOutput(t, tm, "step 4/10") // the chart moved on

	// The heatmap: epoch 0's alphas, then epoch 1's.
	tm.Send(keys("3")[0])
	waitOutput(t, tm, "epoch 0 · step 0")
	feed(t, pace, 2)
	waitOutput(t, tm, "epoch 1 · step 5")
	feed(t, pace, 4)
	waitOutput(t, tm, "epoch 2 · step 10") // the final alphas

	// Train the genotype the search found.
	if _, err := l.WaitRun(context.Background(), "r0001"); err != nil {
		t.Fatal(err)
	}
	tm.Send(keys("1")[0])
	tm.Send(keys("t")[0])
	waitOutput(t, tm, "started r0002")
	feed(t, pace, 10)
	waitOutput(t, tm, "done · step 10/10")

	// Edit a rule — all layers to the rule after bp (fa) — and retrain.
	tm.Send(keys("5")[0])
	waitOutput(t, tm, "rule layers")
	for _, k := range keys("right", "a", "r") {
		tm.Send(k)
	}
	waitOutput(t, tm, "started r0003: retrain of r0002 (all=fa)")
	feed(t, pace, 10)
	waitOutput(t, tm, "test accuracy change") // the comparison with the parent

	// Step an attack on the child.
	child, err := l.WaitRun(context.Background(), "r0003")
	if err != nil {
		t.Fatal(err)
	}
	tm.Send(keys("6")[0])
	waitOutput(t, tm, "model r0003")
	for _, k := range keys("down", "right", "space") { // pgd
		tm.Send(k)
	}
	waitOutput(t, tm, "step 1/5")
	tm.Send(keys("space")[0])
	waitOutput(t, tm, "step 2/5")

	tm.Quit()
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Shell)
	checkSize(t, fm.View(), 80, 24)

	// The lab holds what the TUI did.
	runs := l.Runs()
	if len(runs) != 3 {
		t.Fatalf("%d runs", len(runs))
	}
	if child.Kind != lab.KindRetrain || child.Parent != "r0002" || len(child.Edits) != 1 || child.Edits[0] != (lab.RuleEdit{Selector: "all", Rule: "fa"}) {
		t.Fatalf("child %+v", child)
	}
	layers, err := l.Layers(context.Background(), "r0003")
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range layers {
		if x.Rule != "fa" {
			t.Fatalf("child layer %s has rule %s", x.Name, x.Rule)
		}
	}
	a := fm.panes[paneAttack].(*attackPane)
	if a.state == nil || a.state.Step != 2 || a.state.Spec.Attack != "pgd" || a.state.Spec.Model != "r0003" {
		t.Fatalf("attack state %+v", a.state)
	}
}

package tui

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/lab/labtest"
)

// TestRulesCompareMarksAnUnfinishedChild: the parent/child comparison of
// a child still training says its change is so far, not a result.
func TestRulesCompareMarksAnUnfinishedChild(t *testing.T) {
	f := &labtest.Fake{StepsPerEpoch: 2, Epochs: 3}
	l, err := lab.Open(lab.Options{Dir: t.TempDir(), Backend: f.Backend(), Now: fixedNow, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	s, _ := l.Start(lab.Spec{Kind: lab.KindSearch, Preset: "mnist-tiny"})
	l.WaitRun(ctx, s.ID)
	tr, _ := l.TrainGenotype(s.ID)
	l.WaitRun(ctx, tr.ID)
	f.Pace = make(chan struct{})
	child, err := l.Retrain(tr.ID, []lab.RuleEdit{{Selector: "all", Rule: "usf"}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop(child.ID)
	f.Pace <- struct{}{}
	f.Pace <- struct{}{} // one epoch: a test accuracy, 1 of 3 epochs
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, _ := l.Run(child.ID)
		if r.Last.TestAcc != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child reported no test accuracy")
		}
		time.Sleep(5 * time.Millisecond)
	}
	m := New(l, Options{Now: fixedNow, Width: 120, Height: 40})
	defer m.Close()
	drive(t, m, keys("5")...)
	flat := strings.Join(strings.Fields(stripStyles(m.panes[paneRules].View(true))), " ")
	if !strings.Contains(flat, "test accuracy change") {
		t.Fatalf("no comparison:\n%s", stripStyles(m.View()))
	}
	if !strings.Contains(flat, "so far: "+child.ID+" (running, epoch 1/3) not finished") {
		t.Errorf("the change against an unfinished child is not marked provisional:\n%s", stripStyles(m.View()))
	}
}

package attacks

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/rule"
)

// TestReportTable runs a report with a white-box attack in both modes, a
// PGD that cannot reach its ε, One-Pixel and Square, and checks the table
// every view prints: a clean row, one row per attack and mode with its n,
// black-box rows named so, One-Pixel's budget in pixels, the footnote on
// PGD, a worst case that is the pointwise minimum, and numbers for every
// cell (0 is "0.0%", never a dash).
func TestReportTable(t *testing.T) {
	m := tinyCNN(t, rule.FA, 81)
	x, y := synthBatch(20, 1)
	specs := []Spec{FGSMConfig{Eps: 0.3}, PGDConfig{Eps: 0.3, Steps: 2}, OnePixelConfig{Steps: 2}, SquareConfig{Eps: 0.3, Queries: 20}}
	var updates []*Report
	rep, err := RunReport(context.Background(), ReportConfig{
		Models: []ReportModel{{Name: "fa", Model: m}}, Attacks: specs, Modes: []GradMode{Own, True},
		X: x, Y: y, Dataset: "synthetic", BatchSize: 8, Seed: 2,
		OnUpdate: func(r *Report) {
			c := *r
			c.Cells = append([]Cell(nil), r.Cells...)
			c.Models = append([]ModelInfo(nil), r.Models...)
			run := *r.Running
			c.Running = &run
			updates = append(updates, &c)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The pointwise worst case, recomputed: FGSM is per image, so its
	// cells can be redone in one batch; the others are read from the
	// report's robust counts only through the minimum below.
	robust := make([]bool, len(y))
	for i, p := range nn.Argmax(m.Forward(nil, x)) {
		robust[i] = p == y[i]
	}
	for _, mode := range []GradMode{Own, True} {
		a, _ := NewFGSM(m, x, y, FGSMConfig{Eps: 0.3}, Options{Grad: mode})
		adv, _ := a.Run(context.Background())
		for i, p := range nn.Argmax(m.Forward(nil, adv)) {
			robust[i] = robust[i] && p == y[i]
		}
	}
	k := 0
	for _, r := range robust {
		if r {
			k++
		}
	}
	if w := rep.Models[0].WorstCase; w > float64(k)/20 {
		t.Fatalf("worst case %v above FGSM's pointwise worst case %v", w, float64(k)/20)
	}
	for _, c := range rep.Cells {
		if c.RobustAcc < rep.Models[0].WorstCase {
			t.Fatalf("worst case %v above the %s/%s cell %v", rep.Models[0].WorstCase, c.Attack, c.Grad, c.RobustAcc)
		}
	}

	tab := rep.Table()
	want := [][]string{
		{"clean", "", "", "20"},
		{"fgsm", "own", "ε 0.3", "20"},
		{"fgsm", "true", "ε 0.3", "20"},
		{"pgd ¹", "own", "ε 0.3", "20"},
		{"pgd ¹", "true", "ε 0.3", "20"},
		{"onepixel", BlackBoxLabel, "1 pixel", "20"},
		{"square", BlackBoxLabel, "ε 0.3", "20"},
		{"worst case", "all rows", "", "20"},
	}
	if len(tab.Rows) != len(want) || strings.Join(tab.Head, "|") != "attack|gradient|budget|n|fa" {
		t.Fatalf("head %v, %d rows", tab.Head, len(tab.Rows))
	}
	for i, w := range want {
		row := tab.Rows[i]
		if strings.Join(row[:ColFirstModel], "|") != strings.Join(w, "|") {
			t.Errorf("row %d: %q, want %q", i, row[:ColFirstModel], w)
		}
		if !strings.HasSuffix(row[ColFirstModel], "%") || strings.ContainsAny(row[ColFirstModel], "–—") {
			t.Errorf("row %d: value %q", i, row[ColFirstModel])
		}
	}
	if tab.Rows[len(want)-1][ColFirstModel] != Percent(rep.Models[0].WorstCase) {
		t.Errorf("worst case cell %q, report %v", tab.Rows[len(want)-1][ColFirstModel], rep.Models[0].WorstCase)
	}
	if len(tab.Notes) != 1 || !strings.HasPrefix(tab.Notes[0], "¹ PGD: 2 steps × α 2/255 = 0.016 < ε 0.3") {
		t.Errorf("notes %q", tab.Notes)
	}
	if Percent(0) != "0.0%" {
		t.Errorf("Percent(0) = %q", Percent(0))
	}

	// Reports under way: the cells so far, the one running, the others
	// not run; the worst case marked as so far.
	if len(updates) == 0 {
		t.Fatal("no updates")
	}
	mid := updates[len(updates)/2]
	mt := mid.Table()
	text := strings.Join(mt.Lines(), "\n")
	if !strings.Contains(text, "running ") || !strings.Contains(text, "so far") {
		t.Errorf("a report under way:\n%s", text)
	}
	last := updates[len(updates)-1]
	if last.Running.Done != last.Running.Total || last.Running.Total != 20*6 {
		t.Errorf("last update: done %d of %d", last.Running.Done, last.Running.Total)
	}
	for i := 1; i < len(updates); i++ {
		if updates[i].Running.Done < updates[i-1].Running.Done {
			t.Fatalf("progress went back: %d then %d", updates[i-1].Running.Done, updates[i].Running.Done)
		}
	}

	var buf bytes.Buffer
	if err := rep.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, l := range tab.Lines() {
		if !strings.Contains(out, l+"\n") {
			t.Errorf("the text lacks the table line %q:\n%s", l, out)
		}
	}
	for _, w := range []string{"¹ PGD: 2 steps", "onepixel: OnePixel 1 px", "20 synthetic images", "seed 2", "batches of 8"} {
		if !strings.Contains(out, w) {
			t.Errorf("the text lacks %q:\n%s", w, out)
		}
	}
	t.Logf("\n%s", out)
}

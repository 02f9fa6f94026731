package attacks

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/rule"
)

// TestReport runs a small models × attacks report and checks its cells
// against independent measurements, its table and its JSON.
func TestReport(t *testing.T) {
	bp, fa := tinyCNN(t, rule.BP, 51), tinyCNN(t, rule.FA, 52)
	x, y := synthBatch(30, 1)
	suite, _ := Preset("default")
	suite.FGSM.Eps = 0.1
	suite.Square.Queries = 5
	suite.Transfer = TransferConfig{Surrogate: bp, SurrogateName: "bp"}
	specs, err := suite.Specs([]string{"fgsm", "square", "transfer"})
	if err != nil {
		t.Fatal(err)
	}
	var cells []Cell
	var ticks int
	rep, err := RunReport(context.Background(), ReportConfig{
		Models:    []ReportModel{{Name: "bp", Rule: "bp", Model: bp}, {Name: "fa", Rule: "fa", Model: fa}},
		Attacks:   specs,
		Modes:     []GradMode{Own, True},
		X:         x,
		Y:         y,
		Dataset:   "synthetic",
		BatchSize: 8, // 4 batches, the last short
		Seed:      3,
		Progress:  func(p ReportProgress) { ticks++; _ = p },
		OnCell:    func(c Cell) { cells = append(cells, c) },
	})
	if err != nil {
		t.Fatal(err)
	}
	// per model: fgsm own, fgsm true, square, transfer
	if len(rep.Cells) != 8 || len(cells) != 8 || ticks < 8*4 { // a tick per batch, more in a long one
		t.Fatalf("%d cells, %d streamed, %d ticks", len(rep.Cells), len(cells), ticks)
	}
	// FGSM robust accuracy, recomputed in one batch (FGSM is per-image)
	for _, mode := range []GradMode{Own, True} {
		a, _ := NewFGSM(fa, x, y, FGSMConfig{Eps: 0.1}, Options{Grad: mode})
		adv, _ := a.Run(context.Background())
		want := float64(nn.Accuracy(fa.Forward(nil, adv), y)) / 30
		c, ok := rep.cell("fa", "fgsm", mode)
		if !ok || c.RobustAcc != want {
			t.Fatalf("fa fgsm %s: report %v, direct %v", mode, c.RobustAcc, want)
		}
		if c.MaxLInf > 0.1+1e-6 || c.Eps != 0.1 || c.N != 30 {
			t.Fatalf("cell %+v", c)
		}
	}
	if c, _ := rep.cell("bp", "square", ""); c.MaxQueries > suite.Square.QueryBudget() {
		t.Fatalf("square cell used %d queries", c.MaxQueries)
	}
	var buf bytes.Buffer
	if err := rep.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	table := buf.String()
	for _, want := range []string{"attack", "clean", "fgsm", "own", "true", "square", "transfer", "FGSM ε=0.1", "30 synthetic images"} {
		if !strings.Contains(table, want) {
			t.Fatalf("table lacks %q:\n%s", want, table)
		}
	}
	t.Logf("\n%s", table)
	buf.Reset()
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Cells) != 8 || back.Cells[0].Model != "bp" || back.Models[1].Name != "fa" {
		t.Fatalf("JSON round trip: %+v", back)
	}
}

func TestReportRejectsEmpty(t *testing.T) {
	if _, err := RunReport(context.Background(), ReportConfig{}); err == nil {
		t.Fatal("empty report accepted")
	}
}

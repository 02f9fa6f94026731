package lab_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/attacks"
	"github.com/bionaslab/bionas/lab"
)

// TestAttackReportReadsOldFiles: an attack.json written before rows had n
// (when the report's n was the total of image units, 600 for 100 images ×
// 6 attacks) reads back in today's terms: n 100 per row, total 600, the
// black-box rows marked, and a table with every number.
func TestAttackReportReadsOldFiles(t *testing.T) {
	old := `{"model":"r0003","n":600,"done":600,"clean_acc":0.97,"rows":[
		{"attack":"fgsm","mode":"own","eps":0.3,"robust_acc":0.63},
		{"attack":"pgd","mode":"own","eps":0.3,"robust_acc":0.87},
		{"attack":"tpgd","mode":"own","eps":0.3,"robust_acc":0.9},
		{"attack":"apgd","mode":"own","eps":0.3,"robust_acc":0.1},
		{"attack":"onepixel","mode":"black-box","eps":0,"robust_acc":0.95},
		{"attack":"square","mode":"black-box","eps":0.3,"robust_acc":0}],"worst_case":0}`
	var r lab.AttackReport
	if err := json.Unmarshal([]byte(old), &r); err != nil {
		t.Fatal(err)
	}
	if r.N != 100 || r.Total != 600 || r.Done != 600 || len(r.Rows) != 6 || r.Rows[0].N != 100 || !r.Rows[5].BlackBox || r.Rows[0].BlackBox {
		t.Fatalf("old report read as %+v", r)
	}
	tab := r.Table(false)
	text := strings.Join(tab.Lines(), "\n")
	for i, want := range []string{"clean||100|97.0%", "fgsm|ε 0.3|100|63.0%", "pgd|ε 0.3|100|87.0%", "tpgd|ε 0.3|100|90.0%", "apgd|ε 0.3|100|10.0%",
		"onepixel|1 pixel|100|95.0%", "square|ε 0.3|100|0.0%", "worst case||100|0.0%"} {
		row := tab.Rows[i]
		if got := strings.Join([]string{row[attacks.ColAttack], row[attacks.ColBudget], row[attacks.ColN], row[attacks.ColFirstModel]}, "|"); got != want {
			t.Errorf("row %d: %s, want %s:\n%s", i, got, want, text)
		}
	}
	// An unfinished old report: n per row is unknown, not made up.
	var part lab.AttackReport
	if err := json.Unmarshal([]byte(`{"model":"r1","n":600,"done":150,"rows":[{"attack":"fgsm","mode":"own","robust_acc":0.5}]}`), &part); err != nil {
		t.Fatal(err)
	}
	if part.N != 0 || part.Total != 600 || part.Done != 150 {
		t.Fatalf("unfinished old report read as %+v", part)
	}
	if rows := part.Table(false).Rows; rows[0][attacks.ColN] != "n/a" || rows[1][attacks.ColN] != "n/a" || rows[1][attacks.ColFirstModel] != "50.0%" {
		t.Fatalf("unfinished old report's table: %q", rows)
	}
	// Today's files round-trip.
	b, _ := json.Marshal(r)
	var back lab.AttackReport
	if err := json.Unmarshal(b, &back); err != nil || back.N != 100 || back.Total != 600 || back.Rows[0].N != 100 {
		t.Fatalf("round trip: %+v %v", back, err)
	}
}

// TestAttackRunReport runs a robustness report on a tiny trained model:
// every attack, white-box ones in both modes, each row on n images, the
// budget warning where PGD and TPGD cannot reach ε, black-box rows marked,
// the same report in memory and in attack.json, and progress metrics
// (EventStep points: image units done of the total, the worst case so far)
// in the run's record and metrics.
func TestAttackRunReport(t *testing.T) {
	l, m := tinyModel(t)
	const n = 10
	info, err := l.Attack(lab.AttackSpec{Model: m.ID, Attack: "all", BothModes: true, Eps: 0.3, Steps: 3, N: n, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	info = waitDone(t, l, info)
	snap, err := l.Snapshot(info.ID)
	if err != nil {
		t.Fatal(err)
	}
	r := snap.Attack
	if r == nil || len(r.Rows) != 10 || len(r.Pending) != 0 || r.N != n || r.Total != 10*n || r.Done != r.Total || r.Model != m.ID {
		t.Fatalf("report %+v", r)
	}
	for _, row := range r.Rows {
		bb := row.Attack == "onepixel" || row.Attack == "square"
		warn := row.Attack == "pgd" || row.Attack == "tpgd" // 3 steps × 2/255 < 0.3
		switch {
		case row.N != n:
			t.Errorf("%s/%s: n %d", row.Attack, row.Mode, row.N)
		case row.BlackBox != bb || (bb && row.Mode != attacks.BlackBoxLabel) || (!bb && row.Mode != "own" && row.Mode != "true"):
			t.Errorf("%s: mode %q, black-box %v", row.Attack, row.Mode, row.BlackBox)
		case (row.Warning != "") != warn:
			t.Errorf("%s: warning %q", row.Attack, row.Warning)
		case row.RobustAcc < r.WorstCase || row.RobustAcc > 1:
			t.Errorf("%s/%s: robust %v, worst case %v", row.Attack, row.Mode, row.RobustAcc, r.WorstCase)
		}
	}
	if r.Rows[8].Budget != "1 pixel" || r.Rows[0].Label != "FGSM ε=0.3" {
		t.Errorf("rows %+v", r.Rows)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(l.RunDir(info.ID), "attack.json"))
	if err != nil {
		t.Fatal(err)
	}
	var disk lab.AttackReport
	if err := json.Unmarshal(raw, &disk); err != nil {
		t.Fatal(err)
	}
	if a, b := strings.Join(disk.Table(false).Lines(), "\n"), strings.Join(r.Table(false).Lines(), "\n"); a != b {
		t.Fatalf("attack.json's table\n%s\nthe run's\n%s", a, b)
	}
	t.Logf("\n%s", strings.Join(r.Table(false).Lines(), "\n"))

	last := info.Last
	if last.Step != r.Total || last.TotalSteps != r.Total || last.RobustAcc != r.WorstCase {
		t.Errorf("run record: step %d/%d robust %v; report total %d worst %v", last.Step, last.TotalSteps, last.RobustAcc, r.Total, r.WorstCase)
	}
	var steps []lab.Event
	for _, e := range snap.Points {
		if e.Kind == lab.EventStep {
			steps = append(steps, e)
		}
	}
	if len(steps) == 0 {
		t.Fatal("the attack run recorded no metrics")
	}
	for i, e := range steps {
		if e.TotalSteps != r.Total || e.Step <= 0 || e.Step > r.Total || (i > 0 && e.Step < steps[i-1].Step) || e.ImagesPerSec <= 0 {
			t.Fatalf("point %d: %+v", i, e)
		}
	}
	if e := steps[len(steps)-1]; e.Step != r.Total || e.Acc != r.WorstCase {
		t.Errorf("last point %+v", e)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bionaslab/bionas/attacks"
	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/search"
)

// TestAttackReportSameFromCLIAndLab is the acceptance line 3: the
// lab's robustness report (what the TUI shows and attack.json holds) and
// `bionas attack` give identical numbers, cell by cell, for the same model,
// seed and n. The model is a tiny network of mixed bio rules trained by the
// lab; the CLI attacks the checkpoint in the lab's run folder.
func TestAttackReportSameFromCLIAndLab(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny network and runs every attack")
	}
	ctx := context.Background()
	l, err := lab.Open(lab.Options{Dir: t.TempDir(), Backend: lab.Engine(lab.EngineOptions{}), FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	wait := func(info lab.RunInfo, err error) lab.RunInfo {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		got, err := l.WaitRun(wctx, info.ID)
		if err != nil || got.Status != lab.StatusDone {
			t.Fatalf("%s %s: %s %q %v", info.ID, info.Kind, got.Status, got.Error, err)
		}
		return got
	}
	g, err := search.SampleGenotype(search.BioSpace(), 4, rand.New(rand.NewPCG(5, 5)))
	if err != nil {
		t.Fatal(err)
	}
	m := wait(l.Start(lab.Spec{Kind: lab.KindTrain, Preset: "mnist-tiny", Dataset: "synthetic", Genotype: &g,
		Epochs: 3, Subset: 256, BatchSize: 16, C: 4, Cells: 2, Seed: 3, LR: 0.05}))
	const n, seed = 24, 11
	rep := wait(l.Attack(lab.AttackSpec{Model: m.ID, Attack: "all", Mode: attacks.Own, BothModes: true, Eps: 0.05, Steps: 20, N: n, Seed: seed}))
	if err := l.Close(); err != nil { // every file written
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(l.RunDir(rep.ID), "attack.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fromLab struct {
		N         int     `json:"n"`
		CleanAcc  float64 `json:"clean_acc"`
		WorstCase float64 `json:"worst_case"`
		Rows      []struct {
			Attack    string  `json:"attack"`
			Mode      string  `json:"mode"`
			N         int     `json:"n"`
			RobustAcc float64 `json:"robust_acc"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(raw, &fromLab); err != nil {
		t.Fatal(err)
	}

	var out, errb bytes.Buffer
	// The command the lab says reproduces its report.
	cmd := lab.AttackCommand(rep, l.RunDir(m.ID))
	want := "bionas attack --model " + filepath.Join(l.RunDir(m.ID), "model.safetensors") +
		" --data synthetic --n 24 --attack fgsm,pgd,tpgd,apgd,onepixel,square --grad both --seed 11 --eps 0.05 --steps 20"
	if cmd != want {
		t.Fatalf("the lab's command\n%s\nwant\n%s", cmd, want)
	}
	args := append(strings.Fields(cmd)[2:], "--json")
	if err := runAttack(ctx, args, &out, &errb); err != nil {
		t.Fatalf("bionas attack %v: %v\n%s", args, err, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var fromCLI struct {
		Models []struct {
			CleanAcc  float64 `json:"clean_accuracy"`
			WorstCase float64 `json:"worst_case"`
		} `json:"models"`
		Cells []struct {
			Attack    string  `json:"attack"`
			Grad      string  `json:"grad"`
			N         int     `json:"n"`
			RobustAcc float64 `json:"robust_accuracy"`
		} `json:"cells"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &fromCLI); err != nil {
		t.Fatal(err)
	}
	t.Logf("lab attack.json: %s", raw)
	t.Logf("CLI: %s", lines[len(lines)-1])

	if len(fromCLI.Models) != 1 || len(fromLab.Rows) != 10 || len(fromCLI.Cells) != 10 {
		t.Fatalf("lab rows %d, CLI models %d cells %d", len(fromLab.Rows), len(fromCLI.Models), len(fromCLI.Cells))
	}
	if fromLab.N != n || fromLab.CleanAcc != fromCLI.Models[0].CleanAcc || fromLab.WorstCase != fromCLI.Models[0].WorstCase {
		t.Errorf("lab n %d clean %v worst %v; CLI clean %v worst %v", fromLab.N, fromLab.CleanAcc, fromLab.WorstCase,
			fromCLI.Models[0].CleanAcc, fromCLI.Models[0].WorstCase)
	}
	// The tables every view prints: identical but for the model's name.
	var labRep lab.AttackReport
	var cliRep attacks.Report
	if err := json.Unmarshal(raw, &labRep); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &cliRep); err != nil {
		t.Fatal(err)
	}
	cliRep.Models[0].Name = m.ID
	for i := range cliRep.Cells {
		cliRep.Cells[i].Model = m.ID
	}
	lt, ct := labRep.Table(false).Lines(), cliRep.Table().Lines()
	t.Logf("lab table:\n%s", strings.Join(lt, "\n"))
	if strings.Join(lt, "\n") != strings.Join(ct, "\n") {
		t.Errorf("tables differ:\nlab\n%s\nCLI\n%s", strings.Join(lt, "\n"), strings.Join(ct, "\n"))
	}
	for i, r := range fromLab.Rows {
		c := fromCLI.Cells[i]
		mode := c.Grad
		if mode == "" {
			mode = "black-box"
		}
		if r.Attack != c.Attack || r.Mode != mode || r.N != c.N || c.N != n || r.RobustAcc != c.RobustAcc {
			t.Errorf("row %d: lab %s/%s n %d robust %v; CLI %s/%s n %d robust %v", i, r.Attack, r.Mode, r.N, r.RobustAcc,
				c.Attack, mode, c.N, c.RobustAcc)
		}
	}
}

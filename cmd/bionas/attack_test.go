package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAttackPrepareAndReport runs `bionas attack prepare` and `bionas
// attack` end to end on the synthetic dataset with tiny models.
func TestAttackPrepareAndReport(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var out, errb bytes.Buffer
	err := runAttack(ctx, []string{"prepare", "--data", "synthetic", "--rules", "bp,fa", "--epochs", "1", "--width", "4", "--batch", "50", "--out", dir, "--json"}, &out, &errb)
	if err != nil {
		t.Fatalf("prepare: %v\n%s", err, errb.String())
	}
	if lines := strings.Count(out.String(), "\n"); lines != 3 { // bp, fa, surrogate
		t.Fatalf("prepare printed %d lines:\n%s", lines, out.String())
	}
	for _, f := range []string{"smallcnn-bp", "smallcnn-fa", "surrogate-bp"} {
		if _, err := os.Stat(filepath.Join(dir, f+".safetensors")); err != nil {
			t.Fatal(err)
		}
	}
	out.Reset()
	err = runAttack(ctx, []string{"--model", dir, "--data", "synthetic", "--n", "20", "--batch", "8",
		"--attack", "fgsm,square,transfer", "--preset", "paper", "--eps", "fgsm=0.1", "--set", "square.queries=5", "--json"}, &out, &errb)
	if err != nil {
		t.Fatalf("attack: %v\n%s", err, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	// 2 models × (fgsm own, fgsm true, square, transfer) cells, then the report
	if len(lines) != 9 {
		t.Fatalf("%d JSON lines:\n%s", len(lines), out.String())
	}
	var rep struct {
		N      int `json:"n"`
		Models []struct {
			Name string `json:"name"`
		} `json:"models"`
		Attacks []struct {
			Label string  `json:"label"`
			Eps   float64 `json:"eps"`
		} `json:"attacks"`
	}
	if err := json.Unmarshal([]byte(lines[8]), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.N != 20 || len(rep.Models) != 2 || rep.Models[0].Name != "bp" || rep.Attacks[0].Eps != 0.1 ||
		rep.Attacks[2].Label != "transfer of FGSM ε=8/255 from surrogate-bp" {
		t.Fatalf("report %+v", rep)
	}
	out.Reset()
	if err := runAttack(ctx, []string{"--model", filepath.Join(dir, "smallcnn-fa.safetensors"), "--data", "synthetic", "--n", "10", "--attack", "fgsm", "--grad", "true"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "fa") || !strings.Contains(out.String(), "FGSM ε=8/255") {
		t.Fatalf("table:\n%s", out.String())
	}
	for _, bad := range [][]string{
		{},
		{"--model", dir, "--grad", "sideways", "--data", "synthetic"},
		{"--model", dir, "--attack", "cw", "--data", "synthetic"},
		{"--model", dir, "--set", "pgd.steps", "--data", "synthetic"},
		{"--model", filepath.Join(dir, "nothing.safetensors")},
	} {
		if err := runAttack(ctx, bad, &out, &errb); err == nil {
			t.Fatalf("%v accepted", bad)
		}
	}
}

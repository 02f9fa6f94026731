package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestAttackReportTableAndWarnings: `bionas attack` prints the report's
// one table (clean, each attack × gradient mode with n, black-box rows,
// One-Pixel's budget in pixels, the worst case; 0 as 0.0%) and warns, on
// stderr and as a footnote, that PGD's 10 steps of 2/255 cannot reach ε
// 0.3; with --json the cells carry the warning and the black-box mark.
func TestAttackReportTableAndWarnings(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if err := runAttack(ctx, []string{"prepare", "--data", "synthetic", "--rules", "bp", "--epochs", "1", "--width", "4", "--batch", "50",
		"--out", dir, "--surrogate=false", "--json"}, &out, &errb); err != nil {
		t.Fatalf("prepare: %v\n%s", err, errb.String())
	}
	model := filepath.Join(dir, "smallcnn-bp.safetensors")
	args := []string{"--model", model, "--data", "synthetic", "--n", "20", "--eps", "0.3", "--attack", "fgsm,pgd,onepixel,square",
		"--set", "square.queries=20", "--seed", "4"}
	out.Reset()
	errb.Reset()
	if err := runAttack(ctx, args, &out, &errb); err != nil {
		t.Fatalf("attack: %v\n%s", err, errb.String())
	}
	text := out.String()
	t.Logf("\n%s", text)
	for _, re := range []string{
		`(?m)^attack +gradient +budget +n +bp$`,
		`(?m)^clean +20 +\d+\.\d%$`,
		`(?m)^fgsm +own +ε 0\.3 +20 +\d+\.\d%$`,
		`(?m)^fgsm +true +ε 0\.3 +20 +\d+\.\d%$`,
		`(?m)^pgd ¹ +own +ε 0\.3 +20 +\d+\.\d%$`,
		`(?m)^onepixel +black-box +1 pixel +20 +\d+\.\d%$`,
		`(?m)^square +black-box +ε 0\.3 +20 +\d+\.\d%$`,
		`(?m)^worst case +all rows +20 +\d+\.\d%$`,
		`(?m)^¹ PGD: 10 steps × α 2/255 = 0\.078 < ε 0\.3: .*use ≥ 39 steps`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("the table lacks %s", re)
		}
	}
	if !strings.Contains(errb.String(), "attack: warning: PGD: 10 steps × α 2/255 = 0.078 < ε 0.3") {
		t.Errorf("no warning on stderr:\n%s", errb.String())
	}
	if strings.Contains(text, "–") || strings.Contains(text, "—") {
		t.Errorf("a dash in the table:\n%s", text)
	}

	out.Reset()
	if err := runAttack(ctx, append(args, "--json", "--grad", "own"), &out, &errb); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 { // fgsm, pgd, onepixel, square, then the report
		t.Fatalf("%d JSON lines:\n%s", len(lines), out.String())
	}
	type cell struct {
		Attack   string `json:"attack"`
		Grad     string `json:"grad"`
		BlackBox bool   `json:"black_box"`
		Budget   string `json:"budget"`
		Warning  string `json:"warning"`
		N        int    `json:"n"`
	}
	var cells []cell
	for _, l := range lines[:4] {
		var c cell
		if err := json.Unmarshal([]byte(l), &c); err != nil {
			t.Fatal(err)
		}
		cells = append(cells, c)
	}
	for _, c := range cells {
		bb := c.Attack == "onepixel" || c.Attack == "square"
		if c.BlackBox != bb || (bb && c.Grad != "") || (!bb && c.Grad != "own") || c.N != 20 || (c.Warning != "") != (c.Attack == "pgd") {
			t.Errorf("cell %+v", c)
		}
	}
	if cells[2].Budget != "1 pixel" || cells[0].Budget != "ε 0.3" {
		t.Errorf("budgets %q %q", cells[2].Budget, cells[0].Budget)
	}
}

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

// trainTestGenotypeText is a small genotype in DARTS' text form.
const trainTestGenotypeText = "Genotype(normal=[('sep_conv_3x3:usf', 0), ('skip_connect:brsf', 1), ('sep_conv_3x3:frsf', 1), ('max_pool_3x3:fa', 2)], normal_concat=[2, 3], " +
	"reduce=[('max_pool_3x3:fa', 0), ('sep_conv_3x3:usf', 1), ('skip_connect:usf', 2), ('sep_conv_3x3:fa', 1)], reduce_concat=[2, 3])"

func TestTrainFlagErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"normal": 3}`), 0o644)
	for _, c := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"--genotype", "required"}},
		{[]string{"--genotype", "nonsense"}, []string{"--genotype", `"nonsense"`, "not a genotype"}},
		{[]string{"--genotype", bad}, []string{"--genotype", "bad.json"}},
		{[]string{"--genotype", trainTestGenotypeText, "--rules-all", "xyz"}, []string{"--rules-all", `"xyz"`}},
		{[]string{"--genotype", trainTestGenotypeText, "--rule-override", "cell3.edge2"}, []string{"rule-override", "SELECTOR=RULE"}},
		{[]string{"--genotype", trainTestGenotypeText, "--rule-override", "cell3=zz"}, []string{"rule-override", `"zz"`}},
		{[]string{"--genotype", trainTestGenotypeText, "--preset", "x"}, []string{"--preset", `"x"`}},
		{[]string{"--genotype", trainTestGenotypeText, "--epochs", "-1"}, []string{"--epochs", "-1"}},
		{[]string{"--genotype", trainTestGenotypeText, "--dataset", "nope"}, []string{"--dataset", `"nope"`}},
		{[]string{"--genotype", trainTestGenotypeText, "--dataset", "synthetic", "--rule-override", "cell99.edge0=fa", "--out", dir},
			[]string{"--rule-override", "cell99.edge0=fa"}},
	} {
		var so, se bytes.Buffer
		err := runTrain(context.Background(), c.args, &so, &se)
		if err == nil {
			t.Errorf("%v: no error", c.args)
			continue
		}
		msg := err.Error() + " " + se.String()
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%v: %q does not mention %q", c.args, msg, w)
			}
		}
	}
}

func TestTrainCLI(t *testing.T) {
	// The genotype from a search folder, overrides, JSON lines, the model.
	out := t.TempDir()
	g := filepath.Join(out, "search")
	os.MkdirAll(g, 0o755)
	geno, err := loadGenotype(trainTestGenotypeText)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(geno)
	os.WriteFile(filepath.Join(g, "genotype.json"), b, 0o644)
	var so, se bytes.Buffer
	args := []string{"--genotype", g, "--dataset", "synthetic", "--images", "96", "--epochs", "1",
		"--batch", "32", "--c", "4", "--layers", "3", "--rules-all", "usf", "--rule-override", "cell0=brsf", "--json", "--out", filepath.Join(out, "train")}
	if err := runTrain(context.Background(), args, &so, &se); err != nil {
		t.Fatalf("%v\n%s", err, se.String())
	}
	for _, f := range []string{"model.safetensors", "model.json", "metrics.jsonl", "result.json", "config.json", "checkpoint/LATEST"} {
		if _, err := os.Stat(filepath.Join(out, "train", f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	lines := strings.Split(strings.TrimSpace(so.String()), "\n")
	if !strings.Contains(lines[len(lines)-1], `"kind":"summary"`) || !strings.Contains(lines[len(lines)-1], `"test_acc"`) {
		t.Fatalf("last line %s", lines[len(lines)-1])
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/search"
)

func readResult(t *testing.T, path string) search.Result {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r search.Result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}

// TestSearchMethodsSameFromCLIAndLab: every search method, started from
// the command line and from the lab with the same settings and seed, runs
// through search.Run and finds the same genotype.
func TestSearchMethodsSameFromCLIAndLab(t *testing.T) {
	ctx := context.Background()
	l, err := lab.Open(lab.Options{Dir: t.TempDir(), Backend: lab.Engine(lab.EngineOptions{})})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	readGenotype := func(path string) search.Genotype {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var g search.Genotype
		if err := json.Unmarshal(b, &g); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return g
	}
	for _, m := range search.Methods() {
		t.Run(string(m), func(t *testing.T) {
			out := t.TempDir()
			var stdout, stderr bytes.Buffer
			args := []string{"--method", string(m), "--space", "bp", "--dataset", "synthetic", "--images", "32", "--batch", "16",
				"--epochs", "1", "--seed", "7", "--out", out}
			if err := runSearch(ctx, args, &stdout, &stderr); err != nil {
				t.Fatalf("bionas search %v: %v\n%s", args, err, stderr.String())
			}
			fromCLI := readGenotype(filepath.Join(out, "genotype.json"))
			info, err := l.Start(lab.Spec{Kind: lab.KindSearch, Method: m, Space: "bp", Dataset: "synthetic",
				Subset: 32, BatchSize: 16, Epochs: 1, Seed: 7})
			if err != nil {
				t.Fatal(err)
			}
			done, err := l.WaitRun(ctx, info.ID)
			if err != nil {
				t.Fatal(err)
			}
			if done.Status != lab.StatusDone {
				t.Fatalf("lab run %s ended %s: %s", done.ID, done.Status, done.Error)
			}
			fromLab := readGenotype(filepath.Join(l.RunDir(info.ID), lab.FileGenotype))
			if !fromCLI.Equal(fromLab) {
				t.Errorf("%s: the CLI found %s, the lab %s", m, fromCLI, fromLab)
			}
			// The same run, not only the same argmax: validation loss and
			// the raw alphas agree to the bit.
			cliRes, labRes := readResult(t, filepath.Join(out, "result.json")), readResult(t, filepath.Join(l.RunDir(info.ID), "result.json"))
			if cliRes.ValLoss != labRes.ValLoss || cliRes.Steps != labRes.Steps {
				t.Errorf("%s: CLI val loss %v after %d steps, lab %v after %d", m, cliRes.ValLoss, cliRes.Steps, labRes.ValLoss, labRes.Steps)
			}
			if a, b := cliRes.Alphas, labRes.Alphas; (a == nil) != (b == nil) || a != nil && !reflect.DeepEqual(a.RawNormal, b.RawNormal) {
				t.Errorf("%s: the CLI's and the lab's alphas differ", m)
			}
		})
	}
}

package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bionaslab/bionas/lab"
)

// TestSweepAndJobErrors: bad input to bionas sweep and bionas job gets an
// error naming the flag or the file and what was expected, before any lab
// is opened or any run made.
func TestSweepAndJobErrors(t *testing.T) {
	labDir := filepath.Join(t.TempDir(), "lab")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"sweep", "--lab", labDir, "--seeds", "3-1"}, `--seeds "3-1": want seeds such as 1,2,3 or a range 1-4`},
		{[]string{"sweep", "--lab", labDir, "--kind", "dance"}, `--kind "dance": want search, train, retrain or attack`},
		{[]string{"sweep", "--lab", labDir, "--rules", "fa"}, "rules apply to train and retrain runs, not to a search sweep"},
		{[]string{"sweep", "--lab", labDir, "--kind", "retrain", "--rules", "nope"}, `--rules: unknown learning rule "nope"`},
		{[]string{"sweep", "--lab", labDir, "--kind", "attack", "--parent", "r1", "--eps", "a/b"}, `--eps "a/b"`},
		{[]string{"sweep", "--lab", labDir, "--spaces", "bp,nope"}, `space "nope": want one of`},
		{[]string{"sweep", "--lab", labDir, "--seeds", "1", "--wait=false"}, "--wait=false needs --executor slurm"},
		{[]string{"sweep", "--lab", labDir, "--seeds", "1", "--executor", "pbs"}, `--executor "pbs": want local or slurm`},
		{[]string{"sweep", "--lab", labDir, "--seeds", "1", "--executor", "slurm", "--slurm-binary", "/no/bionas"}, "/no/bionas"},
		{[]string{"job"}, "want a subcommand: run"},
		{[]string{"job", "start"}, `unknown subcommand "start"`},
		{[]string{"job", "run"}, "want one run folder"},
		{[]string{"job", "run", t.TempDir()}, "not a run folder"},
		{[]string{"job", "run", "--flush-interval", "0s", "x"}, "--flush-interval 0s"},
	}
	for _, tc := range tests {
		var out, errOut bytes.Buffer
		err := run(context.Background(), tc.args, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("bionas %s: %v; want an error containing %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

func TestParseSeedsAndEps(t *testing.T) {
	s, err := lab.ParseSeeds("1-3,7")
	if err != nil || len(s) != 4 || s[0] != 1 || s[3] != 7 {
		t.Errorf("seeds: %v %v", s, err)
	}
	if e, err := lab.ParseEps("8/255, 0.3"); err != nil || len(e) != 2 || e[0] != 8.0/255 || e[1] != 0.3 {
		t.Errorf("eps 8/255, 0.3: %v %v", e, err)
	}
	if _, err := lab.ParseEps("2"); err == nil {
		t.Error("eps 2 accepted")
	}
}

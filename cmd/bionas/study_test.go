package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestStudyCommandErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"study"}, "name a study"},
		{[]string{"study", "speed"}, `unknown study "speed"`},
		{[]string{"study", "rules,bogus"}, `unknown study "bogus"`},
		{[]string{"study", "rules", "--budget", "huge", "--lab", "LAB"}, `study --budget "huge"`},
		{[]string{"study", "rules", "--seeds", "0", "--lab", "LAB"}, "study --seeds"},
		{[]string{"study", "robustness", "--dataset", "synthetic", "--lab", "LAB"}, "bionas study rules --dataset synthetic"},
	} {
		args := c.args
		for i, a := range args {
			if a == "LAB" {
				args[i] = t.TempDir()
			}
		}
		var out, errb bytes.Buffer
		err := run(context.Background(), args, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}

// TestStudyCommandRulesSmoke runs a rules study end to end from the
// command line on synthetic images, and the dynamics study beside it on
// its genotype.
func TestStudyCommandRulesSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("trains tiny networks")
	}
	dir := t.TempDir()
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"study", "rules", "--lab", dir, "--dataset", "synthetic", "--budget", "smoke", "--random", "1"}, &out, &errb)
	if err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	for _, want := range []string{"== study rules-synthetic-smoke-1seeds-1random", "mixed", "random (all)", "claim: ", "report.md"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := run(context.Background(), []string{"study", "dynamics", "robustness", "--lab", dir, "--dataset", "synthetic", "--budget", "smoke"}, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	for _, want := range []string{"== study dynamics-synthetic-smoke-1seeds", "== study robustness-synthetic-smoke-1seeds", "grad var", "own"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"regexp"
	"strconv"
	"testing"

	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/lab"
)

// flagDefaults runs a command with --help and reads each flag's default
// from its usage ("" for none).
func flagDefaults(t *testing.T, cmd func(context.Context, []string, io.Writer, io.Writer) error) map[string]string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := cmd(context.Background(), []string{"--help"}, &stdout, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	out := map[string]string{}
	re := regexp.MustCompile(`(?m)^  -(\S+)(?: \S+)?\n((?:    \t.*\n)*)`)
	def := regexp.MustCompile(`\(default "?([^")]*)"?\)\n$`)
	for _, m := range re.FindAllStringSubmatch(stderr.String(), -1) {
		out[m[1]] = ""
		if d := def.FindStringSubmatch(m[2]); d != nil {
			out[m[1]] = d[1]
		}
	}
	if len(out) == 0 {
		t.Fatalf("no flags in the help:\n%s", stderr.String())
	}
	return out
}

// TestDefaultsMatchTheLab: bionas search with no flags is the TUI's
// default preset (dataset, method, space, settings, seed), and bionas
// train trains with the same seed and dataset as the lab's training of
// that search.
func TestDefaultsMatchTheLab(t *testing.T) {
	p, ok := lab.PresetByName(lab.DefaultPreset)
	if !ok {
		t.Fatalf("no preset %s", lab.DefaultPreset)
	}
	s := flagDefaults(t, runSearch)
	for flagName, want := range map[string]string{
		"seed":    strconv.FormatUint(p.Spec.Seed, 10),
		"dataset": p.Spec.Dataset,
		"method":  string(p.Spec.Method),
		"space":   p.Spec.Space,
		"preset":  p.Engine,
	} {
		if got, ok := s[flagName]; !ok || got != want {
			t.Errorf("bionas search --%s defaults to %q, the lab's %s preset to %q", flagName, got, p.Name, want)
		}
	}
	tr := flagDefaults(t, runTrain)
	for flagName, want := range map[string]string{
		"seed":    strconv.FormatUint(lab.DefaultSeed, 10),
		"dataset": p.Spec.Dataset,
		"preset":  p.Engine,
	} {
		if got, ok := tr[flagName]; !ok || got != want {
			t.Errorf("bionas train --%s defaults to %q, want %q (the lab's)", flagName, got, want)
		}
	}
	// Every dataset name is canonical, and the help shows those names.
	for _, n := range lab.Datasets() {
		if c, err := data.CanonicalName(n); err != nil || c != n {
			t.Errorf("dataset %q is spelled %q canonically (%v)", n, c, err)
		}
	}
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bionaslab/bionas/lab"
)

// runExport writes a run's genotype (JSON, DARTS text, Graphviz) or its
// loss and accuracy charts (PNG, SVG), or the charts of several runs
// overlaid. It reads the run folders without opening the lab, so it works
// while the TUI or bionas serve has the lab open.
func runExport(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bionas export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	labDir := fs.String("lab", defaultLabDir, "lab folder (runs are kept in <lab>/runs/<id>/)")
	out := fs.String("out", "", "write to this file instead (one WHAT only; - is standard output, for a genotype)")
	compare := fs.String("compare", "", "comma-separated runs (r0002,r0003) whose charts are drawn overlaid, instead of one RUN")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: bionas export [--lab DIR] RUN WHAT... [--out FILE]
       bionas export [--lab DIR] --compare RUN,RUN... WHAT... [--out FILE]

Export a run's genotype or charts. WHAT is one of:
  genotype.json   the genotype as JSON (as genotype.json holds it)
  genotype.txt    the genotype in DARTS' text form, rules included (op:rule; bp edges bare)
  genotype.dot    both cells as a Graphviz graph (render: dot -Tsvg genotype.dot -o cells.svg)
  loss.png, loss.svg   training, validation and test loss against the epoch
  acc.png, acc.svg     training, validation and test accuracy against the epoch
Files go to <lab>/runs/RUN/exports/WHAT, with --compare to
<lab>/exports/compare-RUN-RUN-WHAT (as the TUI's export menu writes them);
--out names the file instead.
The run folders are read as they are on disk: this works while the TUI or
bionas serve has the lab open.

Flags:
`)
		fs.PrintDefaults()
	}
	// Flags may come before, between or after the arguments.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	var runs, whats []string
	if *compare != "" {
		for _, id := range strings.Split(*compare, ",") {
			if id = strings.TrimSpace(id); id != "" && !slices.Contains(runs, id) {
				runs = append(runs, id)
			}
		}
		if len(runs) == 0 {
			return fmt.Errorf("export: --compare %q: want run IDs separated by commas (r0002,r0003)", *compare)
		}
		whats = pos
	} else {
		if len(pos) == 0 {
			fs.Usage()
			return errors.New("export: name a run and what to export (bionas export r0002 loss.png), or see bionas export --help")
		}
		runs, whats = pos[:1], pos[1:]
	}
	if len(whats) == 0 {
		return fmt.Errorf("export: name what to export: %s", strings.Join(lab.ExportNames(), ", "))
	}
	for _, w := range whats {
		if !slices.Contains(lab.ExportNames(), w) {
			return fmt.Errorf("export: unknown export %q: want one of %s", w, strings.Join(lab.ExportNames(), ", "))
		}
		if *compare != "" && strings.HasPrefix(w, "genotype.") {
			return fmt.Errorf("export: --compare overlays charts; %s is one run's: export it per run (bionas export %s %s)", w, runs[0], w)
		}
	}
	if *out != "" && len(whats) > 1 {
		return fmt.Errorf("export: --out names one file, but %d exports were asked for (%s)", len(whats), strings.Join(whats, " "))
	}
	if st, err := os.Stat(filepath.Join(*labDir, "runs")); err != nil || !st.IsDir() {
		return fmt.Errorf("export: no lab at %s (no runs folder; pass --lab DIR)", *labDir)
	}
	snaps := make([]lab.Snapshot, len(runs))
	for i, id := range runs {
		s, err := lab.ReadSnapshot(*labDir, id)
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		snaps[i] = s
	}
	for _, what := range whats {
		path, err := exportOne(*labDir, *out, what, snaps, stdout)
		if err != nil {
			return err
		}
		if path != "" {
			fmt.Fprintf(stdout, "%s %s: %s\n", strings.Join(runs, ","), what, path)
		}
	}
	return nil
}

// exportOne writes what of snaps to out, or to its default place when out
// is empty, and returns the path ("" for standard output).
func exportOne(labDir, out, what string, snaps []lab.Snapshot, stdout io.Writer) (string, error) {
	chart := !strings.HasPrefix(what, "genotype.")
	if out == "-" {
		if chart {
			return "", fmt.Errorf("export: --out -: %s is a picture; name a file", what)
		}
		s := snaps[0]
		g := s.Genotype
		if g == nil {
			g = s.Info.Spec.Genotype
		}
		if g == nil {
			return "", fmt.Errorf("export %s: run %s has no genotype yet", what, s.Info.ID)
		}
		b, err := lab.ExportGenotype(g, map[string]string{"genotype.json": "json", "genotype.txt": "darts", "genotype.dot": "dot"}[what])
		if err != nil {
			return "", err
		}
		_, err = stdout.Write(b)
		return "", err
	}
	path := out
	if path == "" {
		if len(snaps) == 1 {
			return lab.ExportDir(labDir, snaps[0].Info.ID, what)
		}
		// As the TUI's export menu names a comparison.
		var ids []string
		for _, s := range snaps {
			ids = append(ids, s.Info.ID)
		}
		path = lab.CompareExportPath(labDir, ids, what)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return "", fmt.Errorf("export: %w", err)
		}
	}
	if err := lab.WriteExport(path, what, snaps); err != nil {
		return "", err
	}
	return path, nil
}

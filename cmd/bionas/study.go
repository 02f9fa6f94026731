package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bionaslab/bionas/lab"
)

// runStudy runs one of the paper's studies as lab runs and writes its
// report (see lab.RunStudy): bionas study rules|robustness|dynamics.
func runStudy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bionas study", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var lf labFlags
	lf.register(fs)
	dataset := fs.String("dataset", lab.DefaultDataset, "dataset: "+strings.Join(lab.Datasets(), ", ")+" (fashion is fashion-mnist)")
	seeds := fs.Int("seeds", 1, "train every variant with seeds 1..N (mean ± std over them)")
	budget := fs.String("budget", lab.BudgetQuick, "quick (a 2-core CPU: the quick search, 2-epoch retrainings on 8,000 images) or paper (the paper's set-up)")
	random := fs.Int("random", 3, "rules: how many random rule assignments to train")
	searchRun := fs.String("search", "", "rules, dynamics: study this run's genotype (a search, or a run that trained one) instead of searching")
	from := fs.String("from", "", "robustness, dynamics: the rules study to take models or the genotype from (default: the rules study of the same dataset, budget and seeds)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: bionas study rules|robustness|dynamics [...] [flags]

Reproduce one of the paper's claims with lab runs and a report
(<lab>/studies/<id>/report.md, report.json, plots/):
  rules       one searched genotype retrained with its mixed rules, each single
              rule and random assignments (Tables 1, 5): test accuracy, mean ± std
  robustness  every model of the rules study under FGSM, PGD, TPGD, APGD, Square,
              One-Pixel and transfer, over an ε grid, with each model's own and
              the true gradient (Table 4); own-vs-true gaps flagged as masking
  dynamics    mixed and single-rule networks trained while probing per-layer
              gradient variance, B–W alignment and weight distributions (Fig. 3–6)
The runs are ordinary lab runs: they show in the TUI, and running the same
study again resumes it.

Flags:`)
		fs.PrintDefaults()
	}
	dev := deviceFlag(fs)
	// The studies' names come first (several run side by side: a
	// robustness study's attacks in the light lane while a dynamics
	// study trains), or after the flags.
	var kindArgs []string
	rest := args
	for len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		kindArgs, rest = append(kindArgs, rest[0]), rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	kindArgs = append(kindArgs, fs.Args()...)
	if len(kindArgs) == 0 {
		fs.Usage()
		return fmt.Errorf("study: name a study (rules, robustness or dynamics)")
	}
	if *seeds < 1 {
		return fmt.Errorf("study --seeds %d: want 1 or more", *seeds)
	}
	var kinds []lab.StudyKind
	for _, a := range kindArgs {
		for _, name := range strings.Split(a, ",") {
			kind, err := lab.ParseStudyKind(name)
			if err != nil {
				return fmt.Errorf("study: %w", err)
			}
			kinds = append(kinds, kind)
		}
	}
	devName, release, err := dev.use("study", stderr)
	if err != nil {
		return err
	}
	defer release()
	l, err := lf.open(dev)
	if err != nil {
		return fmt.Errorf("study: %w", err)
	}
	defer l.Close()
	start := time.Now()
	var mu sync.Mutex // the studies' progress lines, one at a time
	var wg sync.WaitGroup
	errs := make([]error, len(kinds))
	for i, kind := range kinds {
		spec := lab.StudySpec{Kind: kind, Dataset: *dataset, Seeds: *seeds, Budget: *budget, Random: *random, From: *from, Search: *searchRun}
		if kind != lab.StudyRules {
			spec.Random = 0
		}
		fmt.Fprintf(stderr, "study %s on %s (%s budget, %d seeds) in %s, computing on %s\n", kind, *dataset, *budget, *seeds, lf.dir, devName)
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := l.RunStudy(ctx, spec, func(p lab.StudyProgress) {
				mu.Lock()
				defer mu.Unlock()
				fmt.Fprintf(stderr, "[%s] %s: %d/%d runs done", time.Since(start).Round(time.Second), kind, p.Done, p.Total)
				if p.Failed > 0 {
					fmt.Fprintf(stderr, ", %d failed or interrupted", p.Failed)
				}
				fmt.Fprintf(stderr, ": %s\n", p.Message)
			})
			mu.Lock()
			defer mu.Unlock()
			if st == nil {
				errs[i] = fmt.Errorf("study %s: %w", kind, err)
				return
			}
			if rep, rerr := lab.ReadStudyReport(lf.dir, st.ID); rerr == nil && rep != nil {
				fmt.Fprintf(stdout, "== study %s\n", st.ID)
				printStudyReport(stdout, rep)
				fmt.Fprintf(stdout, "report: %s (took %s)\n\n", filepath.Join(l.StudyDir(st.ID), lab.FileStudyReport), time.Since(start).Round(time.Second))
			}
			if err != nil {
				errs[i] = fmt.Errorf("study %s: %w", st.ID, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// printStudyReport prints a report's tables and verdicts as plain text.
func printStudyReport(w io.Writer, rep *lab.StudyReport) {
	for _, r := range rep.Rules {
		fmt.Fprintf(w, "%-14s %-22s n=%d  %s  runs %s\n", r.Variant, pm(r.Mean, r.Std, r.N), r.N, r.Rules, strings.Join(r.Runs, " "))
	}
	for _, r := range rep.Robustness {
		fmt.Fprintln(w, r.String())
	}
	for _, r := range rep.Dynamics {
		fmt.Fprintln(w, r.String())
	}
	for _, c := range rep.Claims {
		v := "did not hold"
		if c.Held {
			v = "held"
		}
		fmt.Fprintf(w, "claim: %s — %s: %s\n", c.Claim, v, c.Evidence)
	}
}

func pm(mean, std float64, n int) string {
	switch n {
	case 0:
		return "–"
	case 1:
		return fmt.Sprintf("%.2f %%", 100*mean)
	}
	return fmt.Sprintf("%.2f ± %.2f %%", 100*mean, 100*std)
}

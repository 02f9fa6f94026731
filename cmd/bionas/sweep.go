package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/bionaslab/bionas/attacks"
	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/nn/rule"
	"github.com/bionaslab/bionas/search"
)

// sweepFlags are bionas sweep's grid: a base spec and the lists it is
// crossed with.
type sweepFlags struct {
	kind, preset, dataset, space, method, parent, mode string
	epochs, batch, c, cells, subset, n, steps          int
	lr                                                 float64
	seed                                               uint64
	seeds, spaces, methods, rules, attacks, eps        string
}

func (f *sweepFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.kind, "kind", "search", "what each run does: search, train (of --parent's genotype), retrain (of --parent) or attack (of --parent's model)")
	fs.StringVar(&f.preset, "preset", "", "lab preset (mnist-tiny, mnist-quick, …)")
	fs.StringVar(&f.dataset, "dataset", "", "dataset (mnist, fashion-mnist, cifar10, synthetic, …)")
	fs.StringVar(&f.space, "space", "", "search space of every run (unless --spaces)")
	fs.StringVar(&f.method, "method", "", "search method of every run (unless --methods)")
	fs.StringVar(&f.parent, "parent", "", "the run a train, retrain or attack sweep starts from")
	fs.StringVar(&f.mode, "mode", "", "attack: gradient mode, own or true")
	fs.IntVar(&f.epochs, "epochs", 0, "epochs (0: the preset's)")
	fs.IntVar(&f.batch, "batch", 0, "batch size (0: the preset's)")
	fs.IntVar(&f.c, "c", 0, "initial channels (0: the preset's)")
	fs.IntVar(&f.cells, "cells", 0, "cells (0: the preset's)")
	fs.IntVar(&f.subset, "subset", 0, "use the first N training images (0: the preset's)")
	fs.IntVar(&f.n, "n", 0, "attack: images to attack (0: 100)")
	fs.IntVar(&f.steps, "steps", 0, "attack: iterations of iterative attacks (0: each attack's default)")
	fs.Float64Var(&f.lr, "lr", 0, "learning rate (0: the preset's)")
	fs.Uint64Var(&f.seed, "seed", 0, "seed of every run (unless --seeds)")
	fs.StringVar(&f.seeds, "seeds", "", "seeds to sweep: 1,2,3 or 1-4")
	fs.StringVar(&f.spaces, "spaces", "", "search spaces to sweep: "+strings.Join(search.SpaceNames(), ","))
	fs.StringVar(&f.methods, "methods", "", "search methods to sweep: darts,darts2,pcdarts,egnas,random")
	fs.StringVar(&f.rules, "rules", "", "train/retrain: rules to sweep, each as the edit all=RULE (bp,fa,dfa,usf,brsf,frsf,hebb,pc)")
	fs.StringVar(&f.attacks, "attacks", "", "attack: attacks to sweep (fgsm,pgd,…)")
	fs.StringVar(&f.eps, "eps", "", "attack: budgets to sweep, in pixel units of [0,1] (0.1,0.3 or 8/255)")
}

// grid builds the sweep's grid; errors name the flag.
func (f *sweepFlags) grid() (lab.Grid, error) {
	var g lab.Grid
	k := lab.Kind(f.kind)
	switch k {
	case lab.KindSearch, lab.KindTrain, lab.KindRetrain, lab.KindAttack:
	default:
		return g, fmt.Errorf("--kind %q: want search, train, retrain or attack", f.kind)
	}
	g.Base = lab.Spec{Kind: k, Preset: f.preset, Dataset: f.dataset, Space: f.space, Method: search.Method(f.method), Parent: f.parent,
		Epochs: f.epochs, BatchSize: f.batch, C: f.c, Cells: f.cells, Subset: f.subset, LR: f.lr, Seed: f.seed}
	if k == lab.KindAttack {
		g.Base = lab.Spec{Kind: k, Attack: &lab.AttackSpec{Model: f.parent, Attack: "fgsm", Mode: attacks.GradMode(f.mode), N: f.n, Steps: f.steps, Seed: f.seed}}
	}
	var err error
	if g.Seeds, err = lab.ParseSeeds(f.seeds); err != nil {
		return g, fmt.Errorf("--%w", err)
	}
	g.Spaces = lab.SplitList(f.spaces)
	for _, m := range lab.SplitList(f.methods) {
		g.Methods = append(g.Methods, search.Method(m))
	}
	for _, r := range lab.SplitList(f.rules) {
		rr, err := rule.Parse(r)
		if err != nil {
			return g, fmt.Errorf("--rules: %w", err)
		}
		g.Rules = append(g.Rules, rr)
	}
	g.Attacks = lab.SplitList(f.attacks)
	if g.Eps, err = lab.ParseEps(f.eps); err != nil {
		return g, fmt.Errorf("--%w", err)
	}
	if err := g.Check(); err != nil {
		return g, err
	}
	return g, nil
}

// sweepLine is a line of bionas sweep --json: one per run as it ends
// (kind "run"), then the summary (kind "summary").
type sweepLine struct {
	Kind     string       `json:"kind"`
	Sweep    string       `json:"sweep"`
	Run      *lab.RunInfo `json:"run,omitempty"`
	Executor string       `json:"executor,omitempty"`
	Runs     int          `json:"runs,omitempty"`
	Done     int          `json:"done,omitempty"`
	Failed   int          `json:"failed,omitempty"`
	Stopped  int          `json:"interrupted,omitempty"`
}

// runSweep is `bionas sweep`: it expands a grid into runs on the lab's
// executor and (by default) waits for them, printing each as it ends.
func runSweep(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bionas sweep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var lf labFlags
	lf.register(fs)
	var sf sweepFlags
	sf.register(fs)
	wait := fs.Bool("wait", true, "wait for every run to end (--wait=false with --executor slurm: submit and return; the lab follows the jobs when it next opens)")
	asJSON := fs.Bool("json", false, "print one JSON line per run as it ends, then a summary line")
	dev := deviceFlag(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: bionas sweep [--lab DIR] [--executor local|slurm] [--kind search] --seeds 1-4 [--spaces bp,bio] [--methods darts,egnas] [flags]\n\nStart one run for every combination of the lists (seeds, spaces, methods for searches;\nrules for trainings and retrains, as the edit all=RULE; attacks × eps for attack runs),\nall recorded as one sweep that the runs list groups, on the lab's executor.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sweep: unexpected argument %q (see bionas sweep --help)", fs.Arg(0))
	}
	g, err := sf.grid()
	if err != nil {
		return err
	}
	if !*wait && (lf.exec.name == "" || lf.exec.name == lab.ExecutorLocal) {
		return errors.New("sweep: --wait=false needs --executor slurm (local runs stop when bionas sweep exits)")
	}
	_, release, err := dev.use("sweep", stderr)
	if err != nil {
		return err
	}
	defer release()
	l, err := lf.open(dev)
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	defer l.Close()
	id, runs, err := l.Sweep(g, lab.StartOptions{})
	ids := make([]string, len(runs))
	for i, r := range runs {
		ids[i] = r.ID
	}
	if len(runs) > 0 {
		fmt.Fprintf(stderr, "sweep %s: %d run(s) on %s: %s\n", id, len(runs), l.ExecutorName(), strings.Join(ids, " "))
	}
	if err != nil {
		return err
	}
	if !*wait {
		return nil
	}
	sum := sweepLine{Kind: "summary", Sweep: id, Executor: l.ExecutorName(), Runs: len(runs)}
	enc := json.NewEncoder(stdout)
	for _, r := range runs {
		info, err := l.WaitRun(ctx, r.ID)
		if err != nil {
			return fmt.Errorf("sweep %s: %w", id, err)
		}
		switch info.Status {
		case lab.StatusDone:
			sum.Done++
		case lab.StatusFailed:
			sum.Failed++
		default:
			sum.Stopped++
		}
		fmt.Fprintf(stderr, "sweep %s: %s %s %s%s\n", id, info.ID, info.Status, info.Title(), runNumbers(info))
		if *asJSON {
			enc.Encode(sweepLine{Kind: "run", Sweep: id, Run: &info})
		}
	}
	if *asJSON {
		enc.Encode(sum)
	}
	fmt.Fprintf(stderr, "sweep %s: %d/%d done\n", id, sum.Done, sum.Runs)
	if sum.Done != sum.Runs {
		return fmt.Errorf("sweep %s: %d failed, %d interrupted (R in the runs list resumes them)", id, sum.Failed, sum.Stopped)
	}
	return nil
}

// runNumbers is a run's key numbers for a sweep's line.
func runNumbers(r lab.RunInfo) string {
	var parts []string
	if r.Spec.Seed != 0 {
		parts = append(parts, fmt.Sprintf("seed %d", r.Spec.Seed))
	}
	if r.Spec.Space != "" {
		parts = append(parts, "space "+r.Spec.Space)
	}
	m := r.Last
	switch {
	case r.Kind == lab.KindAttack:
		parts = append(parts, fmt.Sprintf("robust %.3f", m.RobustAcc))
	case m.TestAcc != 0:
		parts = append(parts, fmt.Sprintf("test acc %.3f", m.TestAcc))
	case m.ValAcc != 0:
		parts = append(parts, fmt.Sprintf("val acc %.3f", m.ValAcc))
	}
	if r.Error != "" {
		parts = append(parts, r.Error)
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, ", ")
}

package lab

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/bionaslab/bionas/nn/rule"
	"github.com/bionaslab/bionas/search"
)

// MaxSweepRuns bounds a sweep's size: a grid typed with one zero too many
// must not queue ten thousand runs.
const MaxSweepRuns = 1000

// Grid is a sweep: one run for every combination of its non-empty lists,
// each over Base. Which lists apply depends on Base.Kind:
//
//   - search: Seeds, Spaces, Methods;
//   - train: Seeds, Rules (a rule edit all=R; Base.Genotype or Base.Parent
//     gives the architecture);
//   - retrain of Base.Parent: Seeds, Rules (all=R after Base.Edits);
//   - attack of Base.Attack.Model: Seeds (the attack's), Attacks, Eps.
//
// Runs are made in a fixed order, seeds innermost: spaces, methods,
// rules, attacks, eps, seeds.
type Grid struct {
	Base    Spec
	Seeds   []uint64
	Spaces  []string
	Methods []search.Method
	Rules   []rule.Rule
	Attacks []string
	Eps     []float64
}

// Size is the number of runs the grid makes.
func (g Grid) Size() int {
	n := 1
	for _, k := range []int{len(g.Seeds), len(g.Spaces), len(g.Methods), len(g.Rules), len(g.Attacks), len(g.Eps)} {
		n *= max(k, 1)
		if n > MaxSweepRuns {
			return MaxSweepRuns + 1
		}
	}
	return n
}

// Check says what in the grid does not fit its kind, naming the list.
func (g Grid) Check() error {
	k := g.Base.Kind
	bad := func(list string, n int, kinds string) error {
		if n == 0 {
			return nil
		}
		return fmt.Errorf("sweep: %s apply to %s runs, not to a %s sweep", list, kinds, k)
	}
	var errs []error
	switch k {
	case KindSearch:
		errs = append(errs, bad("rules", len(g.Rules), "train and retrain"), bad("attacks", len(g.Attacks), "attack"), bad("eps", len(g.Eps), "attack"))
	case KindTrain, KindRetrain:
		errs = append(errs, bad("spaces", len(g.Spaces), "search"), bad("methods", len(g.Methods), "search"),
			bad("attacks", len(g.Attacks), "attack"), bad("eps", len(g.Eps), "attack"))
		if k == KindRetrain && g.Base.Parent == "" {
			errs = append(errs, errors.New("sweep: a retrain sweep needs the run to retrain (--parent)"))
		}
	case KindAttack:
		errs = append(errs, bad("spaces", len(g.Spaces), "search"), bad("methods", len(g.Methods), "search"), bad("rules", len(g.Rules), "train and retrain"))
		if g.Base.Attack == nil || g.Base.Attack.Model == "" {
			errs = append(errs, errors.New("sweep: an attack sweep needs the model's run (--parent)"))
		}
	default:
		return fmt.Errorf("sweep: kind %q: want one of %v", k, Kinds)
	}
	for _, s := range g.Spaces {
		if !slices.Contains(search.SpaceNames(), s) {
			errs = append(errs, fmt.Errorf("sweep: space %q: want one of %v", s, search.SpaceNames()))
		}
	}
	for _, m := range g.Methods {
		if _, err := search.ParseMethod(string(m)); err != nil {
			errs = append(errs, fmt.Errorf("sweep: %w", err))
		}
	}
	for _, r := range g.Rules {
		if _, err := rule.Parse(string(r)); err != nil {
			errs = append(errs, fmt.Errorf("sweep: %w", err))
		}
	}
	for _, e := range g.Eps {
		if !(e >= 0 && e <= 1) {
			errs = append(errs, fmt.Errorf("sweep: eps %v: want 0..1 (pixels are in [0, 1])", e))
		}
	}
	if n := g.Size(); n > MaxSweepRuns {
		errs = append(errs, fmt.Errorf("sweep: more than %d runs; split it", MaxSweepRuns))
	}
	return errors.Join(errs...)
}

// Specs expands the grid into its runs' specs (retrains and attacks are
// completed from their parents by Lab.Sweep).
func (g Grid) Specs() ([]Spec, error) {
	if err := g.Check(); err != nil {
		return nil, err
	}
	one := func(n int) []int {
		if n == 0 {
			return []int{-1}
		}
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	var out []Spec
	for _, sp := range one(len(g.Spaces)) {
		for _, me := range one(len(g.Methods)) {
			for _, ru := range one(len(g.Rules)) {
				for _, at := range one(len(g.Attacks)) {
					for _, ep := range one(len(g.Eps)) {
						for _, se := range one(len(g.Seeds)) {
							s := g.Base.Clone()
							if sp >= 0 {
								s.Space = g.Spaces[sp]
							}
							if me >= 0 {
								s.Method = g.Methods[me]
							}
							if ru >= 0 {
								s.Edits = append(s.Edits, RuleEdit{Selector: "all", Rule: g.Rules[ru]})
							}
							if s.Attack != nil {
								if at >= 0 {
									s.Attack.Attack = g.Attacks[at]
								}
								if ep >= 0 {
									s.Attack.Eps = g.Eps[ep]
								}
								if se >= 0 {
									s.Attack.Seed = g.Seeds[se]
								}
							} else if se >= 0 {
								s.Seed = g.Seeds[se]
							}
							out = append(out, s)
						}
					}
				}
			}
		}
	}
	return out, nil
}

// Sweep starts every run of the grid on the executor o names, all
// recorded as one sweep (RunInfo.Sweep, named after its first run:
// "s0012"). It stops at the first run that cannot start (a refused
// submission: its run is recorded failed) and returns the runs started so
// far with the error.
func (l *Lab) Sweep(g Grid, o StartOptions) (string, []RunInfo, error) {
	specs, err := g.Specs()
	if err != nil {
		return "", nil, err
	}
	if _, err := l.executorFor(o.Executor); err != nil {
		return "", nil, fmt.Errorf("sweep: %w", err)
	}
	l.mu.Lock()
	o.Sweep = "s" + strconv.Itoa(10000 + l.nextID)[1:]
	if l.nextID >= 10000 {
		o.Sweep = fmt.Sprintf("s%d", l.nextID)
	}
	l.mu.Unlock()
	var runs []RunInfo
	for i, s := range specs {
		var edits []RuleEdit
		switch s.Kind {
		case KindRetrain:
			// The parent's set-up and edits, then this run's own edit.
			own := s.Edits
			full, err := l.retrainSpec(g.Base.Parent, own)
			if err != nil {
				return o.Sweep, runs, fmt.Errorf("sweep run %d of %d: %w", i+1, len(specs), err)
			}
			if s.Seed != 0 {
				full.Seed = s.Seed
			}
			s, edits = full, slices.Clone(own)
		case KindTrain:
			// The parent search's genotype, as TrainGenotype takes it.
			if s.Genotype == nil && s.Parent != "" {
				snap, err := l.Snapshot(s.Parent)
				if err != nil {
					return o.Sweep, runs, fmt.Errorf("sweep: parent: %w", err)
				}
				if s.Genotype = cmp.Or(snap.Genotype, snap.Info.Spec.Genotype); s.Genotype == nil {
					return o.Sweep, runs, fmt.Errorf("sweep: run %s has no genotype yet", s.Parent)
				}
			}
		case KindAttack:
			full, err := l.attackSpec(*s.Attack)
			if err != nil {
				return o.Sweep, runs, fmt.Errorf("sweep run %d of %d: %w", i+1, len(specs), err)
			}
			s = full
		}
		info, err := l.start(s, edits, o)
		if info.ID != "" {
			runs = append(runs, info)
		}
		if err != nil {
			return o.Sweep, runs, fmt.Errorf("sweep run %d of %d: %w", i+1, len(specs), err)
		}
	}
	return o.Sweep, runs, nil
}

// SweepProgress is how far a sweep's runs are.
type SweepProgress struct {
	ID                                               string
	Runs, Done, Failed, Interrupted, Running, Queued int
}

// Sweeps summarises the sweeps among runs, in the order of their first
// runs.
func Sweeps(runs []RunInfo) []SweepProgress {
	var out []SweepProgress
	at := map[string]int{}
	for _, r := range runs {
		if r.Sweep == "" {
			continue
		}
		i, ok := at[r.Sweep]
		if !ok {
			i = len(out)
			at[r.Sweep] = i
			out = append(out, SweepProgress{ID: r.Sweep})
		}
		p := &out[i]
		p.Runs++
		switch r.Status {
		case StatusDone:
			p.Done++
		case StatusFailed:
			p.Failed++
		case StatusInterrupted:
			p.Interrupted++
		case StatusRunning:
			p.Running++
		case StatusQueued:
			p.Queued++
		}
	}
	return out
}

// String is "3/4 done, 1 running".
func (p SweepProgress) String() string {
	s := fmt.Sprintf("%d/%d done", p.Done, p.Runs)
	for _, x := range []struct {
		n    int
		what string
	}{{p.Running, "running"}, {p.Queued, "queued"}, {p.Interrupted, "interrupted"}, {p.Failed, "failed"}} {
		if x.n > 0 {
			s += fmt.Sprintf(", %d %s", x.n, x.what)
		}
	}
	return s
}

// SplitList splits a comma-separated list, dropping empty items: how the
// CLI's and the TUI's sweep fields read "bp, bio".
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ParseSeeds reads a list of seeds: "1,2,5", a range "1-4", or a mix.
func ParseSeeds(s string) ([]uint64, error) {
	var out []uint64
	for _, p := range SplitList(s) {
		lo, hi, isRange := strings.Cut(p, "-")
		a, err := strconv.ParseUint(strings.TrimSpace(lo), 10, 64)
		b := a
		if err == nil && isRange {
			b, err = strconv.ParseUint(strings.TrimSpace(hi), 10, 64)
		}
		if err != nil || b < a || b-a >= MaxSweepRuns {
			return nil, fmt.Errorf("seeds %q: want seeds such as 1,2,3 or a range 1-4", s)
		}
		for v := a; v <= b; v++ {
			out = append(out, v)
		}
	}
	return out, nil
}

// ParseEps reads a list of attack budgets in pixel units of [0, 1]:
// "0.1,0.3" or "8/255,16/255".
func ParseEps(s string) ([]float64, error) {
	var out []float64
	for _, p := range SplitList(s) {
		v, err := parseFraction(p)
		if err != nil || !(v >= 0 && v <= 1) {
			return nil, fmt.Errorf("eps %q: want budgets in [0, 1] such as 0.1 or 8/255", p)
		}
		out = append(out, v)
	}
	return out, nil
}

func parseFraction(s string) (float64, error) {
	a, b, ok := strings.Cut(s, "/")
	x, err := strconv.ParseFloat(strings.TrimSpace(a), 64)
	if err != nil || !ok {
		return x, err
	}
	y, err := strconv.ParseFloat(strings.TrimSpace(b), 64)
	if err != nil || y == 0 {
		return 0, errors.New("not a fraction")
	}
	return x / y, nil
}

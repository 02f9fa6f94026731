package lab

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bionaslab/bionas/internal/dirlock"
	"github.com/bionaslab/bionas/nn/rule"
	"github.com/bionaslab/bionas/search"
)

// A study answers one of the paper's questions with a set of lab runs and
// a report. The runs are ordinary runs (they queue, show live in every
// viewer, resume, and can run on any executor); the study records which
// run fills which cell of its design in studies/<id>/study.json, so that
// running the same study again resumes it: finished runs are reused,
// interrupted or failed ones resumed, missing ones started.

// StudyKind names a study.
type StudyKind string

// The studies.
const (
	// StudyRules retrains one searched genotype with its mixed rules, with
	// each single rule on every edge, and with random rule assignments
	// (the paper's Tables 1 and 5), over seeds.
	StudyRules StudyKind = "rules"
	// StudyRobustness attacks the models of a rules study with every
	// attack over an ε grid, with each model's own gradient and with the
	// true one (Table 4), and flags where the two differ (masking).
	StudyRobustness StudyKind = "robustness"
	// StudyDynamics trains the mixed and the single-rule networks while
	// probing per-layer gradient variance, feedback alignment and weight
	// distributions (Figures 3–6, §7.2).
	StudyDynamics StudyKind = "dynamics"
)

// StudyKinds lists the studies in the order a researcher runs them.
var StudyKinds = []StudyKind{StudyRules, StudyRobustness, StudyDynamics}

// ParseStudyKind checks a study name.
func ParseStudyKind(s string) (StudyKind, error) {
	for _, k := range StudyKinds {
		if string(k) == s {
			return k, nil
		}
	}
	names := make([]string, len(StudyKinds))
	for i, k := range StudyKinds {
		names[i] = string(k)
	}
	return "", fmt.Errorf("unknown study %q: want one of %s", s, strings.Join(names, ", "))
}

// The budgets of a study.
const (
	BudgetQuick = "quick" // fits a 2-core CPU: the quick search, short retrainings on a subset
	BudgetPaper = "paper" // the paper's set-up: for a GPU box
	// BudgetSmoke checks a study's plumbing in seconds (tiny networks on a
	// few hundred images): its numbers mean nothing.
	BudgetSmoke = "smoke"
)

// SingleRules are the rules a rules study trains every edge with, one
// network each.
var SingleRules = []rule.Rule{rule.BP, rule.FA, rule.DFA, rule.USF, rule.BRSF, rule.FRSF}

// randomRules are the rules a random assignment draws from: the bio
// space's.
var randomRules = []rule.Rule{rule.FA, rule.USF, rule.BRSF, rule.FRSF}

// StudySpec says what a study does.
type StudySpec struct {
	Kind    StudyKind `json:"kind"`
	Dataset string    `json:"dataset"`
	// Seeds is how many seeds (1..Seeds) every variant is trained with.
	Seeds  int    `json:"seeds"`
	Budget string `json:"budget"`
	// Random is how many random rule assignments a rules study trains
	// (default 3).
	Random int `json:"random,omitempty"`
	// From is the rules study whose genotype (dynamics) or models
	// (robustness) a study uses; empty: the newest rules study of the same
	// dataset and budget with enough seeds.
	From string `json:"from,omitempty"`
	// Search, for a rules or dynamics study, is the run whose genotype it
	// studies (a search, or any run that trained a genotype) instead of a
	// search of its own.
	Search string `json:"search,omitempty"`
}

func (s StudySpec) withDefaults() (StudySpec, error) {
	if _, err := ParseStudyKind(string(s.Kind)); err != nil {
		return s, err
	}
	s.Dataset = cmp.Or(s.Dataset, DefaultDataset)
	c, err := CanonicalDataset(s.Dataset)
	if err != nil {
		return s, fmt.Errorf("study --dataset: %w", err)
	}
	s.Dataset = c
	if s.Seeds == 0 {
		s.Seeds = 1
	}
	if s.Seeds < 1 || s.Seeds > 20 {
		return s, fmt.Errorf("study --seeds %d: want 1 to 20", s.Seeds)
	}
	s.Budget = cmp.Or(s.Budget, BudgetQuick)
	if s.Budget != BudgetQuick && s.Budget != BudgetPaper && s.Budget != BudgetSmoke {
		return s, fmt.Errorf("study --budget %q: want %s, %s or %s", s.Budget, BudgetQuick, BudgetPaper, BudgetSmoke)
	}
	if s.Kind == StudyRules && s.Random == 0 {
		s.Random = 3
	}
	if s.Random < 0 || s.Random > 50 {
		return s, fmt.Errorf("study --random %d: want 0 to 50", s.Random)
	}
	return s, nil
}

// ID names the study's folder: the same study asked again is the same
// folder, so it resumes.
func (s StudySpec) ID() string {
	id := fmt.Sprintf("%s-%s-%s-%dseeds", s.Kind, s.Dataset, s.Budget, s.Seeds)
	if s.Kind == StudyRules && s.Random != 3 {
		id += fmt.Sprintf("-%drandom", s.Random)
	}
	if s.Search != "" {
		id += "-of-" + s.Search
	}
	return id
}

// Study is a study's record: studies/<id>/study.json.
type Study struct {
	ID       string    `json:"id"`
	Spec     StudySpec `json:"spec"`
	Created  time.Time `json:"created"`
	Finished time.Time `json:"finished,omitzero"`
	// Status is "running", "done" (every cell has a finished run and the
	// report is written) or "failed" (Error says why).
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// Search is the search run whose genotype the study uses; Genotype
	// is that genotype.
	Search   string    `json:"search,omitempty"`
	Genotype *Genotype `json:"genotype,omitempty"`
	// Reading is how Genotype was read from the search's α: "" for the
	// default (a shared parameter-free op weighs the sum of its copies),
	// "per-pair" when that reading gave a cell with no edge whose rule
	// matters and the study fell back to reading every pair alone (as
	// DARTS' and LR-NAS' released code do); SummedGenotype is then what
	// the default reading gave.
	Reading        string    `json:"reading,omitempty"`
	SummedGenotype *Genotype `json:"summed_genotype,omitempty"`
	// Cells are the design's runs.
	Cells []StudyCell `json:"cells"`
}

// StudyCell is one run of a study's design.
type StudyCell struct {
	// Variant names the rule set: "mixed" (the genotype as searched), a
	// single rule ("fa": every edge), "random-2" (the second random
	// assignment).
	Variant string `json:"variant"`
	Seed    uint64 `json:"seed"`
	// Run is the lab run that fills the cell.
	Run string `json:"run,omitempty"`
	// Genotype is the network a training cell trains (its rules).
	Genotype *Genotype `json:"genotype,omitempty"`
	// Attack is what a robustness cell runs (its Model is the attacked
	// run).
	Attack *AttackSpec `json:"attack,omitempty"`
}

// The study folder's files.
const (
	DirStudies      = "studies"
	FileStudy       = "study.json"
	FileStudyReport = "report.md"
	FileStudyJSON   = "report.json"
)

// StudyDir is study id's folder.
func (l *Lab) StudyDir(id string) string { return filepath.Join(l.opts.Dir, DirStudies, id) }

// Studies lists the lab's studies, oldest first.
func (l *Lab) Studies() ([]Study, error) {
	return ReadStudies(l.opts.Dir)
}

// ReadStudies reads every studies/*/study.json of a lab folder (a lab
// that another process holds can be read this way).
func ReadStudies(labDir string) ([]Study, error) {
	ents, err := os.ReadDir(filepath.Join(labDir, DirStudies))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list studies: %w", err)
	}
	var out []Study
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		var s Study
		ok, err := readJSON(filepath.Join(labDir, DirStudies, e.Name(), FileStudy), &s)
		if err != nil {
			s = Study{ID: e.Name(), Status: "failed", Error: err.Error()}
		} else if !ok {
			continue
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Study) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(slices.Index(StudyKinds, a.Spec.Kind), slices.Index(StudyKinds, b.Spec.Kind)), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// saveStudy writes study.json atomically.
func (l *Lab) saveStudy(s *Study) error {
	dir := l.StudyDir(s.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("study %s: %w", s.ID, err)
	}
	if err := writeJSON(filepath.Join(dir, FileStudy), s); err != nil {
		return fmt.Errorf("study %s: %w", s.ID, err)
	}
	return nil
}

// StudyProgress is what a running study reports after every change.
type StudyProgress struct {
	Study *Study
	// Done, Failed and Total count the cells' runs.
	Done, Failed, Total int
	// Message says what the study just did.
	Message string
}

// RunStudy runs a study to its end: it starts (or reuses, or resumes)
// every run of the design, waits for them, and writes the report. It
// returns the study record; a study whose runs partly failed still gets
// its report, over the runs that finished, and an error that names the
// failed runs. progress, if not nil, is called after every change.
func (l *Lab) RunStudy(ctx context.Context, spec StudySpec, progress func(StudyProgress)) (*Study, error) {
	spec, err := spec.withDefaults()
	if err != nil {
		return nil, err
	}
	// One orchestrator per study: two viewers that start the same study
	// must not both start its runs.
	if err := os.MkdirAll(l.StudyDir(spec.ID()), 0o755); err != nil {
		return nil, fmt.Errorf("study %s: %w", spec.ID(), err)
	}
	lock, err := dirlock.Acquire(filepath.Join(l.StudyDir(spec.ID()), "study.lock"), "study "+spec.ID())
	if err != nil {
		return nil, fmt.Errorf("study %s is already running: %w", spec.ID(), err)
	}
	defer lock.Release()
	st, err := l.loadOrCreateStudy(spec)
	if err != nil {
		return nil, err
	}
	say := func(msg string) {
		if progress != nil {
			p := StudyProgress{Study: st, Total: len(st.Cells), Message: msg}
			for _, c := range st.Cells {
				if r, ok := l.Run(c.Run); ok {
					switch r.Status {
					case StatusDone:
						p.Done++
					case StatusFailed, StatusInterrupted:
						p.Failed++
					}
				}
			}
			progress(p)
		}
	}
	fail := func(err error) (*Study, error) {
		st.Status, st.Error = "failed", err.Error()
		if ctx.Err() != nil {
			st.Status, st.Error = "interrupted", "stopped: run the study again to resume it"
		}
		if serr := l.saveStudy(st); serr != nil {
			err = errors.Join(err, serr)
		}
		say(st.Error)
		return st, err
	}
	st.Status, st.Error = "running", ""
	if err := l.saveStudy(st); err != nil {
		return nil, err
	}
	switch spec.Kind {
	case StudyRules, StudyDynamics:
		if err := l.studyTrainings(ctx, st, say); err != nil {
			return fail(err)
		}
	case StudyRobustness:
		if err := l.studyAttacks(ctx, st, say); err != nil {
			return fail(err)
		}
	}
	var failed []string
	for _, c := range st.Cells {
		if r, ok := l.Run(c.Run); !ok || r.Status != StatusDone {
			failed = append(failed, c.Run)
		}
	}
	if err := l.writeStudyReport(st); err != nil {
		return fail(err)
	}
	st.Status, st.Finished = "done", l.opts.Now()
	if len(failed) > 0 {
		st.Status, st.Error = "failed", fmt.Sprintf("runs %s did not finish; the report covers the others (run the study again to resume them)", strings.Join(failed, ", "))
	}
	if err := l.saveStudy(st); err != nil {
		return st, err
	}
	say("report written: " + filepath.Join(l.StudyDir(st.ID), FileStudyReport))
	if st.Error != "" {
		return st, errors.New(st.Error)
	}
	return st, nil
}

// loadOrCreateStudy reads the study of spec's id, or makes a new record.
func (l *Lab) loadOrCreateStudy(spec StudySpec) (*Study, error) {
	id := spec.ID()
	var st Study
	ok, err := readJSON(filepath.Join(l.StudyDir(id), FileStudy), &st)
	if err != nil {
		return nil, fmt.Errorf("study %s: %w", id, err)
	}
	if ok {
		if st.Spec != spec {
			return nil, fmt.Errorf("study %s: %s holds another design (%+v); remove it or change the study's options", id, filepath.Join(l.StudyDir(id), FileStudy), st.Spec)
		}
		return &st, nil
	}
	return &Study{ID: id, Spec: spec, Created: l.opts.Now(), Status: "running"}, nil
}

// studyRunSpec is the spec of a training cell: the genotype (with its
// rules) on the study's dataset, with the budget's training set-up.
func studyTrainSpec(spec StudySpec, search string, g *Genotype, seed uint64) Spec {
	s := Spec{Kind: KindTrain, Parent: search, Dataset: spec.Dataset, Genotype: g, Seed: seed, Preset: "quick"}
	switch spec.Budget {
	case BudgetPaper:
		s.Preset = "paper"
		return s
	case BudgetSmoke:
		s.Epochs, s.Subset, s.C, s.Cells, s.BatchSize = 2, 128, 4, 2, 32
		return s
	}
	// The quick budget: two epochs over the first 8,000 training images
	// (about 100 s a run on 2 cores), tested on the whole test set: a rules
	// study of 3 seeds × 10 variants fits in an hour.
	s.Epochs, s.Subset = 2, 8000
	if spec.Kind == StudyDynamics {
		s.Epochs = 4 // a few points per curve
	}
	return s
}

// studySearchSpec is the search a study runs when it has no genotype.
func studySearchSpec(spec StudySpec) Spec {
	s := Spec{Kind: KindSearch, Dataset: spec.Dataset, Method: search.MethodDARTS, Space: "bio", Seed: DefaultSeed, Preset: "quick"}
	switch spec.Budget {
	case BudgetPaper:
		s.Preset = "paper"
	case BudgetSmoke:
		s.Epochs, s.Subset, s.C, s.Cells, s.BatchSize = 1, 64, 2, 2, 16
	}
	return s
}

// studyTrainings runs a rules or a dynamics study's search (or takes the
// genotype of the rules study it comes from) and its trainings.
func (l *Lab) studyTrainings(ctx context.Context, st *Study, say func(string)) error {
	spec := st.Spec
	if st.Genotype == nil && spec.Search != "" {
		snap, err := l.Snapshot(spec.Search)
		if err != nil {
			return fmt.Errorf("study --search: %w", err)
		}
		g := snap.Genotype
		if g == nil {
			g = snap.Info.Spec.Genotype
		}
		if g == nil {
			return fmt.Errorf("study --search %s: that run has no genotype (yet)", spec.Search)
		}
		st.Search, st.Genotype = spec.Search, g.Clone()
		if ruleCounts(st.Genotype) == "" && snap.Info.Kind == KindSearch {
			// As for the study's own search: read its α pair by pair.
			if pp, ok := perPairGenotype(snap.Alphas, spec); ok {
				st.SummedGenotype, st.Genotype, st.Reading = st.Genotype, pp, "per-pair"
			}
		}
	}
	if st.Genotype == nil && spec.Kind == StudyDynamics {
		// The rules study's genotype, if there is one: the dynamics are
		// then those of the networks it compared. Without one, search.
		if src, err := l.rulesStudyFor(spec); err == nil && src.Genotype != nil {
			st.Search, st.Genotype = src.Search, src.Genotype
			say(fmt.Sprintf("using the genotype of study %s (search %s)", src.ID, src.Search))
		} else if spec.From != "" {
			return err
		}
	}
	if st.Genotype == nil {
		id, err := l.ensureRun(ctx, st.Search, func() (RunInfo, error) { return l.Start(studySearchSpec(spec)) })
		if err != nil {
			return fmt.Errorf("study search: %w", err)
		}
		st.Search = id
		if err := l.saveStudy(st); err != nil {
			return err
		}
		say("searching (" + id + ")")
		info, err := l.WaitRun(ctx, id)
		if err != nil {
			return err
		}
		if info.Status != StatusDone {
			return fmt.Errorf("study search %s is %s: %s", id, info.Status, info.Error)
		}
		snap, err := l.Snapshot(id)
		if err != nil {
			return err
		}
		if snap.Genotype == nil {
			return fmt.Errorf("study search %s gave no genotype", id)
		}
		st.Genotype = snap.Genotype.Clone()
		if ruleCounts(st.Genotype) == "" {
			if pp, ok := perPairGenotype(snap.Alphas, spec); ok {
				say(fmt.Sprintf("the summed reading of %s's α gives only parameter-free ops; studying the per-pair reading %s", id, pp))
				st.SummedGenotype, st.Genotype, st.Reading = st.Genotype, pp, "per-pair"
			}
		}
		if err := l.saveStudy(st); err != nil {
			return err
		}
	}
	if ruleCounts(st.Genotype) == "" {
		// Only pools, skips and none: every variant would be the same
		// network under another name.
		return fmt.Errorf("the genotype of %s has no edge whose learning rule matters (%s): a %s study of it would train one network under every name; study another search (--search RUN) or search longer (--budget paper)",
			st.Search, st.Genotype, spec.Kind)
	}
	if len(st.Cells) == 0 {
		st.Cells = studyDesign(spec, *st.Genotype)
	}
	for i := range st.Cells {
		c := &st.Cells[i]
		s := studyTrainSpec(spec, st.Search, c.Genotype, c.Seed)
		s.Dynamics = spec.Kind == StudyDynamics
		id, err := l.ensureRun(ctx, c.Run, func() (RunInfo, error) { return l.Start(s) })
		if err != nil {
			return fmt.Errorf("study cell %s seed %d: %w", c.Variant, c.Seed, err)
		}
		c.Run = id
		if err := l.saveStudy(st); err != nil {
			return err
		}
	}
	say(fmt.Sprintf("%d runs queued", len(st.Cells)))
	for _, c := range st.Cells {
		info, err := l.WaitRun(ctx, c.Run)
		if err != nil {
			return err
		}
		say(fmt.Sprintf("%s %s seed %d: %s", c.Run, c.Variant, c.Seed, info.Status))
	}
	return nil
}

// perPairGenotype reads a study search's final α pair by pair (see
// Study.Reading); ok is false when that gives no rule-bearing edge either,
// or the α do not fit the search's space.
func perPairGenotype(a *Alphas, spec StudySpec) (*Genotype, bool) {
	if a == nil || len(a.Normal) == 0 {
		return nil, false
	}
	space, err := search.SpaceByName(studySearchSpec(spec).Space)
	if err != nil {
		return nil, false
	}
	names := make([]string, 0, len(space.Pairs))
	for _, p := range space.Pairs {
		names = append(names, p.String())
	}
	if !slices.Equal(names, a.Pairs) {
		return nil, false
	}
	g, err := search.DeriveWith(a.Normal, a.Reduce, space, stepsOf(len(a.Normal)), search.DeriveOptions{PerPairParamFree: true})
	if err != nil || ruleCounts(&g) == "" {
		return nil, false
	}
	return &g, true
}

// rulesStudyFor finds the rules study a robustness or dynamics study
// takes its models or genotype from: spec.From if given, else the newest
// rules study of the same dataset and budget with at least spec.Seeds
// seeds.
func (l *Lab) rulesStudyFor(spec StudySpec) (*Study, error) {
	if spec.From != "" {
		var src Study
		ok, err := readJSON(filepath.Join(l.StudyDir(spec.From), FileStudy), &src)
		if err != nil {
			return nil, fmt.Errorf("study --from %s: %w", spec.From, err)
		}
		if !ok || src.Spec.Kind != StudyRules {
			return nil, fmt.Errorf("study --from %s: no rules study of that id in %s", spec.From, filepath.Join(l.opts.Dir, DirStudies))
		}
		return &src, nil
	}
	list, err := l.Studies()
	if err != nil {
		return nil, err
	}
	for i := len(list) - 1; i >= 0; i-- {
		s := list[i]
		if s.Spec.Kind == StudyRules && s.Spec.Dataset == spec.Dataset && s.Spec.Budget == spec.Budget && s.Spec.Seeds >= spec.Seeds {
			return &s, nil
		}
	}
	return nil, fmt.Errorf("no rules study of %s (budget %s, %d seeds or more) to take models from: run bionas study rules --dataset %s --budget %s --seeds %d first (or pass --from)",
		spec.Dataset, spec.Budget, spec.Seeds, spec.Dataset, spec.Budget, spec.Seeds)
}

// studyDesign is a rules (or dynamics) study's cells: for every seed, the
// mixed genotype, each single rule, and (rules) the random assignments.
// The random assignments are drawn once, from a fixed seed, and are the
// same for every training seed: a cell's spread over seeds is the
// training's, not the draw's.
func studyDesign(spec StudySpec, g Genotype) []StudyCell {
	type variant struct {
		name string
		g    *Genotype
	}
	vs := []variant{{"mixed", g.Clone()}}
	for _, r := range SingleRules {
		vs = append(vs, variant{string(r), relabel(g, func(int) rule.Rule { return r })})
	}
	if spec.Kind == StudyRules {
		rng := rand.New(rand.NewPCG(0xB10, 0x5EED))
		for k := 1; k <= spec.Random; k++ {
			draws := make([]rule.Rule, len(g.Normal.Edges)+len(g.Reduce.Edges))
			for i := range draws {
				draws[i] = randomRules[rng.IntN(len(randomRules))]
			}
			vs = append(vs, variant{fmt.Sprintf("random-%d", k), relabel(g, func(i int) rule.Rule { return draws[i] })})
		}
	}
	var cells []StudyCell
	for seed := 1; seed <= spec.Seeds; seed++ {
		for _, v := range vs {
			cells = append(cells, StudyCell{Variant: v.name, Seed: uint64(seed), Genotype: v.g.Clone()})
		}
	}
	return cells
}

// relabel returns g with the rule of every edge where a rule acts set to
// pick(i), i counting the normal cell's edges then the reduction cell's.
// Parameter-free ops keep their label: they have no rule to change.
func relabel(g Genotype, pick func(i int) rule.Rule) *Genotype {
	out := g.Clone()
	i := 0
	for _, cell := range []struct {
		c      *search.CellGenotype
		reduce bool
	}{{&out.Normal, false}, {&out.Reduce, true}} {
		for j := range cell.c.Edges {
			e := &cell.c.Edges[j]
			if e.RuleActs(cell.reduce) && e.Rule.IsFeedback() {
				e.Rule = pick(i)
			}
			i++
		}
	}
	return out
}

// ensureRun returns the run that fills a cell: id if it exists (resumed
// if it was interrupted or failed), else the run that start starts
// (Start of a training spec, Attack of an attack cell).
func (l *Lab) ensureRun(ctx context.Context, id string, start func() (RunInfo, error)) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if id != "" {
		if info, ok := l.Run(id); ok {
			if info.Status.Resumable() {
				if _, err := l.Resume(id); err != nil {
					return "", err
				}
			}
			return id, nil
		}
	}
	info, err := start()
	if err != nil {
		return "", err
	}
	return info.ID, nil
}

package lab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/bionaslab/bionas/nn"
)

// StudyReport is everything a study's report says, as report.json holds
// it: every number with the runs it comes from.
type StudyReport struct {
	Study    string    `json:"study"`
	Kind     StudyKind `json:"kind"`
	Dataset  string    `json:"dataset"`
	Budget   string    `json:"budget"`
	Seeds    int       `json:"seeds"`
	Search   string    `json:"search,omitempty"`
	Genotype string    `json:"genotype,omitempty"`
	// Rules: one row per variant (mixed, each single rule, each random
	// assignment) and one for all random assignments together.
	Rules []RulesRow `json:"rules,omitempty"`
	// Robustness: one row per model variant, attack, ε and mode.
	Robustness []RobustRow `json:"robustness,omitempty"`
	// Dynamics: per variant and epoch, the layer-averaged probes.
	Dynamics []DynamicsRow `json:"dynamics,omitempty"`
	// Claims are the paper's claims this study tests, each with its
	// verdict and the numbers behind it.
	Claims []Claim `json:"claims"`
	// Plots are the report's figures (relative to the study folder).
	Plots []string `json:"plots"`
}

// RulesRow is one variant of a rules study over its seeds.
type RulesRow struct {
	Variant string `json:"variant"`
	// Rules says which rules the variant's edges use ("fa 5 · usf 3").
	Rules string `json:"rules"`
	// N is the number of finished runs; Mean and Std their test accuracy
	// (a fraction; Std is the sample standard deviation, 0 for one run).
	N      int       `json:"n"`
	Mean   float64   `json:"mean"`
	Std    float64   `json:"std"`
	Accs   []float64 `json:"accs"`
	Epochs int       `json:"epochs"`
	Runs   []string  `json:"runs"`
}

// Claim is a claim of the paper and what this study found.
type Claim struct {
	Claim    string `json:"claim"`
	Held     bool   `json:"held"`
	Evidence string `json:"evidence"`
}

// writeStudyReport writes report.json, report.md and the plots.
func (l *Lab) writeStudyReport(st *Study) error {
	rep := StudyReport{Study: st.ID, Kind: st.Spec.Kind, Dataset: st.Spec.Dataset, Budget: st.Spec.Budget, Seeds: st.Spec.Seeds, Search: st.Search}
	if st.Genotype != nil {
		rep.Genotype = st.Genotype.String()
	}
	dir := l.StudyDir(st.ID)
	var md strings.Builder
	var err error
	switch st.Spec.Kind {
	case StudyRules:
		err = l.rulesReport(st, &rep, dir, &md)
	case StudyRobustness:
		err = l.robustnessReport(st, &rep, dir, &md)
	case StudyDynamics:
		err = l.dynamicsReport(st, &rep, dir, &md)
	}
	if err != nil {
		return fmt.Errorf("study %s report: %w", st.ID, err)
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := nn.WriteFileAtomic(filepath.Join(dir, FileStudyJSON), append(b, '\n')); err != nil {
		return fmt.Errorf("study %s report: %w", st.ID, err)
	}
	head := fmt.Sprintf("# Study %s\n\n%s study on %s, budget %s, seeds 1–%d. Every number below is traceable to the lab runs named with it (runs/<id>/); report.json holds them all.\n\n",
		st.ID, st.Spec.Kind, st.Spec.Dataset, st.Spec.Budget, st.Spec.Seeds)
	if st.Search != "" {
		head += fmt.Sprintf("Genotype from search %s:\n\n    %s\n\n", st.Search, rep.Genotype)
	}
	if st.Reading == "per-pair" && st.SummedGenotype != nil {
		head += fmt.Sprintf("Read pair by pair (each (op, rule) column alone, as DARTS' and LR-NAS' released code do): the default reading, which weighs a shared pool or skip by the sum of its copies under every rule label, gave a cell of parameter-free ops only, with no edge whose learning rule matters:\n\n    %s\n\n", st.SummedGenotype)
	}
	if err := nn.WriteFileAtomic(filepath.Join(dir, FileStudyReport), []byte(head+md.String())); err != nil {
		return fmt.Errorf("study %s report: %w", st.ID, err)
	}
	return nil
}

// ReadStudyReport reads a study's report.json (nil, nil when it has none
// yet).
func ReadStudyReport(labDir, id string) (*StudyReport, error) {
	var r StudyReport
	ok, err := readJSON(filepath.Join(labDir, DirStudies, id, FileStudyJSON), &r)
	if err != nil || !ok {
		return nil, err
	}
	return &r, nil
}

// meanStd is the mean and sample standard deviation (0 for fewer than two
// values).
func meanStd(xs []float64) (mean, std float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	if len(xs) == 1 {
		return xs[0], 0
	}
	return stat.Mean(xs, nil), stat.StdDev(xs, nil)
}

// ruleCounts summarises a genotype's rules where they act: "fa 5 · usf 3".
func ruleCounts(g *Genotype) string {
	if g == nil {
		return ""
	}
	n := map[string]int{}
	for _, cell := range []struct {
		edges  []GenotypeEdge
		reduce bool
	}{{g.Normal.Edges, false}, {g.Reduce.Edges, true}} {
		for _, e := range cell.edges {
			if e.RuleActs(cell.reduce) {
				n[string(e.Rule)]++
			}
		}
	}
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, n[k])
	}
	return strings.Join(parts, " · ")
}

// rulesReport: test accuracy per variant, mean ± std over seeds.
func (l *Lab) rulesReport(st *Study, rep *StudyReport, dir string, md *strings.Builder) error {
	rows := map[string]*RulesRow{}
	var order []string
	randomAll := &RulesRow{Variant: "random (all)"}
	for _, c := range st.Cells {
		r, ok := rows[c.Variant]
		if !ok {
			r = &RulesRow{Variant: c.Variant, Rules: ruleCounts(c.Genotype)}
			rows[c.Variant] = r
			order = append(order, c.Variant)
		}
		info, ok := l.Run(c.Run)
		if !ok || info.Status != StatusDone || info.Last.TestAcc <= 0 {
			continue
		}
		r.Accs = append(r.Accs, info.Last.TestAcc)
		r.Runs = append(r.Runs, c.Run)
		r.Epochs = max(r.Epochs, info.Last.Epochs)
		if strings.HasPrefix(c.Variant, "random-") {
			randomAll.Accs = append(randomAll.Accs, info.Last.TestAcc)
			randomAll.Runs = append(randomAll.Runs, c.Run)
			randomAll.Epochs = max(randomAll.Epochs, info.Last.Epochs)
		}
	}
	for _, v := range order {
		r := rows[v]
		r.N = len(r.Accs)
		r.Mean, r.Std = meanStd(r.Accs)
		rep.Rules = append(rep.Rules, *r)
	}
	if randomAll.N = len(randomAll.Accs); randomAll.N > 0 {
		randomAll.Mean, randomAll.Std = meanStd(randomAll.Accs)
		randomAll.Rules = "random, bio rules"
		rep.Rules = append(rep.Rules, *randomAll)
	}
	rep.Claims = rulesClaims(rep.Rules)

	fmt.Fprintf(md, "## Test accuracy by rule set\n\nMean ± sample standard deviation over the seeds that finished (n); epochs trained; the runs.\n\n")
	fmt.Fprintf(md, "| variant | rules on the edges | test accuracy | n | epochs | runs |\n|---|---|---|---|---|---|\n")
	for _, r := range rep.Rules {
		fmt.Fprintf(md, "| %s | %s | %s | %d | %d | %s |\n", r.Variant, r.Rules, pmPct(r.Mean, r.Std, r.N), r.N, r.Epochs, strings.Join(r.Runs, " "))
	}
	writeClaims(md, rep.Claims)
	var labels []string
	var means, stds []float64
	for _, r := range rep.Rules {
		if r.N == 0 {
			continue
		}
		labels = append(labels, r.Variant)
		means = append(means, 100*r.Mean)
		stds = append(stds, 100*r.Std)
	}
	if len(labels) > 0 {
		plots, err := writeBarPlot(dir, "rules-accuracy", "Test accuracy by rule set ("+st.Spec.Dataset+")", "test accuracy (%)", labels, means, stds)
		if err != nil {
			return err
		}
		rep.Plots = append(rep.Plots, plots...)
		fmt.Fprintf(md, "\n![test accuracy by rule set](%s)\n", plots[0])
	}
	return nil
}

// rulesClaims tests Table 1's and Table 5's claims on a rules study.
func rulesClaims(rows []RulesRow) []Claim {
	byName := map[string]RulesRow{}
	for _, r := range rows {
		byName[r.Variant] = r
	}
	mixed, ok := byName["mixed"]
	if !ok || mixed.N == 0 {
		return []Claim{{Claim: "mixed rules beat single rules", Held: false, Evidence: "the mixed network has no finished run"}}
	}
	var claims []Claim
	var beaten, lost []string
	for _, r := range SingleRules {
		if r == "bp" {
			continue
		}
		s, ok := byName[string(r)]
		if !ok || s.N == 0 {
			continue
		}
		d := mixed.Mean - s.Mean
		item := fmt.Sprintf("%s %s (%+.2f points%s)", r, pmPct(s.Mean, s.Std, s.N), 100*d, spreadNote(mixed, s))
		if d > 0 {
			beaten = append(beaten, item)
		} else {
			lost = append(lost, item)
		}
	}
	ev := fmt.Sprintf("mixed %s; ", pmPct(mixed.Mean, mixed.Std, mixed.N))
	if len(beaten) > 0 {
		ev += "beats " + strings.Join(beaten, ", ")
	}
	if len(lost) > 0 {
		if len(beaten) > 0 {
			ev += "; "
		}
		ev += "does not beat " + strings.Join(lost, ", ")
	}
	claims = append(claims, Claim{Claim: "Mixed rules beat every single bio rule (Table 1)", Held: len(lost) == 0 && len(beaten) > 0, Evidence: ev})
	if ra, ok := byName["random (all)"]; ok && ra.N > 0 {
		d := mixed.Mean - ra.Mean
		claims = append(claims, Claim{Claim: "The searched assignment beats random rule assignments (Table 5)", Held: d > 0,
			Evidence: fmt.Sprintf("mixed %s vs random %s over %d runs: %+.2f points%s", pmPct(mixed.Mean, mixed.Std, mixed.N), pmPct(ra.Mean, ra.Std, ra.N), ra.N, 100*d, spreadNote(mixed, ra))})
	}
	if bp, ok := byName["bp"]; ok && bp.N > 0 {
		claims = append(claims, Claim{Claim: "Back-propagation remains the upper reference", Held: bp.Mean >= mixed.Mean,
			Evidence: fmt.Sprintf("bp %s vs mixed %s: %+.2f points", pmPct(bp.Mean, bp.Std, bp.N), pmPct(mixed.Mean, mixed.Std, mixed.N), 100*(bp.Mean-mixed.Mean))})
	}
	return claims
}

// spreadNote says whether a difference of means is beyond the seeds'
// spread (the larger of the two standard deviations), so that a reader
// does not take noise for an effect.
func spreadNote(a, b RulesRow) string {
	if a.N < 2 || b.N < 2 {
		return ", one seed: no spread to compare with"
	}
	if math.Abs(a.Mean-b.Mean) > max(a.Std, b.Std) {
		return ", beyond the seeds' spread"
	}
	return ", within the seeds' spread"
}

// pmPct formats mean ± std as percentages ("97.12 ± 0.31 %"); "–" without
// runs.
func pmPct(mean, std float64, n int) string {
	switch {
	case n == 0:
		return "–"
	case n == 1:
		return fmt.Sprintf("%.2f %%", 100*mean)
	}
	return fmt.Sprintf("%.2f ± %.2f %%", 100*mean, 100*std)
}

func writeClaims(md *strings.Builder, claims []Claim) {
	if len(claims) == 0 {
		return
	}
	fmt.Fprintf(md, "\n## The paper's claims, tested\n\n")
	for _, c := range claims {
		v := "did not hold"
		if c.Held {
			v = "held"
		}
		fmt.Fprintf(md, "- **%s**: %s. %s.\n", c.Claim, v, c.Evidence)
	}
}

// writeBarPlot draws bars with error bars and writes name.png and
// name.svg into dir/plots, returning their paths relative to dir.
func writeBarPlot(dir, name, title, ylabel string, labels []string, vals, errs []float64) ([]string, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.BackgroundColor = color.White
	bars, err := plotter.NewBarChart(plotter.Values(vals), vg.Points(18))
	if err != nil {
		return nil, fmt.Errorf("plot %s: %w", name, err)
	}
	bars.Color = plotutil.Color(0)
	bars.LineStyle.Width = 0
	p.Add(plotter.NewGrid(), bars)
	xys := make(plotter.XYs, len(vals))
	ye := make(plotter.YErrors, len(vals))
	for i := range vals {
		xys[i] = plotter.XY{X: float64(i), Y: vals[i]}
		ye[i].Low, ye[i].High = errs[i], errs[i]
	}
	eb, err := plotter.NewYErrorBars(struct {
		plotter.XYs
		plotter.YErrors
	}{xys, ye})
	if err != nil {
		return nil, fmt.Errorf("plot %s: %w", name, err)
	}
	p.Add(eb)
	p.NominalX(labels...)
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range vals {
		lo, hi = min(lo, vals[i]-errs[i]), max(hi, vals[i]+errs[i])
	}
	// Accuracies near each other: a zoomed axis shows the differences, and
	// says so by not starting at 0.
	pad := max((hi-lo)*0.25, 0.5)
	p.Y.Min, p.Y.Max = max(lo-pad, 0), min(hi+pad, 100)
	return savePlot(p, dir, name)
}

// savePlot writes a plot as PNG and SVG into dir/plots.
func savePlot(p *plot.Plot, dir, name string) ([]string, error) {
	if err := os.MkdirAll(filepath.Join(dir, "plots"), 0o755); err != nil {
		return nil, err
	}
	var out []string
	for _, ext := range []string{"png", "svg"} {
		w, h := vg.Length(ChartWidth)*vg.Inch/chartDPI, vg.Length(ChartHeight)*vg.Inch/chartDPI
		wt, err := p.WriterTo(w, h, ext)
		if err != nil {
			return nil, fmt.Errorf("plot %s: %w", name, err)
		}
		var buf bytes.Buffer
		if _, err := wt.WriteTo(&buf); err != nil {
			return nil, fmt.Errorf("plot %s: %w", name, err)
		}
		rel := filepath.Join("plots", name+"."+ext)
		if err := nn.WriteFileAtomic(filepath.Join(dir, rel), buf.Bytes()); err != nil {
			return nil, fmt.Errorf("plot %s: %w", name, err)
		}
		out = append(out, rel)
	}
	return out, nil
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

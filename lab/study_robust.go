package lab

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/bionaslab/bionas/attacks"
)

// The robustness study attacks every model of a rules study (the variants
// of the seeds up to its Seeds) with FGSM, PGD, TPGD, APGD, Square and a
// transfer attack over an ε grid, white-box attacks with the model's own
// gradient (its rule's feedback path) and with the true one, and with
// One-Pixel on 1 to 5 pixels. A model whose own-gradient attacks leave it
// far more accurate than true-gradient ones is flagged: its robustness is
// (at least partly) gradient masking, not robustness.

// maskingGap is the own − true robust accuracy difference (a fraction)
// from which a cell is flagged as masking.
const maskingGap = 0.10

// robustBudget is what a robustness study's attacks use.
type robustBudget struct {
	eps      []float64
	n        int
	pixels   []int
	settings map[string]string
}

// studyRobustBudget is the ε grid, images and attack settings of a budget.
// PGD and TPGD take α = ε/4: with the paper's α = 2/255 their 10 and 7
// steps cannot reach ε ≥ 0.08 (attacks.BudgetWarning), which would report
// a model as more robust under PGD than under FGSM.
func studyRobustBudget(b string) robustBudget {
	switch b {
	case BudgetSmoke:
		return robustBudget{eps: []float64{0.1}, n: 16, pixels: []int{1, 2},
			settings: map[string]string{"apgd.steps": "5", "square.queries": "20", "onepixel.steps": "3", "onepixel.popsize": "4"}}
	case BudgetPaper:
		return robustBudget{eps: []float64{8.0 / 255, 0.1, 0.35}, n: 1000, pixels: []int{1, 2, 3, 4, 5},
			settings: map[string]string{}}
	}
	return robustBudget{eps: []float64{8.0 / 255, 0.1, 0.35}, n: 100, pixels: []int{1, 2, 3, 4, 5},
		settings: map[string]string{"apgd.steps": "20", "square.queries": "200"}}
}

// studyAttacks fills a robustness study's cells: for every model of the
// rules study it comes from, one attack run per ε (every L∞ attack, both
// gradient modes, and the transfer from a bp model of another run) and
// one One-Pixel run per pixel count.
func (l *Lab) studyAttacks(ctx context.Context, st *Study, say func(string)) error {
	spec := st.Spec
	src, err := l.rulesStudyFor(spec)
	if err != nil {
		return err
	}
	from := src.ID
	st.Search, st.Genotype = src.Search, src.Genotype
	var models []StudyCell
	for _, c := range src.Cells {
		if c.Seed > uint64(spec.Seeds) {
			continue
		}
		r, ok := l.Run(c.Run)
		if !ok || r.Status != StatusDone {
			say(fmt.Sprintf("skipping %s seed %d: its model %s is not trained", c.Variant, c.Seed, c.Run))
			continue
		}
		models = append(models, c)
	}
	if len(models) == 0 {
		return fmt.Errorf("rules study %s has no trained model of seeds 1–%d yet", from, spec.Seeds)
	}
	if len(st.Cells) == 0 {
		bud := studyRobustBudget(spec.Budget)
		for _, m := range models {
			sur := surrogateFor(src.Cells, m, l)
			for _, eps := range bud.eps {
				names := []string{"fgsm", "pgd", "tpgd", "apgd", "square"}
				if sur != "" {
					names = append(names, "transfer")
				}
				set := map[string]string{"pgd.alpha": fmt.Sprint(eps / 4), "tpgd.alpha": fmt.Sprint(eps / 4)}
				for k, v := range bud.settings {
					if !strings.HasPrefix(k, "onepixel.") {
						set[k] = v
					}
				}
				st.Cells = append(st.Cells, StudyCell{Variant: m.Variant, Seed: m.Seed,
					Attack: &AttackSpec{Model: m.Run, Attack: strings.Join(names, ","), BothModes: true, Mode: attacks.Own, Eps: eps, N: bud.n, Seed: 1, Settings: set, Surrogate: sur}})
			}
			for _, k := range bud.pixels {
				set := map[string]string{"onepixel.pixels": fmt.Sprint(k)}
				for key, v := range bud.settings {
					if strings.HasPrefix(key, "onepixel.") {
						set[key] = v
					}
				}
				st.Cells = append(st.Cells, StudyCell{Variant: m.Variant, Seed: m.Seed,
					Attack: &AttackSpec{Model: m.Run, Attack: "onepixel", Mode: attacks.Own, N: bud.n, Seed: 1, Settings: set}})
			}
		}
		if err := l.saveStudy(st); err != nil {
			return err
		}
	}
	for i := range st.Cells {
		c := &st.Cells[i]
		a := *c.Attack
		id, err := l.ensureRun(ctx, c.Run, func() (RunInfo, error) { return l.Attack(a) })
		if err != nil {
			return fmt.Errorf("study cell %s seed %d %s: %w", c.Variant, c.Seed, c.Attack.Attack, err)
		}
		c.Run = id
		if err := l.saveStudy(st); err != nil {
			return err
		}
	}
	say(fmt.Sprintf("%d attack runs queued", len(st.Cells)))
	for _, c := range st.Cells {
		info, err := l.WaitRun(ctx, c.Run)
		if err != nil {
			return err
		}
		say(fmt.Sprintf("%s %s seed %d %s: %s", c.Run, c.Variant, c.Seed, c.Attack.Attack, info.Status))
	}
	return nil
}

// surrogateFor picks the transfer attack's surrogate for a model: the
// rules study's bp network of the same seed, or of another seed for the
// bp network itself; "" when there is none.
func surrogateFor(cells []StudyCell, m StudyCell, l *Lab) string {
	var same, other string
	for _, c := range cells {
		if c.Variant != "bp" || c.Run == m.Run {
			continue
		}
		if r, ok := l.Run(c.Run); !ok || r.Status != StatusDone {
			continue
		}
		if c.Seed == m.Seed {
			same = c.Run
		} else if other == "" {
			other = c.Run
		}
	}
	return cmp.Or(same, other)
}

// RobustRow is one model variant under one attack and budget: robust
// accuracy with the model's own gradient and with the true one (the same
// number for a black-box attack), over the seeds' models.
type RobustRow struct {
	Variant  string  `json:"variant"`
	Attack   string  `json:"attack"`
	Budget   string  `json:"budget"`
	Eps      float64 `json:"eps,omitempty"`
	BlackBox bool    `json:"black_box,omitempty"`
	// Own and True are mean robust accuracies (fractions) over the
	// models; Gap = Own − True; Masking flags Gap ≥ 10 points.
	Own     float64 `json:"own"`
	True    float64 `json:"true"`
	Gap     float64 `json:"gap"`
	Masking bool    `json:"masking,omitempty"`
	Clean   float64 `json:"clean"`
	// N is the images per model, Models how many models; Runs the attack
	// runs.
	N       int      `json:"n"`
	Models  int      `json:"models"`
	Runs    []string `json:"runs"`
	Warning string   `json:"warning,omitempty"`
}

// String is the row as one line of text.
func (r RobustRow) String() string {
	s := fmt.Sprintf("%-12s %-10s %-9s ", r.Variant, r.Attack, r.Budget)
	if r.BlackBox {
		s += fmt.Sprintf("black-box %5.1f%%", 100*r.Own)
	} else {
		s += fmt.Sprintf("own %5.1f%% true %5.1f%% gap %+5.1f", 100*r.Own, 100*r.True, 100*r.Gap)
	}
	if r.Masking {
		s += " MASKING?"
	}
	return s
}

// robustnessReport aggregates the attack runs: per variant, attack and
// budget, the mean robust accuracy over the models in each gradient mode.
func (l *Lab) robustnessReport(st *Study, rep *StudyReport, dir string, md *strings.Builder) error {
	type acc struct {
		row          RobustRow
		own, tru, cl []float64
	}
	rows := map[string]*acc{}
	var order []string
	for _, c := range st.Cells {
		snap, err := l.Snapshot(c.Run)
		if err != nil || snap.Info.Status != StatusDone || snap.Attack == nil {
			continue
		}
		seen := map[string]bool{}
		for _, r := range snap.Attack.Rows {
			budget := cmp.Or(r.Budget, fmt.Sprintf("ε %g", r.Eps))
			if px := c.Attack.Settings["onepixel.pixels"]; r.Attack == "onepixel" && px != "" {
				// One row per pixel count, whatever the report's words.
				budget = px + " pixel"
				if px != "1" {
					budget += "s"
				}
			}
			k := c.Variant + "|" + r.Attack + "|" + budget
			a, ok := rows[k]
			if !ok {
				a = &acc{row: RobustRow{Variant: c.Variant, Attack: r.Attack, Budget: budget, Eps: r.Eps, BlackBox: r.BlackBox, N: r.N}}
				rows[k] = a
				order = append(order, k)
			}
			switch {
			case r.BlackBox:
				a.own = append(a.own, r.RobustAcc)
				a.tru = append(a.tru, r.RobustAcc)
			case r.Mode == string(attacks.True):
				a.tru = append(a.tru, r.RobustAcc)
			default:
				a.own = append(a.own, r.RobustAcc)
			}
			if r.Warning != "" {
				a.row.Warning = r.Warning
			}
			if !seen[k] {
				seen[k] = true
				a.cl = append(a.cl, snap.Attack.CleanAcc)
				a.row.Runs = append(a.row.Runs, c.Run)
			}
		}
	}
	for _, k := range order {
		a := rows[k]
		r := a.row
		r.Own, _ = meanStd(a.own)
		r.True, _ = meanStd(a.tru)
		r.Clean, _ = meanStd(a.cl)
		r.Models = len(a.cl)
		r.Gap = r.Own - r.True
		r.Masking = !r.BlackBox && r.Gap >= maskingGap
		rep.Robustness = append(rep.Robustness, r)
	}
	slices.SortStableFunc(rep.Robustness, func(a, b RobustRow) int {
		return cmp.Or(cmp.Compare(variantOrder(a.Variant), variantOrder(b.Variant)), strings.Compare(a.Variant, b.Variant),
			cmp.Compare(attackOrder(a.Attack), attackOrder(b.Attack)), cmp.Compare(a.Eps, b.Eps))
	})
	rep.Claims = robustClaims(rep.Robustness)

	fmt.Fprintf(md, "## Robust accuracy, own vs true gradient\n\n")
	fmt.Fprintf(md, "Mean over the models of each variant (seeds 1–%d of study %s). *own*: white-box attacks driven by the model's own feedback path (its rule); *true*: by the true gradient. A gap of %.0f points or more is flagged: the model resists its own gradient, not the attack (gradient masking). PGD and TPGD take α = ε/4 so that their steps can reach ε.\n\n",
		st.Spec.Seeds, cmp.Or(st.Spec.From, "(rules)"), 100*maskingGap)
	fmt.Fprintf(md, "| variant | attack | budget | clean | own | true | gap | masking | models × n | runs |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rep.Robustness {
		own, tru, gap := pct2(r.Own), pct2(r.True), fmt.Sprintf("%+.1f", 100*r.Gap)
		if r.BlackBox {
			tru, gap = "(black-box)", ""
		}
		flag := ""
		if r.Masking {
			flag = "**yes**"
		}
		fmt.Fprintf(md, "| %s | %s | %s | %s | %s | %s | %s | %s | %d × %d | %s |\n", r.Variant, r.Attack, r.Budget, pct2(r.Clean), own, tru, gap, flag, r.Models, r.N, strings.Join(r.Runs, " "))
	}
	writeClaims(md, rep.Claims)
	for _, atk := range []string{"fgsm", "pgd", "apgd"} {
		plots, err := writeEpsPlot(dir, rep.Robustness, atk)
		if err != nil {
			return err
		}
		if len(plots) > 0 {
			rep.Plots = append(rep.Plots, plots...)
			fmt.Fprintf(md, "\n![%s robust accuracy against ε](%s)\n", atk, plots[0])
		}
	}
	return nil
}

func pct2(v float64) string { return fmt.Sprintf("%.1f %%", 100*v) }

// variantOrder puts mixed first, then the single rules in their order,
// then the random assignments.
func variantOrder(v string) int {
	if v == "mixed" {
		return 0
	}
	for i, r := range SingleRules {
		if string(r) == v {
			return 1 + i
		}
	}
	return 100
}

func attackOrder(a string) int {
	if i := slices.Index(attacks.AttackNames(), a); i >= 0 {
		return i
	}
	return 100
}

// robustClaims tests Table 4's claims: bio-rule networks are more robust
// than bp, and that robustness holds under the true gradient.
func robustClaims(rows []RobustRow) []Claim {
	find := func(variant, attack string, eps float64) (RobustRow, bool) {
		for _, r := range rows {
			if r.Variant == variant && r.Attack == attack && math.Abs(r.Eps-eps) < 1e-9 {
				return r, true
			}
		}
		return RobustRow{}, false
	}
	var claims []Claim
	var ownEv, trueEv []string
	ownHeld, trueHeld, any := true, true, false
	for _, r := range rows {
		if r.Variant != "mixed" || r.BlackBox || (r.Attack != "fgsm" && r.Attack != "pgd") {
			continue
		}
		bp, ok := find("bp", r.Attack, r.Eps)
		if !ok {
			continue
		}
		any = true
		ownEv = append(ownEv, fmt.Sprintf("%s %s: mixed %.1f %% vs bp %.1f %%", r.Attack, r.Budget, 100*r.Own, 100*bp.True))
		trueEv = append(trueEv, fmt.Sprintf("%s %s: mixed %.1f %% vs bp %.1f %%", r.Attack, r.Budget, 100*r.True, 100*bp.True))
		ownHeld = ownHeld && r.Own > bp.True
		trueHeld = trueHeld && r.True > bp.True
	}
	if any {
		claims = append(claims,
			Claim{Claim: "The mixed network resists FGSM and PGD better than bp when attacked through its own feedback (Table 4)", Held: ownHeld, Evidence: strings.Join(ownEv, "; ")},
			Claim{Claim: "It still does under the true gradient (robustness, not gradient masking)", Held: trueHeld, Evidence: strings.Join(trueEv, "; ")})
	}
	var masked []string
	for _, r := range rows {
		if r.Masking {
			masked = append(masked, fmt.Sprintf("%s %s %s (own %.1f %%, true %.1f %%)", r.Variant, r.Attack, r.Budget, 100*r.Own, 100*r.True))
		}
	}
	ev := "no cell has an own − true gap of 10 points or more"
	if len(masked) > 0 {
		ev = strings.Join(masked, "; ")
	}
	claims = append(claims, Claim{Claim: "No gradient masking: own-gradient attacks are as strong as true-gradient ones", Held: len(masked) == 0, Evidence: ev})
	return claims
}

// writeEpsPlot draws one attack's robust accuracy against ε for every
// variant: own gradient solid, true dashed.
func writeEpsPlot(dir string, rows []RobustRow, atk string) ([]string, error) {
	byVariant := map[string][]RobustRow{}
	var variants []string
	for _, r := range rows {
		if r.Attack != atk || r.BlackBox {
			continue
		}
		if _, ok := byVariant[r.Variant]; !ok {
			variants = append(variants, r.Variant)
		}
		byVariant[r.Variant] = append(byVariant[r.Variant], r)
	}
	if len(variants) == 0 {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = strings.ToUpper(atk) + ": robust accuracy against ε (own solid, true dashed)"
	p.X.Label.Text = "ε"
	p.Y.Label.Text = "robust accuracy (%)"
	p.Y.Min, p.Y.Max = 0, 100
	p.Add(plotter.NewGrid())
	for i, v := range variants {
		rs := byVariant[v]
		slices.SortFunc(rs, func(a, b RobustRow) int { return cmp.Compare(a.Eps, b.Eps) })
		own, tru := make(plotter.XYs, len(rs)), make(plotter.XYs, len(rs))
		for j, r := range rs {
			own[j] = plotter.XY{X: r.Eps, Y: 100 * r.Own}
			tru[j] = plotter.XY{X: r.Eps, Y: 100 * r.True}
		}
		for k, xy := range []plotter.XYs{own, tru} {
			line, pts, err := plotter.NewLinePoints(xy)
			if err != nil {
				return nil, err
			}
			line.Color, pts.Color = plotutil.Color(i), plotutil.Color(i)
			line.Width = vg.Points(1.5)
			if k == 1 {
				line.Dashes = plotutil.Dashes(1)
			} else {
				p.Legend.Add(v, line, pts)
			}
			p.Add(line, pts)
		}
	}
	p.Legend.Top = true
	return savePlot(p, dir, "robust-"+atk)
}

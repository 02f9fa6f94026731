package tui

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/NimbleMarkets/ntcharts/barchart"
	"github.com/NimbleMarkets/ntcharts/canvas"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/bionaslab/bionas/lab"
)

// studiesPane lists the lab's studies (lab.RunStudy): their progress in
// runs, and the finished ones' tables, verdicts and charts. It starts a
// study (a form: which, dataset, seeds, budget) and resumes one; the
// study's runs show in the Runs pane like any others.
type studiesPane struct {
	s      *state
	w, h   int
	list   []lab.Study
	sel    int
	report *lab.StudyReport
	repFor string
	readAt time.Time
	form   *studyForm
	// running are the studies this session orchestrates (RunStudy in a
	// command); another session's show as running by their record.
	running map[string]bool
	// scroll is the first line of the selected study's detail shown.
	scroll int

	kNew, kRun key.Binding
}

func newStudiesPane(s *state) *studiesPane {
	return &studiesPane{s: s, running: map[string]bool{},
		kNew: bind([]string{"n"}, "n", "new study…"),
		kRun: bind([]string{"enter"}, "enter", "run/resume study"),
	}
}

func (p *studiesPane) Name() string     { return "Studies" }
func (p *studiesPane) SetSize(w, h int) { p.w, p.h = w, h }
func (p *studiesPane) Capturing() bool  { return p.form != nil }

func (p *studiesPane) Title() string {
	if p.form != nil {
		return "New study"
	}
	return fmt.Sprintf("Studies (%d)", len(p.list))
}

func (p *studiesPane) Keys() []key.Binding {
	if p.form != nil {
		return p.form.keys()
	}
	p.kRun.SetEnabled(len(p.list) > 0)
	return []key.Binding{keyUp, keyDown, keyPgUp, keyPgDown, p.kNew, p.kRun}
}

// studyDoneMsg is the end of a study this session ran.
type studyDoneMsg struct {
	id  string
	err error
}

// Sync re-reads the studies' records, at most twice a second: a running
// study rewrites study.json as it starts runs, and its report at the end.
func (p *studiesPane) Sync() tea.Cmd {
	if now := p.s.now(); now.Sub(p.readAt) >= 500*time.Millisecond || p.list == nil {
		p.readAt = now
		p.reload()
	}
	return nil
}

func (p *studiesPane) reload() {
	list, err := p.s.lab.Studies()
	if err != nil {
		p.s.fail(err)
		return
	}
	p.list = list
	p.sel = min(max(p.sel, 0), max(len(list)-1, 0))
	p.repFor = "" // read the report again
}

func (p *studiesPane) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case studyDoneMsg:
		delete(p.running, msg.id)
		p.reload()
		if msg.err != nil {
			p.s.fail(fmt.Errorf("study %s: %w", msg.id, msg.err))
		} else {
			p.s.say("study " + msg.id + " done: its report is in the Studies pane and studies/" + msg.id + "/report.md")
		}
		return nil
	case tea.KeyMsg:
		if p.form != nil {
			spec, done, ok := p.form.update(msg)
			if done {
				p.form = nil
				if ok {
					return p.run(spec)
				}
			}
			return nil
		}
		switch {
		case key.Matches(msg, keyUp):
			p.sel, p.scroll = max(p.sel-1, 0), 0
		case key.Matches(msg, keyDown):
			p.sel, p.scroll = min(p.sel+1, max(len(p.list)-1, 0)), 0
		case key.Matches(msg, keyPgUp):
			p.scroll = max(p.scroll-max(p.h/2, 1), 0)
		case key.Matches(msg, keyPgDown):
			p.scroll += max(p.h/2, 1)
		case key.Matches(msg, p.kNew):
			p.form = newStudyForm(p.s)
		case key.Matches(msg, p.kRun):
			if p.sel < len(p.list) {
				return p.run(p.list[p.sel].Spec)
			}
		}
	}
	return nil
}

// run orchestrates a study in the background. It outlives this viewer's
// session: the study's runs belong to the lab, and so does waiting for
// them (a viewer that leaves does not stop a study).
func (p *studiesPane) run(spec lab.StudySpec) tea.Cmd {
	id := spec.ID()
	if spec.Kind == lab.StudyRules && spec.Random == 0 {
		id = (func() string { s := spec; s.Random = 3; return s.ID() })()
	}
	if p.running[id] {
		p.s.say("study " + id + " is already running in this session")
		return nil
	}
	p.running[id] = true
	p.s.say("study " + id + ": starting its runs (they show in the Runs pane)")
	l := p.s.lab
	return func() tea.Msg {
		st, err := l.RunStudy(context.Background(), spec, nil)
		if st != nil {
			id = st.ID
		}
		return studyDoneMsg{id: id, err: err}
	}
}

func (p *studiesPane) View(bool) string {
	if p.form != nil {
		return p.form.view(p.w, p.h)
	}
	st := p.s.st
	if len(p.list) == 0 {
		msg := "No studies yet. A study reproduces one of the paper's claims with lab runs and a report: " +
			"rules (mixed vs single rules vs random assignments), robustness (every attack, own vs true gradient), " +
			"dynamics (gradient variance, alignment, weight distributions). Press " + st.Key.Render("n") + " to start one, " +
			"or run bionas study rules --dataset fashion-mnist --seeds 3."
		return fit(wrap(msg, p.w), p.w, p.h)
	}
	var lines []string
	listH := min(len(p.list), max(p.h/4, 2))
	first := min(max(p.sel-listH+1, 0), max(len(p.list)-listH, 0))
	for i := first; i < min(first+listH, len(p.list)); i++ {
		lines = append(lines, p.row(p.list[i], i == p.sel))
	}
	lines = append(lines, "")
	cur := p.list[p.sel]
	if p.repFor != cur.ID {
		p.repFor = cur.ID
		p.report, _ = lab.ReadStudyReport(p.s.lab.Dir(), cur.ID)
	}
	// The detail scrolls (pgup/pgdn) under the list when it is taller
	// than the pane; its last line says so.
	detail := p.detail(cur)
	room := max(p.h-len(lines), 1)
	p.scroll = min(p.scroll, max(len(detail)-room, 0))
	if len(detail) > room {
		end := min(p.scroll+room-1, len(detail))
		more := st.Dim.Render(fmt.Sprintf("lines %d–%d of %d · pgup/pgdn scroll", p.scroll+1, end, len(detail)))
		detail = append(slices.Clone(detail[p.scroll:end]), more)
	}
	lines = append(lines, detail...)
	return fit(strings.Join(lines, "\n"), p.w, p.h)
}

// progress counts a study's finished, failed and all runs from the runs
// list (live: status events keep it current).
func (p *studiesPane) progress(s lab.Study) (done, failed, total int) {
	total = len(s.Cells)
	for _, c := range s.Cells {
		if r, ok := p.s.run(c.Run); ok {
			switch r.Status {
			case lab.StatusDone:
				done++
			case lab.StatusFailed, lab.StatusInterrupted:
				failed++
			}
		}
	}
	return done, failed, total
}

func (p *studiesPane) row(s lab.Study, sel bool) string {
	st := p.s.st
	mark := "  "
	if sel {
		mark = "▸ "
	}
	done, failed, total := p.progress(s)
	status := s.Status
	if p.running[s.ID] {
		status = "running"
	}
	right := fmt.Sprintf(" %s %d/%d", status, done, total)
	if failed > 0 {
		right += fmt.Sprintf(" · %d failed", failed)
	}
	frac := 0.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	bar := ""
	if p.w >= 70 {
		bar = " " + progressBar(frac, 10)
	}
	line := mark + padRight(s.ID, max(p.w-2-len([]rune(right))-len([]rune(bar)), 8)) + bar + right
	if sel && !st.Mono {
		return st.Sel.Render(padRight(stripStyles(line), p.w))
	}
	return line
}

// detail is the selected study's state and report.
func (p *studiesPane) detail(s lab.Study) []string {
	st := p.s.st
	var lines []string
	add := func(t string) { lines = append(lines, strings.Split(wrap(t, p.w), "\n")...) }
	sp := s.Spec
	add(st.Bold.Render(s.ID) + " · " + joinDot([]string{string(sp.Kind), sp.Dataset, sp.Budget + " budget", fmt.Sprintf("%d seeds", sp.Seeds)}))
	if s.Search != "" {
		add(st.Dim.Render("genotype from search " + s.Search))
	}
	if s.Error != "" {
		add(st.Warn.Render(s.Error))
	}
	rep := p.report
	if rep == nil {
		done, _, total := p.progress(s)
		add(fmt.Sprintf("%d of %d runs done; the report is written when they all are.", done, total))
		return lines
	}
	lines = append(lines, "")
	switch sp.Kind {
	case lab.StudyRules:
		lines = append(lines, p.rulesTable(rep)...)
	case lab.StudyRobustness:
		lines = append(lines, p.robustTable(rep)...)
	case lab.StudyDynamics:
		lines = append(lines, p.dynamicsChart(rep)...)
	}
	if len(rep.Claims) > 0 {
		lines = append(lines, "")
		for _, c := range rep.Claims {
			v := st.Err.Render("did not hold")
			if c.Held {
				v = st.OK.Render("held")
			}
			add(st.Bold.Render(c.Claim) + ": " + v + ". " + st.Dim.Render(c.Evidence))
		}
	}
	add(st.Dim.Render("report: studies/" + s.ID + "/report.md · plots/ · report.json"))
	return lines
}

// rulesTable is the rules study's table with a bar per variant drawn by
// ntcharts, on an axis that starts just below the lowest accuracy (the
// differences are a few points; the axis says where it starts).
func (p *studiesPane) rulesTable(rep *lab.StudyReport) []string {
	st := p.s.st
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range rep.Rules {
		if r.N > 0 {
			lo, hi = min(lo, r.Mean-r.Std), max(hi, r.Mean+r.Std)
		}
	}
	base := math.Floor((lo-0.01)*100) / 100
	nameW := 13
	statW := 20
	barW := max(p.w-nameW-statW-6, 4)
	var lines []string
	lines = append(lines, st.Dim.Render(padRight("variant", nameW)+" "+padRight("test acc", statW)+" n  "+fmt.Sprintf("bar from %.0f%%", 100*base)))
	var data []barchart.BarData
	for i, r := range rep.Rules {
		v := 0.0
		if r.N > 0 {
			v = 100 * (r.Mean - base)
		}
		data = append(data, barchart.BarData{Label: fmt.Sprint(i), Values: []barchart.BarValue{{Name: r.Variant, Value: v, Style: st.Series[i%len(st.Series)]}}})
	}
	bars := p.hbars(data, barW, 100*(hi-base))
	for i, r := range rep.Rules {
		line := padRight(r.Variant, nameW) + " " + padRight(pmPct(r), statW) + " " + fmt.Sprintf("%-2d ", r.N)
		if i < len(bars) {
			line += bars[i]
		}
		lines = append(lines, line)
	}
	return lines
}

// hbars draws one horizontal bar per datum with ntcharts, w wide, scaled
// to top, and returns its rows.
func (p *studiesPane) hbars(data []barchart.BarData, w int, top float64) []string {
	if len(data) == 0 || w < 2 || top <= 0 {
		return nil
	}
	bc := barchart.New(w, len(data), barchart.WithHorizontalBars(), barchart.WithNoAxis(), barchart.WithBarWidth(1),
		barchart.WithBarGap(0), barchart.WithNoAutoMaxValue(), barchart.WithMaxValue(top), barchart.WithDataSet(data))
	bc.Draw()
	return strings.Split(bc.View(), "\n")
}

func pmPct(r lab.RulesRow) string {
	switch r.N {
	case 0:
		return "–"
	case 1:
		return fmt.Sprintf("%.2f%%", 100*r.Mean)
	}
	return fmt.Sprintf("%.2f ± %.2f%%", 100*r.Mean, 100*r.Std)
}

// studyForm picks a study to start.
type studyForm struct {
	s       *state
	field   int
	kind    lab.StudyKind
	dataset string
	seeds   int
	budget  string
}

var studyBudgets = []string{lab.BudgetQuick, lab.BudgetPaper, lab.BudgetSmoke}

func newStudyForm(s *state) *studyForm {
	return &studyForm{s: s, kind: lab.StudyRules, dataset: "fashion-mnist", seeds: 3, budget: lab.BudgetQuick}
}

func (f *studyForm) keys() []key.Binding {
	return []key.Binding{keyUp, keyDown, bind([]string{"left", "right"}, "←/→", "change"),
		bind([]string{"enter"}, "enter", "start"), bind([]string{"esc"}, "esc", "cancel")}
}

func (f *studyForm) update(msg tea.KeyMsg) (spec lab.StudySpec, done, ok bool) {
	d := 0
	switch msg.String() {
	case "esc", "q":
		return spec, true, false
	case "enter":
		return lab.StudySpec{Kind: f.kind, Dataset: f.dataset, Seeds: f.seeds, Budget: f.budget}, true, true
	case "up", "k", "shift+tab":
		f.field = (f.field + 3) % 4
	case "down", "j", "tab":
		f.field = (f.field + 1) % 4
	case "left", "h", "-":
		d = -1
	case "right", "l", "+", " ":
		d = 1
	}
	if d != 0 {
		switch f.field {
		case 0:
			f.kind = cycle(lab.StudyKinds, f.kind, d)
		case 1:
			f.dataset = cycle(lab.Datasets(), f.dataset, d)
		case 2:
			f.seeds = min(max(f.seeds+d, 1), 20)
		case 3:
			f.budget = cycle(studyBudgets, f.budget, d)
		}
	}
	return spec, false, false
}

func (f *studyForm) view(w, h int) string {
	st := f.s.st
	rows := [][2]string{{"study", string(f.kind)}, {"dataset", f.dataset}, {"seeds", fmt.Sprint(f.seeds)}, {"budget", f.budget}}
	var b strings.Builder
	b.WriteString(st.Bold.Render("New study") + "\n")
	for i, r := range rows {
		mark, val := "  ", r[1]
		if i == f.field {
			mark, val = "▸ ", "‹ "+st.Key.Render(val)+" ›"
		}
		b.WriteString(mark + padRight(r[0], 9) + val + "\n")
	}
	about := map[lab.StudyKind]string{
		lab.StudyRules:      "the searched genotype retrained with its mixed rules, each single rule and 3 random assignments, per seed (Tables 1, 5)",
		lab.StudyRobustness: "the rules study's models under every attack over an ε grid, own vs true gradient (Table 4); run the rules study first",
		lab.StudyDynamics:   "mixed and single-rule networks trained with per-layer probes: gradient variance, B–W alignment, weights (Fig. 3–6)",
	}[f.kind]
	b.WriteString("\n" + wrap(about, w) + "\n\n")
	b.WriteString(wrap(st.Dim.Render("quick fits a 2-core CPU (about an hour for rules with 3 seeds); paper is the paper's set-up; smoke checks the plumbing in seconds. enter starts · esc cancels"), w))
	return fit(b.String(), w, h)
}

// robustTable is the robustness study's table: per variant, attack and
// budget, robust accuracy with the own and the true gradient, the gap,
// and the masking flag, as many rows as fit.
func (p *studiesPane) robustTable(rep *lab.StudyReport) []string {
	st := p.s.st
	lines := []string{st.Dim.Render(fmt.Sprintf("%-9s %-9s %-9s %6s %6s %6s", "variant", "attack", "budget", "own", "true", "gap"))}
	for _, r := range rep.Robustness {
		line := fmt.Sprintf("%-9s %-9s %-9s ", trunc(r.Variant, 9), r.Attack, r.Budget)
		if r.BlackBox {
			line += fmt.Sprintf("%6.1f %6s %6s", 100*r.Own, "bb", "")
		} else {
			line += fmt.Sprintf("%6.1f %6.1f %+6.1f", 100*r.Own, 100*r.True, 100*r.Gap)
		}
		if r.Masking {
			line += " " + st.Warn.Render("masking?")
		}
		lines = append(lines, trunc(line, p.w))
	}
	return lines
}

// dynamicsChart draws the dynamics study's relative gradient variance
// (Fig. 3) and the angle to the true gradient against the epoch, one line
// per variant, then the last epoch's numbers.
func (p *studiesPane) dynamicsChart(rep *lab.StudyReport) []string {
	st := p.s.st
	var variants []string
	maxEp := 1.0
	for _, r := range rep.Dynamics {
		if !slices.Contains(variants, r.Variant) {
			variants = append(variants, r.Variant)
		}
		maxEp = max(maxEp, float64(r.Epoch))
	}
	var rel, ang []series
	relTop, angTop := 0.0, 0.0
	for i, v := range variants {
		var a, b []canvas.Float64Point
		for _, r := range rep.Dynamics {
			if r.Variant != v {
				continue
			}
			if !math.IsNaN(r.RelVar) {
				a = append(a, canvas.Float64Point{X: float64(r.Epoch), Y: r.RelVar})
				relTop = max(relTop, r.RelVar)
			}
			if !math.IsNaN(r.AngleGrad) {
				b = append(b, canvas.Float64Point{X: float64(r.Epoch), Y: r.AngleGrad})
				angTop = max(angTop, r.AngleGrad)
			}
		}
		sty := st.Series[i%len(st.Series)]
		g := seriesGlyphs[i%len(seriesGlyphs)]
		rel = append(rel, series{pts: a, style: sty, markers: true, glyph: g})
		ang = append(ang, series{pts: b, style: sty, markers: true, glyph: g})
	}
	chartH := max(min(p.h/2, 14), 6)
	var lines []string
	if p.w >= 60 {
		lw := p.w / 2
		lines = strings.Split(joinH(0,
			lineChart(st, "relative grad variance", lw-1, chartH, rel, maxEp, 0, niceCeil(relTop*1.05), num2),
			" ",
			lineChart(st, "∠(rule, true grad)°", p.w-lw, chartH, ang, maxEp, 0, niceCeil(angTop*1.05), func(v float64) string { return fmt.Sprintf("%.0f", v) })), "\n")
	} else {
		lines = strings.Split(lineChart(st, "relative grad variance", p.w, chartH, rel, maxEp, 0, niceCeil(relTop*1.05), num2), "\n")
	}
	var legend []string
	for i, v := range variants {
		legend = append(legend, st.Series[i%len(st.Series)].Render(string(seriesGlyphs[i%len(seriesGlyphs)]))+" "+v)
	}
	lines = append(lines, strings.Split(wrap(strings.Join(legend, "  "), p.w), "\n")...)
	return lines
}

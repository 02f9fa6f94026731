package tui

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/bionaslab/bionas/attacks"
	"github.com/bionaslab/bionas/lab"
)

// attackPane is the attack stepper: pick a trained model, an attack, the
// gradient mode, ε and a test image; step the attack with a key (or run it
// to the end, live) and watch the clean image, the adversarial image and
// the perturbation (half-block pixels), the class probabilities and the
// loss per step; then start the full robustness report as a background
// run, and read it (v) as the one table every view of a report prints.
type attackPane struct {
	s     *state
	w, h  int
	field int
	model string
	atk   string
	mode  attacks.GradMode
	eps   float64
	image int
	steps int

	gen      int // bumped whenever the spec changes: older results are dropped
	version  int // bumped at every new state: the images' cache key
	imgKey   string
	imgCache string
	stepper  lab.Stepper
	inflight bool
	state    *lab.AttackState
	err      error

	// A run to the end: slices of steps, one command each, until the
	// attack is done or the run is stopped (runCancel).
	running   bool
	runCtx    context.Context
	runCancel context.CancelFunc

	// The newest report of the model: its run and its report, refreshed by
	// Sync when the run's record changes.
	showReport bool
	repRun     *lab.RunInfo
	rep        *lab.AttackReport
	repKey     string

	kField, kValue, kStep, kRun, kLoad, kReport, kView key.Binding
}

var (
	attackEps   = []float64{0.01, 0.02, 0.03, 0.05, 0.1, 0.15, 0.2, 0.3}
	attackSteps = []int{0, 1, 5, 10, 20, 50, 100}
)

// runSlice is how long one command of a run to the end steps before it
// hands the state to the view (at least one step).
const runSlice = 80 * time.Millisecond

func newAttackPane(s *state) *attackPane {
	return &attackPane{s: s, mode: attacks.Own, eps: 0.1,
		kField:  bind([]string{"up", "down", "k", "j"}, "↑/↓", "field"),
		kValue:  bind([]string{"left", "right", "h", "l"}, "←/→", "change"),
		kStep:   bind([]string{" ", "n"}, "space", "step"),
		kRun:    bind([]string{"r"}, "r", "run to end"),
		kLoad:   bind([]string{"enter"}, "enter", "restart"),
		kReport: bind([]string{"b"}, "b", "robustness report"),
		kView:   bind([]string{"v"}, "v", "report table"),
	}
}

func (p *attackPane) Name() string     { return "Attack" }
func (p *attackPane) SetSize(w, h int) { p.w, p.h = w, h }
func (p *attackPane) Capturing() bool  { return false }

func (p *attackPane) Title() string {
	if p.model != "" {
		return "Attack · model " + p.model
	}
	return "Attack"
}

func (p *attackPane) Keys() []key.Binding {
	ok := p.model != "" && p.s.lab.CanStep()
	p.kStep.SetEnabled(ok && !p.showReport)
	p.kLoad.SetEnabled(ok && !p.showReport)
	p.kRun.SetEnabled(ok && !p.showReport)
	if p.running {
		p.kRun.SetHelp("r/esc", "stop")
	} else {
		p.kRun.SetHelp("r", "run to end")
	}
	p.kReport.SetEnabled(p.model != "" && p.s.lab.CanRun(lab.KindAttack))
	p.kView.SetEnabled(p.model != "")
	if p.showReport {
		p.kView.SetHelp("v", "stepper")
	} else {
		p.kView.SetHelp("v", "report table")
	}
	return []key.Binding{p.kField, p.kValue, p.kStep, p.kRun, p.kLoad, p.kReport, p.kView}
}

// models lists the trained models one can attack, oldest first.
func (p *attackPane) models() []string {
	var out []string
	for _, r := range p.s.runs {
		if (r.Kind == lab.KindTrain || r.Kind == lab.KindRetrain) && r.Status == lab.StatusDone {
			out = append(out, r.ID)
		}
	}
	return out
}

func (p *attackPane) attacks() []string {
	if a := p.s.lab.Attacks(); len(a) > 0 {
		return a
	}
	return []string{"fgsm", "pgd"}
}

func (p *attackPane) spec() lab.AttackSpec {
	return lab.AttackSpec{Model: p.model, Attack: p.atk, Mode: p.mode, Eps: p.eps, Steps: p.steps, Image: p.image}
}

// Sync picks a default model (the selected run if it is a trained model,
// else the newest one) and attack, and follows the model's newest report.
func (p *attackPane) Sync() tea.Cmd {
	ms := p.models()
	if p.atk == "" {
		p.atk = p.attacks()[0]
	}
	if c := p.s.cur; c != nil && p.state == nil && c.Info.ID != p.model {
		for _, m := range ms {
			if m == c.Info.ID {
				p.setModel(m)
				break
			}
		}
	}
	if p.model == "" && len(ms) > 0 {
		p.setModel(ms[len(ms)-1])
	}
	p.syncReport()
	return nil
}

// syncReport refreshes the newest report of the model: from the selected
// run's live data when that is the report, else from a snapshot taken
// when the run's record changes.
func (p *attackPane) syncReport() {
	r := p.lastReport()
	if r == nil {
		p.repRun, p.rep, p.repKey = nil, nil, ""
		return
	}
	p.repRun = r
	if c := p.s.cur; c != nil && c.Info.ID == r.ID {
		p.rep, p.repKey = c.Attack, ""
		return
	}
	k := fmt.Sprint(r.ID, r.Status, r.Last)
	if k == p.repKey {
		return
	}
	p.repKey = k
	snap, err := p.s.lab.Snapshot(r.ID)
	if err != nil {
		p.rep = nil
		return
	}
	p.rep = snap.Attack
}

func (p *attackPane) setModel(id string) {
	if id != p.model {
		p.model = id
		p.reset()
	}
}

// reset drops the stepper: the spec changed.
func (p *attackPane) reset() {
	p.close()
	p.state, p.err = nil, nil
}

// close stops a run to the end and drops the stepper (a stepper still
// answering is closed when its answer arrives).
func (p *attackPane) close() {
	p.stopRun()
	p.gen++
	if p.stepper != nil && !p.inflight {
		p.stepper.Close()
	}
	p.stepper = nil
}

// stopRun ends a run to the end: the step under way finishes, its state
// shows, and no further step starts.
func (p *attackPane) stopRun() {
	if p.runCancel != nil {
		p.runCancel()
	}
	p.running, p.runCtx, p.runCancel = false, nil, nil
}

// stepMsg is the result of creating a stepper, of one step, or of a slice
// of a run to the end (run).
type stepMsg struct {
	gen     int
	stepper lab.Stepper
	state   lab.AttackState
	err     error
	run     bool
}

// ready checks that a step can start now.
func (p *attackPane) ready() bool {
	if p.inflight || p.model == "" {
		return false
	}
	if !p.s.lab.CanStep() {
		p.err = fmt.Errorf("attack stepper: %w (backend %q)", lab.ErrUnavailable, p.s.lab.BackendName())
		return false
	}
	return true
}

// step runs in the background: create the stepper if needed (and, if
// advance, step it once).
func (p *attackPane) step(advance bool) tea.Cmd {
	if !p.ready() {
		return nil
	}
	p.inflight = true
	gen, st, l, ctx, spec := p.gen, p.stepper, p.s.lab, p.s.ctx, p.spec()
	return func() tea.Msg {
		var err error
		if st == nil {
			if st, err = l.NewStepper(ctx, spec); err != nil {
				return stepMsg{gen: gen, err: err}
			}
			if !advance {
				return stepMsg{gen: gen, stepper: st, state: st.State()}
			}
		}
		s, err := st.Step(ctx)
		return stepMsg{gen: gen, stepper: st, state: s, err: err}
	}
}

// startRun begins a run to the end.
func (p *attackPane) startRun() tea.Cmd {
	if !p.ready() {
		return nil
	}
	p.runCtx, p.runCancel = context.WithCancel(p.s.ctx)
	p.running = true
	return p.slice()
}

// slice is one command of a run to the end: steps for about runSlice (at
// least one), then the state for the view; Update asks for the next slice.
func (p *attackPane) slice() tea.Cmd {
	p.inflight = true
	gen, st, l, ctx, spec := p.gen, p.stepper, p.s.lab, p.runCtx, p.spec()
	return func() tea.Msg {
		var err error
		if st == nil {
			if st, err = l.NewStepper(ctx, spec); err != nil {
				return stepMsg{gen: gen, err: err, run: true}
			}
		}
		end := time.Now().Add(runSlice)
		var s lab.AttackState
		for {
			s, err = st.Step(ctx)
			if err != nil || s.Done || !time.Now().Before(end) {
				break
			}
		}
		return stepMsg{gen: gen, stepper: st, state: s, err: err, run: true}
	}
}

func (p *attackPane) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case stepMsg:
		p.inflight = false    // one request at a time: this is its answer
		if msg.gen != p.gen { // the spec changed meanwhile
			if msg.stepper != nil && msg.stepper != p.stepper {
				msg.stepper.Close()
			}
			return nil
		}
		err := msg.err
		if msg.run && errors.Is(err, context.Canceled) && !p.running {
			err = nil // stopped with r or esc: the state as it stands
		}
		p.stepper, p.err = msg.stepper, err
		if err == nil && msg.stepper != nil {
			s := msg.state
			p.state = &s
			p.version++
		}
		if msg.run {
			if p.running && err == nil && !msg.state.Done {
				return p.slice()
			}
			p.stopRun()
		}
	case tea.KeyMsg:
		if p.running && (key.Matches(msg, p.kRun) || msg.String() == "esc") {
			p.stopRun()
			p.s.say("stopped: space steps on, r runs on to the end")
			return nil
		}
		switch {
		case key.Matches(msg, p.kView):
			p.showReport = !p.showReport
			return nil
		case key.Matches(msg, p.kReport):
			return p.report()
		case p.showReport && msg.String() == "esc":
			p.showReport = false
			return nil
		case p.showReport:
			return nil
		case key.Matches(msg, p.kField):
			d := 1
			if s := msg.String(); s == "up" || s == "k" {
				d = -1
			}
			p.field = (p.field + d + 6) % 6
		case key.Matches(msg, p.kValue):
			d := 1
			if s := msg.String(); s == "left" || s == "h" {
				d = -1
			}
			p.change(d)
		case key.Matches(msg, p.kStep):
			if p.running {
				return nil
			}
			if p.state != nil && p.state.Done {
				p.s.say("the attack is done: enter restarts it, b runs the full report")
				return nil
			}
			return p.step(true)
		case key.Matches(msg, p.kRun):
			if p.state != nil && p.state.Done {
				p.s.say("the attack is done: enter restarts it, b runs the full report")
				return nil
			}
			return p.startRun()
		case key.Matches(msg, p.kLoad):
			p.reset()
			return p.step(false)
		}
	}
	return nil
}

func (p *attackPane) change(d int) {
	switch p.field {
	case 0:
		if ms := p.models(); len(ms) > 0 {
			p.setModel(cycle(ms, p.model, d))
		}
		return
	case 1:
		p.atk = cycle(p.attacks(), p.atk, d)
	case 2:
		if lab.BlackBoxAttack(p.atk) {
			p.s.say(p.atk + " is a black-box attack: it takes no gradient, so no gradient mode applies")
			return
		}
		p.mode = cycle([]attacks.GradMode{attacks.Own, attacks.True}, p.mode, d)
	case 3:
		i := 0
		for k, e := range attackEps {
			if e <= p.eps+1e-9 {
				i = k
			}
		}
		p.eps = attackEps[min(max(i+d, 0), len(attackEps)-1)]
	case 4:
		p.image = max(p.image+d, 0)
	case 5:
		i := 0
		for k, s := range attackSteps {
			if s == p.steps {
				i = k
			}
		}
		p.steps = attackSteps[min(max(i+d, 0), len(attackSteps)-1)]
	}
	p.reset()
}

// report starts a robustness report of the model: every attack, white-box
// ones with both gradients, at the form's ε and steps.
func (p *attackPane) report() tea.Cmd {
	if p.model == "" {
		return nil
	}
	spec := p.spec()
	spec.Attack, spec.BothModes = "all", true
	model, eps, l := p.model, p.eps, p.s.lab
	return labRun(func() (lab.RunInfo, error) { return l.Attack(spec) }, labRunMsg{what: "robustness report",
		say: func(info lab.RunInfo) string {
			return startedSay(l, info, fmt.Sprintf("robustness report of %s at ε %.2f, own and true gradients (v shows it)", model, eps))
		}})
}

func (p *attackPane) View(bool) string {
	if !p.s.lab.CanStep() && !p.s.lab.CanRun(lab.KindAttack) {
		return fit(wrap(fmt.Sprintf("Attacks are not available in this build (backend %q).", p.s.lab.BackendName()), p.w), p.w, p.h)
	}
	if p.model == "" {
		return fit(wrap("No trained model yet. Train a genotype (t on a finished search in the Runs pane) or retrain one (Rules pane), then attack it here.", p.w), p.w, p.h)
	}
	if p.showReport {
		return fit(p.reportView(), p.w, p.h)
	}
	form := p.formView()
	var scale int
	var imgs string
	if s := p.state; s != nil {
		scale = 4
		for _, sc := range []int{1, 2} {
			iw := 3*(s.CleanIm.W/sc) + 4
			ih := (s.CleanIm.H/sc+1)/2 + 1
			if (sc == 1 && iw <= p.w && ih+14 <= p.h) || (sc == 2 && iw+32 <= p.w && ih+8 <= p.h) {
				scale = sc
				break
			}
		}
		if k := fmt.Sprint(p.gen, p.version, scale); k != p.imgKey {
			p.imgKey, p.imgCache = k, p.imagesView(scale)
		}
		imgs = p.imgCache
	}
	if scale == 1 {
		left := form + "\n\n" + p.statusView(30)
		return fit(imgs+"\n\n"+joinH(2, left, p.probsView(p.w-32)), p.w, p.h)
	}
	left := form + "\n\n" + p.probsView(30)
	right := imgs + "\n" + p.statusView(max(p.w-32, 10))
	if p.state == nil {
		right = p.statusView(max(p.w-32, 10))
	}
	return fit(joinH(2, fit(left, 30, p.h), right), p.w, p.h)
}

func (p *attackPane) formView() string {
	st := p.s.st
	steps := "auto"
	if p.steps > 0 {
		steps = fmt.Sprint(p.steps)
	}
	mode := string(p.mode)
	if lab.BlackBoxAttack(p.atk) {
		mode = attacks.BlackBoxLabel
	}
	rows := [][2]string{
		{"model", p.model}, {"attack", p.atk}, {"mode", mode},
		{"ε", fmt.Sprintf("%.2f", p.eps)}, {"image", fmt.Sprint(p.image)}, {"steps", steps},
	}
	var b strings.Builder
	for i, r := range rows {
		mark, val := "  ", r[1]
		if i == p.field {
			mark, val = "▸ ", "‹ "+st.Key.Render(val)+" ›"
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(mark + padRight(r[0], 8) + val)
	}
	return b.String()
}

func (p *attackPane) imagesView(scale int) string {
	s := p.state
	st := p.s.st
	iw := s.CleanIm.W / scale
	name := func(k int) string {
		if k >= 0 && k < len(s.Classes) {
			return s.Classes[k]
		}
		return fmt.Sprint(k)
	}
	// A caption says what the image is and its class, shorter where the
	// image is narrow.
	capt := func(cands ...string) string {
		for _, c := range cands {
			if ansi.StringWidth(c) <= iw {
				return st.Dim.Render(padRight(c, iw))
			}
		}
		return st.Dim.Render(trunc(cands[len(cands)-1], iw))
	}
	delta := capt("δ ×1/ε", "δ/ε", "δ")
	if s.PixelBudget > 0 { // pixels set to any value: δ at full scale
		delta = capt("δ (pixels set)", "δ px", "δ")
	}
	clean := capt("clean ("+name(s.Label)+")", "clean "+name(s.Label), "clean") + "\n" + halfBlock(st, s.CleanIm, scale, false)
	adv := capt("adv ("+name(s.Pred)+")", "adv "+name(s.Pred), "adv") + "\n" + halfBlock(st, s.AdvIm, scale, false)
	pert := delta + "\n" + halfBlock(st, s.Perturbation(), scale, true)
	return joinH(2, clean, adv, pert)
}

func (p *attackPane) probsView(w int) string {
	st := p.s.st
	s := p.state
	if s == nil {
		return ""
	}
	nameW := 2
	for _, c := range s.Classes {
		nameW = max(nameW, min(len([]rune(c)), 10))
	}
	barW := max(w-nameW-14, 4)
	var lines []string
	lines = append(lines, st.Dim.Render(padRight("", nameW+1)+padRight("p(adversarial)", barW+1)+"clean→adv"))
	for k, pr := range s.Probs {
		name := fmt.Sprint(k)
		if k < len(s.Classes) {
			name = s.Classes[k]
		}
		mark := " "
		switch {
		case k == s.Label && k == s.Pred:
			mark = "="
		case k == s.Label:
			mark = "*"
		case k == s.Pred:
			mark = "◂"
		}
		bar := hbar(pr, barW)
		if k == s.Pred {
			bar = st.Warn.Render(bar)
		}
		clean := 0.0
		if k < len(s.Clean) {
			clean = s.Clean[k]
		}
		lines = append(lines, padRight(trunc(name, nameW), nameW)+mark+padRight(bar, barW+1)+fmt.Sprintf("%3.0f→%3.0f%%", 100*clean, 100*pr))
	}
	lines = append(lines, st.Dim.Render("* label  ◂ prediction  = both"))
	return strings.Join(lines, "\n")
}

// describe is the attack's line: its gradient (own, true, or none for a
// black-box attack) and its budget (ε, or pixels for One-Pixel).
func describe(s *lab.AttackState) string {
	eps := s.Budget
	if eps <= 0 {
		eps = s.Spec.Eps
	}
	switch {
	case s.PixelBudget > 0:
		px := "pixels"
		if s.PixelBudget == 1 {
			px = "pixel"
		}
		return fmt.Sprintf("%s black-box (no gradient), ≤ %d %s set to any value", s.Spec.Attack, s.PixelBudget, px)
	case s.BlackBox:
		return fmt.Sprintf("%s black-box (no gradient), ε %.2f", s.Spec.Attack, eps)
	}
	mode := s.Spec.Mode
	if mode == "" {
		mode = attacks.Own
	}
	return fmt.Sprintf("%s %s gradient, ε %.2f", s.Spec.Attack, mode, eps)
}

// wrapLines wraps each line to w columns.
func wrapLines(w int, lines ...string) []string {
	var out []string
	for _, l := range lines {
		out = append(out, strings.Split(wrap(l, w), "\n")...)
	}
	return out
}

func (p *attackPane) statusView(w int) string {
	st := p.s.st
	var lines []string
	if p.err != nil {
		lines = append(lines, st.Err.Render(trunc(p.err.Error(), w)))
	}
	switch s := p.state; {
	case p.inflight && s == nil:
		lines = append(lines, "loading the model…")
	case s == nil:
		lines = append(lines, wrapLines(w, "space steps the attack, r runs it to the end, enter loads the image")...)
	default:
		res := st.OK.Render("holds")
		if s.Success {
			res = st.Err.Render("fooled")
		}
		size := fmt.Sprintf("‖δ‖∞ %.3f", s.LInf)
		if s.PixelBudget > 0 {
			size = fmt.Sprintf("%d of ≤ %d px changed", s.Changed, s.PixelBudget)
		}
		lines = append(lines, wrapLines(w, fmt.Sprintf("step %d/%d · %s · %s", s.Step, s.Steps, res, size), describe(s))...)
		if s.Warning != "" {
			for _, l := range wrapLines(w, "⚠ "+s.Warning) {
				lines = append(lines, st.Warn.Render(l))
			}
		}
		if n := len(s.Losses); n > 0 {
			lines = append(lines, trunc(fmt.Sprintf("loss %s %.3f → %.3f", sparkline(s.Losses, min(n, 20)), s.Losses[0], s.Losses[n-1]), w))
		}
		switch {
		case p.running:
			lines = append(lines, st.Warn.Render("running to the end… r or esc stops"))
		case s.Done && s.Step == 0 && s.Pred != s.Label:
			lines = append(lines, st.Dim.Render(trunc("misclassified already: nothing to attack", w)))
		case s.Done:
			lines = append(lines, st.Dim.Render(trunc("done · enter restarts · b reports", w)))
		}
	}
	if line := p.reportLine(); line != "" {
		lines = append(lines, "")
		lines = append(lines, wrapLines(w, line)...)
	}
	return strings.Join(lines, "\n")
}

// lastReport is the newest attack run of the current model.
func (p *attackPane) lastReport() *lab.RunInfo {
	for i := len(p.s.runs) - 1; i >= 0; i-- {
		r := p.s.runs[i]
		if r.Kind == lab.KindAttack && r.Parent == p.model {
			return &r
		}
	}
	return nil
}

// reportLine sums the model's newest report up in the stepper view.
func (p *attackPane) reportLine() string {
	r := p.repRun
	if r == nil {
		return ""
	}
	parts := []string{"report " + r.ID + " " + string(r.Status)}
	if rep := p.rep; rep != nil {
		if rep.Total > 0 && rep.Done < rep.Total {
			parts = append(parts, fmt.Sprintf("%d/%d", rep.Done, rep.Total))
		}
		w := "worst case " + attacks.Percent(rep.WorstCase)
		if len(rep.Pending) > 0 {
			w += " so far"
		}
		parts = append(parts, w)
	}
	return strings.Join(parts, " · ") + " · v table"
}

// reportView is the model's newest robustness report: the table every
// view prints (clean accuracy, each attack × gradient mode with its n and
// robust accuracy, the worst case), a bar per number where there is room,
// the budget warnings, and each attack's parameters.
func (p *attackPane) reportView() string {
	st := p.s.st
	r, rep := p.repRun, p.rep
	if r == nil {
		return wrap("No robustness report of "+p.model+" yet. b runs one: every attack (white-box ones with the model's own and the true gradient) at the form's ε and steps, on 100 test images.", p.w) +
			"\n\n" + st.Dim.Render("v: back to the stepper")
	}
	head := []string{"Robustness report " + r.ID + " of " + p.model, st.Status(r.Status).Render(string(r.Status))}
	if rep == nil {
		msg := "no numbers yet"
		if !r.Status.Active() {
			msg = "it recorded no numbers"
		}
		return wrap(strings.Join(append(head, msg), " · "), p.w)
	}
	if rep.Total > 0 && rep.Done < rep.Total {
		head = append(head, fmt.Sprintf("%d/%d image×attack", rep.Done, rep.Total))
	}
	if rep.Dataset != "" {
		head = append(head, rep.Dataset)
	}
	head = append(head, fmt.Sprintf("seed %d", rep.Seed))
	lines := wrapLines(p.w, strings.Join(head, " · "))
	t := rep.Table(r.Status.Active())
	tl := t.Lines()
	tw := 0
	for _, l := range tl {
		tw = max(tw, ansi.StringWidth(l))
	}
	barW := min(p.w-tw-2, 24)
	for i, l := range tl {
		switch {
		case i == 0:
			l = st.Dim.Render(l)
		case barW >= 6:
			if v, ok := fraction(t.Rows[i-1]); ok {
				l = padRight(l, tw) + "  " + hbar(v, barW)
			}
		}
		lines = append(lines, l)
	}
	var notes []string
	for _, n := range t.Notes {
		for _, l := range wrapLines(p.w, n) {
			notes = append(notes, st.Warn.Render(l))
		}
	}
	legend := wrapLines(p.w, strings.Join(t.Legend, " · "))
	foot := wrapLines(p.w, "b: a new report · v: the stepper · this table is also in runs/"+r.ID+"/attack.json")
	if c := lab.AttackCommand(*r, "runs/"+r.Parent); c != "" {
		foot = append(foot, wrapLines(p.w, "the same numbers, in the lab folder: "+c)...)
	}
	// The table first; then the warnings, the legend and the footer as
	// room allows (a warning cut short ends with …).
	room := p.h - len(lines)
	if room > 0 && len(notes) > 0 {
		room-- // the blank line
		if len(notes) > room {
			notes = append(notes[:max(room-1, 0)], st.Warn.Render("… (v in a taller terminal, or attack.json)"))
		}
		lines = append(lines, "")
		lines = append(lines, notes...)
		room -= len(notes)
	}
	if room >= len(legend)+1 {
		lines = append(lines, "")
		for _, l := range legend {
			lines = append(lines, st.Dim.Render(l))
		}
		room -= len(legend) + 1
	}
	if room >= len(foot)+1 {
		lines = append(lines, "")
		for _, l := range foot {
			lines = append(lines, st.Dim.Render(l))
		}
	}
	return strings.Join(lines, "\n")
}

// fraction reads the number of a table row's (first) model cell: "63.0%"
// or "63.0% so far" is 0.63; cells without a number have none.
func fraction(row []string) (float64, bool) {
	if len(row) <= attacks.ColFirstModel {
		return 0, false
	}
	f, _, _ := strings.Cut(row[attacks.ColFirstModel], " ")
	v, err := strconv.ParseFloat(strings.TrimSuffix(f, "%"), 64)
	if err != nil || !strings.HasSuffix(f, "%") {
		return 0, false
	}
	return v / 100, true
}

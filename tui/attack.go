package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/bionaslab/bionas/attacks"
	"github.com/bionaslab/bionas/lab"
)

// attackPane is the attack stepper: pick a trained model, an attack, the
// gradient mode, ε and a test image; step the attack with a key and watch
// the clean image, the adversarial image and the perturbation (half-block
// pixels), the class probabilities and the loss per step; then start the
// full robustness report as a background run.
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

	kField, kValue, kStep, kLoad, kReport key.Binding
}

var (
	attackEps   = []float64{0.01, 0.02, 0.03, 0.05, 0.1, 0.15, 0.2, 0.3}
	attackSteps = []int{0, 1, 5, 10, 20, 50}
)

func newAttackPane(s *state) *attackPane {
	return &attackPane{s: s, mode: attacks.Own, eps: 0.1,
		kField:  bind([]string{"up", "down", "k", "j"}, "↑/↓", "field"),
		kValue:  bind([]string{"left", "right", "h", "l"}, "←/→", "change"),
		kStep:   bind([]string{" ", "n"}, "space", "step"),
		kLoad:   bind([]string{"enter"}, "enter", "restart"),
		kReport: bind([]string{"b"}, "b", "robustness report"),
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
	p.kStep.SetEnabled(ok)
	p.kLoad.SetEnabled(ok)
	p.kReport.SetEnabled(p.model != "" && p.s.lab.CanRun(lab.KindAttack))
	return []key.Binding{p.kField, p.kValue, p.kStep, p.kLoad, p.kReport}
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

// sync picks a default model (the selected run if it is a trained model,
// else the newest one) and attack.
func (p *attackPane) Sync() tea.Cmd {
	ms := p.models()
	if p.atk == "" {
		p.atk = p.attacks()[0]
	}
	if c := p.s.cur; c != nil && p.state == nil && c.Info.ID != p.model {
		for _, m := range ms {
			if m == c.Info.ID {
				p.setModel(m)
				return nil
			}
		}
	}
	if p.model == "" && len(ms) > 0 {
		p.setModel(ms[len(ms)-1])
	}
	return nil
}

func (p *attackPane) setModel(id string) {
	if id != p.model {
		p.model = id
		p.reset()
	}
}

// reset drops the stepper: the spec changed.
func (p *attackPane) reset() {
	p.gen++
	if p.stepper != nil && !p.inflight {
		p.stepper.Close()
	}
	p.stepper, p.state, p.err = nil, nil, nil
}

func (p *attackPane) close() {
	p.gen++
	if p.stepper != nil && !p.inflight {
		p.stepper.Close()
	}
	p.stepper = nil
}

// stepMsg is the result of creating a stepper or of one step.
type stepMsg struct {
	gen     int
	stepper lab.Stepper
	state   lab.AttackState
	err     error
}

// step runs in the background: create the stepper if needed (and, if
// advance, step it once).
func (p *attackPane) step(advance bool) tea.Cmd {
	if p.inflight || p.model == "" {
		return nil
	}
	if !p.s.lab.CanStep() {
		p.err = fmt.Errorf("attack stepper: %w (backend %q)", lab.ErrUnavailable, p.s.lab.BackendName())
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
		p.stepper, p.err = msg.stepper, msg.err
		if msg.err == nil {
			s := msg.state
			p.state = &s
			p.version++
		}
	case tea.KeyMsg:
		switch {
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
			if p.state != nil && p.state.Done {
				p.s.say("the attack is done: enter restarts it, b runs the full report")
				return nil
			}
			return p.step(true)
		case key.Matches(msg, p.kLoad):
			p.reset()
			return p.step(false)
		case key.Matches(msg, p.kReport):
			return p.report()
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

func (p *attackPane) report() tea.Cmd {
	if p.model == "" {
		return nil
	}
	spec := p.spec()
	spec.Attack, spec.Steps = "all", 0
	model, eps, mode := p.model, p.eps, p.mode
	return labRun(func() (lab.RunInfo, error) { return p.s.lab.Attack(spec) }, labRunMsg{what: "robustness report",
		say: func(info lab.RunInfo) string {
			return fmt.Sprintf("started %s: robustness report of %s at ε %.2f (%s gradient)", info.ID, model, eps, mode)
		}})
}

func (p *attackPane) View(bool) string {
	if !p.s.lab.CanStep() && !p.s.lab.CanRun(lab.KindAttack) {
		return fit(wrap(fmt.Sprintf("Attacks are not available in this build (backend %q).", p.s.lab.BackendName()), p.w), p.w, p.h)
	}
	if p.model == "" {
		return fit(wrap("No trained model yet. Train a genotype (t on a finished search in the Runs pane) or retrain one (Rules pane), then attack it here.", p.w), p.w, p.h)
	}
	form := p.formView()
	var scale int
	var imgs string
	if s := p.state; s != nil {
		scale = 4
		for _, sc := range []int{1, 2} {
			iw := 3*(s.CleanIm.W/sc) + 4
			ih := (s.CleanIm.H/sc+1)/2 + 1
			if (sc == 1 && iw <= p.w && ih+14 <= p.h) || (sc == 2 && iw+31 <= p.w && ih+8 <= p.h) {
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
	rows := [][2]string{
		{"model", p.model}, {"attack", p.atk}, {"mode", string(p.mode)},
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
	capt := func(t string) string { return st.Dim.Render(padRight(t, iw)) }
	clean := capt("clean ("+name(s.Label)+")") + "\n" + halfBlock(st, s.CleanIm, scale, false)
	adv := capt("adv ("+name(s.Pred)+")") + "\n" + halfBlock(st, s.AdvIm, scale, false)
	pert := capt("δ ×1/ε") + "\n" + halfBlock(st, s.Perturbation(), scale, true)
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
		lines = append(lines, "space steps the attack, enter loads the image")
	default:
		res := st.OK.Render("holds")
		if s.Success {
			res = st.Err.Render("fooled")
		}
		lines = append(lines,
			fmt.Sprintf("step %d/%d · %s · ‖δ‖∞ %.3f", s.Step, s.Steps, res, s.LInf),
			trunc(fmt.Sprintf("%s %s gradient, ε %.2f", s.Spec.Attack, s.Spec.Mode, s.Spec.Eps), w))
		if n := len(s.Losses); n > 0 {
			lines = append(lines, trunc(fmt.Sprintf("loss %s %.3f → %.3f", sparkline(s.Losses, min(n, 20)), s.Losses[0], s.Losses[n-1]), w))
		}
		if s.Done {
			lines = append(lines, st.Dim.Render("done · enter restarts · b reports"))
		}
	}
	if r := p.lastReport(); r != nil {
		lines = append(lines, "")
		lines = append(lines, p.reportLines(*r, w)...)
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

func (p *attackPane) reportLines(r lab.RunInfo, w int) []string {
	st := p.s.st
	head := fmt.Sprintf("report %s %s", r.ID, st.Status(r.Status).Render(string(r.Status)))
	if r.Last.TotalSteps > 0 {
		head += fmt.Sprintf(" %d/%d images", r.Last.Step, r.Last.TotalSteps)
	}
	lines := []string{trunc(head, w)}
	if r.Last.RobustAcc != 0 {
		lines = append(lines, trunc("worst case "+pct(r.Last.RobustAcc)+" "+hbar(r.Last.RobustAcc, max(w-22, 4)), w))
	}
	if c := p.s.cur; c != nil && c.Info.ID == r.ID && c.Attack != nil {
		for _, row := range c.Attack.Rows {
			lines = append(lines, trunc(fmt.Sprintf("%-6s %s %s", row.Attack, pct(row.RobustAcc), hbar(row.RobustAcc, max(w-16, 4))), w))
		}
	}
	return lines
}

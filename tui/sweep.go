package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/bionaslab/bionas/attacks"
	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/nn/rule"
	"github.com/bionaslab/bionas/search"
)

// jobParts say where an executor's run runs: "slurm job 12", its state
// (and why it waits), its node.
func jobParts(j lab.ExecJob) []string {
	parts := []string{j.Executor + " job " + j.ID}
	if j.ID == "" {
		parts[0] = "submitting to " + j.Executor
	}
	if j.State != "" {
		s := j.State
		if j.Reason != "" {
			s += " (" + j.Reason + ")"
		}
		parts = append(parts, s)
	}
	if j.Node != "" {
		parts = append(parts, "on "+j.Node)
	}
	if j.Partition != "" {
		parts = append(parts, "partition "+j.Partition)
	}
	return parts
}

// sweepLine is a sweep's progress over the lab's runs: "sweep s0005: 3/4
// done, 1 running".
func sweepLine(id string, runs []lab.RunInfo) string {
	for _, p := range lab.Sweeps(runs) {
		if p.ID == id {
			return fmt.Sprintf("sweep %s: %s", id, p)
		}
	}
	return "sweep " + id
}

// keySweep opens the sweep form in the runs list.
var keySweep = bind([]string{"W"}, "W", "sweep…")

// sweepMode is the sweep form: a grid of runs (seeds × spaces × methods
// for searches; seeds × rules for retrains of the selected run; attacks ×
// eps for robustness reports of its model) started as one sweep on the
// chosen executor. Its lists are typed as on bionas sweep's command line
// ("1-4", "bp,bio", "8/255,16/255") and checked by the same parsers.
type sweepMode struct {
	p       *runsPane
	kinds   []lab.Kind
	kind    int
	parent  string
	presets []lab.Preset
	preset  int
	dataset string
	execs   []string
	exec    int
	field   int
	in      map[string]*textinput.Model
	err     string
}

// The text fields of the form, by name.
const (
	swSeeds   = "seeds"
	swSpaces  = "spaces"
	swMethods = "methods"
	swRules   = "rules"
	swAttacks = "attacks"
	swEps     = "eps"
)

func newSweepMode(p *runsPane) *sweepMode {
	m := &sweepMode{p: p, kinds: []lab.Kind{lab.KindSearch}, presets: lab.Presets(), in: map[string]*textinput.Model{}}
	if r, ok := p.s.run(p.s.sel); ok && r.Status == lab.StatusDone && (r.Kind == lab.KindTrain || r.Kind == lab.KindRetrain) {
		m.kinds = append(m.kinds, lab.KindRetrain)
		if p.s.lab.CanRun(lab.KindAttack) {
			m.kinds = append(m.kinds, lab.KindAttack)
		}
		m.parent = r.ID
	}
	m.dataset = m.presets[0].Spec.Dataset
	m.execs = []string{p.s.lab.ExecutorName()}
	if m.execs[0] != lab.ExecutorLocal {
		m.execs = append(m.execs, lab.ExecutorLocal)
	}
	for name, v := range map[string]string{swSeeds: "1-2", swSpaces: m.presets[0].Spec.Space, swMethods: string(m.presets[0].Spec.Method),
		swRules: "fa,dfa", swAttacks: "fgsm,pgd", swEps: "0.1,0.3"} {
		in := textinput.New()
		in.Prompt = ""
		in.CharLimit = 200
		in.SetValue(v)
		m.in[name] = &in
	}
	m.focus()
	return m
}

// fields are the form's rows for the kind chosen.
func (m *sweepMode) fields() []string {
	switch m.kinds[m.kind] {
	case lab.KindRetrain:
		return []string{"kind", swSeeds, swRules, "executor"}
	case lab.KindAttack:
		return []string{"kind", swAttacks, swEps, swSeeds, "executor"}
	}
	return []string{"kind", "preset", "dataset", swSeeds, swSpaces, swMethods, "executor"}
}

// focus gives the cursor to the current field's text input, if it has one.
func (m *sweepMode) focus() {
	fs := m.fields()
	m.field = min(m.field, len(fs)-1)
	for name, in := range m.in {
		if name == fs[m.field] {
			in.Focus()
			in.CursorEnd()
		} else {
			in.Blur()
		}
	}
}

func (m *sweepMode) title() string   { return "New sweep" }
func (m *sweepMode) capturing() bool { return true }
func (m *sweepMode) keys() []key.Binding {
	return []key.Binding{bind([]string{"up", "down"}, "↑/↓", "field"), bind([]string{"left", "right"}, "←/→", "change"),
		bind([]string{"enter"}, "enter", "start"), bind([]string{"esc"}, "esc", "cancel")}
}

func (m *sweepMode) update(msg tea.Msg) (runsMode, tea.Cmd) {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return m, nil
	}
	fs := m.fields()
	name := fs[m.field]
	d := 0
	switch k.String() {
	case "esc":
		return nil, nil
	case "enter":
		g, o, err := m.grid()
		if err != nil {
			m.err = err.Error()
			return m, nil
		}
		l := m.p.s.lab
		return nil, labRun(func() (lab.RunInfo, error) {
			id, runs, err := l.Sweep(g, o)
			if len(runs) == 0 {
				return lab.RunInfo{}, err
			}
			if err != nil {
				return runs[0], fmt.Errorf("sweep %s: started %d of %d runs: %w", id, len(runs), g.Size(), err)
			}
			return runs[0], nil
		}, labRunMsg{what: "sweep", sel: true, say: func(info lab.RunInfo) string {
			return fmt.Sprintf("sweep %s: %d runs on %s", info.Sweep, g.Size(), o.Executor)
		}})
	case "up", "shift+tab":
		m.field = (m.field + len(fs) - 1) % len(fs)
		m.focus()
		return m, nil
	case "down", "tab":
		m.field = (m.field + 1) % len(fs)
		m.focus()
		return m, nil
	case "left":
		d = -1
	case "right":
		d = 1
	}
	if in, ok := m.in[name]; ok {
		m.err = ""
		next, cmd := in.Update(msg)
		*in = next
		return m, cmd
	}
	if d != 0 {
		m.err = ""
		switch name {
		case "kind":
			m.kind = (m.kind + d + len(m.kinds)) % len(m.kinds)
		case "preset":
			m.preset = (m.preset + d + len(m.presets)) % len(m.presets)
			sp := m.presets[m.preset].Spec
			m.dataset = sp.Dataset
			m.in[swSpaces].SetValue(sp.Space)
			m.in[swMethods].SetValue(string(sp.Method))
		case "dataset":
			m.dataset = cycle(formDatasets, m.dataset, d)
		case "executor":
			m.exec = (m.exec + d + len(m.execs)) % len(m.execs)
		}
	}
	return m, nil
}

// grid reads the form into a sweep; errors name the field.
func (m *sweepMode) grid() (lab.Grid, lab.StartOptions, error) {
	o := lab.StartOptions{Executor: m.execs[m.exec]}
	var g lab.Grid
	var err error
	if g.Seeds, err = lab.ParseSeeds(m.in[swSeeds].Value()); err != nil {
		return g, o, err
	}
	switch k := m.kinds[m.kind]; k {
	case lab.KindSearch:
		p := m.presets[m.preset]
		g.Base = lab.Spec{Kind: k, Preset: p.Name, Dataset: m.dataset}
		g.Spaces = lab.SplitList(m.in[swSpaces].Value())
		for _, s := range lab.SplitList(m.in[swMethods].Value()) {
			g.Methods = append(g.Methods, search.Method(s))
		}
	case lab.KindRetrain:
		g.Base = lab.Spec{Kind: k, Parent: m.parent}
		for _, s := range lab.SplitList(m.in[swRules].Value()) {
			r, err := rule.Parse(s)
			if err != nil {
				return g, o, fmt.Errorf("rules: %w", err)
			}
			g.Rules = append(g.Rules, r)
		}
	case lab.KindAttack:
		g.Base = lab.Spec{Kind: k, Attack: &lab.AttackSpec{Model: m.parent, Attack: "fgsm", Mode: attacks.Own}}
		g.Attacks = lab.SplitList(m.in[swAttacks].Value())
		if g.Eps, err = lab.ParseEps(m.in[swEps].Value()); err != nil {
			return g, o, err
		}
	}
	return g, o, g.Check()
}

func (m *sweepMode) view(w, h int) string {
	st := m.p.s.st
	var b strings.Builder
	g, _, err := m.grid()
	head := "A sweep: one run for every combination of the lists"
	if err == nil {
		head = fmt.Sprintf("A sweep of %d runs", g.Size())
	}
	if m.parent != "" && m.kinds[m.kind] != lab.KindSearch {
		head += " of " + m.parent
	}
	b.WriteString(wrap(st.Bold.Render(head), w) + "\n")
	label := 10
	for i, name := range m.fields() {
		mark := "  "
		if i == m.field {
			mark = "▸ "
		}
		var val string
		if in, ok := m.in[name]; ok {
			in.Width = max(w-2-label-1, 4)
			val = in.View()
		} else {
			switch name {
			case "kind":
				val = string(m.kinds[m.kind])
			case "preset":
				val = m.presets[m.preset].Name
			case "dataset":
				val = m.dataset
			case "executor":
				val = m.execs[m.exec]
			}
			if i == m.field {
				val = "‹ " + st.Key.Render(val) + " ›"
			}
		}
		b.WriteString(mark + padRight(name, label) + val + "\n")
	}
	b.WriteString("\n")
	if m.err != "" {
		b.WriteString(wrap(st.Err.Render(m.err), w) + "\n\n")
	}
	b.WriteString(wrap(st.Dim.Render("Lists as on the command line: seeds 1-4 or 1,3; spaces "+strings.Join(search.SpaceNames(), ",")+
		"; eps 0.1 or 8/255. enter starts · esc cancels"), w))
	return fit(b.String(), w, h)
}

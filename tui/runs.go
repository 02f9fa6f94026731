package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/search"
)

// runsPane lists every run with its status, progress and key number, and
// starts, stops and resumes runs.
type runsPane struct {
	s      *state
	w, h   int
	offset int
	form   *presetForm

	kOpen, kQuick, kNew, kStop, kResume, kTrain key.Binding
}

func newRunsPane(s *state) *runsPane {
	return &runsPane{s: s,
		kOpen:   bind([]string{"enter"}, "enter", "open charts"),
		kQuick:  bind([]string{"s"}, "s", "start "+lab.DefaultPreset),
		kNew:    bind([]string{"n"}, "n", "new search…"),
		kStop:   bind([]string{"x"}, "x", "stop"),
		kResume: bind([]string{"R"}, "R", "resume"),
		kTrain:  bind([]string{"t"}, "t", "train genotype"),
	}
}

func (p *runsPane) Name() string { return "Runs" }

func (p *runsPane) Title() string {
	if p.form != nil {
		return "New search"
	}
	return fmt.Sprintf("Runs (%d)", len(p.s.runs))
}

func (p *runsPane) SetSize(w, h int) { p.w, p.h = w, h }
func (p *runsPane) Capturing() bool  { return p.form != nil }

func (p *runsPane) Sync() tea.Cmd { return nil }

func (p *runsPane) Keys() []key.Binding {
	if p.form != nil {
		return p.form.keys()
	}
	sel, ok := p.s.run(p.s.sel)
	p.kStop.SetEnabled(ok && sel.Status.Active())
	p.kResume.SetEnabled(ok && sel.Status.Resumable())
	p.kTrain.SetEnabled(ok && sel.Kind == lab.KindSearch && p.s.cur != nil && p.s.cur.Genotype != nil)
	return []key.Binding{keyUp, keyDown, p.kOpen, p.kQuick, p.kNew, p.kStop, p.kResume, p.kTrain}
}

func (p *runsPane) index() int {
	for i, r := range p.s.runs {
		if r.ID == p.s.sel {
			return i
		}
	}
	return -1
}

func (p *runsPane) selectIndex(i int) {
	if len(p.s.runs) == 0 {
		return
	}
	i = min(max(i, 0), len(p.s.runs)-1)
	if p.s.runs[i].ID != p.s.sel {
		p.s.load(p.s.runs[i].ID)
	}
}

// start starts a run off the update loop; the shell then selects it and
// shows its charts.
func start(call func() (lab.RunInfo, error)) tea.Cmd {
	return labRun(call, labRunMsg{what: "start", open: true,
		say: func(info lab.RunInfo) string { return fmt.Sprintf("started %s: %s", info.ID, info.Title()) }})
}

func (p *runsPane) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.KeyMsg:
		if p.form != nil {
			spec, done, ok := p.form.update(msg)
			if done {
				p.form = nil
				if ok {
					return start(func() (lab.RunInfo, error) { return p.s.lab.Start(spec) })
				}
			}
			return nil
		}
		i := p.index()
		switch {
		case key.Matches(msg, keyUp):
			p.selectIndex(i - 1)
		case key.Matches(msg, keyDown):
			p.selectIndex(i + 1)
		case key.Matches(msg, p.kOpen):
			if p.s.sel != "" {
				return focusCmd(paneCharts)
			}
		case key.Matches(msg, p.kQuick):
			return start(func() (lab.RunInfo, error) {
				return p.s.lab.Start(lab.Spec{Kind: lab.KindSearch, Preset: lab.DefaultPreset})
			})
		case key.Matches(msg, p.kNew):
			p.form = newPresetForm(p.s)
		case key.Matches(msg, p.kStop):
			id := p.s.sel
			return func() tea.Msg { return labDoneMsg{err: p.s.lab.Stop(id), say: "stopping " + id} }
		case key.Matches(msg, p.kResume):
			id := p.s.sel
			return labRun(func() (lab.RunInfo, error) { return p.s.lab.Resume(id) },
				labRunMsg{what: "resume", say: func(info lab.RunInfo) string { return "resumed " + info.ID }})
		case key.Matches(msg, p.kTrain):
			id := p.s.sel
			return start(func() (lab.RunInfo, error) { return p.s.lab.TrainGenotype(id) })
		}
	case paneMouse:
		switch msg.Button {
		case tea.MouseButtonWheelUp:
			p.selectIndex(p.index() - 1)
		case tea.MouseButtonWheelDown:
			p.selectIndex(p.index() + 1)
		case tea.MouseButtonLeft:
			if row := msg.Y - 2 + p.offset; msg.Y >= 2 && row < len(p.s.runs) && p.form == nil {
				p.selectIndex(row)
			}
		}
	}
	return nil
}

// listHeight is how many run rows the pane shows.
func (p *runsPane) listHeight() int {
	if p.w >= 40 {
		return max(p.h-2-detailLines, 3)
	}
	return max(p.h-2-detailLines, 2)
}

const detailLines = 7

func (p *runsPane) View(focused bool) string {
	if p.form != nil {
		return p.form.view(p.w, p.h)
	}
	st := p.s.st
	if len(p.s.runs) == 0 {
		msg := fmt.Sprintf("No runs yet.\n\nPress %s to start the MNIST quick\nsearch (%s), or %s to pick\na preset.\n\nBackend: %s.",
			st.Key.Render("s"), lab.DefaultPreset, st.Key.Render("n"), p.s.lab.BackendName())
		return fit(msg, p.w, p.h)
	}
	var running, queued int
	for _, r := range p.s.runs {
		switch r.Status {
		case lab.StatusRunning:
			running++
		case lab.StatusQueued:
			queued++
		}
	}
	var b strings.Builder
	b.WriteString(st.Dim.Render(trunc(fmt.Sprintf("%d running · %d queued · %d at a time", running, queued, p.s.lab.MaxConcurrent()), p.w)))
	b.WriteString("\n")
	lh := p.listHeight()
	i := p.index()
	if i < p.offset {
		p.offset = i
	}
	if i >= p.offset+lh {
		p.offset = i - lh + 1
	}
	p.offset = min(max(p.offset, 0), max(len(p.s.runs)-lh, 0))
	b.WriteString(st.Dim.Render(p.header()))
	for k := p.offset; k < min(p.offset+lh, len(p.s.runs)); k++ {
		b.WriteString("\n")
		b.WriteString(p.row(p.s.runs[k], k == i, focused))
	}
	for k := len(p.s.runs) - p.offset; k < lh; k++ {
		b.WriteString("\n")
	}
	b.WriteString("\n")
	b.WriteString(p.details())
	return fit(b.String(), p.w, p.h)
}

func (p *runsPane) header() string {
	if p.w >= 60 {
		return padRight("  id    run", p.w-36) + padRight("status", 14) + padRight("progress", 12) + "key number"
	}
	return "  id    kind    status"
}

var statusGlyph = map[lab.Status]string{
	lab.StatusQueued: "…", lab.StatusRunning: "▶", lab.StatusDone: "✓", lab.StatusFailed: "✗", lab.StatusInterrupted: "‖",
}

// keyNumber is the one number that says how a run went.
func keyNumber(r lab.RunInfo) string {
	m := r.Last
	switch {
	case r.Kind == lab.KindAttack && m.RobustAcc != 0:
		return "rob " + pct(m.RobustAcc)
	case m.TestAcc != 0:
		return "test " + pct(m.TestAcc)
	case m.ValAcc != 0:
		return "val " + pct(m.ValAcc)
	case m.Acc != 0:
		return "acc " + pct(m.Acc)
	}
	return ""
}

func (p *runsPane) row(r lab.RunInfo, sel, focused bool) string {
	st := p.s.st
	mark := "  "
	if sel {
		mark = "▸ "
	}
	sty := st.Status(r.Status)
	glyph := sty.Render(statusGlyph[r.Status])
	title := r.Title()
	if r.Parent != "" {
		title = "↳ " + title
	}
	var line string
	if p.w >= 60 {
		prog := progressBar(r.Last.Progress(), 6) + fmt.Sprintf(" %3.0f%%", 100*r.Last.Progress())
		line = mark + padRight(r.ID, 6) + padRight(title, p.w-45) + " " +
			glyph + " " + padRight(sty.Render(string(r.Status)), 11) + " " + padRight(prog, 12) + keyNumber(r)
	} else {
		right := keyNumber(r)
		if r.Status == lab.StatusRunning || right == "" {
			right = fmt.Sprintf("%3.0f%%", 100*r.Last.Progress())
		}
		line = mark + padRight(r.ID, 6) + padRight(string(r.Kind), 8) + glyph + " " + padLeft(right, max(p.w-18, 0))
	}
	if sel && focused && !st.Mono {
		return st.Sel.Render(padRight(stripStyles(line), p.w))
	}
	return line
}

func (p *runsPane) details() string {
	c := p.s.cur
	if c == nil {
		return ""
	}
	st := p.s.st
	r := c.Info
	sp := r.Spec
	var lines []string
	lines = append(lines, st.Bold.Render(r.ID)+" "+r.Title())
	var parts []string
	for _, x := range []string{sp.Dataset, string(sp.Method), sp.Space} {
		if x != "" {
			parts = append(parts, x)
		}
	}
	if sp.Preset != "" {
		parts = append(parts, "preset "+sp.Preset)
	}
	if sp.Seed != 0 {
		parts = append(parts, fmt.Sprintf("seed %d", sp.Seed))
	}
	lines = append(lines, strings.Join(parts, " · "))
	m := r.Last
	where := "" // the device the run computes (or computed) on
	if sp.Device != "" {
		where = " on " + sp.Device
	}
	prog := fmt.Sprintf("%s%s · step %d/%d · epoch %d/%d", st.Status(r.Status).Render(string(r.Status)), where, m.Step, m.TotalSteps, min(m.Epoch+1, max(m.Epochs, 1)), m.Epochs)
	if r.Resumes > 0 {
		prog += fmt.Sprintf(" · resumed %d×", r.Resumes)
	}
	lines = append(lines, prog)
	lines = append(lines, fmt.Sprintf("loss %s · acc %s · val %s · test %s", num(m.Loss), pct(m.Acc), pct(m.ValAcc), pct(m.TestAcc)))
	if len(r.Edits) > 0 {
		var es []string
		for _, e := range r.Edits {
			es = append(es, e.String())
		}
		lines = append(lines, "edits: "+strings.Join(es, " "))
	}
	if r.Error != "" {
		sty := st.Err
		if r.Status == lab.StatusInterrupted {
			sty = st.Warn
		}
		lines = append(lines, sty.Render(firstLine(r.Error)))
	}
	lines = append(lines, st.Dim.Render("folder runs/"+r.ID))
	for i := range lines {
		lines[i] = trunc(lines[i], p.w)
	}
	return strings.Join(lines, "\n")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// presetForm is the "new search" form: a preset and the fields a user
// most often changes.
type presetForm struct {
	s       *state
	presets []lab.Preset
	field   int
	preset  int
	dataset string
	method  string
	space   string
	epochs  int
	seed    uint64
}

var (
	formDatasets = []string{"mnist", "fashion", "cifar10", "cifar100"}
	formMethods  = []string{"darts", "darts2", "pcdarts", "egnas", "random"}
	formSpaces   = []string{"bio", "bp", "hlpc", "lrnas"}
)

func newPresetForm(s *state) *presetForm {
	f := &presetForm{s: s, presets: lab.Presets()}
	f.setPreset(0)
	return f
}

func (f *presetForm) setPreset(i int) {
	n := len(f.presets)
	f.preset = (i%n + n) % n
	sp := f.presets[f.preset].Spec
	f.dataset, f.method, f.space, f.epochs, f.seed = sp.Dataset, string(sp.Method), sp.Space, sp.Epochs, sp.Seed
}

const formFields = 6

func cycle[T comparable](list []T, cur T, d int) T {
	for i, x := range list {
		if x == cur {
			return list[((i+d)%len(list)+len(list))%len(list)]
		}
	}
	return list[0]
}

func (f *presetForm) keys() []key.Binding {
	return []key.Binding{keyUp, keyDown, bind([]string{"left", "right"}, "←/→", "change"),
		bind([]string{"enter"}, "enter", "start"), bind([]string{"esc"}, "esc", "cancel")}
}

// update handles a key; done reports the form closed, ok that the user
// confirmed it, with the spec to start.
func (f *presetForm) update(msg tea.KeyMsg) (spec lab.Spec, done, ok bool) {
	d := 0
	switch msg.String() {
	case "esc", "q":
		return spec, true, false
	case "enter":
		p := f.presets[f.preset]
		spec = lab.Spec{Kind: lab.KindSearch, Preset: p.Name, Dataset: f.dataset, Method: search.Method(f.method), Space: f.space, Epochs: f.epochs, Seed: f.seed}
		return spec, true, true
	case "up", "k", "shift+tab":
		f.field = (f.field + formFields - 1) % formFields
	case "down", "j", "tab":
		f.field = (f.field + 1) % formFields
	case "left", "h", "-":
		d = -1
	case "right", "l", "+", " ":
		d = 1
	}
	if d != 0 {
		switch f.field {
		case 0:
			f.setPreset(f.preset + d)
		case 1:
			f.dataset = cycle(formDatasets, f.dataset, d)
		case 2:
			f.method = cycle(formMethods, f.method, d)
		case 3:
			f.space = cycle(formSpaces, f.space, d)
		case 4:
			f.epochs = max(f.epochs+d, 0)
		case 5:
			f.seed = uint64(max(int(f.seed)+d, 1))
		}
	}
	return spec, false, false
}

func (f *presetForm) view(w, h int) string {
	st := f.s.st
	p := f.presets[f.preset]
	epochs := "preset"
	if f.epochs > 0 {
		epochs = fmt.Sprint(f.epochs)
	}
	rows := [][2]string{
		{"preset", p.Name}, {"dataset", f.dataset}, {"method", f.method}, {"space", f.space},
		{"epochs", epochs}, {"seed", fmt.Sprint(f.seed)},
	}
	var b strings.Builder
	b.WriteString(st.Bold.Render(p.Title) + "\n")
	for i, r := range rows {
		mark, val := "  ", r[1]
		if i == f.field {
			mark = "▸ "
			val = "‹ " + st.Key.Render(val) + " ›"
		}
		b.WriteString(mark + padRight(r[0], 9) + val + "\n")
	}
	b.WriteString("\n" + wrap(p.Note, w) + "\n\n")
	b.WriteString(st.Dim.Render("enter starts · esc cancels"))
	return fit(b.String(), w, h)
}

// wrap breaks plain text into lines of at most w columns.
func wrap(s string, w int) string {
	if w <= 0 {
		return s
	}
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		switch {
		case line == "":
			line = word
		case len([]rune(line))+1+len([]rune(word)) <= w:
			line += " " + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

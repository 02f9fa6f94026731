package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/search"
)

// runsPane lists every run with its status, progress and key number, and
// starts, stops, resumes, names, annotates, archives, deletes, compares
// and exports runs.
type runsPane struct {
	s      *state
	w, h   int
	offset int
	form   *presetForm
	// mode is a view or prompt that replaces the list (details, a text
	// field, a confirmation, the export menu); nil shows the list.
	mode runsMode

	kOpen, kQuick, kNew, kStop, kResume, kTrain         key.Binding
	kInfo, kRename, kNote, kArchive, kShowArch, kDelete key.Binding
	kCompare, kClear, kExport                           key.Binding
}

func newRunsPane(s *state) *runsPane {
	return &runsPane{s: s,
		kOpen:     bind([]string{"enter"}, "enter", "open charts"),
		kQuick:    bind([]string{"s"}, "s", "start "+lab.DefaultPreset),
		kNew:      bind([]string{"n"}, "n", "new search…"),
		kStop:     bind([]string{"x"}, "x", "stop"),
		kResume:   bind([]string{"R"}, "R", "resume"),
		kTrain:    bind([]string{"t"}, "t", "train genotype"),
		kInfo:     bind([]string{"i"}, "i", "run details"),
		kRename:   bind([]string{"r"}, "r", "rename"),
		kNote:     bind([]string{"N"}, "N", "note"),
		kArchive:  bind([]string{"a"}, "a", "archive/unarchive"),
		kShowArch: bind([]string{"A"}, "A", "show archived"),
		kDelete:   bind([]string{"D"}, "D", "delete (to trash)"),
		kCompare:  bind([]string{"c"}, "c", "mark to compare"),
		kClear:    bind([]string{"C"}, "C", "clear marks"),
		kExport:   bind([]string{"E"}, "E", "export…"),
	}
}

func (p *runsPane) Name() string { return "Runs" }

func (p *runsPane) Title() string {
	switch {
	case p.form != nil:
		return "New search"
	case p.mode != nil:
		return p.mode.title()
	}
	n := len(p.s.visible())
	if hidden := len(p.s.runs) - n; hidden > 0 {
		return fmt.Sprintf("Runs (%d, %d archived)", n, hidden)
	}
	return fmt.Sprintf("Runs (%d)", n)
}

func (p *runsPane) SetSize(w, h int) { p.w, p.h = w, h }
func (p *runsPane) Capturing() bool  { return p.form != nil || (p.mode != nil && p.mode.capturing()) }

func (p *runsPane) Sync() tea.Cmd { return nil }

func (p *runsPane) Keys() []key.Binding {
	if p.form != nil {
		return p.form.keys()
	}
	if p.mode != nil {
		return p.mode.keys()
	}
	return p.listKeys()
}

// listKeys are the list's bindings, enabled as the selected run allows.
func (p *runsPane) listKeys() []key.Binding {
	sel, ok := p.s.run(p.s.sel)
	p.kStop.SetEnabled(ok && sel.Status.Active())
	p.kResume.SetEnabled(ok && sel.Status.Resumable())
	p.kTrain.SetEnabled(ok && sel.Kind == lab.KindSearch && p.s.cur != nil && p.s.cur.Genotype != nil)
	for _, b := range []*key.Binding{&p.kInfo, &p.kRename, &p.kNote, &p.kCompare, &p.kExport} {
		b.SetEnabled(ok)
	}
	p.kArchive.SetEnabled(ok && !sel.Status.Active())
	p.kDelete.SetEnabled(ok && !sel.Status.Active())
	p.kClear.SetEnabled(len(p.s.compare) > 0)
	p.kShowArch.SetHelp("A", map[bool]string{false: "show archived", true: "hide archived"}[p.s.showArchived])
	archived := false
	for _, r := range p.s.runs {
		archived = archived || r.Archived
	}
	p.kShowArch.SetEnabled(archived || p.s.showArchived)
	p.kOpen.SetEnabled(ok)
	nav := []key.Binding{keyUp, keyDown}
	if len(p.s.visible()) < 2 {
		nav = nil // nothing to move to (keyUp/keyDown are shared: not disabled here)
	}
	return append(nav, p.kOpen, p.kQuick, p.kNew, p.kStop, p.kResume, p.kTrain, keySweep,
		p.kInfo, p.kCompare, p.kClear, p.kExport, p.kRename, p.kNote, p.kArchive, p.kShowArch, p.kDelete)
}

func (p *runsPane) index() int {
	for i, r := range p.s.visible() {
		if r.ID == p.s.sel {
			return i
		}
	}
	return -1
}

func (p *runsPane) selectIndex(i int) {
	runs := p.s.visible()
	if len(runs) == 0 {
		return
	}
	i = min(max(i, 0), len(runs)-1)
	if runs[i].ID != p.s.sel {
		p.s.load(runs[i].ID)
	}
}

// start starts a run off the update loop; the shell then selects it and
// shows its charts.
func start(l *lab.Lab, call func() (lab.RunInfo, error)) tea.Cmd {
	return labRun(call, labRunMsg{what: "start", open: true, say: func(info lab.RunInfo) string {
		return startedSay(l, info, info.Title())
	}})
}

func (p *runsPane) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.KeyMsg:
		if p.form != nil {
			spec, done, ok := p.form.update(msg)
			if done {
				p.form = nil
				if ok {
					return start(p.s.lab, func() (lab.RunInfo, error) { return p.s.lab.Start(spec) })
				}
			}
			return nil
		}
		if p.mode != nil {
			next, cmd := p.mode.update(msg)
			p.mode = next
			return cmd
		}
		return p.listKey(msg)
	case paneMouse:
		if p.form != nil || p.mode != nil {
			return nil
		}
		switch msg.Button {
		case tea.MouseButtonWheelUp:
			p.selectIndex(p.index() - 1)
		case tea.MouseButtonWheelDown:
			p.selectIndex(p.index() + 1)
		case tea.MouseButtonLeft:
			if row := msg.Y - 2 + p.offset; msg.Y >= 2 && row < len(p.s.visible()) {
				p.selectIndex(row)
			}
		}
	default:
		if p.mode != nil {
			next, cmd := p.mode.update(msg)
			p.mode = next
			return cmd
		}
	}
	return nil
}

func (p *runsPane) listKey(msg tea.KeyMsg) tea.Cmd {
	i := p.index()
	id := p.s.sel
	sel, ok := p.s.run(id)
	l := p.s.lab
	switch {
	case key.Matches(msg, keyUp):
		p.selectIndex(i - 1)
	case key.Matches(msg, keyDown):
		p.selectIndex(i + 1)
	case key.Matches(msg, p.kOpen):
		if id != "" {
			return focusCmd(paneCharts)
		}
	case key.Matches(msg, p.kQuick):
		return start(l, func() (lab.RunInfo, error) {
			return l.Start(lab.Spec{Kind: lab.KindSearch, Preset: lab.DefaultPreset})
		})
	case key.Matches(msg, p.kNew):
		p.form = newPresetForm(p.s)
	case key.Matches(msg, keySweep):
		p.mode = newSweepMode(p)
	case !ok:
		return nil
	case key.Matches(msg, p.kStop):
		return func() tea.Msg { return labDoneMsg{err: l.Stop(id), say: "stopping " + id} }
	case key.Matches(msg, p.kResume):
		return labRun(func() (lab.RunInfo, error) { return l.Resume(id) },
			labRunMsg{what: "resume", say: func(info lab.RunInfo) string { return "resumed " + info.ID }})
	case key.Matches(msg, p.kTrain):
		return start(l, func() (lab.RunInfo, error) { return l.TrainGenotype(id) })
	case key.Matches(msg, p.kInfo):
		p.mode = newDetailsMode(p)
	case key.Matches(msg, p.kRename):
		p.mode = newRenameMode(p, sel)
		return textinputBlink
	case key.Matches(msg, p.kNote):
		p.mode = newNoteMode(p, sel)
		return textinputBlink
	case key.Matches(msg, p.kArchive):
		if sel.Status.Active() {
			return nil
		}
		archived := !sel.Archived
		return labRun(func() (lab.RunInfo, error) { return l.Archive(id, archived) }, labRunMsg{what: "archive",
			say: func(info lab.RunInfo) string {
				if info.Archived {
					return fmt.Sprintf("archived %s: hidden from the list (A shows archived runs); nothing was removed", info.ID)
				}
				return "unarchived " + info.ID
			}})
	case key.Matches(msg, p.kShowArch):
		p.s.showArchived = !p.s.showArchived
	case key.Matches(msg, p.kDelete):
		if !sel.Status.Active() {
			p.mode = newConfirmDelete(p, sel)
		}
	case key.Matches(msg, p.kCompare):
		p.s.toggleCompare(id)
		if n := len(p.s.compared()); n >= 2 {
			p.s.say(fmt.Sprintf("comparing %d runs in the Charts pane (c marks more, C clears)", n))
		} else {
			p.s.say(fmt.Sprintf("marked %s: select another run to compare it with", id))
		}
		if !p.s.marked(id) {
			p.s.say("unmarked " + id)
		}
	case key.Matches(msg, p.kClear):
		p.s.compare = nil
		p.s.say("comparison cleared")
	case key.Matches(msg, p.kExport):
		p.mode = newExportMode(p, sel)
	}
	return nil
}

func (p *runsPane) View(focused bool) string {
	if p.form != nil {
		return p.form.view(p.w, p.h)
	}
	if p.mode != nil {
		return p.mode.view(p.w, p.h)
	}
	st := p.s.st
	runs := p.s.visible()
	if len(runs) == 0 {
		msg := fmt.Sprintf("No runs yet. Press %s to start the MNIST quick search (%s), or %s to pick a preset.",
			st.Key.Render("s"), lab.DefaultPreset, st.Key.Render("n"))
		if hidden := len(p.s.runs); hidden > 0 {
			msg = fmt.Sprintf("Every run is archived (%d). Press %s to show them, %s to start a search.", hidden, st.Key.Render("A"), st.Key.Render("s"))
		}
		msg = wrap(msg, p.w) + "\n\n" + wrap("Backend: "+p.s.lab.BackendName()+".", p.w)
		return fit(msg, p.w, p.h)
	}
	var b strings.Builder
	b.WriteString(st.Dim.Render(p.queueLine()))
	b.WriteString("\n")
	details := p.details()
	lh := max(p.h-2-len(details), min(3, len(runs)))
	if lh+2+len(details) > p.h { // a short pane: fewer detail lines
		details = details[:max(p.h-2-lh, 0)]
	}
	i := p.index()
	if i < p.offset {
		p.offset = i
	}
	if i >= p.offset+lh {
		p.offset = i - lh + 1
	}
	p.offset = min(max(p.offset, 0), max(len(runs)-lh, 0))
	b.WriteString(st.Dim.Render(p.header()))
	for k := p.offset; k < min(p.offset+lh, len(runs)); k++ {
		b.WriteString("\n")
		b.WriteString(p.row(runs[k], k == i, focused))
	}
	for k := len(runs) - p.offset; k < lh; k++ {
		b.WriteString("\n")
	}
	b.WriteString("\n")
	b.WriteString(strings.Join(details, "\n"))
	return fit(b.String(), p.w, p.h)
}

// queueLine says what runs and waits in each lane, in as many words as fit.
func (p *runsPane) queueLine() string {
	var running, queued int
	for _, r := range p.s.runs {
		switch r.Status {
		case lab.StatusRunning:
			running++
		case lab.StatusQueued:
			queued++
		}
	}
	l := p.s.lab
	for _, s := range []string{
		fmt.Sprintf("%d running · %d queued · %d at a time + %d light", running, queued, l.MaxConcurrent(), l.MaxLight()),
		fmt.Sprintf("%d running · %d queued · %d+%d slots", running, queued, l.MaxConcurrent(), l.MaxLight()),
		fmt.Sprintf("%d running · %d queued", running, queued),
	} {
		if len([]rune(s)) <= p.w {
			return s
		}
	}
	return fmt.Sprintf("▶%d …%d", running, queued)
}

func (p *runsPane) header() string {
	if p.w >= 60 {
		return padRight("  id    run", p.w-36) + padRight("status", 14) + padRight("progress", 12) + "key number"
	}
	return padRight("  id    kind", 17) + padLeft("result", max(p.w-17, 0))
}

var statusGlyph = map[lab.Status]string{
	lab.StatusQueued: "…", lab.StatusRunning: "▶", lab.StatusDone: "✓", lab.StatusFailed: "✗", lab.StatusInterrupted: "‖",
}

// keyNumber is the one number that says how a run went. A finished attack
// run's worst case is a number even when it is 0 %.
func keyNumber(r lab.RunInfo) string {
	m := r.Last
	switch {
	case r.Kind == lab.KindAttack && (m.RobustAcc != 0 || r.Status == lab.StatusDone):
		return "rob " + pct1(m.RobustAcc)
	case m.TestAcc != 0:
		return "test " + pct(m.TestAcc)
	case m.ValAcc != 0:
		return "val " + pct(m.ValAcc)
	case m.Acc != 0:
		return "acc " + pct(m.Acc)
	}
	return ""
}

// pct1 formats a fraction that exists, 0 included.
func pct1(v float64) string {
	if v < 0 {
		return "NaN"
	}
	return fmt.Sprintf("%.1f%%", 100*v)
}

func (p *runsPane) row(r lab.RunInfo, sel, focused bool) string {
	st := p.s.st
	mark := " "
	if sel {
		mark = "▸"
	}
	if p.s.marked(r.ID) {
		mark += "•"
	} else {
		mark += " "
	}
	sty := st.Status(r.Status)
	glyph := sty.Render(statusGlyph[r.Status])
	title := r.Title()
	if r.Archived {
		title += " (archived)"
	}
	if r.Parent != "" {
		title = "↳ " + title
	}
	if r.Sweep != "" { // a sweep's runs carry its name: the list groups them
		title = r.Sweep + " " + title
	}
	var line string
	if p.w >= 60 {
		prog := progressBar(r.Last.Progress(), 6) + fmt.Sprintf(" %3.0f%%", 100*r.Last.Progress())
		line = mark + padRight(r.ID, 6) + padRight(title, p.w-45) + " " +
			glyph + " " + padRight(sty.Render(string(r.Status)), 11) + " " + padRight(prog, 12) + keyNumber(r)
	} else {
		kind := string(r.Kind)
		if r.Parent != "" {
			kind = "↳" + kind
		}
		if r.Sweep != "" { // the sweep groups its runs; the details say the kind
			kind = r.Sweep
		}
		right := keyNumber(r)
		if r.Status == lab.StatusRunning {
			right = strings.TrimSpace(fmt.Sprintf("%3.0f%% %s", 100*r.Last.Progress(), right))
		}
		if right == "" {
			right = string(r.Status)
		}
		line = mark + padRight(r.ID, 6) + padRight(kind, 9) + glyph + " " + padLeft(right, max(p.w-19, 0))
	}
	if r.Archived {
		line = st.Dim.Render(stripStyles(line))
	}
	if sel && focused && !st.Mono {
		return st.Sel.Render(padRight(stripStyles(line), p.w))
	}
	return line
}

// details are the selected run's lines under the list, wrapped to the
// pane's width so that no figure is cut.
func (p *runsPane) details() []string {
	c := p.s.cur
	if c == nil {
		return nil
	}
	st := p.s.st
	r := c.Info
	var lines []string
	add := func(s string) { lines = append(lines, strings.Split(wrap(s, p.w), "\n")...) }
	add(st.Bold.Render(r.ID) + " " + r.Title())
	add(joinDot(specParts(r.Spec)))
	add(joinDot(progressParts(st, r)))
	add(joinDot(numberParts(r, c.Attack)))
	if r.Job.Executor != "" {
		add(joinDot(jobParts(r.Job)))
	}
	if r.Sweep != "" {
		add(sweepLine(r.Sweep, p.s.runs))
	}
	if len(r.Edits) > 0 {
		var es []string
		for _, e := range r.Edits {
			es = append(es, e.String())
		}
		add("edits: " + strings.Join(es, " "))
	}
	if r.Note != "" {
		add(st.Dim.Render("note: ") + firstLine(r.Note))
	}
	if r.Error != "" {
		sty := st.Err
		if r.Status == lab.StatusInterrupted {
			sty = st.Warn
		}
		add(sty.Render(firstLine(r.Error)))
	}
	add(st.Dim.Render("folder runs/" + r.ID + " · i details"))
	return lines
}

// specParts are what a run is: dataset, method, space, preset, seed,
// device.
func specParts(sp lab.Spec) []string {
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
	if sp.Device != "" {
		parts = append(parts, "on "+sp.Device)
	}
	return parts
}

// progressParts say where a run is: its status and steps, epochs for
// runs that have them, images for an attack run.
func progressParts(st *Styles, r lab.RunInfo) []string {
	m := r.Last
	parts := []string{st.Status(r.Status).Render(string(r.Status))}
	if r.Status == lab.StatusQueued && r.Lane == lab.LaneLight {
		parts[0] += " (light lane)"
	}
	switch {
	case r.Kind == lab.KindAttack:
		if m.TotalSteps > 0 {
			// Image units: one image attacked by one row of the report.
			parts = append(parts, fmt.Sprintf("%d/%d image×attack", m.Step, m.TotalSteps))
		}
	default:
		if m.TotalSteps > 0 {
			parts = append(parts, fmt.Sprintf("step %d/%d", m.Step, m.TotalSteps))
		}
		if m.Epochs > 0 {
			parts = append(parts, fmt.Sprintf("epoch %d/%d", min(m.Epoch+1, m.Epochs), m.Epochs))
		}
	}
	if r.Resumes > 0 {
		parts = append(parts, fmt.Sprintf("resumed %d×", r.Resumes))
	}
	return parts
}

// numberParts are a run's latest numbers, marked provisional while it is
// unfinished.
func numberParts(r lab.RunInfo, rep *lab.AttackReport) []string {
	m := r.Last
	var parts []string
	if r.Kind == lab.KindAttack {
		if rep != nil {
			parts = append(parts, "clean "+pct1(rep.CleanAcc), "worst case "+pct1(rep.WorstCase))
		} else if m.RobustAcc != 0 || r.Status == lab.StatusDone {
			parts = append(parts, "worst case "+pct1(m.RobustAcc))
		}
	} else {
		parts = append(parts, "loss "+num(m.Loss), "acc "+pct(m.Acc), "val "+pct(m.ValAcc), "test "+pct(m.TestAcc))
	}
	if len(parts) > 0 && r.Status != lab.StatusDone {
		parts = append(parts, "(so far)")
	}
	return parts
}

// joinDot joins parts with " · ", leaving out empty ones.
func joinDot(parts []string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, " · ")
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
	formDatasets = lab.Datasets()
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
	b.WriteString(wrap(st.Bold.Render(f.title()), w) + "\n")
	label := 9
	if w < 30 {
		label = 8
	}
	for i, r := range rows {
		mark, val := "  ", r[1]
		if i == f.field {
			mark = "▸ "
			if 2+label+4+len([]rune(val)) <= w {
				val = "‹ " + st.Key.Render(val) + " ›"
			} else {
				val = st.Key.Render(val)
			}
		}
		b.WriteString(mark + padRight(r[0], label) + val + "\n")
	}
	b.WriteString("\n" + wrap(p.Note, w) + "\n\n")
	b.WriteString(st.Dim.Render("enter starts · esc cancels"))
	return fit(b.String(), w, h)
}

// title says what the form will start: the preset's title while the
// form is as the preset has it, else the search as changed.
func (f *presetForm) title() string {
	p := f.presets[f.preset]
	sp := p.Spec
	if f.dataset == sp.Dataset && f.method == string(sp.Method) && f.space == sp.Space {
		return p.Title
	}
	return fmt.Sprintf("%s %s search, %s space (from %s)", datasetTitle(f.dataset), f.method, f.space, p.Name)
}

// datasetTitle is a dataset's name as a researcher writes it.
func datasetTitle(name string) string {
	switch name {
	case "mnist":
		return "MNIST"
	case "fashion", "fashion-mnist":
		return "Fashion-MNIST"
	case "cifar10":
		return "CIFAR-10"
	case "cifar100":
		return "CIFAR-100"
	case "imagenet16-120", "imagenet16":
		return "ImageNet16-120"
	}
	return name
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
		case ansi.StringWidth(line)+1+ansi.StringWidth(word) <= w:
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

package tui

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textarea"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/bionaslab/bionas/lab"
)

// runsMode is a view or prompt that takes the Runs pane's place for a
// moment: a run's details, a name or note being typed, a confirmation,
// the export menu. update returns the next mode (nil: back to the list).
type runsMode interface {
	title() string
	keys() []key.Binding
	// capturing modes take every key (text fields, menus); the details
	// view leaves the global keys (tab, 1–6, ?) working.
	capturing() bool
	update(msg tea.Msg) (runsMode, tea.Cmd)
	view(w, h int) string
}

var (
	keyBack   = bind([]string{"esc"}, "esc", "back")
	keyPgUp   = bind([]string{"pgup", "b"}, "pgup", "page up")
	keyPgDown = bind([]string{"pgdown", " ", "f"}, "pgdn", "page down")
)

// textinputBlink starts a text field's cursor blinking.
var textinputBlink = textinput.Blink

// detailsMode shows everything about one run: its whole spec, the
// configuration its job ran with (config.json), lineage, times, note,
// result files and the end of its log.
type detailsMode struct {
	p      *runsPane
	id     string
	scroll int
	h      int
}

func newDetailsMode(p *runsPane) *detailsMode { return &detailsMode{p: p, id: p.s.sel} }

func (d *detailsMode) title() string   { return "Run " + d.id }
func (d *detailsMode) capturing() bool { return false }
func (d *detailsMode) keys() []key.Binding {
	return []key.Binding{keyUp, keyDown, keyPgUp, keyPgDown, bind([]string{"esc", "i"}, "esc/i", "back to the list")}
}

func (d *detailsMode) update(msg tea.Msg) (runsMode, tea.Cmd) {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return d, nil
	}
	page := max(d.h-1, 1)
	switch {
	case k.String() == "esc" || k.String() == "i":
		return nil, nil
	case key.Matches(k, keyUp):
		d.scroll--
	case key.Matches(k, keyDown):
		d.scroll++
	case key.Matches(k, keyPgUp):
		d.scroll -= page
	case key.Matches(k, keyPgDown):
		d.scroll += page
	}
	d.scroll = max(d.scroll, 0)
	return d, nil
}

func (d *detailsMode) view(w, h int) string {
	d.h = h
	lines := runDetails(d.p.s, d.id, w)
	d.scroll = min(d.scroll, max(len(lines)-h, 0))
	end := min(d.scroll+h, len(lines))
	out := lines[d.scroll:end]
	if len(lines) > h && h > 1 {
		// The last line says there is more, and how much.
		out = slices.Clone(lines[d.scroll:min(d.scroll+h-1, len(lines))])
		out = append(out, d.p.s.st.Dim.Render(fmt.Sprintf("lines %d–%d of %d · ↓ more", d.scroll+1, d.scroll+len(out), len(lines))))
	}
	return fit(strings.Join(out, "\n"), w, h)
}

// runDetails are the lines of the details view of run id, w wide.
func runDetails(s *state, id string, w int) []string {
	st := s.st
	snap, err := s.lab.Snapshot(id)
	if err != nil {
		return []string{st.Err.Render(err.Error())}
	}
	r := snap.Info
	var lines []string
	add := func(s string) { lines = append(lines, strings.Split(wrap(s, w), "\n")...) }
	kv := func(k string, v any) {
		s := fmt.Sprint(v)
		if s == "" || s == "0" {
			return
		}
		// The value wraps under itself, the key column kept.
		for i, l := range strings.Split(wrap(s, max(w-12, 8)), "\n") {
			if i == 0 {
				lines = append(lines, st.Dim.Render(padRight(k, 12))+l)
			} else {
				lines = append(lines, strings.Repeat(" ", 12)+l)
			}
		}
	}
	section := func(t string) {
		lines = append(lines, "", st.Bold.Render(t))
	}
	add(st.Bold.Render(r.ID) + " " + r.Title())
	if r.Name != "" {
		add(st.Dim.Render("generated title: ") + (func() string { c := r; c.Name = ""; return c.Title() })())
	}
	section("Run")
	kv("kind", r.Kind)
	kv("status", st.Status(r.Status).Render(string(r.Status)))
	if r.Lane != "" {
		kv("lane", r.Lane)
	}
	kv("created", stamp(r.Created))
	kv("started", stamp(r.Started))
	kv("finished", stamp(r.Finished))
	if !r.Started.IsZero() {
		end := r.Finished
		if end.IsZero() || end.Before(r.Started) {
			end = s.now()
		}
		kv("took", end.Sub(r.Started).Round(time.Second))
	}
	kv("resumes", r.Resumes)
	if r.Error != "" {
		kv("error", st.Err.Render(firstLine(r.Error)))
	}
	kv("folder", filepath.Join(s.lab.Dir(), "runs", r.ID))

	section("Spec")
	sp := r.Spec
	kv("preset", sp.Preset)
	kv("dataset", sp.Dataset)
	kv("method", sp.Method)
	kv("space", sp.Space)
	kv("epochs", sp.Epochs)
	kv("batch size", sp.BatchSize)
	kv("C", sp.C)
	kv("cells", sp.Cells)
	kv("subset", sp.Subset)
	if sp.LR != 0 {
		kv("lr", fmt.Sprintf("%g", sp.LR))
	}
	kv("seed", sp.Seed)
	kv("device", sp.Device)
	if a := sp.Attack; a != nil {
		kv("attack", a.Attack)
		kv("mode", a.Mode)
		kv("ε", fmt.Sprintf("%g", a.Eps))
		kv("steps", a.Steps)
		kv("images", a.N)
		kv("seed", a.Seed)
	}
	if len(sp.Edits) > 0 {
		var es []string
		for _, e := range sp.Edits {
			es = append(es, e.String())
		}
		kv("rule edits", strings.Join(es, " "))
	}
	if sp.Genotype != nil {
		kv("genotype", sp.Genotype.String())
	}

	if cfg := readConfig(filepath.Join(s.lab.RunDir(r.ID), "config.json")); len(cfg) > 0 {
		section("Configuration the job ran with (config.json)")
		for _, l := range cfg {
			add(l)
		}
	} else if r.Kind != lab.KindAttack {
		section("Configuration")
		add(st.Dim.Render("the preset's defaults for every field the spec leaves empty (preset " + cmpOr(sp.Preset, "none") + ")"))
	}

	section("Lineage")
	chain := []string{}
	for p := r.Parent; p != ""; {
		pr, ok := s.lab.Run(p)
		if !ok {
			chain = append(chain, p+" (deleted)")
			break
		}
		chain = append(chain, pr.ID+" "+pr.Title())
		p = pr.Parent
	}
	if len(chain) == 0 {
		add("no parent")
	} else {
		add("from " + strings.Join(chain, " ← "))
	}
	var kids []string
	for _, o := range s.runs {
		if o.Parent == r.ID {
			kids = append(kids, o.ID+" "+o.Title()+" ("+string(o.Status)+")")
		}
	}
	if len(kids) > 0 {
		add("children: " + strings.Join(kids, ", "))
	}

	section("Numbers")
	m := r.Last
	add(joinDot(progressParts(st, r)))
	add(joinDot(numberParts(r, snap.Attack)))
	if m.ImagesPerSec > 0 {
		add(fmt.Sprintf("%.0f img/s", m.ImagesPerSec))
	}

	section("Note")
	if r.Note == "" {
		add(st.Dim.Render("none (N writes one)"))
	} else {
		for _, l := range strings.Split(r.Note, "\n") {
			add(l)
		}
	}

	if files := runFiles(s.lab.RunDir(r.ID)); len(files) > 0 {
		section("Files")
		add(strings.Join(files, " "))
	}
	if len(snap.Log) > 0 {
		section("Log (last 10 lines)")
		for _, l := range snap.Log[max(len(snap.Log)-10, 0):] {
			add(l)
		}
	}
	return lines
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// readConfig flattens a run's config.json into "key  value" lines (nested
// objects as dotted keys), sorted; nothing when there is no such file or
// it does not parse.
func readConfig(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var v map[string]any
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	var out []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, x[k])
			}
		case nil:
		default:
			s, _ := json.Marshal(x)
			out = append(out, prefix+" "+string(s))
		}
	}
	walk("", v)
	return out
}

// runFiles lists a run folder's files and folders (not recursive).
func runFiles(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, ".") {
			continue
		}
		if e.IsDir() {
			n += "/"
		}
		out = append(out, n)
	}
	return out
}

// renameMode is a one-line field for a run's name.
type renameMode struct {
	p  *runsPane
	id string
	in textinput.Model
}

func newRenameMode(p *runsPane, r lab.RunInfo) *renameMode {
	in := textinput.New()
	in.Prompt = "name: "
	in.CharLimit = lab.MaxNameLen
	in.SetValue(r.Name)
	in.Placeholder = r.Title()
	in.Focus()
	return &renameMode{p: p, id: r.ID, in: in}
}

func (m *renameMode) title() string   { return "Rename " + m.id }
func (m *renameMode) capturing() bool { return true }
func (m *renameMode) keys() []key.Binding {
	return []key.Binding{bind([]string{"enter"}, "enter", "save"), bind([]string{"esc"}, "esc", "cancel")}
}

func (m *renameMode) update(msg tea.Msg) (runsMode, tea.Cmd) {
	if k, ok := msg.(tea.KeyMsg); ok {
		switch k.String() {
		case "esc":
			return nil, nil
		case "enter":
			l, id, name := m.p.s.lab, m.id, m.in.Value()
			return nil, labRun(func() (lab.RunInfo, error) { return l.Rename(id, name) }, labRunMsg{what: "rename",
				say: func(info lab.RunInfo) string {
					if info.Name == "" {
						return info.ID + " has its generated title again"
					}
					return fmt.Sprintf("renamed %s to %q", info.ID, info.Name)
				}})
		}
	}
	var cmd tea.Cmd
	m.in, cmd = m.in.Update(msg)
	return m, cmd
}

func (m *renameMode) view(w, h int) string {
	m.in.Width = max(w-len(m.in.Prompt)-1, 4)
	st := m.p.s.st
	return fit(m.in.View()+"\n\n"+wrap(st.Dim.Render(fmt.Sprintf("At most %d characters, one line; empty restores the generated title. enter saves, esc cancels.", lab.MaxNameLen)), w), w, h)
}

// noteMode is a multi-line field for a run's note.
type noteMode struct {
	p  *runsPane
	id string
	ta textarea.Model
}

func newNoteMode(p *runsPane, r lab.RunInfo) *noteMode {
	ta := textarea.New()
	ta.CharLimit = lab.MaxNoteLen
	ta.ShowLineNumbers = false
	ta.Placeholder = "what this run is for, what you saw…"
	ta.SetValue(r.Note)
	ta.Focus()
	return &noteMode{p: p, id: r.ID, ta: ta}
}

func (m *noteMode) title() string   { return "Note on " + m.id }
func (m *noteMode) capturing() bool { return true }
func (m *noteMode) keys() []key.Binding {
	return []key.Binding{bind([]string{"ctrl+s"}, "ctrl+s", "save"), bind([]string{"esc"}, "esc", "cancel")}
}

func (m *noteMode) update(msg tea.Msg) (runsMode, tea.Cmd) {
	if k, ok := msg.(tea.KeyMsg); ok {
		switch k.String() {
		case "esc":
			m.p.s.say("note not changed")
			return nil, nil
		case "ctrl+s":
			l, id, note := m.p.s.lab, m.id, m.ta.Value()
			return nil, labRun(func() (lab.RunInfo, error) { return l.SetNote(id, note) }, labRunMsg{what: "note",
				say: func(info lab.RunInfo) string { return "saved the note on " + info.ID }})
		}
	}
	var cmd tea.Cmd
	m.ta, cmd = m.ta.Update(msg)
	return m, cmd
}

func (m *noteMode) view(w, h int) string {
	m.ta.SetWidth(max(w, 10))
	m.ta.SetHeight(max(h-2, 2))
	return fit(m.ta.View()+"\n"+m.p.s.st.Dim.Render("ctrl+s saves · esc cancels"), w, h)
}

// confirmDelete asks before a run goes to the trash.
type confirmDelete struct {
	p *runsPane
	r lab.RunInfo
}

func newConfirmDelete(p *runsPane, r lab.RunInfo) *confirmDelete { return &confirmDelete{p: p, r: r} }

func (c *confirmDelete) title() string   { return "Delete " + c.r.ID + "?" }
func (c *confirmDelete) capturing() bool { return true }
func (c *confirmDelete) keys() []key.Binding {
	return []key.Binding{bind([]string{"y"}, "y", "delete"), bind([]string{"n", "esc"}, "n/esc", "keep")}
}

func (c *confirmDelete) update(msg tea.Msg) (runsMode, tea.Cmd) {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return c, nil
	}
	switch k.String() {
	case "y", "Y":
		l, id := c.p.s.lab, c.r.ID
		return nil, func() tea.Msg {
			dst, err := l.Delete(id)
			return labDoneMsg{err: err, say: fmt.Sprintf("deleted %s: its folder is now %s", id, dst)}
		}
	case "n", "N", "esc", "q":
		return nil, nil
	}
	return c, nil
}

func (c *confirmDelete) view(w, h int) string {
	st := c.p.s.st
	msg := fmt.Sprintf("Delete %s %s? Its folder moves to the lab's %s/ folder, from where you can move it back; nothing is erased. Press %s to delete, %s to keep it. (%s archives instead: the run stays, hidden.)",
		c.r.ID, c.r.Title(), lab.DirTrash, st.Key.Render("y"), st.Key.Render("n"), st.Key.Render("a"))
	return fit(wrap(msg, w), w, h)
}

// exportMode is the export menu: the run's genotype and charts, or the
// comparison's charts when runs are marked.
type exportMode struct {
	p     *runsPane
	id    string
	ids   []string // the compared runs (two or more), else empty
	items []string
	cur   int
}

func newExportMode(p *runsPane, r lab.RunInfo) *exportMode {
	m := &exportMode{p: p, id: r.ID}
	for _, c := range p.s.compared() {
		m.ids = append(m.ids, c.ID)
	}
	for _, what := range lab.ExportNames() {
		if strings.HasPrefix(what, "genotype") && (r.Kind == lab.KindAttack) {
			continue
		}
		m.items = append(m.items, what)
	}
	if len(m.ids) >= 2 {
		for _, what := range lab.ExportNames() {
			if !strings.HasPrefix(what, "genotype") {
				m.items = append(m.items, "compare "+what)
			}
		}
	}
	return m
}

func (m *exportMode) title() string   { return "Export " + m.id }
func (m *exportMode) capturing() bool { return true }
func (m *exportMode) keys() []key.Binding {
	return []key.Binding{keyUp, keyDown, bind([]string{"enter"}, "enter", "write"), bind([]string{"esc"}, "esc", "close")}
}

func (m *exportMode) update(msg tea.Msg) (runsMode, tea.Cmd) {
	k, ok := msg.(tea.KeyMsg)
	if !ok {
		return m, nil
	}
	switch {
	case k.String() == "esc" || k.String() == "q":
		return nil, nil
	case key.Matches(k, keyUp):
		m.cur = (m.cur + len(m.items) - 1) % len(m.items)
	case key.Matches(k, keyDown):
		m.cur = (m.cur + 1) % len(m.items)
	case k.String() == "enter":
		what := m.items[m.cur]
		l, id, ids := m.p.s.lab, m.id, m.ids
		return m, func() tea.Msg {
			path, err := exportOne(l, id, ids, what)
			return labDoneMsg{err: err, say: "wrote " + path}
		}
	}
	return m, nil
}

// exportOne writes one export: a run's (lab.Lab.Export) or, for "compare
// …", the compared runs' chart in the lab's exports/ folder.
func exportOne(l *lab.Lab, id string, ids []string, what string) (string, error) {
	chart, ok := strings.CutPrefix(what, "compare ")
	if !ok {
		return l.Export(id, what)
	}
	snaps := make([]lab.Snapshot, 0, len(ids))
	for _, r := range ids {
		s, err := l.Snapshot(r)
		if err != nil {
			return "", err
		}
		snaps = append(snaps, s)
	}
	path := lab.CompareExportPath(l.Dir(), ids, chart)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("export %s: %w", what, err)
	}
	if err := lab.WriteExport(path, chart, snaps); err != nil {
		return "", err
	}
	return path, nil
}

func (m *exportMode) view(w, h int) string {
	st := m.p.s.st
	var b strings.Builder
	for i, it := range m.items {
		mark := "  "
		if i == m.cur {
			mark = "▸ "
			it = st.Key.Render(it)
		}
		b.WriteString(mark + it + "\n")
	}
	where := "runs/" + m.id + "/exports/"
	if len(m.ids) >= 2 {
		where += "; comparisons (" + strings.Join(m.ids, ", ") + ") in exports/"
	}
	b.WriteString("\n" + wrap(st.Dim.Render("writes to "+where+" · enter writes · esc closes"), w))
	return fit(b.String(), w, h)
}

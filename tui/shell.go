package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/bionaslab/bionas/lab"
)

// Options configure a Shell.
type Options struct {
	// Renderer is the session's renderer: every style is built from it
	// (nil: this process's default renderer).
	Renderer *lipgloss.Renderer
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Context ends the session's background work (attack steps); default
	// context.Background().
	Context context.Context
	// FrameInterval is the least time between two deliveries of lab events
	// to this session (default 100 ms: at most ten updates a second).
	FrameInterval time.Duration
	// Width and Height are the initial size, until the terminal reports
	// its own (default 80×24).
	Width, Height int
	// Device names where the lab's work runs ("cpu", "cuda:0"), shown at
	// the right of the status bar, for a lab whose backend does not say
	// itself: the lab's own device (lab.Lab.Device, which the engine sets
	// from bionas --device) wins, since that is where its jobs and the
	// attack stepper compute. Both empty show nothing.
	Device string
}

// pane is one screen of the shell. Panes have pointer receivers, mutate
// themselves in Update and return only a command (the pug pattern); View
// returns exactly the size last set, without the border.
type pane interface {
	Name() string
	Title() string
	SetSize(w, h int)
	Update(msg tea.Msg) tea.Cmd
	View(focused bool) string
	Keys() []key.Binding
	// Capturing reports whether a form of the pane takes every key.
	Capturing() bool
	// Sync lets a pane that fetches data on its own (the rule editor's
	// layer list) or follows the selection (the attack form) catch up with
	// the state after every message; most panes have nothing to do.
	Sync() tea.Cmd
}

// Pane indices, in focus order.
const (
	paneRuns = iota
	paneCharts
	paneAlphas
	paneGenotype
	paneRules
	paneAttack
	paneStudies
	numPanes
)

// Shell is the root model: a tab bar, the panes, a status line and the
// help line. It talks only to the lab.
type Shell struct {
	opts  Options
	s     *state
	sub   *lab.Subscription
	panes [numPanes]pane
	keys  globalKeys

	focus    int
	view     int // the pane shown beside the runs list in the wide layout
	showHelp bool
	// helpScroll is the first line of the key map shown (↑/↓ scroll it).
	helpScroll int
	w, h       int
	wide       bool
	runsW      int // wide layout: width of the runs box
	bodyY      int // first line of the body
	lastPull   time.Time
	closed     bool
}

// New returns a shell over the lab. Close it when the program ends.
func New(l *lab.Lab, opts Options) *Shell {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Context == nil {
		opts.Context = context.Background()
	}
	if opts.FrameInterval <= 0 {
		opts.FrameInterval = 100 * time.Millisecond
	}
	if opts.Width <= 0 || opts.Height <= 0 {
		opts.Width, opts.Height = 80, 24
	}
	st := NewStyles(opts.Renderer)
	s := &state{lab: l, st: st, now: opts.Now, ctx: opts.Context}
	s.reloadRuns()
	sh := &Shell{opts: opts, s: s, sub: l.Subscribe(), keys: newGlobalKeys(), view: paneCharts}
	sh.panes = [numPanes]pane{
		paneRuns:     newRunsPane(s),
		paneCharts:   newChartsPane(s),
		paneAlphas:   newAlphasPane(s),
		paneGenotype: newGenotypePane(s),
		paneRules:    newRulesPane(s),
		paneAttack:   newAttackPane(s),
		paneStudies:  newStudiesPane(s),
	}
	// Open on the newest run, or on nothing (the runs pane then says how
	// to start a search).
	if n := len(s.runs); n > 0 {
		s.load(s.runs[n-1].ID)
	}
	if s.cur == nil {
		s.say(fmt.Sprintf("press s to start the %s search, n for the preset form", lab.DefaultPreset))
	}
	sh.resize(opts.Width, opts.Height)
	return sh
}

// Close ends the shell's lab subscription and its attack stepper. It is
// safe to call more than once.
func (m *Shell) Close() {
	if m.closed {
		return
	}
	m.closed = true
	m.sub.Close()
	if a, ok := m.panes[paneAttack].(*attackPane); ok {
		a.close()
	}
}

// eventsMsg carries the lab events drained for this session.
type eventsMsg struct{ batch lab.Batch }

// waitEvents waits for lab events, at most once per frame interval, and
// drains them: the lab never waits for this session, and the session
// re-arms the wait after each batch.
func (m *Shell) waitEvents() tea.Cmd {
	sub, last, gap := m.sub, m.lastPull, m.opts.FrameInterval
	return func() tea.Msg {
		select {
		case <-sub.C():
		case <-sub.Done():
			return nil
		}
		if d := time.Until(last.Add(gap)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-sub.Done():
				t.Stop()
				return nil
			}
		}
		return eventsMsg{sub.Drain()}
	}
}

// Init starts listening to the lab.
func (m *Shell) Init() tea.Cmd { return m.waitEvents() }

// Update routes a message: sizes to every pane, keys to the form that has
// them, then to the global bindings, then to the focused pane; mouse
// events to the pane under the pointer; everything else to every pane.
func (m *Shell) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if k, ok := msg.(tea.KeyMsg); ok && k.Type == tea.KeyRunes && len(k.Runes) > 1 && !k.Paste {
		// Several keys that arrived in one read (fast typing, key repeat
		// over a slow SSH link) are several keys: "jjj" moves three rows.
		cmds := make([]tea.Cmd, 0, len(k.Runes)+1)
		for _, r := range k.Runes {
			one := k
			one.Runes = []rune{r}
			cmds = append(cmds, m.route(one))
		}
		return m, tea.Batch(append(cmds, m.syncPanes())...)
	}
	cmd := m.route(msg)
	return m, tea.Batch(cmd, m.syncPanes())
}

// syncPanes lets every pane catch up with the state after a message.
func (m *Shell) syncPanes() tea.Cmd {
	var cmds []tea.Cmd
	for _, p := range m.panes {
		cmds = append(cmds, p.Sync())
	}
	return tea.Batch(cmds...)
}

func (m *Shell) route(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.resize(msg.Width, msg.Height)
		return nil
	case eventsMsg:
		m.lastPull = time.Now()
		m.s.apply(msg.batch)
		return tea.Batch(m.broadcast(msg), m.waitEvents())
	case tea.KeyMsg:
		return m.key(msg)
	case tea.MouseMsg:
		return m.mouse(msg)
	case focusMsg:
		m.setFocus(msg.pane)
		return nil
	case labRunMsg:
		m.applyLabRun(msg)
		return nil
	case labDoneMsg:
		if msg.err != nil {
			m.s.fail(msg.err)
		} else {
			m.s.say(msg.say)
		}
		return nil
	}
	return m.broadcast(msg)
}

func (m *Shell) broadcast(msg tea.Msg) tea.Cmd {
	var cmds []tea.Cmd
	for _, p := range m.panes {
		cmds = append(cmds, p.Update(msg))
	}
	return tea.Batch(cmds...)
}

func (m *Shell) key(msg tea.KeyMsg) tea.Cmd {
	if msg.String() == "ctrl+c" {
		return tea.Quit
	}
	p := m.panes[m.focus]
	if p.Capturing() {
		return p.Update(msg)
	}
	if m.showHelp && (msg.String() == "esc" || key.Matches(msg, m.keys.Help)) {
		m.showHelp = false
		m.resize(m.w, m.h)
		return nil
	}
	if m.showHelp {
		switch {
		case key.Matches(msg, keyUp):
			m.helpScroll = max(m.helpScroll-1, 0)
			return nil
		case key.Matches(msg, keyDown):
			m.helpScroll++
			return nil
		}
	}
	switch {
	case key.Matches(msg, m.keys.Quit):
		return tea.Quit
	case key.Matches(msg, m.keys.Help):
		m.showHelp = true
		m.helpScroll = 0
		m.resize(m.w, m.h)
		return nil
	case key.Matches(msg, m.keys.Next):
		m.setFocus((m.focus + 1) % numPanes)
		return nil
	case key.Matches(msg, m.keys.Prev):
		m.setFocus((m.focus + numPanes - 1) % numPanes)
		return nil
	case key.Matches(msg, m.keys.Jump):
		m.setFocus(int(msg.String()[0] - '1'))
		return nil
	}
	return p.Update(msg)
}

func (m *Shell) setFocus(i int) {
	if i < 0 || i >= numPanes {
		return
	}
	m.focus = i
	if i != paneRuns {
		m.view = i
	}
}

// mouse handles clicks on the tab bar and hands the rest to the pane under
// the pointer, in that pane's coordinates.
func (m *Shell) mouse(msg tea.MouseMsg) tea.Cmd {
	if msg.Action != tea.MouseActionPress {
		return nil
	}
	if msg.Y == 0 && msg.Button == tea.MouseButtonLeft {
		x := 0
		for i, label := range m.tabLabels() {
			w := ansi.StringWidth(label)
			if msg.X >= x && msg.X < x+w && i > 0 {
				m.setFocus(i - 1)
				return nil
			}
			x += w
		}
		return nil
	}
	y := msg.Y - m.bodyY - 1
	if m.showHelp || y < 0 {
		return nil
	}
	target, x := m.focus, msg.X-1
	if m.wide {
		if msg.X < m.runsW {
			target = paneRuns
		} else {
			target, x = m.view, msg.X-m.runsW-1
		}
	}
	if msg.Button == tea.MouseButtonLeft {
		m.setFocus(target)
	}
	return m.panes[target].Update(paneMouse{X: x, Y: y, Button: msg.Button})
}

// paneMouse is a mouse press in a pane's content coordinates.
type paneMouse struct {
	X, Y   int
	Button tea.MouseButton
}

// resize lays the panes out for a w×h terminal.
func (m *Shell) resize(w, h int) {
	m.w, m.h = w, h
	bodyH := max(h-3, 3)
	m.bodyY = 1
	m.wide = w >= 100 && bodyH >= 16
	if m.wide {
		// Wide enough for a compact row with its figures (id, kind, status,
		// progress and key number: 32 columns inside the border).
		m.runsW = min(max(w*3/10, 34), 46)
		m.panes[paneRuns].SetSize(m.runsW-2, bodyH-2)
		for i := paneCharts; i < numPanes; i++ {
			m.panes[i].SetSize(w-m.runsW-2, bodyH-2)
		}
		return
	}
	for _, p := range m.panes {
		p.SetSize(w-2, bodyH-2)
	}
}

func (m *Shell) tabLabels() []string {
	st := m.s.st
	labels := []string{st.Title.Render(" BioNAS Lab ")}
	for i, p := range m.panes {
		l := fmt.Sprintf(" %d %s ", i+1, p.Name())
		on := i == m.focus || (m.wide && i == m.view && m.focus == paneRuns)
		switch {
		case i == m.focus && st.Mono:
			l = "[" + strings.TrimSpace(l) + "]"
		case i == m.focus:
			l = st.TabOn.Render(l)
		case on && st.Mono:
			l = "(" + strings.TrimSpace(l) + ")"
		case on:
			l = st.Bold.Render(l)
		default:
			l = st.TabOff.Render(l)
		}
		labels = append(labels, l)
	}
	// A narrow terminal gives the lab's name up before any pane's tab.
	total := 0
	for _, l := range labels {
		total += ansi.StringWidth(l)
	}
	if total > m.w {
		labels[0] = ""
	}
	return labels
}

// View draws the whole screen, exactly w×h.
func (m *Shell) View() string {
	if m.w <= 0 || m.h <= 0 {
		return ""
	}
	st := m.s.st
	tabs := strings.Join(m.tabLabels(), "")
	if c := m.s.cur; c != nil {
		info := " " + c.Info.ID + " " + st.Status(c.Info.Status).Render(string(c.Info.Status))
		if ansi.StringWidth(tabs)+ansi.StringWidth(info) <= m.w {
			tabs = padRight(tabs, m.w-ansi.StringWidth(info)) + info
		}
	}
	bodyH := max(m.h-3, 3)
	var body string
	switch {
	case m.showHelp:
		lines := m.keyMapLines(m.w - 2)
		inner := bodyH - 2
		m.helpScroll = min(m.helpScroll, max(len(lines)-inner, 0))
		shown := lines[m.helpScroll:]
		title := "Keys · every pane"
		if len(lines) > inner {
			title += fmt.Sprintf(" · ↑/↓ scroll (%d–%d of %d)", m.helpScroll+1, min(m.helpScroll+inner, len(lines)), len(lines))
		}
		body = box(st, title, strings.Join(shown, "\n"), m.w, bodyH, true)
	case m.wide && m.focus == paneRuns && m.runsExpanded():
		// A form, a run's details, a text field or a menu of the Runs pane
		// takes the whole width while it is open.
		rp := m.panes[paneRuns]
		rp.SetSize(m.w-2, bodyH-2)
		body = box(st, rp.Title(), rp.View(true), m.w, bodyH, true)
		rp.SetSize(m.runsW-2, bodyH-2)
	case m.wide:
		left := box(st, m.panes[paneRuns].Title(), m.panes[paneRuns].View(m.focus == paneRuns), m.runsW, bodyH, m.focus == paneRuns)
		p := m.panes[m.view]
		right := box(st, p.Title(), p.View(m.focus == m.view), m.w-m.runsW, bodyH, m.focus == m.view)
		body = lipgloss.JoinHorizontal(lipgloss.Top, left, right)
	default:
		p := m.panes[m.focus]
		body = box(st, p.Title(), p.View(true), m.w, bodyH, true)
	}
	status := m.s.msg
	if m.s.msgErr {
		status = st.Err.Render("error: ") + status
	}
	right := fmt.Sprintf("%d viewer%s", m.s.lab.Subscribers(), plural(m.s.lab.Subscribers()))
	if dev := m.device(); dev != "" {
		right = dev + " · " + right
	}
	right = st.Dim.Render(right)
	status = padRight(status, max(m.w-ansi.StringWidth(right)-1, 0)) + " " + right
	helpLine := m.shortHelp(m.w)
	return fit(tabs, m.w, 1) + "\n" + fit(body, m.w, bodyH) + "\n" + fit(status, m.w, 1) + "\n" + fit(helpLine, m.w, 1)
}

// runsExpanded reports whether the Runs pane shows a form or a mode
// (details, text field, menu) rather than its list.
func (m *Shell) runsExpanded() bool {
	rp, ok := m.panes[paneRuns].(*runsPane)
	return ok && (rp.form != nil || rp.mode != nil)
}

// device is where the lab's work runs, as the status bar shows it: the
// lab's backend's device, else Options.Device.
func (m *Shell) device() string {
	if d := m.s.lab.Device(); d != "" {
		return d
	}
	return m.opts.Device
}

// shortHelp is the help line: as many of the focused pane's enabled keys
// as fit, then always "? all keys" and "q quit", so that the way to the
// whole key map is never cut off.
func (m *Shell) shortHelp(w int) string {
	st := m.s.st
	item := func(b key.Binding) string {
		h := b.Help()
		return st.Help.ShortKey.Render(h.Key) + " " + st.Help.ShortDesc.Render(h.Desc)
	}
	sep := st.Help.ShortSeparator.Render(" • ")
	if m.showHelp {
		return item(bind([]string{"esc"}, "esc/?", "close")) + sep + item(m.keys.Quit)
	}
	tail := item(bind([]string{"?"}, "?", "all keys")) + sep + item(m.keys.Quit)
	if m.panes[m.focus].Capturing() {
		tail = "" // a form or field takes every key: its own keys say how to leave
	}
	var parts []string
	used := ansi.StringWidth(tail)
	for _, b := range m.panes[m.focus].Keys() {
		if !b.Enabled() || b.Help().Key == "" {
			continue
		}
		s := item(b)
		if used+ansi.StringWidth(s)+3 > w {
			continue // a shorter one further on may fit
		}
		parts = append(parts, s)
		used += ansi.StringWidth(s) + 3
	}
	if tail != "" {
		parts = append(parts, tail)
	}
	return strings.Join(parts, sep)
}

// keyMapLines is the global key map, w wide: the keys that work
// everywhere, then every pane's keys under its name (the focused pane
// first and marked), then what the rules mean.
func (m *Shell) keyMapLines(w int) []string {
	st := m.s.st
	var lines []string
	add := func(s string) { lines = append(lines, strings.Split(wrap(s, w), "\n")...) }
	pairs := func(bs []key.Binding) string {
		var out []string
		seen := map[string]bool{}
		for _, b := range bs {
			h := b.Help()
			if h.Key == "" || seen[h.Key+h.Desc] {
				continue
			}
			seen[h.Key+h.Desc] = true
			k := st.Key.Render(h.Key)
			if !b.Enabled() {
				k = st.Dim.Render(h.Key)
			}
			out = append(out, k+" "+h.Desc)
		}
		return strings.Join(out, " · ")
	}
	g := m.keys
	add(st.Bold.Render("Everywhere") + "  " + pairs([]key.Binding{g.Next, g.Prev, g.Jump, g.Help, g.Quit,
		bind([]string{"ctrl+c"}, "ctrl+c", "quit, even in a form")}))
	order := []int{m.focus}
	for i := range numPanes {
		if i != m.focus {
			order = append(order, i)
		}
	}
	for _, i := range order {
		p := m.panes[i]
		name := fmt.Sprintf("%d %s", i+1, p.Name())
		if i == m.focus {
			name += " (here)"
		}
		add(st.Bold.Render(name) + "  " + pairs(p.Keys()))
	}
	add(st.Dim.Render("Dim keys do nothing for the current selection. In a text field or form every key goes to it; esc leaves."))
	lines = append(lines, "")
	for _, l := range strings.Split(helpText, "\n") {
		add(l)
	}
	return lines
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

const helpText = `Runs live in the lab folder (runs/<id>/: run.json, metrics.jsonl,
alphas.json, genotype.json); every viewer of the lab sees them live.
Rules: bp back-propagation · fa feedback alignment · dfa direct FA ·
usf uniform sign · brsf/frsf random-magnitude sign · hebb Hebbian and
pc predictive-coding convs (conv_3x3 kinds of the hlpc space, fixed: the
rule editor switches the other rules, not to or from these).`

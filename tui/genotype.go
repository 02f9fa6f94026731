package tui

import (
	"fmt"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/nn/rule"
)

// genotypePane draws the selected run's genotype: each cell as a DAG whose
// lanes are the cell's states (0 and 1 the cell inputs c_{k-2} and
// c_{k-1}, then the intermediate nodes) and whose rows are its edges, each
// labelled with its op and rule and coloured by rule, with a legend. An
// edge whose rule changes nothing (none, the pools, skip where it is the
// identity: see search.Edge.RuleActs) shows no rule: the genotype's label
// for it is not a learning rule the network has. Edges that changed since
// the previous genotype are starred.
type genotypePane struct {
	s      *state
	w, h   int
	reduce bool
	text   bool
	key    string
	cache  string

	kCell, kText key.Binding
}

func newGenotypePane(s *state) *genotypePane {
	return &genotypePane{s: s,
		kCell: bind([]string{"c"}, "c", "normal/reduce"),
		kText: bind([]string{"t"}, "t", "DAG/text form"),
	}
}

func (p *genotypePane) Name() string     { return "Genotype" }
func (p *genotypePane) SetSize(w, h int) { p.w, p.h = w, h }
func (p *genotypePane) Sync() tea.Cmd    { return nil }
func (p *genotypePane) Capturing() bool  { return false }
func (p *genotypePane) Keys() []key.Binding {
	p.kCell.SetEnabled(!p.sideBySide())
	return []key.Binding{p.kCell, p.kText}
}

func (p *genotypePane) Title() string {
	if c := p.s.cur; c != nil {
		return "Genotype · " + c.Info.ID
	}
	return "Genotype"
}

func (p *genotypePane) Update(msg tea.Msg) tea.Cmd {
	if k, ok := msg.(tea.KeyMsg); ok {
		switch {
		case key.Matches(k, p.kCell):
			p.reduce = !p.reduce
		case key.Matches(k, p.kText):
			p.text = !p.text
		}
	}
	return nil
}

// dagWidth is the width of one cell's drawing.
const dagWidth = 38

func (p *genotypePane) sideBySide() bool { return p.w >= 2*dagWidth+2 }

func (p *genotypePane) View(bool) string {
	c := p.s.cur
	if c == nil {
		return fit("No run selected.", p.w, p.h)
	}
	g := c.Genotype
	if g == nil {
		g = c.Info.Spec.Genotype
	}
	if g == nil {
		msg := "This run has no genotype."
		if c.Info.Kind == lab.KindSearch {
			msg = "Waiting for the first genotype (derived at the start of each epoch)…"
		}
		return fit(wrap(msg, p.w), p.w, p.h)
	}
	k := fmt.Sprint(c.Info.ID, c.ver.genotype, c.ver.info, p.w, p.h, p.reduce, p.text)
	if k != p.key {
		p.key, p.cache = k, p.render(c, g)
	}
	return p.cache
}

func (p *genotypePane) render(c *runData, g *lab.Genotype) string {
	st := p.s.st
	head := fmt.Sprintf("genotype of %s at epoch %d/%d", c.Info.ID, min(c.Info.Last.Epoch+1, max(c.Info.Last.Epochs, 1)), c.Info.Last.Epochs)
	if c.Info.Status == lab.StatusDone {
		head = fmt.Sprintf("final genotype of %s (%d epochs)", c.Info.ID, c.Info.Last.Epochs)
	}
	if c.Info.Kind != lab.KindSearch {
		head = fmt.Sprintf("%s trains this genotype", c.Info.ID)
		if c.Info.Parent != "" {
			head += " (from " + c.Info.Parent + ")"
		}
	}
	if p.text {
		t := c.GenotypeText
		if t == "" {
			t = "(no text form recorded)"
		}
		return fit(head+"\n\n"+wrapAny(t, p.w), p.w, p.h)
	}
	var prev *lab.Genotype
	if c.prevGenotype != nil {
		prev = c.prevGenotype
	}
	normal := drawCell(st, "normal cell", g.Normal, cellOf(prev, false), false)
	reduce := drawCell(st, "reduction cell", g.Reduce, cellOf(prev, true), true)
	var body string
	switch {
	case p.sideBySide():
		body = joinH(2, normal, reduce)
	case p.reduce:
		body = reduce
	default:
		body = normal
	}
	legend := ruleLegend(st, actingRules(g), p.w)
	note := st.Dim.Render(trunc("0,1 = c_{k-2}, c_{k-1} · * = changed since the last genotype", p.w))
	if hasRuleless(g) {
		note = st.Dim.Render(trunc("no rule: parameter-free op (pool, none, stride-1 skip)", p.w)) + "\n" + note
	}
	return fit(trunc(head, p.w)+"\n"+body+"\n"+legend+"\n"+note, p.w, p.h)
}

// actingRules are the rules of the genotype's edges whose rule acts (see
// search.Edge.RuleActs), in order of first use.
func actingRules(g *lab.Genotype) []rule.Rule {
	var out []rule.Rule
	for i, c := range []lab.CellGenotype{g.Normal, g.Reduce} {
		for _, e := range c.Edges {
			if e.RuleActs(i == 1) && !slices.Contains(out, e.Rule) {
				out = append(out, e.Rule)
			}
		}
	}
	return out
}

// hasRuleless reports whether some edge of g has a rule label that does
// not act.
func hasRuleless(g *lab.Genotype) bool {
	for i, c := range []lab.CellGenotype{g.Normal, g.Reduce} {
		for _, e := range c.Edges {
			if !e.RuleActs(i == 1) {
				return true
			}
		}
	}
	return false
}

func cellOf(g *lab.Genotype, reduce bool) *lab.CellGenotype {
	if g == nil {
		return nil
	}
	if reduce {
		return &g.Reduce
	}
	return &g.Normal
}

// ruleLegend shows each rule in use in its colour with a few words.
func ruleLegend(st *Styles, rules []rule.Rule, w int) string {
	var parts []string
	for _, r := range rules {
		d := r.Name()
		parts = append(parts, st.Rule(r).Render("■ "+string(r))+" "+st.Dim.Render(d))
	}
	// Pack into lines of width w.
	var lines []string
	line := ""
	for _, x := range parts {
		if line != "" && lipgloss.Width(line)+3+lipgloss.Width(x) > w {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += "   "
		}
		line += x
	}
	if line != "" {
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

// drawCell draws one cell (a reduction cell if reduce) as a DAG: a lane
// per state, a row per edge from its source lane (●) to its target lane
// (▶), and a last row gathering the concatenated nodes into the cell
// output. An edge whose rule does not act is drawn dim, without its rule.
func drawCell(st *Styles, title string, c lab.CellGenotype, prev *lab.CellGenotype, reduce bool) string {
	const lane = 3
	edges := slices.Clone(c.Edges)
	slices.SortStableFunc(edges, func(a, b lab.GenotypeEdge) int {
		if a.To != b.To {
			return a.To - b.To
		}
		return a.From - b.From
	})
	nStates := 2
	for _, e := range edges {
		nStates = max(nStates, e.To+1, e.From+1)
	}
	for _, k := range c.Concat {
		nStates = max(nStates, k+1)
	}
	rows := len(edges) + 1 // the edges, then the output
	// Each state's lane is alive from the row it is made to the row it is
	// last used (inputs from the top; concatenated nodes to the bottom).
	first := make([]int, nStates)
	last := make([]int, nStates)
	for i := range first {
		first[i], last[i] = rows, -1
	}
	first[0], first[1] = 0, 0
	for r, e := range edges {
		first[e.To] = min(first[e.To], r)
		last[e.From] = max(last[e.From], r)
		last[e.To] = max(last[e.To], r)
	}
	for _, k := range c.Concat {
		last[k] = rows - 1
	}
	alive := func(i, r int) bool { return first[i] <= r && r <= last[i] }
	x := func(i int) int { return 1 + i*lane }
	gw := x(nStates-1) + 2
	var b strings.Builder
	concat := make([]string, len(c.Concat))
	for i, k := range c.Concat {
		concat[i] = fmt.Sprint(k)
	}
	b.WriteString(st.Bold.Render(title) + st.Dim.Render(" → concat "+strings.Join(concat, ",")) + "\n")
	hdr := []rune(strings.Repeat(" ", gw))
	for i := range nStates {
		hdr[x(i)] = []rune(fmt.Sprint(i % 10))[0]
	}
	b.WriteString(st.Dim.Render(string(hdr)) + "\n")
	for r, e := range edges {
		line := make([]string, gw)
		for i := range gw {
			line[i] = " "
		}
		for i := range nStates {
			if alive(i, r) {
				line[x(i)] = st.Dim.Render("│")
			}
		}
		rs, rl := st.Rule(e.Rule), string(e.Rule)
		if !e.RuleActs(reduce) {
			rs, rl = st.Dim, ""
		}
		for col := x(e.From) + 1; col < x(e.To); col++ {
			ch := "─"
			for i := e.From + 1; i < e.To; i++ {
				if col == x(i) && alive(i, r) {
					ch = "┼"
				}
			}
			line[col] = rs.Render(ch)
		}
		line[x(e.From)] = rs.Render("●")
		line[x(e.To)] = rs.Render("▶")
		mark := " "
		if prev != nil && !slices.Contains(prev.Edges, e) {
			mark = "*"
		}
		label := padRight(string(e.Op), 13) + rs.Render(rl)
		b.WriteString(strings.Join(line, "") + mark + label + "\n")
	}
	// The output row: the concatenated nodes join into c_k.
	line := make([]string, gw)
	for i := range gw {
		line[i] = " "
	}
	lo, hi := nStates, -1
	for _, k := range c.Concat {
		lo, hi = min(lo, k), max(hi, k)
	}
	for i := range nStates {
		if alive(i, rows-1) && !slices.Contains(c.Concat, i) {
			line[x(i)] = st.Dim.Render("│")
		}
	}
	if hi >= 0 {
		for col := x(lo); col < gw; col++ {
			line[col] = st.Dim.Render("─")
		}
		for _, k := range c.Concat {
			line[x(k)] = st.Dim.Render("┴")
		}
		line[x(lo)] = st.Dim.Render("└")
	}
	b.WriteString(strings.Join(line, "") + st.Dim.Render("▶ out"))
	return b.String()
}

// wrapAny breaks text into w-column lines at any character.
func wrapAny(s string, w int) string {
	if w <= 0 {
		return s
	}
	var lines []string
	for _, para := range strings.Split(s, "\n") {
		r := []rune(para)
		for len(r) > w {
			lines = append(lines, string(r[:w]))
			r = r[w:]
		}
		lines = append(lines, string(r))
	}
	return strings.Join(lines, "\n")
}

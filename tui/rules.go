package tui

import (
	"fmt"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/nn/rule"
)

// rulesPane is the rule editor: the discrete network's rule layers as a
// table whose rules the user changes with keys (one layer, its edge, or
// all), then retrains as a child run; and a comparison of a run with its
// parent.
//
// Each layer shows where it sits as the other panes and the CLI name it:
// its cell (counted from 0, as "cells.3.…" layer names and "cell3"
// selectors count; reduction cells marked), its edge as the genotype
// draws it (0→2), its op and its part in the op (dw1, pw1, …), its rule,
// and the selector that reaches it (cell3.edge2: the whole edge, as
// bionas train --rule-override takes it). A rule layer can take any
// feedback rule (bp, fa, dfa, usf, brsf, frsf); Hebbian and
// predictive-coding layers are conv kinds the search picked, with no
// other rule to take, so ←/→ offers them nothing.
type rulesPane struct {
	s       *state
	w, h    int
	layers  []lab.LayerInfo
	have    string // the key of the layers held
	want    string // the key being fetched
	err     error
	pending map[string]rule.Rule // layer name → new rule
	cursor  int
	offset  int
	compare bool

	kRule, kAll, kEdge, kUndo, kRetrain, kCompare key.Binding
}

func newRulesPane(s *state) *rulesPane {
	return &rulesPane{s: s, pending: map[string]rule.Rule{},
		kRule:    bind([]string{"left", "right", "h", "l"}, "←/→", "change rule"),
		kAll:     bind([]string{"a"}, "a", "all layers to this rule"),
		kEdge:    bind([]string{"e"}, "e", "edge to this rule"),
		kUndo:    bind([]string{"u"}, "u", "undo edits"),
		kRetrain: bind([]string{"r"}, "r", "retrain as child"),
		kCompare: bind([]string{"c"}, "c", "compare with parent"),
	}
}

func (p *rulesPane) Name() string     { return "Rules" }
func (p *rulesPane) SetSize(w, h int) { p.w, p.h = w, h }
func (p *rulesPane) Capturing() bool  { return false }

func (p *rulesPane) Title() string {
	if c := p.s.cur; c != nil {
		if p.compare && c.Info.Parent != "" {
			return "Rules · " + c.Info.ID + " vs parent " + c.Info.Parent
		}
		return "Rules · " + c.Info.ID
	}
	return "Rules"
}

func (p *rulesPane) Keys() []key.Binding {
	has := len(p.layers) > 0 && !p.compare
	for _, b := range []*key.Binding{&p.kRule, &p.kAll, &p.kEdge} {
		b.SetEnabled(has)
	}
	p.kUndo.SetEnabled(len(p.pending) > 0)
	p.kRetrain.SetEnabled(has)
	p.kCompare.SetEnabled(p.s.cur != nil && p.s.cur.Info.Parent != "")
	return []key.Binding{keyUp, keyDown, p.kRule, p.kAll, p.kEdge, p.kUndo, p.kRetrain, p.kCompare}
}

// layersMsg is the answer to a layer listing.
type layersMsg struct {
	key    string
	layers []lab.LayerInfo
	err    error
}

func (p *rulesPane) layersKey() string {
	c := p.s.cur
	if c == nil {
		return ""
	}
	return fmt.Sprint(c.Info.ID, "/", c.ver.layers, "/", c.ver.genotype)
}

// sync fetches the layers of the selected run when they may have changed.
func (p *rulesPane) Sync() tea.Cmd {
	k := p.layersKey()
	if k == "" {
		p.layers, p.have, p.err = nil, "", nil
		return nil
	}
	if k == p.have || k == p.want {
		return nil
	}
	p.want = k
	l, id, ctx := p.s.lab, p.s.cur.Info.ID, p.s.ctx
	return func() tea.Msg {
		ls, err := l.Layers(ctx, id)
		return layersMsg{key: k, layers: ls, err: err}
	}
}

func (p *rulesPane) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case layersMsg:
		if msg.key != p.want {
			return nil
		}
		sameRun := strings.SplitN(p.have, "/", 2)[0] == strings.SplitN(msg.key, "/", 2)[0]
		p.have, p.want, p.layers, p.err = msg.key, "", msg.layers, msg.err
		if !sameRun {
			clear(p.pending)
			p.cursor, p.offset = 0, 0
			p.compare = p.s.cur != nil && p.s.cur.Info.Kind == lab.KindRetrain
		}
		for name := range p.pending { // forget edits of layers that are gone
			if !slices.ContainsFunc(p.layers, func(l lab.LayerInfo) bool { return l.Name == name }) {
				delete(p.pending, name)
			}
		}
	case tea.KeyMsg:
		return p.key(msg)
	case paneMouse:
		switch msg.Button {
		case tea.MouseButtonWheelUp:
			p.cursor--
		case tea.MouseButtonWheelDown:
			p.cursor++
		case tea.MouseButtonLeft:
			if msg.Y >= 2 {
				p.cursor = p.offset + msg.Y - 2
			}
		}
		p.cursor = min(max(p.cursor, 0), max(len(p.layers)-1, 0))
	}
	return nil
}

func (p *rulesPane) rule(l lab.LayerInfo) rule.Rule {
	if r, ok := p.pending[l.Name]; ok {
		return r
	}
	return l.Rule
}

func (p *rulesPane) set(l lab.LayerInfo, r rule.Rule) {
	if !l.Rule.IsFeedback() || !r.IsFeedback() {
		return // Hebbian and predictive-coding layers are kinds, not rules
	}
	if r == l.Rule {
		delete(p.pending, l.Name)
	} else {
		p.pending[l.Name] = r
	}
}

func (p *rulesPane) key(msg tea.KeyMsg) tea.Cmd {
	if key.Matches(msg, p.kCompare) && p.kCompare.Enabled() {
		p.compare = !p.compare
		return nil
	}
	if p.compare || len(p.layers) == 0 {
		return nil
	}
	p.cursor = min(max(p.cursor, 0), len(p.layers)-1)
	cur := p.layers[p.cursor]
	switch {
	case key.Matches(msg, keyUp):
		p.cursor = max(p.cursor-1, 0)
	case key.Matches(msg, keyDown):
		p.cursor = min(p.cursor+1, len(p.layers)-1)
	case key.Matches(msg, p.kRule):
		if !cur.Rule.IsFeedback() {
			p.s.say(fmt.Sprintf("%s is a %s layer: its learning rule is its kind", cur.Name, cur.Rule))
			return nil
		}
		d := 1
		if s := msg.String(); s == "left" || s == "h" {
			d = -1
		}
		p.set(cur, cycle(rule.Feedback, p.rule(cur), d))
	case key.Matches(msg, p.kAll):
		r := p.rule(cur)
		if !r.IsFeedback() {
			p.s.say(fmt.Sprintf("%s is a layer kind, not a rule other layers can take", r))
			return nil
		}
		for _, l := range p.layers {
			p.set(l, r)
		}
		p.s.say("all layers → " + string(r) + " (r retrains)")
	case key.Matches(msg, p.kEdge):
		if cur.Edge == "" {
			return nil
		}
		r := p.rule(cur)
		for _, l := range p.layers {
			if l.Edge == cur.Edge {
				p.set(l, r)
			}
		}
	case key.Matches(msg, p.kUndo):
		clear(p.pending)
	case key.Matches(msg, p.kRetrain):
		edits := p.edits()
		var es []string
		for _, e := range edits {
			es = append(es, e.String())
		}
		if len(es) == 0 {
			es = []string{"no edits"}
		}
		parent := p.s.cur.Info.ID
		return labRun(func() (lab.RunInfo, error) { return p.s.lab.Retrain(parent, edits) }, labRunMsg{
			what: "retrain", sel: true,
			onOK: func() { clear(p.pending) },
			say: func(info lab.RunInfo) string {
				return startedSay(p.s.lab, info, fmt.Sprintf("retrain of %s (%s)", info.Parent, strings.Join(es, " ")))
			}})
	}
	return nil
}

// edits turns the pending changes into rule edits with the widest
// selectors that say exactly them: "all" when every rule layer gets the
// same rule, else "cellN" for a cell whose rule layers all get one rule,
// "cellN.edgeM" for such an edge, and the layer's name for the rest. The
// selectors are the CLI's (bionas train --rule-override).
func (p *rulesPane) edits() []lab.RuleEdit {
	if len(p.pending) == 0 {
		return nil
	}
	// uniform reports the one rule of the editable layers that in
	// selects, with one of them pending.
	uniform := func(in func(lab.LayerInfo) bool) (rule.Rule, bool) {
		var r rule.Rule
		some, pending := false, false
		for _, l := range p.layers {
			if !in(l) || !l.Rule.IsFeedback() {
				continue
			}
			lr := p.rule(l)
			if some && lr != r {
				return "", false
			}
			r, some = lr, true
			_, isP := p.pending[l.Name]
			pending = pending || isP
		}
		return r, some && pending
	}
	if r, ok := uniform(func(lab.LayerInfo) bool { return true }); ok {
		return []lab.RuleEdit{{Selector: "all", Rule: r}}
	}
	var out []lab.RuleEdit
	done := map[string]bool{} // layers an edit already covers
	cover := func(sel string, r rule.Rule, in func(lab.LayerInfo) bool) {
		out = append(out, lab.RuleEdit{Selector: sel, Rule: r})
		for _, l := range p.layers {
			if in(l) {
				done[l.Name] = true
			}
		}
	}
	seen := map[string]bool{}
	for _, l := range p.layers {
		if _, ok := p.pending[l.Name]; !ok || done[l.Name] {
			continue
		}
		if l.Cell >= 0 && !seen[fmt.Sprint("cell", l.Cell)] {
			seen[fmt.Sprint("cell", l.Cell)] = true
			inCell := func(x lab.LayerInfo) bool { return x.Cell == l.Cell }
			if r, ok := uniform(inCell); ok && p.cellWide(l.Cell) {
				cover(fmt.Sprintf("cell%d", l.Cell), r, inCell)
				continue
			}
		}
		if l.Edge != "" && !seen[l.Edge] {
			seen[l.Edge] = true
			inEdge := func(x lab.LayerInfo) bool { return x.Edge == l.Edge }
			if r, ok := uniform(inEdge); ok {
				cover(l.Edge, r, inEdge)
				continue
			}
		}
		out = append(out, lab.RuleEdit{Selector: l.Name, Rule: p.pending[l.Name]})
		done[l.Name] = true
	}
	return out
}

// cellWide reports whether a cell selector ("cell3") would reach exactly
// the cell's layers listed: those of the engine, which lists every rule
// layer of a cell (its preprocessing included), and not a backend's
// partial list.
func (p *rulesPane) cellWide(cell int) bool {
	for _, l := range p.layers {
		if l.Cell == cell && strings.HasPrefix(layerPart(l), "pre") {
			return true
		}
	}
	return false
}

// layerPart is where a layer sits in its edge's op or its cell
// (LayerInfo.Part, or read from the name for layers listed without it).
func layerPart(l lab.LayerInfo) string {
	if l.Part != "" || l.Cell < 0 {
		return l.Part
	}
	rest, ok := strings.CutPrefix(l.Name, fmt.Sprintf("cells.%d.", l.Cell))
	if !ok {
		return ""
	}
	if l.Edge != "" {
		_, after, _ := strings.Cut(rest, ".op")
		return strings.TrimPrefix(after, ".")
	}
	return rest
}

// layerCell is a layer's cell as the table shows it: "cell1 reduce",
// "cell0 normal" ("cell2" when the backend does not say), or the layer's
// name outside the cells.
func layerCell(l lab.LayerInfo) string {
	if l.Cell < 0 {
		return l.Name
	}
	s := fmt.Sprintf("cell%d", l.Cell)
	switch {
	case l.Reduce:
		return s + " reduce"
	case l.FromTo != "" || l.Part != "":
		return s + " normal"
	}
	return s
}

// layerEdge is a layer's edge as the genotype draws it ("0→2"), or its
// cell input ("pre0"), or the edge selector's index when the backend
// gives no more.
func layerEdge(l lab.LayerInfo) string {
	switch {
	case l.FromTo != "":
		return l.FromTo
	case l.Edge != "":
		if _, e, ok := strings.Cut(l.Edge, "."); ok {
			return e
		}
		return l.Edge
	case l.Cell >= 0:
		pre, _, _ := strings.Cut(layerPart(l), ".")
		return pre
	}
	return ""
}

// layerSub is a layer's part inside its op ("dw1") or its cell input
// ("conv").
func layerSub(l lab.LayerInfo) string {
	part := layerPart(l)
	if l.Edge == "" && l.Cell >= 0 {
		_, sub, _ := strings.Cut(part, ".")
		return sub
	}
	return part
}

// layerSelector is the widest selector that reaches the layer and no
// other edge or cell input: its edge ("cell3.edge2"), its cell input
// ("cells.3.pre0"), or its name.
func layerSelector(l lab.LayerInfo) string {
	switch {
	case l.Edge != "":
		return l.Edge
	case l.Cell >= 0:
		if pre := layerEdge(l); pre != "" {
			return fmt.Sprintf("cells.%d.%s", l.Cell, pre)
		}
	}
	return l.Name
}

// rulesCycle is the line that says which rules ←/→ offers.
const rulesCycle = "←/→ bp fa dfa usf brsf frsf · hebb, pc layers: fixed kinds"

func (p *rulesPane) View(bool) string {
	c := p.s.cur
	if c == nil {
		return fit("No run selected.", p.w, p.h)
	}
	if p.compare && c.Info.Parent != "" {
		return p.comparison(c)
	}
	st := p.s.st
	if p.err != nil {
		return fit(wrap(p.err.Error(), p.w), p.w, p.h)
	}
	if len(p.layers) == 0 {
		return fit("Loading the network's layers…", p.w, p.h)
	}
	p.cursor = min(max(p.cursor, 0), len(p.layers)-1)
	var b strings.Builder
	what := "network of the genotype of"
	if c.Info.Kind != lab.KindSearch {
		what = "network trained by"
	}
	b.WriteString(trunc(fmt.Sprintf("%s %s · %d rule layers · %d edit%s pending", what, c.Info.ID, len(p.layers), len(p.pending), plural(len(p.pending))), p.w) + "\n")
	// Columns: cell, edge, op, part, rule, selector, and the weight's
	// shape where it fits.
	const cellW, edgeW, opW, partW, ruleW = 13, 6, 6, 7, 11
	selW, shapeW := 9, 6
	shapes := make([]string, len(p.layers))
	for i, l := range p.layers {
		selW = max(selW, len(layerSelector(l))+1)
		sh := make([]string, len(l.Shape))
		for k, d := range l.Shape {
			sh[k] = fmt.Sprint(d)
		}
		shapes[i] = strings.Join(sh, "×")
		shapeW = max(shapeW, ansi.StringWidth(shapes[i]))
	}
	fixed := 2 + cellW + edgeW + opW + partW + ruleW
	showShape := fixed+selW+shapeW <= p.w
	head := "  " + padRight("cell", cellW) + padRight("edge", edgeW) + padRight("op", opW) + padRight("part", partW) + padRight("rule", ruleW) + padRight("selector", selW)
	if showShape {
		head += "shape"
	}
	b.WriteString(st.Dim.Render(trunc(head, p.w)) + "\n")
	cur := p.layers[p.cursor]
	detail := p.detail(cur)
	bottom := packDots(detail, p.w)
	lh := max(p.h-2-len(bottom)-2, 1)
	if len(bottom) > 1 && lh < 8 {
		bottom = []string{trunc(strings.Join(detail, " · "), p.w)}
		lh = max(p.h-2-1-2, 1)
	}
	if p.cursor < p.offset {
		p.offset = p.cursor
	}
	if p.cursor >= p.offset+lh {
		p.offset = p.cursor - lh + 1
	}
	p.offset = min(max(p.offset, 0), max(len(p.layers)-lh, 0))
	for i := p.offset; i < min(p.offset+lh, len(p.layers)); i++ {
		l := p.layers[i]
		mark := "  "
		if i == p.cursor {
			mark = st.Bold.Render("▸ ")
		}
		where := layerCell(l)
		if l.Reduce {
			n, kind, _ := strings.Cut(where, " ")
			where = n + " " + st.Bold.Render(kind)
		}
		r := st.Rule(l.Rule).Render(string(l.Rule))
		if nr, ok := p.pending[l.Name]; ok {
			r = st.Dim.Render(string(l.Rule)+"→") + st.Rule(nr).Render(string(nr)) + "*"
		}
		var line string
		if l.Cell < 0 { // the stem and the heads: the name says where
			line = mark + padRight(where, cellW+edgeW) + padRight(opShort(l.Op), opW) + padRight("", partW)
		} else {
			line = mark + padRight(where, cellW) + padRight(layerEdge(l), edgeW) + padRight(opShort(l.Op), opW) + padRight(layerSub(l), partW)
		}
		line += padRight(r, ruleW) + padRight(st.Dim.Render(layerSelector(l)), selW)
		if showShape {
			line += shapes[i]
		}
		b.WriteString(line + "\n")
	}
	for i := len(p.layers) - p.offset; i < lh; i++ {
		b.WriteString("\n")
	}
	for _, l := range bottom {
		b.WriteString(l + "\n")
	}
	b.WriteString(st.Dim.Render(trunc(rulesCycle, p.w)) + "\n")
	hint := "r retrains " + c.Info.ID + " as a child run"
	if len(p.pending) > 0 {
		var es []string
		for _, e := range p.edits() {
			es = append(es, e.String())
		}
		hint += " with " + strings.Join(es, " ")
	}
	b.WriteString(st.Dim.Render(trunc(hint, p.w)))
	return fit(b.String(), p.w, p.h)
}

// detail describes the cursor's layer: its position in the list, its full
// name (the selector of this layer alone), its cell and edge in words, and
// what e or ←/→ would do to it.
func (p *rulesPane) detail(l lab.LayerInfo) []string {
	parts := []string{fmt.Sprintf("%d/%d %s", p.cursor+1, len(p.layers), l.Name)}
	if l.Cell >= 0 {
		kind := ""
		switch {
		case l.Reduce:
			kind = " (reduce)"
		case l.FromTo != "" || l.Part != "":
			kind = " (normal)"
		}
		parts = append(parts, fmt.Sprintf("cell %d%s", l.Cell, kind))
	}
	if l.Edge != "" {
		_, e, _ := strings.Cut(l.Edge, ".edge")
		edge := "edge " + e
		if l.FromTo != "" {
			edge += " = " + l.FromTo
		}
		if l.Op != "" {
			edge += " " + l.Op
		}
		parts = append(parts, edge)
	}
	if !l.Rule.IsFeedback() {
		return append(parts, fmt.Sprintf("%s is this layer's kind: no other rule", l.Rule))
	}
	if l.Edge != "" {
		parts = append(parts, "e: all of "+l.Edge)
	}
	return parts
}

// comparison shows a run beside its parent.
func (p *rulesPane) comparison(c *runData) string {
	st := p.s.st
	parent, err := p.s.lab.Snapshot(c.Info.Parent)
	if err != nil {
		return fit(err.Error(), p.w, p.h)
	}
	colW := max((p.w-16)/2, 12)
	row := func(label, a, b string) string {
		return padRight(label, 16) + padRight(a, colW-1) + " " + padRight(b, colW-1)
	}
	var es []string
	for _, e := range c.Info.Edits {
		es = append(es, e.String())
	}
	if len(es) == 0 {
		es = []string{"none"}
	}
	lines := []string{
		trunc(c.Info.ID+" "+c.Info.Title()+" · edits: "+strings.Join(es, " "), p.w),
		"",
		st.Bold.Render(row("", "parent "+parent.Info.ID, "child "+c.Info.ID)),
		row("kind", string(parent.Info.Kind), string(c.Info.Kind)),
		row("status", st.Status(parent.Info.Status).Render(string(parent.Info.Status)), st.Status(c.Info.Status).Render(string(c.Info.Status))),
		row("steps", fmt.Sprintf("%d/%d", parent.Info.Last.Step, parent.Info.Last.TotalSteps), fmt.Sprintf("%d/%d", c.Info.Last.Step, c.Info.Last.TotalSteps)),
		row("train loss", num(parent.Info.Last.Loss), num(c.Info.Last.Loss)),
		row("train acc", pct(parent.Info.Last.Acc), pct(c.Info.Last.Acc)),
		row("val acc", pct(parent.Info.Last.ValAcc), pct(c.Info.Last.ValAcc)),
		row("test acc", pct(parent.Info.Last.TestAcc), pct(c.Info.Last.TestAcc)),
	}
	// The rules in use, wrapped so that no count is cut.
	pr, cr := packDots(ruleCountParts(st, parent.Layers), colW-3), packDots(ruleCountParts(st, c.Layers), colW-3)
	for i := range max(len(pr), len(cr)) {
		label, a, b := "", "", ""
		if i == 0 {
			label = "rules"
		}
		if i < len(pr) {
			a = pr[i]
		}
		if i < len(cr) {
			b = cr[i]
		}
		lines = append(lines, row(label, a, b))
	}
	lines = append(lines, row("acc curve", sparkline(accCurve(parent.Points), colW-2), sparkline(accCurve(c.Points), colW-2)))
	if d := c.Info.Last.TestAcc - parent.Info.Last.TestAcc; c.Info.Last.TestAcc != 0 && parent.Info.Last.TestAcc != 0 {
		sty := st.OK
		if d < 0 {
			sty = st.Err
		}
		change := "test accuracy change: " + sty.Render(fmt.Sprintf("%+.2f points", 100*d))
		// A run that has not finished has no result yet: its number is
		// where it stands now, and the change says so.
		var so []string
		for _, r := range []lab.RunInfo{parent.Info, c.Info} {
			if mark := provisional(r); mark != "" {
				so = append(so, r.ID+" "+mark)
			}
		}
		if len(so) > 0 {
			change += st.Warn.Render(" so far: " + strings.Join(so, ", ") + " not finished")
		}
		lines = append(lines, "")
		lines = append(lines, strings.Split(wrap(change, p.w), "\n")...)
	}
	lines = append(lines, "", st.Dim.Render("c returns to the layer table"))
	return fit(strings.Join(lines, "\n"), p.w, p.h)
}

// ruleCountParts summarises the rules of some layers: "fa 8", "bp 2", …
func ruleCountParts(st *Styles, ls []lab.LayerInfo) []string {
	if len(ls) == 0 {
		return []string{"–"}
	}
	n := map[rule.Rule]int{}
	var order []rule.Rule
	for _, l := range ls {
		if n[l.Rule] == 0 {
			order = append(order, l.Rule)
		}
		n[l.Rule]++
	}
	parts := make([]string, len(order))
	for i, r := range order {
		parts[i] = st.Rule(r).Render(string(r)) + fmt.Sprintf(" %d", n[r])
	}
	return parts
}

// accCurve is the accuracy per point: val or test per epoch when there are
// epochs, else train per step.
func accCurve(pts []lab.Event) []float64 {
	var ep, steps []float64
	for _, e := range pts {
		switch {
		case e.Kind == lab.EventEpoch && (e.ValAcc > 0 || e.TestAcc > 0):
			ep = append(ep, max(e.ValAcc, e.TestAcc))
		case e.Kind == lab.EventStep && e.Acc > 0:
			steps = append(steps, e.Acc)
		}
	}
	if len(ep) > 1 {
		return ep
	}
	return steps
}

package tui

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/NimbleMarkets/ntcharts/canvas"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/nn/rule"
	"github.com/bionaslab/bionas/search"
)

// alphasPane draws a search's architecture weights as a heatmap: one row
// per edge of the cell, one column per computation the supernet's mixed op
// weighs (an (op, rule) pair with parameters, or a parameter-free op whose
// rule-labelled copies are one computation), softmax weights as colour —
// or, on a monochrome terminal or on request, as a glyph ramp. It is drawn
// on an ntcharts canvas with its own labelled axes (ntcharts' heatmap type
// has no labels and is blank without colour).
//
// The colour scale is each edge's own min→max (m: one scale for the
// cell), and says so with the range under the map. A scale never
// stretches less than a quarter of the uniform weight 1/pairs: an edge
// whose weights are closer than that (α still near their initialisation)
// is marked ≈ and drawn near the middle of the ramp, not as noise over it.
type alphasPane struct {
	s        *state
	w, h     int
	reduce   bool
	glyphs   bool // forced glyph mode (always on a monochrome terminal)
	global   bool // one scale for the whole cell instead of one per edge
	cx, cy   int  // the cursor cell: column, edge
	colOff   int
	rowOff   int
	key      string
	cache    string
	geometry heatGeometry

	kCell, kGlyph, kScale key.Binding
}

func newAlphasPane(s *state) *alphasPane {
	return &alphasPane{s: s,
		kCell:  bind([]string{"c"}, "c", "normal/reduce"),
		kGlyph: bind([]string{"g"}, "g", "glyphs/colour"),
		kScale: bind([]string{"m"}, "m", "scale per edge/cell"),
	}
}

func (p *alphasPane) Name() string     { return "Alphas" }
func (p *alphasPane) SetSize(w, h int) { p.w, p.h = w, h }
func (p *alphasPane) Sync() tea.Cmd    { return nil }
func (p *alphasPane) Capturing() bool  { return false }
func (p *alphasPane) Keys() []key.Binding {
	return []key.Binding{keyUp, keyDown, keyLeft, keyRight, p.kCell, p.kGlyph, p.kScale}
}

func (p *alphasPane) Title() string {
	t := "Alphas"
	if c := p.s.cur; c != nil {
		t += " · " + c.Info.ID
	}
	if p.reduce {
		return t + " · reduction cell"
	}
	return t + " · normal cell"
}

func (p *alphasPane) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.KeyMsg:
		switch {
		case key.Matches(msg, keyUp):
			p.cy--
		case key.Matches(msg, keyDown):
			p.cy++
		case key.Matches(msg, keyLeft):
			p.cx--
		case key.Matches(msg, keyRight):
			p.cx++
		case key.Matches(msg, p.kCell):
			p.reduce = !p.reduce
		case key.Matches(msg, p.kGlyph):
			p.glyphs = !p.glyphs
		case key.Matches(msg, p.kScale):
			p.global = !p.global
		}
	case paneMouse:
		if msg.Button == tea.MouseButtonLeft {
			if col, row, ok := p.geometry.hit(msg.X, msg.Y); ok {
				p.cx, p.cy = col, row
			}
		}
	}
	return nil
}

// heatGeometry says where the last drawn heatmap's cells are, for mouse
// hits: visible column i spans x in [xs[i], xs[i+1]) and is column
// colOff+i; row r is at y = y0 + r and is edge rowOff+r.
type heatGeometry struct {
	xs             []int // len(visible columns)+1 boundaries
	y0             int
	colOff, rowOff int
	cols, rows     int
	visR           int
}

func (g heatGeometry) hit(x, y int) (col, row int, ok bool) {
	if len(g.xs) < 2 || y < g.y0 || y-g.y0 >= g.visR {
		return 0, 0, false
	}
	for i := range len(g.xs) - 1 {
		if x >= g.xs[i] && x < g.xs[i+1] {
			col, row = g.colOff+i, g.rowOff+y-g.y0
			return col, row, col < g.cols && row < g.rows
		}
	}
	return 0, 0, false
}

func (p *alphasPane) View(bool) string {
	c := p.s.cur
	if c == nil {
		return fit("No run selected.", p.w, p.h)
	}
	a := c.Alphas
	if a == nil {
		msg := "Only searches have architecture weights."
		if c.Info.Kind == lab.KindSearch {
			msg = "Waiting for the first alphas (a search reports them as it starts, then as they move)…"
		}
		return fit(wrap(msg, p.w), p.w, p.h)
	}
	m := a.Normal
	if p.reduce {
		m = a.Reduce
	}
	if len(m) == 0 || len(a.Pairs) == 0 {
		return fit("This snapshot has no weights for this cell.", p.w, p.h)
	}
	k := fmt.Sprint(c.Info.ID, c.ver.alphas, c.ver.info, p.w, p.h, p.reduce, p.glyphs, p.global, p.cx, p.cy)
	if k != p.key {
		p.key, p.cache = k, p.render(c, a, m)
	}
	return p.cache
}

// heatIndex maps v in [lo, hi] to one of n buckets (the lowest when the
// range is empty).
func heatIndex(v, lo, hi float32, n int) int {
	if hi <= lo || n <= 1 {
		return 0
	}
	i := int((v - lo) / (hi - lo) * float32(n))
	return min(max(i, 0), n-1)
}

// glyphRamp is the monochrome scale, from low to high.
var glyphRamp = []rune(" ░▒▓█")

// opShort abbreviates DARTS op names for column labels.
func opShort(op string) string {
	switch op {
	case "max_pool_3x3":
		return "max"
	case "avg_pool_3x3":
		return "avg"
	case "skip_connect":
		return "skip"
	case "sep_conv_3x3":
		return "sep3"
	case "sep_conv_5x5":
		return "sep5"
	case "dil_conv_3x3":
		return "dil3"
	case "dil_conv_5x5":
		return "dil5"
	case "conv_3x3":
		return "conv3"
	case "conv_1x1":
		return "conv1"
	}
	return op
}

// ruleShort is a rule's two-letter column label.
func ruleShort(r string) string {
	switch r {
	case "usf":
		return "us"
	case "brsf":
		return "br"
	case "frsf":
		return "fr"
	case "hebb":
		return "hb"
	case "dfa":
		return "df"
	}
	if len(r) > 2 {
		return r[:2]
	}
	return r
}

// heatCol is one column of the heatmap: the pairs (α columns of the
// snapshot) that the supernet's mixed op computes as one.
type heatCol struct {
	op    search.Op
	rule  rule.Rule // "" when no rule acts: a parameter-free op
	pairs []int
}

// heatCols groups a cell's pairs into the computations its mixed ops
// weigh: one column per op whose rule acts on no edge of the cell (none,
// the pools, and skip in a normal cell: its copies are computed once, and
// merged here without a rule), one per other pair.
func heatCols(a *lab.Alphas, reduce bool) []heatCol {
	var cols []heatCol
	at := map[search.Op]int{}
	for k := range a.Pairs {
		pr := a.Pair(k)
		stride := 1 // every edge of a normal cell
		if reduce {
			stride = 2 // some edges of a reduction cell (those from its inputs)
		}
		if pr.RuleActs(stride) {
			cols = append(cols, heatCol{op: pr.Op, rule: pr.Rule, pairs: []int{k}})
			continue
		}
		if i, ok := at[pr.Op]; ok {
			cols[i].pairs = append(cols[i].pairs, k)
			continue
		}
		at[pr.Op] = len(cols)
		cols = append(cols, heatCol{op: pr.Op, pairs: []int{k}})
	}
	return cols
}

// edgeName is row e's edge, "0→2" (from the snapshot, else DARTS' order).
func edgeName(a *lab.Alphas, e int) string {
	if e < len(a.Edges) {
		return a.Edges[e]
	}
	i := 0
	for to := 2; ; to++ {
		for from := range to {
			if i == e {
				return fmt.Sprintf("%d→%d", from, to)
			}
			i++
		}
	}
}

// edgeFrom is the state an edge name starts from (−1 if unreadable).
func edgeFrom(name string) int {
	f, _, ok := strings.Cut(name, "→")
	if n, err := strconv.Atoi(f); ok && err == nil {
		return n
	}
	return -1
}

// heatCell is what one cell of the map shows.
type heatCell struct {
	v float32 // the α of one copy: the mean over the pairs computed as one
	n int     // how many pairs share the computation (1: a pair of its own)
}

// heatValues are a cell's values per edge and column. A column's value
// is its pairs' mean weight; in a reduction cell, the skip pairs of an
// edge from a node (stride 1: the identity) are one computation too.
func heatValues(a *lab.Alphas, m [][]float32, cols []heatCol, reduce bool) [][]heatCell {
	var skips []int
	for k := range a.Pairs {
		if a.Pair(k).Op == search.OpSkip {
			skips = append(skips, k)
		}
	}
	mean := func(row []float32, ks []int) float32 {
		var s float32
		n := 0
		for _, k := range ks {
			if k < len(row) {
				s += row[k]
				n++
			}
		}
		if n == 0 {
			return 0
		}
		return s / float32(n)
	}
	out := make([][]heatCell, len(m))
	for e, row := range m {
		stride := 1
		if reduce && edgeFrom(edgeName(a, e)) < 2 {
			stride = 2
		}
		out[e] = make([]heatCell, len(cols))
		for j, c := range cols {
			ks := c.pairs
			if c.rule != "" && !(search.Pair{Op: c.op, Rule: c.rule}).RuleActs(stride) {
				ks = skips // a reduction cell's skip on an edge from a node: the identity
			}
			out[e][j] = heatCell{v: mean(row, ks), n: len(ks)}
		}
	}
	return out
}

// heatScale is the range a colour ramp spans: [lo, hi] stretched to at
// least floor around its middle, so that near-equal weights are not
// spread over the whole ramp. flat reports that it was stretched.
func heatScale(vals []float32, floor float32) (lo, hi float32, flat bool) {
	lo, hi = 1, 0
	for _, v := range vals {
		if v == v { // a diverged (NaN) weight takes no part in the scale
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if hi < lo {
		return 0, 0, true
	}
	if hi-lo < floor {
		mid := (lo + hi) / 2
		return mid - floor/2, mid + floor/2, true
	}
	return lo, hi, false
}

// heatLayout is the width of each column: cw for a pair's column; for a
// merged column, wide enough for its op's name when the whole map fits in
// avail, else cw too.
func heatLayout(cols []heatCol, cw, avail int) (widths []int) {
	widths = make([]int, len(cols))
	total := 0
	for j, c := range cols {
		widths[j] = cw
		if c.rule == "" {
			widths[j] = max(cw, len(opShort(string(c.op)))+1)
		}
		total += widths[j]
	}
	if total > avail {
		for j := range widths {
			widths[j] = cw
		}
	}
	return widths
}

func (p *alphasPane) render(c *runData, a *lab.Alphas, m [][]float32) string {
	st := p.s.st
	glyphs := p.glyphs || st.Mono
	cols := heatCols(a, p.reduce)
	vals := heatValues(a, m, cols, p.reduce)
	nC, nE := len(cols), len(m)
	p.cy = min(max(p.cy, 0), nE-1)
	p.cx = min(max(p.cx, 0), nC-1)
	// A quarter of the uniform weight: the least spread drawn over the
	// whole ramp.
	floor := 0.25 / float32(len(a.Pairs))

	labelW := 6
	for e := range nE {
		labelW = max(labelW, ansi.StringWidth(edgeName(a, e))+3)
	}
	avail := max(p.w-labelW, 1)
	cw := 2
	if labelW+2*nC > p.w {
		cw = 1
	}
	widths := heatLayout(cols, cw, avail)
	// Lines: the stage, two header rows, the edges, the reading, the
	// scale, and (when there is room) notes.
	headRows := 2
	visR := max(p.h-3-headRows, 1)
	// Keep the cursor in view: rows, then columns of varying widths.
	if p.cy < p.rowOff {
		p.rowOff = p.cy
	}
	if p.cy >= p.rowOff+visR {
		p.rowOff = p.cy - visR + 1
	}
	p.rowOff = min(max(p.rowOff, 0), max(nE-visR, 0))
	p.colOff = min(max(p.colOff, 0), p.cx)
	span := func(from, to int) int { // columns from..to inclusive
		s := 0
		for j := from; j <= to; j++ {
			s += widths[j]
		}
		return s
	}
	for p.colOff < p.cx && span(p.colOff, p.cx) > avail {
		p.colOff++
	}
	for p.colOff > 0 && span(p.colOff-1, nC-1) <= avail {
		p.colOff-- // no empty space at the right while columns hide at the left
	}
	visC := 0
	for j := p.colOff; j < nC && span(p.colOff, j) <= avail; j++ {
		visC++
	}
	visC = max(visC, 1)
	visR = min(visR, nE-p.rowOff)
	xs := make([]int, visC+1)
	xs[0] = labelW
	for i := range visC {
		xs[i+1] = xs[i] + widths[p.colOff+i]
	}

	// The scales: the cell's, and each edge's.
	var all []float32
	for _, row := range vals {
		for _, hc := range row {
			all = append(all, hc.v)
		}
	}
	glo, ghi, gflat := heatScale(all, floor)
	rowScale := func(e int) (lo, hi float32, flat bool) {
		if p.global {
			return glo, ghi, gflat
		}
		rv := make([]float32, len(vals[e]))
		for j, hc := range vals[e] {
			rv[j] = hc.v
		}
		return heatScale(rv, floor)
	}

	cv := canvas.New(p.w, headRows+visR)
	// Axes: ops over rules across the top, edges down the left.
	cv.SetStringWithStyle(canvas.Point{X: 0, Y: 0}, "op", st.Dim)
	cv.SetStringWithStyle(canvas.Point{X: 0, Y: 1}, "rule", st.Dim)
	for j := 0; j < visC; {
		op := cols[p.colOff+j].op
		n := 1
		for j+n < visC && cols[p.colOff+j+n].op == op {
			n++
		}
		w := xs[j+n] - xs[j]
		label := opShort(string(op))
		if r := []rune(label); len(r) > w-1 {
			label = string(r[:max(w-1, 1)])
		}
		cv.SetStringWithStyle(canvas.Point{X: xs[j], Y: 0}, label, st.Bold)
		j += n
	}
	for j := range visC {
		r := cols[p.colOff+j].rule
		if r == "" { // a parameter-free op: no rule acts
			cv.SetStringWithStyle(canvas.Point{X: xs[j], Y: 1}, "–", st.Dim)
			continue
		}
		label := ruleShort(string(r))
		if w := xs[j+1] - xs[j]; len(label) > w {
			label = label[:w]
		}
		cv.SetStringWithStyle(canvas.Point{X: xs[j], Y: 1}, label, st.Rule(r))
	}
	nearUniform := 0
	for e := range nE {
		if _, _, flat := rowScale(e); flat {
			nearUniform++
		}
	}
	for i := range visR {
		e := p.rowOff + i
		y := headRows + i
		lo, hi, flat := rowScale(e)
		name := edgeName(a, e)
		if flat && !p.global {
			name = "≈ " + name
		}
		ls := st.Dim
		if e == p.cy {
			ls = st.Bold
		}
		cv.SetStringWithStyle(canvas.Point{X: labelW - 1 - ansi.StringWidth(name), Y: y}, name, ls)
		for j := range visC {
			k := p.colOff + j
			cur := e == p.cy && k == p.cx
			w := xs[j+1] - xs[j]
			v := vals[e][k].v
			for d := range w {
				pt := canvas.Point{X: xs[j] + d, Y: y}
				if glyphs {
					r := glyphRamp[heatIndex(v, lo, hi, len(glyphRamp))]
					if cur {
						switch {
						case w == 1:
							r = '◆'
						case d == 0:
							r = '['
						case d == w-1:
							r = ']'
						}
					}
					cv.SetCell(pt, canvas.NewCellWithStyle(r, st.Plain))
					continue
				}
				hs := st.Heat[heatIndex(v, lo, hi, len(st.Heat))]
				r := ' '
				if cur && d == 0 {
					r = '◆'
					hs = hs.Foreground(lipgloss.Color("#FF0000"))
				}
				cv.SetCell(pt, canvas.NewCellWithStyle(r, hs))
			}
		}
	}
	p.geometry = heatGeometry{xs: xs, y0: 1 + headRows, colOff: p.colOff, rowOff: p.rowOff, cols: nC, rows: nE, visR: visR}

	info := fmt.Sprintf("epoch %d · step %d · %d edges × %d pairs", a.Epoch, a.Step, nE, len(a.Pairs)) + p.stage(c, a)
	if p.colOff > 0 || p.colOff+visC < nC || p.rowOff > 0 || p.rowOff+visR < nE {
		info += fmt.Sprintf(" · cols %d-%d rows %d-%d", p.colOff+1, p.colOff+visC, p.rowOff+1, p.rowOff+visR)
	}
	read := p.readout(a, cols, vals)
	lo, hi, flat := rowScale(p.cy)
	var ramp string
	if glyphs {
		ramp = "low " + string(glyphRamp[1:]) + " high"
	} else {
		var sw strings.Builder
		for _, h := range st.Heat {
			sw.WriteString(h.Render(" "))
		}
		ramp = "low " + sw.String() + " high"
	}
	var scale string
	switch {
	case p.global && flat:
		scale = fmt.Sprintf("one scale for the cell: ≈ near uniform (spread < %.4f), not stretched · m per edge", floor)
	case p.global:
		scale = fmt.Sprintf("one scale for the cell: %.3f→%.3f · m per edge", lo, hi)
	case flat:
		scale = fmt.Sprintf("per edge: this edge ≈ near uniform (spread %.4f < %.4f), not stretched · m one scale", rowSpread(vals[p.cy]), floor)
	default:
		scale = fmt.Sprintf("per edge (row min→max): this edge %.3f→%.3f · m one scale", lo, hi)
	}
	var notes []string
	if nearUniform > 0 && !p.global {
		notes = append(notes, fmt.Sprintf("≈ %d edge%s near uniform: spread < ¼ of 1/%d", nearUniform, plural(nearUniform), len(a.Pairs)))
	}
	if nC != len(a.Pairs) {
		notes = append(notes, "– no rule: none, pools, stride-1 skip (copies merged)")
	}
	notes = append(notes, "0,1 = cell inputs")
	// The lines under the map, wrapped at " · " where there is room: the
	// reading and the scale first, then the notes.
	room := p.h - 1 - headRows - visR
	out := trunc(info, p.w) + "\n" + cv.View()
	for i, block := range [][]string{
		strings.Split(read, " · "),
		append([]string{ramp}, dimAll(st, strings.Split(scale, " · "))...),
		dimAll(st, notes),
	} {
		lines := packDots(block, p.w)
		if len(lines) > room {
			if i == 2 || room < 1 {
				break
			}
			lines = []string{trunc(strings.Join(block, " · "), p.w)}
		}
		for _, l := range lines {
			out += "\n" + l
		}
		room -= len(lines)
	}
	return fit(out, p.w, p.h)
}

// rowSpread is max − min of a row's values.
func rowSpread(row []heatCell) float32 {
	lo, hi := float32(1), float32(0)
	for _, hc := range row {
		lo, hi = min(lo, hc.v), max(hi, hc.v)
	}
	return max(hi-lo, 0)
}

// stage says when the snapshot was taken: "epoch 0 · step 7" (the epoch
// counted from 0 as the search counts it, the steps done so far), with
// "live" while the run goes on and "final" at its end.
func (p *alphasPane) stage(c *runData, a *lab.Alphas) string {
	switch {
	case c.Info.Last.Epochs > 0 && a.Epoch >= c.Info.Last.Epochs:
		return " · final"
	case c.Info.Status == lab.StatusRunning:
		return " · live"
	}
	return ""
}

// readout describes the cursor's cell: its edge, its computation, its
// weight, and the strongest computation of the edge.
func (p *alphasPane) readout(a *lab.Alphas, cols []heatCol, vals [][]heatCell) string {
	row := vals[p.cy]
	name := func(j int) string {
		c := cols[j]
		if c.rule == "" {
			return string(c.op)
		}
		if row[j].n > 1 { // a reduction cell's skip on a stride-1 edge
			return string(c.op) + " (identity here)"
		}
		return string(c.op) + ":" + string(c.rule)
	}
	weight := func(j int) string {
		if n := row[j].n; n > 1 {
			return fmt.Sprintf("%d×%.3f", n, row[j].v)
		}
		return fmt.Sprintf("%.3f", row[j].v)
	}
	best := 0
	for j, hc := range row {
		if hc.v > row[best].v {
			best = j
		}
	}
	read := fmt.Sprintf("edge %s · %s · α %s", edgeName(a, p.cy), name(p.cx), weight(p.cx))
	if best == p.cx {
		return read + " · strongest on this edge"
	}
	return read + fmt.Sprintf(" · strongest %s %s", name(best), weight(best))
}

// packDots joins parts with " · " into lines of at most w columns (a part
// wider than w is cut).
func packDots(parts []string, w int) []string {
	var lines []string
	line := ""
	for _, x := range parts {
		x = trunc(x, w)
		if line != "" && ansi.StringWidth(line)+3+ansi.StringWidth(x) > w {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " · "
		}
		line += x
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// dimAll renders each part dim.
func dimAll(st *Styles, parts []string) []string {
	out := make([]string, len(parts))
	for i, x := range parts {
		out[i] = st.Dim.Render(x)
	}
	return out
}

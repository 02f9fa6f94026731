package tui

import (
	"fmt"
	"strings"

	"github.com/NimbleMarkets/ntcharts/canvas"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/bionaslab/bionas/lab"
)

// alphasPane draws a search's architecture weights as a heatmap: one row
// per edge of the cell, one column per (op, rule) pair, softmax weights as
// colour — or, on a monochrome terminal or on request, as a glyph ramp.
// It is drawn on an ntcharts canvas with its own labelled axes (ntcharts'
// heatmap type has no labels and is blank without colour).
type alphasPane struct {
	s        *state
	w, h     int
	reduce   bool
	glyphs   bool // forced glyph mode (always on a monochrome terminal)
	global   bool // one scale for the whole cell instead of one per edge
	cx, cy   int  // the cursor cell: pair, edge
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
			g := p.geometry
			if col, row, ok := g.hit(msg.X, msg.Y); ok {
				p.cx, p.cy = col, row
			}
		}
	}
	return nil
}

// heatGeometry says where the last drawn heatmap's cells are, for mouse
// hits: cell (col, row) starts at x = x0 + (col-colOff)·cw, y = y0 + row-rowOff.
type heatGeometry struct {
	x0, y0, cw     int
	colOff, rowOff int
	cols, rows     int
	visC, visR     int
}

func (g heatGeometry) hit(x, y int) (col, row int, ok bool) {
	if g.cw == 0 || x < g.x0 || y < g.y0 {
		return 0, 0, false
	}
	c, r := (x-g.x0)/g.cw, y-g.y0
	if c >= g.visC || r >= g.visR {
		return 0, 0, false
	}
	return c + g.colOff, r + g.rowOff, c+g.colOff < g.cols && r+g.rowOff < g.rows
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
			msg = "Waiting for the first alphas (the search reports them at the start of each epoch)…"
		}
		return fit(wrap(msg, p.w), p.w, p.h)
	}
	m := a.Normal
	if p.reduce {
		m = a.Reduce
	}
	if len(m) == 0 {
		return fit("This snapshot has no weights for this cell.", p.w, p.h)
	}
	p.cy = min(max(p.cy, 0), len(m)-1)
	p.cx = min(max(p.cx, 0), len(a.Pairs)-1)
	k := fmt.Sprint(c.Info.ID, c.ver.alphas, p.w, p.h, p.reduce, p.glyphs, p.global, p.cx, p.cy)
	if k != p.key {
		p.key, p.cache = k, p.render(a, m)
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

func (p *alphasPane) render(a *lab.Alphas, m [][]float32) string {
	st := p.s.st
	glyphs := p.glyphs || st.Mono
	nP, nE := len(a.Pairs), len(m)
	labelW := 5
	for _, e := range a.Edges {
		labelW = max(labelW, len([]rune(e))+1)
	}
	cw := 2
	if labelW+2*nP > p.w {
		cw = 1
	}
	visC := max((p.w-labelW)/cw, 1)
	headRows := 2
	if cw == 1 {
		headRows = 1
	}
	visR := max(p.h-3-headRows, 1)
	// Keep the cursor in view.
	if p.cx < p.colOff {
		p.colOff = p.cx
	}
	if p.cx >= p.colOff+visC {
		p.colOff = p.cx - visC + 1
	}
	if p.cy < p.rowOff {
		p.rowOff = p.cy
	}
	if p.cy >= p.rowOff+visR {
		p.rowOff = p.cy - visR + 1
	}
	p.colOff = min(max(p.colOff, 0), max(nP-visC, 0))
	p.rowOff = min(max(p.rowOff, 0), max(nE-visR, 0))
	visC, visR = min(visC, nP-p.colOff), min(visR, nE-p.rowOff)

	// The global scale.
	var glo, ghi float32 = 1, 0
	for _, row := range m {
		for _, v := range row {
			glo, ghi = min(glo, v), max(ghi, v)
		}
	}
	cv := canvas.New(p.w, headRows+visR)
	// Axes: ops over rules across the top, edges down the left.
	cv.SetStringWithStyle(canvas.Point{X: 0, Y: 0}, "op", st.Dim)
	if headRows == 2 {
		cv.SetStringWithStyle(canvas.Point{X: 0, Y: 1}, "rule", st.Dim)
	}
	for j := 0; j < visC; {
		op := a.Pair(p.colOff + j).Op
		n := 1
		for j+n < visC {
			if a.Pair(p.colOff+j+n).Op != op {
				break
			}
			n++
		}
		label := opShort(string(op))
		if r := []rune(label); len(r) > n*cw-1 {
			label = string(r[:max(n*cw-1, 1)])
		}
		cv.SetStringWithStyle(canvas.Point{X: labelW + j*cw, Y: 0}, label, st.Bold)
		j += n
	}
	if headRows == 2 {
		for j := range visC {
			r := a.Pair(p.colOff + j).Rule
			cv.SetStringWithStyle(canvas.Point{X: labelW + j*cw, Y: 1}, ruleShort(string(r)), st.Rule(r))
		}
	}
	for i := range visR {
		e := p.rowOff + i
		y := headRows + i
		name := fmt.Sprint(e)
		if e < len(a.Edges) {
			name = a.Edges[e]
		}
		ls := st.Dim
		if e == p.cy {
			ls = st.Bold
		}
		cv.SetStringWithStyle(canvas.Point{X: labelW - 1 - len([]rune(name)), Y: y}, name, ls)
		row := m[e]
		lo, hi := glo, ghi
		if !p.global {
			lo, hi = 1, 0
			for _, v := range row {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
		for j := range visC {
			k := p.colOff + j
			if k >= len(row) {
				continue
			}
			cur := e == p.cy && k == p.cx
			for d := range cw {
				pt := canvas.Point{X: labelW + j*cw + d, Y: y}
				if glyphs {
					r := glyphRamp[heatIndex(row[k], lo, hi, len(glyphRamp))]
					if cur {
						r = []rune("[]")[min(d, 1)]
						if cw == 1 {
							r = '◆'
						}
					}
					cv.SetCell(pt, canvas.NewCellWithStyle(r, st.Plain))
					continue
				}
				hs := st.Heat[heatIndex(row[k], lo, hi, len(st.Heat))]
				r := ' '
				if cur {
					r = []rune("◆ ")[min(d, 1)]
					hs = hs.Foreground(lipgloss.Color("#FF0000"))
				}
				cv.SetCell(pt, canvas.NewCellWithStyle(r, hs))
			}
		}
	}
	p.geometry = heatGeometry{x0: labelW, y0: 1 + headRows, cw: cw, colOff: p.colOff, rowOff: p.rowOff, cols: nP, rows: nE, visC: visC, visR: visR}

	scale := "per-edge scale"
	if p.global {
		scale = "cell scale"
	}
	info := fmt.Sprintf("epoch %d · step %d · %d edges × %d pairs · %s", a.Epoch, a.Step, nE, nP, scale)
	if p.colOff > 0 || p.colOff+visC < nP || p.rowOff > 0 || p.rowOff+visR < nE {
		info += fmt.Sprintf(" · cols %d-%d rows %d-%d", p.colOff+1, p.colOff+visC, p.rowOff+1, p.rowOff+visR)
	}
	edge := fmt.Sprint(p.cy)
	if p.cy < len(a.Edges) {
		edge = a.Edges[p.cy]
	}
	best := 0
	for k, v := range m[p.cy] {
		if v > m[p.cy][best] {
			best = k
		}
	}
	read := fmt.Sprintf("edge %s · %s · α %.3f", edge, a.Pairs[p.cx], m[p.cy][p.cx])
	if best == p.cx {
		read += " · strongest on this edge"
	} else {
		read += fmt.Sprintf(" · strongest %s %.3f", a.Pairs[best], m[p.cy][best])
	}
	var legend string
	if glyphs {
		legend = "low " + string(glyphRamp[1:]) + " high"
	} else {
		var sw strings.Builder
		for _, h := range st.Heat {
			sw.WriteString(h.Render(" "))
		}
		legend = "low " + sw.String() + " high"
	}
	legend += st.Dim.Render("  states 0,1 = cell inputs; 2.. = nodes")
	return fit(trunc(info, p.w)+"\n"+cv.View()+"\n"+trunc(read, p.w)+"\n"+trunc(legend, p.w), p.w, p.h)
}

package tui

import (
	"fmt"
	"math"
	"strings"

	"github.com/NimbleMarkets/ntcharts/canvas"
	"github.com/NimbleMarkets/ntcharts/canvas/graph"
	"github.com/NimbleMarkets/ntcharts/linechart"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/bionaslab/bionas/lab"
)

// chartsPane draws the selected run's loss and accuracy against the step
// (train per step, validation or test per epoch) and its images per
// second. The rendering is cached until the data or the size changes.
type chartsPane struct {
	s     *state
	w, h  int
	ema   bool
	key   string
	cache string

	kEMA key.Binding
}

func newChartsPane(s *state) *chartsPane {
	return &chartsPane{s: s, kEMA: bind([]string{"e"}, "e", "smooth (EMA)")}
}

func (p *chartsPane) Name() string        { return "Charts" }
func (p *chartsPane) SetSize(w, h int)    { p.w, p.h = w, h }
func (p *chartsPane) Sync() tea.Cmd       { return nil }
func (p *chartsPane) Capturing() bool     { return false }
func (p *chartsPane) Keys() []key.Binding { return []key.Binding{p.kEMA} }

func (p *chartsPane) Title() string {
	if runs := p.s.compared(); len(runs) >= 2 {
		ids := make([]string, len(runs))
		for i, r := range runs {
			ids[i] = r.ID
		}
		return "Charts · comparing " + strings.Join(ids, ", ")
	}
	if c := p.s.cur; c != nil {
		return "Charts · " + c.Info.ID + " " + c.Info.Title()
	}
	return "Charts"
}

func (p *chartsPane) Update(msg tea.Msg) tea.Cmd {
	if k, ok := msg.(tea.KeyMsg); ok && key.Matches(k, p.kEMA) {
		p.ema = !p.ema
	}
	return nil
}

func (p *chartsPane) View(bool) string {
	c := p.s.cur
	if c == nil {
		return fit("No run selected. Start one from the Runs pane (s).", p.w, p.h)
	}
	if runs := p.s.compared(); len(runs) >= 2 {
		// The compared runs' records move with their status events; their
		// points are read from the lab when one of them changed.
		k := fmt.Sprint("cmp", c.ver.points, p.w, p.h, p.ema)
		for _, r := range runs {
			k += fmt.Sprint(r.ID, r.Status, r.Last.Step, r.Last.Epoch)
		}
		if k != p.key {
			p.key, p.cache = k, p.renderCompare(runs)
		}
		return p.cache
	}
	k := fmt.Sprint(c.Info.ID, c.ver.points, c.ver.info, c.ver.attack, p.w, p.h, p.ema)
	if k != p.key {
		p.key, p.cache = k, p.render(c)
	}
	return p.cache
}

// series is one line of a chart.
type series struct {
	name    string
	pts     []canvas.Float64Point
	style   lipgloss.Style
	markers bool // draw a dot per point (epoch series: few points)
	glyph   rune // the marker (default ●): compared runs differ without colour
}

func (p *chartsPane) render(c *runData) string {
	st := p.s.st
	m := c.Info.Last
	head := joinDot(progressParts(st, c.Info))
	var trainLoss, trainAcc, valLoss, valAcc []canvas.Float64Point
	var ips []float64
	maxStep, maxLoss := float64(m.TotalSteps), 0.0
	valName := "val"
	for _, e := range c.Points {
		x := float64(e.Step)
		maxStep = max(maxStep, x)
		switch e.Kind {
		case lab.EventStep:
			if e.Loss >= 0 {
				trainLoss = append(trainLoss, canvas.Float64Point{X: x, Y: e.Loss})
				maxLoss = max(maxLoss, e.Loss)
			}
			if e.Acc >= 0 {
				trainAcc = append(trainAcc, canvas.Float64Point{X: x, Y: e.Acc})
			}
			if e.ImagesPerSec > 0 {
				ips = append(ips, e.ImagesPerSec)
			}
		case lab.EventEpoch:
			vl, va := e.ValLoss, e.ValAcc
			if vl == 0 && va == 0 {
				vl, va, valName = e.TestLoss, e.TestAcc, "test"
			}
			if vl > 0 {
				valLoss = append(valLoss, canvas.Float64Point{X: x, Y: vl})
				maxLoss = max(maxLoss, vl)
			}
			if va > 0 {
				valAcc = append(valAcc, canvas.Float64Point{X: x, Y: va})
			}
		}
	}
	if p.ema {
		trainLoss, trainAcc = smooth(trainLoss, 0.9), smooth(trainAcc, 0.9)
	}
	rate := "–"
	if len(ips) > 0 {
		rate = fmt.Sprintf("%.0f", ips[len(ips)-1])
	}
	head += " · " + rate + " img/s"
	spark := ""
	if len(ips) > 1 {
		spark = st.Dim.Render("img/s ") + sparkline(ips, max(p.w-16, 4))
	}
	chartH := p.h - 2
	if c.Info.Kind == lab.KindAttack {
		return fit(p.attackSummary(c), p.w, p.h)
	}
	if len(c.Points) == 0 {
		msg := "waiting for the first step…"
		if !c.Info.Status.Active() {
			msg = "this run recorded no metrics"
		}
		return fit(trunc(head, p.w)+"\n\n"+msg, p.w, p.h)
	}
	if maxStep <= 0 {
		maxStep = 1
	}
	lossTop := niceCeil(maxLoss * 1.05)
	lossS := []series{{name: "train", pts: trainLoss, style: st.Train}, {name: valName, pts: valLoss, style: st.Val, markers: true}}
	accS := []series{{name: "train", pts: trainAcc, style: st.Train}, {name: valName, pts: valAcc, style: st.Val, markers: true}}
	var body string
	if p.w >= 60 {
		lw := p.w / 2
		body = joinH(0,
			lineChart(st, "loss", lw-1, chartH, lossS, maxStep, 0, lossTop, num2),
			" ",
			lineChart(st, "accuracy", p.w-lw, chartH, accS, maxStep, 0, 1, pct0))
	} else {
		h1 := chartH / 2
		body = lineChart(st, "loss", p.w, h1, lossS, maxStep, 0, lossTop, num2) + "\n" +
			lineChart(st, "accuracy", p.w, chartH-h1, accS, maxStep, 0, 1, pct0)
	}
	return fit(trunc(head, p.w)+"\n"+body+"\n"+spark, p.w, p.h)
}

// lineChart draws series on an ntcharts line chart w×h (a title line, the
// chart with its axes, a legend line). Each series is a braille line on a
// grid of its own; the X range is fixed to [0, xmax] and the Y range to
// [ymin, ymax] (no auto-range: it is quadratic in the points).
func lineChart(st *Styles, title string, w, h int, ss []series, xmax, ymin, ymax float64, yfmt func(float64) string) string {
	if w < 12 || h < 5 {
		return fit(title, w, h)
	}
	ch := h - 2
	xstep := max((w-8)/4, 6)
	// Label rows that divide the graph height evenly, so that the labels
	// are round values of the range.
	gh := ch - 2
	ystep := max(gh/4, 1)
	for d := gh / 2; d >= max(gh/5, 2); d-- {
		if gh%d == 0 {
			ystep = d
			break
		}
	}
	lc := linechart.New(w, ch, 0, xmax, ymin, ymax,
		linechart.WithXYSteps(xstep, ystep),
		linechart.WithStyles(st.Dim, st.Dim, st.Plain),
		linechart.WithXLabelFormatter(func(_ int, v float64) string { return fmt.Sprintf("%.0f", v) }),
		linechart.WithYLabelFormatter(func(_ int, v float64) string { return yfmt(v) }))
	lc.DrawXYAxisAndLabel()
	gw, gh := lc.GraphWidth(), lc.GraphHeight()
	for _, s := range ss {
		pts := downsample(s.pts, 4*gw)
		if len(pts) == 0 || gw <= 0 || gh <= 0 {
			continue
		}
		g := graph.NewBrailleGrid(gw, gh, 0, xmax, ymin, ymax)
		for i := range pts {
			a := g.GridPoint(clampPt(pts[i], xmax, ymin, ymax))
			b := a
			if i > 0 {
				b = g.GridPoint(clampPt(pts[i-1], xmax, ymin, ymax))
			}
			for _, q := range graph.GetLinePoints(b, a) {
				g.Set(q)
			}
		}
		graph.DrawBraillePatterns(&lc.Canvas, canvas.Point{X: lc.Origin().X + 1, Y: 0}, g.BraillePatterns(), s.style)
		if s.markers {
			g := s.glyph
			if g == 0 {
				g = '●'
			}
			for _, q := range pts {
				lc.DrawRuneWithStyle(clampPt(q, xmax, ymin, ymax), g, s.style)
			}
		}
	}
	var legend []string
	for _, s := range ss {
		if len(s.pts) == 0 || s.name == "" { // unnamed: the caller prints its own legend
			continue
		}
		glyph := "⠤⠤"
		if s.markers {
			glyph = "●"
		}
		legend = append(legend, s.style.Render(glyph)+" "+s.name+" "+yfmt(s.pts[len(s.pts)-1].Y))
	}
	return fit(st.Bold.Render(title)+"\n"+lc.View()+"\n"+strings.Join(legend, "  "), w, h)
}

func clampPt(p canvas.Float64Point, xmax, ymin, ymax float64) canvas.Float64Point {
	return canvas.Float64Point{X: min(max(p.X, 0), xmax), Y: min(max(p.Y, ymin), ymax)}
}

// downsample keeps at most n points, evenly, always with the last.
func downsample(pts []canvas.Float64Point, n int) []canvas.Float64Point {
	if n <= 0 || len(pts) <= n {
		return pts
	}
	out := make([]canvas.Float64Point, 0, n+1)
	step := float64(len(pts)) / float64(n)
	for i := 0.0; int(i) < len(pts); i += step {
		out = append(out, pts[int(i)])
	}
	if out[len(out)-1] != pts[len(pts)-1] {
		out = append(out, pts[len(pts)-1])
	}
	return out
}

// smooth is an exponential moving average (debiased).
func smooth(pts []canvas.Float64Point, beta float64) []canvas.Float64Point {
	out := make([]canvas.Float64Point, len(pts))
	avg := 0.0
	for i, p := range pts {
		avg = beta*avg + (1-beta)*p.Y
		out[i] = canvas.Float64Point{X: p.X, Y: avg / (1 - math.Pow(beta, float64(i+1)))}
	}
	return out
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*e >= v {
			return m * e
		}
	}
	return 10 * e
}

func num2(v float64) string { return fmt.Sprintf("%.2f", v) }
func pct0(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) }

// attackSummary is the Charts pane of an attack run, which has no curves:
// its progress and headline numbers, and where the table is.
func (p *chartsPane) attackSummary(c *runData) string {
	st := p.s.st
	var lines []string
	add := func(s string) { lines = append(lines, wrap(s, p.w)) }
	add(joinDot(progressParts(st, c.Info)))
	add(joinDot(numberParts(c.Info, c.Attack)))
	if m := c.Info.Last; m.TotalSteps > 0 {
		add(progressBar(m.Progress(), max(min(p.w-8, 40), 4)) + fmt.Sprintf(" %3.0f%%", 100*m.Progress()))
	}
	add("")
	add("A robustness report has no training curves: its table (every attack × gradient mode, n per cell, worst case) is in the Attack pane (6), and in runs/" + c.Info.ID + "/attack.json.")
	return strings.Join(lines, "\n")
}

// renderCompare overlays the compared runs' curves against the epoch
// (runs of different lengths and batch counts line up): training loss on
// the left, validation (or test) accuracy on the right, one colour per
// run. A run that has not finished is marked so in the legend: its last
// number is not its result.
func (p *chartsPane) renderCompare(runs []lab.RunInfo) string {
	st := p.s.st
	var lossS, accS []series
	maxX, maxLoss := 1.0, 0.0
	var notes []string
	for i, r := range runs {
		snap, err := p.s.lab.Snapshot(r.ID)
		if err != nil {
			continue
		}
		sty := st.Series[i%len(st.Series)]
		per := 0.0
		if m := snap.Info.Last; m.Epochs > 0 && m.TotalSteps > 0 {
			per = float64(m.TotalSteps) / float64(m.Epochs)
		}
		var loss, acc []canvas.Float64Point
		which := ""
		for _, e := range snap.Points {
			x := float64(e.Epoch)
			if per > 0 && e.Step > 0 {
				x = float64(e.Step) / per
			} else if e.Kind == lab.EventEpoch {
				x = float64(e.Epoch + 1)
			}
			maxX = max(maxX, x)
			switch e.Kind {
			case lab.EventStep:
				if e.Loss > 0 {
					loss = append(loss, canvas.Float64Point{X: x, Y: e.Loss})
					maxLoss = max(maxLoss, e.Loss)
				}
			case lab.EventEpoch:
				a, w := e.ValAcc, "val"
				if a == 0 {
					a, w = e.TestAcc, "test"
				}
				if a > 0 {
					acc = append(acc, canvas.Float64Point{X: x, Y: a})
					which = w
				}
			}
		}
		if p.ema {
			loss = smooth(loss, 0.9)
		}
		glyph := seriesGlyphs[i%len(seriesGlyphs)]
		lossS = append(lossS, series{pts: loss, style: sty})
		accS = append(accS, series{pts: acc, style: sty, markers: true, glyph: glyph})
		g := string(glyph)
		note := sty.Render(g) + " " + snap.Info.ID + " " + snap.Info.Title()
		if which != "" {
			note += " · " + which + " " + pct(acc[len(acc)-1].Y)
		}
		if mark := provisional(snap.Info); mark != "" {
			note += " " + st.Warn.Render(mark)
		}
		notes = append(notes, note)
	}
	head := fmt.Sprintf("%d runs against the epoch · c marks, C clears", len(runs))
	legendH := len(notes)
	chartH := max(p.h-2-legendH, 6)
	lossTop := niceCeil(maxLoss * 1.05)
	xmax := math.Ceil(maxX)
	var body string
	if p.w >= 60 {
		lw := p.w / 2
		body = joinH(0,
			lineChart(st, "training loss", lw-1, chartH, lossS, xmax, 0, lossTop, num2),
			" ",
			lineChart(st, "held-out accuracy", p.w-lw, chartH, accS, xmax, 0, 1, pct0))
	} else {
		h1 := chartH / 2
		body = lineChart(st, "training loss", p.w, h1, lossS, xmax, 0, lossTop, num2) + "\n" +
			lineChart(st, "held-out accuracy", p.w, chartH-h1, accS, xmax, 0, 1, pct0)
	}
	for i := range notes {
		notes[i] = trunc(notes[i], p.w)
	}
	return fit(trunc(head, p.w)+"\n"+body+"\n"+strings.Join(notes, "\n"), p.w, p.h)
}

// provisional marks the numbers of a run that has not finished: "(running
// 2/5)", "(queued)", "(interrupted 1/3)"; "" for a finished run.
func provisional(r lab.RunInfo) string {
	if r.Status == lab.StatusDone {
		return ""
	}
	m := r.Last
	if m.Epochs > 0 && r.Status != lab.StatusQueued {
		return fmt.Sprintf("(%s, epoch %d/%d)", r.Status, min(m.Epoch+1, m.Epochs), m.Epochs)
	}
	return "(" + string(r.Status) + ")"
}

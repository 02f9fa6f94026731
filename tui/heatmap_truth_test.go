package tui

import (
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/bionaslab/bionas/lab"
	"github.com/bionaslab/bionas/lab/labtest"
	"github.com/bionaslab/bionas/search"
)

// paneState is a session state whose selected run is a search holding a.
func paneState(a *lab.Alphas, status lab.Status) *state {
	return &state{st: NewStyles(nil), now: fixedNow, sel: "r0001", cur: &runData{Snapshot: lab.Snapshot{
		Info:   lab.RunInfo{ID: "r0001", Kind: lab.KindSearch, Status: status, Last: lab.Metrics{Epochs: 2, TotalSteps: 20}},
		Alphas: a,
	}}}
}

// uniformAlphas is the bio space's 14 edges × 32 pairs with weights of
// two values, lo and hi, alternating (the 0.031 against 0.032).
func uniformAlphas(lo, hi float32, epoch, step int) *lab.Alphas {
	a := &lab.Alphas{Pairs: labtest.Pairs, Edges: lab.EdgeNames(4), Epoch: epoch, Step: step}
	mk := func() [][]float32 {
		m := make([][]float32, 14)
		for e := range m {
			m[e] = make([]float32, len(labtest.Pairs))
			for k := range m[e] {
				m[e][k] = lo
				if (k/4+k)%2 == 1 {
					m[e][k] = hi
				}
			}
		}
		return m
	}
	a.Normal, a.Reduce = mk(), mk()
	return a
}

// mapRows are the heatmap's edge rows of a view (the lines holding an
// edge label "i→j").
func mapRows(view string) []string {
	var out []string
	for _, l := range strings.Split(view, "\n") {
		if strings.Contains(l, "→") && !strings.Contains(l, "edge ") && !strings.Contains(l, "min→max") && !strings.Contains(l, "scale") {
			out = append(out, l)
		}
	}
	return out
}

func TestHeatColsMergeParameterFreeOps(t *testing.T) {
	// The bio space's none and pools carry four rule labels each but are
	// one computation in the supernet; so is skip at stride 1 (all of a
	// normal cell). They get one column without a rule; the rest keep
	// theirs.
	a := labtest.Alphas(0, 0)
	for _, c := range []struct {
		reduce       bool
		cols, merged int
	}{{false, 4 + 16, 4}, {true, 3 + 4 + 16, 3}} {
		cols := heatCols(a, c.reduce)
		if len(cols) != c.cols {
			t.Fatalf("reduce %v: %d columns, want %d", c.reduce, len(cols), c.cols)
		}
		merged := 0
		for _, col := range cols {
			if col.rule == "" {
				merged++
				if len(col.pairs) != 4 || (search.Pair{Op: col.op, Rule: "fa"}).RuleActs(1) {
					t.Errorf("reduce %v: merged column %s has pairs %v", c.reduce, col.op, col.pairs)
				}
			} else if len(col.pairs) != 1 {
				t.Errorf("reduce %v: column %s:%s has pairs %v", c.reduce, col.op, col.rule, col.pairs)
			}
		}
		if merged != c.merged {
			t.Errorf("reduce %v: %d merged columns, want %d", c.reduce, merged, c.merged)
		}
	}
	// In a reduction cell, skip is the identity on edges from nodes
	// (stride 1): its four cells there show one value, the mean.
	cols := heatCols(a, true)
	a.Reduce[2][12] = 0.5 // edge 0→3 (stride 2), pair skip_connect:fa
	a.Reduce[4][12] = 0.5 // edge 2→3 (stride 1)
	vals := heatValues(a, a.Reduce, cols, true)
	skip := -1
	for j, c := range cols {
		if c.op == search.OpSkip && c.rule == "fa" {
			skip = j
		}
	}
	if v := vals[2][skip]; v.n != 1 || v.v != 0.5 {
		t.Errorf("skip:fa on stride-2 edge 0→3: %+v, want its own 0.5", v)
	}
	if v := vals[4][skip]; v.n != 4 || v.v == 0.5 || vals[4][skip+1].v != v.v {
		t.Errorf("skip:fa on stride-1 edge 2→3: %+v, want the mean of the four skip pairs", v)
	}
}

func TestHeatmapShowsNoRuleForParameterFreeOps(t *testing.T) {
	// Before: "rule fausbrfr…" under none/max/avg/skip and a reading of
	// "none:fa".
	p := newAlphasPane(paneState(labtest.Alphas(20, 2), lab.StatusDone))
	p.SetSize(78, 19)
	v := p.View(true)
	lines := strings.Split(v, "\n")
	if !strings.HasPrefix(lines[2], "rule  –    –   –   –    fa") {
		t.Errorf("rule row %q: want – under none, max, avg and skip", lines[2])
	}
	if !strings.Contains(v, "edge 0→2 · none · α 4×") || strings.Contains(v, "none:") {
		t.Errorf("reading of a none cell:\n%s", v)
	}
}

func TestHeatmapNearUniformIsNotStretched(t *testing.T) {
	// α still near their initialisation (0.031 against 0.032): before,
	// each edge's scale stretched the 0.001 between them over the whole
	// ramp ("░" against "█"); now the edges are marked ≈ and drawn flat,
	// and the pane says so.
	p := newAlphasPane(paneState(uniformAlphas(0.031, 0.032, 0, 3), lab.StatusRunning))
	p.SetSize(100, 30)
	v := p.View(true)
	rows := mapRows(v)
	if len(rows) != 14 {
		t.Fatalf("%d edge rows:\n%s", len(rows), v)
	}
	for _, r := range rows {
		if strings.ContainsAny(r, "█░") || !strings.Contains(r, "▒") {
			t.Errorf("near-uniform edge not drawn flat in mid-ramp: %q", r)
		}
		if !strings.Contains(r, "≈") {
			t.Errorf("near-uniform edge not marked: %q", r)
		}
	}
	if !strings.Contains(v, "near uniform") {
		t.Errorf("the pane does not say the weights are near uniform:\n%s", v)
	}
	// A real preference is drawn over the whole ramp.
	p = newAlphasPane(paneState(uniformAlphas(0.02, 0.05, 0, 3), lab.StatusRunning))
	p.SetSize(100, 30)
	v = p.View(true)
	if strings.Contains(v, "≈") || !strings.Contains(v, "█") {
		t.Errorf("a 0.03 spread is drawn flat:\n%s", v)
	}
}

func TestHeatmapSaysItsScale(t *testing.T) {
	// Per edge: the scale says so and gives this edge's range; m switches
	// to one scale for the cell, with its range.
	p := newAlphasPane(paneState(labtest.Alphas(20, 2), lab.StatusDone))
	p.SetSize(100, 30)
	v := p.View(true)
	if !strings.Contains(v, "per edge (row min→max): this edge 0.017→0.131") {
		t.Errorf("per-edge scale not stated:\n%s", v)
	}
	p.Update(keys("m")[0])
	v = p.View(true)
	if !strings.Contains(v, "one scale for the cell: 0.017→0.475") {
		t.Errorf("cell scale not stated:\n%s", v)
	}
	p.Update(keys("m")[0])
	if v := p.View(true); !strings.Contains(v, "per edge") {
		t.Errorf("m does not switch back:\n%s", v)
	}
}

func TestHeatmapShowsLiveAlphas(t *testing.T) {
	// A search's alphas within epoch 0 (the search reports them after
	// steps now) are drawn at once, marked live; a newer snapshot
	// replaces them.
	s := paneState(uniformAlphas(0.02, 0.05, 0, 3), lab.StatusRunning)
	p := newAlphasPane(s)
	p.SetSize(80, 24)
	if v := p.View(true); !strings.Contains(v, "epoch 0 · step 3 · 14 edges × 32 pairs · live") {
		t.Fatalf("live alphas at step 3:\n%s", v)
	}
	s.cur.Alphas = uniformAlphas(0.02, 0.06, 0, 4)
	s.cur.ver.alphas++
	if v := p.View(true); !strings.Contains(v, "epoch 0 · step 4") {
		t.Fatalf("the next snapshot is not drawn:\n%s", v)
	}
	s.cur.Info.Status = lab.StatusDone
	s.cur.Alphas = uniformAlphas(0.02, 0.06, 2, 20)
	s.cur.ver.alphas++
	if v := p.View(true); !strings.Contains(v, "epoch 2 · step 20 · 14 edges × 32 pairs · final") {
		t.Fatalf("final alphas:\n%s", v)
	}
}

func TestHeatmapMouseHitsVariableColumns(t *testing.T) {
	// Merged columns are wider than rule columns: a click lands on the
	// column drawn there.
	p := newAlphasPane(paneState(labtest.Alphas(20, 2), lab.StatusDone))
	p.SetSize(100, 30)
	p.View(true)
	g := p.geometry
	for i := range len(g.xs) - 1 {
		for x := g.xs[i]; x < g.xs[i+1]; x++ {
			col, row, ok := g.hit(x, g.y0+3)
			if !ok || col != g.colOff+i || row != g.rowOff+3 {
				t.Fatalf("x %d: column %d row %d (%v), want %d, 3", x, col, row, ok, i)
			}
		}
	}
	p.Update(paneMouse{X: g.xs[5], Y: g.y0 + 2, Button: tea.MouseButtonLeft})
	if p.cx != 5 || p.cy != 2 {
		t.Fatalf("click: cursor %d,%d", p.cx, p.cy)
	}
}

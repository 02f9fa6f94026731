package attacks

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/nn"
)

// ReportModel is one model of a robustness report.
type ReportModel struct {
	Name  string // column label
	Rule  string // learning rule, or "mixed"
	Model Model
}

// ReportConfig configures RunReport.
type ReportConfig struct {
	Models  []ReportModel
	Attacks []Spec
	// Modes are the gradient modes white-box attacks run in (default
	// {Own}); black-box attacks run once.
	Modes []GradMode
	// X holds the images (N, C, H, W) in [0,1] and Y their labels.
	X *nn.Tensor
	Y []int
	// Dataset names the images in the report ("mnist test").
	Dataset string
	// BatchSize is the number of images attacked at once (default 100).
	// It is part of what a report's numbers depend on: the attacks draw
	// their random numbers batch by batch.
	BatchSize int
	// Seed seeds every attack; batch b gets a seed derived from (Seed, b),
	// the same for every model and mode, so rows differ only by model.
	Seed uint64
	// Progress, if set, is called after each attacked batch and, while a
	// long batch runs, about every ProgressEvery.
	Progress func(ReportProgress)
	// ProgressEvery is the most time between two Progress calls while a
	// batch runs (default 500 ms).
	ProgressEvery time.Duration
	// OnCell, if set, is called with each finished cell.
	OnCell func(Cell)
	// OnUpdate, if set, is called with the report so far whenever Progress
	// is: the cells finished, the models' clean accuracies and worst cases
	// so far, and Running. The report belongs to RunReport: read it (or
	// copy what you keep) during the call only.
	OnUpdate func(*Report)
}

// ReportProgress tells where a report run is.
type ReportProgress struct {
	Model  string   `json:"model"`
	Attack string   `json:"attack"`
	Grad   GradMode `json:"grad,omitempty"` // empty for black-box attacks
	// Done and Total count image units: one image attacked by one attack
	// in one mode on one model. A batch under way counts in proportion to
	// the iterations it has done.
	Done  int `json:"done"`
	Total int `json:"total"`
	// CellDone counts the images of the cell under way whose batches are
	// finished, CellN its images, CellCorrect those of the CellDone the
	// model still classifies correctly.
	CellDone    int `json:"cell_done"`
	CellN       int `json:"cell_n"`
	CellCorrect int `json:"cell_correct"`
}

// Cell is the robust accuracy of one model under one attack in one mode.
type Cell struct {
	Model  string   `json:"model"`
	Rule   string   `json:"rule,omitempty"`
	Attack string   `json:"attack"`
	Label  string   `json:"label"`
	Grad   GradMode `json:"grad,omitempty"` // empty for black-box attacks
	// BlackBox marks the attacks that take no gradient of the model
	// (One-Pixel, Square, transfer).
	BlackBox bool `json:"black_box,omitempty"`
	// Eps is the L∞ budget in pixels (0 for One-Pixel); Budget says it in
	// words ("ε 0.3", "1 pixel").
	Eps    float64 `json:"eps"`
	Budget string  `json:"budget,omitempty"`
	// Warning is the attack's BudgetWarning, if any.
	Warning string `json:"warning,omitempty"`
	// N is the number of images attacked.
	N int `json:"n"`
	// CleanAcc and RobustAcc are fractions of the N images classified
	// correctly, clean and adversarial; robust accuracy is measured on the
	// adversarial images only.
	CleanAcc  float64 `json:"clean_accuracy"`
	RobustAcc float64 `json:"robust_accuracy"`
	// TargetHit is the fraction of images classified as their target, for
	// targeted attacks.
	TargetHit *float64 `json:"target_hit,omitempty"`
	// MaxLInf and MeanL2 measure the perturbations actually made.
	MaxLInf     float64 `json:"max_linf"`
	MeanL2      float64 `json:"mean_l2"`
	MeanQueries float64 `json:"mean_queries"`
	MaxQueries  int     `json:"max_queries"`
	Seconds     float64 `json:"seconds"`
}

// AttackInfo describes one attack of a report.
type AttackInfo struct {
	Name     string  `json:"name"`
	Label    string  `json:"label"`
	Eps      float64 `json:"eps"`
	WhiteBox bool    `json:"white_box"`
	Budget   string  `json:"budget,omitempty"`  // see Budget
	Warning  string  `json:"warning,omitempty"` // see BudgetWarning
}

// ModelInfo describes one model of a report.
type ModelInfo struct {
	Name     string  `json:"name"`
	Rule     string  `json:"rule,omitempty"`
	CleanAcc float64 `json:"clean_accuracy"`
	// WorstCase is the pointwise worst case over the model's cells: the
	// fraction of the images it classifies correctly clean and under every
	// attack in every mode. In a report under way, over the cells so far.
	WorstCase float64 `json:"worst_case"`
}

// Report is a robustness report: robust accuracies of models under
// attacks, like the paper's Table 4.
type Report struct {
	Dataset   string       `json:"dataset,omitempty"`
	N         int          `json:"n"`
	Seed      uint64       `json:"seed"`
	BatchSize int          `json:"batch_size,omitempty"`
	Modes     []GradMode   `json:"modes"`
	Models    []ModelInfo  `json:"models"`
	Attacks   []AttackInfo `json:"attacks"`
	Cells     []Cell       `json:"cells"`
	// Running is the cell under way in a report that is not finished
	// (those OnUpdate sees), nil in a finished one.
	Running *ReportProgress `json:"running,omitempty"`
	Seconds float64         `json:"seconds"`
}

// Info describes attack s as reports do.
func Info(s Spec) AttackInfo {
	return AttackInfo{Name: s.Name(), Label: s.Label(), Eps: s.Epsilon(), WhiteBox: s.WhiteBox(), Budget: Budget(s), Warning: BudgetWarning(s)}
}

// RunReport attacks every model with every attack (white-box ones in every
// mode) on the images of cfg, batch by batch, and measures robust
// accuracy with a fresh forward pass of the model on each returned batch.
func RunReport(ctx context.Context, cfg ReportConfig) (*Report, error) {
	if len(cfg.Models) == 0 || len(cfg.Attacks) == 0 {
		return nil, fmt.Errorf("robustness report: need at least one model and one attack (got %d, %d)", len(cfg.Models), len(cfg.Attacks))
	}
	if cfg.X == nil || len(cfg.X.Shape) != 4 || cfg.X.Shape[0] == 0 || cfg.X.Shape[0] != len(cfg.Y) {
		return nil, fmt.Errorf("robustness report: want N images (N, C, H, W) and N labels, got shape %v and %d labels", shapeOf(cfg.X), len(cfg.Y))
	}
	modes := slices.Clone(cfg.Modes)
	if len(modes) == 0 {
		modes = []GradMode{Own}
	}
	for i, m := range modes {
		pm, err := ParseGradMode(string(m))
		if err != nil {
			return nil, fmt.Errorf("robustness report: %w", err)
		}
		modes[i] = pm
	}
	cfg.Modes = modes
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 500 * time.Millisecond
	}
	n := cfg.X.Shape[0]
	start := time.Now()
	rep := &Report{Dataset: cfg.Dataset, N: n, Seed: cfg.Seed, BatchSize: cfg.BatchSize, Modes: cfg.Modes}
	units := 0
	for _, a := range cfg.Attacks {
		rep.Attacks = append(rep.Attacks, Info(a))
		units += len(reportModes(a, cfg.Modes))
	}
	r := &reportRun{cfg: cfg, rep: rep, prog: ReportProgress{Total: units * n * len(cfg.Models)}}
	for _, m := range cfg.Models {
		r.robust = make([]bool, n)
		clean := accuracyOn(m.Model, cfg.X, cfg.Y, cfg.BatchSize, r.robust)
		rep.Models = append(rep.Models, ModelInfo{Name: m.Name, Rule: m.Rule, CleanAcc: clean, WorstCase: clean})
		r.model = &rep.Models[len(rep.Models)-1]
		for _, a := range cfg.Attacks {
			for _, mode := range reportModes(a, cfg.Modes) {
				cell, err := r.attackCell(ctx, m, a, mode)
				if err != nil {
					return nil, err
				}
				cell.CleanAcc = clean
				rep.Cells = append(rep.Cells, cell)
				if cfg.OnCell != nil {
					cfg.OnCell(cell)
				}
			}
		}
	}
	rep.Running = nil
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

// reportModes are the modes attack a runs in: every mode for a white-box
// attack, one empty mode for a black-box one.
func reportModes(a Spec, modes []GradMode) []GradMode {
	if a.WhiteBox() {
		return modes
	}
	return []GradMode{""}
}

// reportRun is RunReport's state: the report so far, the progress, and
// the current model's per-image robustness (clean and under every cell so
// far), from which its worst case comes.
type reportRun struct {
	cfg    ReportConfig
	rep    *Report
	prog   ReportProgress
	robust []bool
	model  *ModelInfo
	done   int // image units of finished batches
}

// tick reports progress; partial is the image units of the batch under way
// counted so far.
func (r *reportRun) tick(partial int) {
	r.prog.Done = r.done + partial
	k := 0
	for _, b := range r.robust {
		if b {
			k++
		}
	}
	r.model.WorstCase = float64(k) / float64(len(r.robust))
	if r.cfg.Progress != nil {
		r.cfg.Progress(r.prog)
	}
	if r.cfg.OnUpdate != nil {
		p := r.prog
		r.rep.Running = &p
		r.rep.Seconds = 0
		r.cfg.OnUpdate(r.rep)
		r.rep.Running = nil
	}
}

// attackCell runs one attack in one mode on one model over all batches.
func (r *reportRun) attackCell(ctx context.Context, m ReportModel, a Spec, mode GradMode) (Cell, error) {
	cfg := r.cfg
	n := cfg.X.Shape[0]
	info := Info(a)
	cell := Cell{Model: m.Name, Rule: m.Rule, Attack: a.Name(), Label: info.Label, Grad: mode, BlackBox: !a.WhiteBox(),
		Eps: info.Eps, Budget: info.Budget, Warning: info.Warning, N: n}
	r.prog.Model, r.prog.Attack, r.prog.Grad = m.Name, a.Name(), mode
	r.prog.CellDone, r.prog.CellN, r.prog.CellCorrect = 0, n, 0
	start := time.Now()
	correct, hits, queries := 0, 0, 0
	targeted := false
	var l2 float64
	batches := (n + cfg.BatchSize - 1) / cfg.BatchSize
	for b := range batches {
		lo, hi := b*cfg.BatchSize, min((b+1)*cfg.BatchSize, n)
		idx := make([]int, hi-lo)
		for i := range idx {
			idx[i] = lo + i
		}
		x, y := gatherRows(cfg.X, idx), cfg.Y[lo:hi]
		run, err := a.Start(m.Model, x, y, Options{Grad: mode, Seed: batchSeed(cfg.Seed, b)})
		if err != nil {
			return Cell{}, fmt.Errorf("robustness report: model %s: %w", m.Name, err)
		}
		// Run, step by step, telling the progress of a long batch.
		last := time.Now()
		for {
			done, err := run.Step(ctx)
			if err != nil {
				return Cell{}, fmt.Errorf("robustness report: model %s: %w", m.Name, err)
			}
			if done {
				break
			}
			if time.Since(last) >= cfg.ProgressEvery {
				last = time.Now()
				st := run.State()
				if st.Iters > 0 {
					r.tick(min((hi-lo)*st.Iter/st.Iters, hi-lo-1))
				}
			}
		}
		st := run.State()
		adv := st.Adv
		pred := nn.Argmax(m.Model.Forward(nil, adv))
		for i, p := range pred {
			if p == y[i] {
				correct++
				r.prog.CellCorrect++
			} else {
				r.robust[lo+i] = false
			}
			if st.Targets != nil && p == st.Targets[i] {
				hits++
			}
		}
		targeted = targeted || st.Targets != nil
		per := x.Len() / len(y)
		for i := range y {
			var s float64
			for j, v := range adv.Data[i*per : (i+1)*per] {
				d := float64(v - x.Data[i*per+j])
				cell.MaxLInf = math.Max(cell.MaxLInf, math.Abs(d))
				s += d * d
			}
			l2 += math.Sqrt(s)
			queries += st.Queries[i]
			cell.MaxQueries = max(cell.MaxQueries, st.Queries[i])
		}
		r.done += hi - lo
		r.prog.CellDone = hi
		r.tick(0)
	}
	cell.RobustAcc = float64(correct) / float64(n)
	cell.MeanL2 = l2 / float64(n)
	cell.MeanQueries = float64(queries) / float64(n)
	if targeted {
		h := float64(hits) / float64(n)
		cell.TargetHit = &h
	}
	cell.Seconds = time.Since(start).Seconds()
	return cell, nil
}

// batchSeed derives batch b's seed (splitmix64 of the pair).
func batchSeed(seed uint64, b int) uint64 {
	z := seed ^ (uint64(b)+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// accuracyOn is the clean accuracy of m on (x, y); it marks in right the
// images classified correctly.
func accuracyOn(m Model, x *nn.Tensor, y []int, batch int, right []bool) float64 {
	n := x.Shape[0]
	correct := 0
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		idx := make([]int, hi-lo)
		for i := range idx {
			idx[i] = lo + i
		}
		for i, p := range nn.Argmax(m.Forward(nil, gatherRows(x, idx))) {
			right[lo+i] = p == y[lo+i]
			if right[lo+i] {
				correct++
			}
		}
	}
	return float64(correct) / float64(n)
}

// LoadImages copies the first n images of ds (all if n ≤ 0 or larger) into
// one batch with their labels.
func LoadImages(ds data.Dataset, n int) (*nn.Tensor, []int) {
	if n <= 0 || n > ds.Len() {
		n = ds.Len()
	}
	c, h, w := ds.Shape()
	x := nn.New(n, c, h, w)
	y := make([]int, n)
	per := c * h * w
	for i := range n {
		y[i] = ds.Image(i, x.Data[i*per:(i+1)*per])
	}
	return x, y
}

// cell finds the cell of (model, attack, mode).
func (r *Report) cell(model, attack string, mode GradMode) (Cell, bool) {
	for _, c := range r.Cells {
		if c.Model == model && c.Attack == attack && c.Grad == mode {
			return c, true
		}
	}
	return Cell{}, false
}

// Table is a robustness report laid out for reading, the one layout every
// view of a report shares (the CLI's text, the TUI's report view): a row
// for the clean accuracy, a row per attack and gradient mode, a row for
// the pointwise worst case; a column of robust accuracies per model.
// Every number is a cell; a cell with no number says why ("not run",
// "running 40/100").
type Table struct {
	// Head names the columns: attack, gradient, budget, n, then the
	// models.
	Head []string
	Rows [][]string
	// Notes are the footnotes marked ¹, ², … after an attack's name: the
	// budget warnings.
	Notes []string
	// Legend gives each attack's parameters, Caption what the numbers are.
	Legend  []string
	Caption string
}

// The first columns of a Table.
const (
	ColAttack = iota
	ColGradient
	ColBudget
	ColN
	ColFirstModel
)

// superscripts mark footnotes.
var superscripts = []string{"¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"}

func footMark(k int) string {
	if k <= len(superscripts) {
		return superscripts[k-1]
	}
	return fmt.Sprintf("(%d)", k)
}

// Table lays the report out (see Table).
func (r *Report) Table() Table {
	t := Table{Head: []string{"attack", "gradient", "budget", "n"}}
	for _, m := range r.Models {
		t.Head = append(t.Head, m.Name)
	}
	n := imageCount(r.N)
	row := []string{"clean", "", "", n}
	for _, m := range r.Models {
		row = append(row, Percent(m.CleanAcc))
	}
	t.Rows = append(t.Rows, row)
	complete := true
	for _, a := range r.Attacks {
		name := a.Name
		if a.Warning != "" {
			mark := footMark(len(t.Notes) + 1)
			name += " " + mark
			t.Notes = append(t.Notes, mark+" "+a.Warning)
		}
		budget := a.Budget
		if budget == "" && a.Eps > 0 {
			budget = "ε " + fmtEps(a.Eps)
		}
		modes := r.Modes
		if !a.WhiteBox {
			modes = []GradMode{""}
		}
		for _, mode := range modes {
			grad := string(mode)
			if !a.WhiteBox {
				grad = BlackBoxLabel
			}
			cn := r.N
			row := []string{name, grad, budget, ""}
			for _, m := range r.Models {
				c, ok := r.cell(m.Name, a.Name, mode)
				switch run := r.Running; {
				case ok:
					row = append(row, Percent(c.RobustAcc))
					cn = c.N
				case run != nil && run.Model == m.Name && run.Attack == a.Name && run.Grad == mode:
					row = append(row, fmt.Sprintf("running %d/%d", run.CellDone, run.CellN))
					complete = false
				default:
					row = append(row, "not run")
					complete = false
				}
			}
			row[ColN] = imageCount(cn)
			t.Rows = append(t.Rows, row)
		}
		t.Legend = append(t.Legend, a.Name+": "+a.Label)
	}
	row = []string{"worst case", "all rows", "", n}
	for _, m := range r.Models {
		v := Percent(m.WorstCase)
		if !complete {
			v += " so far"
		}
		row = append(row, v)
	}
	t.Rows = append(t.Rows, row)
	t.Caption = fmt.Sprintf("Robust accuracy on %d %s images (pixels in [0,1], normalisation inside the models; seed %d",
		r.N, orDefault(r.Dataset, "test"), r.Seed)
	if r.BatchSize > 0 {
		t.Caption += fmt.Sprintf(", batches of %d", r.BatchSize)
	}
	t.Caption += "). Gradient: own = the model's own feedback path, true = the exact gradient, " +
		BlackBoxLabel + " = the model's outputs only. Worst case: the images classified correctly clean and under every attack."
	return t
}

// imageCount writes a number of images, "n/a" when it is unknown (a lab
// report written before reports said how many images each row attacks).
func imageCount(n int) string {
	if n <= 0 {
		return "n/a"
	}
	return strconv.Itoa(n)
}

// Percent writes a fraction as a percentage with one decimal: "63.0%",
// and "0.0%" for 0 (a number, not a missing one).
func Percent(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

// Lines lays out the head and the rows: text columns (attack, gradient,
// budget) flush left, numbers flush right, two spaces apart.
func (t Table) Lines() []string {
	width := make([]int, len(t.Head))
	for _, r := range append([][]string{t.Head}, t.Rows...) {
		for i, c := range r {
			if i < len(width) {
				width[i] = max(width[i], utf8.RuneCountInString(c))
			}
		}
	}
	line := func(r []string) string {
		var b strings.Builder
		for i, c := range r {
			if i >= len(width) {
				break
			}
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if i < ColN {
				b.WriteString(c + pad)
			} else {
				b.WriteString(pad + c)
			}
		}
		return strings.TrimRight(b.String(), " ")
	}
	out := []string{line(t.Head)}
	for _, r := range t.Rows {
		out = append(out, line(r))
	}
	return out
}

// WriteTable writes the report's Table as text: the table, its footnotes
// (budget warnings), the caption, and each attack's parameters.
func (r *Report) WriteTable(w io.Writer) error {
	t := r.Table()
	var b strings.Builder
	for _, l := range t.Lines() {
		b.WriteString(l + "\n")
	}
	if len(t.Notes) > 0 {
		b.WriteString("\n")
		for _, l := range t.Notes {
			b.WriteString(l + "\n")
		}
	}
	b.WriteString("\n")
	for _, l := range wrapWords(t.Caption+fmt.Sprintf(" Took %.1f s.", r.Seconds), 100) {
		b.WriteString(l + "\n")
	}
	for _, l := range t.Legend {
		b.WriteString("  " + l + "\n")
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write report table: %w", err)
	}
	return nil
}

// wrapWords breaks s into lines of at most w runes at spaces (a longer
// word gets a line of its own).
func wrapWords(s string, w int) []string {
	var out []string
	line := ""
	for _, word := range strings.Fields(s) {
		switch {
		case line == "":
			line = word
		case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) <= w:
			line += " " + word
		default:
			out = append(out, line)
			line = word
		}
	}
	if line != "" {
		out = append(out, line)
	}
	return out
}

// WriteJSON writes the report as one JSON object and a newline.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("write report json: %w", err)
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

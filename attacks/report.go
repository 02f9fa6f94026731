package attacks

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bionaslab/bionas/data"
	"github.com/bionaslab/bionas/nn"
)

// ReportModel is one row of a robustness report.
type ReportModel struct {
	Name  string // row label
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
	BatchSize int
	// Seed seeds every attack; batch b gets a seed derived from (Seed, b),
	// the same for every model and mode, so rows differ only by model.
	Seed uint64
	// Progress, if set, is called after each attacked batch.
	Progress func(ReportProgress)
	// OnCell, if set, is called with each finished cell.
	OnCell func(Cell)
}

// ReportProgress tells where a report run is.
type ReportProgress struct {
	Model, Attack string
	Grad          GradMode
	// Done and Total count (model, attack, mode, batch) units.
	Done, Total int
}

// Cell is the robust accuracy of one model under one attack in one mode.
type Cell struct {
	Model  string   `json:"model"`
	Rule   string   `json:"rule,omitempty"`
	Attack string   `json:"attack"`
	Label  string   `json:"label"`
	Grad   GradMode `json:"grad,omitempty"` // empty for black-box attacks
	// Eps is the L∞ budget in pixels (0 for One-Pixel).
	Eps float64 `json:"eps"`
	N   int     `json:"n"`
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

// AttackInfo describes one column group of a report.
type AttackInfo struct {
	Name     string  `json:"name"`
	Label    string  `json:"label"`
	Eps      float64 `json:"eps"`
	WhiteBox bool    `json:"white_box"`
}

// ModelInfo describes one row of a report.
type ModelInfo struct {
	Name     string  `json:"name"`
	Rule     string  `json:"rule,omitempty"`
	CleanAcc float64 `json:"clean_accuracy"`
}

// Report is a models × attacks table of robust accuracies, like the
// paper's Table 4.
type Report struct {
	Dataset string       `json:"dataset,omitempty"`
	N       int          `json:"n"`
	Seed    uint64       `json:"seed"`
	Modes   []GradMode   `json:"modes"`
	Models  []ModelInfo  `json:"models"`
	Attacks []AttackInfo `json:"attacks"`
	Cells   []Cell       `json:"cells"`
	Seconds float64      `json:"seconds"`
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
	if len(cfg.Modes) == 0 {
		cfg.Modes = []GradMode{Own}
	}
	for i, m := range cfg.Modes {
		pm, err := ParseGradMode(string(m))
		if err != nil {
			return nil, fmt.Errorf("robustness report: %w", err)
		}
		cfg.Modes[i] = pm
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 100
	}
	n := cfg.X.Shape[0]
	batches := (n + cfg.BatchSize - 1) / cfg.BatchSize
	start := time.Now()
	rep := &Report{Dataset: cfg.Dataset, N: n, Seed: cfg.Seed, Modes: cfg.Modes}
	units := 0
	for _, a := range cfg.Attacks {
		rep.Attacks = append(rep.Attacks, AttackInfo{Name: a.Name(), Label: a.Label(), Eps: a.Epsilon(), WhiteBox: a.WhiteBox()})
		if a.WhiteBox() {
			units += len(cfg.Modes)
		} else {
			units++
		}
	}
	prog := ReportProgress{Total: units * batches * len(cfg.Models)}
	for _, m := range cfg.Models {
		clean := accuracyOn(m.Model, cfg.X, cfg.Y, cfg.BatchSize)
		rep.Models = append(rep.Models, ModelInfo{Name: m.Name, Rule: m.Rule, CleanAcc: clean})
		for _, a := range cfg.Attacks {
			modes := cfg.Modes
			if !a.WhiteBox() {
				modes = []GradMode{""}
			}
			for _, mode := range modes {
				prog.Model, prog.Attack, prog.Grad = m.Name, a.Name(), mode
				cell, err := attackCell(ctx, cfg, m, a, mode, batches, func() {
					prog.Done++
					if cfg.Progress != nil {
						cfg.Progress(prog)
					}
				})
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
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

// attackCell runs one attack in one mode on one model over all batches.
func attackCell(ctx context.Context, cfg ReportConfig, m ReportModel, a Spec, mode GradMode, batches int, tick func()) (Cell, error) {
	n := cfg.X.Shape[0]
	cell := Cell{Model: m.Name, Rule: m.Rule, Attack: a.Name(), Label: a.Label(), Grad: mode, Eps: a.Epsilon(), N: n}
	start := time.Now()
	correct, hits, queries := 0, 0, 0
	targeted := false
	var l2 float64
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
		adv, err := run.Run(ctx)
		if err != nil {
			return Cell{}, fmt.Errorf("robustness report: model %s: %w", m.Name, err)
		}
		pred := nn.Argmax(m.Model.Forward(nil, adv))
		st := run.State()
		for i, p := range pred {
			if p == y[i] {
				correct++
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
		tick()
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

// accuracyOn is the clean accuracy of m on (x, y).
func accuracyOn(m Model, x *nn.Tensor, y []int, batch int) float64 {
	n := x.Shape[0]
	correct := 0
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		idx := make([]int, hi-lo)
		for i := range idx {
			idx[i] = lo + i
		}
		correct += nn.Accuracy(m.Forward(nil, gatherRows(x, idx)), y[lo:hi])
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

// WriteTable writes the report as a text table: one row per model, the
// clean accuracy, then per attack one column per gradient mode (one for
// black-box attacks), in percent; a legend gives each attack's parameters.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head1, head2 := []string{"model", "clean"}, []string{"", ""}
	for _, a := range r.Attacks {
		if a.WhiteBox {
			for _, m := range r.Modes {
				head1, head2 = append(head1, a.Name), append(head2, string(m))
			}
		} else {
			head1, head2 = append(head1, a.Name), append(head2, "-")
		}
	}
	fmt.Fprintln(tw, strings.Join(head1, "\t")+"\t")
	fmt.Fprintln(tw, strings.Join(head2, "\t")+"\t")
	for _, m := range r.Models {
		row := []string{m.Name, pct(m.CleanAcc)}
		for _, a := range r.Attacks {
			modes := r.Modes
			if !a.WhiteBox {
				modes = []GradMode{""}
			}
			for _, mode := range modes {
				if c, ok := r.cell(m.Name, a.Name, mode); ok {
					row = append(row, pct(c.RobustAcc))
				} else {
					row = append(row, "—")
				}
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write report table: %w", err)
	}
	fmt.Fprintf(w, "\nRobust accuracy (%%) on %d %s images, pixels in [0,1], normalisation inside the models; ", r.N, orDefault(r.Dataset, "test"))
	fmt.Fprintf(w, "own = each model's feedback path, true = exact gradient, - = black-box. Seed %d, %.0f s.\n", r.Seed, r.Seconds)
	for _, a := range r.Attacks {
		fmt.Fprintf(w, "  %-9s %s\n", a.Name, a.Label)
	}
	return nil
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

func pct(f float64) string { return fmt.Sprintf("%.1f", 100*f) }

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

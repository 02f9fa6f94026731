package attacks

import (
	"context"
	"fmt"
	"math"

	"github.com/bionaslab/bionas/nn"
)

// SquareConfig configures the Square attack in L∞ (Andriushchenko et al.;
// REFERENCE.md §4.7), a black-box random search that only reads logits.
//
// Only images the model classifies correctly (targeted: not already as
// their target) are attacked; each restart attacks those still unfooled.
// A restart starts from vertical stripes x + ε·s, s = ±1 per (image,
// channel, column). Iteration i then draws a square of side
// s = max(round(√(p·H·W)), 1), with p = p_init halved at the fixed
// fractions of the budget (rescaled to 10000 queries), moves the window of
// every channel by ±2ε (one sign per channel), projects onto the ε-ball and
// [0,1], and keeps the candidate if it lowers the loss (margin or CE) or
// fools the model. An image stops when fooled. The result is the fooled
// image, or the clean image where the attack failed.
//
// By default every image draws its own window and signs, as in the
// original algorithm; SharedWindow draws one window and one set of signs
// per iteration for the whole batch, as torchattacks does.
//
// Queries: Queries bounds the model evaluations of an image in one restart,
// the striped start included (the reference code can spend one more); one
// further query classifies the clean image once. So an image never costs
// more than 1 + Restarts·Queries evaluations.
//
// Deviation from the reference code, on purpose: the window's corner is
// drawn from all H−s+1 positions (the reference's randint excludes the
// last one, and fails when s = H).
//
// The zero value is torchattacks' default: ε 8/255, 5000 queries, 1
// restart, p_init 0.8, margin loss, rescaled schedule. The paper's code ran
// 50 queries (preset "paper").
type SquareConfig struct {
	Eps      float64 // L∞ budget (default 8/255)
	Queries  int     // per image per restart (default 5000)
	Restarts int     // default 1
	PInit    float64 // initial fraction of pixels in the square (default 0.8)
	// Loss is "margin" (default) or "ce".
	Loss string
	// NoRescale uses the iteration number itself in the p schedule
	// instead of rescaling it to a 10000-query budget.
	NoRescale bool
	// SharedWindow shares each iteration's window and signs across the
	// batch (torchattacks' variant).
	SharedWindow bool
	Target       Targeting
}

func (c SquareConfig) withDefaults() SquareConfig {
	if c.Eps == 0 {
		c.Eps = 8.0 / 255
	}
	if c.Queries == 0 {
		c.Queries = 5000
	}
	if c.Restarts == 0 {
		c.Restarts = 1
	}
	if c.PInit == 0 {
		c.PInit = 0.8
	}
	if c.Loss == "" {
		c.Loss = "margin"
	}
	return c
}

// Name is "square".
func (SquareConfig) Name() string { return "square" }

// Label describes the parameters.
func (c SquareConfig) Label() string {
	c = c.withDefaults()
	s := fmt.Sprintf("Square ε=%s %d queries", fmtEps(c.Eps), c.Queries)
	if c.Restarts > 1 {
		s += fmt.Sprintf(" %d restarts", c.Restarts)
	}
	if c.SharedWindow {
		s += " shared window"
	}
	return s + targetLabel(c.Target)
}

// WhiteBox is false.
func (SquareConfig) WhiteBox() bool { return false }

// Epsilon is the L∞ budget.
func (c SquareConfig) Epsilon() float64 { return c.withDefaults().Eps }

// QueryBudget is the most model evaluations one image can cost.
func (c SquareConfig) QueryBudget() int {
	c = c.withDefaults()
	return 1 + c.Restarts*c.Queries
}

// Start begins Square on (x, y).
func (c SquareConfig) Start(m Model, x *nn.Tensor, y []int, opt Options) (Attack, error) {
	return NewSquare(m, x, y, c, opt)
}

// Square is one Square attack; the first Step of a restart evaluates the
// striped start, each later one is one query per unfooled image.
type Square struct {
	*base
	cfg     SquareConfig
	c, h, w int
	robust  []bool
	restart int
	run     *squareRun
}

// squareRun is one restart on the images idx.
type squareRun struct {
	idx      []int
	best     *nn.Tensor // per attacked image, its best point
	marginV  []float32  // margin at best (≤ 0: fooled)
	lossMin  []float32
	predBest []int
	i        int // iterations done (the start not counted)
}

// NewSquare validates cfg and classifies the clean images (one query).
func NewSquare(m Model, x *nn.Tensor, y []int, cfg SquareConfig, opt Options) (*Square, error) {
	cfg = cfg.withDefaults()
	b, err := newBase("square", m, x, y, opt)
	if err != nil {
		return nil, err
	}
	if !epsOK(cfg.Eps) || cfg.Queries < 1 || cfg.Restarts < 1 || !(cfg.PInit > 0 && cfg.PInit <= 1) {
		return nil, fmt.Errorf("square: need 0 < ε ≤ 1, queries ≥ 1, restarts ≥ 1, 0 < p_init ≤ 1, got ε %v, queries %d, restarts %d, p_init %v", cfg.Eps, cfg.Queries, cfg.Restarts, cfg.PInit)
	}
	if cfg.Loss != "margin" && cfg.Loss != "ce" {
		return nil, fmt.Errorf("square: unknown loss %q: want margin or ce", cfg.Loss)
	}
	if err := b.initTargets(cfg.Target); err != nil {
		return nil, err
	}
	_, c, h, w := x.NCHW("square")
	a := &Square{base: b, cfg: cfg, c: c, h: h, w: w, robust: make([]bool, b.n)}
	b.keepIterate()
	b.st.Pred = nn.Argmax(b.cleanLogits())
	for i, p := range b.st.Pred {
		a.robust[i] = !b.success(i, p)
	}
	b.st.Iters = cfg.Restarts * cfg.Queries
	b.st.Loss = nanSlice(b.n)
	b.st.BestLoss = nanSlice(b.n)
	return a, nil
}

// marginLoss evaluates candidates (rows of batch, batch images rows) and
// returns margin, loss and prediction per row.
func (a *Square) marginLoss(batch *nn.Tensor, rows []int) (mg, loss []float32, pred []int) {
	logits := a.o.logits(batch, rows)
	k := logits.Shape[1]
	mg, loss = make([]float32, len(rows)), make([]float32, len(rows))
	targeted := a.st.Targets != nil
	for j, i := range rows {
		row := logits.Data[j*k : (j+1)*k]
		g := a.goal(i)
		mg[j] = margin(row, g, targeted)
		switch {
		case a.cfg.Loss == "margin":
			loss[j] = mg[j]
		case targeted:
			loss[j] = rowCE(row, g)
		default:
			loss[j] = -rowCE(row, g)
		}
	}
	return mg, loss, nn.Argmax(logits)
}

// pSelection is the fraction of pixels in the square at iteration i.
func (a *Square) pSelection(i int) float64 {
	if !a.cfg.NoRescale {
		i = int(float64(i) / float64(a.cfg.Queries) * 10000)
	}
	p := a.cfg.PInit
	switch {
	case i <= 10:
	case i <= 50:
		p /= 2
	case i <= 200:
		p /= 4
	case i <= 500:
		p /= 8
	case i <= 1000:
		p /= 16
	case i <= 2000:
		p /= 32
	case i <= 4000:
		p /= 64
	case i <= 6000:
		p /= 128
	case i <= 8000:
		p /= 256
	default:
		p /= 512
	}
	return p
}

// Step evaluates a restart's striped start or runs one iteration.
func (a *Square) Step(ctx context.Context) (bool, error) {
	if a.st.Done {
		return true, nil
	}
	if err := a.checkCtx(ctx); err != nil {
		return false, err
	}
	if a.run == nil {
		if !a.begin() {
			a.norms()
			return a.finish()
		}
		a.st.Iter++
		a.afterStep()
		return a.st.Done, nil
	}
	a.iterate()
	a.st.Iter++
	a.afterStep()
	return a.st.Done, nil
}

// afterStep closes the restart when its budget is spent or every image in
// it is fooled, and the attack when nothing is left to attack or no
// restart is left.
func (a *Square) afterStep() {
	a.norms()
	r := a.run
	left := false
	for _, m := range r.marginV {
		left = left || m > 0
	}
	if left && r.i < a.cfg.Queries-1 {
		return
	}
	a.run = nil
	robust := false
	for _, rb := range a.robust {
		robust = robust || rb
	}
	if !robust || a.restart >= a.cfg.Restarts {
		a.st.Done = true
	}
}

// begin starts a restart on the still-robust images with the striped start
// (one query each). It returns false when nothing is left to attack.
func (a *Square) begin() bool {
	if a.restart >= a.cfg.Restarts {
		return false
	}
	var idx []int
	for i, r := range a.robust {
		if r {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return false
	}
	a.restart++
	r := &squareRun{idx: idx, best: gatherRows(a.x, idx)}
	eps := float32(a.cfg.Eps)
	plane := a.h * a.w
	for j := range idx {
		img := r.best.Data[j*a.per : (j+1)*a.per]
		for ch := range a.c {
			for col := range a.w {
				s := eps
				if a.rng.IntN(2) == 0 {
					s = -eps
				}
				for row := range a.h {
					q := ch*plane + row*a.w + col
					img[q] = min(max(img[q]+s, 0), 1)
				}
			}
		}
	}
	r.marginV, r.lossMin, r.predBest = a.marginLoss(r.best, idx)
	a.run = r
	a.accept(r, nil)
	return true
}

// accept publishes the run's best points into the state; images fooled
// become results and leave the robust set.
func (a *Square) accept(r *squareRun, only []int) {
	publish := func(j int) {
		i := r.idx[j]
		a.st.BestLoss[i] = r.lossMin[j]
		copy(a.image(a.st.Iterate, i), r.best.Data[j*a.per:(j+1)*a.per])
		if r.marginV[j] <= 0 {
			a.robust[i] = false
			copy(a.image(a.st.Adv, i), r.best.Data[j*a.per:(j+1)*a.per])
			a.st.Pred[i] = r.predBest[j]
		}
	}
	if only == nil {
		for j := range r.idx {
			publish(j)
		}
		return
	}
	for _, j := range only {
		publish(j)
	}
}

// iterate runs one iteration of the current restart on its unfooled
// images: one candidate, one query each.
func (a *Square) iterate() {
	r := a.run
	var js []int // positions in the run still to fool
	for j, m := range r.marginV {
		if m > 0 {
			js = append(js, j)
		}
	}
	p := a.pSelection(r.i)
	s := max(int(math.Round(math.Sqrt(p*float64(a.h*a.w)))), 1)
	s = min(s, a.h, a.w)
	eps := float32(a.cfg.Eps)
	shape := append([]int{len(js)}, a.x.Shape[1:]...)
	cand := nn.New(shape...)
	rows := make([]int, len(js))
	signs := make([]float32, a.c)
	var vh, vw int
	draw := func() {
		vh, vw = a.rng.IntN(a.h-s+1), a.rng.IntN(a.w-s+1)
		for ch := range signs {
			signs[ch] = 2 * eps
			if a.rng.IntN(2) == 0 {
				signs[ch] = -2 * eps
			}
		}
	}
	if a.cfg.SharedWindow {
		draw()
	}
	plane := a.h * a.w
	for q, j := range js {
		i := r.idx[j]
		rows[q] = i
		if !a.cfg.SharedWindow {
			draw()
		}
		img := cand.Data[q*a.per : (q+1)*a.per]
		copy(img, r.best.Data[j*a.per:(j+1)*a.per])
		for ch := range a.c {
			for row := vh; row < vh+s; row++ {
				for col := vw; col < vw+s; col++ {
					img[ch*plane+row*a.w+col] += signs[ch]
				}
			}
		}
		project(img, a.image(a.x, i), eps)
	}
	mg, loss, pred := a.marginLoss(cand, rows)
	for q, j := range js {
		i := r.idx[j]
		a.st.Loss[i] = loss[q]
		improved := loss[q] < r.lossMin[j]
		if improved {
			r.lossMin[j] = loss[q]
		}
		if improved || mg[q] <= 0 {
			r.marginV[j] = mg[q]
			r.predBest[j] = pred[q]
			copy(r.best.Data[j*a.per:(j+1)*a.per], cand.Data[q*a.per:(q+1)*a.per])
		}
	}
	r.i++
	a.accept(r, js)
}

// Run searches to the end and returns the fooled images, clean where the
// attack failed.
func (a *Square) Run(ctx context.Context) (*nn.Tensor, error) { return drive(ctx, a) }

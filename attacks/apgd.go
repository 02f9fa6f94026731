package attacks

import (
	"context"
	"fmt"
	"math"

	"github.com/bionaslab/bionas/nn"
)

// APGDConfig configures Auto-PGD in L∞ (Croce & Hein 2020; REFERENCE.md
// §4.5), untargeted. Only images the model classifies correctly are
// attacked, and each restart attacks the images still not fooled.
//
// One run: x⁰ = clip(x + ε·t/max|t|, 0, 1) with t ~ U(−1,1); step size
// η = 2ε per image; iteration i:
//
//	z = P(xᵢ + η·nn.Sign(gᵢ)),  xᵢ₊₁ = P(xᵢ + a·(z − xᵢ) + (1−a)·(xᵢ − xᵢ₋₁))
//
// with a = 1 at i = 0, else 0.75, and P the projection onto the ε-ball and
// [0,1]. The best-loss point and its gradient are tracked; at checkpoints
// (after p₁ = ⌊0.22·N⌋ iterations, then lengths shrinking by ⌊0.03·N⌋ down
// to ⌊0.06·N⌋, each at least 1) an image halves its η and restarts from its
// best point if its loss rose in at most ρ·k of the last k iterations, or if
// its η was not halved at the previous checkpoint and its best loss did not
// improve since.
//
// The result is, per image, the last iterate that fooled the model, or the
// clean image where none did (not the highest-loss iterate).
//
// Deviation from the reference code, on purpose (its QUIRK): at the first
// checkpoint the reference compares the oldest loss of the window with an
// unfilled row of its history (zero); here it is compared with the loss at
// x⁰, as the paper intends.
//
// The zero value is torchattacks' default (ε 8/255, 10 steps, 1 restart,
// CE, ρ 0.75); the paper ran 50 steps (preset "paper").
type APGDConfig struct {
	Eps      float64 // L∞ budget (default 8/255)
	Steps    int     // iterations per restart (default 10)
	Restarts int     // default 1
	// Loss is "ce" (default) or "dlr" (needs at least 3 classes).
	Loss string
	// Rho is the oscillation threshold of the checkpoints (default 0.75).
	Rho float64
}

func (c APGDConfig) withDefaults() APGDConfig {
	if c.Eps == 0 {
		c.Eps = 8.0 / 255
	}
	if c.Steps == 0 {
		c.Steps = 10
	}
	if c.Restarts == 0 {
		c.Restarts = 1
	}
	if c.Loss == "" {
		c.Loss = "ce"
	}
	if c.Rho == 0 {
		c.Rho = 0.75
	}
	return c
}

// Name is "apgd".
func (APGDConfig) Name() string { return "apgd" }

// Label describes the parameters.
func (c APGDConfig) Label() string {
	c = c.withDefaults()
	s := fmt.Sprintf("APGD-%s ε=%s %d steps", c.Loss, fmtEps(c.Eps), c.Steps)
	if c.Restarts > 1 {
		s += fmt.Sprintf(" %d restarts", c.Restarts)
	}
	return s
}

// WhiteBox is true.
func (APGDConfig) WhiteBox() bool { return true }

// Epsilon is the L∞ budget.
func (c APGDConfig) Epsilon() float64 { return c.withDefaults().Eps }

// Start begins APGD on (x, y).
func (c APGDConfig) Start(m Model, x *nn.Tensor, y []int, opt Options) (Attack, error) {
	return NewAPGD(m, x, y, c, opt)
}

// APGD is one Auto-PGD attack; each Step is one iteration of the current
// restart.
type APGD struct {
	*base
	cfg     APGDConfig
	robust  []bool // per image: correctly classified and not fooled so far
	restart int    // restarts begun
	run     *apgdRun
	// schedule constants
	p1, kMin, kDecr int
}

// apgdRun is the state of one restart on the images idx.
type apgdRun struct {
	idx                []int // batch indices of the attacked images
	x                  *nn.Tensor
	y                  []int
	loss               lossFunc
	adv, old, best     *nn.Tensor
	grad, gradBest     []float32
	lossBest, lastBest []float32
	eta                []float32
	hist               [][]float32 // hist[0]: loss at x⁰; hist[t+1]: after iteration t
	reducedLast        []bool
	fooledNow          []bool
	i, counter, k      int
}

// NewAPGD validates cfg and classifies the clean images (one query).
func NewAPGD(m Model, x *nn.Tensor, y []int, cfg APGDConfig, opt Options) (*APGD, error) {
	cfg = cfg.withDefaults()
	b, err := newBase("apgd", m, x, y, opt)
	if err != nil {
		return nil, err
	}
	if !epsOK(cfg.Eps) || cfg.Steps < 1 || cfg.Restarts < 1 || cfg.Rho <= 0 || cfg.Rho > 1 {
		return nil, fmt.Errorf("apgd: need 0 < ε ≤ 1, steps ≥ 1, restarts ≥ 1, 0 < ρ ≤ 1, got ε %v, steps %d, restarts %d, ρ %v", cfg.Eps, cfg.Steps, cfg.Restarts, cfg.Rho)
	}
	if cfg.Loss != "ce" && cfg.Loss != "dlr" {
		return nil, fmt.Errorf("apgd: unknown loss %q: want ce or dlr", cfg.Loss)
	}
	clean := b.cleanLogits()
	if cfg.Loss == "dlr" && clean.Shape[1] < 3 {
		return nil, fmt.Errorf("apgd: the dlr loss needs at least 3 classes, the model has %d", clean.Shape[1])
	}
	a := &APGD{base: b, cfg: cfg, robust: make([]bool, b.n)}
	b.keepIterate()
	a.p1 = max(int(0.22*float64(cfg.Steps)), 1)
	a.kMin = max(int(0.06*float64(cfg.Steps)), 1)
	a.kDecr = max(int(0.03*float64(cfg.Steps)), 1)
	b.st.Pred = nn.Argmax(clean)
	for i, p := range b.st.Pred {
		a.robust[i] = p == b.y[i]
	}
	b.st.Iters = cfg.Steps * cfg.Restarts
	b.st.Loss = nanSlice(b.n)
	b.st.BestLoss = nanSlice(b.n)
	return a, nil
}

func nanSlice(n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(math.NaN())
	}
	return s
}

// Step runs one iteration, beginning a restart (its random start and the
// gradient there) when none is under way.
func (a *APGD) Step(ctx context.Context) (bool, error) {
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
	}
	a.iterate()
	a.st.Iter++
	if a.run.i == a.cfg.Steps {
		a.run = nil
		if a.restart >= a.cfg.Restarts {
			a.norms()
			return a.finish()
		}
	}
	a.norms()
	return false, nil
}

// begin starts the next restart on the images still robust; it returns
// false when there is none left (or no restart left).
func (a *APGD) begin() bool {
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
	r := &apgdRun{idx: idx, x: gatherRows(a.x, idx), y: make([]int, len(idx)), k: a.p1}
	for j, i := range idx {
		r.y[j] = a.y[i]
	}
	if a.cfg.Loss == "dlr" {
		r.loss = dlrLoss(r.y, true)
	} else {
		r.loss = ceLoss(r.y, 1, false, true)
	}
	// x⁰ = x + ε·t/max|t| per image: a random point on the ball's surface
	// along the largest coordinate.
	per, eps := a.per, float32(a.cfg.Eps)
	r.adv = r.x.Clone()
	t := make([]float32, per)
	for j := range idx {
		var mx float32
		for q := range t {
			t[q] = 2*a.rng.Float32() - 1
			mx = max(mx, float32(math.Abs(float64(t[q]))))
		}
		img := r.adv.Data[j*per : (j+1)*per]
		for q := range img {
			img[q] = min(max(img[q]+eps*t[q]/mx, 0), 1)
		}
	}
	logits, loss, grad := a.o.gradient(r.adv, idx, r.loss)
	r.grad, r.gradBest = grad, append([]float32(nil), grad...)
	r.best, r.old = r.adv.Clone(), r.adv.Clone()
	r.lossBest = append([]float32(nil), loss...)
	r.lastBest = append([]float32(nil), loss...)
	r.hist = [][]float32{loss}
	r.eta = make([]float32, len(idx))
	r.reducedLast = make([]bool, len(idx))
	for j := range idx {
		r.eta[j] = 2 * eps
		r.reducedLast[j] = true
	}
	a.record(r, logits, loss)
	a.run = r
	return true
}

// record notes the predictions and losses at the run's current iterate:
// an image misclassified there is fooled and its iterate becomes its
// result.
func (a *APGD) record(r *apgdRun, logits *nn.Tensor, loss []float32) {
	pred := nn.Argmax(logits)
	for j, i := range r.idx {
		a.st.Loss[i] = loss[j]
		a.st.BestLoss[i] = r.lossBest[j]
		copy(a.image(a.st.Iterate, i), r.adv.Data[j*a.per:(j+1)*a.per])
		if pred[j] != r.y[j] {
			a.robust[i] = false
			copy(a.image(a.st.Adv, i), r.adv.Data[j*a.per:(j+1)*a.per])
			a.st.Pred[i] = pred[j]
		}
	}
}

// iterate runs iteration r.i of the current run.
func (a *APGD) iterate() {
	r, per, eps := a.run, a.per, float32(a.cfg.Eps)
	alpha := float32(0.75)
	if r.i == 0 {
		alpha = 1
	}
	next := r.adv.Clone()
	for j := range r.idx {
		lo, hi := j*per, (j+1)*per
		cur, old, c := r.adv.Data[lo:hi], r.old.Data[lo:hi], r.x.Data[lo:hi]
		g, nx := r.grad[lo:hi], next.Data[lo:hi]
		for q := range nx {
			z := cur[q] + r.eta[j]*nn.Sign(g[q])
			z = min(max(z, max(c[q]-eps, 0)), min(c[q]+eps, 1))
			nx[q] = cur[q] + alpha*(z-cur[q]) + (1-alpha)*(cur[q]-old[q])
		}
		project(nx, c, eps)
	}
	r.old, r.adv = r.adv, next
	logits, loss, grad := a.o.gradient(r.adv, r.idx, r.loss)
	r.grad = grad
	for j := range r.idx {
		if loss[j] > r.lossBest[j] {
			lo, hi := j*per, (j+1)*per
			copy(r.best.Data[lo:hi], r.adv.Data[lo:hi])
			copy(r.gradBest[lo:hi], grad[lo:hi])
			r.lossBest[j] = loss[j]
		}
	}
	r.hist = append(r.hist, loss)
	a.record(r, logits, loss)
	r.counter++
	if r.counter == r.k {
		a.checkpoint(r)
	}
	r.i++
}

// checkpoint halves η (and returns to the best point) for the images whose
// progress stalled over the last k iterations.
func (a *APGD) checkpoint(r *apgdRun) {
	per := a.per
	last := len(r.hist) - 1
	for j := range r.idx {
		ups := 0
		for t := last - r.k + 1; t <= last; t++ {
			if r.hist[t][j] > r.hist[t-1][j] {
				ups++
			}
		}
		oscillating := float64(ups) <= float64(r.k)*a.cfg.Rho
		stalled := !r.reducedLast[j] && r.lastBest[j] >= r.lossBest[j]
		reduce := oscillating || stalled
		r.reducedLast[j] = reduce
		r.lastBest[j] = r.lossBest[j]
		if reduce {
			r.eta[j] /= 2
			lo, hi := j*per, (j+1)*per
			copy(r.adv.Data[lo:hi], r.best.Data[lo:hi])
			copy(r.grad[lo:hi], r.gradBest[lo:hi])
		}
	}
	r.counter = 0
	r.k = max(r.k-a.kDecr, a.kMin)
}

// Run steps to the end and returns, per image, its fooling iterate or its
// clean image.
func (a *APGD) Run(ctx context.Context) (*nn.Tensor, error) { return drive(ctx, a) }

// gatherRows copies the images idx of t into a new batch.
func gatherRows(t *nn.Tensor, idx []int) *nn.Tensor {
	per := t.Len() / t.Shape[0]
	shape := append([]int{len(idx)}, t.Shape[1:]...)
	out := nn.New(shape...)
	for j, i := range idx {
		copy(out.Data[j*per:(j+1)*per], t.Data[i*per:(i+1)*per])
	}
	return out
}

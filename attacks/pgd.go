package attacks

import (
	"context"
	"fmt"

	"github.com/bionaslab/bionas/nn"
)

// PGDConfig configures projected gradient descent in L∞ (REFERENCE.md
// §4.3):
//
//	x⁰ = clip(x + U(−ε, ε), 0, 1)                       (random start)
//	xᵗ⁺¹ = clip(x + clip(xᵗ + α·sign(∇ CE_mean(f(xᵗ), y)) − x, −ε, ε), 0, 1)
//
// returning the last iterate (no best-iterate tracking, as torchattacks).
// Targeted, the step descends the cross-entropy to the target. The zero
// value is torchattacks' default: ε 8/255, α 2/255, 10 steps, random start;
// the paper used ε 0.35 with the same α and steps (preset "paper").
type PGDConfig struct {
	Eps   float64 // L∞ budget (default 8/255)
	Alpha float64 // step size (default 2/255)
	Steps int     // iterations (default 10)
	// NoRandomStart starts from x itself instead of a uniform point of the
	// ε-ball.
	NoRandomStart bool
	Target        Targeting
}

func (c PGDConfig) withDefaults() PGDConfig {
	if c.Eps == 0 {
		c.Eps = 8.0 / 255
	}
	if c.Alpha == 0 {
		c.Alpha = 2.0 / 255
	}
	if c.Steps == 0 {
		c.Steps = 10
	}
	return c
}

// Name is "pgd".
func (PGDConfig) Name() string { return "pgd" }

// Label describes the parameters.
func (c PGDConfig) Label() string {
	c = c.withDefaults()
	s := fmt.Sprintf("PGD ε=%s α=%s %d steps", fmtEps(c.Eps), fmtEps(c.Alpha), c.Steps)
	if c.NoRandomStart {
		s += " no random start"
	}
	return s + targetLabel(c.Target)
}

// WhiteBox is true.
func (PGDConfig) WhiteBox() bool { return true }

// Epsilon is the L∞ budget.
func (c PGDConfig) Epsilon() float64 { return c.withDefaults().Eps }

// Start begins PGD on (x, y).
func (c PGDConfig) Start(m Model, x *nn.Tensor, y []int, opt Options) (Attack, error) {
	return NewPGD(m, x, y, c, opt)
}

// PGD is one PGD attack; each Step is one projected gradient-sign step.
type PGD struct {
	*base
	cfg  PGDConfig
	loss lossFunc
	cur  *nn.Tensor // the iterate xᵗ
	grad []float32  // ∇ at cur, nil until the first Step
}

// NewPGD validates cfg and draws the random start.
func NewPGD(m Model, x *nn.Tensor, y []int, cfg PGDConfig, opt Options) (*PGD, error) {
	cfg = cfg.withDefaults()
	b, err := newBase("pgd", m, x, y, opt)
	if err != nil {
		return nil, err
	}
	if !epsOK(cfg.Eps) || cfg.Alpha <= 0 || cfg.Steps < 0 {
		return nil, fmt.Errorf("pgd: need 0 < ε ≤ 1, α > 0 and steps ≥ 0, got ε %v, α %v, steps %d", cfg.Eps, cfg.Alpha, cfg.Steps)
	}
	if err := b.initTargets(cfg.Target); err != nil {
		return nil, err
	}
	a := &PGD{base: b, cfg: cfg, loss: b.objective(true), cur: b.x.Clone()}
	if !cfg.NoRandomStart {
		eps := float32(cfg.Eps)
		for i, v := range a.cur.Data {
			a.cur.Data[i] = min(max(v+eps*(2*b.rng.Float32()-1), 0), 1)
		}
	}
	b.st.Iters = cfg.Steps
	b.st.Adv = a.cur
	b.norms()
	return a, nil
}

// Step takes one step: a gradient pass at the iterate, the signed step,
// the projection; then the loss and predictions at the new iterate (a
// gradient pass that the next step reuses, or a plain forward after the
// last one).
func (a *PGD) Step(ctx context.Context) (bool, error) {
	if a.st.Done {
		return true, nil
	}
	if err := a.checkCtx(ctx); err != nil {
		return false, err
	}
	if a.st.Iter >= a.cfg.Steps {
		if a.st.Pred == nil {
			a.setAdv(a.cur, nil)
		}
		return a.finish()
	}
	if a.grad == nil {
		_, _, a.grad = a.o.gradient(a.cur, nil, a.loss)
	}
	alpha, eps := float32(a.cfg.Alpha), float32(a.cfg.Eps)
	next := a.cur.Clone()
	for i := range next.Data {
		next.Data[i] += alpha * sign(a.grad[i])
	}
	project(next.Data, a.x.Data, eps)
	a.cur = next
	a.st.Iter++
	var logits *nn.Tensor
	if a.st.Iter < a.cfg.Steps {
		logits, a.st.Loss, a.grad = a.o.gradient(a.cur, nil, a.loss)
	} else {
		logits = a.o.logits(a.cur, nil)
		a.st.Loss, _ = a.loss(logits)
		a.grad = nil
	}
	a.setAdv(a.cur, logits)
	if a.st.Iter >= a.cfg.Steps {
		return a.finish()
	}
	return false, nil
}

// Run steps to the end and returns the last iterate.
func (a *PGD) Run(ctx context.Context) (*nn.Tensor, error) { return drive(ctx, a) }

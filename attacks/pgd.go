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
//	xᵗ⁺¹ = clip(x + clip(xᵗ + α·nn.Sign(∇ CE_mean(f(xᵗ), y)) − x, −ε, ε), 0, 1)
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
	cfg PGDConfig
	signedSteps
}

// signedSteps is the iteration PGD and TPGD share (they differ in their
// loss and start): from the iterate cur, a step of alpha·nn.Sign(∇loss), the
// projection onto the ε-ball around the clean images, then the loss and
// predictions at the new iterate.
type signedSteps struct {
	loss       lossFunc
	cur        *nn.Tensor // the iterate xᵗ
	grad       []float32  // ∇ at cur, nil until the first step
	steps      int
	alpha, eps float32
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
	a := &PGD{base: b, cfg: cfg, signedSteps: signedSteps{loss: b.objective(true), cur: b.x.Clone(),
		steps: cfg.Steps, alpha: float32(cfg.Alpha), eps: float32(cfg.Eps)}}
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
func (a *PGD) Step(ctx context.Context) (bool, error) { return a.step(ctx, a.base) }

// step is one Step of an attack whose state is b.
func (s *signedSteps) step(ctx context.Context, b *base) (bool, error) {
	if b.st.Done {
		return true, nil
	}
	if err := b.checkCtx(ctx); err != nil {
		return false, err
	}
	if b.st.Iter >= s.steps {
		if b.st.Pred == nil {
			b.setAdv(s.cur, nil)
		}
		return b.finish()
	}
	if s.grad == nil {
		_, _, s.grad = b.o.gradient(s.cur, nil, s.loss)
	}
	next := s.cur.Clone()
	for i := range next.Data {
		next.Data[i] += s.alpha * nn.Sign(s.grad[i])
	}
	project(next.Data, b.x.Data, s.eps)
	s.cur = next
	b.st.Iter++
	var logits *nn.Tensor
	if b.st.Iter < s.steps {
		logits, b.st.Loss, s.grad = b.o.gradient(s.cur, nil, s.loss)
	} else {
		logits = b.o.logits(s.cur, nil)
		b.st.Loss, _ = s.loss(logits)
		s.grad = nil
	}
	b.setAdv(s.cur, logits)
	if b.st.Iter >= s.steps {
		return b.finish()
	}
	return false, nil
}

// Run steps to the end and returns the last iterate.
func (a *PGD) Run(ctx context.Context) (*nn.Tensor, error) { return drive(ctx, a) }

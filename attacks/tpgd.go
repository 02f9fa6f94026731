package attacks

import (
	"context"
	"fmt"

	"github.com/bionaslab/bionas/nn"
)

// TPGDConfig configures the TRADES attack (REFERENCE.md §4.4): PGD that
// ascends KL(p ‖ softmax(f(xᵗ))) summed over the batch, where p is the
// model's softmax on the clean images (the labels are ignored), from
// x⁰ = clip(x + 0.001·N(0,1), 0, 1). There is no targeted mode. The zero
// value is torchattacks' default: ε 8/255, α 2/255, 10 steps; the paper
// used 7 steps (preset "paper").
type TPGDConfig struct {
	Eps   float64 // L∞ budget (default 8/255)
	Alpha float64 // step size (default 2/255)
	Steps int     // iterations (default 10)
}

func (c TPGDConfig) withDefaults() TPGDConfig {
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

// Name is "tpgd".
func (TPGDConfig) Name() string { return "tpgd" }

// Label describes the parameters.
func (c TPGDConfig) Label() string {
	c = c.withDefaults()
	return fmt.Sprintf("TPGD ε=%s α=%s %d steps", fmtEps(c.Eps), fmtEps(c.Alpha), c.Steps)
}

// WhiteBox is true.
func (TPGDConfig) WhiteBox() bool { return true }

// Epsilon is the L∞ budget.
func (c TPGDConfig) Epsilon() float64 { return c.withDefaults().Eps }

// Start begins TPGD on (x, y).
func (c TPGDConfig) Start(m Model, x *nn.Tensor, y []int, opt Options) (Attack, error) {
	return NewTPGD(m, x, y, c, opt)
}

// TPGD is one TRADES attack; each Step is one projected step.
type TPGD struct {
	*base
	cfg TPGDConfig
	signedSteps
}

// NewTPGD validates cfg, evaluates the clean softmax (one query) and draws
// the Gaussian start.
func NewTPGD(m Model, x *nn.Tensor, y []int, cfg TPGDConfig, opt Options) (*TPGD, error) {
	cfg = cfg.withDefaults()
	b, err := newBase("tpgd", m, x, y, opt)
	if err != nil {
		return nil, err
	}
	if !epsOK(cfg.Eps) || cfg.Alpha <= 0 || cfg.Steps < 0 {
		return nil, fmt.Errorf("tpgd: need 0 < ε ≤ 1, α > 0 and steps ≥ 0, got ε %v, α %v, steps %d", cfg.Eps, cfg.Alpha, cfg.Steps)
	}
	p := softmaxRows(b.cleanLogits())
	a := &TPGD{base: b, cfg: cfg, signedSteps: signedSteps{loss: klLoss(p, true), cur: b.x.Clone(),
		steps: cfg.Steps, alpha: float32(cfg.Alpha), eps: float32(cfg.Eps)}}
	for i, v := range a.cur.Data {
		a.cur.Data[i] = v + 0.001*float32(b.rng.NormFloat64())
	}
	// The start is far inside the ball for any useful ε; projecting keeps
	// the invariant for tiny ones too.
	project(a.cur.Data, b.x.Data, float32(cfg.Eps))
	b.st.Iters = cfg.Steps
	b.st.Adv = a.cur
	b.norms()
	return a, nil
}

// Step takes one step (see PGD.Step for the passes it makes).
func (a *TPGD) Step(ctx context.Context) (bool, error) { return a.step(ctx, a.base) }

// Run steps to the end and returns the last iterate.
func (a *TPGD) Run(ctx context.Context) (*nn.Tensor, error) { return drive(ctx, a) }

package attacks

import (
	"context"
	"fmt"

	"github.com/bionaslab/bionas/nn"
)

// FGSMConfig configures the fast gradient sign method (REFERENCE.md §4.2):
//
//	x_adv = clip(x + ε·nn.Sign(∇x CE_mean(f(x), y)), 0, 1)
//
// or, targeted, a step down the cross-entropy to the target. The zero value
// is torchattacks' default, ε = 8/255; the paper used ε = 0.35 (preset
// "paper").
type FGSMConfig struct {
	Eps    float64 // L∞ budget in pixels (default 8/255)
	Target Targeting
}

func (c FGSMConfig) withDefaults() FGSMConfig {
	if c.Eps == 0 {
		c.Eps = 8.0 / 255
	}
	return c
}

// Name is "fgsm".
func (FGSMConfig) Name() string { return "fgsm" }

// Label describes the parameters.
func (c FGSMConfig) Label() string {
	c = c.withDefaults()
	return "FGSM ε=" + fmtEps(c.Eps) + targetLabel(c.Target)
}

// WhiteBox is true: FGSM follows the model's gradient.
func (FGSMConfig) WhiteBox() bool { return true }

// Epsilon is the L∞ budget.
func (c FGSMConfig) Epsilon() float64 { return c.withDefaults().Eps }

// Start begins FGSM on (x, y).
func (c FGSMConfig) Start(m Model, x *nn.Tensor, y []int, opt Options) (Attack, error) {
	return NewFGSM(m, x, y, c, opt)
}

// FGSM is one FGSM attack: a single step.
type FGSM struct {
	*base
	cfg FGSMConfig
}

// NewFGSM validates cfg and prepares the attack (a targeted one evaluates
// the clean images once to choose its targets).
func NewFGSM(m Model, x *nn.Tensor, y []int, cfg FGSMConfig, opt Options) (*FGSM, error) {
	cfg = cfg.withDefaults()
	b, err := newBase("fgsm", m, x, y, opt)
	if err != nil {
		return nil, err
	}
	if !epsOK(cfg.Eps) {
		return nil, fmt.Errorf("fgsm: ε %v outside (0, 1]", cfg.Eps)
	}
	if err := b.initTargets(cfg.Target); err != nil {
		return nil, err
	}
	b.st.Iters = 1
	return &FGSM{base: b, cfg: cfg}, nil
}

// Step takes the single gradient-sign step.
func (a *FGSM) Step(ctx context.Context) (bool, error) {
	if a.st.Done {
		return true, nil
	}
	if err := a.checkCtx(ctx); err != nil {
		return false, err
	}
	loss := a.objective(true)
	_, _, g := a.o.gradient(a.x, nil, loss)
	adv := a.x.Clone()
	eps := float32(a.cfg.Eps)
	for i, v := range adv.Data {
		adv.Data[i] = min(max(v+eps*nn.Sign(g[i]), 0), 1)
	}
	logits := a.o.logits(adv, nil)
	a.st.Loss, _ = loss(logits)
	a.setAdv(adv, logits)
	a.st.Iter = 1
	return a.finish()
}

// Run takes the step and returns the adversarial batch.
func (a *FGSM) Run(ctx context.Context) (*nn.Tensor, error) { return drive(ctx, a) }

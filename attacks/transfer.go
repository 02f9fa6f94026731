package attacks

import (
	"context"
	"fmt"

	"github.com/bionaslab/bionas/nn"
)

// TransferConfig configures a transfer attack: adversarial images crafted
// on a surrogate model (a bp network, as in the paper) by a white-box
// attack, then shown to the attacked model, which is only queried once per
// image. The surrogate's gradient is always the true one (for a bp
// surrogate own and true are the same computation).
//
// The zero Attack is FGSM with ε = 8/255, the paper's setting.
type TransferConfig struct {
	// Surrogate is the model the adversarials are crafted on (required).
	Surrogate Model
	// SurrogateName names it in labels and reports.
	SurrogateName string
	// Attack crafts the adversarials (default FGSMConfig{Eps: 8/255}).
	Attack Spec
}

func (c TransferConfig) withDefaults() TransferConfig {
	if c.Attack == nil {
		c.Attack = FGSMConfig{Eps: 8.0 / 255}
	}
	if c.SurrogateName == "" {
		c.SurrogateName = "surrogate"
	}
	return c
}

// Name is "transfer".
func (TransferConfig) Name() string { return "transfer" }

// Label describes the parameters.
func (c TransferConfig) Label() string {
	c = c.withDefaults()
	return fmt.Sprintf("transfer of %s from %s", c.Attack.Label(), c.SurrogateName)
}

// WhiteBox is false: the attacked model's gradients are never used.
func (TransferConfig) WhiteBox() bool { return false }

// Epsilon is the crafting attack's budget.
func (c TransferConfig) Epsilon() float64 { return c.withDefaults().Attack.Epsilon() }

// Start begins crafting on the surrogate.
func (c TransferConfig) Start(m Model, x *nn.Tensor, y []int, opt Options) (Attack, error) {
	return NewTransfer(m, x, y, c, opt)
}

// Transfer is one transfer attack: its Steps are those of the crafting
// attack on the surrogate; the last one also evaluates the target.
type Transfer struct {
	*base
	cfg   TransferConfig
	inner Attack
}

// NewTransfer validates cfg and starts the crafting attack.
func NewTransfer(m Model, x *nn.Tensor, y []int, cfg TransferConfig, opt Options) (*Transfer, error) {
	cfg = cfg.withDefaults()
	b, err := newBase("transfer", m, x, y, opt)
	if err != nil {
		return nil, err
	}
	if cfg.Surrogate == nil {
		return nil, fmt.Errorf("transfer: no surrogate model")
	}
	if _, ok := cfg.Attack.(TransferConfig); ok {
		return nil, fmt.Errorf("transfer: the crafting attack cannot itself be a transfer")
	}
	inner, err := cfg.Attack.Start(cfg.Surrogate, x, y, Options{Grad: True, Seed: opt.Seed})
	if err != nil {
		return nil, fmt.Errorf("transfer from %s: %w", cfg.SurrogateName, err)
	}
	b.st.Iters = inner.State().Iters
	b.st.Targets = inner.State().Targets
	return &Transfer{base: b, cfg: cfg, inner: inner}, nil
}

// Step advances the crafting attack; once it is done, the target
// classifies its images.
func (a *Transfer) Step(ctx context.Context) (bool, error) {
	if a.st.Done {
		return true, nil
	}
	if err := a.checkCtx(ctx); err != nil {
		return false, err
	}
	done, err := a.inner.Step(ctx)
	if err != nil {
		return false, fmt.Errorf("transfer from %s: %w", a.cfg.SurrogateName, err)
	}
	in := a.inner.State()
	a.st.Iter, a.st.Loss = in.Iter, in.Loss
	a.st.Adv = in.Adv
	a.norms()
	if !done {
		return false, nil
	}
	a.setAdv(in.Adv, nil)
	return a.finish()
}

// Run crafts to the end and returns the transferred images.
func (a *Transfer) Run(ctx context.Context) (*nn.Tensor, error) { return drive(ctx, a) }

// Surrogate returns the crafting attack's state: its losses and
// predictions are the surrogate's.
func (a *Transfer) Surrogate() *State { return a.inner.State() }

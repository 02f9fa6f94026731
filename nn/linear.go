package nn

import (
	"fmt"
	"math/rand/v2"

	"github.com/bionaslab/bionas/nn/cpu"
	"github.com/bionaslab/bionas/nn/rule"
)

// LinearConfig describes a fully connected layer; see Conv2dConfig for the
// meaning of Rule, Init, Classes and Seed.
type LinearConfig struct {
	Name    string
	In, Out int
	Bias    bool
	Rule    rule.Rule
	Init    Init
	Classes int
	Seed    uint64
}

// Linear computes y = x·Wᵀ + b for x of shape (N, In); its backward path
// follows its rule like Conv2d's.
type Linear struct {
	Cfg      LinearConfig
	W, Bias  *Tensor
	Feedback *Feedback
}

// NewLinear builds and initialises a linear layer.
func NewLinear(cfg LinearConfig, rng *rand.Rand) (*Linear, error) {
	if cfg.Rule == "" {
		cfg.Rule = rule.BP
	}
	if cfg.Init == "" {
		cfg.Init = Xavier
	}
	if cfg.In <= 0 || cfg.Out <= 0 {
		return nil, fmt.Errorf("linear %q: bad shape in=%d out=%d", cfg.Name, cfg.In, cfg.Out)
	}
	if cfg.Seed == 0 {
		cfg.Seed = rng.Uint64() | 1
	}
	l := &Linear{Cfg: cfg, W: Param(cfg.Out, cfg.In)}
	if cfg.Init == Kaiming {
		KaimingUniform(l.W, cfg.In, rng)
	} else {
		XavierUniform(l.W, cfg.In, cfg.Out, rng)
	}
	if cfg.Bias {
		l.Bias = Param(cfg.Out)
		if cfg.Init == Kaiming {
			KaimingUniform(l.Bias, cfg.In, rng)
		}
	}
	if err := l.SetRule(cfg.Rule); err != nil {
		return nil, err
	}
	return l, nil
}

// MustLinear is NewLinear for configurations fixed in code.
func MustLinear(cfg LinearConfig, rng *rand.Rand) *Linear {
	l, err := NewLinear(cfg, rng)
	if err != nil {
		panic(err)
	}
	return l
}

// LayerName is the layer's path in its model.
func (l *Linear) LayerName() string { return l.Cfg.Name }

// Rule is the layer's current learning rule.
func (l *Linear) Rule() rule.Rule { return l.Cfg.Rule }

// SetRule switches the backward path in place, keeping the weights.
func (l *Linear) SetRule(r rule.Rule) error {
	f, err := newFeedback(r, l.Cfg.Init, l.Cfg.Seed, l.W.Shape, 1, l.Cfg.Classes)
	if err != nil {
		return fmt.Errorf("linear %q: %w", l.Cfg.Name, err)
	}
	l.Cfg.Rule, l.Feedback = r, f
	return nil
}

// Params are the weight and, if present, the bias.
func (l *Linear) Params() []Named {
	ps := []Named{{Join(l.Cfg.Name, "weight"), l.W}}
	if l.Bias != nil {
		ps = append(ps, Named{Join(l.Cfg.Name, "bias"), l.Bias})
	}
	return ps
}

// Buffers hold the feedback matrix of fa, frsf and dfa.
func (l *Linear) Buffers() []Named {
	if l.Feedback.B == nil {
		return nil
	}
	return []Named{{Join(l.Cfg.Name, "feedback"), l.Feedback.B}}
}

// FeedbackState is the JSON-able rule state for checkpoints.
func (l *Linear) FeedbackState() FeedbackState { return l.Feedback.State() }

// RestoreFeedback re-applies a saved rule state.
func (l *Linear) RestoreFeedback(s FeedbackState) error {
	l.Cfg.Seed = s.Seed
	if s.Init != "" {
		l.Cfg.Init = s.Init
	}
	if err := l.SetRule(s.Rule); err != nil {
		return err
	}
	l.Feedback.Draws = s.Draws
	return nil
}

// Forward maps x (N, In) — or any tensor whose trailing size is In·k, which
// is flattened to (N, In) — to (N, Out).
func (l *Linear) Forward(g *Graph, x *Tensor) *Tensor {
	in, o := l.Cfg.In, l.Cfg.Out
	g.tapInput(l.Cfg.Name, x)
	if x.Len()%in != 0 || x.Shape[0]*in != x.Len() {
		panic(fmt.Sprintf("nn.Linear %q: input shape %v does not flatten to (N, %d)", l.Cfg.Name, x.Shape, in))
	}
	n := x.Shape[0]
	if x.OnDevice() || l.W.OnDevice() {
		d := deviceOf("Linear", x, l.W)
		return l.forwardDev(d, g, x)
	}
	out := g.Alloc(n, o)
	cpu.SgemmParallel(false, true, n, o, in, 1, x.Data, in, l.W.Data, in, 0, out.Data, o)
	if l.Bias != nil {
		addBias(out.Data, l.Bias.Data, n, 1)
	}
	if !g.Records(x, l.W, l.Bias) {
		return out
	}
	fb := l.Feedback
	var beff []float32
	if g.TrueGradient || fb.Rule == rule.BP {
		beff = l.W.Data
	} else {
		beff = fb.Effective(l.W.Data, g.Training())
	}
	g.Record(out, func() {
		dy := out.Grad
		if l.W.NeedsGrad {
			cpu.SgemmParallel(true, false, o, in, n, 1, dy, o, x.Data, in, 1, l.W.GradBuf(), in)
		}
		if l.Bias != nil && l.Bias.NeedsGrad {
			sumBias(dy, l.Bias.GradBuf(), n, 1)
		}
		if !x.NeedsGrad {
			return
		}
		if fb.Rule == rule.DFA && !g.TrueGradient {
			classes := fb.B.Shape[0]
			e := dfaOutputError(g, "nn.Linear", l.Cfg.Name, n, classes)
			cpu.SgemmParallel(false, false, n, in, classes, 1, e.Data, classes, fb.B.Data, in, 1, x.GradBuf(), in)
			return
		}
		cpu.SgemmParallel(false, false, n, in, o, 1, dy, o, beff, in, 1, x.GradBuf(), in)
	})
	return out
}

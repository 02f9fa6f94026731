package nn

import (
	"fmt"
	"math/rand/v2"

	"github.com/bionaslab/bionas/nn/cpu"
	"github.com/bionaslab/bionas/nn/rule"
)

// Conv2dConfig describes a convolution. Zero Stride, Dilation and Groups
// mean 1; an empty Rule means bp and an empty Init means xavier (the
// paper's default).
type Conv2dConfig struct {
	Name                              string
	In, Out, Kernel                   int
	Stride, Padding, Dilation, Groups int
	Bias                              bool
	Rule                              rule.Rule
	Init                              Init
	// Classes is the network's output size; only the dfa rule needs it.
	Classes int
	// Seed fixes the feedback matrices; 0 draws one from the layer's rng.
	Seed uint64
}

// Conv2d is a 2-D convolution (NCHW) whose backward path follows its rule:
// the weight gradient is always the true local gradient, the error sent to
// the input uses the rule's B in place of W (REFERENCE.md §1.3–1.4).
type Conv2d struct {
	Cfg      Conv2dConfig
	W, Bias  *Tensor
	Feedback *Feedback
}

// NewConv2d builds and initialises a convolution from cfg, drawing weights
// (and the feedback seed when cfg.Seed is 0) from rng.
func NewConv2d(cfg Conv2dConfig, rng *rand.Rand) (*Conv2d, error) {
	if cfg.Stride == 0 {
		cfg.Stride = 1
	}
	if cfg.Dilation == 0 {
		cfg.Dilation = 1
	}
	if cfg.Groups == 0 {
		cfg.Groups = 1
	}
	if cfg.Rule == "" {
		cfg.Rule = rule.BP
	}
	if cfg.Init == "" {
		cfg.Init = Xavier
	}
	if cfg.In <= 0 || cfg.Out <= 0 || cfg.Kernel <= 0 || cfg.In%cfg.Groups != 0 || cfg.Out%cfg.Groups != 0 {
		return nil, fmt.Errorf("conv %q: bad shape in=%d out=%d kernel=%d groups=%d", cfg.Name, cfg.In, cfg.Out, cfg.Kernel, cfg.Groups)
	}
	if cfg.Seed == 0 {
		cfg.Seed = rng.Uint64() | 1
	}
	c := &Conv2d{Cfg: cfg, W: Param(cfg.Out, cfg.In/cfg.Groups, cfg.Kernel, cfg.Kernel)}
	fi, fo := Fans(c.W.Shape)
	if cfg.Init == Kaiming {
		KaimingUniform(c.W, fi, rng)
	} else {
		XavierUniform(c.W, fi, fo, rng)
	}
	if cfg.Bias {
		c.Bias = Param(cfg.Out)
		if cfg.Init == Kaiming {
			KaimingUniform(c.Bias, fi, rng)
		}
	}
	if err := c.SetRule(cfg.Rule); err != nil {
		return nil, err
	}
	return c, nil
}

// MustConv2d is NewConv2d for configurations fixed in code; it panics on error.
func MustConv2d(cfg Conv2dConfig, rng *rand.Rand) *Conv2d {
	c, err := NewConv2d(cfg, rng)
	if err != nil {
		panic(err)
	}
	return c
}

// LayerName is the layer's path in its model.
func (c *Conv2d) LayerName() string { return c.Cfg.Name }

// Rule is the layer's current learning rule.
func (c *Conv2d) Rule() rule.Rule { return c.Cfg.Rule }

// SetRule switches the layer's backward path in place; weights are kept.
// The feedback matrices are rebuilt from the layer's seed, so the same
// rule on the same layer always gets the same B.
func (c *Conv2d) SetRule(r rule.Rule) error {
	f, err := newFeedback(r, c.Cfg.Init, c.Cfg.Seed, c.W.Shape, c.Cfg.Groups, c.Cfg.Classes)
	if err != nil {
		return fmt.Errorf("conv %q: %w", c.Cfg.Name, err)
	}
	c.Cfg.Rule, c.Feedback = r, f
	return nil
}

// Params are the weight and, if present, the bias.
func (c *Conv2d) Params() []Named {
	ps := []Named{{Join(c.Cfg.Name, "weight"), c.W}}
	if c.Bias != nil {
		ps = append(ps, Named{Join(c.Cfg.Name, "bias"), c.Bias})
	}
	return ps
}

// Buffers hold the feedback matrix of fa, frsf and dfa.
func (c *Conv2d) Buffers() []Named {
	if c.Feedback.B == nil {
		return nil
	}
	return []Named{{Join(c.Cfg.Name, "feedback"), c.Feedback.B}}
}

// Forward convolves x (N, In, H, W) into (N, Out, Ho, Wo).
func (c *Conv2d) Forward(g *Graph, x *Tensor) *Tensor {
	cfg := c.Cfg
	g.tapInput(cfg.Name, x)
	gm, err := newConvGeom(x.Shape, c.W.Shape, cfg.Stride, cfg.Padding, cfg.Dilation, cfg.Groups)
	if err != nil {
		panic(fmt.Sprintf("nn.Conv2d %q: %v", cfg.Name, err))
	}
	if x.OnDevice() || c.W.OnDevice() {
		d := deviceOf("Conv2d", x, c.W)
		return c.forwardDev(d, g, x, gm)
	}
	out := g.AllocFull(gm.N, gm.O, gm.Ho, gm.Wo) // every kernel writes all of out
	convForward(gm, x.Data, c.W.Data, out.Data)
	if c.Bias != nil {
		addBias(out.Data, c.Bias.Data, gm.N, gm.Ho*gm.Wo)
	}
	if !g.Records(x, c.W, c.Bias) {
		return out
	}
	fb := c.Feedback
	var beff []float32
	if g.TrueGradient || fb.Rule == rule.BP {
		beff = c.W.Data
	} else {
		beff = fb.Effective(c.W.Data, g.Training())
	}
	g.Record(out, func() {
		var dx, dw []float32
		fresh := false
		if x.NeedsGrad {
			dx, fresh = x.gradForWrite()
		}
		if c.W.NeedsGrad {
			dw = c.W.GradBuf()
		}
		dfa := fb.Rule == rule.DFA && !g.TrueGradient
		if fresh && (dfa || !gm.overwritesDx()) {
			cpu.ClearParallel(dx)
			fresh = false
		}
		if dfa {
			convBackward(gm, x.Data, out.Grad, nil, nil, dw, false)
			if dx != nil {
				dfaConvInput(g, c, gm, dx)
			}
		} else {
			convBackward(gm, x.Data, out.Grad, beff, dx, dw, fresh)
		}
		if c.Bias != nil && c.Bias.NeedsGrad {
			sumBias(out.Grad, c.Bias.GradBuf(), gm.N, gm.Ho*gm.Wo)
		}
	})
	return out
}

// dfaConvInput sends the network's output error e (N × classes) straight to
// the layer's input: the transposed convolution, with B, of e broadcast over
// every output position. Because e is constant in space, this is a per-tap
// projection v = e·B followed by a sum over the taps that reach each pixel.
func dfaConvInput(g *Graph, c *Conv2d, gm convGeom, dx []float32) {
	classes := c.Feedback.B.Shape[0]
	e := dfaOutputError(g, "nn.Conv2d", c.Cfg.Name, gm.N, classes)
	k := gm.C * gm.KH * gm.KW
	v := make([]float32, gm.N*k)
	cpu.Sgemm(false, false, gm.N, k, classes, 1, e.Data, classes, c.Feedback.B.Data, k, 0, v, k)
	cpu.For(gm.N*gm.C, 4, func(lo, hi int) {
		for q := lo; q < hi; q++ {
			plane := dx[q*gm.H*gm.W : (q+1)*gm.H*gm.W]
			taps := v[q*gm.KH*gm.KW:]
			for a := 0; a < gm.KH; a++ {
				for b := 0; b < gm.KW; b++ {
					val := taps[a*gm.KW+b]
					off := b*gm.D - gm.P
					jlo, jhi := validRange(gm.Wo, gm.W, gm.S, off)
					for i := 0; i < gm.Ho; i++ {
						ih := i*gm.S - gm.P + a*gm.D
						if ih < 0 || ih >= gm.H {
							continue
						}
						row := plane[ih*gm.W:]
						for j := jlo; j < jhi; j++ {
							row[j*gm.S+off] += val
						}
					}
				}
			}
		}
	})
}

// addBias adds b[o] to every position of channel o.
func addBias(out, b []float32, n, plane int) {
	o := len(b)
	for i := 0; i < n*o; i++ {
		bv := b[i%o]
		p := out[i*plane : (i+1)*plane]
		for j := range p {
			p[j] += bv
		}
	}
}

// sumBias accumulates the bias gradient: dy summed over batch and space.
func sumBias(dy, db []float32, n, plane int) {
	o := len(db)
	for i := 0; i < n*o; i++ {
		var s float32
		for _, v := range dy[i*plane : (i+1)*plane] {
			s += v
		}
		db[i%o] += s
	}
}

// FeedbackState is the JSON-able rule state for checkpoints.
func (c *Conv2d) FeedbackState() FeedbackState { return c.Feedback.State() }

// RestoreFeedback re-applies a saved rule state (the B tensor itself is
// restored from the safetensors file afterwards).
func (c *Conv2d) RestoreFeedback(s FeedbackState) error {
	c.Cfg.Seed = s.Seed
	if s.Init != "" {
		c.Cfg.Init = s.Init
	}
	if err := c.SetRule(s.Rule); err != nil {
		return err
	}
	c.Feedback.Draws = s.Draws
	return nil
}

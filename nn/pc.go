package nn

import (
	"fmt"
	"math/rand/v2"
)

// PCConfig describes a predictive-coding convolution. Zero Steps means 1.
type PCConfig struct {
	Name                      string
	In, Out, Kernel           int
	Stride, Padding, Dilation int
	Steps                     int
	// Gate multiplies each update by sigmoid(conv1×1(pred)).
	Gate bool
	// Normalize passes the final prediction through BatchNorm (no affine).
	Normalize bool
	Init      Init
}

// PCConv2d is the predictive-coding convolution of the paper's appendix
// 7.3.2, in the exact form we chose (no reference code exists):
//
//	pred = conv(x)
//	repeat Steps times:
//	    err  = x̃ − pred                 x̃ = x if shapes match, else conv1×1(x) (with the stride)
//	    upd  = e ⊙ err                  e: learnable per output channel, initialised to 1
//	    upd  = upd ⊙ σ(conv1×1(pred))   only with Gate
//	    pred = pred + upd
//	output = BN(pred) with Normalize, else pred
//
// Every part is differentiable and trained by back-propagation; the "rule"
// is the inner error-correcting dynamics. Note that with e = 1 and no gate,
// any number of steps gives pred = x̃ exactly (pred − x̃ is multiplied by
// 1 − e at each step): the layer starts as x̃ and its convolution gets
// exactly zero gradient until e moves away from 1. With the gate the update
// is scaled by σ(·) ∈ (0, 1) and the convolution learns from the first
// step; search's conv_3x3:pc pair turns the gate on for that reason.
type PCConv2d struct {
	Cfg  PCConfig
	Conv *Conv2d
	Proj *Conv2d // nil when x already has pred's shape
	Gate *Conv2d // nil without Gate
	E    *Tensor
	Norm *BatchNorm2d // nil without Normalize
}

// NewPCConv2d builds a predictive-coding convolution.
func NewPCConv2d(cfg PCConfig, rng *rand.Rand) (*PCConv2d, error) {
	if cfg.Steps == 0 {
		cfg.Steps = 1
	}
	if cfg.Stride == 0 {
		cfg.Stride = 1
	}
	if cfg.In <= 0 || cfg.Out <= 0 || cfg.Kernel <= 0 || cfg.Steps < 0 {
		return nil, fmt.Errorf("predictive-coding conv %q: bad shape in=%d out=%d kernel=%d steps=%d", cfg.Name, cfg.In, cfg.Out, cfg.Kernel, cfg.Steps)
	}
	conv, err := NewConv2d(Conv2dConfig{Name: Join(cfg.Name, "conv"), In: cfg.In, Out: cfg.Out, Kernel: cfg.Kernel,
		Stride: cfg.Stride, Padding: cfg.Padding, Dilation: cfg.Dilation, Init: cfg.Init}, rng)
	if err != nil {
		return nil, err
	}
	p := &PCConv2d{Cfg: cfg, Conv: conv, E: Param(cfg.Out)}
	for i := range p.E.Data {
		p.E.Data[i] = 1
	}
	if cfg.In != cfg.Out || cfg.Stride != 1 {
		p.Proj = MustConv2d(Conv2dConfig{Name: Join(cfg.Name, "proj"), In: cfg.In, Out: cfg.Out, Kernel: 1, Stride: cfg.Stride, Init: cfg.Init}, rng)
	}
	if cfg.Gate {
		p.Gate = MustConv2d(Conv2dConfig{Name: Join(cfg.Name, "gate"), In: cfg.Out, Out: cfg.Out, Kernel: 1, Init: cfg.Init}, rng)
	}
	if cfg.Normalize {
		p.Norm = NewBatchNorm2d(Join(cfg.Name, "bn"), cfg.Out, false)
	}
	return p, nil
}

// LayerName is the layer's path in its model.
func (p *PCConv2d) LayerName() string { return p.Cfg.Name }

// Params gathers the convolutions' weights and the error weights e.
func (p *PCConv2d) Params() []Named {
	ps := p.Conv.Params()
	if p.Proj != nil {
		ps = append(ps, p.Proj.Params()...)
	}
	if p.Gate != nil {
		ps = append(ps, p.Gate.Params()...)
	}
	return append(ps, Named{Join(p.Cfg.Name, "error_weights"), p.E})
}

// Buffers are the normalisation's running statistics, if any.
func (p *PCConv2d) Buffers() []Named {
	if p.Norm == nil {
		return nil
	}
	return p.Norm.Buffers()
}

// Forward runs the prediction-error loop.
func (p *PCConv2d) Forward(g *Graph, x *Tensor) *Tensor {
	noDevice("PCConv2d "+p.Cfg.Name+" (rule pc)", x, p.Conv.W)
	g.tapInput(p.Cfg.Name, x)
	pred := p.Conv.Forward(g, x)
	target := x
	if p.Proj != nil {
		target = p.Proj.Forward(g, x)
	}
	if !SameShape(target, pred) {
		panic(fmt.Sprintf("nn.PCConv2d %q: input %v does not align with prediction %v (use padding that keeps the size)", p.Cfg.Name, x.Shape, pred.Shape))
	}
	for s := 0; s < p.Cfg.Steps; s++ {
		err := g.Add(target, g.Scale(pred, -1))
		upd := g.MulChannel(err, p.E)
		if p.Gate != nil {
			upd = g.Mul(upd, g.Sigmoid(p.Gate.Forward(g, pred)))
		}
		pred = g.Add(pred, upd)
	}
	if p.Norm != nil {
		pred = p.Norm.Forward(g, pred)
	}
	return pred
}

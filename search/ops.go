package search

import (
	"fmt"
	"math/rand/v2"

	"github.com/bionaslab/bionas/nn"
	"github.com/bionaslab/bionas/nn/rule"
)

// PairOp is one (operation, rule) pair built as a layer: it maps
// (N, C, H, W) to (N, C, H/stride, W/stride) (rounded up), and lists its
// tensors and its rule layers under stable names.
type PairOp interface {
	nn.Layer
	nn.Module
	nn.RuleLayerer
}

// OpConfig describes one pair to build.
type OpConfig struct {
	// Name is the path prefix of the op's tensors, e.g.
	// "cells.2.edges.5.sep_conv_3x3:fa".
	Name   string
	Pair   Pair
	C      int // channels in = out
	Stride int // 1 or 2; 0 means 1
	// Affine gives the op's BatchNorms a learnable scale and shift: false in
	// the search (DARTS), true in the evaluation network.
	Affine bool
	// PoolBN follows max and avg pooling by BatchNorm(affine=false), as
	// DARTS does inside a MixedOp only.
	PoolBN bool
	// Classes is the network output size, needed by the dfa rule only.
	Classes int
}

// NewPairOp builds a pair as DARTS builds its primitive (REFERENCE.md
// §2.1), with every convolution carrying the pair's rule (ReLU, BN and
// pooling are always exact):
//
//   - none: zeros (strided at stride 2);
//   - max_pool_3x3, avg_pool_3x3 (count_include_pad=False): padding 1, then
//     BN(affine=false) when PoolBN;
//   - skip_connect: the identity at stride 1 (for every rule), a
//     FactorizedReduce whose convolutions carry the rule at stride 2;
//   - sep_conv_k×k: (ReLU → depthwise k×k → 1×1 → BN) twice, the first
//     depthwise with the stride; layers dw1, pw1, bn1, dw2, pw2, bn2;
//   - dil_conv_k×k: ReLU → depthwise k×k dilation 2 → 1×1 → BN; layers dw,
//     pw, bn;
//   - conv_3x3 with a feedback rule: ReLU → conv 3×3 → BN (conv, bn);
//     with hebb: ReLU → Hebbian conv 3×3 (learning rate 1e-4) → BN (hebb,
//     bn); with pc: ReLU → predictive-coding conv 3×3 (one step, e = 1,
//     gated; see pcGate) → BN (pc, bn). Hebbian and predictive-coding
//     layers are not rule layers: their rule is their kind.
//
// Convolutions have no bias and use the xavier init of biotorch for every
// rule, bp included, so that two pairs differ by their rule only. One
// computational shortcut leaves the function unchanged: sep_conv's inner
// ReLU is fused into bn1.
func NewPairOp(cfg OpConfig, rng *rand.Rand) (PairOp, error) {
	if cfg.Stride == 0 {
		cfg.Stride = 1
	}
	if err := cfg.Pair.Validate(); err != nil {
		return nil, fmt.Errorf("build op %q: %w", cfg.Name, err)
	}
	if cfg.C <= 0 || (cfg.Stride != 1 && cfg.Stride != 2) {
		return nil, fmt.Errorf("build op %q: bad channels %d or stride %d (want C > 0, stride 1 or 2)", cfg.Name, cfg.C, cfg.Stride)
	}
	op, err := buildPairOp(cfg, rng)
	if err != nil {
		return nil, fmt.Errorf("build op %q (%s): %w", cfg.Name, cfg.Pair, err)
	}
	return op, nil
}

func buildPairOp(cfg OpConfig, rng *rand.Rand) (PairOp, error) {
	c, s, r, name := cfg.C, cfg.Stride, cfg.Pair.Rule, cfg.Name
	conv := func(sub string, in, out, k, stride, pad, dil, groups int) (*nn.Conv2d, error) {
		return nn.NewConv2d(nn.Conv2dConfig{Name: nn.Join(name, sub), In: in, Out: out, Kernel: k, Stride: stride,
			Padding: pad, Dilation: dil, Groups: groups, Rule: r, Init: nn.Xavier, Classes: cfg.Classes}, rng)
	}
	bn := func(sub string) bnLayer { return newBN(nn.Join(name, sub), c, cfg.Affine, false) }
	// unit builds depthwise k×k → pointwise 1×1 → BN; the ReLU before it
	// is the chain's (or the previous BN's, fused).
	unit := func(suffix string, k, stride, pad, dil int) ([]nn.Layer, error) {
		dw, err := conv("dw"+suffix, c, c, k, stride, pad, dil, c)
		if err != nil {
			return nil, err
		}
		pw, err := conv("pw"+suffix, c, c, 1, 1, 0, 1, 1)
		if err != nil {
			return nil, err
		}
		return []nn.Layer{dw, pw, bn("bn" + suffix)}, nil
	}
	// fuseReLU makes the BN closing a unit apply the ReLU that opens the
	// next one (sep_conv's bn1 → relu).
	fuseReLU := func(layers []nn.Layer) []nn.Layer {
		b := layers[len(layers)-1].(bnLayer)
		b.relu = true
		layers[len(layers)-1] = b
		return layers
	}
	switch cfg.Pair.Op {
	case OpNone:
		return &zeroOp{stride: s}, nil
	case OpMaxPool, OpAvgPool:
		p := &poolOp{max: cfg.Pair.Op == OpMaxPool, stride: s}
		if cfg.PoolBN {
			b := newBN(nn.Join(name, "bn"), c, false, false)
			p.bn = &b
		}
		return p, nil
	case OpSkip:
		if s == 1 {
			return identityOp{}, nil
		}
		fr, err := nn.NewFactorizedReduce(name, c, c, cfg.Affine, r, cfg.Classes, rng)
		if err != nil {
			return nil, err
		}
		return frOp{fr}, nil
	case OpSep3, OpSep5:
		k := 3
		if cfg.Pair.Op == OpSep5 {
			k = 5
		}
		a, err := unit("1", k, s, k/2, 1)
		if err != nil {
			return nil, err
		}
		b, err := unit("2", k, 1, k/2, 1)
		if err != nil {
			return nil, err
		}
		return newReluChain(append(fuseReLU(a), b...)), nil
	case OpDil3, OpDil5:
		k := 3
		if cfg.Pair.Op == OpDil5 {
			k = 5
		}
		a, err := unit("", k, s, 2*(k/2), 2)
		if err != nil {
			return nil, err
		}
		return newReluChain(a), nil
	case OpConv3:
		switch r {
		case rule.Hebb:
			h, err := nn.NewHebbConv2d(nn.HebbConfig{Name: nn.Join(name, "hebb"), In: c, Out: c, Kernel: 3, Stride: s, Padding: 1, Init: nn.Xavier}, rng)
			if err != nil {
				return nil, err
			}
			return newReluChain([]nn.Layer{h, bn("bn")}), nil
		case rule.PC:
			p, err := nn.NewPCConv2d(nn.PCConfig{Name: nn.Join(name, "pc"), In: c, Out: c, Kernel: 3, Stride: s, Padding: 1, Gate: pcGate, Init: nn.Xavier}, rng)
			if err != nil {
				return nil, err
			}
			return newReluChain([]nn.Layer{p, bn("bn")}), nil
		}
		cv, err := conv("conv", c, c, 3, s, 1, 1, 1)
		if err != nil {
			return nil, err
		}
		return newReluChain([]nn.Layer{cv, bn("bn")}), nil
	}
	return nil, fmt.Errorf("operation %q has no builder", cfg.Pair.Op)
}

// pcGate turns on the gate of the conv_3x3:pc pair's predictive-coding
// convolution (nn.PCConv2d).
//
// Decision (REFERENCE.md "How to use it", predictive-coding convolution):
// REFERENCE fixes the error weights' initialisation at e = 1 (the paper's
// listing: torch.ones) and leaves the number of steps and the gate open.
// With e = 1 and no gate every step sets pred to x̃ exactly, whatever the
// number of steps (pred_s − x̃ = (1−e)^s·(conv(x) − x̃)), so the op starts
// as a skip (or a 1×1 projection) and its 3×3 weights get exactly zero
// gradient until e drifts from 1: the search would rank a skip-like op,
// not predictive coding. More steps do not help; e below 1 would, but
// departs from REFERENCE's e = 1. The gate, which REFERENCE allows, does:
// with it one step gives pred = conv(x) + σ(G·conv(x)) ⊙ (x̃ − conv(x)),
// σ ∈ (0, 1), a learned blend of prediction and target in which the 3×3
// conv, the gate and e all learn from the first step (TestPCConvLearnsAtInit).
// We keep one step (the cost of one 1×1 conv, a sigmoid and a product).
const pcGate = true

// reluFirst is implemented by ops that start with ReLU of their input: a
// mixed op computes ReLU(x) once and hands it to all of them (with 16
// convolution pairs per edge this saves 15 ReLUs of the input, forward and
// backward).
type reluFirst interface {
	// forwardRelued is Forward given r = ReLU(x) instead of x.
	forwardRelued(g *nn.Graph, r *nn.Tensor) *nn.Tensor
}

// reluChain is ReLU followed by a sequence of layers.
type reluChain struct{ seq nn.Sequential }

func newReluChain(layers []nn.Layer) *reluChain { return &reluChain{nn.Sequential{Layers: layers}} }

func (c *reluChain) Forward(g *nn.Graph, x *nn.Tensor) *nn.Tensor {
	return c.seq.Forward(g, g.ReLU(x))
}
func (c *reluChain) forwardRelued(g *nn.Graph, r *nn.Tensor) *nn.Tensor {
	return c.seq.Forward(g, r)
}
func (c *reluChain) Params() []nn.Named         { return c.seq.Params() }
func (c *reluChain) Buffers() []nn.Named        { return c.seq.Buffers() }
func (c *reluChain) RuleLayers() []nn.RuleLayer { return c.seq.RuleLayers() }

// frOp is skip_connect at stride 2: nn.FactorizedReduce, which starts with
// ReLU.
type frOp struct{ *nn.FactorizedReduce }

// Forward is nn.FactorizedReduce's, with this package's ReLU.
func (f frOp) Forward(g *nn.Graph, x *nn.Tensor) *nn.Tensor { return f.forwardRelued(g, g.ReLU(x)) }

func (f frOp) forwardRelued(g *nn.Graph, r *nn.Tensor) *nn.Tensor {
	if _, _, h, w := r.NCHW("FactorizedReduce"); h%2 != 0 || w%2 != 0 {
		panic(fmt.Sprintf("search: FactorizedReduce %q: spatial size %dx%d must be even", f.Name, h, w))
	}
	return nn.BatchNormReLU(g, f.BN, g.Concat(1, f.Conv1.Forward(g, r), f.Conv2.Forward(g, g.Crop(r, 1, 1))), false)
}

// zeroOp is DARTS' none: zeros of the (strided) input shape. It records
// nothing, since no gradient flows through a constant.
type zeroOp struct{ stride int }

func (z *zeroOp) Forward(g *nn.Graph, x *nn.Tensor) *nn.Tensor { return g.Zero(x, z.stride) }
func (z *zeroOp) Params() []nn.Named                           { return nil }
func (z *zeroOp) Buffers() []nn.Named                          { return nil }
func (z *zeroOp) RuleLayers() []nn.RuleLayer                   { return nil }

// identityOp is skip_connect at stride 1: it returns its input itself, so
// that a mixed op can add it without a copy and the evaluation network can
// leave it out of drop path (as DARTS does for Identity).
type identityOp struct{}

func (identityOp) Forward(_ *nn.Graph, x *nn.Tensor) *nn.Tensor { return x }
func (identityOp) Params() []nn.Named                           { return nil }
func (identityOp) Buffers() []nn.Named                          { return nil }
func (identityOp) RuleLayers() []nn.RuleLayer                   { return nil }

// poolOp is a 3×3 max or average pool with padding 1 (average without the
// padding in its divisor, as DARTS), optionally followed by BatchNorm.
type poolOp struct {
	max    bool
	stride int
	bn     *bnLayer
}

func (p *poolOp) Forward(g *nn.Graph, x *nn.Tensor) *nn.Tensor {
	var y *nn.Tensor
	if p.max {
		y = g.MaxPool2d(x, 3, p.stride, 1)
	} else {
		y = g.AvgPool2d(x, 3, p.stride, 1, false)
	}
	if p.bn != nil {
		y = p.bn.Forward(g, y)
	}
	return y
}

func (p *poolOp) Params() []nn.Named {
	if p.bn == nil {
		return nil
	}
	return p.bn.Params()
}

func (p *poolOp) Buffers() []nn.Named {
	if p.bn == nil {
		return nil
	}
	return p.bn.Buffers()
}

func (p *poolOp) RuleLayers() []nn.RuleLayer { return nil }

// reluConvBN is ReLU → conv k×k → BN (DARTS' ReLUConvBN), used for the cell
// preprocessing; its conv is named "<name>.conv" and its BN "<name>.bn".
type reluConvBN struct {
	Conv *nn.Conv2d
	BN   bnLayer
}

func newReLUConvBN(name string, in, out, k, stride, pad int, affine bool, r rule.Rule, init nn.Init, classes int, rng *rand.Rand) (*reluConvBN, error) {
	cv, err := nn.NewConv2d(nn.Conv2dConfig{Name: nn.Join(name, "conv"), In: in, Out: out, Kernel: k, Stride: stride,
		Padding: pad, Rule: r, Init: init, Classes: classes}, rng)
	if err != nil {
		return nil, err
	}
	return &reluConvBN{Conv: cv, BN: newBN(nn.Join(name, "bn"), out, affine, false)}, nil
}

func (l *reluConvBN) Forward(g *nn.Graph, x *nn.Tensor) *nn.Tensor {
	return l.BN.Forward(g, l.Conv.Forward(g, g.ReLU(x)))
}
func (l *reluConvBN) Params() []nn.Named         { return nn.ParamsOf(l.Conv, l.BN) }
func (l *reluConvBN) Buffers() []nn.Named        { return nn.BuffersOf(l.Conv, l.BN) }
func (l *reluConvBN) RuleLayers() []nn.RuleLayer { return []nn.RuleLayer{l.Conv} }

// newPreprocess builds a cell's input adapter: FactorizedReduce when the
// previous-but-one state has twice the resolution, else ReLUConvBN 1×1.
// It is plain bp with PyTorch's default init, like everything outside the
// mixed ops in LR-NAS (REFERENCE.md §6.1).
func newPreprocess(name string, in, out int, reduce, affine bool, classes int, rng *rand.Rand) (PairOp, error) {
	if reduce {
		fr, err := nn.NewFactorizedReduce(name, in, out, affine, rule.BP, classes, rng)
		if err != nil {
			return nil, err
		}
		// NewFactorizedReduce draws xavier weights; LR-NAS' preprocessing
		// keeps PyTorch's default init, so redraw them as kaiming.
		for _, cv := range []*nn.Conv2d{fr.Conv1, fr.Conv2} {
			cv.Cfg.Init = nn.Kaiming
			fi, _ := nn.Fans(cv.W.Shape)
			nn.KaimingUniform(cv.W, fi, rng)
			if err := cv.SetRule(cv.Cfg.Rule); err != nil {
				return nil, err
			}
		}
		return frOp{fr}, nil
	}
	return newReLUConvBN(name, in, out, 1, 1, 0, affine, rule.BP, nn.Kaiming, classes, rng)
}

// bnLayer runs an nn.BatchNorm2d through batchNorm, optionally followed by
// ReLU (fused: one pass and one tensor less). Its state, names and
// semantics are nn.BatchNorm2d's.
type bnLayer struct {
	*nn.BatchNorm2d
	relu bool
}

func newBN(name string, c int, affine, withReLU bool) bnLayer {
	return bnLayer{nn.NewBatchNorm2d(name, c, affine), withReLU}
}

func (b bnLayer) Forward(g *nn.Graph, x *nn.Tensor) *nn.Tensor {
	return nn.BatchNormReLU(g, b.BatchNorm2d, x, b.relu)
}

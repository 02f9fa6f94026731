package nn

import (
	"fmt"
	"math/rand/v2"

	"github.com/bionaslab/bionas/nn/rule"
)

// FactorizedReduce halves the spatial size and maps In to Out channels
// (Out even): ReLU, then the channel concat of conv1×1/2 on x and conv1×1/2
// on x shifted by one pixel (x[:, :, 1:, 1:]), then BatchNorm — DARTS'
// reduction of a skip connection. Both convs carry the given rule
// (REFERENCE.md: we do use the edge's rule here, unlike LR-NAS).
type FactorizedReduce struct {
	Name         string
	Conv1, Conv2 *Conv2d
	BN           *BatchNorm2d
}

// NewFactorizedReduce builds the op; affine selects BN's learnable scale
// and shift (off during search, on in evaluation networks).
func NewFactorizedReduce(name string, in, out int, affine bool, r rule.Rule, classes int, rng *rand.Rand) (*FactorizedReduce, error) {
	if out%2 != 0 {
		return nil, fmt.Errorf("factorized reduce %q: output channels %d must be even", name, out)
	}
	c1, err := NewConv2d(Conv2dConfig{Name: Join(name, "conv_1"), In: in, Out: out / 2, Kernel: 1, Stride: 2, Rule: r, Classes: classes}, rng)
	if err != nil {
		return nil, err
	}
	c2, err := NewConv2d(Conv2dConfig{Name: Join(name, "conv_2"), In: in, Out: out / 2, Kernel: 1, Stride: 2, Rule: r, Classes: classes}, rng)
	if err != nil {
		return nil, err
	}
	return &FactorizedReduce{Name: name, Conv1: c1, Conv2: c2, BN: NewBatchNorm2d(Join(name, "bn"), out, affine)}, nil
}

// Forward maps (N, In, H, W) to (N, Out, H/2, W/2); H and W must be even.
func (f *FactorizedReduce) Forward(g *Graph, x *Tensor) *Tensor {
	if _, _, h, w := x.NCHW("FactorizedReduce"); h%2 != 0 || w%2 != 0 {
		panic(fmt.Sprintf("nn.FactorizedReduce %q: spatial size %dx%d must be even", f.Name, h, w))
	}
	x = g.ReLU(x)
	a := f.Conv1.Forward(g, x)
	b := f.Conv2.Forward(g, g.Crop(x, 1, 1))
	return f.BN.Forward(g, g.Concat(1, a, b))
}

// Params gathers both convs' weights and BN's affine parameters.
func (f *FactorizedReduce) Params() []Named { return ParamsOf(f.Conv1, f.Conv2, f.BN) }

// Buffers gathers feedback matrices and BN running statistics.
func (f *FactorizedReduce) Buffers() []Named { return BuffersOf(f.Conv1, f.Conv2, f.BN) }

// RuleLayers are the two convolutions.
func (f *FactorizedReduce) RuleLayers() []RuleLayer { return []RuleLayer{f.Conv1, f.Conv2} }

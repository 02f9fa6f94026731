package nn

import (
	"fmt"
)

// BatchNorm2d normalises each channel of an NCHW tensor, as PyTorch's
// BatchNorm2d. In training it uses the batch's mean and biased variance and
// moves the running statistics towards the batch mean and the unbiased
// variance by Momentum; in evaluation (or on a nil graph) it uses the
// running statistics. Weight and Bias are nil unless Affine.
type BatchNorm2d struct {
	Name                    string
	C                       int
	Affine                  bool
	Eps, Momentum           float32
	Weight, Bias            *Tensor // [C], trainable, only when Affine
	RunningMean, RunningVar *Tensor // [C], buffers
}

// NewBatchNorm2d returns a batch norm over c channels with eps 1e-5,
// momentum 0.1, weight 1, bias 0, running mean 0 and running variance 1.
func NewBatchNorm2d(name string, c int, affine bool) *BatchNorm2d {
	bn := &BatchNorm2d{Name: name, C: c, Affine: affine, Eps: 1e-5, Momentum: 0.1,
		RunningMean: New(c), RunningVar: New(c)}
	for i := range c {
		bn.RunningVar.Data[i] = 1
	}
	if affine {
		bn.Weight, bn.Bias = Param(c), Param(c)
		copy(bn.Weight.Data, bn.RunningVar.Data)
	}
	return bn
}

// Params returns weight and bias when Affine, else nothing.
func (bn *BatchNorm2d) Params() []Named {
	if !bn.Affine || bn.Weight == nil {
		return nil
	}
	return []Named{{Join(bn.Name, "weight"), bn.Weight}, {Join(bn.Name, "bias"), bn.Bias}}
}

// Buffers returns the running mean and variance.
func (bn *BatchNorm2d) Buffers() []Named {
	return []Named{{Join(bn.Name, "running_mean"), bn.RunningMean}, {Join(bn.Name, "running_var"), bn.RunningVar}}
}

// InputDims checks that x is an NCHW batch bn can normalise — bn's
// channels, and in training more than one value per channel — and returns
// its batch size, channels, height and width. It panics naming bn
// otherwise; every BatchNorm forward (this package's, the device's,
// search's fused one) checks through it.
func (bn *BatchNorm2d) InputDims(x *Tensor, train bool) (n, c, h, w int) {
	n, c, h, w = x.NCHW("BatchNorm2d")
	if c != bn.C {
		panic(fmt.Sprintf("nn.BatchNorm2d %q: built for %d channels, got shape %v", bn.Name, bn.C, x.Shape))
	}
	if train && n*h*w < 2 {
		panic(fmt.Sprintf("nn.BatchNorm2d %q: training needs more than 1 value per channel, got shape %v", bn.Name, x.Shape))
	}
	return n, c, h, w
}

// Forward normalises x (N,C,H,W). The backward pass in training goes
// through the batch mean and variance; in evaluation it is the affine map.
// It is BatchNormReLU without the ReLU.
func (bn *BatchNorm2d) Forward(g *Graph, x *Tensor) *Tensor { return BatchNormReLU(g, bn, x, false) }

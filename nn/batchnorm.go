package nn

import (
	"fmt"
	"math"
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

// batchNormTwoPass is BatchNorm2d's forward and backward written out
// plainly (float64 sums per channel, x̂ stored): the oracle that tests
// hold the fast BatchNormReLU to.
func batchNormTwoPass(g *Graph, bn *BatchNorm2d, x *Tensor) *Tensor {
	train := g.Training()
	n, c, h, w := bn.InputDims(x, train)
	hw, m := h*w, n*h*w
	mean, invstd := make([]float32, c), make([]float32, c)
	var batchVar []float64
	if train {
		batchVar = make([]float64, c)
		parRows(c, 2*m, func(lo, hi int) {
			for ch := lo; ch < hi; ch++ {
				var s float64
				for b := range n {
					for _, v := range x.Data[(b*c+ch)*hw : (b*c+ch+1)*hw] {
						s += float64(v)
					}
				}
				mu := s / float64(m)
				var ss float64 // two passes: no cancellation
				for b := range n {
					for _, v := range x.Data[(b*c+ch)*hw : (b*c+ch+1)*hw] {
						d := float64(v) - mu
						ss += d * d
					}
				}
				batchVar[ch] = ss / float64(m)
				mean[ch] = float32(mu)
				invstd[ch] = float32(1 / math.Sqrt(batchVar[ch]+float64(bn.Eps)))
			}
		})
		mom := float64(bn.Momentum)
		for ch := range c {
			rm, rv := &bn.RunningMean.Data[ch], &bn.RunningVar.Data[ch]
			*rm = float32((1-mom)*float64(*rm) + mom*float64(mean[ch]))
			*rv = float32((1-mom)*float64(*rv) + mom*batchVar[ch]*float64(m)/float64(m-1))
		}
	} else {
		copy(mean, bn.RunningMean.Data)
		for ch, v := range bn.RunningVar.Data {
			invstd[ch] = float32(1 / math.Sqrt(float64(v)+float64(bn.Eps)))
		}
	}
	weight := func(ch int) float32 {
		if bn.Weight == nil {
			return 1
		}
		return bn.Weight.Data[ch]
	}
	rec := g.Records(x, bn.Weight, bn.Bias)
	var xhat []float32 // kept for backward
	if rec {
		xhat = make([]float32, x.Len())
	}
	y := g.Alloc(x.Shape...)
	parRows(n*c, hw, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			ch := p % c
			mu, is, wt := mean[ch], invstd[ch], weight(ch)
			var bias float32
			if bn.Bias != nil {
				bias = bn.Bias.Data[ch]
			}
			for i := p * hw; i < (p+1)*hw; i++ {
				xh := (x.Data[i] - mu) * is
				if rec {
					xhat[i] = xh
				}
				y.Data[i] = wt*xh + bias
			}
		}
	})
	if !rec {
		return y
	}
	g.Record(y, func() {
		var dx, dw, db []float32
		if x.NeedsGrad {
			dx = x.GradBuf()
		}
		if bn.Weight != nil && bn.Weight.NeedsGrad {
			dw = bn.Weight.GradBuf()
		}
		if bn.Bias != nil && bn.Bias.NeedsGrad {
			db = bn.Bias.GradBuf()
		}
		dy := y.Grad
		parRows(c, 2*m, func(lo, hi int) {
			for ch := lo; ch < hi; ch++ {
				var sdy, sdyx float64
				for b := range n {
					for i := (b*c + ch) * hw; i < (b*c+ch+1)*hw; i++ {
						sdy += float64(dy[i])
						sdyx += float64(dy[i]) * float64(xhat[i])
					}
				}
				if dw != nil {
					dw[ch] += float32(sdyx)
				}
				if db != nil {
					db[ch] += float32(sdy)
				}
				if dx == nil {
					continue
				}
				k := weight(ch) * invstd[ch]
				// Training: dx = w·σ⁻¹·(dy − mean(dy) − x̂·mean(dy·x̂)).
				var mdy, mdyx float32
				if train {
					mdy, mdyx = float32(sdy/float64(m)), float32(sdyx/float64(m))
				}
				for b := range n {
					for i := (b*c + ch) * hw; i < (b*c+ch+1)*hw; i++ {
						dx[i] += k * (dy[i] - mdy - xhat[i]*mdyx)
					}
				}
			}
		})
	})
	return y
}

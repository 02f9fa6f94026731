package nn

import (
	"math"

	"github.com/bionaslab/bionas/nn/cpu"
)

// ReLU returns max(x, 0) elementwise. At 0 the gradient is 0, as in
// PyTorch. The loops are branch-free: activations have random signs, and a
// branchy loop mispredicts on every other value (it was the largest single
// cost of a supernet step). A NaN with a clear sign bit passes through, as
// in PyTorch.
func (g *Graph) ReLU(x *Tensor) *Tensor {
	if d := x.Device(); d != nil {
		return g.reluDev(d, x)
	}
	y := g.AllocFull(x.Shape...)
	parElems(y.Len(), func(lo, hi int) { cpu.ReLU(y.Data[lo:hi], x.Data[lo:hi]) })
	if g.Records(x) {
		g.Record(y, func() {
			dx := x.GradBuf()
			parElems(len(dx), func(lo, hi int) { reluBackward(y.Data[lo:hi], y.Grad[lo:hi], dx[lo:hi]) })
		})
	}
	return y
}

// reluBackward adds dy to dx where y > 0 (y's bits, as a signed integer,
// are positive exactly there; the sign of their negation gives the mask).
func reluBackward(y, dy, dx []float32) {
	dy, dx = dy[:len(y)], dx[:len(y)]
	for i, v := range y {
		dx[i] += cpu.ReLUGrad(v, dy[i])
	}
}

// Sigmoid returns 1/(1+e^−x) elementwise.
func (g *Graph) Sigmoid(x *Tensor) *Tensor {
	noDevice("Sigmoid", x)
	y := g.Alloc(x.Shape...)
	parElems(y.Len(), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y.Data[i] = sigmoid32(x.Data[i])
		}
	})
	if g.Records(x) {
		g.Record(y, func() {
			dx := x.GradBuf()
			parElems(len(dx), func(lo, hi int) {
				for i := lo; i < hi; i++ {
					s := y.Data[i]
					dx[i] += y.Grad[i] * s * (1 - s)
				}
			})
		})
	}
	return y
}

// sigmoid32 evaluates the logistic function without overflow for large |v|.
func sigmoid32(v float32) float32 {
	if v >= 0 {
		return float32(1 / (1 + math.Exp(-float64(v))))
	}
	e := math.Exp(float64(v))
	return float32(e / (1 + e))
}

// Tanh returns tanh(x) elementwise.
func (g *Graph) Tanh(x *Tensor) *Tensor {
	noDevice("Tanh", x)
	y := g.Alloc(x.Shape...)
	parElems(y.Len(), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y.Data[i] = float32(math.Tanh(float64(x.Data[i])))
		}
	})
	if g.Records(x) {
		g.Record(y, func() {
			dx := x.GradBuf()
			parElems(len(dx), func(lo, hi int) {
				for i := lo; i < hi; i++ {
					t := y.Data[i]
					dx[i] += y.Grad[i] * (1 - t*t)
				}
			})
		})
	}
	return y
}

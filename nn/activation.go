package nn

import "math"

// ReLU returns max(x, 0) elementwise. At 0 the gradient is 0, as in PyTorch.
func (g *Graph) ReLU(x *Tensor) *Tensor {
	y := New(x.Shape...)
	parElems(y.Len(), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if v := x.Data[i]; v > 0 {
				y.Data[i] = v
			}
		}
	})
	if g.Records(x) {
		g.Record(y, func() {
			dx := x.GradBuf()
			parElems(len(dx), func(lo, hi int) {
				for i := lo; i < hi; i++ {
					if y.Data[i] > 0 {
						dx[i] += y.Grad[i]
					}
				}
			})
		})
	}
	return y
}

// Sigmoid returns 1/(1+e^−x) elementwise.
func (g *Graph) Sigmoid(x *Tensor) *Tensor {
	y := New(x.Shape...)
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
	y := New(x.Shape...)
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

package nn

import "fmt"

// dropMask applies x ⊙ mask to a new tensor and records the same product
// for backward; mask holds 0 or 1/keep per unit of size elements.
func (g *Graph) dropMask(x *Tensor, mask []float32, size int) *Tensor {
	if d := x.Device(); d != nil {
		return g.dropMaskDev(d, x, mask, size)
	}
	y := g.Alloc(x.Shape...)
	parRows(len(mask), size, func(lo, hi int) {
		for u := lo; u < hi; u++ {
			m := mask[u]
			for i := u * size; i < (u+1)*size; i++ {
				y.Data[i] = x.Data[i] * m
			}
		}
	})
	if g.Records(x) {
		g.Record(y, func() {
			dx := x.GradBuf()
			parRows(len(mask), size, func(lo, hi int) {
				for u := lo; u < hi; u++ {
					m := mask[u]
					for i := u * size; i < (u+1)*size; i++ {
						dx[i] += y.Grad[i] * m
					}
				}
			})
		})
	}
	return y
}

func checkDropP(op string, p float32) {
	if !(p >= 0 && p <= 1) {
		panic(fmt.Sprintf("nn.%s: drop probability %v outside [0, 1]", op, p))
	}
}

// keepMask draws n Bernoulli(1−p) draws from the graph's source, scaled
// by 1/(1−p) so the expectation is unchanged (inverted dropout).
func (g *Graph) keepMask(op string, n int, p float32) []float32 {
	mask := make([]float32, n)
	if p == 1 {
		return mask
	}
	keep := 1 - p
	rng := g.Rng()
	for i := range mask {
		if rng.Float32() < keep {
			mask[i] = 1 / keep
		}
	}
	return mask
}

// Dropout zeroes each element with probability p and scales the rest by
// 1/(1−p) in training; otherwise (or with p = 0) it returns x itself.
func (g *Graph) Dropout(x *Tensor, p float32) *Tensor {
	checkDropP("Dropout", p)
	if !g.Training() || p == 0 {
		return x
	}
	return g.dropMask(x, g.keepMask("Dropout", x.Len(), p), 1)
}

// DropPath zeroes whole samples (axis 0) with probability p and scales kept
// ones by 1/(1−p), as DARTS' drop_path; only in training, else it returns x.
func (g *Graph) DropPath(x *Tensor, p float32) *Tensor {
	checkDropP("DropPath", p)
	if !g.Training() || p == 0 {
		return x
	}
	if len(x.Shape) == 0 || x.Shape[0] == 0 {
		panic(fmt.Sprintf("nn.DropPath: want a batch axis, got shape %v", x.Shape))
	}
	n := x.Shape[0]
	return g.dropMask(x, g.keepMask("DropPath", n, p), x.Len()/n)
}

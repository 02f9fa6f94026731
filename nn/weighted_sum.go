package nn

import (
	"fmt"
	"slices"
)

// WeightedSum returns Σᵢ sᵢ·ys[i] with sᵢ = Σ_{k ∈ idx[i]} w.Data[k]: a
// mixed op's output, where a unit shared by several (op, rule) pairs is
// weighted by the sum of their weights. Gradients flow to every ys[i] and
// to each w[k] (⟨dy, ys[i]⟩). On a device the weights are read where they
// live, so softmax(α) never visits the host.
func (g *Graph) WeightedSum(ys []*Tensor, w *Tensor, idx [][]int) *Tensor {
	if len(ys) == 0 || len(ys) != len(idx) {
		panic(fmt.Sprintf("nn.WeightedSum: %d inputs and %d index lists", len(ys), len(idx)))
	}
	for i, y := range ys {
		mustSameShape("WeightedSum", ys[0], y)
		for _, k := range idx[i] {
			if k < 0 || k >= w.Len() {
				panic(fmt.Sprintf("nn.WeightedSum: index %d out of range for weights of shape %v", k, w.Shape))
			}
		}
	}
	n := ys[0].Len()
	if d := deviceOf("WeightedSum", append(slices.Clone(ys), w)...); d != nil {
		out := g.allocOn(d, ys[0].Shape...)
		for i, y := range ys {
			for _, k := range idx[i] {
				mustDev(d, "nn.WeightedSum", d.ScaleAt(w.Buf(), k, y.Buf(), 1, out.Buf(), n))
			}
		}
		if g.Records(append(slices.Clone(ys), w)...) {
			g.Record(out, func() {
				for i, y := range ys {
					for _, k := range idx[i] {
						if w.NeedsGrad {
							mustDev(d, "nn.WeightedSum weight gradient", d.DotAt(y.Buf(), out.GradBufDev(), n, w.GradBufDev(), k))
						}
						if y.NeedsGrad {
							mustDev(d, "nn.WeightedSum backward", d.ScaleAt(w.Buf(), k, out.GradBufDev(), 1, y.GradBufDev(), n))
						}
					}
				}
			})
		}
		return out
	}
	scales := make([]float32, len(ys))
	for i := range ys {
		for _, k := range idx[i] {
			scales[i] += w.Data[k]
		}
	}
	out := g.Alloc(ys[0].Shape...)
	for i, y := range ys {
		s := scales[i]
		parElems(n, func(lo, hi int) {
			for j := lo; j < hi; j++ {
				out.Data[j] += s * y.Data[j]
			}
		})
	}
	if g.Records(append(slices.Clone(ys), w)...) {
		g.Record(out, func() {
			for i, y := range ys {
				if w.NeedsGrad {
					d := float32(parDot(y.Data, out.Grad))
					gw := w.GradBuf()
					for _, k := range idx[i] {
						gw[k] += d
					}
				}
				if y.NeedsGrad {
					s, dy := scales[i], y.GradBuf()
					parElems(n, func(lo, hi int) {
						for j := lo; j < hi; j++ {
							dy[j] += s * out.Grad[j]
						}
					})
				}
			}
		})
	}
	return out
}
